"""Mappers on real graphs at 8 chips: the warm-started exact program against first-fit and the chain program.

    python benchmarks/solvers.py [--models resnet18,resnet50,mobilenet_v2,vit_b_16] [--chips 8] [--time-limit 10]

Per torchvision model (untrained, traced on one 224×224 input; capacity 1.2 × 2 B × parameters / chips):
first-fit, the chain dynamic program (32 labels) and ``solve(..., chips=N, time_limit_s=T)`` — HiGHS started
from the better of those two — with bytes between chips per inference, wall time, proof, HiGHS's lower bound
and gap. Writes benchmarks/results/solvers.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torchvision.models as tvm

from illusion_torch.errors import IllusionError
from illusion_torch.partitioning import inter_chip_bytes, solve, trace
from illusion_torch.partitioning.chain_dp import chain_dp

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,vit_b_16")
    p.add_argument("--chips", type=int, default=8)
    p.add_argument("--time-limit", type=float, default=10.0)
    args = p.parse_args()
    rows = []
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = tvm.get_model(name, weights=None).eval()
        g = trace(model, torch.zeros(1, 3, 224, 224))
        cap = int(1.2 * 2 * sum(q.numel() for q in model.parameters()) / args.chips)
        row: dict = {"model": name, "layers": len(g.layers), "chips": args.chips, "capacity_bytes": cap}
        t = time.perf_counter()
        ff = solve(g, cap, solver="first-fit")
        row["first_fit"] = {"chips": ff.n_chips, "bytes": inter_chip_bytes(g, ff),
                            "s": round(time.perf_counter() - t, 2)}
        t = time.perf_counter()
        try:
            dp = chain_dp(g, cap, args.chips, keep=32)
            row["chain"] = {"chips": dp.n_chips, "bytes": inter_chip_bytes(g, dp),
                            "s": round(time.perf_counter() - t, 2)}
        except IllusionError as e:
            row["chain"] = {"error": str(e)}
        t = time.perf_counter()
        m = solve(g, cap, chips=args.chips, time_limit_s=args.time_limit)
        row["ours"] = {"chips": m.n_chips, "bytes": inter_chip_bytes(g, m), "s": round(time.perf_counter() - t, 2),
                       "method": m.method, "optimal": bool(m.optimal), "gap": m.gap, "lower_bound": m.lower_bound}
        row["never_worse"] = row["ours"]["bytes"] <= min(r["bytes"] for r in (row["first_fit"], row["chain"])
                                                         if "bytes" in r and r["chips"] <= args.chips)
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "solvers.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
