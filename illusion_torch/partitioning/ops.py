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
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..layers import QLSTM, QuantPoint

__all__ = ["Role", "OpInfo", "LayerKind", "Split", "Use", "op_of", "layer_kind", "WEIGHTED", "OTHER", "StoredValue"]


class LayerKind(StrEnum):
    """A weighted node: what a chip stores."""

    CONV2D = "conv2d"
    LINEAR = "linear"
    LSTM = "lstm"
    EMBEDDING = "embedding"


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

WEIGHTED: dict[type[nn.Module], LayerKind] = {nn.Conv2d: LayerKind.CONV2D, nn.Linear: LayerKind.LINEAR,
                                              QLSTM: LayerKind.LSTM, nn.Embedding: LayerKind.EMBEDDING}

_MODULES: dict[type[nn.Module], OpInfo] = {
    QuantPoint: OpInfo(Role.ROUND, channelwise=True, exact_f32=True),
    nn.ReLU: _RELU,
    nn.MaxPool2d: _MAX, nn.AvgPool2d: _AVG, nn.AdaptiveAvgPool2d: _AVG,
    nn.Dropout: _CHANNEL_VIEW, nn.Identity: _CHANNEL_VIEW, nn.Flatten: _CHANNEL_VIEW,
}
_FUNCTIONS: dict[Callable[..., Any], OpInfo] = {
    torch.relu: _RELU, F.relu: _RELU,
    torch.flatten: _CHANNEL_VIEW,
    operator.add: _ADD, torch.add: _ADD,
    F.max_pool2d: _MAX, F.avg_pool2d: _AVG, F.adaptive_avg_pool2d: _AVG,
    operator.getitem: _VIEW, torch.cat: _VIEW, torch.zeros_like: _VIEW, torch.reshape: _VIEW,
    torch.where: _SELECT, operator.eq: _SELECT, torch.eq: _SELECT, torch.argmax: _SELECT,
}
_METHODS: dict[str, OpInfo] = {
    "relu": _RELU, "flatten": _CHANNEL_VIEW,
    "expand": _VIEW, "view": _VIEW, "reshape": _VIEW, "contiguous": _VIEW,
    "size": OpInfo(Role.VIEW, exact_f32=True), "argmax": _SELECT, "eq": _SELECT,
}


def layer_kind(module: nn.Module | None) -> LayerKind | None:
    """The kind of weighted layer ``module`` is, or None for a weightless op."""
    return next((kind for cls, kind in WEIGHTED.items() if isinstance(module, cls)), None)


def op_of(node: fx.Node, modules: dict[str, nn.Module]) -> OpInfo:
    """The table's entry for a weightless node (``modules``: the graph's ``dict(named_modules())``)."""
    if node.op == "call_module":
        module = modules.get(str(node.target))
        if isinstance(module, StoredValue):
            return _VIEW if module.keeps_format else OTHER
        return next((info for cls, info in _MODULES.items() if isinstance(module, cls)), OTHER)
    if node.op == "call_function":
        return _FUNCTIONS.get(node.target, OTHER)  # type: ignore[call-overload]
    if node.op == "call_method":
        return _METHODS.get(str(node.target), OTHER)
    return OTHER
