"""Simulation speed: chip by chip over the whole MNIST test split vs plain batched inference, same process.

    python benchmarks/sim_speed.py [--repeats 7] [--chips 8] [--capacity 512B]

Baseline: the fixed-point model itself (``model(x)``, the same checkpoint, batches of 1,000, no partition).
Simulation: ``Runtime.run`` over the same inputs and batches — every chip's program in message order, on
weights read from the chips' memory images, with the per-chip counters — and, separately, the cost
evaluation. One-time set-up (tracing, the BILP, building the programs) is timed apart. Median of
``--repeats`` runs each, interleaved. Target (issue 4): simulation ≤ 1.5 × plain inference.

Scale-up (issue 11, ``--scaleup``): the simulator's ResNet-50 (``paper-resnet50``, seeded random weights, 4
SYNTHETIC random images) on chips of 1 MiB and 0.25 MiB (first-fit): chip by chip (``system(x)``, float64,
each wake's weights cast for its call) vs plain inference of the unpartitioned model in the same dtype
(``system.reference(x)``, its float64 copy kept), median of ``--repeats``. Target: ≤ 1.3 ×. Writes
benchmarks/results/sim_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import illusion_torch as il
from illusion_torch.cost.evaluate import evaluate
from illusion_torch.cost.hardware import preset
from illusion_torch.runtime import Runtime

RESULTS = Path(__file__).parent / "results"


def scaleup(repeats: int) -> list[dict]:
    torch.manual_seed(0)
    model = il.models.get_model("paper-resnet50").eval()
    x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    rows = []
    for capacity in ("1MiB", "0.25MiB"):
        t = time.perf_counter()
        system = il.partition(model, x[:1], capacity=capacity, solver="first-fit")
        system.chips                                         # noqa: B018 — build the programs
        setup_s = time.perf_counter() - t
        system.reference(x[:1])                              # keep the float64 copy (warm both paths)
        system(x[:1])
        plain_t, sim_t = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            ref = system.reference(x)
            plain_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = system(x)
            sim_t.append(time.perf_counter() - t)
        row = {"model": "paper-resnet50", "capacity": capacity, "chips": system.mapping.n_chips,
               "wakes": len(system.chips.wakes), "samples": len(x), "setup_s": round(setup_s, 2),
               "plain_s": statistics.median(plain_t), "chip_by_chip_s": statistics.median(sim_t),
               "max_rel_diff": float((out - ref).abs().max() / ref.abs().max())}
        row["ratio"] = row["chip_by_chip_s"] / row["plain_s"]
        print(f"paper-resnet50 on {row['chips']} chips × {capacity}: plain {row['plain_s']:.2f} s, chip by chip "
              f"{row['chip_by_chip_s']:.2f} s → {row['ratio']:.2f} ×", flush=True)
        rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--chips", type=int, default=8)
    p.add_argument("--capacity", default="512B")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--scaleup", action="store_true", help="also the scale-up ResNet-50 at 1 and 0.25 MiB")
    args = p.parse_args()
    model = il.load("mnist").eval()
    x, _ = il.data.load("mnist", "test")
    t0 = time.perf_counter()
    system = il.partition(model, x[:1], chips=args.chips, capacity=args.capacity)
    rt = Runtime(system)
    setup_s = time.perf_counter() - t0

    def plain():
        with torch.no_grad():
            return torch.cat([model(x[i:i + args.batch]) for i in range(0, len(x), args.batch)])

    plain_t, sim_t, cost_t = [], [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        plain()
        plain_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = rt.run(x, batch_size=args.batch)
        sim_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        evaluate(rt.profile, result.runs, preset("paper-testchip"))
        cost_t.append(time.perf_counter() - t)
    same = torch.equal(result.logits.argmax(1), plain().argmax(1))
    row = {"samples": len(x), "chips": system.mapping.n_chips, "capacity": args.capacity, "batch": args.batch,
           "threads": torch.get_num_threads(), "compute_dtype": str(rt.dtype), "setup_s": setup_s,
           "plain_s": statistics.median(plain_t), "simulation_s": statistics.median(sim_t),
           "cost_s": statistics.median(cost_t), "same_predictions": same}
    row["ratio"] = row["simulation_s"] / row["plain_s"]
    row["ratio_with_cost"] = (row["simulation_s"] + row["cost_s"]) / row["plain_s"]
    print(f"MNIST test split ({len(x)} digits), {row['chips']} chips × {args.capacity}, batches of {args.batch}, "
          f"{row['threads']} threads, chips compute in {rt.dtype}")
    print(f"plain batched inference   {row['plain_s'] * 1e3:8.1f} ms (median of {args.repeats})")
    print(f"chip-by-chip simulation   {row['simulation_s'] * 1e3:8.1f} ms  → {row['ratio']:.2f} × plain")
    print(f"  + cost evaluation       {row['cost_s'] * 1e3:8.1f} ms  → {row['ratio_with_cost']:.2f} × plain")
    print(f"one-time set-up (trace, BILP, programs, memory images) {setup_s:.2f} s; same predictions: {same}")
    if args.scaleup:
        row["scaleup"] = scaleup(min(args.repeats, 3))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_speed.json").write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
