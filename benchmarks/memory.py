"""Peak memory of a full cost report on a large float model: weights held once, no float64 copy kept.

    python benchmarks/memory.py [--model vgg16] [--chips 8] [--side 64]

One process per run (peak RSS is per process): the model (float32, as torchvision builds it), partitioned by
first-fit onto ≈ ``--chips`` chips (capacity 1.2 × 2 B × parameters / chips), two SYNTHETIC random inputs run
chip by chip through the cost report on ``accelerator-28nm`` (memory images, per-chip counters, the float64
reference). The model's own float32 weights are the floor; the report adds one private copy of them in the
chip programs and, while the reference runs, one float64 copy. Writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch
import torchvision.models as tvm

import illusion_torch as il

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vgg16")
    p.add_argument("--chips", type=int, default=8)
    p.add_argument("--side", type=int, default=64)
    args = p.parse_args()
    torch.manual_seed(0)
    model = tvm.get_model(args.model, weights=None).eval()
    params = sum(q.numel() for q in model.parameters())
    after_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    x = torch.randn(2, 3, args.side, args.side, generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    system = il.partition(model, x[:1], capacity=int(1.2 * 2 * params / args.chips), solver="first-fit")
    report = system.run(x, preset="accelerator-28nm")
    row = {"model": args.model, "parameters": params, "float32_weights_gib": round(4 * params / 2**30, 3),
           "chips": system.mapping.n_chips, "mismatches": report.mismatches,
           "energy_ratio": report.energy_ratio, "time_ratio": report.time_ratio,
           "wall_s": round(time.perf_counter() - started, 1), "peak_rss_after_model_gib": round(after_model, 2),
           "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    print(json.dumps(row))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(row, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
