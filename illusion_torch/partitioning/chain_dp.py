"""The large-graph mapper: a label-setting dynamic program over layers in topological order.

Usage::

    from illusion_torch.partitioning.chain_dp import chain_dp
    mapping = chain_dp(graph, capacity_bytes=2**20, max_chips=61, keep=8)

Chips fill in order, as in first-fit, but at every layer the program tries each choice — keep filling the
current chip or open a new one; place the layer whole, or split it by output or by input units across the
rest of the current chip, whole chips and the start of the next — and prices it exactly with the same
message rules as ``plan.messages`` (each label remembers where the tensors still awaited by later layers
live). Per (layer, chips used) it keeps the cheapest label of each free-space bucket (1/64 of a chip), the
``keep`` cheapest of those, and the one with the most free bytes — diversity in free space is what lets a
densely packed layout find cheap cut points.
First-fit is one path of this program, so the result is never worse than first-fit's when that path
survives pruning; ``mapping.solve`` also compares with first-fit and keeps the better.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import IllusionError
from .plan import Mapping, Piece, edge_bytes, fill, needs_of, piece_bytes
from .trace import HOST, OpGraph

__all__ = ["chain_dp", "OutOfTime"]


@dataclass(frozen=True)
class _Label:
    chips: int                                      # chips opened so far (the last one is open)
    free: int                                       # bytes free on the open chip
    cost: float
    where: tuple                                    # ((layer, split, ((chip, f0, f1), ...)), ...) still needed
    parent: _Label | None
    pieces: tuple                                   # ((chip, Piece), ...) placed by this step


class OutOfTime(IllusionError):
    """The chain program did not finish before its deadline."""


def chain_dp(graph: OpGraph, capacity_bytes: int, max_chips: int, *, keep: int = 8,
             deadline: float | None = None) -> Mapping:
    """The program of the module docstring; ``deadline`` (a ``time.perf_counter()`` value) stops it with
    ``OutOfTime``."""
    started = time.perf_counter()
    cap = capacity_bytes
    consumers: dict[str, list[str]] = {}
    for e in graph.edges:
        consumers.setdefault(e.src, []).append(e.dst)
    order = {ly.name: i for i, ly in enumerate(graph.layers)}
    edges_in = {ly.name: [e for e in graph.edges if e.dst == ly.name and e.src not in (HOST, ly.name)]
                for ly in graph.layers}

    labels: dict[int, list[_Label]] = {1: [_Label(1, cap, 0.0, (), None, ())]}
    for i, ly in enumerate(graph.layers):
        if deadline is not None and time.perf_counter() > deadline:
            raise OutOfTime(f"the chain program reached layer {i} of {len(graph.layers)} before its time limit")
        nxt: dict[int, list[_Label]] = {}
        for group in labels.values():
            for lab in group:
                for placed, chips, free in _choices(graph, ly, lab, cap, max_chips):
                    cost = lab.cost + _layer_cost(graph, ly, placed, lab.where, edges_in[ly.name])
                    where = tuple(w for w in lab.where
                                  if any(d != HOST and order[d] > i for d in consumers.get(w[0], ())))
                    if any(d != HOST and order[d] > i for d in consumers.get(ly.name, ())):
                        where += ((ly.name, _split_of(placed), _spread(graph, ly, placed)),)
                    nxt.setdefault(chips, []).append(_Label(chips, free, cost, where, lab, tuple(placed)))
        labels = {c: _prune(group, keep, cap) for c, group in nxt.items()}
        if not labels:
            raise IllusionError(f"no mapping with at most {max_chips} chips of {cap} B reaches layer {ly.name}")
    best = min((lab for group in labels.values() for lab in group), key=lambda lab: lab.cost)
    on_chip: dict[int, list[Piece]] = {}
    step: _Label | None = best
    while step is not None:
        for c, p in step.pieces:
            on_chip.setdefault(c, []).insert(0, p)
        step = step.parent
    ordered = [on_chip[c] for c in sorted(on_chip)]
    return Mapping(ordered, [cap] * len(ordered), "bilp", optimal=False, solve_s=time.perf_counter() - started,
                   method=f"chain dynamic program (keep {keep} labels)")


def _prune(group: list[_Label], keep: int, cap: int) -> list[_Label]:
    """The cheapest label per free-space bucket (1/64 of a chip), then the ``keep`` cheapest of those."""
    group.sort(key=lambda lab: lab.cost)
    best: dict[int, _Label] = {}
    for lab in group:
        best.setdefault(lab.free * 64 // cap, lab)
    kept = sorted(best.values(), key=lambda lab: lab.cost)[:keep]
    roomy = max(group, key=lambda lab: (lab.free, -lab.cost))
    if roomy not in kept:
        kept.append(roomy)
    return kept


def _choices(graph: OpGraph, ly, lab: _Label, cap: int, max_chips: int):
    if ly.weight_bytes <= lab.free:
        yield [(lab.chips - 1, Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes))], lab.chips, \
            lab.free - ly.weight_bytes
    if ly.weight_bytes <= cap and lab.chips < max_chips and lab.free < cap:
        yield [(lab.chips, Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes))], lab.chips + 1, \
            cap - ly.weight_bytes
    if ly.weight_bytes > lab.free:
        for split in ly.splits:
            if piece_bytes(graph, ly.name, split, 0, 1, with_bias=True) > cap:
                continue                    # one unit of this split is larger than a chip: not an option
            for fresh in (False, True):
                if fresh and (lab.free == cap or lab.chips >= max_chips):
                    continue
                start_chips, start_free = (lab.chips + 1, cap) if fresh else (lab.chips, lab.free)
                filled = fill(graph, ly.name, split, start_free, start_chips - 1, cap, max_chips)
                if filled is None:
                    continue
                placed, last, free = filled
                chips = last + 1
                if len(placed) == 1:
                    c, p = placed[0]
                    placed = [(c, Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes))]
                yield placed, chips, free


def _split_of(placed) -> str | None:
    return placed[0][1].split


def _spread(graph: OpGraph, ly, placed) -> tuple:
    """Where the layer's emitted tensor lives: (chip, fraction start, fraction stop)."""
    split = _split_of(placed)
    if split == "out" and ly.kind != "embedding":      # an embedding's row slices are summed on its last chip
        return tuple((c, p.start / ly.out_units, p.stop / ly.out_units) for c, p in placed)
    return ((placed[-1][0], 0.0, 1.0),)


def _layer_cost(graph: OpGraph, ly, placed, where: tuple, edges_in) -> float:
    split = _split_of(placed)
    spread = {w[0]: w[2] for w in where}
    cost = 0.0
    for e in edges_in:
        for needs in needs_of(graph, e, placed):
            cost += edge_bytes(spread[e.src], needs, e.bytes)
    k = len(placed)
    if k > 1 and split == "in":
        cost += (k - 1) * ly.out_numel * graph.partial_sum_bytes
    if k > 1 and ly.kind == "embedding":    # the looked-up rows, but the last chip's share (even pieces)
        cost += ly.out_numel * graph.partial_sum_bytes * (k - 1) / k
    if k > 1 and ly.recurrent:
        cost += ly.exchange_bytes(k)
    return cost
