"""Spare words: write-verify reports a failed word and the controller redirects it to a spare.

Usage::

    from illusion_torch.wear.spares import Spares
    spares = Spares(256, PAPER_ENDURANCE, seed=0)
    spares.report(cells, wear)                          # act on what write-verify has reported
    and_m, or_m, stuck, failed = spares.masks(cells, wear)
"""

from __future__ import annotations

import numpy as np

from .rram import WORD_BITS, Endurance, RRAMArray

__all__ = ["Spares"]


class Spares:
    """A chip's spare words: write-verify reports a failed word (or a failed spare) and the controller
    redirects it to the next free spare, which from then on takes that word's writes."""

    def __init__(self, count: int, endurance: Endurance, seed: int) -> None:
        self.count = count
        self.cells = RRAMArray(max(count, 1), endurance, seed=seed)
        self.of: dict[int, tuple[int, float]] = {}          # word -> (spare, the word's wear when assigned)
        self.used = 0

    def report(self, cells: RRAMArray, wear: np.ndarray) -> None:
        for w in cells.failed_words(wear).tolist():
            if w in self.of:
                i, at = self.of[w]
                if not self.spare_failed(i, wear[w] - at):
                    continue
            if self.used < self.count:
                self.of[w] = (self.used, float(wear[w]))
                self.used += 1

    def spare_failed(self, spare: int, writes: float) -> bool:
        """Whether a cell of ``spare`` has failed after ``writes`` writes to it."""
        one = np.zeros(self.cells.n_words)
        one[spare] = writes
        return spare in self.cells.failed_words(one)

    def masks(self, cells: RRAMArray, wear: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
        """The chip's AND/OR masks with redirected words read from their spares, the stuck bits in effect,
        and every failed cell (spares included)."""
        and_m, or_m, failed = cells.masks(wear)
        if not self.of:
            return and_m, or_m, failed, failed
        spare_wear = np.zeros(self.cells.n_words)
        for w, (i, at) in self.of.items():
            spare_wear[i] = wear[w] - at
        s_and, s_or, spare_failed = self.cells.masks(spare_wear)
        hit = cells.failed(wear)
        failed_per_word = np.bincount(cells.cell[hit] // WORD_BITS, minlength=cells.n_words)
        stuck = failed + spare_failed
        for w, (i, _) in self.of.items():
            stuck -= int(failed_per_word[w])
            and_m[w], or_m[w] = s_and[i], s_or[i]
        return and_m, or_m, stuck, failed + spare_failed
