"""The op table: what every stage needs to know about a traced node, in one place.

Usage::

    from illusion_torch.partitioning.ops import op_of, layer_kind, Role
    info = op_of(node, modules)        # OpInfo(role=Role.POOL_MAX, channelwise=True, keeps_format=True, ...)
    layer_kind(nn.Conv2d(3, 8, 3))     # LayerKind.CONV2D: a weighted layer a chip stores

Read by ``trace`` (which nodes are layers, which weightless ops can run on each output-channel slice),
``rewrite`` (the same), ``cost.profile`` (what work a node costs: views are free, a pool compares every
input value, a rounding point writes its value) and ``runtime.precision`` (which results are exact in
float32 and keep their input's fixed-point format). A node that is not in the table is ``Role.OTHER``:
one op per output value, not channel-wise, not proven exact in float32 — safe everywhere.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import IllusionError
from ..fixed.layers import QLSTM, QuantPoint, masked_scores
from .exported import ParamOp, RunDtype, causal_scores, masked_scores_by
from .recurrent import Recurrent

__all__ = ["Role", "OpInfo", "LayerKind", "Split", "Use", "op_of", "layer_kind", "WEIGHTED", "OTHER", "StoredValue",
           "StatefulOp", "stateful", "register_op", "state_of", "UnknownOpError"]


class LayerKind(StrEnum):
    """A weighted node: what a chip stores."""

    CONV2D = "conv2d"
    LINEAR = "linear"
    LSTM = "lstm"
    GRU = "gru"
    EMBEDDING = "embedding"
    OP = "op"               # an op with state of its own (a norm): stored whole on one chip, run there
    CONSTANT = "constant"   # a tensor the forward reads directly (class token, positional embedding, a table):
    #                         stored in slices along its dim 1 and gathered where an op needs it whole


class Split(StrEnum):
    """How a layer is cut across chips."""

    OUT = "out"             # by output units: each chip needs the whole input
    IN = "in"               # by input units: int32 partial sums passed along the chips


class Use(StrEnum):
    """How a node consumes a tensor produced on another chip."""

    LAYER = "layer"         # the weighted op's own input
    SLICED = "sliced"       # a channel-wise op on the consumer's output-unit slices
    WHOLE = "whole"         # another weightless op, on the consumer's last chip


class Role(StrEnum):
    """What a weightless op does."""

    VIEW = "view"           # moves values without arithmetic: reshape, slice, concatenate, identity
    ELEMENTWISE = "elementwise"   # one op per value (ReLU)
    ROUND = "round"         # a fixed-point rounding point: where a chip stores a value
    POOL_MAX = "pool_max"
    POOL_AVG = "pool_avg"
    ADD = "add"
    SELECT = "select"       # comparisons and choices: argmax, eq, where, size
    MATMUL = "matmul"       # a product of two activations (attention's q·kᵀ and ·v)
    OTHER = "other"


@dataclass(frozen=True)
class OpInfo:
    role: Role
    channelwise: bool = False       # works channel by channel: may run on each output-channel slice
    keeps_format: bool = False      # its output has its input's fixed-point format (a pass-through)
    exact_f32: bool = False         # its float32 result is exact on fixed-point inputs

    @property
    def pool(self) -> bool:
        return self.role in (Role.POOL_MAX, Role.POOL_AVG)


class StoredValue(nn.Module):
    """A module inserted where a chip stores a value (e.g. stuck bits forced onto it): it passes the value on
    unchanged in format while ``keeps_format`` holds, and is an unproven op otherwise."""

    @property
    def keeps_format(self) -> bool:
        return True


OTHER = OpInfo(Role.OTHER)
_VIEW = OpInfo(Role.VIEW, keeps_format=True, exact_f32=True)
_CHANNEL_VIEW = OpInfo(Role.VIEW, channelwise=True, keeps_format=True, exact_f32=True)
_RELU = OpInfo(Role.ELEMENTWISE, channelwise=True, keeps_format=True, exact_f32=True)
_MAX = OpInfo(Role.POOL_MAX, channelwise=True, keeps_format=True, exact_f32=True)
_AVG = OpInfo(Role.POOL_AVG, channelwise=True)
_ADD = OpInfo(Role.ADD, channelwise=True)       # exact in float32 when both inputs have known formats
_SELECT = OpInfo(Role.SELECT, exact_f32=True)
_ACT = OpInfo(Role.ELEMENTWISE, channelwise=True)          # a nonlinearity per value, not exact in float32
_MUL = OpInfo(Role.ELEMENTWISE, channelwise=True)          # a product of aligned tensors (SE blocks' scale)
_MATMUL = OpInfo(Role.MATMUL)

WEIGHTED: dict[type[nn.Module], LayerKind] = {nn.Conv2d: LayerKind.CONV2D, nn.Linear: LayerKind.LINEAR,
                                              QLSTM: LayerKind.LSTM, nn.Embedding: LayerKind.EMBEDDING}

_MODULES: dict[type[nn.Module], OpInfo] = {
    QuantPoint: OpInfo(Role.ROUND, channelwise=True, exact_f32=True),
    nn.ReLU: _RELU,
    nn.MaxPool2d: _MAX, nn.AvgPool2d: _AVG, nn.AdaptiveAvgPool2d: _AVG,
    nn.Dropout: _CHANNEL_VIEW, nn.Identity: _CHANNEL_VIEW, nn.Flatten: _CHANNEL_VIEW,
    nn.GELU: _ACT, nn.SiLU: _ACT, nn.Hardswish: _ACT, nn.Hardsigmoid: _ACT, nn.ReLU6: _ACT, nn.Sigmoid: _ACT,
    nn.Tanh: _ACT,
    nn.BatchNorm1d: _ACT, nn.BatchNorm2d: _ACT,      # per channel: runs on output slices with its state sliced
    RunDtype: _CHANNEL_VIEW,                         # a cast to the run's dtype (exported graphs)
}
_FUNCTIONS: dict[Callable[..., Any], OpInfo] = {
    torch.relu: _RELU, F.relu: _RELU,
    torch.flatten: _CHANNEL_VIEW,
    operator.add: _ADD, torch.add: _ADD,
    F.max_pool2d: _MAX, F.avg_pool2d: _AVG, F.adaptive_avg_pool2d: _AVG,
    operator.getitem: _VIEW, torch.cat: _VIEW, torch.zeros_like: _VIEW, torch.reshape: _VIEW,
    torch.where: _SELECT, operator.eq: _SELECT, torch.eq: _SELECT, torch.argmax: _SELECT,
    F.gelu: _ACT, F.silu: _ACT, F.hardswish: _ACT, F.hardsigmoid: _ACT, F.relu6: _ACT, torch.sigmoid: _ACT,
    torch.tanh: _ACT, operator.mul: _MUL, torch.mul: _MUL,
    operator.matmul: _MATMUL, torch.matmul: _MATMUL, torch.bmm: _MATMUL,
    masked_scores: _VIEW,                   # an attention mask: moves −inf in, computes nothing
    causal_scores: _VIEW, masked_scores_by: _VIEW,
}
# torch.export's aten ops (lifted graphs), read as the torch functions above
_aten = torch.ops.aten
_FUNCTIONS.update({
    _aten.add.Tensor: _ADD, _aten.mul.Tensor: _MUL, _aten.relu.default: _RELU,
    _aten.gelu.default: _ACT, _aten.silu.default: _ACT, _aten.tanh.default: _ACT, _aten.sigmoid.default: _ACT,
    _aten.hardswish.default: _ACT, _aten.hardsigmoid.default: _ACT,
    _aten.matmul.default: _MATMUL, _aten.bmm.default: _MATMUL,
    _aten.sym_size.int: OpInfo(Role.VIEW, exact_f32=True),
    **{op: _VIEW for op in (_aten.view.default, _aten.reshape.default, _aten._unsafe_view.default,
                            _aten.unsqueeze.default, _aten.squeeze.dim, _aten.expand.default, _aten.transpose.int,
                            _aten.permute.default, _aten.slice.Tensor, _aten.select.int, _aten.cat.default,
                            _aten.split.Tensor, _aten.flatten.using_ints, _aten.repeat_interleave.self_int)},
    _aten.max_pool2d.default: _MAX, _aten.avg_pool2d.default: _AVG, _aten.adaptive_avg_pool2d.default: _AVG,
})
_METHODS: dict[str, OpInfo] = {
    "relu": _RELU, "flatten": _CHANNEL_VIEW,
    "expand": _VIEW, "view": _VIEW, "reshape": _VIEW, "contiguous": _VIEW,
    "size": OpInfo(Role.VIEW, exact_f32=True), "argmax": _SELECT, "eq": _SELECT,
    "sigmoid": _ACT, "tanh": _ACT, "matmul": _MATMUL,
}


@dataclass(frozen=True)
class StatefulOp:
    """A module with parameters or buffers that is not a splittable layer: what it costs per output value.

    ``per_channel``: its state is one entry per channel (dim 1) — a batch norm — so it can ride with the
    convolution or linear layer it directly follows (its bytes counted with that layer's per-unit bias, run
    on each output slice where the slice is made); anywhere else it is an op of its own."""

    ops_per_value: int
    per_channel: bool = False


# eval-mode arithmetic per output value: a batch norm is one multiply and one add (scale and shift from its
# running statistics); a layer/group/instance norm: mean (add), centre (sub), square, variance (add),
# normalise (mul), scale (mul), shift (add), and the centred value's reuse — 8; PReLU: compare and multiply
_STATEFUL: dict[type[nn.Module], StatefulOp] = {
    nn.BatchNorm1d: StatefulOp(2, per_channel=True), nn.BatchNorm2d: StatefulOp(2, per_channel=True),
    nn.LayerNorm: StatefulOp(8), nn.GroupNorm: StatefulOp(8), nn.InstanceNorm1d: StatefulOp(8),
    nn.InstanceNorm2d: StatefulOp(8), nn.PReLU: StatefulOp(2),
    # an RMS norm: square, mean (add), rsqrt, normalise (mul), scale (mul); an elementwise op with a stored operand
    nn.RMSNorm: StatefulOp(5), ParamOp: StatefulOp(1),
}
_UNUSED_STATE = {"num_batches_tracked"}      # batch norm's training counter: not read in eval


class UnknownOpError(IllusionError):
    """A module holds parameters the op table has no rule for."""


def register_op(cls: type[nn.Module], *, ops_per_value: int, per_channel: bool = False) -> None:
    """Teach the op table a module with state: ``register_op(MyNorm, ops_per_value=8)`` — it is then stored
    whole on one chip, counted at ``ops_per_value`` per output value, and run there."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise IllusionError(f"register_op takes an nn.Module subclass, not {cls!r}")
    if not isinstance(ops_per_value, int) or isinstance(ops_per_value, bool) or ops_per_value < 0:
        raise IllusionError(f"ops_per_value must be a whole number ≥ 0 (arithmetic ops per output value), got "
                            f"{ops_per_value!r}")
    _STATEFUL[cls] = StatefulOp(ops_per_value, per_channel)


def state_of(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The tensors ``module`` keeps that a chip stores: its own parameters and buffers (not its children's),
    less state not read in eval."""
    own = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
    return [(name, t) for name, t in own if name not in _UNUSED_STATE]


def stateful(module: nn.Module | None, path: str = "") -> StatefulOp | None:
    """The rule for a leaf module that keeps state but is not a layer; None for a stateless module.

    Raises UnknownOpError for a module with parameters or buffers and no rule: its weights would otherwise
    run uncounted beside the chips."""
    if module is None or layer_kind(module) is not None or isinstance(module, (QuantPoint, StoredValue)):
        return None
    rule = next((r for cls, r in _STATEFUL.items() if isinstance(module, cls)), None)
    if rule is not None:
        return rule
    if any(True for _ in module.parameters()) or any(t.numel() for _, t in state_of(module)):
        name = type(module).__name__
        raise UnknownOpError(
            f"module {path or '?'} ({type(module).__module__}.{name}) holds parameters the op table has no rule "
            f"for, so its weights could not be placed on chips. Register one: "
            f"illusion_torch.partitioning.register_op({name}, ops_per_value=N) stores it whole on one chip; or "
            f"make the tracer step into it (its submodules are then placed one by one)")
    return None


def layer_kind(module: nn.Module | None) -> LayerKind | None:
    """The kind of weighted layer ``module`` is, or None for a weightless op."""
    if isinstance(module, Recurrent):
        return LayerKind(module.kind)
    return next((kind for cls, kind in WEIGHTED.items() if isinstance(module, cls)), None)


def _add_torchvision() -> None:
    """torchvision's traced functions: looked up only once torchvision is loaded (a model that calls them
    loaded it), so the op table never imports torchvision itself."""
    from torchvision.ops import stochastic_depth

    _FUNCTIONS.setdefault(stochastic_depth, _CHANNEL_VIEW)      # traced in eval mode: the identity


def op_of(node: fx.Node, modules: dict[str, nn.Module]) -> OpInfo:
    """The table's entry for a weightless node (``modules``: the graph's ``dict(named_modules())``)."""
    if node.op == "call_module":
        module = modules.get(str(node.target))
        if isinstance(module, StoredValue):
            return _VIEW if module.keeps_format else OTHER
        return next((info for cls, info in _MODULES.items() if isinstance(module, cls)), OTHER)
    if node.op == "call_function":
        if node.target not in _FUNCTIONS and "torchvision" in sys.modules:
            _add_torchvision()
        return _FUNCTIONS.get(node.target, OTHER)  # type: ignore[call-overload]
    if node.op == "call_method":
        return _METHODS.get(str(node.target), OTHER)
    return OTHER
