"""A run's report: accuracy, mismatches, energy/time/EDP of the Illusion system vs the ideal chip and a DRAM chip.

Usage::

    import illusion_torch as il
    system = il.partition(il.load("mnist"), x[:1], chips=8, capacity="512B")
    report = system.run(x, y, preset="paper-testchip")      # = report.run_and_price(system, x, y, ...)
    print(report.summary())
    report.save("runs/mnist-8")      # report.json, power_timeline.png, energy_breakdown.png, mapping.png
    report.as_dict()["energy_ratio"]

``run_and_price`` runs the inputs chip by chip (``runtime``), compares every input's logits with the
unpartitioned model's (``mismatches``: inputs whose logits differ at all — for a float model, with no
fixed-point format, beyond float64 rounding: |Δ| > 1e-9·(1 + |logit|); ``max_abs_diff`` is reported
beside), and prices the same inferences on
three machines built from one ChipSpec: the Illusion system, the ideal chip (one chip with memory for the
whole model, only host I/O) and the same chip with its weights in off-chip DRAM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..cost.dataflow import prefetch_pairs
from ..cost.evaluate import CATEGORIES, SystemCost, evaluate, schedule_needs
from ..cost.hardware import ChipSpec
from ..cost.hardware import preset as get_preset
from ..cost.profile import Branch
from ..files import dumps_json, fresh_dir
from ..partitioning.partition import Partition
from ..runtime import Runtime, batches
from ..runtime.engine import RunResult, profile_of
from ..units import bytes_text, percent

__all__ = ["Report", "run_and_price", "REPORT_FILES", "REPORT_MARKER"]

REPORT_MARKER = ".illusion-report"         # says the folder is a report's, replaced whole by the next save
MARKER_TEXT = "written by illusion_torch (Report.save); the next report saved here replaces this folder whole\n"
REPORT_FILES = frozenset({REPORT_MARKER, "report.json", "power_timeline.png", "energy_breakdown.png",
                          "mapping.png"})


@dataclass
class Report:
    model: str
    preset: ChipSpec
    samples: int
    accuracy: float | None
    reference_accuracy: float | None
    mismatches: int
    inter_chip_bytes: int
    illusion: SystemCost
    ideal: SystemCost
    dram: SystemCost
    runs: dict[Branch, int]
    capacity_bytes: int
    logits: torch.Tensor = field(repr=False)
    system: Partition | None = field(repr=False, default=None)
    meta: dict = field(default_factory=dict)

    @property
    def chips(self) -> int:
        return len(self.illusion.per_chip)

    @property
    def energy_ratio(self) -> float:
        return self.illusion.energy_j / self.ideal.energy_j

    @property
    def time_ratio(self) -> float:
        return self.illusion.time_s / self.ideal.time_s

    @property
    def edp_ratio(self) -> float:
        return self.illusion.edp / self.ideal.edp

    def as_dict(self) -> dict:
        """The JSON record (``report.json``; ``illusion run --json``)."""
        routes = {("all" if k is None else str(k)): v for k, v in self.runs.items()}
        return {
            "model": self.model, "chips": self.chips, "capacity_bytes": self.capacity_bytes,
            "preset": self.preset.name, "samples": self.samples, "accuracy": self.accuracy,
            "reference_accuracy": self.reference_accuracy, "mismatches": self.mismatches,
            "inter_chip_bytes": self.inter_chip_bytes,
            "energy_j": self.illusion.energy_j, "time_s": self.illusion.time_s, "edp_js": self.illusion.edp,
            "ideal": {"energy_j": self.ideal.energy_j, "time_s": self.ideal.time_s, "edp_js": self.ideal.edp},
            "dram_chip": {"energy_j": self.dram.energy_j, "time_s": self.dram.time_s, "edp_js": self.dram.edp},
            "energy_ratio": self.energy_ratio, "time_ratio": self.time_ratio, "edp_ratio": self.edp_ratio,
            "dram_vs_ideal": {"energy": self.dram.energy_j / self.ideal.energy_j,
                              "time": self.dram.time_s / self.ideal.time_s},
            "pipelined": {"illusion_inferences_per_s": self.illusion.throughput_per_s,
                          "ideal_inferences_per_s": self.ideal.throughput_per_s},
            "per_chip": [{"chip": c.chip, "energy_j": c.energy_j, "active_s": c.active_s, "sleep_s": c.sleep_s,
                          "wakeups": c.wakeups, "weight_bytes": c.weight_bytes, "breakdown_j": c.breakdown}
                         for c in self.illusion.per_chip],
            "inferences_per_route": routes,
            "hardware": self.preset.as_dict(),
            **({"layers": {"illusion": [asdict(r) for r in self.illusion.layers],
                           "ideal": [asdict(r) for r in self.ideal.layers],
                           "dram_chip": [asdict(r) for r in self.dram.layers]}} if self.ideal.layers else {}),
            **self.meta,
        }

    def summary(self) -> str:
        """A readable table: the three machines, the ratios, and the per-chip breakdown."""
        mj = 1e3
        lines = []
        acc = "" if self.accuracy is None or self.reference_accuracy is None else (
            f"accuracy {percent(self.accuracy)} (unpartitioned {percent(self.reference_accuracy)}), ")
        lines.append(f"{self.model} on {self.chips} chips × {bytes_text(self.capacity_bytes)}, preset "
                     f"{self.preset.name}: {self.samples} inputs, {acc}{self.mismatches} mismatches, "
                     f"{bytes_text(self.inter_chip_bytes)} between chips per inference")
        if len(self.runs) > 1 or None not in self.runs:
            lines.append("routes: " + ", ".join(f"route {k}: {v} inputs" for k, v in self.runs.items()))
        lines.append("")
        lines.append(f"{'per inference':<22}{'energy (mJ)':>13}{'time (s)':>12}{'EDP (mJ·s)':>13}"
                     f"{'pipelined (inf/s)':>19}")
        for label, c in (("Illusion", self.illusion), ("ideal chip", self.ideal), ("DRAM chip", self.dram)):
            lines.append(f"{label:<22}{c.energy_j * mj:>13.6g}{c.time_s:>12.6g}{c.edp * mj:>13.6g}"
                         f"{c.throughput_per_s:>19.6g}")
        lines.append(f"{'Illusion / ideal':<22}{self.energy_ratio:>13.4f}{self.time_ratio:>12.4f}"
                     f"{self.edp_ratio:>13.4f}")
        lines.append("")
        head = "".join(f"{c + ' (µJ)':>15}" for c in CATEGORIES)
        lines.append(f"{'chip':>4}{'wakes':>7}{'active (s)':>12}{'weight B':>10}{head}{'total (µJ)':>13}")
        for chip in self.illusion.per_chip:
            cats = "".join(f"{chip.breakdown[k] * 1e6:>15.4g}" for k in CATEGORIES)
            lines.append(f"{chip.chip:>4}{chip.wakeups:>7.3g}{chip.active_s:>12.5g}{chip.weight_bytes:>10}{cats}"
                         f"{chip.energy_j * 1e6:>13.5g}")
        return "\n".join(lines)

    def save(self, out_dir: str | Path) -> Path:
        """Write report.json and the three pictures into ``out_dir``, which then holds this run only (written in
        a temporary folder that replaces it, so an interrupted save leaves the old run whole). ``out_dir`` must
        be new or an earlier report's (only ``REPORT_FILES``): a folder with anything else is refused."""
        with fresh_dir(out_dir, REPORT_FILES) as tmp:
            (tmp / REPORT_MARKER).write_text(MARKER_TEXT)
            (tmp / "report.json").write_text(dumps_json(self.as_dict()))
            from .plots import plot_energy_breakdown, plot_mapping, plot_power_timeline

            plot_power_timeline(self, tmp / "power_timeline.png")
            plot_energy_breakdown(self, tmp / "energy_breakdown.png")
            if self.system is not None:
                plot_mapping(self.system.graph, self.system.mapping, tmp / "mapping.png")
        return Path(out_dir)


def run_and_price(system: Partition, x: torch.Tensor, y: torch.Tensor | None = None, *,
             preset: str | ChipSpec = "paper-testchip", batch_size: int | None = None, progress: bool = False,
             model_name: str | None = None, result: RunResult | None = None) -> Report:
    """Run ``x`` chip by chip, check it against the unpartitioned model, and price it on ``preset``
    (``result``: a run made elsewhere, e.g. by the distributed runtime, checked and priced the same way)."""
    spec = get_preset(preset)
    runtime = Runtime(system)
    batch_size = runtime.batch_size if batch_size is None else batch_size
    if result is None:
        result = runtime.run(x, batch_size=batch_size, progress=progress, desc=f"{system.mapping.n_chips} chips")
    mismatches, ref_correct, max_diff = 0, 0, 0.0
    fixed = system.graph.config.fixed_point
    for i in batches(len(x), batch_size):
        ref = system.reference(x[i:i + batch_size])
        out = result.logits[i:i + batch_size]
        differs = (out != ref) if fixed else ((out - ref).abs() > 1e-9 * (1 + ref.abs()))
        mismatches += int(differs.flatten(1).any(dim=1).sum())
        max_diff = max(max_diff, float((out - ref).abs().max()))
        if y is not None:
            ref_correct += int((ref.argmax(1) == y[i:i + batch_size]).sum())
    accuracy = reference_accuracy = None
    if y is not None:
        accuracy = float((result.logits.argmax(1) == y).double().mean())
        reference_accuracy = ref_correct / len(y)
    ideal_profile = profile_of(system.ideal())
    prefetch_pairs([*schedule_needs(runtime.profile, result.runs, spec),      # one search of every new shape
                    *schedule_needs(ideal_profile, result.runs, spec),
                    *schedule_needs(ideal_profile, result.runs, spec.with_dram())], progress=progress)
    costs = dict(
        illusion=evaluate(runtime.profile, result.runs, spec, name="illusion"),
        ideal=evaluate(ideal_profile, result.runs, spec, name="ideal chip", always_on=True),
        dram=evaluate(ideal_profile, result.runs, spec.with_dram(), name="DRAM chip", always_on=True),
    )
    m = system.mapping
    meta = {"solver": m.method, "optimal": m.optimal, "max_abs_diff": max_diff,
            "compute_dtype": str(runtime.dtype).replace("torch.", ""),
            "compute_dtype_reason": runtime.dtype_reason}
    return Report(model_name or system.graph.model_name, spec, len(x), accuracy, reference_accuracy, mismatches,
                  system.inter_chip_bytes, runs=result.runs, capacity_bytes=max(m.capacity_bytes),
                  logits=result.logits, system=system, meta=meta, **costs)
