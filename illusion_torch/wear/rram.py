"""RRAM as 16-bit words of 1-bit cells that wear out: endurance per cell, stuck bits, write-verify, and the
4-word write-back SRAM buffer in front of it.

Usage::

    from illusion_torch.wear.rram import PAPER_ENDURANCE, RRAMArray, write_back
    mem = RRAMArray(2048, PAPER_ENDURANCE, seed=0)       # one chip's memory, cells drawn once, seeded
    failed = mem.write(17, 0xBEEF)                        # program a word; write-verify: bits that read back wrong
    mem.read(17)
    and_mask, or_mask, stuck = mem.masks(wear)            # stuck bits after ``wear`` writes per word
    rram_writes = write_back(trace, n_words=2048)         # what reaches the RRAM through the 4-word buffer

Model (PAPER.md, "RRAM endurance"): every cell has its own endurance — the number of times it can be
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

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.exp(rng.normal(self.mu, self.sigma, n))

    @property
    def median_cycles(self) -> float:
        return math.exp(self.mu)


def fit_endurance(points: list[tuple[float, int, int]], stuck_at_zero: float = 0.02) -> Endurance:
    """The log-normal through two measured points (writes per word, stuck bits, bits in the region)."""
    (w1, s1, n1), (w2, s2, n2) = points
    z1, z2 = _norm_ppf(s1 / n1), _norm_ppf(s2 / n2)
    sigma = (math.log(w2) - math.log(w1)) / (z2 - z1)
    return Endurance(math.log(w1) - sigma * z1, sigma, stuck_at_zero)


# PAPER.md: SVHN's activation region (1,040 bits): 5 stuck bits after ~1e7 writes per word, 57 after ~1e8
PAPER_POINTS = [(1e7, 5, 1040), (1e8, 57, 1040)]
# = fit_endurance(PAPER_POINTS), printed and checked by benchmarks/calibrate_endurance.py
PAPER_ENDURANCE = Endurance(mu=22.14397, sigma=2.327164)


class RRAMArray:
    """One chip's RRAM: ``n_words`` words of 16 cells, each with a seeded endurance and stuck value."""

    def __init__(self, n_words: int, endurance: Endurance = PAPER_ENDURANCE, *, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n_words = n_words
        # float32: a cell's endurance to 7 digits (its spread is a factor of ten per σ) at half the memory —
        # hundreds of chips with large activation buffers hold billions of cells
        self.endurance = endurance.sample(n_words * WORD_BITS, rng).astype(np.float32).reshape(n_words, WORD_BITS)
        self.stuck_value = rng.random((n_words, WORD_BITS)) >= endurance.stuck_at_zero     # True: stuck at 1
        self.wear = np.zeros(n_words, dtype=np.float64)
        self.data = np.zeros(n_words, dtype=np.int64)

    def masks(self, wear: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """(AND mask, OR mask, stuck bits) per word after ``wear`` writes per word (default: its own wear)."""
        wear = self.wear if wear is None else wear
        return _masks(self.endurance <= wear[:, None], self.stuck_value)

    def write(self, word: int, value: int) -> int:
        """Program ``value`` into ``word`` (wearing all its cells); write-verify: the bits that read back wrong."""
        self.wear[word] += 1
        and_mask, or_mask, _ = _masks(self.endurance[word:word + 1] <= self.wear[word],
                                      self.stuck_value[word:word + 1])
        self.data[word] = (value & ALL_ONES & int(and_mask[0])) | int(or_mask[0])
        return bin((value & ALL_ONES) ^ int(self.data[word])).count("1")

    def read(self, word: int) -> int:
        return int(self.data[word])


def _masks(failed: np.ndarray, stuck_value: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per word (rows of ``failed``, 16 cells each): AND mask, OR mask and the number of failed cells."""
    weights = 1 << np.arange(WORD_BITS, dtype=np.int64)
    stuck1 = (failed & stuck_value) @ weights
    stuck0 = (failed & ~stuck_value) @ weights
    return (ALL_ONES & ~stuck0).astype(np.int64), stuck1.astype(np.int64), int(failed.sum())


def write_back(trace: np.ndarray, n_words: int, entries: int = 4) -> np.ndarray:
    """RRAM writes per word for a sequence of word writes through a fully associative write-back SRAM buffer
    of ``entries`` words (LRU; a hit updates the buffered word, a miss evicts the least recent dirty word
    to the RRAM; what is left is flushed at the end — the chip shuts down with its data in NVM)."""
    counts = np.zeros(n_words, dtype=np.int64)
    buf: OrderedDict[int, None] = OrderedDict()
    for w in trace.tolist():
        if w in buf:
            buf.move_to_end(w)
            continue
        if len(buf) >= entries:
            old, _ = buf.popitem(last=False)
            counts[old] += 1
        buf[w] = None
    for w in buf:
        counts[w] += 1
    return counts
