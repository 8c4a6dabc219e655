"""The pictures: a mapping, a run's power timeline and energy breakdown, RRAM wear over the years.

Usage::

    from illusion_torch.report.plots import plot_mapping, plot_power_timeline, plot_energy_breakdown, plot_lifetime
    plot_mapping(graph, mapping, "mapping.png")       # chips as boxes, message bytes on the arrows
    plot_power_timeline(report, "power.png")          # per-chip power over one inference (the paper's Fig. 5)
    plot_lifetime([result], "lifetime.png")           # accuracy and stuck bits vs years (the paper's Fig. 6)

Every figure is a ``matplotlib.figure.Figure`` saved to a file; pyplot and its global backend are never
touched, so a notebook's backend stays as it was. Past ``MANY_CHIPS`` chips each figure draws what a person
can read at that scale, in seconds: the mapping as a layers × chips matrix beside a chips × chips matrix of
bytes, power as a chips × time heatmap beside each chip's busy time, energy as areas over the chip index.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Protocol

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..cost.evaluate import CATEGORIES, SystemCost
from ..cost.hardware import ChipSpec
from ..partitioning.plan import Mapping, messages
from ..partitioning.trace import HOST, OpGraph
from ..wear.lifetime import PERIOD_HOURS, LifetimeResult


class Report(Protocol):
    """What the figures read of a priced run (``report.Report`` is one)."""

    model: str
    preset: ChipSpec
    illusion: SystemCost
    ideal: SystemCost

    @property
    def chips(self) -> int: ...

    @property
    def energy_ratio(self) -> float: ...

__all__ = ["plot_mapping", "plot_power_timeline", "plot_energy_breakdown", "plot_lifetime", "MANY_CHIPS"]

MANY_CHIPS = 32             # beyond this, boxes and per-chip rows are unreadable: matrices and heatmaps instead
TIME_BINS = 1000            # columns of the power heatmap


def _save(fig: Figure, path: str | os.PathLike, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **kwargs)
    return path


def plot_mapping(graph: OpGraph, mapping: Mapping, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Chips as boxes (their pieces and weight bytes), bytes per inference on the arrows between them; past
    ``MANY_CHIPS`` chips, matrices (``_plot_mapping_matrix``)."""
    if mapping.n_chips > MANY_CHIPS:
        return _plot_mapping_matrix(graph, mapping, path, title)
    flows: dict[tuple, int] = defaultdict(int)
    for m in messages(graph, mapping):
        flows[(m.src, m.dst)] += m.total_bytes
    k = mapping.n_chips
    cols = min(k, 8)
    rows = (k + cols - 1) // cols
    pos: dict[int | str, tuple[float, float]] = {c: (1.0 + (c % cols) * 2.2, -(c // cols) * 2.4) for c in range(k)}
    pos[HOST] = (-1.2, 0.0)
    fig = Figure(figsize=(2.2 * cols + 3, 2.4 * rows + 1.5))
    ax = fig.subplots()
    for c in range(k):
        x, y = pos[c]
        ax.add_patch(Rectangle((x - 0.8, y - 0.7), 1.6, 1.4, fill=True, fc="#e8eef7", ec="#2b4c7e"))
        names = [p.layer if p.split is None else f"{p.layer}[{p.start}:{p.stop}]" for p in mapping.chips[c]]
        label = f"chip {c}\n{sum(p.weight_bytes for p in mapping.chips[c])} B\n" + "\n".join(names[:4])
        if len(names) > 4:
            label += f"\n+{len(names) - 4} more"
        ax.text(x, y, label, ha="center", va="center", fontsize=7)
    x, y = pos[HOST]
    ax.add_patch(Rectangle((x - 0.6, y - 0.5), 1.2, 1.0, fc="#f3f3f3", ec="#777"))
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
    return _save(fig, path, dpi=130, bbox_inches="tight")


def _plot_mapping_matrix(graph: OpGraph, mapping: Mapping, path, title: str | None) -> Path:
    """Which layer where (weight bytes of each layer on each chip) and the bytes each chip sends each other."""
    order = {ly.name: i for i, ly in enumerate(graph.layers)}
    k = mapping.n_chips
    held = np.zeros((len(graph.layers), k))
    for c, pieces in enumerate(mapping.chips):
        for p in pieces:
            held[order[p.layer], c] += max(p.weight_bytes, 1)
    sent = defaultdict(int)
    for m in messages(graph, mapping):
        if m.between_chips:
            sent[(m.src, m.dst)] += m.total_bytes
    fig = Figure(figsize=(13, 6))
    left, right = fig.subplots(1, 2)
    shown = np.ma.masked_equal(held, 0)
    im = left.imshow(shown, aspect="auto", interpolation="nearest", cmap="viridis",
                     norm=LogNorm(vmin=max(1, shown.min()), vmax=max(2, shown.max())))
    fig.colorbar(im, ax=left, label="weight bytes of the layer on the chip")
    left.set_xlabel("chip")
    left.set_ylabel("layer (topological order)")
    left.set_title("which layer where", fontsize=9)
    if sent:
        src, dst = np.array([a for a, _ in sent]), np.array([b for _, b in sent])
        val = np.array(list(sent.values()), float)
        sc = right.scatter(dst, src, c=val, s=4, cmap="magma_r", norm=LogNorm(vmin=max(1, val.min()),
                                                                               vmax=max(2, val.max())))
        fig.colorbar(sc, ax=right, label="bytes per inference")
    right.set_xlim(-0.5, k - 0.5)
    right.set_ylim(k - 0.5, -0.5)
    right.set_xlabel("receiving chip")
    right.set_ylabel("sending chip")
    right.set_title(f"bytes between chips ({sum(sent.values()):,} per inference)", fontsize=9)
    fig.suptitle(title or f"{graph.model_name}: {k} chips, {mapping.method}"[:160], fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _save(fig, path, dpi=110)


def _power_grid(report: Report, bins: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean power (W) per chip and time bin over one inference (asleep at the preset's sleep power between
    events), and each chip's busy seconds; from the timeline's events by cumulative energy, so every event
    counts in full however short it is."""
    c = report.illusion
    n = len(c.per_chip)
    total = max((e.end_s for e in c.timeline), default=c.time_s) or 1.0
    edges = np.linspace(0.0, total, bins + 1)
    sleep = report.preset.sleep_power_w
    grid = np.full((n, bins), sleep)
    busy = np.zeros(n)
    by_chip: dict[int, list] = defaultdict(list)
    for e in c.timeline:
        by_chip[e.chip].append(e)
    width = total / bins
    for chip, events in by_chip.items():
        events.sort(key=lambda e: e.start_s)
        starts = np.array([e.start_s for e in events])
        ends = np.array([e.end_s for e in events])
        power = np.array([e.power_w for e in events])
        at = np.concatenate([[0.0], np.ravel(np.column_stack([starts, ends]))])
        extra = np.concatenate([[0.0], np.ravel(np.column_stack([np.zeros_like(starts), (power - sleep) *
                                                                 (ends - starts)]))])
        energy = np.interp(edges, at, np.cumsum(extra))       # energy above sleep by each bin edge
        grid[chip] += np.diff(energy) / width
        busy[chip] = float((ends - starts).sum())
    return grid, busy, total


def _plot_power_heatmap(report: Report, path) -> Path:
    c = report.illusion
    grid, busy, total = _power_grid(report, TIME_BINS)
    n = grid.shape[0]
    fig = Figure(figsize=(12, 6))
    heat, side = fig.subplots(1, 2, gridspec_kw={"width_ratios": [4, 1]}, sharey=True)
    im = heat.imshow(grid * 1e3, aspect="auto", interpolation="nearest", cmap="inferno", extent=(0, total, n, 0),
                     norm=LogNorm(vmin=max(report.preset.sleep_power_w * 1e3, 1e-9),
                                  vmax=max(grid.max() * 1e3, 1e-6)))
    fig.colorbar(im, ax=heat, label="mean power (mW, log)", pad=0.01)
    heat.set_xlabel("time (s), one inference, chips one after another")
    heat.set_ylabel("chip")
    side.plot(busy * 1e3, np.arange(n) + 0.5, lw=0.8)
    top = np.argsort(busy)[::-1][:5]
    for chip in top:
        side.annotate(f"chip {chip}", (busy[chip] * 1e3, chip + 0.5), fontsize=6)
    side.set_xlabel("busy (ms)")
    side.set_title("busiest chips named", fontsize=8)
    route = "" if c.timeline_route is None else f" (route {c.timeline_route})"
    fig.suptitle(f"{report.model}: power per chip over one inference on {report.preset.name}{route}", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return _save(fig, path, dpi=110)


def plot_power_timeline(report: Report, path: str | os.PathLike) -> Path:
    """Per-chip power over one inference (sequential schedule), like the paper's Fig. 5; past ``MANY_CHIPS``
    chips a chips × time heatmap of mean power beside each chip's busy time."""
    c = report.illusion
    n = len(c.per_chip)
    if n > MANY_CHIPS:
        return _plot_power_heatmap(report, path)
    total = c.time_s if not c.timeline else max(e.end_s for e in c.timeline)
    fig = Figure(figsize=(9, 0.7 * n + 1.2))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)
    colors = {"wake": "tab:orange", "shutdown": "tab:orange", "receive": "tab:green", "send": "tab:red",
              "compute": "tab:blue", "memory": "tab:purple"}
    sleep = report.preset.sleep_power_w
    by_chip: dict[int, list] = defaultdict(list)
    for e in c.timeline:
        by_chip[e.chip].append(e)
    for chip in range(n):
        ax = axes[chip][0]
        ax.axhline(sleep * 1e3, color="0.6", lw=1)
        for e in by_chip[chip]:
            ax.fill_between([e.start_s, e.end_s], sleep * 1e3, e.power_w * 1e3, step="pre",
                            color=colors.get(e.state, "tab:gray"), lw=0)
        ax.set_ylabel(f"chip {chip}", rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylim(max(sleep * 1e3 / 3, 1e-9), max(report.preset.active_power_w * 1e3 * 3, 1e-6))
        ax.tick_params(labelsize=7)
    axes[-1][0].set_xlabel("time (s), one inference, chips one after another")
    axes[-1][0].set_xlim(0, total)
    route = "" if c.timeline_route is None else f" (route {c.timeline_route})"
    fig.suptitle(f"{report.model}: power per chip (mW, log) on {report.preset.name}{route}", fontsize=10)
    handles = [Rectangle((0, 0), 1, 1, color=v) for v in ("tab:blue", "tab:green", "tab:red", "tab:orange")]
    fig.legend(handles, ["compute", "receive", "send", "wake/shutdown"], loc="lower center", fontsize=7, ncol=4)
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    return _save(fig, path, dpi=120)


def plot_energy_breakdown(report: Report, path: str | os.PathLike) -> Path:
    """Stacked energy per inference per chip (compute, memory, messages, wake-up, sleep), ideal chip beside."""
    chips = report.illusion.per_chip
    if len(chips) > MANY_CHIPS:
        return _plot_energy_areas(report, path)
    labels = [str(c.chip) for c in chips] + ["ideal"]
    rows = [c.breakdown for c in chips] + [report.ideal.per_chip[0].breakdown]
    fig = Figure(figsize=(max(5, 0.6 * len(labels) + 2), 4))
    ax = fig.subplots()
    bottom = [0.0] * len(labels)
    for cat in CATEGORIES:
        vals = [r[cat] * 1e6 for r in rows]
        ax.bar(labels, vals, bottom=bottom, label=cat)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_xlabel("chip")
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_title(f"{report.model} on {report.chips} chips, {report.preset.name}: energy ratio "
                 f"{report.energy_ratio:.4f} vs the ideal chip", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path, dpi=120)


def _plot_energy_areas(report: Report, path) -> Path:
    chips = report.illusion.per_chip
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    values = [[c.breakdown.get(cat, 0.0) * 1e6 for c in chips] for cat in CATEGORIES]
    ax.stackplot(np.arange(len(chips)), *values, labels=list(CATEGORIES), step="mid")
    ax.set_xlim(0, len(chips) - 1)
    ax.set_xlabel("chip")
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_title(f"{report.model} on {report.chips} chips, {report.preset.name}: {report.illusion.energy_j * 1e3:.4g} "
                 f"mJ in all, {report.energy_ratio:.4f} × the ideal chip's {report.ideal.energy_j * 1e3:.4g} mJ",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return _save(fig, path, dpi=120)


def plot_lifetime(results: list[LifetimeResult], path: str | os.PathLike) -> Path:
    """Accuracy and stuck bits against time (log axis): a row per workload, a colour per policy (like the
    paper's Fig. 6)."""
    models = list(dict.fromkeys(r.model for r in results))
    policies = list(dict.fromkeys(r.resilience for r in results))
    fig = Figure(figsize=(11, 3.2 * len(models)))
    axes = fig.subplots(len(models), 2, squeeze=False)
    first = PERIOD_HOURS / 24 / 365                     # ZERO is drawn at one period
    for row, model in enumerate(models):
        ax1, ax2 = axes[row]
        for r in (r for r in results if r.model == model):
            color = f"C{policies.index(r.resilience) % 10}"
            t = [max(p.years, first) for p in r.points]
            ax1.plot(t, [100 * p.accuracy for p in r.points], "o-", ms=3, color=color, label=r.resilience)
            ax2.plot(t, [max(p.stuck_bits, 0.5) for p in r.points], "o-", ms=3, color=color)
        for ax in (ax1, ax2):
            ax.set_xscale("log")
        ax2.set_yscale("log")
        ax1.set_ylabel(f"{model}: accuracy (%)")
        ax2.set_ylabel("stuck bits (all chips; 0 drawn at 0.5)")
        if row == 0:
            ax1.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("years of inference (ZERO drawn at 4 h)")
    fig.tight_layout()
    return _save(fig, path, dpi=110)
