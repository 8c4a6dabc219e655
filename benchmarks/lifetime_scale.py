"""Ten years of RRAM wear at scale: the quantized MobileNetV2 on 256+ chips under Distributed ENDURER and the
best policy (``distributed-endurer-plus``), accuracy (top-1 agreement with the float model) at ZERO … TENYEAR.

    python benchmarks/lifetime_scale.py [--chips 256] [--limit 100] [--rate 411] [--seed 0]

``mobilenet_v2`` (post-training quantized checkpoint), its first ``--limit`` real clip-art test images, the
float model's top-1 class as the label (no ImageNet labels offline), first-fit onto chips of an even share
of the weights over ``--chips`` (so at least that many chips; BILP is not needed for wear: the mapping only
sets which buffers wear).
Inference rate: docs/paper.md gives none for an ImageNet classifier; the paper's image classifier (SVHN, 411
inferences per 4 hours) is used. Target (issue 12): each run ≤ 120 s. Writes
benchmarks/results/lifetime_scale.json and lifetime_scale.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import illusion_torch as il
from illusion_torch.cli.arguments import positive_int
from illusion_torch.cli.jobs import job
from illusion_torch.files import write_atomic
from illusion_torch.report.plots import plot_lifetime
from illusion_torch.wear.lifetime import simulate

RESULTS = Path(__file__).parent / "results"
POLICIES = ("distributed-endurer", "distributed-endurer-plus")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=positive_int, default=256)
    p.add_argument("--limit", type=positive_int, default=100)
    p.add_argument("--rate", type=float, default=411.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policies", default=",".join(POLICIES))
    args = p.parse_args()
    t = time.perf_counter()
    w = job("mobilenet_v2", limit=args.limit)
    capacity = il.models.weight_bytes(w.model) // args.chips      # an even share: at least --chips chips
    system = il.partition(w.model, w.x[:1], capacity=capacity, solver="first-fit")
    system.graph.model_name = "mobilenet_v2"
    setup_s = time.perf_counter() - t
    print(f"mobilenet_v2 on {system.mapping.n_chips} chips × {capacity:,} B (set-up {setup_s:.0f} s)", flush=True)
    results = []
    for policy in args.policies.split(","):
        r = simulate(system, w.x, w.y, resilience=policy, years=10, seed=args.seed, rate=args.rate)
        print(r.summary(), flush=True)
        results.append(r)
        gc.collect()                    # a run's fx graphs hold cycles; free its cells before the next
    RESULTS.mkdir(exist_ok=True)
    summary = json.dumps({
        "model": "mobilenet_v2", "chips": system.mapping.n_chips, "capacity_bytes": capacity,
        "samples": len(w.x), "accuracy_is": "top-1 agreement with the float model (real clip-art images, no labels)",
        "rate_per_4h": args.rate, "rate_source": "docs/paper.md's SVHN rate (the paper's image classifier)",
        "setup_s": round(setup_s, 1), "runs": [r.as_dict() for r in results]}, indent=1) + "\n"
    write_atomic(RESULTS / "lifetime_scale.json", lambda path: path.write_text(summary))
    plot_lifetime(results, RESULTS / "lifetime_scale.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
