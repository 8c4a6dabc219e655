"""Every torchvision classifier, untrained, partitioned onto ≈ N chips and run chip by chip against the model.

    python benchmarks/zoo.py [--chips 8,64] [--solver first-fit] [--models resnet18,vit_b_32] [--limit-models K]

Per model and chip count: capacity = 1.2 × 2 B × parameters / N (16-bit words), a mapping (``--solver``), two
SYNTHETIC random inputs (64×64; 224 for ViT/Swin/MaxViT, whose patching needs it; 128 for Inception), the
chip-by-chip logits against the unpartitioned model's (max |Δ| / max |ref|; a zero-initialized linear layer
gets a random one so the check means something), the share of parameter bytes placed on chips, and energy
and time against the ideal chip on ``accelerator-28nm``. Writes benchmarks/results/zoo.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import torch
import torchvision.models as tvm

import illusion_torch as il

RESULTS = Path(__file__).parent / "results"
EXACT = 1e-12


def _input_side(name: str) -> int:
    if name.startswith(("vit_", "swin", "maxvit")):
        return 224
    return 128 if name.startswith("inception") else 64


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = tvm.get_model(name, weights=None).eval()
    for m in model.modules():                      # e.g. ViT's zero-initialized head: give it weights
        if isinstance(m, torch.nn.Linear) and not bool(m.weight.abs().sum()):
            torch.nn.init.normal_(m.weight, std=0.02)
    return model


def run_one(name: str, chips: int, solver: str, max_params: float) -> dict:
    model = _model(name)
    side = _input_side(name)
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    params = sum(p.numel() for p in model.parameters())
    capacity = int(1.2 * 2 * params / chips)
    row: dict = {"model": name, "target_chips": chips, "capacity_bytes": capacity, "solver": solver,
                 "parameters": params}
    if params > max_params:         # float64 copies (programs, reference, memory image) would not fit in RAM
        row.update(error=f"skipped: {params / 1e6:.0f} M parameters > --max-params", wall_s=0.0)
        return row
    started = time.perf_counter()
    try:
        system = il.partition(model, x[:1], capacity=capacity, max_chips=chips, solver=solver, time_limit_s=10)
        out, ref = system(x), system.reference(x)
        report = system.run(x, preset="accelerator-28nm")
        row.update(chips=system.mapping.n_chips, inter_chip_bytes=system.inter_chip_bytes,
                   method=system.mapping.method, optimal=system.mapping.optimal,
                   placed_share=system.placed_share,
                   max_rel_diff=float((out - ref).abs().max() / ref.abs().max()),
                   energy_ratio=report.energy_ratio, time_ratio=report.time_ratio)
        row["exact"] = row["max_rel_diff"] <= EXACT
    except il.IllusionError as e:
        row.update(error=f"IllusionError: {e}")
    except Exception as e:  # a failure is a result to record, with where it happened
        row.update(error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                   where=traceback.extract_tb(e.__traceback__)[-1].name)
    row["wall_s"] = round(time.perf_counter() - started, 2)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", default="8,64")
    p.add_argument("--solver", default="first-fit", choices=il.partitioning.SOLVERS)
    p.add_argument("--models", default=None, help="comma-separated names (default: all classifiers)")
    p.add_argument("--limit-models", type=int, default=None)
    p.add_argument("--max-params", type=float, default=2.5e8, help="skip larger models (memory; default 250 M)")
    args = p.parse_args()
    names = args.models.split(",") if args.models else tvm.list_models(module=tvm)
    names = names[:args.limit_models] if args.limit_models else names
    counts = [int(c) for c in args.chips.split(",")]
    rows = []
    for name in names:
        for chips in counts:
            row = run_one(name, chips, args.solver, args.max_params)
            rows.append(row)
            status = "exact" if row.get("exact") else ("ERROR " + row["error"] if "error" in row else
                                                       f"NOT EXACT {row['max_rel_diff']:.2g}")
            print(f"{name:<24}{chips:>5} chips: {row.get('chips', '-'):>4} used, "
                  f"{100 * row.get('placed_share', 0):6.2f} % of parameter bytes placed, {status} "
                  f"({row['wall_s']} s)", flush=True)
    summary = {c: {"models": sum(1 for r in rows if r["target_chips"] == c),
                   "exact": sum(1 for r in rows if r["target_chips"] == c and r.get("exact")),
                   "all_parameters_placed": sum(1 for r in rows if r["target_chips"] == c
                                                and r.get("placed_share", 0) >= 1 - 1e-9)} for c in counts}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "zoo.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    lines = ["| model | chips (target) | chips | bytes between chips | placed | max rel Δ | energy × | time × |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['target_chips']} | – | – | – | {r['error'][:80]} | – | – |")
        else:
            lines.append(f"| {r['model']} | {r['target_chips']} | {r['chips']} | {r['inter_chip_bytes']:,} | "
                         f"{100 * r['placed_share']:.2f} % | {r['max_rel_diff']:.1e} | {r['energy_ratio']:.3f} | "
                         f"{r['time_ratio']:.3f} |")
    (RESULTS / "zoo.md").write_text("\n".join(lines) + "\n")
    for c, s in summary.items():
        print(f"{c} chips: {s['exact']} / {s['models']} exact; {s['all_parameters_placed']} with every parameter "
              f"byte placed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
