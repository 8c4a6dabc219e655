"""The README's "Your own model" example, run as written: its numbers, for the sentence that quotes them.

    python benchmarks/readme_example.py      # → benchmarks/results/readme_example.json

torchvision's ResNet-18 (untrained: seeded random weights) on 4 SYNTHETIC random images, partitioned onto the
fewest chips of 1 MiB, run chip by chip and priced on ``accelerator-28nm``; the report saved to a temporary
folder. Wall time of the whole example (partition + run + save).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch
import torchvision

import illusion_torch as il

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x = torch.randn(4, 3, 224, 224)
    started = time.perf_counter()
    system = il.partition(model, x[:1], capacity="1MiB")
    partition_s = time.perf_counter() - started
    report = system.run(x, preset="accelerator-28nm")
    with tempfile.TemporaryDirectory() as folder:
        report.save(Path(folder) / "resnet18")
    m = system.mapping
    row = {"model": "torchvision resnet18 (untrained, seeded random weights)", "inputs": "4 SYNTHETIC random images",
           "capacity": "1MiB", "chips": m.n_chips, "inter_chip_bytes": system.inter_chip_bytes,
           "lower_bound_bytes": m.lower_bound, "optimal": m.optimal, "mismatches": report.mismatches,
           "energy_ratio": report.energy_ratio, "time_ratio": report.time_ratio,
           "partition_s": round(partition_s, 1), "total_s": round(time.perf_counter() - started, 1)}
    print(json.dumps(row, indent=1))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "readme_example.json").write_text(json.dumps(row, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
