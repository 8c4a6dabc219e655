"""Ten years of RRAM wear: SVHN, D2NN and KWS on 8 chips × every resilience policy (like the paper's Fig. 6).

    python benchmarks/lifetime.py [--limit 500] [--years 10] [--seed 0]

Each workload's shipped checkpoint on the paper's 8 chips (BILP mapping), docs/paper.md's inference rates,
accuracy on the first ``--limit`` test inputs (a fixed subset) at ZERO … TENYEAR. Prints a table (accuracy at
each point, stuck bits and peak writes per word at the horizon, wear evenness, first drop of 1 point) and
writes benchmarks/results/lifetime.json and lifetime.png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import illusion_torch as il
from illusion_torch.paper.measurements import CAPACITY
from illusion_torch.report.plots import plot_lifetime
from illusion_torch.wear.endurer import POLICIES
from illusion_torch.wear.lifetime import simulate

RESULTS = Path(__file__).parent / "results"
WORKLOADS = ("svhn", "d2nn", "kws")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=500)
    p.add_argument("--years", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    results = []
    print(f"{'workload':<8}{'policy':<28}" + "".join(f"{k:>9}" for k in ("ZERO", "DAY", "WEEK", "MONTH", "YEAR",
                                                                         "TENYEAR"))
          + f"{'stuck':>7}{'peak w/word':>13}{'evenness':>10}{'drop (y)':>10}{'wall':>7}")
    for name in WORKLOADS:
        model = il.load(name)
        x, y = il.data.load(il.checkpoint.record(name).data_key, "test", limit=args.limit)
        system = il.partition(model, x[:1], chips=8, capacity=CAPACITY[name][8])
        for policy in POLICIES:
            started = time.perf_counter()
            r = simulate(system, x, y, resilience=policy, years=args.years, seed=args.seed)
            results.append(r)
            accs = "".join(f"{100 * pt.accuracy:>8.2f}%" for pt in r.points)
            drop = "never" if r.lifetime_years is None else f"{r.lifetime_years:g}"
            print(f"{name:<8}{policy:<28}{accs}{r.points[-1].stuck_bits:>7}{r.points[-1].max_writes_per_word:>13.4g}"
                  f"{r.wear_evenness:>10.3f}{drop:>10}{time.perf_counter() - started:>6.1f}s", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lifetime.json").write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
    plot_lifetime(results, RESULTS / "lifetime.png")
    print(f"\naccuracy on the first {args.limit} test inputs of each workload (a fixed subset); "
          f"synth-digits and tts-commands are SYNTHETIC")


if __name__ == "__main__":
    main()
