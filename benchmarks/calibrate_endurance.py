"""Calibrate the RRAM cell endurance on docs/paper.md's stuck-bit growth and print the fit and its residuals.

    python benchmarks/calibrate_endurance.py [--trials 200]

docs/paper.md: without resilience, SVHN's activation region (1,040 bits) had 5 stuck bits after ~1e7 writes per
word (one year) and 57 after ~1e8 (ten years). A log-normal endurance per cell through both points fixes
its two parameters. The script checks the shipped constant (``rram.PAPER_ENDURANCE``) against the fit,
then simulates a 65-word (1,040-bit) region with seeded draws (``RRAMArray``) and prints the mean and spread
of the stuck-bit count at 1e6 … 1e9 writes per word. Writes benchmarks/results/calibrate_endurance.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from illusion_torch.wear.rram import PAPER_ENDURANCE, PAPER_POINTS, RRAMArray, fit_endurance

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=200)
    args = p.parse_args()
    fit = fit_endurance(PAPER_POINTS)
    print(f"log-normal fit: mu = {fit.mu:.5f}, sigma = {fit.sigma:.5f} (median endurance {fit.median_cycles:.3g} "
          f"cycles); shipped: mu = {PAPER_ENDURANCE.mu}, sigma = {PAPER_ENDURANCE.sigma}")
    rows = []
    print(f"\n{'writes/word':>12}{'paper':>8}{'expected':>10}{'simulated mean':>16}{'5–95 %':>12}")
    for writes in (1e6, 1e7, 3e7, 1e8, 3e8, 1e9):
        counts = []
        for seed in range(args.trials):
            region = RRAMArray(65, PAPER_ENDURANCE, seed=seed)
            counts.append(region.masks(np.full(65, writes))[2])
        paper = next((s for w, s, _ in PAPER_POINTS if w == writes), None)
        expected = 1040 * PAPER_ENDURANCE.failed_fraction(writes)
        lo, hi = np.percentile(counts, [5, 95])
        rows.append({"writes_per_word": writes, "paper": paper, "expected": expected,
                     "simulated_mean": float(np.mean(counts)), "p5": float(lo), "p95": float(hi)})
        print(f"{writes:>12.0e}{'' if paper is None else paper:>8}{expected:>10.2f}{np.mean(counts):>16.2f}"
              f"{f'{lo:.0f}–{hi:.0f}':>12}")
    residuals = [(r["expected"] - r["paper"]) for r in rows if r["paper"] is not None]
    print(f"\nresiduals at the two measured points (stuck bits): {', '.join(f'{x:+.3f}' for x in residuals)}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "calibrate_endurance.json").write_text(json.dumps(
        {"mu": fit.mu, "sigma": fit.sigma, "rows": rows}, indent=2) + "\n")
    drift = abs(fit.mu - PAPER_ENDURANCE.mu) > 1e-4 or abs(fit.sigma - PAPER_ENDURANCE.sigma) > 1e-5
    if drift:
        print("rram.PAPER_ENDURANCE differs from the fit", file=sys.stderr)
    return int(drift)


if __name__ == "__main__":
    sys.exit(main())
