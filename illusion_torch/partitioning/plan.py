"""What a mapping is — which slice of which layer lives on which chip — and the messages it implies.

Usage::

    from illusion_torch.partitioning.plan import Mapping, Piece, messages
    m = Mapping(chips=[[Piece("conv1", None, 0, 6, 156)], [Piece("conv2", None, 0, 6, 330)]], ...)
    msgs = messages(graph, m)           # every tensor slice sent between chips (and to/from the host)
    sum(x.bytes for x in msgs if x.between_chips)

Every solver returns a ``Mapping``; its bytes are always counted here, by one rule, so solvers compare
fairly. The rules (docs/paper.md, "Mapping onto chips"):
- A layer split by output units ("out") needs its whole input on every chip that holds a slice; each
  slice's outputs go where they are consumed.
- A layer split by input units ("in") needs only its input slice; its chips pass int32 partial sums along
  the chain of its slices (chip order); the last slice adds the bias and runs the weightless ops.
- An LSTM split by hidden units needs the whole h_{t−1} every step: each slice sends its h slice to every
  other chip of the LSTM each step but the last (c stays local).
- A tensor already on the consuming chip costs nothing; a slice is sent once to each chip that needs it.

``messages`` is the one definition of the bytes between chips. The others are counts of what actually runs,
checked against it: the work count of the rewritten programs (``cost.profile.Profile.inter_chip_bytes``:
tests/runtime/test_system.py, tests/e2e/test_pipeline_tiny.py) and the bytes the distributed ranks send
(``distributed.launch.expected_wire_bytes`` and the sends themselves: tests/distributed/).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..errors import IllusionError
from .slices import embedding_share_bytes
from .trace import HOST, Chip, Edge, OpGraph, Split

__all__ = ["Piece", "Mapping", "Message", "MessageKind", "Split", "messages", "inter_chip_bytes", "piece_bytes",
           "edge_bytes", "activation_bytes", "fill", "needs_of", "unplaced"]


@dataclass(frozen=True)
class Piece:
    """Units [start, stop) of ``layer`` split by ``split`` (None = the whole layer)."""

    layer: str
    split: Split | None
    start: int
    stop: int
    weight_bytes: int

    @property
    def units(self) -> int:
        return self.stop - self.start


class MessageKind(StrEnum):
    TENSOR = "tensor"                  # (a slice of) a tensor of the model
    PARTIAL_SUMS = "partial_sums"      # int32 partial sums along an input-split layer's chips
    LSTM_H = "lstm_h"                  # a split LSTM's h slice, exchanged every step but the last


@dataclass
class Message:
    """``bytes`` sent from ``src`` to ``dst`` (chip index or HOST), ``repeats`` times per inference."""

    src: Chip
    dst: Chip
    tensor: str
    bytes: int
    kind: MessageKind = MessageKind.TENSOR
    layer: str | None = None           # the split layer whose partial sums or h the message carries
    repeats: int = 1                   # an LSTM's h exchange: steps − 1

    @property
    def between_chips(self) -> bool:
        return self.src != HOST and self.dst != HOST

    @property
    def per(self) -> str:
        """"step" for an LSTM's h exchange (sent once per step), else "inference"."""
        return "step" if self.kind is MessageKind.LSTM_H else "inference"

    @property
    def total_bytes(self) -> int:
        """Bytes per inference."""
        return self.bytes * self.repeats


@dataclass
class Mapping:
    """Per chip, the pieces it stores; plus how the mapping was found."""

    chips: list[list[Piece]]
    capacity_bytes: list[int]
    solver: str
    optimal: bool | None = None
    gap: float | None = None
    solve_s: float = 0.0
    lower_bound: float | None = None
    method: str = ""                       # what was actually run (e.g. "bilp", "greedy+local-search")
    notes: list[str] = field(default_factory=list)

    @property
    def n_chips(self) -> int:
        return len(self.chips)

    def chip_weight_bytes(self) -> list[int]:
        return [sum(p.weight_bytes for p in pieces) for pieces in self.chips]

    def pieces_of(self, layer: str) -> list[tuple[int, Piece]]:
        """(chip, piece) of ``layer`` in chip order."""
        return [(c, p) for c, pieces in enumerate(self.chips) for p in pieces if p.layer == layer]


def unplaced(graph: OpGraph, mapping: Mapping) -> list[str]:
    """Layers of ``graph`` of which ``mapping`` places no piece (a whole mapping has none)."""
    placed = {p.layer for pieces in mapping.chips for p in pieces}
    return [ly.name for ly in graph.layers if ly.name not in placed]


def piece_bytes(graph: OpGraph, layer: str, split: str | None, start: int, stop: int, *, with_bias: bool) -> int:
    """Weight bytes of units [start, stop) of ``layer`` (bias: per unit for "out", once for "in")."""
    ly = graph.layer(layer)
    if split is None:
        return ly.weight_bytes
    units = ly.out_units if split == "out" else ly.in_units
    bias_per_unit = ly.bias_bytes / ly.out_units if split == "out" else 0.0
    body = (ly.weight_bytes - ly.bias_bytes) * (stop - start) / units + bias_per_unit * (stop - start)
    extra = ly.bias_bytes if (split == "in" and with_bias) else 0
    return int(round(body)) + extra


def fill(graph: OpGraph, layer: str, split: Split, free: int, chip: int, capacity_bytes: int,
         max_chips: int | None = None):
    """Units of ``layer`` split by ``split``, first-fit style: the rest of chip ``chip`` (``free`` bytes left),
    then whole chips, the remainder opening the next. Returns (placed [(chip, Piece)], last chip, bytes free
    on it), or None when that takes more than ``max_chips`` chips."""
    ly = graph.layer(layer)
    units = ly.out_units if split == "out" else ly.in_units
    unit = piece_bytes(graph, layer, split, 0, units, with_bias=False) / units
    placed, start = [], 0
    while start < units:
        stop = min(units, start + int(free // unit) + 1)
        while stop > start and piece_bytes(graph, layer, split, start, stop, with_bias=stop == units) > free:
            stop -= 1
        if stop == start:
            if free == capacity_bytes:
                one = piece_bytes(graph, layer, split, start, start + 1, with_bias=True)
                raise IllusionError(f"one unit of layer {layer} ({one} B) exceeds the chip capacity of "
                                 f"{capacity_bytes} B")
            chip, free = chip + 1, capacity_bytes
            if max_chips is not None and chip >= max_chips:
                return None
            continue
        b = piece_bytes(graph, layer, split, start, stop, with_bias=stop == units)
        placed.append((chip, Piece(layer, split, start, stop, b)))
        free -= b
        start = stop
    return placed, chip, free


def _locations(graph: OpGraph, mapping: Mapping, layer: str, whole: bool = False) -> list[tuple[int, float, float]]:
    """Where ``layer``'s emitted tensor lives: (chip, fraction start, fraction stop) in output-unit order."""
    if layer == HOST:
        return [(HOST, 0.0, 1.0)]  # type: ignore[list-item]
    pieces = mapping.pieces_of(layer)
    if not pieces:
        raise IllusionError(f"layer {layer} is on no chip")
    split = pieces[0][1].split
    ly = graph.layer(layer)
    if split == "out" and not whole and ly.kind != "embedding" and not ly.projection:
        n = graph.layer(layer).out_units
        return [(c, p.start / n, p.stop / n) for c, p in pieces]
    return [(pieces[-1][0], 0.0, 1.0)]          # whole layer, or reduced on its last chip


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _transfers(sources, needs):
    """(src, dst, share of the tensor) for every slice a consuming chip lacks."""
    for dst, d0, d1 in needs:
        for src, s0, s1 in sources:
            if src != dst:
                share = _overlap(s0, s1, d0, d1)
                if share > 0:
                    yield src, dst, share


def edge_bytes(sources, needs, tensor_bytes: int) -> int:
    """Bytes moved for one tensor: ``sources``/``needs`` are (chip, fraction start, fraction stop)."""
    return sum(int(round(tensor_bytes * share)) for _, _, share in _transfers(sources, needs))


def _needs(graph: OpGraph, mapping: Mapping, edge) -> list[list[tuple]]:
    if edge.dst == HOST:
        return [[(HOST, 0.0, 1.0)]]
    return needs_of(graph, edge, mapping.pieces_of(edge.dst))


def needs_of(graph: OpGraph, edge, pieces: list[tuple[int, Piece]]) -> list[list[tuple]]:
    """For each way ``edge.dst`` (placed as ``pieces``) uses the tensor: the (chip, fraction start, fraction
    stop) it needs there."""
    split = pieces[0][1].split
    out = []
    for use in edge.uses:
        if use == "layer" and split == "in":          # each input slice where it is multiplied
            n = graph.layer(edge.dst).in_units
            out.append([(c, p.start / n, p.stop / n) for c, p in pieces])
        elif use == "layer":                          # the whole input on every chip of the layer
            out.append([(c, 0.0, 1.0) for c, _ in pieces])
        elif use == "sliced" and split == "out":      # channel-wise op on each output slice, where it lies
            n = graph.layer(edge.dst).out_units
            out.append([(c, p.start / n, p.stop / n) for c, p in pieces])
        else:                                         # weightless op on the layer's last chip
            out.append([(pieces[-1][0], 0.0, 1.0)])
    return out


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def messages(graph: OpGraph, mapping: Mapping) -> list[Message]:
    """Every message one inference sends (LSTM h exchanges: one entry per step kind, ``per="step"``).

    A tensor goes once to each chip that needs it, however many of that chip's pieces use it (a residual
    block's input feeds both its first convolution and its shortcut)."""
    out: list[Message] = []
    wanted: dict[str, tuple[Edge, dict[Chip, list[tuple[float, float]]]]] = {}
    for edge in graph.edges:
        per_chip = wanted.setdefault(edge.tensor, (edge, {}))[1]
        for needs in _needs(graph, mapping, edge):
            for dst, d0, d1 in needs:
                per_chip.setdefault(dst, []).append((d0, d1))
    for tensor, (edge, per_chip) in wanted.items():
        sources = _locations(graph, mapping, edge.src, edge.src_whole)
        for dst, intervals in per_chip.items():
            union = _union(intervals)
            for src, s0, s1 in sources:
                share = sum(_overlap(s0, s1, a, b) for a, b in union) if src != dst else 0.0
                if share > 0:
                    out.append(Message(src, dst, tensor, int(round(edge.bytes * share))))
    for ly in graph.layers:
        pieces = mapping.pieces_of(ly.name)
        chips = [c for c, _ in pieces]
        if len(chips) < 2:
            continue
        split = pieces[0][1].split
        if ly.kind == "embedding":          # each chip's looked-up rows to the last (its expected share)
            for c, p in pieces[:-1]:
                if c != chips[-1]:
                    out.append(Message(c, chips[-1], f"{ly.name}:rows", embedding_share_bytes(
                        ly.out_numel * graph.partial_sum_bytes, p.units, ly.out_units), MessageKind.TENSOR, ly.name))
        elif split == "in":
            for a, b in zip(chips, chips[1:], strict=False):
                out.append(Message(a, b, f"{ly.name}:partial_sums", ly.out_numel * graph.partial_sum_bytes,
                                   MessageKind.PARTIAL_SUMS, ly.name))
        elif ly.recurrent and ly.projection:       # partial sums of h along the chips, then h to the others
            for a, b in zip(chips, chips[1:], strict=False):
                out.append(Message(a, b, f"{ly.name}:partial_sums", ly.state_bytes, MessageKind.PARTIAL_SUMS, ly.name,
                                   ly.steps))
            for d in chips[:-1]:
                out.append(Message(chips[-1], d, f"{ly.name}:h", ly.state_bytes, MessageKind.LSTM_H, ly.name,
                                   ly.steps - 1))
        elif ly.recurrent:
            h_bytes = ly.state_bytes / ly.out_units
            for c, p in pieces:
                for d in chips:
                    if d != c:
                        out.append(Message(c, d, f"{ly.name}:h", int(round(h_bytes * p.units)), MessageKind.LSTM_H,
                                           ly.name, ly.steps - 1))
    return out


def inter_chip_bytes(graph: OpGraph, mapping: Mapping) -> int:
    """Bytes between chips per inference (host I/O excluded; LSTM h exchanges × (steps − 1))."""
    return sum(m.total_bytes for m in messages(graph, mapping) if m.between_chips)


def activation_bytes(graph: OpGraph, mapping: Mapping) -> list[int]:
    """Per chip, the activation buffer (SRAM) one inference needs: every tensor slice it receives (host input
    included) plus what its pieces emit (an input slice that is not the last emits int32 partial sums). No
    reuse of buffers between layers is assumed, so this is an upper bound."""
    need = [0] * mapping.n_chips
    for m in messages(graph, mapping):
        if isinstance(m.dst, int):
            need[m.dst] += m.bytes
    for c, pieces in enumerate(mapping.chips):
        for p in pieces:
            ly = graph.layer(p.layer)
            if p.split == "out" and ly.kind != "embedding":
                need[c] += int(round(ly.out_bytes * p.units / ly.out_units))
            elif p.split == "in" and p.stop < ly.in_units:
                need[c] += ly.out_numel * graph.partial_sum_bytes
            else:
                need[c] += ly.out_bytes
    return need
