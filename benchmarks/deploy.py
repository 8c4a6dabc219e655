"""Per-chip programs through a runtime we did not write: ``illusion export`` then ``run.py`` (onnxruntime).

    python benchmarks/deploy.py [--models mnist,svhn,kws,resnet,d2nn,...] [--chips 8] [--limit N]

For each shipped checkpoint, partitioned onto ``--chips`` chips (the default capacity rule; BILP): the export's
wall time and graphs, then the runner over the test split (``--limit`` inputs; default: all) one input at a
time in a fresh process — its logits against ``system(x)`` bit for bit, the bytes it passed between chips
against the plan's — and, on the same inputs one at a time, our torch chip-by-chip runtime
(``Runtime.run(batch_size=1)``) for the throughput ratio. A system the export refuses is a row with its reason.
For the paper's test chips (MNIST, SVHN, D2NN, KWS) also the integer-only C programs: built with gcc, run one
process per chip by ``run_c.py`` over the same inputs, checked the same way, and each chip's code and data
bytes (``size`` of its object) beside its memory capacity. Writes benchmarks/results/deploy.{json,md}.
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
from illusion_torch.cli.jobs import capacity_for, job
from illusion_torch.deploy import export
from illusion_torch.errors import IllusionError
from illusion_torch.runtime import Runtime

RESULTS = Path(__file__).parent / "results"


C_MODELS = ("mnist", "svhn", "d2nn", "kws")          # the paper's test chips: C programs too


def _run(runner: Path, tmp: str) -> tuple[subprocess.CompletedProcess, float]:
    Path(tmp, "y.npy").unlink(missing_ok=True)
    t = time.perf_counter()
    run = subprocess.run([sys.executable, str(runner), "--inputs", str(Path(tmp) / "x.npy"),
                          "--out", str(Path(tmp) / "y.npy")], capture_output=True, text=True)
    return run, time.perf_counter() - t


def c_row(folder: Path, tmp: str, ref: np.ndarray) -> dict:
    """Build the C programs, run them (one process per chip) and size each chip's program."""
    build = subprocess.run(["make", "-s", "-j2", "-C", str(folder / "c")], capture_output=True, text=True)
    if build.returncode != 0:
        return {"c_error": build.stderr.strip().splitlines()[-1]}
    run, _ = _run(folder / "run_c.py", tmp)
    if run.returncode != 0:
        return {"c_error": run.stderr.strip().splitlines()[-1]}
    y = np.load(Path(tmp) / "y.npy").astype(np.float64)
    manifest = json.loads((folder / "manifest.json").read_text())
    programs = json.loads((folder / "c" / "programs.json").read_text())
    sizes = []
    for c, chip in sorted(programs["chips"].items(), key=lambda kv: int(kv[0])):
        text, data, bss = map(int, subprocess.run(["size", str(folder / f"{chip['program']}.o")], capture_output=True,
                                                  text=True).stdout.splitlines()[1].split()[:3])
        info = manifest["chips"][int(c)]
        sizes.append({"chip": int(c), "code_bytes": text, "data_bytes": data + bss, "image_bytes": info["image_bytes"],
                      "arena_bytes": 4 * chip["arena_values"], "capacity_bytes": info["capacity_bytes"]})
    return {"c_bit_identical": bool(np.array_equal(y, ref)), "c_mismatches": int((y != ref).any(axis=1).sum()),
            "c_bytes_passed": int(run.stdout.split(" B passed")[0].split()[-1]),
            "c_s": float(run.stdout.split(" inputs in ")[1].split(" s;")[0]), "c_chips": sizes}


def row(name: str, chips: int, limit: int | None) -> dict:
    w = job(name, limit=limit)
    system = il.partition(w.model, w.x[:1], chips=chips, capacity=capacity_for(w, chips, None), time_limit_s=20)
    out = {"model": name, "chips": system.mapping.n_chips, "wakes": len(system.chips.wakes), "inputs": len(w.x)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        try:
            result = export(system, folder, c=name in C_MODELS)
        except IllusionError as e:
            return {**out, "refused": str(e)}
        graphs = len(list((folder / "wakes").glob("*.onnx")))
        np.save(Path(tmp) / "x.npy", w.x.numpy())
        run, runner_s = _run(folder / "run.py", tmp)
        if run.returncode != 0:
            return {**out, "runner_error": run.stderr.strip().splitlines()[-1]}
        y = np.load(Path(tmp) / "y.npy").astype(np.float64)
        inner_s = float(run.stdout.split(" inputs in ")[1].split(" s;")[0])
        sent = int(run.stdout.split(" B passed")[0].split()[-1])
        plan = int(run.stdout.split("the plan's: ")[1].split(" B")[0])
        ref = system(w.x).numpy()
        c = c_row(folder, tmp, ref) if name in C_MODELS else {}
    t = time.perf_counter()
    Runtime(system).run(w.x, batch_size=1)
    ours_s = time.perf_counter() - t
    return {**out, "graphs": graphs, "export_s": round(result.seconds, 1),
            "bit_identical": bool(np.array_equal(y, ref)),
            "mismatches": int((y != ref).any(axis=1).sum()), "bytes_passed": sent,
            "plan_bytes": plan, "plan_bytes_ours": None if system.chips.gated else system.inter_chip_bytes * len(w.x),
            "runner_s": round(inner_s, 2),
            "runner_with_startup_s": round(runner_s, 2), "torch_runtime_one_at_a_time_s": round(ours_s, 2),
            "runner_speedup": round(ours_s / inner_s, 2), **c}


def scale(name: str = "resnet18-fashion", share: int = 1000, inputs: int = 4) -> dict:
    """Export at scale: the model on chips of 1/``share`` of its weights (first-fit, as the distributed
    benchmark's scale run), its export timed, then ``inputs`` inputs through the runner checked bit for bit."""
    w = job(name, limit=inputs)
    cap = il.models.weight_bytes(w.model) // share
    t = time.perf_counter()
    system = il.partition(w.model, w.x[:1], capacity=cap, solver="first-fit")
    setup = time.perf_counter() - t
    out = {"model": name, "chips": system.mapping.n_chips, "wakes": len(system.chips.wakes), "inputs": len(w.x),
           "partition_s": round(setup, 1)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        result = export(system, folder, progress=False)
        np.save(Path(tmp) / "x.npy", w.x.numpy())
        run, runner_s = _run(folder / "run.py", tmp)
        if run.returncode != 0:
            return {**out, "export_s": round(result.seconds, 1), "runner_error": run.stderr.strip().splitlines()[-1]}
        y = np.load(Path(tmp) / "y.npy").astype(np.float64)
        return {**out, "export_s": round(result.seconds, 1), "graphs": len(list((folder / "wakes").glob("*.onnx"))),
                "bit_identical": bool(np.array_equal(y, system(w.x).numpy())),
                "bytes_passed": int(run.stdout.split(" B passed")[0].split()[-1]),
                "plan_bytes": int(run.stdout.split("the plan's: ")[1].split(" B")[0]),
                "runner_with_startup_s": round(runner_s, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mnist,svhn,kws,resnet,d2nn,mobilenet_v2,resnet18-fashion,gpt,minilm")
    ap.add_argument("--append", action="store_true", help="add the rows to the saved ones (other models kept)")
    ap.add_argument("--chips", type=int, default=8)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--scale", action="store_true", help="only the export at scale (ResNet-18 Fashion, ~1,000 chips)")
    args = ap.parse_args()
    if args.scale:
        r = scale()
        print(json.dumps(r), flush=True)
        (RESULTS / "deploy_scale.json").write_text(json.dumps(r, indent=1) + "\n")
        render(json.loads((RESULTS / "deploy.json").read_text()))
        return 0
    names = args.models.split(",")
    saved = json.loads((RESULTS / "deploy.json").read_text()) if args.append and (RESULTS / "deploy.json").is_file() \
        else []
    rows = [r for r in saved if r["model"] not in names]
    for name in names:
        rows.append(row(name, args.chips, args.limit))
        print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deploy.json").write_text(json.dumps(rows, indent=1) + "\n")
    render(rows)
    return 0


def render(rows: list[dict]) -> None:
    """benchmarks/results/deploy.md from the rows (and the scale run, when there is one)."""
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
    lines += ["", "## The paper's test chips as integer-only C (one process per chip, messages over pipes)", "",
              "| model | inputs | bit-identical | bytes passed (plan) | C s | per chip: code B / data B (image B + "
              "values B) / capacity B |", "|---|---:|---|---|---:|---|"]
    for r in rows:
        if "c_error" in r:
            lines.append(f"| {r['model']} | — | — | — | — | {r['c_error']} |")
        elif "c_chips" in r:
            per = "; ".join(f"{c['chip']}: {c['code_bytes']:,} / {c['data_bytes']:,} ({c['image_bytes']:,} + "
                            f"{c['arena_bytes']:,}) / {c['capacity_bytes']:,}" for c in r["c_chips"])
            lines.append(f"| {r['model']} | {r['inputs']:,} | {r['c_bit_identical']} ({r['c_mismatches']} mismatches) "
                         f"| {r['c_bytes_passed']:,} ({r['plan_bytes']:,}) | {r['c_s']} | {per} |")
    if (RESULTS / "deploy_scale.json").is_file():
        r = json.loads((RESULTS / "deploy_scale.json").read_text())
        lines += ["", "## Export at scale (`--scale`)", "",
                  f"{r['model']} on {r['chips']:,} chips (first-fit, 1/1,000 of its weights each): {r['wakes']:,} "
                  f"wakes exported as {r.get('graphs', '—')} graphs in {r['export_s']} s; {r['inputs']} inputs "
                  f"through run.py bit-identical: {r.get('bit_identical')}, bytes passed {r.get('bytes_passed', 0):,} "
                  f"(plan {r.get('plan_bytes', 0):,})."]
    (RESULTS / "deploy.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
