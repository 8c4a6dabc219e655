"""Count the per-inference work of every wake of a system's chip programs, once, before any input runs.

Usage::

    from illusion_torch.cost.work import profile
    p = profile(graph, programs, n_chips=8)      # a cost.profile.Profile

Every node of the rewritten graph (``ChipPrograms.expanded``) belongs to one chip and one wake; its work is
counted from its shapes (torch.fx ShapeProp on one input): a convolution or linear slice costs
out-values × fan-in MACs and reads each weight once per output position; a rounding point, ReLU, add or
pooling comparison is an op per value; a rounding point or pooling output is an activation write; a value
consumed on another chip is a message. The weighted modules a chip program holds are counted by
``_LAYER_WORK``; every weightless node by its role in the op table (``partitioning.ops``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..fixed.layers import QLSTM, QuantPoint
from ..partitioning.indices import index_bits
from ..partitioning.ops import Role, op_of, state_of, stateful
from ..partitioning.recurrent import GATES, Recurrent, RecurrentSlice
from ..partitioning.slices import BiasAdd, EmbeddingRows, GroupSlice, LstmSlice, TableLookup, embedding_share_bytes
from ..partitioning.trace import HOST, PARTIAL_SUM_BYTES, Chip, OpGraph
from ..partitioning.wakes import ChipPrograms
from .counters import Counters
from .profile import Branch, LayerShape, LayerWork, Profile, Store, StoreKind, Transfer, WakeWork, WeightSlot
from .steps_as_batch import embedding_as_batch, recurrent_as_batch

if TYPE_CHECKING:
    from ..partitioning.partition import Partition

__all__ = ["profile", "expanded_shapes", "LSTM_OPS_PER_UNIT"]

# per hidden unit and step of torch's float cells: LSTM — σ(i), σ(f), tanh(g), σ(o), f·c, i·g, +, tanh(c), o·tanh
# = 9; GRU — r: +, σ; z: +, σ; n: r·hn, +, tanh; h: 1 − z, ·n, z·h, + = 11
RECURRENT_OPS_PER_UNIT = {"lstm": 9, "gru": 11}
LSTM_OPS_PER_UNIT = 16          # per hidden unit and step: 4 gate nonlinearities + 4 roundings, f·c, i·g, +,
#                                 round c, tanh c, o·tanh, round h, round c-in


def _numel(meta) -> int:
    shape = getattr(meta, "shape", None)      # None for a tuple of outputs (an LSTM slice's h, c)
    return int(math.prod(shape[1:])) if isinstance(shape, torch.Size) else 0


class _Counter:
    """The state of one count: per wake its work, per chip its weights and buffers, per value its bytes."""

    def __init__(self, graph: OpGraph, programs: ChipPrograms) -> None:
        self.gm, self.chip_of, self.wake_of = programs.expanded, programs.chip_of, programs.wake_of
        self.modules = dict(self.gm.named_modules())
        self.fixed = graph.config.fixed_point
        self.weight_bits = graph.word_bits
        word = (graph.word_bits + 7) // 8
        self.raw_bytes = PARTIAL_SUM_BYTES if self.fixed else word     # an unrounded sum
        self.input_bytes = 1 if self.fixed else word
        self.branches = dict(graph.config.branches)
        self.wakes: dict[int, WakeWork] = {}
        self.vbytes: dict[str, int] = {}                # bytes per value of each node's result
        self.weights: list[WeightSlot] = []
        self.slots: dict[tuple[str, str], WeightSlot] = {}
        self.stored: dict[tuple, tuple[str, str]] = {}    # (chip, id(parameter)) -> the slot that stores it
        self.stores: list[Store] = []
        self.buffers: dict[tuple, int] = {}
        self.events: list[tuple[int, int, int]] = []
        self.position = {n.name: i for i, n in enumerate(self.gm.graph.nodes)}
        self.config = graph.config
        self.calls_of: dict[str, int] = {}              # module -> its nodes (a recurrent slice: one per step)
        for n in self.gm.graph.nodes:
            if n.op == "call_module":
                self.calls_of[str(n.target)] = self.calls_of.get(str(n.target), 0) + 1
        self.started: set[str] = set()                  # modules whose first node has been counted

    def batch_of(self, node: fx.Node) -> int | None:
        """The batch the simulator scheduled this node's steps as (``WorkloadConfig.steps_as_batch``)."""
        return self.config.batch_of(node.meta.get("orig", "")) if self.config.steps_as_batch else None

    def first_call(self, node: fx.Node) -> bool:
        """True for the first node that calls ``node``'s module (a recurrent slice's first step)."""
        target = str(node.target)
        first = target not in self.started
        self.started.add(target)
        return first

    def branch_of(self, node: fx.Node) -> Branch:
        orig = node.meta.get("orig", "")
        for prefix, route in self.branches.items():
            if orig == prefix or orig.startswith(prefix + "."):
                return route
        return None

    def add(self, node: fx.Node, c: Counters) -> None:
        w = self.wake_of[node.name]
        self.wakes.setdefault(w, WakeWork(w, self.chip_of[node.name])).add(self.branch_of(node), c)  # type: ignore[arg-type]

    def layer(self, node: fx.Node, shape: LayerShape, calls: float, weight_reads: float) -> None:
        """The node computes ``shape`` ``calls`` times (what a dataflow scheduler prices)."""
        w = self.wake_of[node.name]
        wake = self.wakes.setdefault(w, WakeWork(w, self.chip_of[node.name]))  # type: ignore[arg-type]
        label = f"{node.meta.get('orig', node.name)} ({node.target})"
        wake.add_layer(self.branch_of(node), LayerWork(label, shape, calls, weight_reads))

    def read_weights(self, node: fx.Node, module: nn.Module, reads_per_value: float) -> Counters:
        """Register the node's parameters (once per module: an LSTM slice is called every step); their reads."""
        values = 0.0
        for pname, p in state_of(module):
            key = (str(node.target), pname)
            key = self.stored.setdefault((self.chip_of[node.name], id(p)), key)   # a tied head's rows: its table's
            if key in self.slots:
                self.slots[key].reads_per_value += reads_per_value
            else:
                self.slots[key] = WeightSlot(self.chip_of[node.name], str(node.target), pname,  # type: ignore[arg-type]
                                             f"{node.meta.get('orig', node.name)}.{pname} ({node.target})",
                                             reads_per_value, self.branch_of(node), p.numel())
                self.weights.append(self.slots[key])
            values += p.numel() * reads_per_value
        return Counters(weight_reads=values, weight_read_bits=values * self.weight_bits)

    def buffer(self, key: tuple, chip: Chip, name: str, numel: int, nbytes: int, writes: float, branch: Branch,
               kind: StoreKind, when: tuple[int, int]) -> None:
        """One buffer per key: a value rewritten every step (LSTM h/c, received h slices) reuses its buffer."""
        if key in self.buffers:
            self.stores[self.buffers[key]].writes_per_value += writes
        else:
            self.buffers[key] = len(self.stores)
            self.stores.append(Store(chip, name, numel, nbytes, writes, branch, kind))  # type: ignore[arg-type]
        self.stores[self.buffers[key]].nodes.append(name)
        self.events.extend([(*when, self.buffers[key])] * int(round(writes)))

    def store(self, node: fx.Node, numel: int, nbytes: int, writes: float = 1.0) -> Counters:
        """The node's value written to its chip's buffer ``writes`` times per inference."""
        per_module = isinstance(self.modules.get(str(node.target)), LstmSlice | RecurrentSlice)
        key = ("act", str(node.target)) if per_module else ("act", node.name)
        self.buffer(key, self.chip_of[node.name], node.name, numel, nbytes, writes, self.branch_of(node),
                    StoreKind.ACTIVATION, (self.wake_of[node.name], self.position[node.name]))
        return Counters(act_writes=numel * writes, act_write_bits=numel * writes * nbytes * 8)

    # -- nodes ------------------------------------------------------------------------------------------
    def count(self, n: fx.Node) -> None:
        if n.op == "placeholder":
            self.vbytes[n.name] = self.input_bytes
            return
        if n.op == "output":
            return
        module = self.modules.get(str(n.target)) if n.op == "call_module" else None
        ins = n.all_input_nodes
        self.vbytes[n.name] = max((self.vbytes.get(a.name, self.raw_bytes) for a in ins), default=self.raw_bytes)
        if self.chip_of.get(n.name) == HOST:
            if isinstance(module, QuantPoint):
                self.vbytes[n.name] = module.format.bytes
            return
        if n.op == "get_attr":
            self.constant(n)
            return
        layer = next((fn for cls, fn in _LAYER_WORK.items() if isinstance(module, cls)), None)
        if layer is not None:
            layer(self, n, module)
        elif module is not None and state_of(module):
            self.stateful(n, module)
        else:
            self.weightless(n, module)

    def constant(self, n: fx.Node) -> None:
        """A stored tensor the chip reads once per inference (a token, a positional embedding, a table)."""
        *parent, leaf = str(n.target).split(".")
        value = attrgetter(str(n.target))(self.gm)
        key = (str(n.target), "")
        if key not in self.slots:
            self.slots[key] = WeightSlot(self.chip_of[n.name], ".".join(parent), leaf,  # type: ignore[arg-type]
                                         f"{n.meta.get('orig', n.name)} ({n.target})", 1.0, self.branch_of(n),
                                         value.numel())
            self.weights.append(self.slots[key])
        self.add(n, Counters(weight_reads=value.numel(), weight_read_bits=value.numel() * self.weight_bits))
        self.vbytes[n.name] = (self.weight_bits + 7) // 8

    def stateful(self, n: fx.Node, module: nn.Module) -> None:
        """A norm or another op with state: ``ops_per_value`` per output value (the op table's rule); each
        stored value read once per output value that uses it (output values / its largest state tensor)."""
        out = _numel(n.meta.get("tensor_meta"))
        rule = stateful(module)
        per_value = rule.ops_per_value if rule is not None else 1
        largest = max(t.numel() for _, t in state_of(module))
        self.add(n, Counters(ops=out * per_value) + self.read_weights(n, module, out / max(1, largest)))

    def weightless(self, n: fx.Node, module: nn.Module | None) -> None:
        out = _numel(n.meta.get("tensor_meta"))
        role = op_of(n, self.modules).role
        if isinstance(module, QuantPoint):
            self.vbytes[n.name] = module.format.bytes
            users = list(n.users)
            if users and all(self.chip_of.get(u.name) == self.chip_of[n.name] and
                             op_of(u, self.modules).pool for u in users):
                self.add(n, Counters(ops=out))       # max-pooled as it is computed: the running max stays in the
                #                                      4-word SRAM write-back buffer; only the pooled value is written
            else:
                self.add(n, Counters(ops=out) + self.store(n, out, module.format.bytes))
        elif role in (Role.POOL_MAX, Role.POOL_AVG):
            compared = _numel(n.all_input_nodes[0].meta.get("tensor_meta"))
            self.add(n, Counters(ops=compared) + self.store(n, out, self.vbytes[n.name]))
        elif role is Role.VIEW:
            src = n.args[0] if n.args else None
            if n.target is operator.getitem and isinstance(src, fx.Node) and \
                    isinstance(self.modules.get(str(src.target)), LstmSlice | QLSTM | RecurrentSlice):
                self.vbytes[n.name] = self.vbytes[src.name]
        elif role is Role.MATMUL:
            inner = n.all_input_nodes[0].meta["tensor_meta"].shape[-1]
            self.add(n, Counters(macs=out * int(inner)))
        elif role is Role.ADD and len(n.all_input_nodes) == 2 and \
                all(self.vbytes.get(a.name) == self.raw_bytes for a in n.all_input_nodes):
            self.add(n, Counters(ops=out) + self.store(n, out, self.raw_bytes))    # partial sums of an input split
        else:
            self.add(n, Counters(ops=out))

    # -- messages ---------------------------------------------------------------------------------------
    def transfers(self, gated: bool) -> list[Transfer]:
        """Every value consumed on another chip than its producer's (the host included), once each."""
        out: list[Transfer] = []
        seen: set[tuple[str, Chip]] = set()
        for n in self.gm.graph.nodes:
            if n.op == "output":
                result = n.args[0][0] if gated else n.args[0]
                flat: list[fx.Node] = []
                fx.node.map_arg(result, flat.append)
                consumers = [(a, HOST, None) for a in flat]
            else:
                consumers = [(a, self.chip_of.get(n.name), self.wake_of.get(n.name)) for a in n.all_input_nodes]
            for a, dst, dst_wake in consumers:
                src = self.chip_of.get(a.name, HOST)
                if src == dst or dst is None or (a.name, dst) in seen:
                    continue
                seen.add((a.name, dst))
                nbytes = _numel(a.meta.get("tensor_meta")) * self.vbytes.get(a.name, PARTIAL_SUM_BYTES)
                rows = self.modules.get(str(a.target)) if a.op == "call_module" else None
                if isinstance(rows, EmbeddingRows):      # the rows of the lookups it holds: data-dependent, so
                    lookups = _numel(a.args[0].meta.get("tensor_meta")) * rows.weight.shape[1]   # its share
                    nbytes = embedding_share_bytes(lookups * self.vbytes[a.name], rows.weight.shape[0], rows.vocab)
                branch = self.branch_of(a)
                if branch is None and n.op != "output":
                    branch = self.branch_of(n)
                out.append(Transfer(a.name, src, dst, self.wake_of.get(a.name), dst_wake, nbytes, branch))
        return out

    def charge(self, transfers: list[Transfer]) -> None:
        """Each message's bytes to its sender's and receiver's wakes; the receiver writes it to its inbox."""
        by_name = {n.name: n for n in self.gm.graph.nodes}
        for t in transfers:
            if t.src != HOST:
                self.wakes[t.src_wake].add(t.branch, Counters(bytes_sent=t.bytes, messages_sent=1))  # type: ignore[index]
            if t.dst != HOST:
                wake = self.wakes[t.dst_wake]  # type: ignore[index]
                wake.add(t.branch, Counters(bytes_received=t.bytes, messages_received=1))
                bpv = max(1, self.vbytes.get(t.tensor, 1))
                node = by_name[t.tensor]
                orig = node.meta.get("orig", t.tensor) if node.target is operator.getitem else t.tensor
                self.buffer(("inbox", t.dst, t.src, orig, t.bytes), t.dst, t.tensor, t.bytes // bpv, bpv, 1.0,
                            t.branch, StoreKind.INBOX, (t.dst_wake, -1))  # type: ignore[arg-type]
                wake.add(t.branch, Counters(act_writes=t.bytes // bpv, act_write_bits=8 * t.bytes))


def _conv(k: _Counter, n: fx.Node, m: nn.Conv2d) -> None:
    meta = n.meta["tensor_meta"]
    spatial = int(math.prod(meta.shape[2:]))
    macs = _numel(meta) * (m.in_channels // m.groups) * m.weight[0, 0].numel()
    reads = k.read_weights(n, m, spatial)
    k.add(n, Counters(macs=macs, layer_calls=1) + reads)
    g = m.groups
    k.layer(n, LayerShape.conv(m.in_channels // g, m.out_channels // g, meta.shape[2:], m.kernel_size, m.stride),
            g, m.weight.numel() * spatial / g)
    k.vbytes[n.name] = k.raw_bytes


def _group_slice(k: _Counter, n: fx.Node, m: GroupSlice) -> None:
    meta = n.meta["tensor_meta"]
    spatial = int(math.prod(meta.shape[2:]))
    macs = _numel(meta) * m.in_per_group * m.weight[0, 0].numel()
    k.add(n, Counters(macs=macs, layer_calls=1) + k.read_weights(n, m, spatial))
    kernel = tuple(m.weight.shape[2:])
    for a, b, groups in m._runs():
        per = (b - a) // groups
        k.layer(n, LayerShape.conv(m.in_per_group, per, meta.shape[2:], kernel, m.stride), groups,
                per * m.weight[0].numel() * spatial)
    k.vbytes[n.name] = k.raw_bytes


def _linear(k: _Counter, n: fx.Node, m: nn.Linear) -> None:
    out = _numel(n.meta["tensor_meta"])
    macs = out * m.in_features
    positions = out // m.out_features
    k.add(n, Counters(macs=macs, fc_macs=macs, layer_calls=1) + k.read_weights(n, m, positions))
    k.layer(n, LayerShape.fc(m.in_features, m.out_features, positions), 1, m.weight.numel() * positions)
    k.vbytes[n.name] = k.raw_bytes


def _lstm_slice(k: _Counter, n: fx.Node, m: LstmSlice) -> None:
    rows = m.bias.numel()
    units = rows // 4
    macs = rows * (m.weight_ih.shape[1] + m.weight_hh.shape[1])
    k.add(n, Counters(macs=macs, lstm_macs=macs, ops=rows + LSTM_OPS_PER_UNIT * units, layer_calls=1) +
          k.read_weights(n, m, 1.0) + k.store(n, 2 * units, m.io.bytes))
    k.layer(n, LayerShape.fc(m.weight_ih.shape[1] + m.weight_hh.shape[1], rows), 1, macs)
    k.vbytes[n.name] = m.io.bytes


def _lstm(k: _Counter, n: fx.Node, m: QLSTM) -> None:
    steps = int(n.args[0].meta["tensor_meta"].shape[1])  # type: ignore[union-attr]
    H = m.hidden_size
    macs = steps * 4 * H * (m.input_size + H)
    k.add(n, Counters(macs=macs, lstm_macs=macs, ops=steps * (4 * H + LSTM_OPS_PER_UNIT * H), layer_calls=steps) +
          k.read_weights(n, m, float(steps)) + k.store(n, 2 * H, m.q_h.format.bytes, writes=steps))
    k.layer(n, LayerShape.fc(m.input_size + H, 4 * H), steps, macs)
    k.vbytes[n.name] = m.q_h.format.bytes


def _recurrent_work(kind: str, units: int, fan_in: int, proj: int = 0) -> Counters:
    """One step of ``units`` hidden units: every gate row's MACs, its three additions (two biases, input +
    hidden part), the per-unit gate arithmetic (``RECURRENT_OPS_PER_UNIT``) and a projection's MACs."""
    rows = GATES[kind] * units
    macs = rows * fan_in + proj * units
    return Counters(macs=macs, lstm_macs=macs, ops=3 * rows + RECURRENT_OPS_PER_UNIT[kind] * units, layer_calls=1)


def _recurrent_shapes(k: _Counter, n: fx.Node, kind: str, units: int, fan_in: int, proj: int, calls: int) -> None:
    """The gates (and a projection) as the FC layers a dataflow scheduler takes, ``calls`` times."""
    k.layer(n, LayerShape.fc(fan_in, GATES[kind] * units), calls, GATES[kind] * units * fan_in * calls)
    if proj:
        k.layer(n, LayerShape.fc(units, proj), calls, units * proj * calls)


def _recurrent_slice(k: _Counter, n: fx.Node, m: RecurrentSlice) -> None:
    units = m.stop - m.start
    fan_in = m.weight_ih.shape[1] + m.weight_hh.shape[1]
    proj = 0 if m.weight_hr is None else m.weight_hr.shape[0]
    state = units + (proj or units) if m.kind == "lstm" else units
    batch = k.batch_of(n)
    if batch is not None:                     # the simulator's steps as a batch (``cost.steps_as_batch``)
        work = recurrent_as_batch(k, n, m, kind=m.kind, units=units, fan_in=fan_in, proj=proj,
                                  steps=k.calls_of[str(n.target)], batch=batch, first=k.first_call(n))
        k.add(n, work + k.store(n, state, k.raw_bytes))
    else:
        k.add(n, _recurrent_work(m.kind, units, fan_in, proj) + k.read_weights(n, m, 1.0) +
              k.store(n, state, k.raw_bytes))
        _recurrent_shapes(k, n, m.kind, units, fan_in, proj, 1)
    k.vbytes[n.name] = k.raw_bytes


def _recurrent(k: _Counter, n: fx.Node, m: Recurrent) -> None:
    steps = int(n.args[0].meta["tensor_meta"].shape[1])  # type: ignore[union-attr]
    H = m.hidden_size
    state = H + m.output_size if m.kind == "lstm" else H
    batch = k.batch_of(n)
    if batch is not None:                     # the simulator's steps as a batch (``cost.steps_as_batch``)
        work = recurrent_as_batch(k, n, m, kind=m.kind, units=H, fan_in=m.input_size + m.output_size,
                                  proj=m.proj_size, steps=steps, batch=batch, first=True)
        k.add(n, work + k.store(n, state, k.raw_bytes, writes=steps))
        k.vbytes[n.name] = k.raw_bytes
        return
    one = _recurrent_work(m.kind, H, m.input_size + m.output_size, m.proj_size)
    work = Counters(macs=one.macs * steps, lstm_macs=one.lstm_macs * steps, ops=one.ops * steps, layer_calls=steps)
    k.add(n, work + k.read_weights(n, m, float(steps)) + k.store(n, state, k.raw_bytes, writes=steps))
    _recurrent_shapes(k, n, m.kind, H, m.input_size + m.output_size, m.proj_size, steps)
    k.vbytes[n.name] = k.raw_bytes


def _embedding(k: _Counter, n: fx.Node, m: nn.Module) -> None:
    """Each lookup reads one row: a chip holding part of the table reads its expected share of them."""
    lookups = _numel(n.args[0].meta.get("tensor_meta")) or 1  # type: ignore[union-attr]
    vocab = m.vocab if isinstance(m, EmbeddingRows) else m.weight.shape[0]
    batch = k.batch_of(n)
    if batch is not None:                     # the simulator's FC over the vocabulary (``cost.steps_as_batch``)
        rows, width = m.weight.shape
        k.add(n, embedding_as_batch(k, n, m, rows=int(rows), width=int(width), steps=lookups, batch=batch))
    else:
        k.add(n, Counters(layer_calls=1) + k.read_weights(n, m, lookups / vocab))
    k.vbytes[n.name] = k.raw_bytes


def _bias_add(k: _Counter, n: fx.Node, m: BiasAdd) -> None:
    out = _numel(n.meta["tensor_meta"])
    k.add(n, Counters(ops=out) + k.read_weights(n, m, out // m.bias.numel()) + k.store(n, out, k.raw_bytes))
    k.vbytes[n.name] = k.raw_bytes


_LAYER_WORK: dict[type, Callable[..., None]] = {
    nn.Conv2d: _conv, GroupSlice: _group_slice, nn.Linear: _linear, LstmSlice: _lstm_slice, QLSTM: _lstm,
    EmbeddingRows: _embedding, TableLookup: _embedding, nn.Embedding: _embedding, BiasAdd: _bias_add,
    Recurrent: _recurrent, RecurrentSlice: _recurrent_slice,
}


def expanded_shapes(graph: OpGraph, programs: ChipPrograms) -> None:
    """Every node of ``programs.expanded`` gets its ``tensor_meta`` (one input's shapes and dtypes), once: the
    work counts and the distributed wire formats (a flag's, say) read it."""
    if programs.expanded.meta.get("shapes_of_one_input"):
        return
    placeholder = next(n for n in graph.gm.graph.nodes if n.op == "placeholder")
    meta = placeholder.meta["tensor_meta"]
    dtype = programs.dtype if meta.dtype.is_floating_point else meta.dtype
    ShapeProp(programs.expanded).propagate(torch.zeros((1, *meta.shape[1:]), dtype=dtype))
    programs.expanded.meta["shapes_of_one_input"] = True


def profile_at(system: Partition, each: tuple[int, ...]) -> Profile:
    """The profile of ``system`` for inputs of shape ``each`` (one input's, past the batch): a model
    captured for token sequences of any length (``partitioning.exported.free_dims``), at another length.
    The chip programs' shapes are those of the example again afterwards."""
    programs = system.chips
    gm = programs.expanded
    saved = {n: n.meta.get("tensor_meta") for n in gm.graph.nodes}
    placeholder = next(n for n in system.graph.gm.graph.nodes if n.op == "placeholder")
    dtype = placeholder.meta["tensor_meta"].dtype
    try:
        ShapeProp(gm).propagate(torch.zeros((1, *each), dtype=programs.dtype if dtype.is_floating_point else dtype))
        return profile(system.graph, programs, system.mapping.n_chips)
    finally:
        for n, meta in saved.items():
            if meta is None:
                n.meta.pop("tensor_meta", None)
            else:
                n.meta["tensor_meta"] = meta


def profile(graph: OpGraph, programs: ChipPrograms, n_chips: int) -> Profile:
    """Count the per-inference work of every wake of ``programs`` (the chip programs of ``graph``)."""
    expanded_shapes(graph, programs)
    k = _Counter(graph, programs)
    codes = index_bits(k.gm)                    # token and position ids: the bytes of the codes that hold them
    for n in k.gm.graph.nodes:
        k.count(n)
        if n.name in codes:
            k.vbytes[n.name] = codes[n.name] // 8
    for name, w in k.wake_of.items():           # wakes that only slice and send still wake their chip
        if k.chip_of[name] != HOST:
            k.wakes.setdefault(w, WakeWork(w, k.chip_of[name]))  # type: ignore[arg-type]
    transfers = k.transfers(programs.gated)
    k.charge(transfers)
    wakes = [k.wakes[w] for w in sorted(k.wakes) if k.wakes[w].chip != HOST]
    return Profile(n_chips, wakes, transfers, k.weights, k.stores, graph.config.routes, sorted(k.events),
                   (graph.word_bits + 7) // 8)
