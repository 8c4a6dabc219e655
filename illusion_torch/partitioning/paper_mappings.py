"""The paper's own mappings of its test-chip workloads, as the hardware ran them (``solver="paper"``).

Usage::

    from illusion_torch.partitioning.paper_mappings import paper_mapping, PAPER_MAPPINGS
    mapping = paper_mapping(graph, capacity_bytes=4096, chips=8)     # D2NN on the measured 8-chip system
    sorted(PAPER_MAPPINGS)        # [("d2nn", 4), ("d2nn", 8), ("kws", 8), ("mnist", 4), ("mnist", 8), ("svhn", 8)]

docs/paper.md ("Mapping onto chips") describes six mappings in full; each is written here as which units of
which layer sit on which chip, in the paper's chip numbering. Where the description leaves a split open, the
choice is stated beside it. Our message rules (``plan.messages``) then count their bytes, so they compare with
our mappers' on one rule: the paper's own byte counts differ where its hardware relayed a tensor through a chip
(D2NN's c1 forwards N1's output to c3; here c0 sends it) or sent a layer's input before a weightless op (D2NN
sends N1's output to c1, where Q's pooling runs; here Q's pooled input travels). Other workloads, chip counts
and capacities are refused in one line: the paper does not give their mappings.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import IllusionError
from .plan import Mapping, Piece, piece_bytes
from .trace import OpGraph, Split

__all__ = ["paper_mapping", "PAPER_MAPPINGS", "PAPER_CAPACITY"]

# one chip: [(layer, split or None, first unit, stop unit)]
_Layout = list[list[tuple[str, Split | None, int, int]]]

OUT, IN = Split.OUT, Split.IN


def _mnist_8(graph: OpGraph) -> _Layout:
    # c0 conv1–2 → c1 conv3 → c2–c5 six conv4 output channels each → c6 fc over inputs 0–47 → c7 inputs 48–95
    return [[("conv1", None, 0, 0), ("conv2", None, 0, 0)], [("conv3", None, 0, 0)],
            *[[("conv4", OUT, 6 * k, 6 * k + 6)] for k in range(4)],
            [("fc", IN, 0, 48)], [("fc", IN, 48, 96)]]


def _mnist_4(graph: OpGraph) -> _Layout:
    # c0 conv1–3 → c1, c2 twelve conv4 channels each → c3 fc
    return [[("conv1", None, 0, 0), ("conv2", None, 0, 0), ("conv3", None, 0, 0)],
            [("conv4", OUT, 0, 12)], [("conv4", OUT, 12, 24)], [("fc", None, 0, 0)]]


def _svhn_8(graph: OpGraph) -> _Layout:
    # c0 conv1–2 → c1 conv3 → fc1 split by inputs over c2–c6 (a partial-sum chain; c6 adds the bias) → c7
    # fc2 + fc3. The paper does not give the input slices: each chip takes as many inputs as fit, in order
    # (78, 78, 78, 78, 72 at 4 KiB) — every split of the 384 inputs over five chips sends the same bytes.
    fc1 = graph.layer("fc1")
    per = int(PAPER_CAPACITY[("svhn", 8)] // (piece_bytes(graph, "fc1", IN, 0, fc1.in_units, with_bias=False)
                                             / fc1.in_units))
    cuts = [min(fc1.in_units, k * per) for k in range(5)] + [fc1.in_units]
    return [[("conv1", None, 0, 0), ("conv2", None, 0, 0)], [("conv3", None, 0, 0)],
            *[[("fc1", IN, a, b)] for a, b in zip(cuts, cuts[1:], strict=False)],
            [("fc2", None, 0, 0), ("fc3", None, 0, 0)]]


def _d2nn_8(graph: OpGraph) -> _Layout:
    # c0 N1 + Q's fc1 rows 0–27; c1 the rest of Q (decides); c2 N3 (small path); c3 N2's convs; c4–c6 42 of
    # N2's fc 128 neurons each; c7 the rest of N2 (its last 2 fc neurons and the two FC layers after)
    return [[("n1_1", None, 0, 0), ("n1_5", None, 0, 0), ("q_2_0", OUT, 0, 28)],
            [("q_2_0", OUT, 28, 64), ("q_3_0", None, 0, 0)],
            [("n3_2_0", None, 0, 0), ("n3_3_0", None, 0, 0)],
            [("n2_0", None, 0, 0), ("n2_3", None, 0, 0)],
            *[[("n2_7_0", OUT, 42 * k, 42 * k + 42)] for k in range(3)],
            [("n2_7_0", OUT, 126, 128), ("n2_8_0", None, 0, 0), ("n2_9_0", None, 0, 0)]]


def _d2nn_4(graph: OpGraph) -> _Layout:
    # c0 N1 + Q; c1 N3 and N2's convs; c2, c3 N2's fc split by neurons; c3 also the two FC layers after. The
    # paper's c2 → c3 message is 84 B: c2 holds 84 neurons (the 44 left and the FC layers after fill c3 to
    # 7,614 B of 8 KiB; 86 would not fit), whose 16-bit outputs are 168 B under our message rules
    return [[("n1_1", None, 0, 0), ("n1_5", None, 0, 0), ("q_2_0", None, 0, 0), ("q_3_0", None, 0, 0)],
            [("n3_2_0", None, 0, 0), ("n3_3_0", None, 0, 0), ("n2_0", None, 0, 0), ("n2_3", None, 0, 0)],
            [("n2_7_0", OUT, 0, 84)],
            [("n2_7_0", OUT, 84, 128), ("n2_8_0", None, 0, 0), ("n2_9_0", None, 0, 0)]]


def _kws_8(graph: OpGraph) -> _Layout:
    # chip k: hidden units 10k … 10k+9 with all four gates, and the matching fc columns (inputs): the LSTM split
    # by hidden units, the fc by inputs along the same chips (its partial sums pass c0 → … → c7)
    return [[("lstm", OUT, 10 * k, 10 * k + 10), ("fc", IN, 10 * k, 10 * k + 10)] for k in range(8)]


PAPER_MAPPINGS: dict[tuple[str, int], Callable[[OpGraph], _Layout]] = {
    ("mnist", 8): _mnist_8, ("mnist", 4): _mnist_4, ("svhn", 8): _svhn_8,
    ("d2nn", 8): _d2nn_8, ("d2nn", 4): _d2nn_4, ("kws", 8): _kws_8}

# each system's chip capacity (docs/paper.md: 32 KB ideal chip, 8 KB × 4, 4 KB × 8; MNIST 1 KB × 4, 0.5 KB × 8)
PAPER_CAPACITY: dict[tuple[str, int], int] = {
    ("mnist", 8): 512, ("mnist", 4): 1024, ("svhn", 8): 4096, ("d2nn", 8): 4096, ("d2nn", 4): 8192,
    ("kws", 8): 4096}


def paper_mapping(graph: OpGraph, capacity_bytes: int | None = None, chips: int | None = None) -> Mapping:
    """The paper's mapping of ``graph``'s workload on ``chips`` chips (default: the paper's system for this
    capacity), checked against ``capacity_bytes`` (default: the paper's)."""
    name = graph.model_name
    if chips is None:
        fitting = [k for (m, k), cap in PAPER_CAPACITY.items() if m == name and
                   (capacity_bytes is None or cap == capacity_bytes)]
        chips = fitting[0] if len(fitting) == 1 else None
    if (name, chips) not in PAPER_MAPPINGS:
        known = ", ".join(f"{m} on {k} chips" for m, k in sorted(PAPER_MAPPINGS))
        raise IllusionError(f"the paper gives no mapping of {name!r}" + (f" on {chips} chips" if chips else "") +
                            f"; solver 'paper' knows {known}: pick one of those, or another solver")
    cap = PAPER_CAPACITY[(name, chips)] if capacity_bytes is None else capacity_bytes
    try:
        layout = PAPER_MAPPINGS[(name, chips)](graph)
        on_chips = [[_piece(graph, *spec) for spec in chip] for chip in layout]
    except KeyError as e:
        raise IllusionError(f"the paper's {name} mapping names layer {e}, which this model lacks: it is the "
                            f"paper's architecture only (docs/paper.md, Workloads)") from None
    mapping = Mapping(on_chips, [cap] * len(on_chips), "paper", optimal=False,
                      method=f"the paper's hand mapping ({name}, {chips} chips)")
    for c, used in enumerate(mapping.chip_weight_bytes()):
        if used > cap:
            raise IllusionError(f"the paper's {name} mapping puts {used} B on chip {c}, more than the capacity of "
                                f"{cap} B; use its capacity of {PAPER_CAPACITY[(name, chips)]} B")
    for ly in graph.layers:
        units = sum(p.units for _, p in mapping.pieces_of(ly.name))
        split = {p.split for _, p in mapping.pieces_of(ly.name)}
        total = ly.in_units if split == {IN} else ly.out_units
        if units != total:
            raise IllusionError(f"the paper's {name} mapping places {units} of layer {ly.name}'s {total} units: "
                                f"this model differs from the paper's architecture")
    return mapping


def _piece(graph: OpGraph, layer: str, split: Split | None, start: int, stop: int) -> Piece:
    ly = graph.layer(layer)
    if split is None:
        return Piece(layer, None, 0, ly.out_units, ly.weight_bytes)
    units = ly.out_units if split == OUT else ly.in_units
    return Piece(layer, split, start, stop, piece_bytes(graph, layer, split, start, stop, with_bias=stop == units))
