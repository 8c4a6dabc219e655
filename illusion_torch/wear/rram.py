"""RRAM as 16-bit words of 1-bit cells that wear out: endurance per cell, stuck bits, write-verify, and the
4-word write-back SRAM buffer in front of it.

Usage::

    from illusion_torch.wear.rram import PAPER_ENDURANCE, RRAMArray, write_back
    mem = RRAMArray(2048, PAPER_ENDURANCE, seed=0)       # one chip's memory, cells drawn once, seeded
    failed = mem.write(17, 0xBEEF)                        # program a word; write-verify: bits that read back wrong
    mem.read(17)
    and_mask, or_mask, stuck = mem.masks(wear)            # stuck bits after ``wear`` writes per word
    rram_writes = write_back(trace, n_words=2048)         # what reaches the RRAM through the 4-word buffer

Model (docs/paper.md, "RRAM endurance"): every cell has its own endurance — the number of times it can be
programmed before it fails permanently — drawn from a log-normal distribution whose two parameters are
fitted to the measured stuck-bit growth of SVHN's activation region (5 of 1,040 bits after ~1e7 writes per
word, 57 after ~1e8; ``benchmarks/calibrate_endurance.py``). A failed cell is stuck at 1, or at 0 with
probability ``stuck_at_zero`` (2 % by default: "almost all stuck-at-1"). A write programs all 16 cells of
its word (write-verify programs every bit, changed or not), so a cell's wear is its word's write count; the
fit is made on writes per word, so this choice does not change the calibrated stuck-bit curve.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..errors import IllusionError

__all__ = ["Endurance", "PAPER_ENDURANCE", "RRAMArray", "write_back", "WORD_BITS", "fit_endurance"]

WORD_BITS = 16
ALL_ONES = (1 << WORD_BITS) - 1


def _norm_ppf(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


@dataclass(frozen=True)
class Endurance:
    """Log-normal cell endurance: ln(cycles to failure) ~ Normal(mu, sigma)."""

    mu: float
    sigma: float
    stuck_at_zero: float = 0.02

    def __post_init__(self) -> None:
        if not self.sigma > 0 or not 0 <= self.stuck_at_zero <= 1:
            raise IllusionError(f"endurance needs sigma > 0 and 0 ≤ stuck_at_zero ≤ 1, got sigma={self.sigma}, "
                             f"stuck_at_zero={self.stuck_at_zero}")

    def failed_fraction(self, writes: float) -> float:
        """Expected share of cells failed after ``writes`` programs."""
        if writes <= 0:
            return 0.0
        return 0.5 * math.erfc(-(math.log(writes) - self.mu) / (self.sigma * math.sqrt(2)))

    @property
    def median_cycles(self) -> float:
        return math.exp(self.mu)


def fit_endurance(points: list[tuple[float, int, int]], stuck_at_zero: float = 0.02) -> Endurance:
    """The log-normal through two measured points (writes per word, stuck bits, bits in the region)."""
    (w1, s1, n1), (w2, s2, n2) = points
    z1, z2 = _norm_ppf(s1 / n1), _norm_ppf(s2 / n2)
    sigma = (math.log(w2) - math.log(w1)) / (z2 - z1)
    return Endurance(math.log(w1) - sigma * z1, sigma, stuck_at_zero)


# docs/paper.md: SVHN's activation region (1,040 bits): 5 stuck bits after ~1e7 writes per word, 57 after ~1e8
PAPER_POINTS = [(1e7, 5, 1040), (1e8, 57, 1040)]
# = fit_endurance(PAPER_POINTS), printed and checked by benchmarks/calibrate_endurance.py
PAPER_ENDURANCE = Endurance(mu=22.14397, sigma=2.327164)


class RRAMArray:
    """One chip's RRAM: ``n_words`` words of 16 cells, each with a seeded endurance and stuck value.

    Only the cells that can fail are drawn: a chip of hundreds of thousands of words holds millions of cells,
    almost all of which outlive any horizon (at 1e7 writes per word 0.5 % have failed). Cells are drawn in
    tiers of endurance (0, 1], (1, 2], (2, 4], … cycles, each the moment some word's wear first reaches it:
    tier k holds each not yet drawn cell with the probability that its endurance lies in the tier given that
    it exceeds the last (a binomial count at uniformly chosen positions), with endurances from the log-normal
    restricted to the tier. Every cell thus has the same log-normal endurance as a dense draw, and tier k
    comes from its own seeded generator, so what a seed gives never depends on the order of queries.
    """

    def __init__(self, n_words: int, endurance: Endurance = PAPER_ENDURANCE, *, seed: int = 0) -> None:
        self.n_words = n_words
        self.model = endurance
        self.seed = seed
        self.cell = np.zeros(0, dtype=np.int64)          # word · 16 + bit of every drawn cell
        self.cycles = np.zeros(0)                        # its endurance (writes to failure)
        self.stuck_one = np.zeros(0, dtype=bool)         # failed at 1 (else at 0)
        self.tiers = 0                                   # tiers 0 … tiers − 1 are drawn
        self.wear = np.zeros(n_words)                    # writes per word made through ``write``
        self.data = np.zeros(n_words, dtype=np.int64)

    @classmethod
    def with_cells(cls, n_words: int, cells: dict[tuple[int, int], tuple[float, bool]]) -> RRAMArray:
        """An array whose only mortal cells are ``cells`` ({(word, bit): (endurance, stuck at 1)}); all others
        never fail — to check a known failure."""
        mem = cls(n_words)
        mem.tiers = TIERS
        keys = sorted(cells)
        mem.cell = np.array([w * WORD_BITS + b for w, b in keys], dtype=np.int64)
        mem.cycles = np.array([float(cells[k][0]) for k in keys])
        mem.stuck_one = np.array([bool(cells[k][1]) for k in keys], dtype=bool)
        return mem

    def cover(self, writes: float) -> None:
        """Draw every cell whose endurance is at most ``writes``."""
        while self.tiers < TIERS and (self.tiers == 0 or tier_top(self.tiers - 1) < writes):
            self._draw(self.tiers)
            self.tiers += 1

    def _draw(self, k: int) -> None:
        rng = np.random.default_rng([self.seed, k])
        lo, hi = (0.0 if k == 0 else tier_top(k - 1)), tier_top(k)
        p_lo = 0.0 if lo == 0 else self.model.failed_fraction(lo)
        p_hi = 1.0 if k == TIERS - 1 else self.model.failed_fraction(hi)
        total, drawn = self.n_words * WORD_BITS, len(self.cell)
        if p_hi <= p_lo or drawn == total:
            return
        count = int(rng.binomial(total - drawn, min(1.0, (p_hi - p_lo) / (1.0 - p_lo))))
        where = _new_positions(rng, total, self.cell, count)
        from scipy.special import ndtri  # the normal quantile

        z = ndtri(rng.uniform(p_lo, p_hi, count))
        cycles = np.clip(np.exp(self.model.mu + self.model.sigma * z), lo, None if k == TIERS - 1 else hi)
        self.cell = np.concatenate([self.cell, where])
        self.cycles = np.concatenate([self.cycles, cycles])
        self.stuck_one = np.concatenate([self.stuck_one, rng.random(count) >= self.model.stuck_at_zero])

    def failed(self, wear: np.ndarray) -> np.ndarray:
        """Which drawn cells have failed under ``wear`` writes per word (a mask over ``cell``)."""
        wear = np.asarray(wear, dtype=np.float64)
        if len(wear):
            self.cover(float(wear.max()))
        return self.cycles <= wear[self.cell // WORD_BITS]

    def failed_words(self, wear: np.ndarray) -> np.ndarray:
        """The words (sorted) with at least one failed cell."""
        hit = self.failed(wear)                          # may draw cells: before reading ``cell``
        return np.unique(self.cell[hit] // WORD_BITS)

    def masks(self, wear: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """(AND mask, OR mask, stuck bits) per word after ``wear`` writes per word (default: its own wear)."""
        wear = self.wear if wear is None else wear
        hit = self.failed(wear)
        words, bits = np.divmod(self.cell[hit], WORD_BITS)
        bit = np.left_shift(1, bits).astype(np.int64)
        and_m = np.full(self.n_words, ALL_ONES, dtype=np.int64)
        or_m = np.zeros(self.n_words, dtype=np.int64)
        one = self.stuck_one[hit]
        np.bitwise_or.at(or_m, words[one], bit[one])
        np.bitwise_and.at(and_m, words[~one], ALL_ONES & ~bit[~one])
        return and_m, or_m, int(hit.sum())

    def write(self, word: int, value: int) -> int:
        """Program ``value`` into ``word`` (wearing all its cells); write-verify: the bits that read back wrong."""
        self.wear[word] += 1
        one = np.zeros(self.n_words)
        one[word] = self.wear[word]
        and_mask, or_mask, _ = self.masks(one)
        self.data[word] = (value & ALL_ONES & int(and_mask[word])) | int(or_mask[word])
        return bin((value & ALL_ONES) ^ int(self.data[word])).count("1")

    def read(self, word: int) -> int:
        return int(self.data[word])


TIERS = 64                      # tier k ≤ 62 holds endurances in (2^(k−1), 2^k]; the last, everything above


def tier_top(k: int) -> float:
    return 1.0 if k == 0 else 2.0 ** k


def _new_positions(rng: np.random.Generator, total: int, taken: np.ndarray, count: int) -> np.ndarray:
    """``count`` distinct positions in [0, total) outside ``taken``, uniformly: draws with replacement, keeping
    the new distinct ones, until there are enough (symmetric in the free positions, so every subset of
    ``count`` of them is equally likely); once few are free, a choice among them."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    free = total - len(taken)
    if count > free // 4:
        rest = np.setdiff1d(np.arange(total, dtype=np.int64), taken, assume_unique=True)
        return rng.choice(rest, size=count, replace=False)
    seen = np.sort(taken)
    out: list[np.ndarray] = []
    need = count
    while need:
        cand = np.unique(rng.integers(0, total, need))
        cand = cand[~np.isin(cand, seen, assume_unique=True)]
        out.append(cand)
        seen = np.union1d(seen, cand)
        need -= len(cand)
    return np.concatenate(out)


def write_back(trace: np.ndarray, n_words: int, entries: int = 4, flush: str = "lru") -> np.ndarray:
    """RRAM writes per word for a sequence of word writes through a fully associative write-back SRAM buffer
    of ``entries`` words (a hit updates the buffered word; what is left is flushed at the end — the chip shuts
    down with its data in NVM). A miss on a full buffer: ``flush="lru"`` evicts the least recent dirty word to
    the RRAM; ``flush="whole"`` writes all of them back and empties it (the authors' experiment, docs/paper.md)."""
    if flush not in ("lru", "whole"):
        raise IllusionError(f"unknown write-back flush {flush!r}; use 'lru' or 'whole'")
    counts = np.zeros(n_words, dtype=np.int64)
    buf: OrderedDict[int, None] = OrderedDict()
    for w in trace.tolist():
        if w in buf:
            buf.move_to_end(w)
            continue
        if len(buf) >= entries:
            if flush == "whole":
                for old in buf:
                    counts[old] += 1
                buf.clear()
            else:
                old, _ = buf.popitem(last=False)
                counts[old] += 1
        buf[w] = None
    for w in buf:
        counts[w] += 1
    return counts
