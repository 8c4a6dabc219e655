"""Per-chip programs through a runtime we did not write: ``illusion export`` then ``run.py`` (onnxruntime).

    python benchmarks/deploy.py [--models mnist,svhn,kws,resnet,d2nn,...] [--chips 8] [--limit N]

For each shipped checkpoint, partitioned onto ``--chips`` chips (the default capacity rule; BILP): the export's
wall time and graphs, then the runner over the test split (``--limit`` inputs; default: all) one input at a
time in a fresh process — its logits against ``system(x)`` bit for bit, the bytes it passed between chips
against the plan's — and, on the same inputs one at a time, our torch chip-by-chip runtime
(``Runtime.run(batch_size=1)``) for the throughput ratio. A system the export refuses is a row with its reason.
Writes benchmarks/results/deploy.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import illusion_torch as il
from illusion_torch.deploy import export
from illusion_torch.errors import IllusionError
from illusion_torch.jobs import capacity_for, job
from illusion_torch.runtime import Runtime

RESULTS = Path(__file__).parent / "results"


def row(name: str, chips: int, limit: int | None) -> dict:
    w = job(name, limit=limit)
    system = il.partition(w.model, w.x[:1], chips=chips, capacity=capacity_for(w, chips, None), time_limit_s=20)
    out = {"model": name, "chips": system.mapping.n_chips, "wakes": len(system.chips.wakes), "inputs": len(w.x)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        try:
            result = export(system, folder)
        except IllusionError as e:
            return {**out, "refused": str(e)}
        graphs = len(list((folder / "wakes").glob("*.onnx")))
        np.save(Path(tmp) / "x.npy", w.x.numpy())
        t = time.perf_counter()
        run = subprocess.run([sys.executable, str(folder / "run.py"), "--inputs", str(Path(tmp) / "x.npy"),
                              "--out", str(Path(tmp) / "y.npy")], capture_output=True, text=True)
        runner_s = time.perf_counter() - t
        if run.returncode != 0:
            return {**out, "runner_error": run.stderr.strip().splitlines()[-1]}
        y = np.load(Path(tmp) / "y.npy").astype(np.float64)
        inner_s = float(run.stdout.split(" inputs in ")[1].split(" s;")[0])
        sent = int(run.stdout.split(" B passed")[0].split()[-1])
        plan = int(run.stdout.split("the plan's: ")[1].split(" B")[0])
    ref = system(w.x).numpy()
    t = time.perf_counter()
    Runtime(system).run(w.x, batch_size=1)
    ours_s = time.perf_counter() - t
    return {**out, "graphs": graphs, "export_s": round(result.seconds, 1),
            "bit_identical": bool(np.array_equal(y, ref)),
            "mismatches": int((y != ref).any(axis=1).sum()), "bytes_passed": sent,
            "plan_bytes": plan, "plan_bytes_ours": None if system.chips.gated else system.inter_chip_bytes * len(w.x),
            "runner_s": round(inner_s, 2),
            "runner_with_startup_s": round(runner_s, 2), "torch_runtime_one_at_a_time_s": round(ours_s, 2),
            "runner_speedup": round(ours_s / inner_s, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mnist,svhn,kws,resnet,d2nn")
    ap.add_argument("--append", action="store_true", help="add the rows to the saved ones (other models kept)")
    ap.add_argument("--chips", type=int, default=8)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    names = args.models.split(",")
    saved = json.loads((RESULTS / "deploy.json").read_text()) if args.append and (RESULTS / "deploy.json").is_file() \
        else []
    rows = [r for r in saved if r["model"] not in names]
    for name in names:
        rows.append(row(name, args.chips, args.limit))
        print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deploy.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["# Exported per-chip programs run by onnxruntime (benchmarks/deploy.py)", "",
             "| model | chips (wakes / graphs) | export s | inputs | bit-identical | bytes passed (plan) | runner s "
             "(ours, one at a time) | refused because |", "|---|---|---:|---:|---|---|---|---|"]
    for r in rows:
        if "refused" in r or "runner_error" in r:
            lines.append(f"| {r['model']} | {r['chips']} ({r['wakes']} / —) | — | — | — | — | — | "
                         f"{r.get('refused', r.get('runner_error'))} |")
        else:
            lines.append(f"| {r['model']} | {r['chips']} ({r['wakes']} / {r['graphs']}) | {r['export_s']} | "
                         f"{r['inputs']:,} | {r['bit_identical']} ({r['mismatches']} mismatches) | "
                         f"{r['bytes_passed']:,} ({r['plan_bytes']:,}) | {r['runner_s']} "
                         f"({r['torch_runtime_one_at_a_time_s']}) | |")
    (RESULTS / "deploy.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
