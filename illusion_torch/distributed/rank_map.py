"""Which rank computes each step of a partitioned model, and which values travel between ranks, in what words.

Usage::

    from illusion_torch.distributed.rank_map import plan_rank_map
    rank_map = plan_rank_map(system.chips, procs=5)  # rank 0: the host; ranks 1–4: contiguous chip groups
    rank_map.rank_of_chip, rank_map.values["submod_3"].dests, rank_map.values["submod_3"].wire

The top module of ``ChipPrograms`` calls one GraphModule per chip wake in message order; every rank walks it
in that order. A *value* is a tensor the top graph passes on: a wake's output, or one item of a wake's tuple
output. It is computed on its wake's rank and sent once to every other rank that uses it (a wake there, or
the host for the model's output). Values travel as the chips would send them (docs/paper.md, "Mapping onto
chips"; ``partitioning.trace``): a value leaving a rounding point as its integer codes at that point's word
size (int8 activations, int16 FC outputs, the LSTM's h), a weighted slice's partial sums as int32 codes at
the layer's least significant bit, a route as one byte per input — so bytes counted at the sends are the
message plan's bytes. A value with no fixed-point grid (a float model's) travels as its float words.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from ..errors import IllusionError
from ..fixed import FixedPoint, grid_fl
from ..partitioning.indices import index_bits
from ..partitioning.ops import op_of
from ..partitioning.slices import BiasAdd, GroupSlice, TableLookup
from ..partitioning.trace import HOST, Chip
from ..partitioning.wakes import ChipPrograms
from ..runtime.precision import format_of

__all__ = ["Wire", "Value", "RankMap", "plan_rank_map", "chip_groups", "PARTS"]

PARTS = 16                  # tags per value: a tuple's items travel as messages of their own


@dataclass(frozen=True)
class Wire:
    """How a value is sent: integer codes of ``bits`` at ``fl`` fractional bits, or as it is (``fl`` None)."""

    fl: int | None
    bits: int

    @property
    def dtype(self) -> torch.dtype | None:
        if self.fl is None:
            return None
        return {8: torch.int8, 16: torch.int16, 32: torch.int32}[self.bits]


@dataclass
class Value:
    """One value of the top graph: the rank that computes it, the ranks that receive it, its wire format,
    the wake (index into ``ChipPrograms.wakes``) that makes it, and its tag on the wire."""

    name: str
    rank: int
    dests: list[int]
    wire: Wire
    wake: int | None
    tag: int
    dest_wakes: dict[int, list[int | None]] = field(default_factory=dict)   # per dest: wakes using it (None: out)
    parts: list[int] | None = None      # a tuple (an LSTM slice's (h, c)): the items its users read, sent apart
    part_wires: list[Wire] = field(default_factory=list)

    def part_tag(self, j: int) -> int:
        return self.tag * PARTS + j


@dataclass
class RankMap:
    """Which rank holds which chips and wakes, and every value that travels between ranks (``plan_rank_map``)."""

    procs: int
    rank_of_chip: dict[Chip, int]
    rank_of_wake: list[int]                       # per wake (ChipPrograms.wakes order)
    wake_of_node: dict[str, int]                  # top-graph call_module name -> wake index
    values: dict[str, Value] = field(default_factory=dict)
    expanded_name: dict[str, str] = field(default_factory=dict)   # value -> its node in ``ChipPrograms.expanded``

    def chips_of(self, rank: int) -> list[Chip]:
        return [c for c, r in self.rank_of_chip.items() if r == rank]

    def wakes_of(self, rank: int) -> list[int]:
        return [w for w, r in enumerate(self.rank_of_wake) if r == rank]


def chip_groups(n_chips: int, procs: int) -> list[list[int]]:
    """Chips of each chip rank 1 … procs − 1: contiguous groups as even as they can be.

    >>> chip_groups(5, 3)
    [[0, 1, 2], [3, 4]]
    """
    ranks = procs - 1
    if procs < 2:
        raise IllusionError(f"a distributed run needs at least 2 processes (the host and one chip rank), "
                            f"got {procs}")
    if ranks > n_chips:
        raise IllusionError(f"{procs} processes give {ranks} chip ranks but the mapping has only {n_chips} "
                            f"chips: use at most {n_chips + 1} processes (one chip per rank, plus the host)")
    return [list(range(n_chips * r // ranks, n_chips * (r + 1) // ranks)) for r in range(ranks)]


def plan_rank_map(programs: ChipPrograms, procs: int, *, n_chips: int, word_bits: int,
                weight_format: FixedPoint | None, per_tensor: bool = False) -> RankMap:
    """The ranks of every wake and value of ``programs`` over ``procs`` processes (rank 0 the host)."""
    groups = chip_groups(n_chips, procs)
    rank_of_chip: dict[Chip, int] = {HOST: 0}
    for r, chips in enumerate(groups, start=1):
        rank_of_chip.update({c: r for c in chips})
    rank_of_wake = [rank_of_chip[c] for c, _ in programs.wakes]
    top = programs.top
    subs = {name: i for i, name in enumerate(sorted((n for n, _ in top.named_children() if n.startswith("submod_")),
                                                    key=lambda n: int(n.split("_")[1])))}
    rank_map = RankMap(procs, rank_of_chip, rank_of_wake, subs, expanded_name=expanded_names(programs))
    rules = _WireRules(programs, word_bits, weight_format, per_tensor)

    def wire_of(node: fx.Node) -> Wire:
        return rules(rank_map.expanded_name.get(node.name))

    for node in top.graph.nodes:
        if node.op == "placeholder":                  # a model input: the host has it
            rank_map.values[node.name] = Value(node.name, 0, _dests(node, rank_map, 0), Wire(None, word_bits), None,
                                             len(rank_map.values))
        elif node.op == "call_module":
            wake = subs[str(node.target)]
            rank = rank_of_wake[wake]
            outs = programs.wakes[wake][1].graph.output_node().args[0]
            if not isinstance(outs, (tuple, list)):
                rank_map.values[node.name] = Value(node.name, rank, _dests(node, rank_map, rank), wire_of(node), wake,
                                                 len(rank_map.values))
        elif node.op == "call_function" and node.target is operator.getitem and \
                isinstance(node.args[0], fx.Node) and node.args[0].op == "call_module":
            wake = subs[str(node.args[0].target)]
            rank = rank_of_wake[wake]
            rank_map.values[node.name] = Value(node.name, rank, _dests(node, rank_map, rank), wire_of(node), wake,
                                             len(rank_map.values))
    top_nodes = {n.name: n for n in top.graph.nodes}
    for v in rank_map.values.values():
        v.dest_wakes = _dest_wakes(top_nodes[v.name], rank_map, v.rank)
        v.parts = _tuple_items(top, top_nodes[v.name])
        if v.parts is not None:
            v.part_wires = [rules.item(rank_map.expanded_name.get(v.name), k) for k in v.parts]
    return rank_map


def _tuple_items(top: fx.GraphModule, node: fx.Node) -> list[int] | None:
    """The items a tuple value's consumer wakes read (every use a constant ``getitem``), else None."""
    items: set[int] = set()
    for user in node.users:
        if user.op != "call_module":
            return None
        sub = top.get_submodule(str(user.target))
        assert isinstance(sub, fx.GraphModule)
        places = [p for p in sub.graph.nodes if p.op == "placeholder"]
        for a, place in zip(user.args, places, strict=True):
            if a is not node:
                continue
            uses = list(place.users)
            if not uses or not all(u.op == "call_function" and u.target is operator.getitem
                                   and isinstance(u.args[1], int) for u in uses):
                return None
            items.update(int(u.args[1]) for u in uses)
    return sorted(items) if items else None


def expanded_names(programs: ChipPrograms) -> dict[str, str]:
    """Top-graph value -> the node of the expanded graph it carries. ``split_module`` names a wake's inputs
    after the nodes they carry, and the top output is the expanded graph's output."""
    top = programs.top
    out: dict[str, str] = {}
    for node in top.graph.nodes:
        if node.op == "call_module":
            sub = top.get_submodule(str(node.target))
            assert isinstance(sub, fx.GraphModule)
            places = [p for p in sub.graph.nodes if p.op == "placeholder"]
            for a, p in zip(node.args, places, strict=True):
                if isinstance(a, fx.Node):
                    out.setdefault(a.name, str(p.target))
        elif node.op == "placeholder":
            out[node.name] = node.name
        elif node.op == "output":
            mine = node.args[0] if isinstance(node.args[0], (tuple, list)) else (node.args[0],)
            res = programs.expanded.graph.output_node().args[0]
            theirs = res if isinstance(res, (tuple, list)) else (res,)
            for a, b in zip(mine, theirs, strict=True):
                if isinstance(a, fx.Node) and isinstance(b, fx.Node):
                    out.setdefault(a.name, b.name)
    return out


def _dests(node: fx.Node, rank_map: RankMap, rank: int) -> list[int]:
    return sorted(_dest_wakes(node, rank_map, rank))


def _dest_wakes(node: fx.Node, rank_map: RankMap, rank: int) -> dict[int, list[int | None]]:
    out: dict[int, list[int | None]] = {}
    for user in node.users:
        if user.op == "call_module":
            wake = rank_map.wake_of_node[str(user.target)]
            out.setdefault(rank_map.rank_of_wake[wake], []).append(wake)
        elif user.op == "output":
            out.setdefault(0, []).append(None)
        elif user.op == "call_function" and user.target is operator.getitem:
            continue                                  # a tuple: its items are the values
        else:
            raise IllusionError(f"the top graph uses {node.name} in {user.op} {user.target}: only wakes and "
                                f"the output are expected there")
    out.pop(rank, None)
    return out


class _WireRules:
    """The wire format of a wake's output node, from the expanded graph (see the module)."""

    def __init__(self, programs: ChipPrograms, word_bits: int, weight_format: FixedPoint | None,
                 per_tensor: bool) -> None:
        self.gm = programs.expanded
        self.modules = dict(self.gm.named_modules())
        self.nodes = {n.name: n for n in self.gm.graph.nodes}
        self.word_bits = word_bits
        self.wfmt = weight_format
        self.per_tensor = per_tensor
        self.memo: dict = {}
        self.codes = index_bits(self.gm)

    def __call__(self, name: str | None) -> Wire:
        node = self.nodes.get(name or "")
        if node is not None and node.name in self.codes:   # token or position ids: the plan's integer codes
            return Wire(0, self.codes[node.name])
        if node is None or self.wfmt is None:
            return Wire(None, self.word_bits)
        meta = node.meta.get("tensor_meta")
        if getattr(meta, "dtype", None) == torch.bool:  # a flag: one 16-bit word, as the plan counts it (a
            return Wire(0, 16)                           # weightless op keeps its input's size: the int16 logits)
        if getattr(meta, "dtype", torch.float32) in (torch.int64, torch.int32, torch.uint8):
            return Wire(None, 8)                       # a route or an index: sent as it is
        fmt = self._format(node)
        if fmt is not None:
            return Wire(fmt.fl, _bits(fmt.wl))
        m = self.modules.get(str(node.target)) if node.op == "call_module" else None
        if isinstance(m, TableLookup):                 # looked-up rows: the stored table's codes, copied
            fl = grid_fl(m.weight, self.wfmt.wl) if self.per_tensor else self.wfmt.fl
            return Wire(fl, _bits(self.wfmt.wl))
        fl = self._sum_fl(node)
        return Wire(fl, 32) if fl is not None else Wire(None, self.word_bits)

    def item(self, name: str | None, index: int) -> Wire:
        """The wire format of item ``index`` of tuple node ``name``: that of the expanded graph's getitem of it."""
        node = self.nodes.get(name or "")
        if node is not None:
            for u in node.users:
                if u.op == "call_function" and u.target is operator.getitem and u.args[1] == index:
                    return self(u.name)
        return Wire(None, self.word_bits)

    def _format(self, node: fx.Node | None) -> FixedPoint | None:
        """``format_of``, and through a format-keeping op whose other inputs are sizes (a reshape to
        ``x.size(0), …``): the one format of its tensor inputs."""
        if node is None:
            return None
        fmt = format_of(node, self.modules, self.memo)
        if fmt is not None or node.op not in ("call_method", "call_function") or \
                not op_of(node, self.modules).keeps_format:
            return fmt
        tensors = [a for a in node.all_input_nodes if hasattr(a.meta.get("tensor_meta"), "shape")]
        fmts = {self._format(a) for a in tensors}
        return fmts.pop() if len(fmts) == 1 else None

    def _sum_fl(self, node: fx.Node) -> int | None:
        """Fractional bits of a weighted slice's (partial) sums: the weights' plus the input's."""
        m = self.modules.get(str(node.target)) if node.op == "call_module" else None
        if isinstance(m, (nn.Conv2d, nn.Linear, GroupSlice)):
            arg = node.args[0]
            x = self._format(arg if isinstance(arg, fx.Node) else None)
            if x is None or self.wfmt is None:
                return None
            w_fl = grid_fl(m.weight, self.wfmt.wl) if self.per_tensor else self.wfmt.fl
            fl = w_fl + x.fl
            if m.bias is not None and self.per_tensor:
                fl = max(fl, grid_fl(m.bias, self.wfmt.wl))
            return fl
        if isinstance(m, BiasAdd) or (node.op == "call_function" and node.target in (operator.add, torch.add)):
            fls = [self._sum_fl(a) for a in node.all_input_nodes]
            if any(f is None for f in fls) or not fls:
                return None
            if isinstance(m, BiasAdd) and self.wfmt is not None:
                fls.append(grid_fl(m.bias, self.wfmt.wl) if self.per_tensor else self.wfmt.fl)
            return max(f for f in fls if f is not None)
        return None


def _bits(wl: int) -> int:
    for bits in (8, 16, 32):
        if wl <= bits:
            return bits
    raise IllusionError(f"a {wl}-bit word does not fit a 32-bit code")
