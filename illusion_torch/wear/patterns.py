"""One logical image's writes per word per inference, and the wear a histogram of its placements adds.

Usage::

    from illusion_torch.wear.patterns import Pattern
    p = Pattern(writes_per_word, words=2_048)       # the support (nonzero stretch) and its FFT, once
    p.add_to(wear, offsets, inferences)             # wear[w] += Σ_o inferences[o] · pattern[(w + o) mod M]
"""

from __future__ import annotations

import numpy as np
import scipy.fft

__all__ = ["Pattern"]


class Pattern:
    """One logical image's writes per word per inference on its support [start, start + size), with its
    spectrum at the convolution length for a chip of ``words`` words."""

    def __init__(self, pattern: np.ndarray, words: int) -> None:
        nz = np.flatnonzero(pattern)
        self.start = int(nz[0]) if len(nz) else 0
        self.size = int(nz[-1]) + 1 - self.start if len(nz) else 0
        self.peak = float(pattern.max()) if len(pattern) else 0.0
        self.words = words
        self.length = scipy.fft.next_fast_len(words + self.size - 1, real=True) if self.size else 0
        self.support = pattern[self.start:self.start + self.size]
        self.spectrum = scipy.fft.rfft(self.support, self.length) if self.size else None

    def add_to(self, wear: np.ndarray, offsets: np.ndarray, inferences: np.ndarray) -> None:
        """wear[p] += Σ_o inferences[o] · pattern[(p + o) mod M]: one shifted copy of the support per offset when
        there are few offsets (a short stay after a swap), else one FFT convolution."""
        if not self.size or not len(offsets):
            return
        if len(offsets) * self.size > 2 * self.length * np.log2(self.length):
            row = np.zeros(self.words)
            np.add.at(row, offsets, inferences)
            wear += self.correlate(row)
            return
        scaled = np.empty(self.size)                              # one scratch row: no allocation per copy
        for o, a in zip(offsets.tolist(), inferences.tolist(), strict=True):
            first = (self.start - o) % self.words                # where the support's first word lands
            head = min(self.size, self.words - first)
            np.multiply(self.support, a, out=scaled)
            part = wear[first:first + head]
            np.add(part, scaled[:head], out=part)
            part = wear[:self.size - head]
            np.add(part, scaled[head:], out=part)

    def correlate(self, hist: np.ndarray) -> np.ndarray:
        """wear[p] = Σ_o hist[o] · pattern[(p + o) mod M] for p in [0, M)."""
        if self.spectrum is None:
            return np.zeros(self.words)
        # wear[p] = Σ_j g[j] · h[(start + j − p) mod M] = Σ_j g[j] · r[p − j + size − 1],
        # with r[i] = h[(start + size − 1 − i) mod M]
        turned = np.roll(hist[::-1], self.start + self.size)           # turned[i] = h[(start + size − 1 − i) mod M]
        reversed_h = np.concatenate([turned, turned[:self.size - 1]])
        full = scipy.fft.irfft(self.spectrum * scipy.fft.rfft(reversed_h, self.length), self.length)
        return full[self.size - 1:self.size - 1 + self.words]
