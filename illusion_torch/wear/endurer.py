"""Where logical words live over time: wear-leveling policies for a system of chips with RRAM memories.

Usage::

    from illusion_torch.wear.endurer import policy
    p = policy("distributed-endurer", tau=0.6, eps=0.6, c=8e6)      # or "none", "endurer", "start-gap", ...
    p.reset(n_chips=8, words=2048, rng=np.random.default_rng(0))
    hist = OffsetHistogram(words=2048, chips=8); extra = np.zeros(8)
    p.step(writes, inferences, hist, extra)     # one remap period: writes per logical chip in it

A placement says, for each logical chip image, which physical chip holds it (``chip``) and, for each
physical chip, how far its memory is rotated (``offset``: logical word ``l`` sits at physical word
``(l − offset) mod M``, docs/paper.md). ``step`` adds the period's inferences to ``hist[physical chip, logical
chip, offset]`` under the placements it ran with, and to ``extra[physical chip]`` the writes per word the
remapping itself cost; wear then follows in closed form (``lifetime.py``).

Policies (docs/paper.md, "RRAM endurance and Distributed ENDURER"):
- ``none``: nothing moves.
- ``endurer``: every period each chip rotates its whole memory by a random shift (M writes).
- ``distributed-endurer``: ENDURER on every chip, plus per-physical-chip write counters; when the heaviest
  chip's count exceeds mean·(1 + EPS) + C, the heaviest and lightest chips swap their memory images (M
  writes each) and EPS += TAU^k for the k-th swap. Defaults TAU = EPS = 0.6, C = 8e6.
- ``distributed-endurer-golden``: ours — the same swaps, but each chip's shifts follow the golden-ratio
  sequence (offset_k = ⌊k·φ·M⌋ mod M) instead of random draws, and TAU = 0.05, EPS = 0.02, C = 0. Random
  shifts leave an O(√K) spread of wear between words after K periods; a low-discrepancy sequence covers
  the offsets evenly (O(log K)), and small EPS/TAU keep chips within a few percent of the mean.
- ``distributed-endurer-plus``: ours — golden-ratio shifts, TAU = 0.01, EPS = 0.005, C = 0, and 256 spare
  words per chip to which the controller redirects every word write-verify reports failed (acted on weekly).
- ``start-gap``: Qureshi et al., MICRO 2009, per chip: one spare line; every ψ = 100 writes the gap moves by
  one line (one extra write), so the mapping rotates by one line every (M + 1)·ψ writes. Modeled as a
  rotation whose offset advances continuously with the chip's writes (the gap's one-line displacement is
  neglected).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import IllusionError

__all__ = ["Policy", "policy", "POLICIES", "Placement", "OffsetHistogram"]

GOLDEN = (math.sqrt(5) - 1) / 2


class OffsetHistogram:
    """Inferences run per (physical chip, logical chip image, rotation offset) since each chip's wear was last
    read (``take``).

    A dense (chips × chips × words) array grows as chips², which at hundreds of chips with large activation
    buffers is hundreds of GiB, and policies that swap often put many images on a chip over the years. So
    ``add`` keeps a log — per call, which image each physical chip held at which offset, and for how many
    inferences — and ``take`` gathers a chip's entries since it was last read. A policy that spreads a
    period over several offsets (Start-Gap) writes rows of offsets instead (``row``)."""

    def __init__(self, words: int, chips: int) -> None:
        self.words, self.chips = words, chips
        # per call (a column): the image on each physical chip (−1 none) and its offset; a chip's calls are a
        # row, read in one piece
        self.logical = np.zeros((chips, 0), dtype=np.int64)
        self.offset = np.zeros((chips, 0), dtype=np.int64)
        self.amount = np.zeros(0)
        self.logged = 0
        self.since = np.zeros(chips, dtype=np.int64)              # each chip's first entry not yet taken
        self.rows: dict[tuple[int, int], np.ndarray] = {}
        # each chip's stays: the entry at which it began to hold an image, and the image (swaps are few)
        self.stay_start: list[list[int]] = [[] for _ in range(chips)]
        self.stay_image: list[list[int]] = [[] for _ in range(chips)]

    def add(self, physical: np.ndarray, logical: np.ndarray, offset: np.ndarray, amount: float) -> None:
        """``amount`` inferences for each (physical[i], logical[i]) pair at offset[i]."""
        if self.logged == len(self.amount):                      # grow by half again
            grow = max(64, self.logged // 2)
            self.logical = np.concatenate([self.logical, np.full((self.chips, grow), -1, dtype=np.int64)], axis=1)
            self.offset = np.concatenate([self.offset, np.zeros((self.chips, grow), dtype=np.int64)], axis=1)
            self.amount = np.concatenate([self.amount, np.zeros(grow)])
        k = self.logged
        self.logical[physical, k] = logical
        self.offset[physical, k] = offset
        self.amount[k] = amount
        changed = np.flatnonzero(self.logical[:, k] != self.logical[:, k - 1]) if k else np.arange(self.chips)
        for p in changed.tolist():
            self.stay_start[p].append(k)
            self.stay_image[p].append(int(self.logical[p, k]))
        self.logged += 1

    def row(self, physical: int, logical: int) -> np.ndarray:
        """A writable dense row of offsets for one pair (for policies that spread a period over offsets)."""
        key = (int(physical), int(logical))
        if key not in self.rows:
            self.rows[key] = np.zeros(self.words)
        return self.rows[key]

    def held(self, physical: int, first: int, last: int) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Per logical image ``physical`` held in log entries [first, last): (image, entry indices in order,
        offsets, inferences)."""
        starts = np.asarray(self.stay_start[physical], dtype=np.int64)
        images = np.asarray(self.stay_image[physical], dtype=np.int64)
        ends = np.append(starts[1:], self.logged)
        i0 = max(0, int(np.searchsorted(starts, first, side="right")) - 1)
        i1 = int(np.searchsorted(starts, last, side="left"))
        lo, hi, img = np.maximum(starts[i0:i1], first), np.minimum(ends[i0:i1], last), images[i0:i1]
        keep = (lo < hi) & (img >= 0)
        lo, hi, img = lo[keep], hi[keep], img[keep]
        order = np.argsort(img, kind="stable")                    # stays of one image together, in time order
        lo, hi, img = lo[order], hi[order], img[order]
        length = hi - lo
        idx = np.arange(int(length.sum())) + np.repeat(lo - (np.cumsum(length) - length), length)
        out = []
        groups, first_stay = np.unique(img, return_index=True)
        bounds = np.append(np.cumsum(length)[first_stay] - length[first_stay], len(idx))
        for k, lg in enumerate(groups.tolist()):
            part = idx[bounds[k]:bounds[k + 1]]
            out.append((lg, part, self.offset[physical, part], self.amount[part]))
        return out

    def take(self, physical: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Per logical image held since ``physical`` was last read: its distinct offsets and the inferences at
        each; the chip's entries restart empty."""
        out = []
        for lg, _, offset, amount in self.held(physical, int(self.since[physical]), self.logged):
            uniq, inverse = np.unique(offset, return_inverse=True)
            out.append((lg, uniq, np.bincount(inverse, weights=amount)))
        for key in [k for k in self.rows if k[0] == physical]:
            dense = self.rows.pop(key)
            nz = np.flatnonzero(dense)
            out.append((key[1], nz, dense[nz]))
        self.since[physical] = self.logged
        return out


@dataclass
class Placement:
    chip: np.ndarray            # physical chip of each logical chip image
    offset: np.ndarray          # rotation of each physical chip's memory


class Policy:
    name = "none"
    spares = 0                  # spare words per chip for failed words (only distributed-endurer-plus has any)
    dense_offsets = False       # records periods as dense rows of offsets (``OffsetHistogram.row``)
    given: dict[str, float] = {}    # the parameters it was made with (``policy`` records them)

    def __init__(self, **params: float) -> None:
        if params:
            raise IllusionError(f"policy {self.name!r} takes no parameters, got {', '.join(params)}")

    def reset(self, n_chips: int, words: int, rng: np.random.Generator) -> None:
        self.n, self.words, self.rng = n_chips, words, rng
        self.place = Placement(np.arange(n_chips), np.zeros(n_chips, dtype=np.int64))
        self.swaps = 0

    def step(self, writes: np.ndarray, inferences: float, hist: OffsetHistogram, extra: np.ndarray) -> None:
        """Run one period of ``inferences`` with ``writes`` per logical chip; record it in ``hist``/``extra``."""
        self._record(self.place, inferences, hist)

    def _record(self, place: Placement, inferences: float, hist: OffsetHistogram) -> None:
        logical = np.arange(self.n)
        physical = place.chip
        hist.add(physical, logical, place.offset[physical], inferences)


class Endurer(Policy):
    name = "endurer"

    def _shift(self, k: int) -> np.ndarray:
        return self.rng.integers(0, self.words, self.n)

    def reset(self, n_chips: int, words: int, rng: np.random.Generator) -> None:
        super().reset(n_chips, words, rng)
        self.periods = 0

    def step(self, writes: np.ndarray, inferences: float, hist: OffsetHistogram, extra: np.ndarray) -> None:
        self._record(self.place, inferences, hist)
        self.periods += 1
        self._between_periods(writes, extra)
        self.place.offset = self._choose((self.place.offset + self._shift(self.periods)) % self.words)
        extra += 1.0                                          # moving the data rewrites every word once

    def _between_periods(self, writes: np.ndarray, extra: np.ndarray) -> None:
        """Decisions taken at the end of a period, before the rotation (Distributed ENDURER's swaps)."""

    def _choose(self, proposed: np.ndarray) -> np.ndarray:
        return proposed


class DistributedEndurer(Endurer):
    name = "distributed-endurer"
    defaults = {"tau": 0.6, "eps": 0.6, "c": 8e6}

    def __init__(self, **params: float) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise IllusionError(f"unknown {self.name} parameter(s) {', '.join(sorted(unknown))}; valid: "
                             f"{', '.join(self.defaults)}")
        values = {k: v for k, v in {**self.defaults, **params}.items() if k in ("tau", "eps", "c")}
        if not all(math.isfinite(v) for v in values.values()) or not 0 <= values["tau"] < 1 or \
                values["eps"] < 0 or values["c"] < 0:
            raise IllusionError(f"{self.name} needs 0 ≤ tau < 1, eps ≥ 0 and c ≥ 0, got {values}")
        self.tau, self.eps0, self.c = values["tau"], values["eps"], values["c"]

    def reset(self, n_chips: int, words: int, rng: np.random.Generator) -> None:
        super().reset(n_chips, words, rng)
        self.eps = self.eps0
        self.counter = np.zeros(n_chips)        # writes per physical chip so far

    def _between_periods(self, writes: np.ndarray, extra: np.ndarray) -> None:
        per_physical = np.zeros(self.n)
        per_physical[self.place.chip] = writes
        self.counter += per_physical + self.words
        heavy, light = int(np.argmax(self.counter)), int(np.argmin(self.counter))
        if heavy != light and self.counter[heavy] > self.counter.mean() * (1 + self.eps) + self.c:
            a, b = int(np.where(self.place.chip == heavy)[0][0]), int(np.where(self.place.chip == light)[0][0])
            self.place.chip[a], self.place.chip[b] = light, heavy
            extra[[heavy, light]] += 1.0
            self.counter[[heavy, light]] += self.words
            self.swaps += 1
            self.eps += self.tau ** self.swaps


class GoldenDistributedEndurer(DistributedEndurer):
    name = "distributed-endurer-golden"
    defaults = {"tau": 0.05, "eps": 0.02, "c": 0.0}

    def _shift(self, k: int) -> np.ndarray:
        # offsets k·φ·M (mod M), with a per-chip phase so chips do not move in lockstep
        phase = np.arange(self.n) * GOLDEN / self.n
        now = np.floor(((k * GOLDEN + phase) % 1.0) * self.words).astype(np.int64)
        before = np.floor((((k - 1) * GOLDEN + phase) % 1.0) * self.words).astype(np.int64)
        return (now - before) % self.words


class PlusEndurer(GoldenDistributedEndurer):
    """Golden-ratio Distributed ENDURER with spare words for the cells write-verify reports (ours).

    Write-verify finds every stuck cell when it is written; each chip keeps ``spares`` spare words outside
    the rotation, and the controller redirects a reported failed word to the next free spare (the remapping
    of failed lines of Schechter et al., ISCA 2010, "ECP"). Rotation keeps wear level; the spares catch the
    few cells that fail anyway (log-normal endurance has a long low tail), which rotation alone cannot help:
    the number of failures depends on the total writes, not on where they land."""

    name = "distributed-endurer-plus"
    defaults = {"tau": 0.01, "eps": 0.005, "c": 0.0, "spares": 256}

    def __init__(self, **params: float) -> None:
        spares = params.pop("spares", self.defaults["spares"])
        if not math.isfinite(spares) or spares < 0 or int(spares) != spares:
            raise IllusionError(f"{self.name} needs a whole number of spares ≥ 0, got {spares}")
        super().__init__(**params)
        self.spares = int(spares)


class StartGap(Policy):
    name = "start-gap"
    dense_offsets = True

    def __init__(self, psi: float = 100, **params: float) -> None:
        if params:
            raise IllusionError(f"unknown start-gap parameter(s) {', '.join(params)}; valid: psi")
        if not math.isfinite(psi) or psi < 1:
            raise IllusionError(f"start-gap needs psi ≥ 1 (writes per gap move), got {psi}")
        self.psi = psi

    def reset(self, n_chips: int, words: int, rng: np.random.Generator) -> None:
        super().reset(n_chips, words, rng)
        self.position = np.zeros(n_chips)       # fractional rotation of each chip

    def step(self, writes: np.ndarray, inferences: float, hist: OffsetHistogram, extra: np.ndarray) -> None:
        per_physical = np.zeros(self.n)
        per_physical[self.place.chip] = writes
        advance = per_physical / (self.psi * (self.words + 1))
        for c in range(self.n):                       # logical chip c stays on physical chip c
            start, end = self.position[c], self.position[c] + advance[c]
            if advance[c] <= 0:
                hist.row(c, c)[int(start) % self.words] += inferences
                continue
            first, last = math.floor(start), math.ceil(end)
            offsets = np.arange(first, last)
            lo = np.maximum(offsets, start)
            hi = np.minimum(offsets + 1, end)
            np.add.at(hist.row(c, c), offsets % self.words, inferences * (hi - lo) / advance[c])
        self.position += advance
        self.place.offset = np.floor(self.position).astype(np.int64) % self.words
        extra += per_physical / self.psi / self.words             # one line copy per gap move


POLICIES: dict[str, type[Policy]] = {p.name: p for p in (Policy, Endurer, DistributedEndurer,
                                                          GoldenDistributedEndurer, PlusEndurer, StartGap)}


def policy(name: str, **params: float) -> Policy:
    """The policy called ``name`` with its parameters (a bad name or parameter: one clear error)."""
    try:
        cls = POLICIES[name]
    except KeyError:
        raise IllusionError(f"unknown resilience policy {name!r}; valid: {', '.join(POLICIES)}") from None
    made = cls(**params)
    made.given = dict(params)
    return made
