"""The work of one inference, wake by wake: read off the chips' rewritten graph once, before any input runs.

Usage::

    from illusion_torch.runtime.profile import profile
    p = profile(system)                        # system = il.partition(...)
    p.wakes[0].chip, p.wakes[0].work[None].macs
    [(t.src, t.dst, t.bytes) for t in p.transfers]      # every message, host I/O included
    p.weights, p.stores                        # what each chip keeps in memory, and how often it is touched

Every node of the rewritten graph (``ChipPrograms.expanded``) belongs to one chip and one wake; its work is
counted from its shapes (torch.fx ShapeProp on one input): a convolution or linear slice costs
out-values × fan-in MACs and reads each weight once per output position; a rounding point, ReLU, add or
pooling comparison is an op per value; a rounding point or pooling output is an activation write; a value
consumed on another chip is a message. Work that belongs to a gated branch (D2NN's ``branches``) is kept
apart under the route value that runs it, so the runtime charges it only for the inputs that take it.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..chips import BiasAdd, EmbeddingRows, LstmSlice
from ..graph import HOST, PARTIAL_SUM_BYTES
from ..layers import QLSTM, QuantPoint
from .counters import Counters

__all__ = ["profile", "Profile", "WakeWork", "Transfer", "WeightSlot", "Store"]

Branch = int | None

_VIEWS_FUNCTIONS = {operator.getitem, torch.cat, torch.flatten, torch.zeros_like, torch.reshape}
_VIEWS_METHODS = {"expand", "view", "reshape", "flatten", "contiguous", "size"}
_POOL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_POOL_FUNCTIONS = {F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d}
_FREE_MODULES = (nn.Flatten, nn.Dropout, nn.Identity)
LSTM_OPS_PER_UNIT = 16          # per hidden unit and step: 4 gate nonlinearities + 4 roundings, f·c, i·g, +,
#                                 round c, tanh c, o·tanh, round h, round c-in


@dataclass
class WakeWork:
    """One wake-up of one chip: its work per inference, by branch (None = every input)."""

    index: int
    chip: int
    work: dict[Branch, Counters] = field(default_factory=dict)

    def add(self, branch: Branch, c: Counters) -> None:
        self.work[branch] = self.work.get(branch, Counters()) + c

    def runs_for(self, route: Branch) -> bool:
        return None in self.work or route in self.work

    def for_route(self, route: Branch) -> Counters:
        total = self.work.get(None, Counters())
        return total + self.work[route] if route is not None and route in self.work else total


@dataclass
class Transfer:
    """A value produced on ``src`` and consumed on ``dst`` (chip index or HOST), once per inference."""

    tensor: str
    src: int | str
    dst: int | str
    src_wake: int | None
    dst_wake: int | None
    bytes: int
    branch: Branch


@dataclass
class WeightSlot:
    """A parameter a chip stores: where it lives in the programs and how often each value is read."""

    chip: int
    module: str                 # attribute path in the rewritten graph's root
    param: str
    label: str                  # the model's layer and the slice
    reads_per_value: float      # per inference
    branch: Branch
    numel: int = 0


@dataclass
class Store:
    """An activation a chip writes into its buffer (its own result, or a message it receives)."""

    chip: int
    name: str
    numel: int
    bytes_per_value: int
    writes_per_value: float     # per inference
    branch: Branch
    kind: str                   # "activation" | "inbox"
    nodes: list[str] = field(default_factory=list)   # the rewritten graph's values written here


@dataclass
class Profile:
    n_chips: int
    wakes: list[WakeWork]
    transfers: list[Transfer]
    weights: list[WeightSlot]
    stores: list[Store]
    routes: list[Branch]        # [None] for a model without a gate, else its route values
    events: list[tuple[int, int, int]] = field(default_factory=list)   # writes in program order:
    #                             (wake, position in the graph, index into stores), one per buffer write
    weight_bytes: int = 1       # bytes per stored weight value

    def work_of_chip(self, chip: int, route: Branch) -> Counters:
        total = Counters()
        for w in self.wakes:
            if w.chip == chip and w.runs_for(route):
                total = total + w.for_route(route)
        return total

    def weight_values(self, chip: int, route: Branch) -> int:
        """Weight values stored on ``chip`` that an inference on ``route`` uses."""
        return sum(w.numel for w in self.weights if w.chip == chip and (w.branch is None or w.branch == route))

    def inter_chip_bytes(self, route: Branch | str = "all") -> int:
        """Bytes between chips per inference (``route="all"``: every branch, as the message plan counts)."""
        return sum(t.bytes for t in self.transfers if t.src != HOST and t.dst != HOST
                   and (route == "all" or t.branch is None or t.branch == route))


def _numel(meta) -> int:
    shape = getattr(meta, "shape", None)      # None for a tuple of outputs (an LSTM slice's h, c)
    return int(math.prod(shape[1:])) if isinstance(shape, torch.Size) else 0


def _is_pool(n: fx.Node, modules: dict) -> bool:
    module = modules.get(str(n.target)) if n.op == "call_module" else None
    return isinstance(module, _POOL_MODULES) or (n.op == "call_function" and n.target in _POOL_FUNCTIONS)


def _branch_of(node: fx.Node, branches: dict[str, int]) -> Branch:
    orig = node.meta.get("orig", "")
    for prefix, route in branches.items():
        if orig == prefix or orig.startswith(prefix + "."):
            return route
    return None


def profile(system) -> Profile:
    """Count the per-inference work of every wake of ``system``'s chip programs."""
    programs = system.chips
    gm, chip_of, wake_of = programs.expanded, programs.chip_of, programs.wake_of
    placeholder = next(n for n in system.graph.gm.graph.nodes if n.op == "placeholder")
    meta = placeholder.meta["tensor_meta"]
    example = torch.zeros((1, *meta.shape[1:]), dtype=meta.dtype)
    ShapeProp(gm).propagate(example)

    model = system.model
    fixed = getattr(model, "weight_format", None) is not None
    word = (system.graph.word_bits + 7) // 8
    raw_bytes = PARTIAL_SUM_BYTES if fixed else word
    weight_bits = system.graph.word_bits
    branches: dict[str, int] = dict(getattr(model, "branches", {}) or {})
    routes: list[Branch] = sorted(set(branches.values())) if branches else [None]

    modules = dict(gm.named_modules())
    wakes: dict[int, WakeWork] = {}
    vbytes: dict[str, int] = {}
    weights: list[WeightSlot] = []
    stores: list[Store] = []

    def add(node: fx.Node, c: Counters) -> None:
        w = wake_of[node.name]
        wakes.setdefault(w, WakeWork(w, chip_of[node.name])).add(_branch_of(node, branches), c)

    slots: dict[tuple[str, str], WeightSlot] = {}

    def weight_slots(node: fx.Node, module: nn.Module, reads: dict[str, float]) -> float:
        """Register the node's parameters (once per module: an LSTM slice is called every step)."""
        bits = 0.0
        for pname, p in module.named_parameters():
            r = reads.get(pname, reads.get("*", 1.0))
            key = (str(node.target), pname)
            if key in slots:
                slots[key].reads_per_value += r
            else:
                slots[key] = WeightSlot(chip_of[node.name], str(node.target), pname,
                                        f"{node.meta.get('orig', node.name)}.{pname} ({node.target})", r,
                                        _branch_of(node, branches), p.numel())
                weights.append(slots[key])
            bits += p.numel() * r
        return bits

    buffers: dict[tuple, int] = {}
    events: list[tuple[int, int, int]] = []
    pos = {n.name: i for i, n in enumerate(gm.graph.nodes)}

    def buffer(key: tuple, chip: int, name: str, numel: int, nbytes: int, writes: float, branch: Branch,
               kind: str, when: tuple[int, int]) -> None:
        """One buffer per key: a value rewritten every step (LSTM h/c, received h slices) reuses its buffer."""
        if key in buffers:
            stores[buffers[key]].writes_per_value += writes
        else:
            buffers[key] = len(stores)
            stores.append(Store(chip, name, numel, nbytes, writes, branch, kind))
        stores[buffers[key]].nodes.append(name)
        events.extend([(*when, buffers[key])] * int(round(writes)))

    def store(node: fx.Node, numel: int, nbytes: int, writes: float = 1.0) -> Counters:
        key = ("act", str(node.target)) if n.op == "call_module" and isinstance(
            modules.get(str(node.target)), LstmSlice) else ("act", node.name)
        buffer(key, chip_of[node.name], node.name, numel, nbytes, writes, _branch_of(node, branches), "activation",
               (wake_of[node.name], pos[node.name]))
        return Counters(act_writes=numel * writes, act_write_bits=numel * writes * nbytes * 8)

    for n in gm.graph.nodes:
        if n.op in ("placeholder", "output"):
            if n.op == "placeholder":
                vbytes[n.name] = 1 if fixed else word
            continue
        module = modules.get(str(n.target)) if n.op == "call_module" else None
        ins = [a for a in n.all_input_nodes]
        in_bytes = max((vbytes.get(a.name, raw_bytes) for a in ins), default=raw_bytes)
        out_meta = n.meta.get("tensor_meta")
        out = _numel(out_meta)
        vbytes[n.name] = in_bytes
        if chip_of.get(n.name) == HOST:
            if isinstance(module, QuantPoint):
                vbytes[n.name] = module.format.bytes
            continue

        if isinstance(module, nn.Conv2d):
            spatial = int(math.prod(out_meta.shape[2:]))
            k = module.weight[0, 0].numel()
            bits = weight_slots(n, module, {"*": spatial}) * weight_bits
            add(n, Counters(macs=out * (module.in_channels // module.groups) * k, layer_calls=1,
                            weight_reads=bits / weight_bits, weight_read_bits=bits))
            vbytes[n.name] = raw_bytes
        elif isinstance(module, nn.Linear):
            positions = out // module.out_features
            bits = weight_slots(n, module, {"*": positions}) * weight_bits
            macs = out * module.in_features
            add(n, Counters(macs=macs, fc_macs=macs, layer_calls=1, weight_reads=bits / weight_bits,
                            weight_read_bits=bits))
            vbytes[n.name] = raw_bytes
        elif isinstance(module, LstmSlice):
            rows, units = module.bias.numel(), module.bias.numel() // 4
            fan_in = module.weight_ih.shape[1] + module.weight_hh.shape[1]
            bits = weight_slots(n, module, {"*": 1.0}) * weight_bits
            io_bytes = (module.io[0] + 7) // 8
            add(n, Counters(macs=rows * fan_in, lstm_macs=rows * fan_in, ops=rows + LSTM_OPS_PER_UNIT * units,
                            layer_calls=1,
                            weight_reads=bits / weight_bits, weight_read_bits=bits) +
                store(n, 2 * units, io_bytes))
            vbytes[n.name] = io_bytes
        elif isinstance(module, QLSTM):
            steps = int(n.args[0].meta["tensor_meta"].shape[1])
            H = module.hidden_size
            bits = weight_slots(n, module, {"*": float(steps)}) * weight_bits
            lstm = steps * 4 * H * (module.input_size + H)
            add(n, Counters(macs=lstm, lstm_macs=lstm,
                            ops=steps * (4 * H + LSTM_OPS_PER_UNIT * H), layer_calls=steps,
                            weight_reads=bits / weight_bits, weight_read_bits=bits) +
                store(n, 2 * H, module.q_h.format.bytes, writes=steps))
            vbytes[n.name] = module.q_h.format.bytes
        elif isinstance(module, (EmbeddingRows, nn.Embedding)):
            bits = weight_slots(n, module, {"*": out / max(1, module.weight.numel())}) * weight_bits
            add(n, Counters(layer_calls=1, weight_reads=bits / weight_bits, weight_read_bits=bits))
            vbytes[n.name] = raw_bytes
        elif isinstance(module, BiasAdd):
            spatial = out // module.bias.numel()
            bits = weight_slots(n, module, {"*": spatial}) * weight_bits
            add(n, Counters(ops=out, weight_reads=bits / weight_bits, weight_read_bits=bits) +
                store(n, out, raw_bytes))
            vbytes[n.name] = raw_bytes
        elif isinstance(module, QuantPoint):
            vbytes[n.name] = module.format.bytes
            users = list(n.users)
            if users and all(chip_of.get(u.name) == chip_of[n.name] and _is_pool(u, modules) for u in users):
                add(n, Counters(ops=out))       # max-pooled as it is computed: the running max stays in the
                #                                 4-word SRAM write-back buffer; only the pooled value is written
            else:
                add(n, Counters(ops=out) + store(n, out, module.format.bytes))
        elif _is_pool(n, modules):
            add(n, Counters(ops=_numel(ins[0].meta.get("tensor_meta"))) + store(n, out, in_bytes))
        elif isinstance(module, _FREE_MODULES) or (n.op == "call_function" and n.target in _VIEWS_FUNCTIONS) or \
                (n.op == "call_method" and n.target in _VIEWS_METHODS):
            if n.target is operator.getitem and isinstance(n.args[0], fx.Node) and \
                    isinstance(modules.get(str(n.args[0].target)), LstmSlice | QLSTM):
                vbytes[n.name] = vbytes[n.args[0].name]
        elif n.op == "call_function" and n.target in (operator.add, torch.add) and \
                all(vbytes.get(a.name) == raw_bytes for a in ins) and len(ins) == 2:
            add(n, Counters(ops=out) + store(n, out, raw_bytes))           # partial sums of an input split
        else:
            add(n, Counters(ops=out))

    for name, w in wake_of.items():           # wakes that only slice and send still wake their chip
        if chip_of[name] != HOST:
            wakes.setdefault(w, WakeWork(w, chip_of[name]))
    transfers = _transfers(gm, chip_of, wake_of, vbytes, branches, programs.gated)
    by_name = {n.name: n for n in gm.graph.nodes}
    for t in transfers:
        if t.src != HOST:
            wakes[t.src_wake].add(t.branch, Counters(bytes_sent=t.bytes, messages_sent=1))
        if t.dst != HOST:
            wakes[t.dst_wake].add(t.branch, Counters(bytes_received=t.bytes, messages_received=1))
            bpv = max(1, vbytes.get(t.tensor, 1))
            node = by_name[t.tensor]
            orig = node.meta.get("orig", t.tensor) if node.target is operator.getitem else t.tensor
            buffer(("inbox", t.dst, t.src, orig, t.bytes), t.dst, t.tensor, t.bytes // bpv, bpv, 1.0,
                   t.branch, "inbox", (t.dst_wake, -1))
            wakes[t.dst_wake].add(t.branch, Counters(act_writes=t.bytes // bpv, act_write_bits=8 * t.bytes))
    n_chips = system.mapping.n_chips
    return Profile(n_chips, [wakes[k] for k in sorted(wakes) if wakes[k].chip != HOST], transfers, weights, stores,
                   routes, sorted(events), (weight_bits + 7) // 8)


def _transfers(gm: fx.GraphModule, chip_of: dict, wake_of: dict, vbytes: dict, branches: dict,
               gated: bool) -> list[Transfer]:
    out: list[Transfer] = []
    seen: set[tuple[str, int | str]] = set()
    for n in gm.graph.nodes:
        if n.op == "output":
            result = n.args[0][0] if gated else n.args[0]
            flat: list[fx.Node] = []
            fx.node.map_arg(result, flat.append)
            consumers = [(a, HOST, None) for a in flat]
        else:
            consumers = [(a, chip_of.get(n.name), wake_of.get(n.name)) for a in n.all_input_nodes]
        for a, dst, dst_wake in consumers:
            src = chip_of.get(a.name, HOST)
            if src == dst or dst is None or (a.name, dst) in seen:
                continue
            seen.add((a.name, dst))
            nbytes = _numel(a.meta.get("tensor_meta")) * vbytes.get(a.name, PARTIAL_SUM_BYTES)
            branch = _branch_of(a, branches) if _branch_of(a, branches) is not None else (
                _branch_of(n, branches) if n.op != "output" else None)
            out.append(Transfer(a.name, src, dst, wake_of.get(a.name), dst_wake, nbytes, branch))
    return out
