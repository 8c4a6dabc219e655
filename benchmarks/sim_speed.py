"""Simulation speed: chip by chip over the whole MNIST test split vs plain batched inference, same process.

    python benchmarks/sim_speed.py [--repeats 7] [--chips 8] [--capacity 512B]

Baseline: the fixed-point model itself (``model(x)``, the same checkpoint, batches of 1,000, no partition).
Simulation: ``Runtime.run`` over the same inputs and batches — every chip's program in message order, on
weights read from the chips' memory images, with the per-chip counters — and, separately, the cost
evaluation. One-time set-up (tracing, the BILP, building the programs) is timed apart. Median of
``--repeats`` runs each, interleaved. Target (issue 4): simulation ≤ 1.5 × plain inference. Writes
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--chips", type=int, default=8)
    p.add_argument("--capacity", default="512B")
    p.add_argument("--batch", type=int, default=1000)
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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sim_speed.json").write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
