"""Trace a model with torch.fx into an OpGraph: its layers, their bytes and MACs, and the tensors between them.

Usage::

    import illusion_torch as il
    from illusion_torch.partitioning import trace
    g = trace(il.load("mnist"), torch.zeros(1, 1, 28, 28))
    [(l.name, l.weight_bytes, l.out_units) for l in g.layers]     # conv1 156 6, conv2 330 6, ...
    g.edges                                                        # tensors that cross if layers part

A *layer* is a node that holds weights (Conv2d, Linear, the fixed-point LSTM, Embedding); it is the piece a
chip stores and may be split. Every weightless node (ReLU, quantization, pooling, flatten, add) runs on the
chip of the latest layer (in topological order) that produced one of its inputs — so all messages flow
forward along the chain of chips — and the tensor that crosses chips is what the producer's
chip stores last — e.g. MNIST's pooled conv3 output, 128 B at int8, not conv3's raw 512 B.

Bytes per value: a tensor leaving a ``QuantPoint`` takes the point's word size (int8 activations, int16 FC
outputs); weightless ops keep their input's size; for float models weights and activations take
``word_bits`` (16 by default, as in the paper's scale-up simulation). Partial sums of an input-split layer
are int32 (``PARTIAL_SUM_BYTES``) in a fixed-point model and take the word size in a float model, like its
other unrounded values (``OpGraph.partial_sum_bytes``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from operator import attrgetter

import torch
from torch import fx, nn

from ..errors import IllusionError
from ..fixed.layers import QLSTM, QuantPoint, masked_scores
from ..workload import WorkloadConfig, config_of
from .decompose import decompose
from .exported import ExportError, ParamOp, RunDtype, RunDtypeCall, lift, lift_export, user_line
from .inputs import bind_defaults, check_example, drop_bound, one_output, run_quietly
from .ops import LayerKind, Split, Use, layer_kind, op_of, state_of, stateful
from .recurrent import GATES, Recurrent, cell_state_unavailable

__all__ = ["trace", "OpGraph", "Layer", "Edge", "HOST", "Chip", "PARTIAL_SUM_BYTES", "TraceError", "CaptureError",
           "CAPTURES", "captured"]

HOST = "host"
Chip = int | str            # a chip index, or HOST
PARTIAL_SUM_BYTES = 4


class TraceError(IllusionError):
    """The model cannot be traced by torch.fx; the message carries fx's reason and a hint."""

    reason: str = ""


class CaptureError(IllusionError):
    """Neither torch.fx nor torch.export can capture the model: the message names the line that stopped each."""


CAPTURES = ("auto", "fx", "torch.export")


@dataclass
class Layer:
    """A weighted node: what a chip stores, and how it may be split across chips."""

    name: str                   # fx node name (module path with dots replaced)
    target: str                 # module path
    kind: LayerKind
    weight_bytes: int           # weights + bias at the weight word size
    weight_count: int
    out_units: int              # output channels / features / hidden units / embedding rows
    in_units: int               # input channels / features (0 where no input split exists)
    bias_bytes: int
    out_bytes: int              # bytes of the tensor this layer's chip emits (after its weightless ops)
    out_numel: int              # values in the layer's raw output (partial sums: × PARTIAL_SUM_BYTES)
    macs: int
    splits: tuple[Split, ...]
    steps: int = 1              # time steps (LSTM), each exchanging h/c slices
    feature_dim: int = 1        # the dimension its units run along (a Linear on (B, T, C) tensors: 2)
    in_channels: int = 0        # input channels as a convolution sees them: a Linear fed by a flattened
    #                             (C, H, W) map has C (the paper's simulator treats it as a C→out conv)
    param_count: int = 0        # values among ``weight_count`` that are the model's parameters (not buffers)
    state_bytes: int = 0        # a recurrent layer's whole h of one step: what its chips exchange every step
    absorbed: tuple[str, ...] = ()   # per-channel ops (batch norms) stored and run with this layer
    projection: int = 0         # an LSTM's proj_size: its chips' partial sums of h added along them every step
    tied: str = ""              # an LM head whose weight is this embedding layer's table: it runs on the
    #                             table's chips, on the rows they hold, and stores nothing (``tied.store_once``)

    @property
    def recurrent(self) -> bool:
        """An LSTM or GRU run step by step: split by hidden units, its chips exchange h every step."""
        return self.kind in (LayerKind.LSTM, LayerKind.GRU) and self.steps > 1

    def exchange_bytes(self, chips: int) -> int:
        """Bytes a recurrent layer's ``chips`` send each other per inference: each chip's h slice to every
        other chip after every step but the last; with a projection, every step the partial sums of h along
        the chips (chips − 1 messages) and the last chip's h to the others after every step but the last."""
        if chips < 2 or not self.recurrent:
            return 0
        if self.projection:
            return self.state_bytes * (chips - 1) * (2 * self.steps - 1)
        return self.state_bytes * (chips - 1) * (self.steps - 1)


@dataclass
class Edge:
    """A tensor produced on ``src``'s chip and consumed by layer ``dst`` (or the host)."""

    src: str                    # layer name or HOST
    dst: str                    # layer name or HOST
    tensor: str                 # fx node name of the tensor
    bytes: int
    uses: tuple[Use, ...] = (Use.LAYER,)   # how ``dst`` consumes it
    src_whole: bool = False     # the tensor lies whole on src's last chip (made by an op that gathered its
    #                             slices there), not as src's output slices; ``src == dst``: that gathering


@dataclass
class OpGraph:
    """The traced model: its layers in topological order and the tensors between them."""

    model_name: str
    layers: list[Layer]
    edges: list[Edge]
    owner: dict[str, str]                       # fx node -> layer (or HOST) whose chip runs it
    gm: fx.GraphModule = field(repr=False)
    word_bits: int = 16
    config: WorkloadConfig = field(default_factory=lambda: WorkloadConfig("model"))
    partial_sum_bytes: int = PARTIAL_SUM_BYTES  # int32 sums of a fixed-point model; a float model's word size
    output: str = ""                            # which of a tuple/dict output is partitioned ("": one tensor)
    output_path: tuple = ()                     # where it lies in the model's output (``inputs.select_output``)
    capture: str = "fx"                         # the door the graph came through: "fx" or "torch.export"

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    def weights_only(self) -> OpGraph:
        """The graph counted as the paper's scale-up simulator counts a network: the weights of conv, fc,
        recurrent and embedding layers only — no biases, no absorbed norm statistics (both in ``bias_bytes``),
        and nothing for norms or constants. The layers and tensors are the same; only the bytes a mapper fills
        chips with change."""
        weighted = (LayerKind.CONV2D, LayerKind.LINEAR, LayerKind.LSTM, LayerKind.GRU, LayerKind.EMBEDDING)
        layers = [replace(ly, weight_bytes=ly.weight_bytes - ly.bias_bytes if ly.kind in weighted else 0,
                          bias_bytes=0) for ly in self.layers]
        out = replace(self, layers=layers)
        out.__dict__.pop("_by_name", None)
        return out

    def layer(self, name: str) -> Layer:
        by_name = self.__dict__.get("_by_name")
        if by_name is None or len(by_name) != len(self.layers):
            by_name = self.__dict__["_by_name"] = {ly.name: ly for ly in self.layers}
        try:
            return by_name[name]
        except KeyError:
            raise KeyError(f"no layer {name!r}; layers: {', '.join(ly.name for ly in self.layers)}") from None

    def is_chain(self) -> bool:
        """True when each layer feeds only the next one (host input first, host output last)."""
        names = [HOST] + [ly.name for ly in self.layers] + [HOST]
        pairs = {(e.src, e.dst) for e in self.edges if e.src != e.dst}
        chain = {(names[i], names[i + 1]) for i in range(len(names) - 1)}
        return pairs <= chain


class _Tracer(fx.Tracer):
    """Keeps quantization points and the fixed-point LSTM whole (leaf modules)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (QuantPoint, QLSTM, Recurrent, RunDtype, RunDtypeCall, ParamOp)) or \
            super().is_leaf_module(m, qualname)


# functions the tracer keeps as one op wherever a model calls them (the op table has a rule for each)
AUTOWRAP = (masked_scores,)


def _symbolic_trace(model: nn.Module, n_inputs: int = 1) -> fx.GraphModule:
    concrete = bind_defaults(model, n_inputs)        # forward(self, x, mask=None): mask is None
    try:
        graph = _Tracer(autowrap_functions=AUTOWRAP).trace(model, concrete_args=concrete or None)
    except Exception as e:  # fx raises many types; the user needs its reason and what to do
        where = user_line(e)
        first = (str(e).strip().splitlines() or [""])[0][:240]
        err = TraceError(
            f"torch.fx cannot trace {type(model).__name__}: {type(e).__name__}: {first}"
            + (f" at {where}" if where else "") + ". Hint: capture it with torch.export instead "
            "(capture='torch.export', or the default 'auto'), or rewrite that control flow with tensor ops.")
        err.reason = f"{type(e).__name__}: {first}" + (f" at {where}" if where else "")
        raise err from None
    gm = fx.GraphModule(model, graph, type(model).__name__)
    if isinstance(model, fx.GraphModule) and "free_dims" in model.meta:    # a captured graph, quantized say
        gm.meta["free_dims"] = model.meta["free_dims"]
    if concrete:
        drop_bound(gm, n_inputs)
    return gm


def channelwise(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """A weightless op that works channel by channel (so it can run on each output-channel slice)."""
    return op_of(node, modules).channelwise


def aligned(node: fx.Node) -> bool:
    """Every tensor input has the main input's rank and size along dim 1 (so one slice range fits all)."""
    tensors = node.all_input_nodes
    shapes = [getattr(a.meta.get("tensor_meta"), "shape", None) for a in tensors]
    if not shapes or any(s is None or len(s) < 2 or len(s) != len(shapes[0]) for s in shapes):
        return False
    if node.op == "call_function" and node.target is torch.flatten:
        start_dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
        if start_dim != 1:
            return False
    return all(s[1] == shapes[0][1] for s in shapes)


def _numel(node: fx.Node) -> int:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        return 0
    if node.meta.get("static"):              # made from constants only: no batch dimension
        return int(math.prod(meta.shape))
    if "batch" in node.meta:                 # a lifted export graph: the batch may lie along any dimension
        return int(math.prod(meta.shape)) // node.meta["batch"]
    return int(math.prod(meta.shape[1:]))    # per inference: batch dimension excluded


def _units_dim(shape: torch.Size) -> int:
    """The dimension a constant is stored in slices along: dim 1 (tokens, channels), dim 0 for a vector."""
    return 1 if len(shape) >= 2 else 0


def _constant(node: fx.Node, value: torch.Tensor, bpv: int, is_param: bool) -> Layer:
    """A tensor the forward reads directly: stored on chips in slices along ``_units_dim``."""
    dim = _units_dim(value.shape)
    units = int(value.shape[dim]) if value.dim() else 1
    n = value.numel()
    return Layer(node.name, str(node.target), LayerKind.CONSTANT, n * bpv, n, units, 0, 0, 0, n, 0, (Split.OUT,),
                 feature_dim=dim, param_count=n if is_param else 0)


def _op(node: fx.Node, module: nn.Module, bpv: int) -> Layer:
    """A module with state that is not split (a norm): stored whole on one chip."""
    state = state_of(module)
    n = sum(t.numel() for _, t in state)
    params = sum(p.numel() for p in module.parameters())
    return Layer(node.name, str(node.target), LayerKind.OP, n * bpv, n, 1, 0, 0, 0, _numel(node), 0, (Split.OUT,),
                 param_count=params)


def _absorb(layer: Layer, src: fx.Node, bn: nn.Module, bn_name: str, bpv: int) -> bool:
    """Store a batch norm with the convolution or linear layer it directly and solely follows: its state is
    per output channel, so it goes with each output slice like a bias (whole on the last chip of an input
    split). False where it cannot (another consumer of the layer's output, channels along another dim)."""
    if layer.kind not in (LayerKind.CONV2D, LayerKind.LINEAR) or layer.feature_dim != 1 or len(src.users) != 1:
        return False
    if getattr(bn, "num_features", None) != layer.out_units:
        return False
    n = sum(t.numel() for _, t in state_of(bn))
    layer.weight_bytes += n * bpv
    layer.bias_bytes += n * bpv
    layer.weight_count += n
    layer.param_count += sum(p.numel() for p in bn.parameters())
    layer.absorbed += (bn_name,)
    return True


def _layer_input(node: fx.Node, rank: dict[str, int], layers: list[Layer]) -> Layer | None:
    """The layer whose own output is ``node``'s first argument, or None (an op's result, the input)."""
    src = node.args[0] if node.args else None
    return layers[rank[src.name] - 1] if isinstance(src, fx.Node) and src.name in rank else None


def _flattened_channels(node: fx.Node, features: int) -> int:
    """C when the input is a flattened (C, H, W) map (through weightless ops), else ``features``."""
    src = node.args[0] if node.args else None
    while isinstance(src, fx.Node):
        shape = getattr(src.meta.get("tensor_meta"), "shape", None)
        if shape is not None and len(shape) == 4 and int(math.prod(shape[1:])) == features:
            return int(shape[1])
        if src.op == "placeholder" or len(src.all_input_nodes) != 1:
            break
        src = src.all_input_nodes[0]
    return features


def _tie(layer: Layer, module: nn.Module, tables: dict[tuple, str]) -> None:
    """Note an embedding's table; a bias-free Linear whose weight is a table noted before (an LM head tied to
    the token embedding) is ``tied`` to it: its weight bytes are the table's chips'."""
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor):
        return
    key = (w.untyped_storage().data_ptr(), w.storage_offset(), tuple(w.shape), w.stride())
    if layer.kind is LayerKind.EMBEDDING:
        tables.setdefault(key, layer.name)
    elif type(module) is nn.Linear and module.bias is None and key in tables:
        layer.tied = tables[key]
        layer.weight_bytes = 0


def _first_reads(tensors, counted: set[tuple[int, int]]) -> int:
    """Values among ``tensors`` not counted yet (a tensor and a transposed view of it are one), marked now."""
    n = 0
    for t in tensors:
        key = (t.untyped_storage().data_ptr(), t.storage_offset())
        if key not in counted:
            counted.add(key)
            n += t.numel()
    return n


def _layer(node: fx.Node, module: nn.Module, weight_bytes_per_value: int) -> Layer:
    layer = _weighted(node, module, weight_bytes_per_value)
    layer.param_count = layer.weight_count
    return layer


def _weighted(node: fx.Node, module: nn.Module, weight_bytes_per_value: int) -> Layer:
    count = sum(p.numel() for p in module.parameters())
    bias = getattr(module, "bias", None)
    bias_bytes = (bias.numel() if isinstance(bias, torch.Tensor) else 0) * weight_bytes_per_value
    out_numel = _numel(node)
    name, target = node.name, str(node.target)
    wb = count * weight_bytes_per_value
    if isinstance(module, nn.Conv2d):
        k = module.weight[0, 0].numel()
        macs = out_numel * (module.in_channels // module.groups) * k
        splits = (Split.OUT, Split.IN) if module.groups == 1 else (Split.OUT,)
        return Layer(name, target, LayerKind.CONV2D, wb, count, module.out_channels, module.in_channels, bias_bytes, 0,
                     out_numel, macs, splits, in_channels=module.in_channels)
    if isinstance(module, nn.Linear):
        macs = out_numel * module.in_features
        rank = len(node.meta["tensor_meta"].shape)
        return Layer(name, target, LayerKind.LINEAR, wb, count, module.out_features, module.in_features,
                     bias_bytes, 0, out_numel, macs, (Split.OUT, Split.IN), feature_dim=rank - 1,
                     in_channels=_flattened_channels(node, module.in_features))
    if isinstance(module, QLSTM):
        steps = int(node.args[0].meta["tensor_meta"].shape[1])
        macs = steps * 4 * module.hidden_size * (module.input_size + module.hidden_size)
        return Layer(name, target, LayerKind.LSTM, wb, count, module.hidden_size, 0, bias_bytes, 0, out_numel, macs,
                     (Split.OUT,), steps=steps, state_bytes=module.hidden_size * module.q_h.format.bytes)
    if isinstance(module, Recurrent):
        steps = int(node.args[0].meta["tensor_meta"].shape[1])
        H, P = module.hidden_size, module.proj_size
        macs = steps * (GATES[module.kind] * H * (module.input_size + module.output_size) + P * H)
        bias_bytes = sum(b.numel() for b in (module.bias_ih, module.bias_hh) if b is not None) * weight_bytes_per_value
        return Layer(name, target, LayerKind(module.kind), wb, count, H, 0, bias_bytes, 0, out_numel, macs,
                     (Split.OUT,), steps=steps, feature_dim=2, state_bytes=module.output_size * weight_bytes_per_value,
                     projection=P)
    assert isinstance(module, nn.Embedding)
    return Layer(name, target, LayerKind.EMBEDDING, wb, count, module.num_embeddings, 0, 0, 0, out_numel, 0,
                 (Split.OUT,))


ORDERS = ("model", "shorter-branches-first")


def shorter_branches_first(graph: fx.Graph) -> bool:
    """Reorder ``graph`` in place (a valid topological order) so that where branches join, the branch with
    fewer nodes behind it runs first — a residual block's shortcut (its downsample convolution) before its main
    path; stored tensors (get_attr) stay right before their first user. Returns whether the order changed.

    Layers follow the graph's order along the chips and a join runs where its latest input is made, so with
    the shortcut first the residual add runs with the main path's last layer and the block input need not also
    travel to a shortcut placed after the main path. Not better for every model (a gated model's branches),
    so the mapper tries both orders (``system.partition``)."""
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    behind: dict[fx.Node, int] = {}                 # the node and everything it depends on, as a bit set
    for n in nodes:
        bits = 1 << index[n]
        for a in n.all_input_nodes:
            bits |= behind[a]
        behind[n] = bits
    size = {n: bin(b).count("1") for n, b in behind.items()}
    order: list[fx.Node] = []
    done: set[fx.Node] = set()
    for root in [n for n in nodes if n.op == "placeholder"] + [n for n in nodes if not n.users]:
        stack = [(root, False)]
        while stack:                                # depth-first; the last pushed is visited first
            n, expanded = stack.pop()
            if n in done:
                continue
            if expanded:
                done.add(n)
                order.append(n)
                continue
            stack.append((n, True))
            # stored tensors pushed first (emitted just before n), then the inputs largest first, so the one
            # with the fewest nodes behind it is visited first
            for a in sorted(n.all_input_nodes, key=lambda a: (a.op != "get_attr", -size[a], -index[a])):
                if a not in done:
                    stack.append((a, False))
    if order == nodes:
        return False
    anchor = order[0]
    if anchor is not nodes[0]:
        nodes[0].prepend(anchor)
    for n in order[1:]:
        anchor.append(n)
        anchor = n
    return True


def captured(model: nn.Module | torch.export.ExportedProgram, example_inputs: tuple[torch.Tensor, ...] | None,
             capture: str = "auto", n_inputs: int = 1) -> tuple[fx.GraphModule, str]:
    """(GraphModule, the door that captured it): torch.fx's symbolic trace of ``model`` with torch.nn's opaque
    blocks decomposed, or — where fx cannot trace it (``capture="auto"``) or when asked
    (``capture="torch.export"``) — torch.export's graph lifted back onto the model's layers
    (``exported.lift_export``; it needs ``example_inputs``). An ExportedProgram is lifted as it is."""
    if capture not in CAPTURES:
        raise IllusionError(f"unknown capture {capture!r}; use one of {', '.join(map(repr, CAPTURES))}")
    if isinstance(model, torch.export.ExportedProgram):
        return lift(model), "torch.export"
    if isinstance(model, fx.GraphModule) and model.meta.get("lifted") and capture != "fx":
        gm = fx.GraphModule(model, copy.deepcopy(model.graph), type(model).__name__)
        gm.meta.update(model.meta)
        return gm, "torch.export"
    fx_error: TraceError | None = None
    if capture in ("auto", "fx"):
        try:
            return _symbolic_trace(decompose(model), n_inputs), "fx"
        except TraceError as e:
            if capture == "fx" or example_inputs is None:
                raise
            fx_error = e
    if example_inputs is None:
        raise IllusionError("capture='torch.export' needs example inputs")
    try:
        return lift_export(model, example_inputs), "torch.export"
    except ExportError as e:
        if fx_error is None:
            raise ExportError(f"torch.export cannot capture {type(model).__name__}: {e}. Hint: try "
                              f"torch.export.draft_export to see every failing line, or rewrite that code "
                              f"with tensor ops") from None
        raise CaptureError(
            f"neither door can capture {type(model).__name__}: torch.fx stopped with {fx_error.reason}; "
            f"torch.export stopped with {e}. Rewrite the control flow on traced values at those lines with "
            f"tensor ops (torch.where), or see torch.export.draft_export's report for every failing line") from None


def traced(model: nn.Module, order: str = "model", n_inputs: int = 1,
           example_inputs: tuple[torch.Tensor, ...] | None = None, capture: str = "auto") -> fx.GraphModule:
    """The torch.fx GraphModule the partition pass works on: ``model`` with torch.nn's opaque blocks
    decomposed (``decompose``), fixed-point points and recurrent layers kept whole — or torch.export's graph
    lifted (``captured``); nodes in the model's order or, with ``order="shorter-branches-first"``, reordered
    by ``shorter_branches_first``. ``gm.meta["capture"]`` names the door."""
    if order not in ORDERS:
        raise IllusionError(f"unknown graph order {order!r}; use one of {', '.join(ORDERS)}")
    gm, door = captured(model, example_inputs, capture, n_inputs)
    gm.meta["capture"] = door
    for node in reversed(list(gm.graph.nodes)):     # an LSTM's c_n the model never reads
        if node.target is cell_state_unavailable and not node.users:
            gm.graph.erase_node(node)
    if order == "shorter-branches-first" and shorter_branches_first(gm.graph):
        gm.graph.lint()
    gm.recompile()
    return gm


def trace(model: nn.Module | torch.export.ExportedProgram, example_inputs: torch.Tensor | tuple, *,
          word_bits: int | None = None, model_name: str | None = None, order: str = "model",
          capture: str = "auto") -> OpGraph:
    """Trace ``model`` on ``example_inputs`` (a batch) into an OpGraph.

    ``word_bits`` sets the weight word size; default: the model's ``weight_format`` or 16 bits. Float
    activations (no QuantPoint) take the same word size. ``order``: the graph's node order (``ORDERS``): the
    model's, or shorter branches first (``shorter_branches_first``). ``capture``: ``"auto"`` (torch.fx, then
    torch.export where fx fails), ``"fx"`` or ``"torch.export"`` (``captured``); ``OpGraph.capture`` says which.
    """
    if isinstance(model, torch.export.ExportedProgram):
        model = lift(model)
    example_inputs = check_example(model, example_inputs)
    config = config_of(model)
    fmt = config.weight_format
    bits = word_bits if word_bits is not None else (fmt.wl if fmt is not None else 16)
    weight_bpv = (bits + 7) // 8
    float_bpv = weight_bpv if fmt is None else PARTIAL_SUM_BYTES
    modes = {m: m.training for m in model.modules()}
    model.eval()                # traced in eval mode: flags such as stochastic depth's ``training`` are baked in
    try:
        gm = traced(model, order, len(example_inputs), example_inputs, capture)
        run_quietly(gm, example_inputs, type(model).__name__)
        output_path, output = one_output(gm)
    finally:
        for m, mode in modes.items():       # the user's model keeps every module's own mode
            m.training = mode
    modules = dict(gm.named_modules())
    lifted = gm.meta.get("capture") == "torch.export"
    for node in gm.graph.nodes:            # values made from constants alone have no batch dimension
        node.meta["static"] = node.op == "get_attr" or (
            node.op not in ("placeholder", "output") and all(a.meta.get("static") for a in node.all_input_nodes))
        if lifted:                         # aten's layouts put the batch anywhere (an attention's (T, B, E))
            node.meta["batch"] = max(1, int(example_inputs[0].shape[0]))

    owner: dict[str, str] = {}
    counted: set[tuple[int, int]] = set()       # parameters already counted (a tied LM head reads its table)
    tables: dict[tuple, str] = {}               # an embedding's table (storage, offset, shape) -> its layer
    rank: dict[str, int] = {}                   # layer -> topological index
    value_bytes: dict[str, int] = {}
    layers: list[Layer] = []
    for node in gm.graph.nodes:
        module = modules.get(str(node.target)) if node.op == "call_module" else None
        tensor_inputs = [a for a in node.all_input_nodes]
        if node.op == "placeholder":
            owner[node.name] = HOST
            value_bytes[node.name] = float_bpv if fmt is None else 1
        elif layer_kind(module) is not None:
            layers.append(_layer(node, module, weight_bpv))
            layers[-1].param_count = _first_reads(module.parameters(), counted)     # tied weights: once
            _tie(layers[-1], module, tables)
            owner[node.name] = node.name
            rank[node.name] = len(layers)
            value_bytes[node.name] = module.q_h.format.bytes if isinstance(module, QLSTM) else float_bpv
        elif node.op == "get_attr" and isinstance(value := attrgetter(str(node.target))(gm), torch.Tensor):
            layers.append(_constant(node, value, weight_bpv, isinstance(value, nn.Parameter)))
            layers[-1].param_count = _first_reads([value], counted) if isinstance(value, nn.Parameter) else 0
            owner[node.name] = node.name
            rank[node.name] = len(layers)
            value_bytes[node.name] = weight_bpv
        elif (rule := stateful(module, str(node.target))) is not None and not (
                rule.per_channel and (src := _layer_input(node, rank, layers)) is not None and
                _absorb(src, node.args[0], module, node.name, weight_bpv)):
            layers.append(_op(node, module, weight_bpv))
            layers[-1].param_count = _first_reads(module.parameters(), counted)
            owner[node.name] = node.name
            rank[node.name] = len(layers)
            value_bytes[node.name] = max((value_bytes.get(a.name, float_bpv) for a in tensor_inputs),
                                         default=float_bpv)
        elif node.op == "output":
            owner[node.name] = HOST
        else:
            # run where the latest-produced input is, so every message flows forward along the chain
            owners = [owner[a.name] for a in tensor_inputs]
            owner[node.name] = max(owners, key=lambda o: rank.get(o, -1), default=HOST)
            if isinstance(module, QuantPoint):
                value_bytes[node.name] = module.format.bytes
            else:
                value_bytes[node.name] = max((value_bytes.get(a.name, float_bpv) for a in tensor_inputs),
                                             default=float_bpv)

    edges: dict[tuple[str, str], Edge] = {}
    feature_dim = {ly.name: ly.feature_dim for ly in layers}
    # a value that stays as its owner's output slices (when the owner is split by outputs): the owner itself,
    # then every op that can run slice by slice on such a value; the first that cannot gathers the slices on
    # the owner's last chip (a self-edge, ``Edge.src == Edge.dst``), and what follows it lives there whole
    spread: dict[str, bool] = {}

    def add(a: fx.Node, src: str, dst: str, use: Use) -> None:
        if (a.name, dst) not in edges:
            edges[(a.name, dst)] = Edge(src, dst, a.name, _numel(a) * value_bytes.get(a.name, float_bpv), (use,),
                                        src_whole=src != HOST and not spread.get(a.name, True))
        elif use not in edges[(a.name, dst)].uses:
            edges[(a.name, dst)].uses += (use,)

    for node in gm.graph.nodes:
        if node.name == owner[node.name] or node.op == "output":
            use = Use.LAYER
            # an embedding's row slices are summed on its last chip: its value is whole there, not spread
            spread[node.name] = node.op != "output" and not (
                node.op == "call_module" and layer_kind(modules.get(str(node.target))) is LayerKind.EMBEDDING)
        else:
            by_channels = feature_dim.get(owner[node.name], 1) == 1   # slices a channel-wise op can follow
            sliceable = by_channels and channelwise(node, modules) and aligned(node)
            use = Use.SLICED if sliceable else Use.WHOLE
            same = [a for a in node.all_input_nodes if owner[a.name] == owner[node.name]]
            spread[node.name] = bool(same) and sliceable and spread.get(same[0].name, False)
            if not spread[node.name] and owner[node.name] != HOST:
                for a in same:
                    if spread.get(a.name, False):
                        add(a, owner[node.name], owner[node.name], Use.WHOLE)
        for a in node.all_input_nodes:
            src, dst = owner[a.name], owner[node.name]
            if src != dst:
                add(a, src, dst, use)
    for layer in layers:
        layer.out_bytes = max((e.bytes for e in edges.values() if e.src == layer.name and e.dst != layer.name),
                              default=0)
    return OpGraph(model_name or config.name, layers, list(edges.values()), owner, gm, bits, config, float_bpv,
                   output, output_path, gm.meta.get("capture", "fx"))
