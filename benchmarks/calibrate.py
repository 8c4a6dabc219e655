"""Calibrate the paper-testchip preset: fit its free constants to docs/paper.md and print the fit and residuals.

    python benchmarks/calibrate.py

Fits (scipy least squares) cycles per MAC (convolution / fully connected / LSTM), per op, per layer call,
per message word, active and sleep power to the four ideal-chip times and energies and the four measured
4-chip ratios, on our trained checkpoints mapped by the BILP at the paper's capacities. Prints the fitted
constants beside the preset's, the residuals, and the 8-chip validation; writes
benchmarks/results/calibration.json. Exits non-zero if the preset in hardware.py drifts from the fit by more
than 1 %.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from illusion_torch.cost.hardware import preset
from illusion_torch.paper.calibration import FREE, compare, fit_testchip, paper_workloads
from illusion_torch.paper.measurements import HEADLINE_8_CHIPS, IDEAL_CHIP, RATIOS_4_CHIPS

RESULTS = Path(__file__).parent / "results"


def _value(spec, name: str) -> float:
    if name == "cycles_per_word":
        return spec.cycles_per_word_send + spec.cycles_per_word_recv
    return getattr(spec, name)


def main() -> int:
    ws = paper_workloads()
    shipped = preset("paper-testchip")
    fitted, result = fit_testchip(ws)
    print(f"least squares: {result.nfev} evaluations, cost {result.cost:.4g}, status {result.status}")
    print(f"\n{'constant':<22}{'fitted':>14}{'in hardware.py':>16}")
    drift = []
    for name in FREE:
        f, s = _value(fitted, name), _value(shipped, name)
        print(f"{name:<22}{f:>14.5g}{s:>16.5g}")
        if abs(f - s) > 0.01 * max(abs(f), 1e-9) and abs(f - s) > 1e-3 * (1e-3 if "power" in name else 1):
            drift.append(name)
    rows = compare(ws, shipped)
    print(f"\n{'workload':<8}{'ideal s':>9}{'paper':>9}{'err':>8}{'ideal mJ':>10}{'paper':>8}{'err':>8}"
          f"{'4-chip t':>10}{'paper':>8}{'Δpp':>7}{'4-chip E':>10}{'paper':>8}{'Δpp':>7}"
          f"{'8-chip t':>10}{'8-chip E':>10}")
    for r in rows:
        t, e = IDEAL_CHIP[r["workload"]]
        pt, pe, _ = RATIOS_4_CHIPS[r["workload"]]
        print(f"{r['workload']:<8}{r['ideal_time_s']:>9.3f}{t:>9.3f}{100 * (r['ideal_time_s'] / t - 1):>7.1f}%"
              f"{1e3 * r['ideal_energy_j']:>10.3f}{1e3 * e:>8.3f}{100 * (r['ideal_energy_j'] / e - 1):>7.1f}%"
              f"{r['time_ratio_4']:>10.4f}{pt:>8.4f}{100 * (r['time_ratio_4'] - pt):>+7.2f}"
              f"{r['energy_ratio_4']:>10.4f}{pe:>8.4f}{100 * (r['energy_ratio_4'] - pe):>+7.2f}"
              f"{r['time_ratio_8']:>10.4f}{r['energy_ratio_8']:>10.4f}")
    worst_t = max(r["time_ratio_8"] for r in rows)
    worst_e = max(r["energy_ratio_8"] for r in rows)
    print(f"\n8-chip validation (not fitted): worst time ratio {worst_t:.4f} (paper ≤ {HEADLINE_8_CHIPS[0]}), "
          f"worst energy ratio {worst_e:.4f} (paper ≤ {HEADLINE_8_CHIPS[1]})")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "calibration.json").write_text(json.dumps({
        "fitted": {k: _value(fitted, k) for k in FREE}, "shipped": {k: _value(shipped, k) for k in FREE},
        "rows": rows, "d2nn_routes": {str(k): v for w in ws if w.name == "d2nn" for k, v in w.runs.items()},
    }, indent=2) + "\n")
    if drift:
        print(f"\nhardware.py differs from the fit by more than 1 % in: {', '.join(drift)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
