"""A transformer at the paper's chip sizes and beyond: torchvision's ViT-B/16 on 1,000+ chips of ≈ 128 KiB.

    python benchmarks/transformer_scale.py [--model vit_b_16] [--capacities 128KiB,64KiB]

Per capacity: the fewest chips that fit (``il.partition`` with the default solver and no chip count), the
per-chip programs built, one SYNTHETIC random 224×224 input run chip by chip against the unpartitioned model
(max |Δ| / max |ref|; the zero-initialized head gets random weights), the cost report on
``accelerator-28nm``, each step's wall time and the process's peak RSS. Writes
benchmarks/results/transformer_scale.json.
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
from illusion_torch.units import parse_bytes

RESULTS = Path(__file__).parent / "results"


def run(name: str, capacity: str) -> dict:
    torch.manual_seed(0)
    model = tvm.get_model(name, weights=None).eval()
    torch.nn.init.normal_(model.heads.head.weight, std=0.02)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    t0 = time.perf_counter()
    system = il.partition(model, x, capacity=capacity)
    t1 = time.perf_counter()
    system.chips                                         # noqa: B018 — build the per-chip programs
    t2 = time.perf_counter()
    out, ref = system(x), system.reference(x)
    t3 = time.perf_counter()
    report = system.run(x, preset="accelerator-28nm")
    t4 = time.perf_counter()
    m = system.mapping
    return {"model": name, "capacity_bytes": parse_bytes(capacity), "chips": m.n_chips, "method": m.method,
            "wakes": len(system.chips.wakes), "inter_chip_bytes": system.inter_chip_bytes,
            "lower_bound": m.lower_bound, "placed_share": system.placed_share,
            "max_rel_diff": float((out - ref).abs().max() / ref.abs().max()), "mismatches": report.mismatches,
            "energy_ratio": report.energy_ratio, "time_ratio": report.time_ratio,
            "partition_s": round(t1 - t0, 2), "build_s": round(t2 - t1, 2), "inference_s": round(t3 - t2, 2),
            "report_s": round(t4 - t3, 2), "total_s": round(t4 - t0, 2),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vit_b_16")
    p.add_argument("--capacities", default="128KiB,64KiB")
    args = p.parse_args()
    rows = []
    for cap in args.capacities.split(","):
        row = run(args.model, cap)
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "transformer_scale.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
