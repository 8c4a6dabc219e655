"""A new user's first run at scale, timed: the MiniLM run on about a thousand chips, on an empty schedule cache.

    python benchmarks/first_run.py [--chips 1000] [--limit 300]

Runs ``illusion run --model minilm --chips 1000 --limit 300 --preset accelerator-28nm`` as a user would (a
subprocess), first on an empty nn_dataflow schedule cache (``ILLUSION_SCHEDULES`` points at a new file), then
again on the cache that run filled. Every line the command prints is stamped with the seconds since it started,
so the table says how long the run took to its report line and how long saving the report (its figures) took
after it. Writes benchmarks/results/first_run.json. Targets (issues 27 and 28): cold ≤ 3 minutes on this 2-core
machine, the report saved ≤ 10 s after the run.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def timed_run(argv: list[str], env: dict) -> dict:
    """Run ``argv``; the wall time, each output line with its time, and the stage times read from them."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append((round(time.perf_counter() - started, 2), line.rstrip()))
    rc = proc.wait()
    wall = time.perf_counter() - started
    report_at = next((t for t, text in lines if re.match(r"minilm on [\d,]+ chips", text)), None)
    searched = sum(int(m.group(1)) for _, text in lines
                   if (m := re.match(r"nn_dataflow: searching schedules for (\d+) new", text)))
    return {"rc": rc, "wall_s": round(wall, 1), "report_line_s": report_at,
            "saved_after_report_s": None if report_at is None else round(wall - report_at, 1),
            "schedules_searched": searched,
            "stages": [(t, text[:160]) for t, text in lines if not re.match(r"\s*\d+\s", text)][:60]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=300)
    args = ap.parse_args()
    import os

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ILLUSION_SCHEDULES": str(Path(tmp) / "schedules.json")}
        for label in ("cold", "warm"):
            out = Path(tmp) / f"run-{label}"
            argv = [sys.executable, "-m", "illusion_torch.cli", "run", "--model", "minilm", "--chips", str(args.chips),
                    "--limit", str(args.limit), "--preset", "accelerator-28nm", "--out", str(out)]
            rows[label] = timed_run(argv, env)
            r = rows[label]
            print(f"{label}: rc {r['rc']}, {r['wall_s']} s in all, report line at {r['report_line_s']} s, saved "
                  f"{r['saved_after_report_s']} s after it, {r['schedules_searched']} schedules searched", flush=True)
    RESULTS.mkdir(exist_ok=True)
    result = {"command": f"illusion run --model minilm --chips {args.chips} --limit {args.limit} --preset "
                         f"accelerator-28nm", "machine": "2 cores, 24 GiB, no GPU", **rows}
    (RESULTS / "first_run.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0 if all(r["rc"] == 0 for r in rows.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
