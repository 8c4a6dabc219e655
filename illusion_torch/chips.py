"""Per-chip programs: the mapped model rewritten into one torch.fx GraphModule per chip wake-up.

Usage::

    from illusion_torch.chips import chip_programs
    programs = chip_programs(system)           # system = il.partition(...)
    programs.wakes                             # [(chip, GraphModule), ...] in message order
    logits = programs.run(x)                   # the chips one after another: bit-identical to the model

The rewrite expands every split layer into its slices (a sliced Conv2d/Linear per chip; input slices
chained by int32 partial-sum additions, the bias on the last chip; an LSTM split by hidden units unrolled
step by step, each chip gathering the whole h every step), runs channel-wise weightless ops (ReLU,
quantization, pooling, flatten, adds of aligned tensors) on each output slice where it was produced, and
gathers slices (torch.cat) on the chip that needs a whole tensor. Each node then belongs to one chip;
taking nodes in topological order, lowest chip first, a maximal run on one chip is one wake-up, and
``torch.fx.passes.split_module`` cuts the graph there: one GraphModule per wake-up, called in order by the
top module, with the tensors between them as its inputs and outputs.
"""

from __future__ import annotations

import copy
import heapq
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.split_module import split_module

from .fixed import quantize
from .graph import HOST, aligned, channelwise
from .layers import QLSTM, hard_sigmoid, hard_tanh

__all__ = ["chip_programs", "cut", "ChipPrograms"]


class LstmSlice(nn.Module):
    """A chip's slice of an LSTM: the rows of all four gates for its hidden units; one step per call."""

    def __init__(self, w_ih: torch.Tensor, w_hh: torch.Tensor, bias: torch.Tensor, io: tuple, pre: tuple) -> None:
        super().__init__()
        self.weight_ih = nn.Parameter(w_ih.detach().clone(), requires_grad=False)
        self.weight_hh = nn.Parameter(w_hh.detach().clone(), requires_grad=False)
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.io, self.pre = io, pre

    def forward(self, x_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        io, pre = self.io, self.pre
        p = quantize(x_t @ self.weight_ih.t() + h @ self.weight_hh.t() + self.bias, *pre)
        i, f, g, o = p.chunk(4, dim=-1)
        i, f = quantize(hard_sigmoid(i), *io), quantize(hard_sigmoid(f), *io)
        g, o = quantize(hard_tanh(g), *io), quantize(hard_sigmoid(o), *io)
        c_new = quantize(f * c + i * g, *pre)
        return quantize(o * hard_tanh(c_new), *io), quantize(c_new, *io)


class EmbeddingRows(nn.Module):
    """A chip's rows [start, start + n) of an embedding table: looks up the indices it holds, zeros elsewhere."""

    def __init__(self, weight: torch.Tensor, start: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.start = start

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        local = idx - self.start
        mine = (local >= 0) & (local < self.weight.shape[0])
        rows = F.embedding(local.clamp(0, self.weight.shape[0] - 1), self.weight)
        return rows * mine.unsqueeze(-1).to(rows.dtype)


class BiasAdd(nn.Module):
    """The bias an input-split layer's last chip adds to the summed partial sums."""

    def __init__(self, bias: torch.Tensor) -> None:
        super().__init__()
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.bias.view(1, -1, 1, 1) if x.dim() == 4 else self.bias)


@dataclass
class _Full:
    node: fx.Node
    chip: int | str


@dataclass
class _Slices:
    parts: list[tuple[fx.Node, int, float, float]]      # node, chip, fraction start, fraction stop (dim 1)


class _Expander:
    def __init__(self, system) -> None:
        self.graph, self.mapping = system.graph, system.mapping
        self.root = nn.Module()
        self.root.orig = self.graph.gm
        self.root.slices = nn.Module()
        self.g = fx.Graph()
        self.chip: dict[str, int | str] = {}
        self.env: dict[str, _Full | _Slices] = {}
        self.gathered: dict[tuple[str, int | str], fx.Node] = {}
        self.count = 0
        self.current = ""
        self.route_node = getattr(system.model, "route_node", None)

    # -- emitting --------------------------------------------------------------------------------------
    def emit(self, chip, op, target, args=(), kwargs=None) -> fx.Node:
        node = self.g.create_node(op, target, tuple(args), kwargs or {})
        node.meta["orig"] = self.current            # the model's node this one implements (for branch labels)
        self.chip[node.name] = chip
        return node

    def module(self, chip, module: nn.Module, *args) -> fx.Node:
        self.count += 1
        name = f"m{self.count}"
        self.root.slices.add_module(name, module)
        return self.emit(chip, "call_module", f"slices.{name}", args)

    # -- moving values ---------------------------------------------------------------------------------
    def full_on(self, orig: str, chip) -> fx.Node:
        v = self.env[orig]
        if isinstance(v, _Full):
            return v.node
        key = (orig, chip)
        if key not in self.gathered:
            self.gathered[key] = self.emit(chip, "call_function", torch.cat, ([p[0] for p in v.parts],),
                                           {"dim": 1})
        return self.gathered[key]

    def slice_on(self, orig: str, chip, f0: float, f1: float, width: int) -> fx.Node:
        """Fraction [f0, f1) of dim 1 (``width`` long) of ``orig``, cut where it lies and sent to ``chip``."""
        v = self.env[orig]
        pieces = [(v.node, v.chip, 0.0, 1.0)] if isinstance(v, _Full) else v.parts
        got = []
        for node, src, s0, s1 in pieces:
            lo, hi = max(f0, s0), min(f1, s1)
            if hi <= lo:
                continue
            a, b = round((lo - s0) * width), round((hi - s0) * width)
            whole = round((s1 - s0) * width)
            got.append(node if (a, b) == (0, whole) else
                       self.emit(src, "call_function", operator.getitem, (node, (slice(None), slice(a, b)))))
        return got[0] if len(got) == 1 else self.emit(chip, "call_function", torch.cat, (got,), {"dim": 1})

    # -- nodes -----------------------------------------------------------------------------------------
    def run(self) -> tuple[nn.Module, fx.Graph, dict]:
        modules = dict(self.graph.gm.named_modules())
        layer_names = {ly.name for ly in self.graph.layers}
        for n in self.graph.gm.graph.nodes:
            self.current = str(n.target) if n.op == "call_module" else n.name
            if n.op == "placeholder":
                self.env[n.name] = _Full(self.emit(HOST, "placeholder", n.target), HOST)
            elif n.op == "output":
                # each chip holding a slice of the result sends it to the host, which joins them
                out = fx.node.map_arg(n.args[0], lambda a: self.full_on(a.name, HOST))
                if self.route_node is not None:       # a gated model also returns its per-input route
                    route = self.env.get(self.route_node)
                    if not isinstance(route, _Full):
                        raise ValueError(f"route_node {self.route_node!r} is not a node of the traced model")
                    out = (out, route.node)
                self.g.output(out)
            elif n.name in layer_names:
                self.layer(n, modules[str(n.target)])
            else:
                self.weightless(n, modules.get(str(n.target)) if n.op == "call_module" else None)
        self.g.lint()
        return self.root, self.g, self.chip

    def layer(self, n: fx.Node, module: nn.Module) -> None:
        pieces = self.mapping.pieces_of(n.name)
        x = n.args[0].name
        if len(pieces) == 1:                     # a private copy: the runtime loads its weights from chip memory
            c = pieces[0][0]
            self.env[n.name] = _Full(self.module(c, copy.deepcopy(module), self.full_on(x, c)), c)
            return
        if isinstance(module, QLSTM):
            self.lstm(n, module, pieces)
            return
        if isinstance(module, nn.Embedding):      # rows split: each chip adds the rows it holds, in chip order
            total = None
            for c, p in pieces:
                rows = self.module(c, EmbeddingRows(module.weight[p.start:p.stop], p.start), self.full_on(x, c))
                total = rows if total is None else self.emit(c, "call_function", operator.add, (total, rows))
            self.env[n.name] = _Full(total, pieces[-1][0])
            return
        split = pieces[0][1].split
        w, b = module.weight.detach(), None if module.bias is None else module.bias.detach()
        if split == "out":
            parts = []
            for c, p in pieces:
                sub = _sliced(module, w[p.start:p.stop], None if b is None else b[p.start:p.stop])
                parts.append((self.module(c, sub, self.full_on(x, c)), c, p.start / module_out(module),
                              p.stop / module_out(module)))
            self.env[n.name] = _Slices(parts)
            return
        width = w.shape[1]
        partial = None
        for c, p in pieces:
            xs = self.slice_on(x, c, p.start / width, p.stop / width, int(n.args[0].meta["tensor_meta"].shape[1]))
            part = self.module(c, _sliced(module, w[:, p.start:p.stop], None), xs)
            partial = part if partial is None else self.emit(c, "call_function", operator.add, (partial, part))
        last = pieces[-1][0]
        if b is not None:
            partial = self.module(last, BiasAdd(b), partial)
        self.env[n.name] = _Full(partial, last)

    def lstm(self, n: fx.Node, lstm: QLSTM, pieces) -> None:
        H = lstm.hidden_size
        # every chip rounds the input sequence it receives (x_t is needed by all of them each step)
        xq = {c: self.emit(c, "call_module", f"orig.{n.target}.q_x", (self.full_on(n.args[0].name, c),))
              for c, _ in pieces}
        io = (lstm.q_h.format.wl, lstm.q_h.format.fl)
        pre = (lstm.q_pre.format.wl, lstm.q_pre.format.fl)
        steps = int(n.args[0].meta["tensor_meta"].shape[1])
        cells = {}
        for c, p in pieces:
            rows = torch.cat([torch.arange(p.start, p.stop) + k * H for k in range(4)])
            cells[c] = LstmSlice(lstm.weight_ih[rows], lstm.weight_hh[rows], lstm.bias[rows], io, pre)
            self.count += 1
            self.root.slices.add_module(f"m{self.count}", cells[c])
            cells[c] = f"slices.m{self.count}"
        h_parts = {c: None for c, _ in pieces}
        c_state = {}
        for t in range(steps):
            new_h = {}
            for c, p in pieces:
                x_t = self.emit(c, "call_function", operator.getitem, (xq[c], (slice(None), t)))
                if t == 0:
                    zeros_h = self.emit(c, "call_function", torch.zeros_like, (
                        self.emit(c, "call_function", operator.getitem, (x_t, (slice(None), slice(0, 1)))),))
                    h_full = self.emit(c, "call_method", "expand", (zeros_h, -1, H))
                    c_prev = self.emit(c, "call_method", "expand", (zeros_h, -1, p.units))
                else:
                    h_full = self.emit(c, "call_function", torch.cat, ([h_parts[d] for d, _ in pieces],), {"dim": 1})
                    c_prev = c_state[c]
                out = self.emit(c, "call_module", cells[c], (x_t, h_full, c_prev))
                new_h[c] = self.emit(c, "call_function", operator.getitem, (out, 0))
                c_state[c] = self.emit(c, "call_function", operator.getitem, (out, 1))
            h_parts = new_h
        self.env[n.name] = _Slices([(h_parts[c], c, p.start / H, p.stop / H) for c, p in pieces])

    def weightless(self, n: fx.Node, module: nn.Module | None) -> None:
        owner = self.graph.owner[n.name]
        tensors = [a for a in n.all_input_nodes]
        # the op runs where its owner's output lies (slice by slice when that output is split)
        lead = next((a for a in tensors if self.graph.owner.get(a.name) == owner), tensors[0] if tensors else None)
        main = self.env[lead.name] if lead is not None else None
        if isinstance(main, _Slices) and channelwise(n, module) and aligned(n):
            parts = []
            for node, c, f0, f1 in main.parts:
                def arg(a, node=node, c=c, f0=f0, f1=f1):
                    if a.name == lead.name:
                        return node
                    return self.slice_on(a.name, c, f0, f1, int(a.meta["tensor_meta"].shape[1]))
                parts.append((self.emit(c, n.op, _target(n), fx.node.map_arg(n.args, arg),
                                        fx.node.map_arg(n.kwargs, arg)), c, f0, f1))
            self.env[n.name] = _Slices(parts)
            return
        if owner == HOST:
            chip = HOST
        else:
            chip = self.mapping.pieces_of(owner)[-1][0]
        self.env[n.name] = _Full(self.emit(chip, n.op, _target(n),
                                           fx.node.map_arg(n.args, lambda a: self.full_on(a.name, chip)),
                                           fx.node.map_arg(n.kwargs, lambda a: self.full_on(a.name, chip))), chip)


def module_out(module: nn.Module) -> int:
    return module.out_channels if isinstance(module, nn.Conv2d) else module.out_features


def _target(n: fx.Node):
    return f"orig.{n.target}" if n.op in ("call_module", "get_attr") else n.target


def _sliced(module: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    if isinstance(module, nn.Conv2d):
        m = nn.Conv2d(weight.shape[1], weight.shape[0], module.kernel_size, module.stride, module.padding,
                      module.dilation, bias=bias is not None)
    else:
        m = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        m.weight.copy_(weight)
        if bias is not None:
            m.bias.copy_(bias)
    return m.to(weight.dtype)


def _wakes(graph: fx.Graph, chip: dict) -> dict[str, int]:
    """Topological order preferring the lowest chip (host first); each maximal run on one chip is a wake."""
    rank = {HOST: -1}
    nodes = list(graph.nodes)
    indeg = {n: len(n.all_input_nodes) for n in nodes}
    heap = [(rank.get(chip.get(n.name), chip.get(n.name, -1)), i, n) for i, n in enumerate(nodes) if indeg[n] == 0]
    order_index = {n: i for i, n in enumerate(nodes)}
    heapq.heapify(heap)
    wake, last, out = -1, object(), {}
    while heap:
        _, _, n = heapq.heappop(heap)
        c = chip.get(n.name)
        if n.op not in ("placeholder", "output"):
            if c != last:
                wake += 1
                last = c
            out[n.name] = wake
        for u in n.users:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (rank.get(chip.get(u.name), chip.get(u.name, -1)), order_index[u], u))
    return out


@dataclass
class ChipPrograms:
    """The per-wake GraphModules of a system and the top module that calls them in message order.

    ``expanded`` is the whole rewritten graph before the cut, ``chip_of`` / ``wake_of`` give each of its
    nodes' chip and wake index (the runtime's cost profile reads them); ``gated`` says the programs also
    return the model's per-input route (D2NN)."""

    top: fx.GraphModule
    wakes: list[tuple[int | str, fx.GraphModule]]
    expanded: fx.GraphModule | None = None
    chip_of: dict[str, int | str] = field(default_factory=dict)
    wake_of: dict[str, int] = field(default_factory=dict)
    gated: bool = False

    @torch.no_grad()
    def forward(self, x: torch.Tensor, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, route) of ``x``; route is None for a model without a gate."""
        self.top.to(dtype)
        try:
            out = self.top(x.to(dtype) if x.is_floating_point() else x)
        finally:
            self.top.float()
        return out if self.gated else (out, None)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)[0]


def chip_programs(system) -> ChipPrograms:
    """Rewrite ``system`` into per-chip GraphModules (one per wake-up), cut with split_module."""
    expander = _Expander(system)
    root, g, chip = expander.run()
    return cut(fx.GraphModule(root, g), chip, gated=expander.route_node is not None)


def cut(gm: fx.GraphModule, chip: dict, *, gated: bool = False) -> ChipPrograms:
    """Cut a rewritten graph whose nodes carry chips (``chip``: node name -> chip) into wake GraphModules."""
    wake_of = _wakes(gm.graph, chip)
    chip_of_wake = {w: chip[name] for name, w in wake_of.items()}
    top = split_module(gm, gm, lambda n: wake_of[n.name])
    subs = sorted((int(name.split("_")[1]), mod) for name, mod in top.named_children() if name.startswith("submod_"))
    wakes = [(chip_of_wake[w], mod) for w, mod in subs]
    return ChipPrograms(top, wakes, gm, chip, wake_of, gated)
