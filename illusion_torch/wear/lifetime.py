"""Years of inference on RRAM chips that wear out: stuck bits from the writes the model really makes, a
wear-leveling policy, and the accuracy the chip-by-chip runtime measures at ZERO … TENYEAR.

Usage::

    import illusion_torch as il
    from illusion_torch.wear import simulate
    system = il.partition(il.load("svhn"), x[:1], chips=8, capacity="4KiB")
    result = simulate(system, x[:500], y[:500], resilience="distributed-endurer", years=10, seed=0)
    result.points[-1].accuracy, result.wear_evenness, result.lifetime_years

How (docs/paper.md, "RRAM endurance and Distributed ENDURER"):
1. Write pattern: each chip's RRAM holds its weight image followed by the activation buffers that must
   outlive a shutdown (``nvm_layout``: messages from other chips, values kept between a chip's wake-ups such
   as the LSTM's h and c); working activations stay in SRAM. One inference's writes to those buffers, in
   program order (``Profile.events``), pass through the 4-word write-back SRAM buffer (``rram.write_back``);
   what reaches the RRAM is the writes per word per inference. A gated model averages its routes by how
   often the test inputs take them. Weights are written only when a remap moves them.
2. Fast-forward: periods of 4 hours run ``rate`` inferences each. The policy (``endurer.py``) records, per
   period, which physical chip held which logical image at which rotation; wear is linear in those counts,
   so the writes every physical word has received after any number of periods is a circular correlation of
   the per-inference pattern with the histogram of offsets (FFT), plus the remap writes — exact, with no
   per-inference simulation (``fastforward.py``: read chip by chip, spare reports only where a cell failed).
3. At ZERO, DAY, WEEK, MONTH, YEAR, TENYEAR (0, 6, 42, 180, 2,190, 21,900 periods) every cell whose
   endurance (``rram.RRAMArray``, seeded; only cells that can fail are drawn) is below its word's wear is
   stuck; the stuck bits are mapped back through the current placement onto each logical chip and forced
   into its weights and every activation write (``wear.faults``), and the test subset runs chip by chip.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch

from ..errors import IllusionError
from ..partitioning.partition import Partition
from ..runtime import Runtime
from .endurer import Policy
from .endurer import policy as make_policy
from .fastforward import FastForward
from .faults import FaultyChips
from .rram import PAPER_ENDURANCE, Endurance
from .writes import nvm_layout, write_pattern

__all__ = ["simulate", "LifetimeResult", "LifetimePoint", "LABELS", "RATES", "write_pattern", "nvm_layout",
           "FastForward", "MAX_YEARS", "marks_until"]

PERIOD_HOURS = 4
PERIODS_PER_YEAR = 365 * 24 // PERIOD_HOURS                  # 2,190
LABELS = {"ZERO": 0, "DAY": 6, "WEEK": 42, "MONTH": 180, "YEAR": 2_190, "TENYEAR": 21_900}
RATES = {"svhn": 411, "d2nn": 3000, "kws": 541}               # inferences per 4 h (docs/paper.md)
MAX_YEARS = 100.0               # RRAM retention is specified for ~10 years; a century is far past any use


@dataclass
class LifetimePoint:
    label: str
    periods: int
    years: float
    accuracy: float
    stuck_bits: int             # failed cells in effect (a failed word moved to a spare no longer counts)
    max_writes_per_word: float
    failed_cells: int = 0       # every failed cell of the chips' memories, repaired or not
    repaired_words: int = 0     # words redirected to spares (distributed-endurer-plus)
    buffer_stuck_bits: int | None = None    # the paper scenario: stuck bits in effect in its one RRAM buffer


@dataclass
class LifetimeResult:
    model: str
    resilience: str
    params: dict
    chips: int
    seed: int
    samples: int
    rate: float
    words_per_chip: int
    points: list[LifetimePoint]
    lifetime_years: float | None
    wear_evenness: float
    swaps: int
    wall_s: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        params = "".join(f" {k}={v:g}" for k, v in self.params.items())
        lines = [f"{self.model} on {self.chips} chips, resilience {self.resilience}{params}, "
                 f"{self.rate:g} inferences per 4 h, seed {self.seed}, accuracy on the first {self.samples} test "
                 f"inputs",
                 f"{'point':<9}{'years':>8}{'accuracy':>10}{'stuck bits':>12}{'failed cells':>14}{'repaired':>10}"
                 f"{'max writes/word':>17}"]
        in_buffer = all(p.buffer_stuck_bits is not None for p in self.points)
        if in_buffer:
            lines[-1] += f"{'in the buffer':>15}"
        for p in self.points:
            lines.append(f"{p.label:<9}{p.years:>8.3g}{100 * p.accuracy:>9.2f}%{p.stuck_bits:>12}{p.failed_cells:>14}"
                         f"{p.repaired_words:>10}{p.max_writes_per_word:>17.4g}"
                         + (f"{p.buffer_stuck_bits:>15}" if in_buffer else ""))
        life = "never within the horizon" if self.lifetime_years is None else f"{self.lifetime_years:g} years"
        lines.append(f"accuracy first 1 point below its start: {life}; wear evenness (mean ÷ max writes per "
                     f"word) {self.wear_evenness:.3f}; chip swaps {self.swaps}; {self.wall_s:.1f} s")
        lines += self.notes
        return "\n".join(lines)


def _inference_rate(name: str, rate: float | None) -> float:
    if rate is None:
        if name not in RATES:
            raise IllusionError(f"no inference rate known for {name!r}; give one (rate=, or --rate: inferences "
                                f"per 4 hours); docs/paper.md gives {', '.join(f'{k} {v}' for k, v in RATES.items())}")
        rate = RATES[name]
    if not math.isfinite(rate) or rate <= 0:
        raise IllusionError(f"the inference rate must be a positive number of inferences per 4 hours, got {rate}")
    return rate


def marks_until(years: float) -> list[tuple[str, int]]:
    """The labelled points up to ``years`` (and the horizon itself), in periods, in order."""
    if not math.isfinite(years) or not 0 < years <= MAX_YEARS:
        raise IllusionError(f"years must be a number in (0, {MAX_YEARS:g}], got {years}")
    horizon = int(round(years * PERIODS_PER_YEAR))
    marks = {label: p for label, p in LABELS.items() if p <= horizon}
    if horizon not in marks.values():
        marks[f"{years:g}Y"] = horizon
    return sorted(marks.items(), key=lambda kv: kv[1])


def simulate(system: Partition, x: torch.Tensor, y: torch.Tensor, *, resilience: str | Policy = "distributed-endurer",
             years: float = 10.0, seed: int = 0, rate: float | None = None,
             endurance: Endurance = PAPER_ENDURANCE, layout: str = "ours", write_back_on: bool = True,
             mask_weights: bool = True) -> LifetimeResult:
    """Fast-forward ``years`` of inference on ``system``'s chips under ``resilience`` (a policy name, or
    ``wear.policy(name, **parameters)``); accuracy on (x, y). ``rate``: inferences per 4 hours (default:
    docs/paper.md's for the workload). What wears: ``layout`` "ours" (messages and state kept across a shutdown,
    ``nvm_layout``) or "every" (every activation buffer); ``write_back_on``: through the 4-word write-back
    buffer; ``mask_weights``: stuck bits forced into the weights too (the paper's scenario: ``paper.endurance_run``)."""
    started = time.perf_counter()
    if layout not in ("ours", "every"):
        raise IllusionError(f"unknown wear layout {layout!r}; use 'ours' or 'every'")
    name = system.graph.model_name
    marks = marks_until(years)
    rate = _inference_rate(name, rate)
    pol = make_policy(resilience) if isinstance(resilience, str) else resilience
    runtime = Runtime(system)
    nvm = nvm_layout(runtime, every=layout == "every")
    base = runtime.run(x)                                     # no stuck bits: the accuracy of every such point
    ff = FastForward(write_pattern(runtime, base.runs, nvm, write_back_on=write_back_on), rate, pol, endurance,
                     seed)
    faulty = FaultyChips(runtime, layout=dict(enumerate(nvm)), mask_weights=mask_weights)
    points: list[LifetimePoint] = []
    wear = ff.wear()
    for label, period in marks:
        wear = ff.advance_to(period)
        masks, stuck, failed = ff.logical_masks(wear)
        if stuck == 0:
            acc = float((base.logits.argmax(1) == y).double().mean())
        else:
            faulty.set_all_masks(masks)
            acc = float((faulty.run(x).argmax(1) == y).double().mean())
        points.append(LifetimePoint(label, period, period / PERIODS_PER_YEAR, acc, stuck, float(wear.max()), failed,
                                    sum(len(sp.of) for sp in ff.spares)))
    start = points[0].accuracy
    below = next((p for p in points if p.accuracy < start - 0.01), None)
    evenness = float(wear.mean() / wear.max()) if wear.max() > 0 else 1.0
    notes = []
    if faulty.unmasked:
        notes.append(f"values without a fixed-point code left unmasked: {', '.join(sorted(set(faulty.unmasked)))}")
    return LifetimeResult(name, pol.name, dict(pol.given), ff.n, seed, len(x), rate, ff.words, points,
                          None if below is None else below.years, evenness, pol.swaps,
                          time.perf_counter() - started, notes)
