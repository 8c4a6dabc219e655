"""A picture of a mapping: chips as boxes (pieces and weight bytes inside), message bytes on the arrows.

Usage::

    from illusion_torch.mapping.plot import plot_mapping
    plot_mapping(graph, mapping, "mapping.png")
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..graph import HOST, OpGraph
from .plan import Mapping, messages

__all__ = ["plot_mapping"]


def plot_mapping(graph: OpGraph, mapping: Mapping, path: str | Path, *, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = {ly.name: ly.steps for ly in graph.layers}
    flows: dict[tuple, int] = defaultdict(int)
    for m in messages(graph, mapping):
        n = (steps[m.tensor.split(":")[0]] - 1) if m.per == "step" else 1
        flows[(m.src, m.dst)] += m.bytes * n
    k = mapping.n_chips
    cols = min(k, 8)
    rows = (k + cols - 1) // cols
    pos = {c: (1.0 + (c % cols) * 2.2, -(c // cols) * 2.4) for c in range(k)}
    pos[HOST] = (-1.2, 0.0)
    fig, ax = plt.subplots(figsize=(2.2 * cols + 3, 2.4 * rows + 1.5))
    for c in range(k):
        x, y = pos[c]
        ax.add_patch(plt.Rectangle((x - 0.8, y - 0.7), 1.6, 1.4, fill=True, fc="#e8eef7", ec="#2b4c7e"))
        names = [p.layer if p.split is None else f"{p.layer}[{p.start}:{p.stop}]" for p in mapping.chips[c]]
        label = f"chip {c}\n{sum(p.weight_bytes for p in mapping.chips[c])} B\n" + "\n".join(names[:4])
        if len(names) > 4:
            label += f"\n+{len(names) - 4} more"
        ax.text(x, y, label, ha="center", va="center", fontsize=7)
    x, y = pos[HOST]
    ax.add_patch(plt.Rectangle((x - 0.6, y - 0.5), 1.2, 1.0, fc="#f3f3f3", ec="#777"))
    ax.text(x, y, "host", ha="center", va="center", fontsize=8)
    for (src, dst), b in flows.items():
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        bend = 0.25 if (isinstance(src, int) and isinstance(dst, int) and src > dst) else -0.2
        y0, y1 = y0 + 0.4, y1 + 0.4
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": "#c0392b" if HOST not in (src, dst) else "#999",
                                "connectionstyle": f"arc3,rad={bend}", "lw": 0.8})
        # the label sits on the arc: the midpoint of matplotlib's arc3 Bezier curve
        lx = (x0 + x1) / 2 + 0.5 * bend * (y1 - y0)
        ly = (y0 + y1) / 2 - 0.5 * bend * (x1 - x0)
        ax.text(lx, ly, f"{b} B", fontsize=6, ha="center", va="center", color="#c0392b",
                bbox={"fc": "white", "ec": "none", "pad": 0.5})
    ax.set_xlim(-2.2, 2.2 * cols + 0.5)
    ax.set_ylim(-2.4 * rows + 1.0, 0.11 * 2.2 * cols + 1.0)    # room for the highest arc
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{graph.model_name}: {k} chips, {mapping.method}", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path
