"""What a model takes and gives, checked before and while it is traced: one input tensor, its optional
arguments bound to their defaults, one output tensor — and a failure on the example inputs as one line.

Usage::

    from illusion_torch.partitioning.inputs import bind_defaults, check_example, run_quietly, one_output
    check_example(model, x)                       # a CPU tensor (or a tuple of them) with real values
    concrete = bind_defaults(model, n_inputs=1)   # {"mask": None} for forward(self, x, mask=None)
    run_quietly(gm, x)                            # ShapeProp without its printed traceback
    path, what = one_output(gm)                   # a tuple/dict output reduced to its first tensor

A forward that needs more than the inputs it is given is refused (the pipeline feeds one tensor); a model
that returns a tuple or a dict is partitioned for its first tensor (a dict's first key, e.g. ``logits``),
which ``OpGraph.output`` names and ``select_output`` picks from the unpartitioned model's result.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import torch
from torch import fx, nn
from torch.fx._symbolic_trace import _assert_is_none
from torch.fx.node import map_aggregate
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata, _extract_tensor_metadata

from ..errors import IllusionError

__all__ = ["float64_copy", "bind_defaults", "drop_bound", "check_example", "check_batch", "run_quietly", "one_output",
           "select_output", "InputsRejected"]


class InputsRejected(IllusionError):
    """The model fails on the example inputs (a shape, dtype or index it cannot take)."""


def _shape_text(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"shape {tuple(x.shape)} ({str(x.dtype).removeprefix('torch.')})"
    return type(x).__name__


def check_example(model: nn.Module, example: Any) -> tuple[torch.Tensor, ...]:
    """``example`` as a tuple of tensors, refused with one line when it is not a tensor (or a tuple of them),
    holds no values (the meta device) or lies on another device than the CPU — as is a model on the meta
    device (its weights were never loaded)."""
    if not isinstance(model, nn.Module):
        hint = (f"; for a registered name use il.load({model!r}) (a shipped checkpoint) or "
                f"il.get_model({model!r})") if isinstance(model, str) else ""
        raise IllusionError(f"partition takes an nn.Module, got {type(model).__name__}{hint}")
    items = example if isinstance(example, tuple) else (example,)
    for t in items:
        if not isinstance(t, torch.Tensor):
            raise IllusionError(f"the example inputs must be a tensor (a batch, e.g. x[:1]) or a tuple of tensors, "
                                f"got {type(t).__name__}; use torch.as_tensor(...) first")
        if t.device.type != "cpu":
            raise IllusionError(f"the example inputs are on the {t.device.type} device; the chips are simulated on "
                                f"the CPU: pass x.cpu()")
        if t.dim() == 0:
            raise IllusionError("the example inputs are a single number; give a batch, e.g. x[:1]")
    for name, p in [*model.named_parameters(), *model.named_buffers()]:
        if p.device.type == "meta":
            raise IllusionError(f"the model's {name} is on the meta device (it has no values): load its weights "
                                f"first (model.to_empty(device='cpu') and load_state_dict)")
        if p.device.type != "cpu":
            raise IllusionError(f"the model's {name} is on the {p.device.type} device; the chips are simulated on "
                                f"the CPU: pass model.cpu()")
    return items


def bind_defaults(model: nn.Module, n_inputs: int) -> dict[str, Any]:
    """The forward's arguments after the first ``n_inputs`` bound to their defaults (for ``fx.Tracer.trace``'s
    ``concrete_args``); a forward that needs more inputs than given is refused."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return {}
    if any(p.kind is p.VAR_POSITIONAL for p in params[:n_inputs + 1]):
        return {}
    named = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    needed = [p.name for p in named if p.default is p.empty]
    if len(needed) > n_inputs:
        raise IllusionError(f"{type(model).__name__}.forward needs {len(needed)} inputs ({', '.join(needed)}) but "
                            f"gets {n_inputs}; the chips are fed one tensor: wrap the model in a module whose "
                            f"forward takes one (e.g. forward(self, x): return net(x, y))")
    return {p.name: p.default for p in named[n_inputs:] if p.default is not p.empty}


def drop_bound(gm: fx.GraphModule, n_inputs: int) -> None:
    """Remove what binding defaults leaves in the graph: fx's checks that a bound argument keeps its value and
    the bound arguments' placeholders."""
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target is _assert_is_none:
            gm.graph.erase_node(node)
    holders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for node in reversed(holders[n_inputs:]):
        if node.users and node.args:         # a bound value still read (timm's is_causal=False): use it
            value = node.args[0]

            def bound(a: Any, node: fx.Node = node, value: Any = value) -> Any:
                return value if a is node else a

            for user in list(node.users):
                user.args = map_aggregate(user.args, bound)
                user.kwargs = map_aggregate(user.kwargs, bound)
        if not node.users:
            gm.graph.erase_node(node)
    gm.recompile()


class _QuietShapeProp(ShapeProp):
    """torch.fx's ShapeProp without the traceback it prints before raising; a failing node raises
    InputsRejected naming the node and the first line of the error."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.extra_traceback = False

    def run_node(self, n: fx.Node) -> Any:
        try:
            result = fx.Interpreter.run_node(self, n)
        except IllusionError:
            raise
        except Exception as e:       # torch raises many types; the user needs the op and its reason
            where = f"layer {n.target} ({type(self.module.get_submodule(str(n.target))).__name__})" \
                if n.op == "call_module" else f"op {n.name}"
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            if isinstance(e, MemoryError) or "can't allocate memory" in str(e):
                first = "out of memory"
            raise InputsRejected(f"{where}: {type(e).__name__}: {first}") from e
        found = False

        def meta(obj: Any) -> Any:
            nonlocal found
            if isinstance(obj, torch.Tensor):
                found = True
                return _extract_tensor_metadata(obj)
            return obj

        tensor_meta = map_aggregate(result, meta)
        if found:
            n.meta["tensor_meta"] = tensor_meta
        n.meta["type"] = type(result)
        return result


def run_quietly(gm: fx.GraphModule, inputs: tuple[torch.Tensor, ...], model_name: str) -> None:
    """Record every node's shape (``tensor_meta``) by running ``gm`` on ``inputs``; one line if it fails."""
    try:
        with torch.no_grad():
            _QuietShapeProp(gm).propagate(*inputs)
    except InputsRejected as e:
        shown = ", ".join(_shape_text(t) for t in inputs)
        raise InputsRejected(f"{model_name} fails on example inputs of {shown} at {e}; give inputs of the shape "
                             f"and dtype the model takes (a batch: x[:1])") from None


def one_output(gm: fx.GraphModule) -> tuple[tuple, str]:
    """Reduce a tuple, list or dict output to its first tensor (after ``run_quietly``): (path into the model's
    output, a phrase naming it); ((), "") when the output is one tensor already."""
    out = gm.graph.output_node()
    value = out.args[0]
    if isinstance(value, fx.Node):
        return (), ""
    leaves: list[tuple[tuple, fx.Node]] = []

    def walk(v: Any, path: tuple) -> None:
        if isinstance(v, fx.Node):
            if "tensor_meta" in v.meta and isinstance(v.meta["tensor_meta"], TensorMetadata):
                leaves.append((path, v))
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(item, (*path, k))
        elif isinstance(v, (tuple, list)):
            for i, item in enumerate(v):
                walk(item, (*path, i))

    walk(value, ())
    if not leaves:
        raise IllusionError("the model returns no tensor; its forward must return the logits (a tensor, or a "
                            "tuple or dict whose first tensor is the output to partition)")
    path, node = leaves[0]
    out.args = (node,)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    kind = "dict" if isinstance(value, dict) else "tuple"
    what = f"{path[0]!r}" if kind == "dict" and len(path) == 1 else f"item {'/'.join(map(str, path))}"
    return path, f"{what} of the model's {kind} output ({len(leaves)} tensors; the first is partitioned)"


def select_output(result: Any, path: tuple) -> Any:
    """The part of the model's ``result`` at ``path`` (``one_output``'s)."""
    for key in path:
        result = result[key]
    return result


def check_batch(gm: fx.GraphModule, x: Any, what: str = "the inputs") -> None:
    """Refuse, with one line, a batch ``x`` that the traced model ``gm`` cannot take: not a tensor, not on the
    CPU, another shape per input than the example it was traced on, or values where it takes token ids (and
    token ids where it takes values)."""
    holder = next((n for n in gm.graph.nodes if n.op == "placeholder"), None)
    meta = holder.meta.get("tensor_meta") if holder is not None else None
    if not isinstance(x, torch.Tensor):
        raise IllusionError(f"{what} must be a tensor (a batch), got {type(x).__name__}")
    if x.device.type != "cpu":
        raise IllusionError(f"{what} are on the {x.device.type} device; the chips are simulated on the CPU: "
                            f"pass x.cpu()")
    if meta is None:
        return
    free = gm.meta.get("free_dims", ())                 # a token sequence's length, captured free
    each = tuple(meta.shape[1:])
    if x.dim() != len(meta.shape) or any(a != b for d, (a, b) in enumerate(zip(x.shape, meta.shape, strict=True))
                                         if d > 0 and d not in free):
        sizes = ", ".join("L" if d + 1 in free else str(s) for d, s in enumerate(each))
        raise IllusionError(f"{what} have shape {tuple(x.shape)}; the system was traced on inputs of shape "
                            f"(N, {sizes}): give a batch of those (one input: x[None])"
                            if each else f"{what} have shape {tuple(x.shape)}; the system takes a batch (N,)")
    if x.is_floating_point() != meta.dtype.is_floating_point:
        takes = "values (a floating-point tensor)" if meta.dtype.is_floating_point else "token ids (an integer tensor)"
        fix = "x.float()" if meta.dtype.is_floating_point else "x.long()"
        raise IllusionError(f"{what} are {str(x.dtype).removeprefix('torch.')}; the system takes {takes}: pass "
                            f"{fix}")


def _to_float64(module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
    return output.double()


def float64_copy(model: nn.Module, keep_tables: bool = True) -> nn.Module:
    """An eval-mode copy of ``model`` with float64 parameters and buffers, made tensor by tensor (never
    a float32 copy and a float64 one at once). Embedding tables stay in their dtype (shared, read only): a
    lookup is exact in any dtype, so their rows are cast after it — a large vocabulary is never doubled.
    ``keep_tables=False``: tables are cast too (a copy to capture, whose graph must not hold the hook's cast)."""
    memo: dict[int, object] = {}
    computed = {id(p) for m in model.modules() if type(m) is not nn.Embedding for p in m.parameters(recurse=False)}
    tables = [m for m in model.modules()          # a table tied to a layer (an LM head) is computed with: cast
              if keep_tables and type(m) is nn.Embedding and m.max_norm is None and id(m.weight) not in computed]
    for m in tables:
        memo[id(m.weight)] = m.weight
    for p in model.parameters():
        if id(p) in memo:
            continue
        memo[id(p)] = nn.Parameter(p.detach().double() if p.is_floating_point() else p.detach().clone(),
                                   requires_grad=False)
    for b in model.buffers():
        memo[id(b)] = b.double() if b.is_floating_point() else b.clone()
    out = copy.deepcopy(model, memo).eval()
    kept = {id(memo[id(m.weight)]) for m in tables}
    for table in out.modules():
        if type(table) is nn.Embedding and id(table.weight) in kept:
            table.register_forward_hook(_to_float64)
    return out
