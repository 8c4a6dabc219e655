"""Accuracy, energy ratio and time ratio against the chip count (1…16) for each workload, paper-testchip.

    python benchmarks/chips_sweep.py [--limit N] [--max-chips 16] [--workloads mnist,svhn,d2nn,kws]

For N chips each chip gets an even share of the model's weights plus 15 % (more where granularity needs
it), the BILP maps it (60 s limit, the chain program's mapping where better), and the test split runs chip
by chip. Accuracy must stay flat (partitioning never changes a prediction) and mismatches at 0. Writes
benchmarks/results/chips_sweep.json and chips_sweep.png.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import illusion_torch as il
from illusion_torch.models import weight_bytes
from illusion_torch.paper.measurements import WORKLOADS
from illusion_torch.report import run_and_price

RESULTS = Path(__file__).parent / "results"


def sweep(name: str, max_chips: int, limit: int | None) -> list[dict]:
    model = il.load(name)
    x, y = il.data.load(il.checkpoint.record(name).data_key, "test", limit=limit)
    total = weight_bytes(model)
    out = []
    for chips in range(1, max_chips + 1):
        slack = 1.15
        while True:
            cap = math.ceil(total / chips * slack)
            try:
                system = il.partition(model, x[:1], chips=chips, capacity=cap, time_limit_s=60)
                break
            except ValueError:
                slack += 0.1
        r = run_and_price(system, x, y, preset="paper-testchip", model_name=name)
        out.append({"workload": name, "chips": chips, "capacity_bytes": cap, "used_chips": r.chips,
                    "samples": r.samples, "accuracy": r.accuracy, "reference_accuracy": r.reference_accuracy,
                    "mismatches": r.mismatches, "inter_chip_bytes": r.inter_chip_bytes,
                    "energy_ratio": r.energy_ratio, "time_ratio": r.time_ratio, "edp_ratio": r.edp_ratio,
                    "optimal": system.mapping.optimal})
        print(f"{name:<6}{chips:>3} × {cap:>6} B  acc {100 * r.accuracy:6.2f} %  mismatches {r.mismatches}  "
              f"{r.inter_chip_bytes:>7} B  time ×{r.time_ratio:.4f}  energy ×{r.energy_ratio:.4f}", flush=True)
    return out


def plot(table: list[dict], path: Path, names) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for i, name in enumerate(names):
        pts = [r for r in table if r["workload"] == name]
        n = [r["chips"] for r in pts]
        axes[0].plot(n, [100 * r["accuracy"] for r in pts], "o-", color=f"C{i}", label=name, ms=3)
        axes[1].plot(n, [r["energy_ratio"] for r in pts], "o-", color=f"C{i}", ms=3)
        axes[2].plot(n, [r["time_ratio"] for r in pts], "o-", color=f"C{i}", ms=3)
    for ax, title in zip(axes, ("test accuracy (%)", "energy / ideal chip", "time / ideal chip"), strict=True):
        ax.set_xlabel("chips")
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--max-chips", type=int, default=16)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    args = p.parse_args()
    names = args.workloads.split(",")
    table = [r for name in names for r in sweep(name, args.max_chips, args.limit)]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "chips_sweep.json").write_text(json.dumps(table, indent=2) + "\n")
    plot(table, RESULTS / "chips_sweep.png", names)
    for name in names:
        accs = {r["accuracy"] for r in table if r["workload"] == name}
        print(f"{name}: {len(accs)} distinct accuracy value(s) over the sweep; mismatches "
              f"{sum(r['mismatches'] for r in table if r['workload'] == name)}")


if __name__ == "__main__":
    main()
