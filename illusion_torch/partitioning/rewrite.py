"""Per-chip programs: the mapped model rewritten into one torch.fx graph whose every node belongs to a chip.

Usage::

    from illusion_torch.partitioning.rewrite import chip_programs
    programs = chip_programs(graph, mapping)   # graph = trace(model, x[:1]); mapping = solve(graph, ...)
    programs.wakes                             # [(chip, GraphModule), ...] in message order
    logits = programs.run(x)                   # the chips one after another: bit-identical to the model

The rewrite expands every split layer into its slices (a sliced Conv2d/Linear per chip; input slices
chained by int32 partial-sum additions, the bias on the last chip; an LSTM split by hidden units unrolled
step by step, each chip gathering the whole h every step), runs channel-wise weightless ops (ReLU,
quantization, pooling, flatten, adds of aligned tensors) on each output slice where it was produced, and
gathers slices (torch.cat) on the chip that needs a whole tensor. Every module the programs call is a
private copy (the user's model is never run or changed by them). ``wakes.cut`` then cuts the graph into
one GraphModule per chip wake-up. The mapping decides; this pass only rewires.
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import torch
from torch import fx, nn

from ..errors import IllusionError
from ..fixed.layers import QLSTM
from .ops import state_of
from .plan import Mapping
from .recurrent import Recurrent, RecurrentSlice
from .slices import (
    BiasAdd,
    EmbeddingJoin,
    EmbeddingRows,
    GroupSlice,
    LstmSlice,
    TableLookup,
    channel_slice,
    frozen,
    sliced,
)
from .trace import HOST, Chip, OpGraph, aligned, channelwise
from .wakes import ChipPrograms, cut, lazy_graph_modules

__all__ = ["chip_programs"]


@dataclass
class _Full:
    node: fx.Node
    chip: int | str


@dataclass
class _Slices:
    parts: list[tuple[fx.Node, int, float, float]]      # node, chip, fraction start, fraction stop (along dim)
    dim: int = 1                                        # channels (1); a token-wise Linear's features (last)


class _Expander:
    def __init__(self, graph: OpGraph, mapping: Mapping) -> None:
        self.graph, self.mapping = graph, mapping
        self.root = nn.Module()
        self.root.orig = nn.Module()            # private copies of the model's weightless modules
        self.root.slices = nn.Module()
        self.g = fx.Graph()
        self.chip: dict[str, Chip] = {}
        self.env: dict[str, _Full | _Slices] = {}
        self.gathered: dict[tuple[str, Chip], fx.Node] = {}
        self.count = 0
        self.current = ""
        self.route_node = graph.config.route_node
        self.rows: dict[tuple, nn.Parameter] = {}     # (chip, table layer, start, stop) -> the rows it stores

    def stored_rows(self, chip, layer: str, start: int, stop: int, module: nn.Module) -> nn.Module:
        """``module`` (a table's rows, or a tied head's slice of them) holding the one parameter its chip
        stores for rows [start, stop) of ``layer``'s table (``tied``): the first one made there."""
        key = (chip, layer, start, stop)
        if key in self.rows:
            module.weight = self.rows[key]
        else:
            self.rows[key] = module.weight
        return module

    # -- emitting --------------------------------------------------------------------------------------
    def emit(self, chip, op, target, args=(), kwargs=None) -> fx.Node:
        node = self.g.create_node(op, target, tuple(args), kwargs or {})
        node.meta["orig"] = self.current            # the model's node this one implements (for branch labels)
        self.chip[node.name] = chip
        return node

    def add(self, module: nn.Module) -> str:
        """Hold ``module`` in the programs; its call_module target."""
        self.count += 1
        self.root.slices.add_module(f"m{self.count}", module)
        return f"slices.m{self.count}"

    def module(self, chip, module: nn.Module, *args) -> fx.Node:
        return self.emit(chip, "call_module", self.add(module), args)

    def own(self, path: str) -> str:
        """The programs' target for the model's module or attribute at ``path``: a private copy under ``orig``."""
        target = f"orig.{path}"
        try:
            self.root.get_submodule(target)
            return target
        except AttributeError:
            pass
        *parents, leaf = path.split(".")
        holder = self.root.orig
        for name in parents:
            if not hasattr(holder, name):
                holder.add_module(name, nn.Module())
            holder = getattr(holder, name)
        value = attrgetter(path)(self.graph.gm)
        if not hasattr(holder, leaf):
            if isinstance(value, nn.Module):
                holder.add_module(leaf, copy.deepcopy(value))
            elif isinstance(value, nn.Parameter):
                holder.register_parameter(leaf, frozen(value))
            else:
                holder.register_buffer(leaf, value.detach().clone())
        return target

    # -- moving values ---------------------------------------------------------------------------------
    def full_on(self, orig: str, chip) -> fx.Node:
        v = self.env[orig]
        if isinstance(v, _Full):
            return v.node
        key = (orig, chip)
        if key not in self.gathered:
            self.gathered[key] = self.emit(chip, "call_function", torch.cat, ([p[0] for p in v.parts],),
                                           {"dim": v.dim})
        return self.gathered[key]

    def slice_on(self, orig: str, chip, f0: float, f1: float, width: int, dim: int = 1) -> fx.Node:
        """Fraction [f0, f1) of dimension ``dim`` (``width`` long) of ``orig``, cut where it lies and sent to
        ``chip`` (slices along another dimension are gathered on ``chip`` first)."""
        v = self.env[orig]
        if isinstance(v, _Full):
            pieces = [(v.node, v.chip, 0.0, 1.0)]
        elif v.dim != dim:
            pieces = [(self.full_on(orig, chip), chip, 0.0, 1.0)]
        else:
            pieces = v.parts
        got = []
        for node, src, s0, s1 in pieces:
            lo, hi = max(f0, s0), min(f1, s1)
            if hi <= lo:
                continue
            a, b = round((lo - s0) * width), round((hi - s0) * width)
            whole = round((s1 - s0) * width)
            index = (slice(None),) * dim + (slice(a, b),)
            got.append(node if (a, b) == (0, whole) else
                       self.emit(src, "call_function", operator.getitem, (node, index)))
        return got[0] if len(got) == 1 else self.emit(chip, "call_function", torch.cat, (got,), {"dim": dim})

    # -- nodes -----------------------------------------------------------------------------------------
    def run(self) -> tuple[nn.Module, fx.Graph, dict]:
        modules = self.modules = dict(self.graph.gm.named_modules())
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
                        raise IllusionError(f"route_node {self.route_node!r} is not a node of the traced model")
                    out = (out, route.node)
                self.g.output(out)
            elif n.name in layer_names:
                self.layer(n, modules.get(str(n.target)) if n.op == "call_module" else None)
            else:
                self.weightless(n)
        self.g.lint()
        return self.root, self.g, self.chip

    def constant(self, n: fx.Node, dim: int) -> None:
        """A tensor the forward reads: each chip holds its slice along ``dim`` as a frozen private copy."""
        value = attrgetter(str(n.target))(self.graph.gm)
        pieces = self.mapping.pieces_of(n.name)
        units = self.graph.layer(n.name).out_units
        parts = []
        for c, p in pieces:
            part = value if len(pieces) == 1 else value.narrow(dim, p.start, p.stop - p.start)
            self.count += 1
            self.root.slices.register_parameter(f"t{self.count}", frozen(part))
            parts.append((self.emit(c, "get_attr", f"slices.t{self.count}"), c, p.start / units, p.stop / units))
        self.env[n.name] = _Full(parts[0][0], parts[0][1]) if len(parts) == 1 else _Slices(parts, dim)

    def layer(self, n: fx.Node, module: nn.Module | None) -> None:
        pieces = self.mapping.pieces_of(n.name)
        if n.op == "get_attr":
            self.constant(n, self.graph.layer(n.name).feature_dim)
            return
        assert module is not None
        x = n.args[0].name
        if len(pieces) == 1:                     # a private copy: the runtime loads its weights from chip memory
            c = pieces[0][0]
            args = fx.node.map_arg(n.args, lambda a: self.full_on(a.name, c))
            kwargs = fx.node.map_arg(n.kwargs, lambda a: self.full_on(a.name, c))
            own = TableLookup(module.weight) if type(module) is nn.Embedding and module.max_norm is None else \
                copy.deepcopy(module)
            table = self.graph.layer(n.name).tied or (n.name if isinstance(own, TableLookup) else "")
            if table:
                own = self.stored_rows(c, table, 0, module.weight.shape[0], own)
            self.env[n.name] = _Full(self.emit(c, "call_module", self.add(own), args, kwargs), c)
            return
        if isinstance(module, QLSTM):
            self.lstm(n, module, pieces)
            return
        if isinstance(module, Recurrent):
            self.recurrent(n, module, pieces)
            return
        if isinstance(module, nn.Embedding):      # rows split: each chip looks up the rows it holds; the last
            last = pieces[-1][0]                  # puts them in place
            rows = [self.module(c, self.stored_rows(c, n.name, p.start, p.stop, EmbeddingRows(
                module.weight[p.start:p.stop], p.start, module.num_embeddings)), self.full_on(x, c)) for c, p in pieces]
            join = EmbeddingJoin([(p.start, p.stop) for _, p in pieces])
            self.env[n.name] = _Full(self.module(last, join, self.full_on(x, last), *rows), last)
            return
        split = pieces[0][1].split
        w, b = module.weight.detach(), None if module.bias is None else module.bias.detach()
        # a Linear works on the last dimension of a tensor of any rank; a convolution on channels (dim 1)
        dim = len(n.meta["tensor_meta"].shape) - 1 if isinstance(module, nn.Linear) else 1
        if split == "out":
            parts = []
            for c, p in pieces:
                if isinstance(module, nn.Conv2d) and module.groups > 1:
                    sub: nn.Module = GroupSlice(module, p.start, p.stop)
                else:
                    sub = sliced(module, w[p.start:p.stop], None if b is None else b[p.start:p.stop])
                    if self.graph.layer(n.name).tied:
                        sub = self.stored_rows(c, self.graph.layer(n.name).tied, p.start, p.stop, sub)
                units = w.shape[0]
                parts.append((self.module(c, sub, self.full_on(x, c)), c, p.start / units, p.stop / units))
            self.env[n.name] = _Slices(parts, dim)
            return
        width = w.shape[1]
        partial = None
        for c, p in pieces:
            xs = self.slice_on(x, c, p.start / width, p.stop / width, int(n.args[0].meta["tensor_meta"].shape[dim]),
                               dim)
            part = self.module(c, sliced(module, w[:, p.start:p.stop], None), xs)
            partial = part if partial is None else self.emit(c, "call_function", operator.add, (partial, part))
        last = pieces[-1][0]
        if b is not None:
            partial = self.module(last, BiasAdd(b, dim), partial)
        self.env[n.name] = _Full(partial, last)

    def lstm(self, n: fx.Node, lstm: QLSTM, pieces) -> None:
        H = lstm.hidden_size
        # every chip rounds the input sequence it receives (x_t is needed by all of them each step)
        xq = {c: self.emit(c, "call_module", self.own(f"{n.target}.q_x"), (self.full_on(n.args[0].name, c),))
              for c, _ in pieces}
        io, pre = lstm.q_h.format, lstm.q_pre.format
        steps = int(n.args[0].meta["tensor_meta"].shape[1])
        cells = {}
        for c, p in pieces:
            rows = torch.cat([torch.arange(p.start, p.stop) + k * H for k in range(4)])
            cells[c] = self.add(LstmSlice(lstm.weight_ih[rows], lstm.weight_hh[rows], lstm.bias[rows], io=io,
                                          pre=pre))
        seqs = self.unroll(pieces, xq, cells, H, steps)
        self.env[n.name] = _Slices([(seqs[c][-1], c, p.start / H, p.stop / H) for c, p in pieces])

    def unroll(self, pieces, x: dict, cells: dict, H: int, steps: int) -> dict:
        """The steps of a recurrent layer split by hidden units: chip c runs its cell ``cells[c]`` on x_t (from
        its copy ``x[c]`` of the sequence), the whole previous h (every chip's slice, exchanged; zeros first)
        and its own c. Returns per chip its h slice of every step."""
        seqs: dict = {c: [] for c, _ in pieces}
        c_state: dict = {}
        for t in range(steps):
            for c, p in pieces:
                x_t = self.emit(c, "call_function", operator.getitem, (x[c], (slice(None), t)))
                if t == 0:
                    zeros = self.emit(c, "call_function", torch.zeros_like, (
                        self.emit(c, "call_function", operator.getitem, (x_t, (slice(None), slice(0, 1)))),))
                    h_full = self.emit(c, "call_method", "expand", (zeros, -1, H))
                    c_prev = self.emit(c, "call_method", "expand", (zeros, -1, p.units))
                else:
                    h_full = self.emit(c, "call_function", torch.cat, ([seqs[d][t - 1] for d, _ in pieces],),
                                       {"dim": 1})
                    c_prev = c_state[c]
                out = self.emit(c, "call_module", cells[c], (x_t, h_full, c_prev))
                seqs[c].append(self.emit(c, "call_function", operator.getitem, (out, 0)))
                c_state[c] = self.emit(c, "call_function", operator.getitem, (out, 1))
        return seqs

    def unroll_projected(self, pieces, x: dict, cells: dict, P: int, steps: int) -> fx.Node:
        """An LSTM with a projection split by cells: every step each chip computes its cells and its share of
        the projection; the shares are added along the chips in chip order (partial sums), and the last chip
        sends the whole h to the others for the next step. Returns every step's h stacked, on the last chip."""
        last = pieces[-1][0]
        h_prev: fx.Node | None = None
        c_state: dict = {}
        outs = []
        for t in range(steps):
            total = None
            for c, p in pieces:
                x_t = self.emit(c, "call_function", operator.getitem, (x[c], (slice(None), t)))
                if h_prev is None:
                    zeros = self.emit(c, "call_function", torch.zeros_like, (
                        self.emit(c, "call_function", operator.getitem, (x_t, (slice(None), slice(0, 1)))),))
                    h_in = self.emit(c, "call_method", "expand", (zeros, -1, P))
                    c_prev = self.emit(c, "call_method", "expand", (zeros, -1, p.units))
                else:
                    h_in, c_prev = h_prev, c_state[c]
                out = self.emit(c, "call_module", cells[c], (x_t, h_in, c_prev))
                share = self.emit(c, "call_function", operator.getitem, (out, 0))
                c_state[c] = self.emit(c, "call_function", operator.getitem, (out, 1))
                total = share if total is None else self.emit(c, "call_function", operator.add, (total, share))
            h_prev = total
            outs.append(total)
        return self.emit(last, "call_function", torch.stack, (outs,), {"dim": 1})

    def recurrent(self, n: fx.Node, layer: Recurrent, pieces) -> None:
        """An LSTM/GRU layer split by hidden units: every step each chip computes its units from x_t and the
        whole previous h (the slices of all chips, exchanged), then stacks its units' h over time."""
        H = layer.hidden_size
        x = {c: self.full_on(n.args[0].name, c) for c, _ in pieces}
        steps = int(n.args[0].meta["tensor_meta"].shape[1])
        cells = {c: self.add(RecurrentSlice(layer, p.start, p.stop)) for c, p in pieces}
        if layer.proj_size:
            self.env[n.name] = _Full(self.unroll_projected(pieces, x, cells, layer.proj_size, steps), pieces[-1][0])
            return
        seqs = self.unroll(pieces, x, cells, H, steps)
        self.env[n.name] = _Slices([(self.emit(c, "call_function", torch.stack, (seqs[c],), {"dim": 1}), c,
                                     p.start / H, p.stop / H) for c, p in pieces], dim=2)

    def target_of(self, n: fx.Node) -> Any:
        return self.own(str(n.target)) if n.op in ("call_module", "get_attr") else n.target

    def weightless(self, n: fx.Node) -> None:
        owner = self.graph.owner[n.name]
        tensors = [a for a in n.all_input_nodes]
        # the op runs where its owner's output lies (slice by slice when that output is split)
        lead = next((a for a in tensors if self.graph.owner.get(a.name) == owner), tensors[0] if tensors else None)
        main = self.env[lead.name] if lead is not None else None
        if isinstance(main, _Slices) and main.dim == 1 and channelwise(n, self.modules) and aligned(n):
            parts = []
            for node, c, f0, f1 in main.parts:
                def arg(a, node=node, c=c, f0=f0, f1=f1):
                    if a.name == lead.name:
                        return node
                    return self.slice_on(a.name, c, f0, f1, int(a.meta["tensor_meta"].shape[1]))
                target = self.target_of(n)
                if n.op == "call_module" and state_of(self.modules[str(n.target)]):    # a batch norm's channels
                    width = int(n.meta["tensor_meta"].shape[1])
                    target = self.add(channel_slice(self.modules[str(n.target)], round(f0 * width),
                                                    round(f1 * width)))
                parts.append((self.emit(c, n.op, target, fx.node.map_arg(n.args, arg),
                                        fx.node.map_arg(n.kwargs, arg)), c, f0, f1))
            self.env[n.name] = _Slices(parts)
            return
        if owner == HOST:
            chip = HOST
        else:
            chip = self.mapping.pieces_of(owner)[-1][0]
        self.env[n.name] = _Full(self.emit(chip, n.op, self.target_of(n),
                                           fx.node.map_arg(n.args, lambda a: self.full_on(a.name, chip)),
                                           fx.node.map_arg(n.kwargs, lambda a: self.full_on(a.name, chip))), chip)


def chip_programs(graph: OpGraph, mapping: Mapping) -> ChipPrograms:
    """Rewrite ``graph`` placed by ``mapping`` into per-chip GraphModules (one per wake-up)."""
    expander = _Expander(graph, mapping)
    root, g, chip = expander.run()
    root.eval()
    with lazy_graph_modules():               # its code is generated only if someone calls it
        expanded = fx.GraphModule(root, g)
    return cut(expanded, chip, gated=expander.route_node is not None)
