"""Proven lower bounds on the bytes between chips of any mapping onto chips of one capacity.

Usage::

    from illusion_torch.partitioning.bounds import lower_bound
    bound = lower_bound(graph, capacity_bytes)       # ≤ the bytes of every mapping (plan.messages' count)

Two arguments, on disjoint sets of messages, so they add up:

- **Forced splits** (``forced_split_bound``): a layer larger than a chip spans k ≥ ⌈W/C⌉ chips, so it sends
  ≥ (k − 1) partial sums (split by inputs) or its input reaches ≥ k − 1 chips that lack it (split by outputs).
- **Windows that overflow a chip** (``window_bound``): take consecutive layers in topological order, each
  smaller than a chip, whose weights together exceed a chip and whose tensors between them connect them all.
  In any mapping they are not all whole on one chip, so either one of them is split — split by outputs, each
  of its chips needs its whole input, so at least one input tensor travels (≥ its bytes); split by inputs, ≥
  one output of partial sums travels — or two of them lie on different chips, and by connectivity some tensor
  between them travels whole. The window costs at least the least of those. Windows are taken greedily along
  the order so that no two of them, and no forced split, can count the same message: each owns the tensors
  its cost may count — those between its layers and its layers' inputs — and owned sets are disjoint (a
  tensor is one message per chip it reaches).
"""

from __future__ import annotations

import math

from .ops import Split, Use
from .trace import HOST, LayerKind, OpGraph

__all__ = ["lower_bound", "forced_split_bound", "window_bound"]


def lower_bound(graph: OpGraph, capacity_bytes: int) -> float:
    """Forced splits plus overflowing windows: a proven lower bound on bytes between chips."""
    return forced_split_bound(graph, capacity_bytes) + window_bound(graph, capacity_bytes)


def forced_split_bound(graph: OpGraph, capacity_bytes: int) -> float:
    """A proven lower bound on bytes between chips: every layer larger than a chip spans k ≥ ⌈W/C⌉ chips, so
    it sends ≥ (k − 1) partial sums (input split) or its input reaches ≥ k − 1 chips that lack it (output
    split). A tensor that feeds m such layers is received at least max over them of (k − 1)·T ≥ their mean,
    so each layer is charged (k − 1)·T / m for it."""
    spans = {ly.name: math.ceil(ly.weight_bytes / capacity_bytes) for ly in graph.layers}
    forced = [e for e in graph.edges if Use.LAYER in e.uses and e.src != HOST and spans.get(e.dst, 0) >= 2]
    feeds: dict[str, int] = {}                  # tensor -> forced-split layers that take it as their input
    for e in forced:
        feeds[e.tensor] = feeds.get(e.tensor, 0) + 1
    inputs: dict[str, float] = {}               # host input is not traffic between chips
    for e in forced:
        inputs[e.dst] = inputs.get(e.dst, 0.0) + e.bytes / feeds[e.tensor]
    total = 0.0
    for ly in graph.layers:
        k = spans[ly.name]
        if k < 2:
            continue
        options = [(k - 1) * inputs.get(ly.name, 0.0)] if Split.OUT in ly.splits else []
        if Split.IN in ly.splits:
            options.append((k - 1) * ly.out_numel * graph.partial_sum_bytes)
        if ly.recurrent:
            options = [float(ly.exchange_bytes(k))]
        total += min(options)
    return total


def window_bound(graph: OpGraph, capacity_bytes: int) -> float:
    """The sum over disjoint overflowing windows of each one's least cost (see the module)."""
    layers = graph.layers
    eligible = {ly.name for ly in layers if ly.weight_bytes <= capacity_bytes and not ly.recurrent
                and ly.kind != LayerKind.EMBEDDING and ly.weight_bytes > 0}
    edges = [e for e in graph.edges if e.src != HOST and e.dst != HOST and e.src != e.dst]
    into: dict[str, list] = {}
    for e in edges:
        into.setdefault(e.dst, []).append(e)
    used = {e.tensor for e in edges if e.dst not in eligible}    # what forced splits (and the rest) may count
    total, i = 0.0, 0
    while i < len(layers):
        j, weight, window = i, 0, []
        while j < len(layers) and layers[j].name in eligible and weight <= capacity_bytes:
            window.append(layers[j])
            weight += layers[j].weight_bytes
            j += 1
        if weight <= capacity_bytes:            # no overflowing window starts here
            i += 1
            continue
        cost = _window_cost(graph, window, into, used)
        if cost is None or cost <= 0:
            i += 1
            continue
        total += cost
        used |= _owned(window, {ly.name for ly in window}, into)
        i = j
    return total


def _owned(window, names: set, into: dict) -> set:
    """The tensors whose messages ``window``'s cost may count: those between its layers, and its layers' inputs
    (an output-split layer's chips each need theirs)."""
    return {e.tensor for ly in window for e in into.get(ly.name, ()) if e.src in names or Use.LAYER in e.uses}


def _window_cost(graph: OpGraph, window, into: dict, used: set) -> float | None:
    """The least bytes any mapping sends for ``window`` (None: it is not connected, or it would share a tensor
    with a window already counted)."""
    names = {ly.name for ly in window}
    if _owned(window, names, into) & used:
        return None
    parent = {n: n for n in names}

    def root(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    inner = [e for ly in window for e in into.get(ly.name, ()) if e.src in names]
    for e in inner:
        parent[root(e.src)] = root(e.dst)
    if len({root(n) for n in names}) > 1:
        return None
    options = [float(e.bytes) for e in inner]                          # a tensor between two of its chips
    for ly in window:
        if Split.OUT in ly.splits:                                     # each output slice needs the whole input
            inputs = [e.bytes for e in into.get(ly.name, ()) if Use.LAYER in e.uses]
            options.append(float(min(inputs)) if inputs else 0.0)
        if Split.IN in ly.splits:                                      # partial sums of its whole output
            options.append(float(ly.out_numel * graph.partial_sum_bytes))
    return min(options) if options else None
