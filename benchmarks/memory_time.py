"""The scale-up networks' ideal chips timed two ways: by the schedules alone, and through the memory system.

    python benchmarks/memory_time.py

Per network (seeded random weights, one SYNTHETIC seeded random input; the LSTM LM both as released and step
by step): the ideal chip's time and energy per inference on ``accelerator-28nm-schedule`` (nn_dataflow's
schedule cycles, the time every earlier result used) and on ``accelerator-28nm`` (through the RRAM's and the
global buffer's latencies, ``cost.dataflow``), and the DRAM chip's on each, with the DRAM chip / ideal chip
ratios the paper quotes for the CNNs (docs/paper.md, "The scale-up simulation": 1.7–3.4× the time, 1.4–2.5×
the energy). Writes benchmarks/results/memory_time.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from scaleup import _input  # benchmarks/ is this script's folder

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.cost.evaluate import evaluate
from illusion_torch.cost.hardware import preset
from illusion_torch.partitioning.trace import trace
from illusion_torch.runtime.engine import Runtime
from illusion_torch.system import build

RESULTS = Path(__file__).parent / "results"
NETWORKS = ("paper-alexnet", "paper-vgg16", "paper-resnet50", "paper-lstm-lm", "paper-lstm-lm-sequential")


def ideal_profile(name: str):
    torch.manual_seed(0)
    model = il.models.get_model(name).eval()
    g = trace(model, _input(model))                  # the sweep's seeded input
    whole = partitioning.solve(g, g.weight_bytes + 1, solver="first-fit")
    return Runtime(build(model, g, whole).ideal()).profile


def main() -> int:
    rows = []
    for name in NETWORKS:
        prof = ideal_profile(name)
        row: dict = {"network": name}
        for label, spec in (("schedule", preset("accelerator-28nm-schedule")), ("memory", preset("accelerator-28nm"))):
            ideal = evaluate(prof, {None: 1}, spec, always_on=True)
            dram = evaluate(prof, {None: 1}, spec.with_dram(), always_on=True)
            row[label] = {"ideal_time_s": ideal.time_s, "ideal_energy_j": ideal.energy_j, "dram_time_s": dram.time_s,
                          "dram_energy_j": dram.energy_j, "dram_over_ideal_time": dram.time_s / ideal.time_s,
                          "dram_over_ideal_energy": dram.energy_j / ideal.energy_j}
        rows.append(row)
        s, m = row["schedule"], row["memory"]
        print(f"{name:<26} ideal {s['ideal_time_s'] * 1e3:8.3f} → {m['ideal_time_s'] * 1e3:8.3f} ms, "
              f"{s['ideal_energy_j'] * 1e3:8.2f} → {m['ideal_energy_j'] * 1e3:8.2f} mJ; DRAM / ideal time "
              f"{s['dram_over_ideal_time']:.2f} → {m['dram_over_ideal_time']:.2f}, energy "
              f"{s['dram_over_ideal_energy']:.2f} → {m['dram_over_ideal_energy']:.2f}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "memory_time.json").write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
