"""Proven lower bounds on the bytes between chips of any mapping onto chips of one capacity.

Usage::

    from illusion_torch.partitioning.bounds import lower_bound
    bound = lower_bound(graph, capacity_bytes)       # ≤ the bytes of every mapping (plan.messages' count)
    cut_bound(graph, capacity_bytes)                 # the strongest of them, for mappings in layer order

The bound is the larger of two: the chip cuts along the layer order (``cut_bound``, the stronger at scale; it
holds for mappings that keep the layers' order, as every mapper here does) and, for any mapping, two local
arguments on disjoint sets of messages, so they add up:

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

import numpy as np

from .ops import Split, Use
from .trace import HOST, LayerKind, OpGraph

__all__ = ["lower_bound", "forced_split_bound", "window_bound", "cut_bound"]


def lower_bound(graph: OpGraph, capacity_bytes: int) -> float:
    """A proven lower bound on bytes between chips: the larger of forced splits plus overflowing windows, and
    the chip cuts along the layer order (``cut_bound``)."""
    return max(forced_split_bound(graph, capacity_bytes) + window_bound(graph, capacity_bytes),
               cut_bound(graph, capacity_bytes))


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


SITES_PER_CHIP = 128         # a layer's span on the weight axis is cut into sites of ≤ 1/128 of a chip


def _unit_costs(graph: OpGraph, layers) -> list[float]:
    """Per layer: the least bytes one more piece of it costs — one more chip that needs its whole input (split
    by outputs; tensors from the host are free), one more message of int32 partial sums (split by inputs), one
    more chip in an LSTM's h exchange — or inf where it cannot be split."""
    names = {ly.name for ly in layers}
    inputs: dict[str, dict[str, int]] = {}
    for e in graph.edges:
        if Use.LAYER in e.uses and e.src != HOST and e.dst in names:
            inputs.setdefault(e.dst, {})[e.tensor] = e.bytes
    units = []
    for ly in layers:
        per_piece = []
        if Split.OUT in ly.splits:
            per_piece.append(float(sum(inputs.get(ly.name, {}).values())))
        if Split.IN in ly.splits:
            per_piece.append(float(ly.out_numel * graph.partial_sum_bytes))
        if ly.recurrent:
            per_piece = [float(ly.exchange_bytes(2))] if ly.splits else []
        units.append(min(per_piece) if per_piece else math.inf)
    return units


def cut_bound(graph: OpGraph, capacity_bytes: int) -> float:
    """The least bytes of any placement of chip boundaries along the layers' order — the order every mapper
    here keeps (``bilp``: a layer's last chip is no later than the next one's first chip) — a proven lower
    bound for such mappings, by a shortest path over where the boundaries can fall.

    Lay the layers' weights end to end on one axis. With the chips in order, each chip holds one stretch of the
    axis of ≤ C bytes, so the boundaries between chips are points ≤ C apart, each either between two layers or
    inside one (the layer split over both chips). A boundary inside layer i costs one more piece of i
    (``_unit_costs``). A tensor made by layer a and used last by layer b costs its bytes once when a boundary
    lies between a and b, or inside a layer between them that does not use it: its producer's chips then lie
    before that boundary and a consumer's after. These count disjoint messages: a tensor used by m layers in
    chain order reaches ≥ Σ pieces − (m − 1) chips, all but one lacking it, and one more when such a boundary
    separates a consumer from the producer's chip. The shortest path charges a tensor at the first boundary of
    its stretch only when the boundary before lies before the stretch (never twice). Each layer's span is cut
    into sites of ≤ C / ``SITES_PER_CHIP`` and a boundary may sit anywhere in its site, which only relaxes the
    spacing; pieces are rounded to whole bytes (``plan.piece_bytes``), so the spacing is also relaxed by half
    a byte per piece. A tied LM head (``tied.store_once``) runs on its table's chips, out of order, and is left
    out: leaving out a consumer only lowers the bound."""
    layers = [ly for ly in graph.layers if not ly.tied]
    n = len(layers)
    if n < 2 or graph.weight_bytes <= capacity_bytes:
        return 0.0
    index = {ly.name: i for i, ly in enumerate(layers)}
    units = _unit_costs(graph, layers)
    spans: dict[str, list] = {}                        # tensor -> [producer, last consumer, bytes, consumers]
    for e in graph.edges:
        if e.src in index and e.dst in index and index[e.dst] > index[e.src]:
            t = spans.setdefault(e.tensor, [index[e.src], index[e.dst], float(e.bytes), set()])
            t[1] = max(t[1], index[e.dst])
            t[3].add(index[e.dst])
    tensors = list(spans.values())
    size = np.array([t[2] for t in tensors])
    # the sites, in axis order: boundary j (before layer j, j = 1 … n−1), then the pieces of layer j's span
    edges_at = np.concatenate([[0.0], np.cumsum([float(ly.weight_bytes) for ly in layers])])
    lo, hi, layer_of, cost, member = [], [], [], [], []
    step = capacity_bytes / SITES_PER_CHIP
    for j in range(n):
        if j > 0:
            lo.append(edges_at[j])
            hi.append(edges_at[j])
            layer_of.append(j)
            cost.append(0.0)
            member.append(np.array([t[0] < j <= t[1] for t in tensors], bool))
        w = edges_at[j + 1] - edges_at[j]
        if w > 0 and math.isfinite(units[j]):
            inside = np.array([t[0] < j < t[1] and j not in t[3] for t in tensors], bool)
            parts = max(1, math.ceil(w / step))
            for k in range(parts):
                lo.append(edges_at[j] + w * k / parts)
                hi.append(edges_at[j] + w * (k + 1) / parts)
                layer_of.append(j)
                cost.append(units[j])
                member.append(inside)
    # index 0 is the start of the axis; sites are 1 … S; the first site of each tensor's stretch
    lo_a = np.array([0.0, *lo])
    hi_a = np.array([0.0, *hi])
    at = np.array([0, *layer_of])
    matrix = np.array(member, bool).reshape(len(member), len(tensors))
    first = np.where(matrix.any(axis=0), 1 + matrix.argmax(axis=0), 0)     # 0: never charged
    best = np.full(len(lo_a), np.inf)
    best[0] = 0.0
    widest = capacity_bytes + 0.5 * (n + 2)             # the slack of any pair of sites: a superset window
    for x in range(1, len(lo_a)):
        y0 = int(np.searchsorted(hi_a[:x], lo_a[x] - widest, side="left"))      # hi_a never decreases
        far = lo_a[x] - hi_a[y0:x] > capacity_bytes + 0.5 * (at[x] - at[y0:x] + 2)
        if far.all():
            continue
        mem = member[x - 1]
        charge = np.zeros(x - y0)
        if mem.any():                                  # Σ tensors whose stretch starts after y, for y in y0 … x−1
            counts = np.bincount(np.clip(first[mem] - y0, 0, None), size[mem], minlength=x - y0 + 1)
            charge = np.cumsum(counts[::-1])[::-1][1:x - y0 + 1]
        value = best[y0:x] + charge
        value[far] = np.inf
        best[x] = cost[x - 1] + value.min()
    total = edges_at[-1]
    end = total - hi_a <= capacity_bytes + 0.5 * (n - at + 2)
    result = best[end].min() if end.any() else 0.0
    return float(result) if math.isfinite(result) else 0.0
