"""Module-order filling without communication awareness (what ``accelerate.infer_auto_device_map`` does).

Usage::

    from illusion_torch.mapping.sequential import sequential
    mapping = sequential(graph, capacity_bytes=4096)

Layers in order go to the current chip while they fit; a layer that does not fit opens a new chip; a layer
larger than a whole chip is cut by output units into chip-sized pieces. No input splits, no look-ahead.
"""

from __future__ import annotations

import time

from ..graph import OpGraph
from .plan import Mapping, Piece, fill

__all__ = ["sequential"]


def sequential(graph: OpGraph, capacity_bytes: int) -> Mapping:
    started = time.perf_counter()
    chips: list[list[Piece]] = [[]]
    free = capacity_bytes
    for ly in graph.layers:
        if ly.weight_bytes > free and chips[-1]:
            chips.append([])
            free = capacity_bytes
        if ly.weight_bytes <= free:
            chips[-1].append(Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes))
            free -= ly.weight_bytes
            continue
        placed, last, free = fill(graph, ly.name, "out", free, len(chips) - 1, capacity_bytes)
        chips.extend([] for _ in range(last + 1 - len(chips)))
        for c, p in placed:
            chips[c].append(p)
    return Mapping(chips, [capacity_bytes] * len(chips), "sequential", method="sequential",
                   solve_s=time.perf_counter() - started)
