"""The paper's scale-up simulator's greedy mapper ("first fit"), exactly as PAPER.md states it.

Usage::

    from illusion_torch.mapping.first_fit import first_fit
    mapping = first_fit(graph, capacity_bytes=512)

Layers in topological order fill the current chip. A layer that does not fit in what is left is split —
by output channels if out ≥ in channels, else by input channels (partial sums) — into as many whole
units as fill the rest of the current chip, then whole chips, the remainder starting the next chip.
A new chip opens only when the current one cannot take a single further unit. A fully connected layer
fed by a flattened (C, H, W) map has C input channels, as in the simulator, which treats it as a
convolution: with that, the paper's AlexNet chip counts at every capacity are reproduced exactly.
"""

from __future__ import annotations

import time

from ..graph import OpGraph
from .plan import Mapping, Piece, fill

__all__ = ["first_fit"]


def first_fit(graph: OpGraph, capacity_bytes: int) -> Mapping:
    started = time.perf_counter()
    chips: list[list[Piece]] = [[]]
    free = capacity_bytes
    for ly in graph.layers:
        if ly.weight_bytes <= free:
            chips[-1].append(Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes))
            free -= ly.weight_bytes
            continue
        split = "out" if (ly.out_units >= (ly.in_channels or ly.in_units) or "in" not in ly.splits) else "in"
        placed, last, free = fill(graph, ly.name, split, free, len(chips) - 1, capacity_bytes)
        chips.extend([] for _ in range(last + 1 - len(chips)))
        for c, p in placed:
            chips[c].append(p)
    chips = [pieces for pieces in chips if pieces]
    return Mapping(chips, [capacity_bytes] * len(chips), "first-fit", method="first-fit",
                   solve_s=time.perf_counter() - started)
