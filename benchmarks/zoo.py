"""Every torchvision classifier, untrained, partitioned onto ≈ N chips and run chip by chip against the model.

    python benchmarks/zoo.py [--chips 8,64,256] [--models resnet18,vit_b_32] [--limit-models K] [--time-limit 10]

Per model and chip count: capacity = 1.2 × 2 B × parameters / N (16-bit words); our mapper (``solve`` with
``max_chips=N``: the exact program warm-started from the chain program / first-fit where it is small enough,
else the better heuristic, each within ``--time-limit`` seconds) beside first-fit; two SYNTHETIC random
inputs (64×64; 224 for ViT/Swin/MaxViT, whose patching needs it; 128 for Inception); the chip-by-chip logits
against the unpartitioned model's (max |Δ| / max |ref|; a zero-initialized linear layer gets a random one so
the check means something); the model's own float64 floor (the unpartitioned model on the batch against one
input at a time: another summation order); the share of parameter bytes placed on chips; energy and time
against the ideal chip on ``accelerator-28nm``. Fixed-point versions (``quantized.fixed_point_version``) of
``--fixed`` models, their batch norms calibrated on random inputs so values do not round away, must be
bit-identical. Writes benchmarks/results/zoo.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from pathlib import Path

import torch
import torchvision.models as tvm

import illusion_torch as il
from illusion_torch.fixed.quantized import fixed_point_version
from illusion_torch.partitioning import inter_chip_bytes, solve

RESULTS = Path(__file__).parent / "results"
EXACT = 1e-12


def _input_side(name: str) -> int:
    if name.startswith(("vit_", "swin", "maxvit")):
        return 224
    return 128 if name.startswith("inception") else 64


def _model(name: str, side: int, calibrate: bool) -> torch.nn.Module:
    """The untrained classifier as torchvision builds it (a zero-initialized linear layer, e.g. ViT's head, gets
    random weights). ``calibrate``: batch norms take their statistics from one pass over 8 random inputs
    (only the norms in training mode), so activations keep their scale under fixed-point rounding."""
    torch.manual_seed(0)
    model = tvm.get_model(name, weights=None).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and not bool(m.weight.abs().sum()):
            torch.nn.init.normal_(m.weight, std=0.02)
        if calibrate and isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None                      # running statistics = the mean over the calibration pass
            m.reset_running_stats()
            m.train()
    if calibrate:
        with torch.no_grad():                      # one pass: SYNTHETIC statistics for the norms
            model(torch.randn(8, 3, side, side, generator=torch.Generator().manual_seed(1)))
    return model.eval()


def _floor(system: il.IllusionSystem, x: torch.Tensor, ref: torch.Tensor) -> float:
    """The model's own float64 rounding at these inputs: the unpartitioned model on the batch against the same
    model one input at a time (another summation order), max |Δ| / max |ref|."""
    alone = torch.cat([system.reference(x[i:i + 1]) for i in range(len(x))])
    return float((alone - ref).abs().max() / ref.abs().max())


def run_one(name: str, chips: int, time_limit_s: float, fixed: bool) -> dict:
    side = _input_side(name)
    model = _model(name, side, calibrate=fixed)
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(0))
    params = sum(p.numel() for p in model.parameters())
    capacity = int(1.2 * 2 * params / chips)
    row: dict = {"model": name + (" (fixed point)" if fixed else ""), "target_chips": chips,
                 "capacity_bytes": capacity, "parameters": params}
    started = time.perf_counter()
    try:
        if fixed:
            model = fixed_point_version(model, x[:1], name=f"{name}-fixed-point")
        graph = il.partitioning.trace(model, x[:1])
        t = time.perf_counter()
        mapping = solve(graph, capacity, max_chips=chips, time_limit_s=time_limit_s)
        row["solve_s"] = round(time.perf_counter() - t, 2)
        system = il.IllusionSystem(model, graph, mapping)
        first = solve(graph, capacity, solver="first-fit")
        report = system.run(x, preset="accelerator-28nm")     # chip by chip, from the memory images
        out, ref = report.logits, system.reference(x)
        m = system.mapping
        row.update(chips=m.n_chips, inter_chip_bytes=system.inter_chip_bytes, method=m.method,
                   optimal=bool(m.optimal), gap=m.gap, lower_bound=m.lower_bound,
                   first_fit_chips=first.n_chips, first_fit_bytes=inter_chip_bytes(graph, first),
                   placed_share=system.placed_share, unused_share=system.unused_bytes / system.params_bytes,
                   max_abs_ref=float(ref.abs().max()),
                   max_rel_diff=float((out - ref).abs().max() / ref.abs().max()),
                   float64_floor=_floor(system, x, ref),
                   energy_ratio=report.energy_ratio, time_ratio=report.time_ratio)
        row["exact"] = bool(torch.equal(out, ref)) if fixed else row["max_rel_diff"] <= EXACT
    except il.IllusionError as e:                  # e.g. a smallest unit larger than a chip: said clearly
        row.update(error=f"IllusionError: {e}", handled=True)
    except Exception as e:  # a failure is a result to record, with where it happened
        row.update(error=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                   where=traceback.extract_tb(e.__traceback__)[-1].name)
    row["wall_s"] = round(time.perf_counter() - started, 2)
    return row


def _status(row: dict) -> str:
    if "error" in row:
        return ("HANDLED " if row.get("handled") else "ERROR ") + row["error"][:160]
    return "exact" if row["exact"] else f"NOT EXACT {row['max_rel_diff']:.2g}"


def _markdown(rows: list[dict], summary: dict) -> str:
    lines = [f"- {c} chips: {s['exact']} / {s['models']} exact, {s['handled_with_a_message']} handled with a "
             f"message, failed: {', '.join(s['failed']) or 'none'}; every parameter placed in "
             f"{s['all_parameters_placed']}, every parameter the forward reads placed in "
             f"{s['all_used_parameters_placed']}; proven optimal {s['proven_optimal']}; worse than first-fit: "
             f"{', '.join(s['worse_than_first_fit']) or 'none'}" for c, s in summary.items()]
    lines += ["", "| model | chips (target) | chips | bytes between chips | first-fit bytes (chips) | solver "
              "| proven / gap | placed (unused) | max rel Δ | energy × | time × | wall s |", "|" + "---|" * 12]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['target_chips']} | – | – | – | – | – | – | {r['error'][:90]} | – | – "
                         f"| {r['wall_s']} |")
            continue
        proof = "proven" if r["optimal"] else (f"gap {r['gap']:.2f}" if r["gap"] is not None else "heuristic")
        solver = r["method"].split(";")[0].split(" (")[0]
        lines.append(f"| {r['model']} | {r['target_chips']} | {r['chips']} | {r['inter_chip_bytes']:,} | "
                     f"{r['first_fit_bytes']:,} ({r['first_fit_chips']}) | {solver} | {proof} | "
                     f"{100 * r['placed_share']:.2f} % ({100 * r['unused_share']:.2f} %) | "
                     f"{r['max_rel_diff']:.1e} | {r['energy_ratio']:.3f} | "
                     f"{r['time_ratio']:.3f} | {r['wall_s']} |")
    return "\n".join(lines) + "\n"


def _summary(rows: list[dict], counts: list[int]) -> dict:
    """Per chip count: how many exact, handled with a message, failed, fully placed, proven; and any mapping
    worse than first-fit where first-fit fits the same chips."""
    summary = {}
    for c in counts:
        mine = [r for r in rows if r["target_chips"] == c]
        summary[c] = {"models": len(mine), "exact": sum(1 for r in mine if r.get("exact")),
                      "handled_with_a_message": sum(1 for r in mine if r.get("handled")),
                      "failed": [r["model"] for r in mine if "error" in r and not r.get("handled")],
                      "all_parameters_placed": sum(1 for r in mine if r.get("placed_share", 0) >= 1 - 1e-9),
                      "all_used_parameters_placed": sum(
                          1 for r in mine if "error" not in r and r["placed_share"] + r["unused_share"] >= 1 - 1e-9),
                      "proven_optimal": sum(1 for r in mine if r.get("optimal")),
                      "worse_than_first_fit": [r["model"] for r in mine if "error" not in r
                                               and r["first_fit_chips"] <= c
                                               and r["inter_chip_bytes"] > r["first_fit_bytes"]]}
    return summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", default="8,64,256")
    p.add_argument("--models", default=None, help="comma-separated names (default: all classifiers)")
    p.add_argument("--limit-models", type=int, default=None)
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds for each mapping (default 10)")
    p.add_argument("--fixed", default="resnet18,mobilenet_v2,vit_b_32",
                   help="models whose fixed-point versions must be bit-identical")
    p.add_argument("--out", default="zoo", help="result file stem under benchmarks/results")
    p.add_argument("--summarize", action="store_true", help="only recompute the summary and table of --out")
    args = p.parse_args()
    if args.summarize:
        data = json.loads((RESULTS / f"{args.out}.json").read_text())
        data["summary"] = _summary(data["rows"], sorted({r["target_chips"] for r in data["rows"]}))
        (RESULTS / f"{args.out}.json").write_text(json.dumps(data, indent=2) + "\n")
        (RESULTS / f"{args.out}.md").write_text(_markdown(data["rows"], data["summary"]))
        print(json.dumps(data["summary"], indent=1))
        return 0
    names = args.models.split(",") if args.models else tvm.list_models(module=tvm)
    names = names[:args.limit_models] if args.limit_models else names
    counts = [int(c) for c in args.chips.split(",")]
    jobs = [(n, False) for n in names] + [(n, True) for n in args.fixed.split(",") if n]
    rows = []
    started = time.perf_counter()
    for name, fixed in jobs:
        for chips in counts:
            row = run_one(name, chips, args.time_limit, fixed)
            rows.append(row)
            print(f"{row['model']:<32}{chips:>5} chips: {row.get('chips', '-'):>5} used, "
                  f"{100 * row.get('placed_share', 0):6.2f} % placed, {_status(row)} ({row['wall_s']} s)", flush=True)
    summary = _summary(rows, counts)
    total = {"wall_s": round(time.perf_counter() - started, 1),
             "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps({"summary": summary, "total": total, "rows": rows},
                                                         indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(_markdown(rows, summary))
    for c, s in summary.items():
        print(f"{c} chips: {s['exact']} / {s['models']} exact, {s['handled_with_a_message']} handled with a message, "
              f"failed {s['failed']}; {s['all_parameters_placed']} with every parameter placed, "
              f"{s['all_used_parameters_placed']} with every parameter the forward reads placed; "
              f"{s['proven_optimal']} proven optimal; worse than first-fit: {s['worse_than_first_fit']}")
    print(f"total {total['wall_s']} s, peak RSS {total['peak_rss_gib']} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
