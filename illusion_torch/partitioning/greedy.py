"""The two greedy mappers, one loop: layers in order fill chips; a layer too big for the rest is split.

Usage::

    from illusion_torch.partitioning.greedy import first_fit, sequential
    first_fit(graph, 512)       # the paper's scale-up simulator's rule
    sequential(graph, 4096)     # module order, what ``accelerate.infer_auto_device_map`` does

first-fit (docs/paper.md): a layer that does not fit in what is left is split — by output channels if out ≥ in
channels, else by input channels (partial sums) — into as many whole units as fill the rest of the current
chip, then whole chips, the remainder starting the next chip. A fully connected layer fed by a flattened
(C, H, W) map has C input channels, as in the simulator, which treats it as a convolution: with that, the
paper's AlexNet chip counts at every capacity are reproduced exactly.

sequential: no communication awareness — a layer that does not fit opens a new chip; one larger than a whole
chip is cut by output units into chip-sized pieces; never an input split.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .plan import Mapping, Piece, fill
from .trace import Layer, OpGraph, Split

__all__ = ["first_fit", "sequential"]


def _paper_split(ly: Layer) -> Split:
    return Split.OUT if (ly.out_units >= (ly.in_channels or ly.in_units) or Split.IN not in ly.splits) else Split.IN


def _greedy(graph: OpGraph, capacity_bytes: int, name: str, *, new_chip_per_layer: bool,
            split_of: Callable[[Layer], Split]) -> Mapping:
    started = time.perf_counter()
    chips: list[list[Piece]] = [[]]
    free = capacity_bytes
    for ly in graph.layers:
        if new_chip_per_layer and ly.weight_bytes > free and chips[-1]:
            chips.append([])
            free = capacity_bytes
        if ly.weight_bytes <= free:
            chips[-1].append(Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes))
            free -= ly.weight_bytes
            continue
        placed, last, free = fill(graph, ly.name, split_of(ly), free, len(chips) - 1, capacity_bytes)
        chips.extend([] for _ in range(last + 1 - len(chips)))
        for c, p in placed:
            chips[c].append(p)
    chips = [pieces for pieces in chips if pieces]
    return Mapping(chips, [capacity_bytes] * len(chips), name, method=name, solve_s=time.perf_counter() - started)


def first_fit(graph: OpGraph, capacity_bytes: int) -> Mapping:
    return _greedy(graph, capacity_bytes, "first-fit", new_chip_per_layer=False, split_of=_paper_split)


def sequential(graph: OpGraph, capacity_bytes: int) -> Mapping:
    return _greedy(graph, capacity_bytes, "sequential", new_chip_per_layer=True, split_of=lambda ly: Split.OUT)
