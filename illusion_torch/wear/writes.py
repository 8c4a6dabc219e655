"""What one inference writes into each chip's RRAM: which buffers live there, and writes per word.

Usage::

    from illusion_torch.wear.writes import nvm_layout, write_pattern
    layout = nvm_layout(runtime)                       # per chip: RRAM-resident buffer -> byte address
    patterns = write_pattern(runtime, result.runs, layout)   # per chip: writes per 16-bit word per inference

A chip's RRAM holds its weight image followed by the activation buffers that must outlive a shutdown;
working activations stay in SRAM. One inference's writes to those buffers, in program order
(``Profile.events``), pass through the 4-word write-back SRAM buffer (``rram.write_back``).
"""

from __future__ import annotations

import operator

import numpy as np

from ..cost.profile import Branch, StoreKind
from ..partitioning.trace import HOST
from ..runtime import Runtime
from ..units import ceil_div
from .rram import write_back

__all__ = ["nvm_layout", "write_pattern", "WORD_BYTES"]

WORD_BYTES = 2


def nvm_layout(runtime: Runtime, every: bool = False) -> list[dict[str, int]]:
    """Per chip, the activation buffers that live in RRAM and their byte addresses (after the weights);
    ``every``: every activation buffer and inbox (no SRAM at all), for the sensitivity of the wear results.

    A chip keeps its working activations in SRAM while it is on (docs/paper.md: activations sit in a separate
    SRAM); what must outlive a shutdown is written to RRAM: messages from other chips (relayed through the
    controller's FIFO, waiting for the receiver to use them) and values a chip keeps from one of its
    wake-ups to a later one (the LSTM's h and c between steps). The host's input stream goes to SRAM.
    """
    programs, prof = runtime.programs, runtime.profile
    by_name = {n.name: n for n in programs.expanded.graph.nodes}

    def used_in_a_later_wake(name: str) -> bool:
        node, chip, wake = by_name[name], programs.chip_of.get(name), programs.wake_of.get(name)
        # an LSTM slice returns (h, c): its values are used through the tuple's getitems
        users = [v for u in node.users for v in (u.users if u.target is operator.getitem else [u])]
        return any(programs.chip_of.get(u.name) == chip and programs.wake_of.get(u.name, wake) != wake
                   for u in users)

    out = []
    for img in runtime.images:
        address = WORD_BYTES * ceil_div(img.nvm_bytes, WORD_BYTES)
        layout = {}
        for s in prof.stores:
            if s.chip != img.chip:
                continue
            if every:
                keep = s.kind in (StoreKind.INBOX, StoreKind.ACTIVATION)
            elif s.kind is StoreKind.INBOX:
                keep = programs.chip_of.get(s.nodes[0]) != HOST
            else:
                keep = any(used_in_a_later_wake(name) for name in s.nodes)
            if keep:
                layout[s.name] = address
                address += WORD_BYTES * ceil_div(s.numel * s.bytes_per_value, WORD_BYTES)
        out.append(layout)
    return out


def write_pattern(runtime: Runtime, runs: dict[Branch, int], layout: list[dict[str, int]], *,
                  write_back_on: bool = True) -> list[np.ndarray]:
    """Per chip, RRAM writes per 16-bit word per inference: weights first (written only by remaps), then the
    RRAM-resident buffers of ``layout``, through the 4-word write-back SRAM buffer (``write_back_on``; else
    every write reaches the RRAM)."""
    prof = runtime.profile
    total = sum(runs.values())
    out = []
    for img, where in zip(runtime.images, layout, strict=True):
        buffers = [s for s in prof.stores if s.chip == img.chip and s.name in where]
        words = ceil_div(img.nvm_bytes, WORD_BYTES) + sum(ceil_div(s.numel * s.bytes_per_value, WORD_BYTES)
                                                          for s in buffers)
        pattern = np.zeros(words)
        for route, n in runs.items():
            trace = []
            for _, _, i in prof.events:
                s = prof.stores[i]
                if s.chip != img.chip or s.name not in where or (s.branch is not None and s.branch != route):
                    continue
                trace.append((where[s.name] + np.arange(s.numel * s.bytes_per_value)) // WORD_BYTES)
            if trace:
                words_written = np.concatenate(trace)
                pattern += (n / total) * (write_back(words_written, words) if write_back_on
                                          else np.bincount(words_written, minlength=words))
        out.append(pattern)
    return out
