"""Write-verify's weekly reports, acted on without reading whole memories: spare words at hundreds of chips.

Usage (inside ``FastForward``; a policy with spares)::

    reports = SpareReports(ff)          # ff: the FastForward whose policy has spare words
    reports.act()                       # every REPORT_PERIODS: redirect the words whose cells newly failed
    reports.refresh(wear)               # after a full read of every chip's wear

A report acts only on words with a newly failed cell (a word already on a healthy spare is left alone; a
word whose spare failed gets the next one; with the spares used up nothing changes). Reading every chip's
wear every week to find them costs a full correlation per chip per week; instead each chip keeps a watch
list of the cells that can fail (its drawn cells not yet failed, and the cells of the spares in use), each
with its word's wear as last known and when. An upper bound on what a word can have taken since rules most
cells out: per block of about 128 words, the sum over the periods of the held image's most writes per word
over the 3 blocks the block's words can land in (``block_count``; one batched FFT over the blocks for all
chips each week), plus the remap writes. The few cells left are brought up to date exactly — one term per
period from the placement log — and the report acts on those that failed. Cells above the drawn tiers
are drawn before any word can reach them. The reports are the same as reading every chip every week
(``FastForward.report_by_reading``, kept as the reference and checked against in the tests).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.fft

from .endurer import OffsetHistogram
from .patterns import Pattern
from .rram import WORD_BITS, RRAMArray, tier_top
from .spares import Spares

__all__ = ["SpareReports", "REMAP_WRITES_PER_PERIOD", "WearLog"]

REMAP_WRITES_PER_PERIOD = 2.0   # the Distributed ENDURER family rewrites a word ≤ twice a period: its rotation
                                # and a swap (a period writes a word at most ``step`` = rate · busiest + this)
AHEAD_PERIODS = 546             # draw the cells 13 weeks of the busiest writes can reach
CHUNK = 1 << 22                 # (cells × periods) terms summed at once
WORDS_PER_BLOCK = 128           # block bounds: finer is tighter, coarser is cheaper (one FFT over the blocks)
READ_TERMS = 5_000_000          # more terms than this: read the chip's whole wear instead (about as long)


class WearLog(Protocol):
    """What the reports read of the fast-forward they serve (``fastforward.FastForward``): its chips, their
    images' write patterns and placements since the last read, their cells and spares."""

    n: int
    words: int
    patterns: list[Pattern]
    peak: np.ndarray
    periods: int
    hist: OffsetHistogram
    cells: list[RRAMArray]
    spares: list[Spares]
    assigned: list[dict[int, int]]
    extra_at: np.ndarray

    def _read(self, chip: int) -> np.ndarray: ...


def block_count(words: int) -> int:
    """Blocks for a memory of ``words``: about one per 128 words, a count whose FFT is fast. Block j holds words
    [⌈jM/B⌉, ⌈(j+1)M/B⌉) — 123 or 124 words each at M = 443,239 in B = 3,600 blocks — so word w is in block
    ⌊wB/M⌋ and an offset o moves it by ⌊oB/M⌋ blocks, give or take two: the bound is a circular correlation
    over B for any B ≤ M."""
    return min(words, scipy.fft.next_fast_len(-(-words // WORDS_PER_BLOCK), real=True))


class SpareReports:
    """Write-verify's reports for every chip of a fast-forward with spare words (see the module).

    The watch list of all chips is one set of arrays (a cell per entry): its chip, word, the wear at which it
    fails, its word's wear as last known, the period then, and its block's bound then (nan: not known)."""

    def __init__(self, ff: WearLog) -> None:
        self.ff = ff
        self.step = float(ff.peak.max()) + REMAP_WRITES_PER_PERIOD
        self.blocks = block_count(ff.words)
        self.spectra = np.stack([self._block_spectrum(p) for p in ff.patterns])
        self.bound = np.zeros((ff.n, self.blocks))      # cumulative bound per block, up to ``bound_period``
        self.bound_period = 0
        # every image's support after one 0 (``values``): image lg's word (w + o) mod M, at offset o, is values[
        # image_base[lg] + min((w + o − image_start[lg]) mod M, image_size[lg])] — index base + size: the 0 after it
        sizes = np.array([p.size for p in ff.patterns], dtype=np.int64)
        self.values = np.concatenate([[0.0]] + [np.append(p.support, 0.0) for p in ff.patterns])
        self.image_base = np.append(1 + np.cumsum(sizes + 1) - (sizes + 1), 0)   # last: no image (−1) → the 0
        self.image_size = np.append(sizes, 0)
        self.image_start = np.append([p.start for p in ff.patterns], 0).astype(np.int64)
        # the watch list: one entry per cell, in arrays with room to grow (``size`` used); ``key`` decides at
        # a glance: the cell can have failed once bound[chip, block] + extra ≥ key (−inf: check it; inf: gone)
        self.size, self.dead = 0, 0
        self.chip = np.zeros(0, dtype=np.int64)
        self.word = np.zeros(0, dtype=np.int64)
        self.flat = np.zeros(0, dtype=np.int64)           # chip · blocks + block: where its bound is
        self.threshold = np.zeros(0)
        self.known = np.zeros(0)
        self.known_at = np.zeros(0, dtype=np.int64)
        self.key = np.zeros(0)
        self.wake = np.zeros(0, dtype=np.int64)           # not due before this period (0: check at the next report)
        self.live = np.array([s.count > 0 for s in ff.spares])   # spares left: a report can change something
        self.top = np.zeros(ff.n)                       # drawn endurance covered by each chip's watch
        self.drawn = np.zeros(ff.n, dtype=np.int64)     # cells of each chip already watched
        self.spare_drawn: list[dict[int, int]] = [{} for _ in range(ff.n)]   # spare -> its cells watched
        self.peak_known = np.zeros(ff.n)                # each chip's busiest word at the last full read
        self.peak_at = np.zeros(ff.n, dtype=np.int64)
        for c in np.flatnonzero(self.live).tolist():
            self._extend(c, AHEAD_PERIODS * self.step)

    # -- the watch list ------------------------------------------------------------------------------
    _FIELDS = ("chip", "word", "flat", "threshold", "known", "known_at", "key", "wake")

    def _add(self, chip: int, word: np.ndarray, threshold: np.ndarray, known: float, known_at: int,
             bound_at: float = np.nan) -> None:
        """Watch cells of ``chip``: their words' wear was ``known`` at ``known_at``, their blocks' bound then
        ``bound_at`` (nan: not known — they are checked at the next report)."""
        n = len(word)
        if self.size + n > len(self.chip):                        # grow by half again
            room = max(1024, self.size + n, len(self.chip) * 3 // 2)
            for name in self._FIELDS:
                old = getattr(self, name)
                grown = np.zeros(room, dtype=old.dtype)
                grown[:self.size] = old[:self.size]
                setattr(self, name, grown)
        sl = slice(self.size, self.size + n)
        self.chip[sl], self.word[sl] = chip, word
        self.flat[sl] = chip * self.blocks + self.block_of(np.asarray(word, dtype=np.int64))
        self.threshold[sl], self.known[sl], self.known_at[sl] = threshold, known, known_at
        self.size += n
        self._set_key(np.arange(sl.start, sl.stop), np.full(n, bound_at))

    def _set_key(self, idx: np.ndarray, bound_at: np.ndarray) -> None:
        key = self.threshold[idx] - self.known[idx] + bound_at + self.ff.extra_at[self.known_at[idx], self.chip[idx]]
        self.key[idx] = np.where(np.isnan(key), -np.inf, key)
        self.wake[idx] = 0

    def _compact(self) -> None:
        """Drop the entries no longer watched."""
        keep = np.flatnonzero(self.key[:self.size] != np.inf)
        for name in self._FIELDS:
            arr = getattr(self, name)
            arr[:len(keep)] = arr[keep]
        self.size, self.dead = len(keep), 0

    def _extend(self, chip: int, top: float) -> None:
        """Draw the chip's cells (and its spares' in use) up to ``top`` writes and watch the new ones."""
        cells, spares = self.ff.cells[chip], self.ff.spares[chip]
        cells.cover(top)
        spares.cells.cover(top)
        new = slice(int(self.drawn[chip]), len(cells.cell))
        self._add(chip, cells.cell[new] // WORD_BITS, cells.cycles[new], 0.0, 0, 0.0)   # no wear at period 0
        self.drawn[chip] = len(cells.cell)
        for w, (i, at) in spares.of.items():
            self._watch_spare(chip, w, i, at, self.ff.assigned[chip][w])
        self.top[chip] = tier_top(cells.tiers - 1)

    def _watch_spare(self, chip: int, word: int, spare: int, at: float, since: int,
                     bound_at: float = np.nan) -> None:
        """Watch the cells of ``spare`` (taking ``word``'s writes from wear ``at``, period ``since``) not yet
        watched: it fails when the word's wear reaches ``at`` + a cell's endurance."""
        cells = self.ff.spares[chip].cells
        mine = np.flatnonzero(cells.cell // WORD_BITS == spare)
        fresh = mine[self.spare_drawn[chip].get(spare, 0):]
        if len(fresh):
            self._add(chip, np.full(len(fresh), word), at + cells.cycles[fresh], at, since, bound_at)
        self.spare_drawn[chip][spare] = len(mine)

    def refresh(self, wear: np.ndarray) -> None:
        """After a full read (``wear``: chips × words now): every watched word's wear is known now."""
        self._bring_bounds()
        self._compact()
        idx = np.arange(self.size)
        self.known[idx], self.known_at[idx] = wear[self.chip[idx], self.word[idx]], self.ff.periods
        self._set_key(idx, self.bound.ravel()[self.flat[idx]])
        self.peak_known, self.peak_at = wear.max(1), np.full(self.ff.n, self.ff.periods, dtype=np.int64)

    # -- block bounds ----------------------------------------------------------------------------------
    def block_of(self, words: np.ndarray) -> np.ndarray:
        """The block of each word (or the blocks an offset moves by, give or take two)."""
        return words * self.blocks // self.ff.words

    def _block_spectrum(self, pattern: Pattern) -> np.ndarray:
        """Spectrum of E[j]: the image's most writes per word over blocks j, j + 1, j + 2 (mod B), the most a
        word of block b can take in a period at offset o (j = b + ⌊oB/M⌋ mod B)."""
        words = self.ff.words
        full = np.zeros(words)
        full[pattern.start:pattern.start + pattern.size] = pattern.support
        starts = (np.arange(self.blocks) * words + self.blocks - 1) // self.blocks
        per_block = np.maximum.reduceat(full, starts)
        return scipy.fft.rfft(np.max([np.roll(per_block, -i) for i in range(3)], axis=0))

    def _bring_bounds(self) -> None:
        """Add the periods since the bounds were last brought up to date, every chip at once: per (chip, image)
        pair the inferences at each coarse offset, correlated with the image's E over the blocks (FFT)."""
        hist, now, first = self.ff.hist, self.ff.periods, self.bound_period
        if now == first:
            return
        logical = hist.logical[:, first:now].T                         # periods × chips
        held = logical >= 0
        chips = np.broadcast_to(np.arange(self.ff.n), logical.shape)[held]
        key = chips * len(self.ff.patterns) + logical[held]
        pairs, pair = np.unique(key, return_inverse=True)
        coarse = self.block_of(hist.offset[:, first:now].T[held])
        amount = np.broadcast_to(hist.amount[first:now, None], logical.shape)[held]
        counts = np.bincount(pair * self.blocks + coarse, weights=amount, minlength=len(pairs) * self.blocks)
        spec = np.conj(scipy.fft.rfft(counts.reshape(len(pairs), self.blocks), axis=1, workers=-1))
        spec *= self.spectra[pairs % len(self.ff.patterns)]
        pair_chip = pairs // len(self.ff.patterns)                    # sorted: pairs sorted by chip first
        present, start = np.unique(pair_chip, return_index=True)
        add = scipy.fft.irfft(np.add.reduceat(spec, start, axis=0), self.blocks, axis=1, workers=-1)
        self.bound[present] += np.maximum(add, 0.0) * (1 + 1e-9) + 1e-6   # rounding never lowers a bound
        self.bound_period = now

    # -- the weekly report -----------------------------------------------------------------------------
    def act(self) -> None:
        """This week's report: redirect every word with a newly failed cell (or spare) to the next spare."""
        ff, now = self.ff, self.ff.periods
        if not self.live.any():
            return
        grow = np.flatnonzero(self.live & (self.peak_known + (now - self.peak_at) * self.step >= self.top))
        for c in grow.tolist():                                   # words may reach cells not drawn yet
            self._extend(c, self.peak_known[c] + (now - self.peak_at[c] + AHEAD_PERIODS) * self.step)
        self._bring_bounds()
        due = self._due(now)
        if not len(due):
            return
        order = due[np.argsort(self.chip[due], kind="stable")]
        chips, cut = np.unique(self.chip[order], return_index=True)
        for c, idx in zip(chips.tolist(), np.split(order, cut[1:]), strict=True):
            if not self.live[c]:
                continue
            if int((now - self.known_at[idx]).sum()) > READ_TERMS:    # cheaper to read the whole chip
                wear = ff._read(c)
                idx = np.flatnonzero((self.chip[:self.size] == c) & (self.key[:self.size] != np.inf))
                exact = wear[self.word[idx]]
                self.peak_known[c], self.peak_at[c] = wear.max(), now
            else:
                exact = self._wear_at(c, self.word[idx], self.known[idx], self.known_at[idx], now)
            self.known[idx], self.known_at[idx] = exact, now
            self._set_key(idx, self.bound.ravel()[self.flat[idx]])
            fired = exact >= self.threshold[idx]
            if not fired.any():
                continue
            self.key[idx[fired]] = np.inf                             # failed: no longer watched
            self.dead += int(fired.sum())
            words, first = np.unique(self.word[idx[fired]], return_index=True)
            self._redirect(c, words.tolist(), exact[fired][first].tolist(), now)
            if not self.live[c]:                                      # its spares ran out: nothing to watch
                gone = np.flatnonzero(self.chip[:self.size] == c)
                self.dead += int((self.key[gone] != np.inf).sum())
                self.key[gone] = np.inf
        if self.dead > self.size // 2:
            self._compact()

    def _due(self, now: int) -> np.ndarray:
        """The entries whose bound has reached their key. The others sleep: a bound grows by at most ``step`` a
        period (the busiest image's busiest word, plus the remap writes), so one with ``slack`` left is not due
        for slack ÷ step periods (a thousandth less: the bounds' rounding margins)."""
        cand = np.flatnonzero(self.wake[:self.size] <= now)
        slack = self.key[cand] - self.bound.ravel()[self.flat[cand]] - self.ff.extra_at[now][self.chip[cand]]
        due = slack <= 0
        asleep = np.minimum(slack[~due] / (self.step * 1.001), 1e15)
        self.wake[cand[~due]] = now + np.floor(asleep).astype(np.int64)
        return cand[due]

    def _redirect(self, chip: int, words: list[int], wear: list[float], now: int) -> None:
        spares = self.ff.spares[chip]
        for w, at in zip(words, wear, strict=True):        # in word order, as write-verify reports them
            if w in spares.of:
                i, was = spares.of[w]
                if not spares.spare_failed(i, at - was):
                    continue
            if spares.used >= spares.count:
                break
            spares.of[w] = (spares.used, at)
            self.ff.assigned[chip][w] = now
            self._watch_spare(chip, w, spares.used, at, now, float(self.bound[chip, self.block_of(np.array(w))]))
            spares.used += 1
        if spares.used >= spares.count:
            self.live[chip] = False                     # spares used up: no report can change anything

    def _wear_at(self, chip: int, words: np.ndarray, known: np.ndarray, since: np.ndarray, now: int) -> np.ndarray:
        """Exact wear now of ``words`` of ``chip``, from their wear ``known`` at periods ``since``: one term per
        period from the placement log (image held, offset), plus the remap writes since."""
        hist, ff = self.ff.hist, self.ff
        out = known + ff.extra_at[now, chip] - ff.extra_at[since, chip]
        first = int(since.min())
        image = hist.logical[chip, first:now]                     # −1 (none) picks the last entries
        # w + o − start lies in (−M, 2M): 32-bit indices where they fit (half the memory traffic)
        index: type[np.signedinteger] = np.int32 if max(2 * ff.words, len(self.values)) < 2**31 else np.int64
        at = (hist.offset[chip, first:now] - self.image_start[image]).astype(index)
        size, base = self.image_size[image].astype(index), self.image_base[image].astype(index)
        n = hist.amount[first:now]
        order = np.argsort(since, kind="stable")
        starts, cut = np.unique(since[order], return_index=True)
        for start, mine in zip(starts.tolist(), np.split(order, cut[1:]), strict=True):   # same period known
            k = start - first
            if k >= len(n):
                continue
            rows = max(1, CHUNK // (len(n) - k))
            for lo in range(0, len(mine), rows):
                sel = mine[lo:lo + rows]
                q = np.add(words[sel, None].astype(index), at[None, k:])   # (w + o) − start, mod M
                np.remainder(q, ff.words, out=q)
                np.minimum(q, size[None, k:], out=q)
                np.add(q, base[None, k:], out=q)
                out[sel] += self.values[q] @ n[k:]
        return out
