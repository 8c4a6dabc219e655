"""The paper's table: MNIST, SVHN, D2NN, KWS on 1, 4 and 8 paper-testchip chips at the paper's capacities.

    python benchmarks/paper_table.py [--limit N]

Each workload's shipped checkpoint is mapped by the BILP, run chip by chip over its whole test split
(``--limit`` for a quick look) and priced against the ideal chip; the paper's measured 4-chip ratios stand
beside ours. Where the paper gives its own mapping in full (``solver="paper"``: MNIST on 4 and 8 chips, SVHN on
8, D2NN on 4 and 8, KWS on 8) a second row runs it through the same runtime and cost model ("mapping":
"paper"), with each row's energy by part, so a ratio that moves says which part moved.
Writes benchmarks/results/paper_table.json and paper_table.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import illusion_torch as il
from illusion_torch.cost.evaluate import CATEGORIES
from illusion_torch.paper.measurements import CAPACITY, HEADLINE_8_CHIPS, RATIOS_4_CHIPS, WORKLOADS
from illusion_torch.partitioning.paper_mappings import PAPER_MAPPINGS
from illusion_torch.report import run_and_price

RESULTS = Path(__file__).parent / "results"


def rows(limit: int | None) -> list[dict]:
    out = []
    for name in WORKLOADS:
        model = il.load(name)
        x, y = il.data.load(il.checkpoint.record(name).data_key, "test", limit=limit)
        runs = [(chips, "bilp") for chips in (1, 4, 8)]
        runs += [(chips, "paper") for chips in (4, 8) if (name, chips) in PAPER_MAPPINGS]
        for chips, solver in runs:
            started = time.perf_counter()
            system = il.partition(model, x[:1], chips=chips, capacity=CAPACITY[name][chips], solver=solver)
            r = run_and_price(system, x, y, preset="paper-testchip", model_name=name)
            parts = {k: sum(c.breakdown.get(k, 0.0) for c in r.illusion.per_chip) for k in CATEGORIES}
            out.append({"workload": name, "chips": chips, "capacity": CAPACITY[name][chips],
                        "mapping": "paper" if solver == "paper" else "ours",
                        "samples": r.samples, "accuracy": r.accuracy, "reference_accuracy": r.reference_accuracy,
                        "mismatches": r.mismatches, "inter_chip_bytes": r.inter_chip_bytes,
                        "ideal_time_s": r.ideal.time_s, "ideal_energy_j": r.ideal.energy_j,
                        "time_ratio": r.time_ratio, "energy_ratio": r.energy_ratio, "edp_ratio": r.edp_ratio,
                        "paper_4_chip": RATIOS_4_CHIPS[name] if chips == 4 else None,
                        "energy_parts_j": parts, "time_s": r.illusion.time_s, "energy_j": r.illusion.energy_j,
                        "wall_s": round(time.perf_counter() - started, 2)})
            print(_line(out[-1]), flush=True)
    return out


def _line(r: dict) -> str:
    paper = "" if r["paper_4_chip"] is None else "   paper {:.4f} / {:.4f} / {:.4f}".format(*r["paper_4_chip"])
    return (f"{r['workload']:<6}{r['chips']:>3} × {r['capacity']:<6}{r['mapping']:>6}{r['inter_chip_bytes']:>8} B "
            f"{100 * r['accuracy']:>7.2f} %{r['mismatches']:>4}  {r['time_ratio']:.4f} / {r['energy_ratio']:.4f} / "
            f"{r['edp_ratio']:.4f}{paper}")


def plot(table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, key, label, limit in zip(axes, ("time_ratio", "energy_ratio", "edp_ratio"), ("time", "energy", "EDP"),
                                     (HEADLINE_8_CHIPS[0], HEADLINE_8_CHIPS[1], None), strict=True):
        for i, name in enumerate(WORKLOADS):
            pts = [r for r in table if r["workload"] == name and r["mapping"] == "ours"]
            ax.plot([r["chips"] for r in pts], [r[key] for r in pts], "o-", label=f"{name} (ours)", color=f"C{i}")
            paper = RATIOS_4_CHIPS[name][("time_ratio", "energy_ratio", "edp_ratio").index(key)]
            ax.plot([4], [paper], "x", color=f"C{i}", ms=9, mew=2)
        if limit:
            ax.axhline(limit, ls="--", color="0.5", lw=1)
        ax.set_xticks([1, 4, 8])
        ax.set_xlabel("chips")
        ax.set_title(f"{label} / ideal chip (× = paper, 4 chips)", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None, help="first N test samples (default: the whole split)")
    args = p.parse_args()
    print(f"{'':<6}{'chips':>5}{'':<7}{'map':>6}{'between':>9} {'acc.':>8}{'mism':>5}  "
          f"time / energy / EDP vs ideal chip")
    table = rows(args.limit)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "paper_table.json").write_text(json.dumps(table, indent=2) + "\n")
    plot(table, RESULTS / "paper_table.png")
    eight = [r for r in table if r["chips"] == 8 and r["mapping"] == "ours"]
    print(f"\n8 chips: worst time ratio {max(r['time_ratio'] for r in eight):.4f} (paper ≤ {HEADLINE_8_CHIPS[0]}), "
          f"worst energy ratio {max(r['energy_ratio'] for r in eight):.4f} (paper ≤ {HEADLINE_8_CHIPS[1]}); "
          f"mismatches in all runs: {sum(r['mismatches'] for r in table)}")


if __name__ == "__main__":
    main()
