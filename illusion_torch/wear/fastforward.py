"""The wear of every physical word after any number of 4-hour periods, in closed form, chip by chip.

Usage::

    from illusion_torch.wear.fastforward import FastForward
    ff = FastForward(patterns, rate=411, pol=policy("distributed-endurer"), endurance=PAPER_ENDURANCE, seed=0)
    wear = ff.advance_to(2_190)               # (chips × words) writes per physical word after a year
    masks, stuck, failed = ff.logical_masks(wear)

The policy records, per period, which physical chip held which logical image at which rotation (an
``OffsetHistogram``) and the writes its remaps cost (``extra``). The writes a physical word receives are a
circular correlation of that histogram with the image's per-inference write pattern: wear[p] = Σ_o h[o] ·
pattern[(p + o) mod M]. A pattern is zero outside its RRAM buffers (its support, s words of the chip's M),
so each correlation is a linear convolution of length M + s − 1 (FFT, padded to a fast length) rather than
a circular one of length M, whose FFT is slow when M has a large prime factor (443,239 = 53 · 8,363).

Wear is read chip by chip and accumulated: the histogram holds only the periods since a chip's wear was
last read (every chip at each labelled point). With spare words (``distributed-endurer-plus``) write-verify's
weekly reports are acted on without reading whole memories (``reports.py``).
"""

from __future__ import annotations

import numpy as np

from ..errors import IllusionError
from .endurer import OffsetHistogram, Policy
from .patterns import Pattern
from .reports import REMAP_WRITES_PER_PERIOD, SpareReports
from .rram import Endurance, RRAMArray
from .spares import Spares

__all__ = ["FastForward", "REPORT_PERIODS"]

REPORT_PERIODS = 42             # spare-word repair: write-verify reports are acted on weekly


class FastForward:
    """Wear of every physical word, read chip by chip from the policy's offset histogram (see the module)."""

    def __init__(self, patterns: list[np.ndarray], rate: float, pol: Policy, endurance: Endurance,
                 seed: int) -> None:
        self.n = len(patterns)
        self.words = max(len(p) for p in patterns)
        self.lengths = [len(p) for p in patterns]
        self.writes_per_chip = np.array([float(p.sum()) for p in patterns]) * rate
        self.patterns = [Pattern(p, self.words) for p in patterns]
        self.peak = np.array([p.peak for p in self.patterns]) * rate     # busiest word's writes per period
        self.rate = rate
        self.policy = pol
        pol.reset(self.n, self.words, np.random.default_rng(seed))
        self.cells = [RRAMArray(self.words, endurance, seed=seed * 1_000_003 + c) for c in range(self.n)]
        self.spares = [Spares(pol.spares, endurance, seed * 1_000_003 + 500 + c) for c in range(self.n)]
        self.hist = OffsetHistogram(self.words, self.n)
        self.extra = np.zeros(self.n)                   # remap writes per word, per physical chip
        self.read = np.zeros((self.n, self.words))      # pattern writes per word read so far
        self._wear = np.zeros((self.n, self.words))
        self.periods = 0
        self.assigned: list[dict[int, int]] = [{} for _ in range(self.n)]   # word -> period given a spare
        self.extra_at = np.zeros((1, self.n))           # ``extra`` after each period so far
        # spare-word reports without whole reads need the placement log; a policy that spreads a period over
        # offsets (Start-Gap's dense rows) is read whole at every weekly report instead
        self.reports = SpareReports(self) if pol.spares and not pol.dense_offsets else None

    def _read(self, chip: int) -> np.ndarray:
        """Bring ``chip``'s wear up to now; its writes per word."""
        self._bring(chip)
        return self.read[chip] + self.extra[chip]

    def _bring(self, chip: int) -> None:
        for logical, offsets, inferences in self.hist.take(chip):
            self.patterns[logical].add_to(self.read[chip], offsets, inferences)

    def wear(self) -> np.ndarray:
        """Writes per physical word so far (chips × words; valid until the next call)."""
        if not self.periods:
            return self._wear                                    # nothing written yet: still zeros
        for c in range(self.n):
            self._bring(c)
        np.add(self.read, self.extra[:, None], out=self._wear)   # one buffer: no fresh GiB per point
        if self.reports is not None:
            self.reports.refresh(self._wear)
        return self._wear

    def advance_to(self, period: int) -> np.ndarray:
        """Run the policy up to ``period``; the wear then."""
        while self.periods < period:
            self.policy.step(self.writes_per_chip, self.rate, self.hist, self.extra)
            self.periods += 1
            if self.reports is not None:
                self._log_extra()
                if self.periods % REPORT_PERIODS == 0:          # act on write-verify's reports
                    self.reports.act()
            elif self.policy.spares and self.periods % REPORT_PERIODS == 0:
                self.report_by_reading()
        return self.wear()

    def _log_extra(self) -> None:
        if self.periods == len(self.extra_at):                  # grow by half again
            grown = np.zeros((len(self.extra_at) + max(64, len(self.extra_at) // 2), self.n))
            grown[:len(self.extra_at)] = self.extra_at
            self.extra_at = grown
        if (self.extra - self.extra_at[self.periods - 1]).max() > REMAP_WRITES_PER_PERIOD:
            raise IllusionError(f"policy {self.policy.name!r} rewrote a word more than {REMAP_WRITES_PER_PERIOD:g} "
                                f"times in one period; spare-word reports assume at most that")
        self.extra_at[self.periods] = self.extra

    def report_by_reading(self) -> None:
        """The reference for ``SpareReports.act``: read every chip's whole wear and let write-verify report."""
        for c in range(self.n):
            self.spares[c].report(self.cells[c], self._read(c))

    def logical_masks(self, wear: np.ndarray) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], int, int]:
        """Per logical chip, the AND/OR masks of the physical words that hold its image now (one per word of
        the image); stuck bits in effect and every failed cell."""
        out, stuck, failed = {}, 0, 0
        where = {int(p): lg for lg, p in enumerate(self.policy.place.chip.tolist())}
        for phys in range(self.n):
            and_p, or_p, s, f = self.spares[phys].masks(self.cells[phys], wear[phys])
            stuck, failed = stuck + s, failed + f
            logical = where[phys]
            index = (np.arange(self.lengths[logical]) - int(self.policy.place.offset[phys])) % self.words
            out[logical] = (and_p[index], or_p[index])
        return out, stuck, failed
