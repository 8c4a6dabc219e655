"""A fixed-point version of any traceable model: every stored tensor and every computed value rounded.

Usage::

    from illusion_torch.fixed.quantized import fixed_point_version
    fixed = fixed_point_version(torchvision.models.resnet18(), torch.zeros(1, 3, 64, 64))
    system = il.partition(fixed, x[:1], capacity="2MiB", max_chips=8)
    assert torch.equal(system(x), system.reference(x))       # bit-identical, chip by chip

The model is traced as the partition pass traces it (``partitioning.trace.traced``: attention and recurrent
blocks decomposed); its parameters and float buffers are rounded to ``weights`` (default FixedPoint(16, 12):
±8 in steps of 2^-12), and a ``QuantPoint`` rounding to ``activations`` (default FixedPoint(16, 8)) follows
the input and every op that computes a float value (views — reshapes, slices, concatenations — move values
and keep their format). Every product of a weight and an activation is then an integer multiple of 2^-20 and
every sum of them exact in float64 in any order (below 2^53 LSBs), so any split of any layer gives the same
bits; nonlinear ops (softmax, GELU, norms) run on the same values either way and are rounded after. The
result is a new GraphModule carrying a ``WorkloadConfig`` with the weight format: the pipeline treats it as
a fixed-point workload (int32 partial sums, codes in the memory images). The model given is not changed.
A recurrent layer computes its steps inside one op and is not exact when split across chips.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..partitioning.ops import Role, op_of
from ..partitioning.trace import traced
from ..workload import WorkloadConfig, config_of
from . import FixedPoint, quantize
from .layers import QuantPoint

__all__ = ["fixed_point_version", "rounding_nodes", "insert_points", "WEIGHTS", "ACTIVATIONS"]


def _rounds(node: fx.Node, modules: dict[str, nn.Module]) -> bool:
    """A node whose result gets a rounding point: a float tensor that an op computed (not a view of one)."""
    dtype = getattr(node.meta.get("tensor_meta"), "dtype", None)
    if node.op in ("output", "get_attr") or dtype is None or not dtype.is_floating_point:
        return False
    return node.op == "placeholder" or op_of(node, modules).role not in (Role.VIEW, Role.ROUND)


def rounding_nodes(gm: fx.GraphModule) -> list[fx.Node]:
    """The nodes of a shape-propagated ``gm`` whose values a fixed-point version rounds: the input and every
    op that computes a float value (views move values and keep their format)."""
    modules = dict(gm.named_modules())
    return [n for n in gm.graph.nodes if _rounds(n, modules)]


def _other_than(point: fx.Node) -> Callable[[fx.Node], bool]:
    return lambda user: user is not point


def insert_points(gm: fx.GraphModule, nodes: list[fx.Node], make: Callable[[fx.Node], nn.Module],
                  prefix: str = "fixed_point") -> dict[str, str]:
    """Put ``make(node)`` after each of ``nodes`` (its users read the new module's output); returns
    {node name: the new submodule's name}."""
    targets: dict[str, str] = {}
    index = {n: i for i, n in enumerate(gm.graph.nodes)}
    for node in nodes:
        target = f"{prefix}_{index[node]}"
        gm.add_submodule(target, make(node))
        with gm.graph.inserting_after(node):
            point = gm.graph.call_module(target, (node,))
        node.replace_all_uses_with(point, delete_user_cb=_other_than(point))
        targets[node.name] = target
    gm.graph.lint()
    gm.recompile()
    return targets


WEIGHTS = FixedPoint(16, 12)
ACTIVATIONS = FixedPoint(16, 8)


def fixed_point_version(model: nn.Module, example_inputs: torch.Tensor, *, weights: FixedPoint = WEIGHTS,
                        activations: FixedPoint = ACTIVATIONS, name: str | None = None) -> fx.GraphModule:
    """A fixed-point GraphModule computing ``model`` with rounded weights and activations (see module doc)."""
    gm = traced(copy.deepcopy(model).eval(), example_inputs=(example_inputs,))     # fx, else torch.export
    with torch.no_grad():
        ShapeProp(gm).propagate(example_inputs)
        for t in (*gm.parameters(), *gm.buffers()):
            if t.is_floating_point():
                t.copy_(quantize(t, weights.wl, weights.fl))
    def make(_: fx.Node) -> nn.Module:
        return QuantPoint(activations.wl, activations.fl)

    insert_points(gm, rounding_nodes(gm), make)
    shape = tuple(example_inputs.shape[1:])
    config = WorkloadConfig(name or f"{config_of(model).name}-fixed-point", input_shape=shape, weight_format=weights)
    object.__setattr__(gm, "config", config)       # a plain attribute (what ``config_of`` reads), not a module
    return gm.eval()
