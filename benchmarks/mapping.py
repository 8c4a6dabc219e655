"""Mapping quality and solve time: BILP vs the paper's hand mappings, first-fit and sequential.

    python benchmarks/mapping.py [--skip-resnet50]

Writes benchmarks/results/mapping.json and mapping.png and prints the tables. Bytes are between chips per
inference, host I/O excluded, int8 activations, int16 FC outputs, int32 partial sums (docs/paper.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.units import parse_bytes

RESULTS = Path(__file__).parent / "results"
PAPER_CASES = [("mnist", 8, "512B", 1248), ("mnist", 4, "1KiB", 352), ("svhn", 8, "4KiB", 2476),
               ("svhn", 4, "8KiB", 800)]
PAPER_CAPACITY = {"mnist": {4: "1KiB", 8: "512B"}, "svhn": {4: "8KiB", 8: "4KiB"}, "kws": {4: "8KiB", 8: "4KiB"},
                  "d2nn": {4: "8KiB", 8: "4KiB"}}
ALEXNET_PAPER = {0.25: 481, 0.5: 241, 1: 121, 2: 60, 4: 30, 8: 15, 16: 8, 32: 4, 64: 2, 128: 1}


def _trace(name: str):
    model = il.models.get_model(name)
    return partitioning.trace(model, torch.zeros(1, *il.models.config_of(model).input_shape), model_name=name)


def paper_cases() -> list[dict]:
    rows = []
    for name, chips, cap, paper in PAPER_CASES:
        g = _trace(name)
        b = partitioning.solve(g, cap, chips=chips)
        ff = partitioning.solve(g, cap, solver="first-fit")
        seq = partitioning.solve(g, cap, solver="sequential")
        rows.append({"model": name, "chips": chips, "capacity": cap, "paper_bytes": paper,
                     "bilp_bytes": partitioning.inter_chip_bytes(g, b), "optimal": b.optimal,
                     "solve_s": round(b.solve_s, 3), "first_fit_bytes": partitioning.inter_chip_bytes(g, ff),
                     "first_fit_chips": ff.n_chips, "sequential_bytes": partitioning.inter_chip_bytes(g, seq),
                     "sequential_chips": seq.n_chips})
    return rows


def solve_times() -> list[dict]:
    rows = []
    for name, caps in PAPER_CAPACITY.items():
        g = _trace(name)
        for chips, cap in caps.items():
            started = time.perf_counter()
            b = partitioning.solve(g, cap, chips=chips)
            rows.append({"model": name, "chips": chips, "capacity": cap, "bytes": partitioning.inter_chip_bytes(g, b),
                         "optimal": b.optimal, "solve_s": round(time.perf_counter() - started, 3)})
    return rows


def alexnet_counts() -> list[dict]:
    g = _trace("paper-alexnet")
    return [{"capacity_mib": mib,
             "first_fit_chips": partitioning.solve(g, int(mib * 2**20), solver="first-fit").n_chips,
             "paper_chips": n} for mib, n in ALEXNET_PAPER.items()]


def resnet50(time_limit_s: float) -> dict:
    """First-fit in the model's order (the simulator's rule) against ours through ``il.partition``: the BILP
    mapper on the model's order and on shorter branches first, half the time limit each, the better kept."""
    g = _trace("resnet50")
    cap = parse_bytes("1MiB")
    ff = partitioning.solve(g, cap, solver="first-fit")
    ff_bytes = partitioning.inter_chip_bytes(g, ff)
    out = {"capacity": "1MiB", "weight_bytes": g.weight_bytes, "layers": len(g.layers), "first_fit_chips": ff.n_chips,
           "first_fit_bytes": ff_bytes}
    model = il.models.get_model("resnet50").eval()
    for label, chips in (("same_chips", ff.n_chips), ("plus_25pct", int(ff.n_chips * 1.25))):
        started = time.perf_counter()
        system = il.partition(model, torch.zeros(1, 3, 224, 224), capacity=cap, max_chips=chips,
                              time_limit_s=time_limit_s)
        m, b = system.mapping, system.inter_chip_bytes
        out[label] = {"max_chips": chips, "chips": m.n_chips, "bytes": b, "ratio_to_first_fit": round(b / ff_bytes, 4),
                      "optimal": m.optimal, "lower_bound": m.lower_bound, "method": m.method,
                      "wall_s": round(time.perf_counter() - started, 2)}
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["paper_cases"]
    labels = [f"{r['model']} {r['chips']}×{r['capacity']}" for r in rows]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.2
    for i, (key, name) in enumerate((("paper_bytes", "paper (hand)"), ("bilp_bytes", "BILP"),
                                     ("first_fit_bytes", "first-fit"), ("sequential_bytes", "sequential"))):
        ax.bar([j + (i - 1.5) * width for j in range(len(rows))], [r[key] for r in rows], width, label=name)
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel("bytes between chips / inference")
    ax.legend(fontsize=8)
    ax.set_title("Mapping quality (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-resnet50", action="store_true")
    parser.add_argument("--time-limit", type=float, default=55.0)
    args = parser.parse_args()
    result = {"paper_cases": paper_cases(), "solve_times": solve_times(), "alexnet_first_fit": alexnet_counts()}
    if not args.skip_resnet50:
        result["resnet50"] = resnet50(args.time_limit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mapping.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, RESULTS / "mapping.png")
    print(f"{'case':<18}{'paper':>7}{'BILP':>7}{'opt':>6}{'s':>7}{'first-fit':>11}{'sequential':>12}")
    for r in result["paper_cases"]:
        print(f"{r['model'] + ' ' + str(r['chips']) + 'x' + r['capacity']:<18}{r['paper_bytes']:>7}{r['bilp_bytes']:>7}"
              f"{str(r['optimal']):>6}{r['solve_s']:>7}{r['first_fit_bytes']:>11}{r['sequential_bytes']:>12}")
    print("\nBILP solve time (s):", ", ".join(f"{r['model']} {r['chips']} chips {r['solve_s']}"
                                           f"{'' if r['optimal'] else ' (not proven)'}" for r in result["solve_times"]))
    print("\nAlexNet first-fit chips (ours / paper):", ", ".join(
        f"{r['capacity_mib']} MiB {r['first_fit_chips']}/{r['paper_chips']}" for r in result["alexnet_first_fit"]))
    if "resnet50" in result:
        print("\nResNet-50 @ 1 MiB:", json.dumps(result["resnet50"], indent=1))


if __name__ == "__main__":
    main()
