"""Thousands of chips: the scale-up simulator's LSTM language model at 0.25 MiB per chip (7,000+ chips).

    python benchmarks/lm_scale.py [--capacity 0.25MiB] [--solver first-fit] [--models paper-lstm-lm,...]

``paper-lstm-lm`` (its steps priced as the release scheduled them) and ``paper-lstm-lm-sequential`` (step by
step), one after the other (seeded random weights; one SYNTHETIC seeded random sequence of 32 token ids): partition
(first-fit, the simulator's mapping), build the per-chip programs, count the work (the cost profile), then
``illusion run``'s report: one chip-by-chip inference checked against the unpartitioned model, priced on
``accelerator-28nm`` (each layer slice scheduled by nn_dataflow) against the ideal and DRAM chips, and saved
with every figure (the 7,000-chip pictures: issue 28 asks for them within 10 s). Wall time per step and the
process's peak RSS. Targets: all of it < 120 s and < 12 GiB on this machine, for each model (issues 11 and 27).
Writes benchmarks/results/lm_scale.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

import illusion_torch as il
from illusion_torch.report import run_and_price
from illusion_torch.runtime.engine import profile_of
from illusion_torch.units import parse_bytes

RESULTS = Path(__file__).parent / "results"


def _rss_gib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def run(name: str, capacity: str, solver: str) -> dict:
    """Partition, build, count, price and run ``name`` once; wall time per step and peak RSS."""
    torch.manual_seed(0)
    t = time.perf_counter()
    model = il.models.get_model(name).eval()
    x = torch.randint(0, il.models.config_of(model).vocab_size, (1, 32), generator=torch.Generator().manual_seed(0))
    row: dict = {"model": name, "weights": sum(q.numel() for q in model.parameters()),
                 "capacity_bytes": parse_bytes(capacity), "input": "SYNTHETIC seeded random token ids",
                 "model_s": round(time.perf_counter() - t, 2), "model_rss_gib": _rss_gib()}
    steps = {}
    t = time.perf_counter()
    system = il.partition(model, x, capacity=capacity, solver=solver)
    steps["partition_s"] = time.perf_counter() - t
    t = time.perf_counter()
    programs = system.chips
    steps["build_s"] = time.perf_counter() - t
    row["build_rss_gib"] = _rss_gib()
    t = time.perf_counter()
    profile_of(system)                          # the work count, shared by the runtime and the report below
    steps["profile_s"] = time.perf_counter() - t
    t = time.perf_counter()
    report = run_and_price(system, x, preset="accelerator-28nm", model_name=name)
    steps["run_and_price_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        report.save(Path(folder) / "report")    # report.json and every figure, as `illusion run` saves them
        row["figures"] = sorted(p.name for p in (Path(folder) / "report").iterdir() if p.suffix == ".png")
    steps["figures_s"] = time.perf_counter() - t
    cost = report.illusion
    row.update({k: round(v, 2) for k, v in steps.items()})
    row.update(chips=system.mapping.n_chips, wakes=len(programs.wakes), inter_chip_bytes=system.inter_chip_bytes,
               energy_j=cost.energy_j, time_s=cost.time_s, energy_ratio=report.energy_ratio,
               time_ratio=report.time_ratio, mismatches=report.mismatches,
               roofline_layers=sum(1 for r in cost.layers if r.source != "nn_dataflow"),
               max_abs_diff=report.meta["max_abs_diff"],
               total_s=round(sum(steps.values()), 2), peak_rss_gib=_rss_gib())
    print(json.dumps(row, indent=1), flush=True)
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--capacity", default="0.25MiB")
    p.add_argument("--solver", default="first-fit")
    p.add_argument("--models", default="paper-lstm-lm,paper-lstm-lm-sequential")
    args = p.parse_args()
    runs = []
    for name in args.models.split(","):
        runs.append(run(name, args.capacity, args.solver))
        gc.collect()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lm_scale.json").write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
