"""The second door: capture a model with torch.export and lift its aten graph back into the layers the op table
knows, sharing the user's Parameters — so a model that torch.fx cannot trace (Hugging Face transformers, code
with Python control flow on shapes) splits across chips exactly as the fx path's layers do.

Usage::

    from illusion_torch.partitioning.exported import lift_export
    gm = lift_export(model, (x[:1],))     # an fx.GraphModule: nn.Linear / nn.Conv2d / nn.Embedding /
    #                                       nn.LayerNorm layers holding the model's own Parameters, attention
    #                                       as two matmuls and a softmax, any batch size
    gm = lift(ep)                         # the same for an ExportedProgram you already have

What is lifted (the rest stays as aten ops, which the op table reads like torch functions):

- ``aten.linear`` with a parameter weight → ``nn.Linear``; ``addmm`` / ``mm`` / ``matmul`` with a parameter
  operand (GPT-2's ``Conv1D`` keeps its weight transposed) → ``nn.Linear`` on a transposed view of it (no copy),
  applied to the un-flattened input so its output keeps the sequence dimension.
- ``aten.conv2d`` → ``nn.Conv2d``; ``aten.conv1d`` → ``nn.Conv2d`` on a (1, k) view of its weight, between an
  unsqueeze and a squeeze of the height; ``aten.embedding`` → ``nn.Embedding``; ``aten.layer_norm`` → ``nn.LayerNorm``;
  ``aten.group_norm`` → ``nn.GroupNorm``; eval batch norm → ``nn.BatchNorm2d``/``1d``; ``aten.rms_norm`` →
  ``nn.RMSNorm``. A parameter multiplied or added elementwise (an RMS norm written out, as Llama's is) → a
  ``ParamOp`` stored whole on one chip, its statistics left as the weightless ops they are.
- ``aten.scaled_dot_product_attention`` → ``q·kᵀ × scale``, its causal or padding mask, softmax, ``·v``, with
  k/v heads repeated for grouped-query attention — the form ``decompose.Attention`` has.

**Dtypes.** The graph is captured from a float64 copy of the model, so every cast in it is the float64 model's:
a cast to float64 follows the dtype the graph runs in (``RunDtype``: the model's own dtype, or float64 in an
exact run), a cast to float32 that the model's own code makes (Llama computes its RMS norm and rotary angles in
float32) stays, and torch.export's dtype assertions go. Run in float64, the graph computes what the user's model
computes in float64; run in the model's dtype, what it computes as it is. The batch dimension is captured
dynamic (an example of one serves any batch); a model that fixes it is captured for its example's batch.
"""

from __future__ import annotations

import math
import operator
import os
import traceback
from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn

from ..errors import IllusionError
from .inputs import float64_copy

__all__ = ["lift_export", "lift", "RunDtype", "RunDtypeCall", "ParamOp", "ExportError", "user_line",
           "causal_scores", "masked_scores_by"]

aten = torch.ops.aten


class ExportError(IllusionError):
    """torch.export cannot capture the model; the message names the model's line that stopped it."""


class RunDtype(nn.Module):
    """A cast to the dtype the graph runs in: its zero-size buffer is cast with the model's weights."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("like", torch.zeros(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.like.dtype) if x.is_floating_point() or self.like.is_floating_point() else x


class RunDtypeCall(nn.Module):
    """A tensor-making op (``arange``, ``full``, ...) whose float64 dtype at capture becomes the run's dtype."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn
        self.register_buffer("like", torch.zeros(0))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **{**kwargs, "dtype": self.like.dtype})


class ParamOp(nn.Module):
    """An elementwise op with a stored operand (an RMS norm's scale): ``fn(weight, x)`` or ``fn(x, weight)``."""

    def __init__(self, fn: Callable[..., torch.Tensor], weight: nn.Parameter, weight_first: bool) -> None:
        super().__init__()
        self.fn, self.weight, self.weight_first = fn, weight, weight_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.weight, x) if self.weight_first else self.fn(x, self.weight)


def causal_scores(scores: torch.Tensor) -> torch.Tensor:
    """Attention scores with every key after its query set to −inf (``is_causal``; L×S, aligned top-left)."""
    L, S = scores.shape[-2], scores.shape[-1]
    future = torch.ones(L, S, dtype=torch.bool, device=scores.device).triu(1)
    return scores.masked_fill(future, float("-inf"))


def masked_scores_by(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scores under scaled_dot_product_attention's boolean ``attn_mask``: True keeps a score, False makes it −inf
    (a float mask is added to the scores instead). No Python control flow: a GraphModule is traced again
    when it is unpickled (a chip rank's programs)."""
    return scores.masked_fill(~mask, float("-inf"))


def user_line(e: BaseException) -> str:
    """``file:line`` of the deepest frame of ``e``'s traceback outside torch and illusion_torch: the model's
    line that stopped a tracer ('' when there is none)."""
    skip = (os.path.dirname(torch.__file__), os.path.dirname(os.path.dirname(__file__)))
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith(skip)]
    if not frames:
        return ""
    f = frames[-1]
    return f"{os.path.relpath(f.filename) if not f.filename.startswith('/usr') else f.filename}:{f.lineno} " \
           f"({(f.line or '').strip()[:80]})"


def _is_float64_model(model: nn.Module) -> bool:
    return all(t.dtype == torch.float64 for t in (*model.parameters(), *model.buffers()) if t.is_floating_point())


def _capture_copy(model: nn.Module) -> nn.Module:
    """The float64 copy torch.export captures (``inputs.float64_copy``, tables cast too), asking a
    transformers model for no KV cache in its output."""
    out = float64_copy(model, keep_tables=False)
    for config in _caching(out):
        config.use_cache = False
    return out


def _caching(model: nn.Module) -> list[Any]:
    """The transformers configs inside ``model`` that ask for a KV cache (an output torch.export cannot hold)."""
    configs = {id(c): c for m in model.modules() if getattr(c := getattr(m, "config", None), "use_cache", 0) is True}
    return list(configs.values())


def _export(model: nn.Module, example: tuple[torch.Tensor, ...]) -> torch.export.ExportedProgram:
    """torch.export (non-strict) of a float64 copy of ``model``, its batch dimension dynamic where it can be,
    and a sequence of token ids (an integer (batch, length) input) of any length the model takes."""
    m64 = model if _is_float64_model(model) and not _caching(model) else _capture_copy(model)
    args = tuple(t.double() if t.is_floating_point() else t for t in example)
    batch = int(args[0].shape[0]) if args and args[0].dim() else 0
    if batch:
        two = tuple(t.expand(max(batch, 2), *t.shape[1:]).clone() for t in args)
        dim = torch.export.Dim("batch")
        length = torch.export.Dim.AUTO            # dynamic over the range the model allows, or fixed by it
        tries = [tuple({0: dim, 1: length} if _token_ids(t) else {0: dim} for t in two),
                 tuple({0: dim} for _ in two)]
        for dynamic in tries if any(map(_token_ids, two)) else tries[1:]:
            try:
                return torch.export.export(m64, two, dynamic_shapes=dynamic, strict=False)
            except Exception:  # noqa: BLE001, S112 - a model that fixes its batch is captured for its example's
                continue
    return torch.export.export(m64, args, strict=False)


def _token_ids(t: torch.Tensor) -> bool:
    """A batch of token-id sequences: an integer (batch, length) tensor."""
    return t.dim() == 2 and not t.is_floating_point() and t.dtype != torch.bool


def free_dims(ep: torch.export.ExportedProgram) -> tuple[int, ...]:
    """The dimensions past the batch of the program's first input that are free (a sequence's length)."""
    holders = [n for n in ep.graph.nodes if n.op == "placeholder" and n.name in ep.graph_signature.user_inputs]
    val = holders[0].meta.get("val") if holders else None
    shape = getattr(val, "shape", ())
    return tuple(d for d, size in enumerate(shape) if d > 0 and not isinstance(size, int))


def lift_export(model: nn.Module, example: tuple[torch.Tensor, ...]) -> fx.GraphModule:
    """Capture ``model`` with torch.export and ``lift`` the graph onto ``model``'s own Parameters."""
    try:
        with torch.no_grad():
            ep = _export(model, example)
    except Exception as e:  # torch.export raises many types; the user needs its reason and the line
        where = user_line(e)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:240]
        raise ExportError(f"{type(e).__name__}: {first}" + (f" at {where}" if where else "")) from None
    return lift(ep, model)


def _holding(module: nn.Module, weight: nn.Parameter, bias: nn.Parameter | None) -> nn.Module:
    """``module`` (made on the meta device) holding ``weight`` and ``bias`` — the model's own tensors."""
    module.weight = weight
    if bias is not None:
        module.bias = bias
    return module


def _owner_path(target: str) -> str:
    """The layer's module path from its weight's: ``a.fc.weight`` → ``a.fc``; ``a.attn.in_proj_weight`` →
    ``a.attn.in_proj`` (a weight that is not its module's ``weight``)."""
    owner, _, attr = target.rpartition(".")
    if attr in ("weight", "bias"):
        return owner or attr
    return f"{owner}.{attr.removesuffix('_weight')}" if owner else attr.removesuffix("_weight")


class _Lifter:
    """Builds the lifted graph node by node from the exported one."""

    def __init__(self, ep: torch.export.ExportedProgram, model: nn.Module | None) -> None:
        self.ep = ep
        self.src = ep.module()
        self.graph = fx.Graph()
        self.root: dict[str, Any] = {}
        self.env: dict[fx.Node, fx.Node] = _Env(self)
        self.user: dict[str, torch.Tensor] = {}
        self.model = model
        if model is not None:
            self.user = {**dict(model.named_parameters(remove_duplicate=False)),
                         **dict(model.named_buffers(remove_duplicate=False))}
        self.used_paths: set[str] = set()
        self.names: dict[int, list[str]] = {}          # a tensor's every name in the model (tied weights: several)
        for name, t in self.user.items():
            self.names.setdefault(id(t), []).append(name)

    # --- helpers
    def tensor(self, n: Any) -> torch.Tensor | None:
        """The stored tensor a get_attr node reads (the user's own where it has one), else None."""
        if not (isinstance(n, fx.Node) and n.op == "get_attr"):
            return None
        target = str(n.target)
        if target in self.user:
            return self.user[target]
        value = self.src
        for part in target.split("."):
            value = getattr(value, part)
        return value if isinstance(value, torch.Tensor) else None

    def param(self, n: Any) -> nn.Parameter | None:
        t = self.tensor(n)
        return t if isinstance(t, nn.Parameter) else None

    def materialize(self, n: fx.Node) -> fx.Node:
        """A get_attr node, put in the lifted graph where first needed (weights a layer took never are)."""
        assert n.op == "get_attr", n
        target = str(n.target)
        t = self.tensor(n)
        value = t if t is not None else _attr(self.src, target)
        key = target
        if any(key.startswith(p + ".") for p in self.used_paths) or key in self.used_paths:
            key = target.replace(".", "_")
        self.root[key] = value
        new = self.graph.get_attr(key)
        new.meta.update(n.meta)
        return new

    def add_module(self, base: str, module: nn.Module) -> str:
        if any(base.startswith(p + ".") for p in self.used_paths):       # never inside another lifted layer
            base = base.replace(".", "_")
        path, i = base, 1
        while path in self.used_paths or path in self.root or any(k.startswith(path + ".") for k in self.root):
            path, i = f"{base}_{i}", i + 1
        self.used_paths.add(path)
        self.root[path] = module
        return path

    def module_call(self, base: str | fx.Node, module: nn.Module, *args: Any) -> fx.Node:
        """Call ``module`` as a new layer; ``base``: its path, or the get_attr node of its weight, whose name
        in the model gives the path (of the names a tied weight has, the one of a module of the same kind)."""
        if isinstance(base, fx.Node):
            target = str(base.target)
            t = self.tensor(base)
            names = self.names.get(id(t), []) if t is not None else []
            model = self.model
            for name in names:
                owner = name.rpartition(".")[0]
                if model is not None and type(model.get_submodule(owner)) is type(module):
                    target = name
                    break
            base = _owner_path(target)
        return self.graph.call_module(self.add_module(base, module), args)

    def a(self, x: Any) -> Any:
        return fx.node.map_arg(x, lambda n: self.env[n])

    @staticmethod
    def shape(n: Any) -> torch.Size | None:
        val = n.meta.get("val") if isinstance(n, fx.Node) else None
        return val.shape if isinstance(val, torch.Tensor) else None

    # --- lifting rules: each returns the new node, or None to copy the node as it is
    def linear(self, n: fx.Node) -> fx.Node | None:
        x, w = n.args[0], n.args[1]
        b = n.args[2] if len(n.args) > 2 else n.kwargs.get("bias")
        weight, bias = self.param(w), self.param(b) if b is not None else None
        if weight is None or weight.dim() != 2 or (b is not None and bias is None):
            return None
        lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
        return self.module_call(w, _holding(lin, weight, bias), self.env[x])

    def transposed_linear(self, x: Any, w: fx.Node, b: Any) -> fx.Node | None:
        """``x @ w (+ b)`` with ``w`` a stored (in, out) parameter: an nn.Linear on its transposed view, applied
        to ``x`` before the flattening an addmm needs; the result flattened as the model had it."""
        weight = self.param(w)
        bias = self.param(b) if b is not None else None
        if weight is None or weight.dim() != 2 or (b is not None and bias is None):
            return None
        lin = _holding(nn.Linear(weight.shape[0], weight.shape[1], bias=bias is not None, device="meta"),
                       nn.Parameter(weight.t(), requires_grad=weight.requires_grad), bias)     # a view: no copy
        inner = x
        if isinstance(x, fx.Node) and x.op == "call_function" and x.target in (
                aten.view.default, aten.reshape.default, aten._unsafe_view.default):
            src = x.args[0]
            shape = self.shape(src)
            if shape is not None and len(shape) > 2 and shape[-1] == weight.shape[0]:
                inner = src
        out = self.module_call(w, lin, self.env[inner])
        if inner is not x:
            out = self.graph.call_function(aten.reshape.default, (out, [-1, weight.shape[1]]))
        return out

    def addmm(self, n: fx.Node) -> fx.Node | None:
        b, x, w = n.args[:3]
        if n.kwargs.get("beta", 1) != 1 or n.kwargs.get("alpha", 1) != 1:
            return None
        return self.transposed_linear(x, w, b)

    def mm(self, n: fx.Node) -> fx.Node | None:
        x, w = n.args[:2]
        if self.param(x) is not None:
            return None
        return self.transposed_linear(x, w, None)

    def conv_args(self, n: fx.Node, dims: int) -> tuple | None:
        """(input, weight node, weight, bias, stride, padding, dilation, groups) of an ``aten.conv{1,2}d`` whose
        weight (of ``dims`` dimensions) and bias are stored parameters; None otherwise."""
        x, w = n.args[0], n.args[1]
        b = n.args[2] if len(n.args) > 2 else None
        weight, bias = self.param(w), self.param(b) if b is not None else None
        if weight is None or weight.dim() != dims or (b is not None and bias is None):
            return None
        stride, padding, dilation, groups = (list(n.args[3:7]) + [1, 0, 1, 1][len(n.args[3:7]):])
        if isinstance(padding, str):
            return None
        return x, w, weight, bias, stride, padding, dilation, groups

    def conv(self, n: fx.Node) -> fx.Node | None:
        args = self.conv_args(n, 4)
        if args is None:
            return None
        x, w, weight, bias, stride, padding, dilation, groups = args
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=stride,
                         padding=padding, dilation=dilation, groups=groups, bias=bias is not None, device="meta")
        return self.module_call(w, _holding(conv, weight, bias), self.env[x])

    def conv1d(self, n: fx.Node) -> fx.Node | None:
        """A 1-D convolution over (N, C, L) as the nn.Conv2d the op table splits, on (N, C, 1, L) and a (1, k)
        view of the weight (no copy); the result squeezed back to (N, C', L')."""
        args = self.conv_args(n, 3)
        if args is None:
            return None
        x, w, weight, bias, stride, padding, dilation, groups = args
        one = [(v[0] if isinstance(v, (list, tuple)) else v) for v in (stride, padding, dilation)]
        conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], (1, weight.shape[2]), stride=(1, one[0]),
                         padding=(0, one[1]), dilation=(1, one[2]), groups=groups, bias=bias is not None,
                         device="meta")
        view = nn.Parameter(weight.unsqueeze(2), requires_grad=weight.requires_grad)      # a view: no copy
        x4 = self.graph.call_function(aten.unsqueeze.default, (self.env[x], 2))
        out = self.module_call(w, _holding(conv, view, bias), x4)
        return self.graph.call_function(aten.squeeze.dim, (out, 2))

    def embedding(self, n: fx.Node) -> fx.Node | None:
        w, idx = n.args[0], n.args[1]
        weight = self.param(w)
        padding_idx = n.args[2] if len(n.args) > 2 else -1
        if weight is None or weight.dim() != 2:
            return None
        table = nn.Embedding(weight.shape[0], weight.shape[1], device="meta",
                             padding_idx=None if padding_idx < 0 else padding_idx)
        table.weight = weight
        return self.module_call(w, table, self.env[idx])

    def layer_norm(self, n: fx.Node) -> fx.Node | None:
        x, shape = n.args[0], n.args[1]
        w = n.args[2] if len(n.args) > 2 else None
        b = n.args[3] if len(n.args) > 3 else None
        eps = n.args[4] if len(n.args) > 4 else 1e-5
        weight, bias = self.param(w), self.param(b)
        if weight is None or (b is not None and bias is None):
            return None
        norm = nn.LayerNorm(list(shape), eps=eps, bias=bias is not None, device="meta")
        return self.module_call(w, _holding(norm, weight, bias), self.env[x])

    def rms_norm(self, n: fx.Node) -> fx.Node | None:
        x, shape = n.args[0], n.args[1]
        w = n.args[2] if len(n.args) > 2 else None
        eps = n.args[3] if len(n.args) > 3 else None
        weight = self.param(w)
        if weight is None:
            return None
        norm = nn.RMSNorm(list(shape), eps=eps, device="meta")
        norm.weight = weight
        return self.module_call(w, norm, self.env[x])

    def group_norm(self, n: fx.Node) -> fx.Node | None:
        x, groups, w, b = n.args[:4]
        eps = n.args[4] if len(n.args) > 4 else 1e-5
        weight, bias = self.param(w), self.param(b)
        if weight is None or bias is None:
            return None
        norm = nn.GroupNorm(groups, weight.shape[0], eps=eps, device="meta")
        norm.weight, norm.bias = weight, bias
        return self.module_call(w, norm, self.env[x])

    def batch_norm(self, n: fx.Node) -> fx.Node | None:
        """Eval batch norm (``_native_batch_norm_legit_no_training`` returns a tuple; its item 0 is read)."""
        x, w, b, mean, var = n.args[:5]
        eps = n.args[-1]
        weight, bias, rm, rv = self.param(w), self.param(b), self.tensor(mean), self.tensor(var)
        shape = self.shape(x)
        if None in (weight, bias, rm, rv) or shape is None or len(shape) not in (2, 3, 4):
            return None
        cls = nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d
        bn = cls(weight.shape[0], eps=eps, device="meta").eval()
        bn.weight, bn.bias = weight, bias
        bn.running_mean, bn.running_var = rm, rv
        bn.num_batches_tracked = None
        return self.module_call(w, bn, self.env[x])

    def elementwise(self, n: fx.Node) -> fx.Node | None:
        """``mul``/``add``/``sub``/``div`` of one activation and one per-feature (1-D) parameter: a ParamOp."""
        if len(n.args) != 2 or n.kwargs:
            return None
        p0, p1 = self.param(n.args[0]), self.param(n.args[1])
        if (p0 is None) == (p1 is None) or not all(isinstance(a, fx.Node) for a in n.args):
            return None
        weight, x = (p0, n.args[1]) if p0 is not None else (p1, n.args[0])
        if weight.dim() != 1:                    # a positional table added: a constant, stored in slices
            return None
        w_node = n.args[0] if p0 is not None else n.args[1]
        op = ParamOp(n.target, weight, weight_first=p0 is not None)
        return self.module_call(w_node, op, self.env[x])

    def attention(self, n: fx.Node) -> fx.Node | None:
        q, k, v = (self.env[a] for a in n.args[:3])
        names = ("attn_mask", "dropout_p", "is_causal")
        extra = dict(zip(names, n.args[3:6], strict=False)) | {k_: v_ for k_, v_ in n.kwargs.items()}
        mask, causal = extra.get("attn_mask"), bool(extra.get("is_causal", False))
        qs, ks = self.shape(n.args[0]), self.shape(n.args[1])
        if qs is None or ks is None:
            return None
        scale = extra.get("scale")
        scale = 1.0 / math.sqrt(int(qs[-1])) if scale is None else float(scale)
        g = self.graph
        if len(qs) >= 3 and len(ks) >= 3 and int(ks[-3]) != int(qs[-3]):          # grouped-query attention
            rep = int(qs[-3]) // int(ks[-3])
            k = g.call_function(aten.repeat_interleave.self_int, (k, rep, -3))
            v = g.call_function(aten.repeat_interleave.self_int, (v, rep, -3))
        scores = g.call_function(torch.matmul, (q, g.call_function(aten.transpose.int, (k, -2, -1))))
        scores = g.call_function(torch.mul, (scores, scale))
        if causal:
            scores = g.call_function(causal_scores, (scores,))
        if mask is not None:
            mask_val = mask.meta.get("val") if isinstance(mask, fx.Node) else None
            if mask_val is not None and mask_val.dtype == torch.bool:
                scores = g.call_function(masked_scores_by, (scores, self.env[mask]))
            else:
                scores = g.call_function(torch.add, (scores, self.env[mask]))
        weights = g.call_function(torch.softmax, (scores, -1))
        return g.call_function(torch.matmul, (weights, v))

    def cast(self, n: fx.Node) -> fx.Node | None:
        """A cast to float64 (the capture's dtype) follows the run's dtype; any other stays."""
        dtype = n.kwargs.get("dtype")
        if dtype is None:
            dtype = next((a for a in n.args[1:] if isinstance(a, torch.dtype)), None)
        if dtype != torch.float64:
            if n.target is aten.to.device or n.target is aten._to_copy.default:
                return self.graph.call_function(aten.to.dtype, (self.env[n.args[0]], dtype)) \
                    if dtype is not None else self.env[n.args[0]]
            return None
        return self.module_call("run_dtype", RunDtype(), self.env[n.args[0]])

    RULES: dict[Any, str] = {
        aten.linear.default: "linear", aten.addmm.default: "addmm", aten.mm.default: "mm",
        aten.matmul.default: "mm", aten.conv2d.default: "conv", aten.embedding.default: "embedding",
        aten.conv1d.default: "conv1d",
        aten.layer_norm.default: "layer_norm", aten.rms_norm.default: "rms_norm",
        aten.group_norm.default: "group_norm",
        aten.mul.Tensor: "elementwise", aten.add.Tensor: "elementwise", aten.sub.Tensor: "elementwise",
        aten.div.Tensor: "elementwise",
        aten.scaled_dot_product_attention.default: "attention",
        aten.to.dtype: "cast", aten.to.dtype_layout: "cast", aten._to_copy.default: "cast", aten.to.device: "cast",
    }
    DROPPED = (aten._assert_tensor_metadata.default,)
    PASSED = (aten.dropout.default, aten.alias.default, aten.clone.default, aten.contiguous.default,
              aten.detach.default)

    def run(self) -> fx.GraphModule:
        out_spec = None
        for n in self.src.graph.nodes:
            if n.op == "output":
                out_spec = n.args[0]
                continue
            if (n.op == "call_function" and n.target in self.DROPPED) or (
                    n.op == "call_module" and n.target == "_guards_fn"):     # export's input-shape guards
                continue
            if n.op == "get_attr":
                continue                                    # materialised where first used
            if n.op == "call_function" and n.target in self.PASSED and n.args and isinstance(n.args[0], fx.Node):
                self.env[n] = self.env[n.args[0]]
                continue
            new = None
            if n.op == "call_function" and n.target is aten.view.default:
                # chips gather slices into fresh tensors, whose strides a view may not fit: reshape
                new = self.graph.call_function(aten.reshape.default, self.a(n.args))
            elif n.op == "call_function":
                rule = self.RULES.get(n.target)
                if rule is not None:
                    new = getattr(self, rule)(n)
                elif n.target is aten._native_batch_norm_legit_no_training.default:
                    bn = self.batch_norm(n)
                    if bn is not None:
                        self.env[n] = bn
                        self._bn_tuple.add(n)
                        continue
                elif n.kwargs.get("dtype") == torch.float64:
                    call = RunDtypeCall(n.target)
                    kwargs = {k: self.a(v) for k, v in n.kwargs.items() if k != "dtype"}
                    new = self.graph.call_module(self.add_module("run_dtype", call), self.a(n.args), kwargs)
                elif n.target is operator.getitem and n.args[0] in self._bn_tuple:
                    self.env[n] = self.env[n.args[0]]
                    continue
            if new is None:
                new = self.graph.node_copy(n, lambda a: self.env[a])
                if n.op == "call_module":
                    self.root[str(n.target)] = self.src.get_submodule(str(n.target))
            new.meta.update({k: v for k, v in n.meta.items() if k in ("stack_trace", "nn_module_stack")})
            self.env[n] = new
        leaves = [self.env[a] for a in out_spec] if isinstance(out_spec, (tuple, list)) else [self.env[out_spec]]
        spec = getattr(getattr(self.src, "_out_spec", None), "context", None)
        if isinstance(spec, list) and len(spec) == len(leaves) and all(isinstance(k, str) for k in spec):
            self.graph.output(dict(zip(spec, leaves, strict=True)))
        else:
            self.graph.output(leaves[0] if len(leaves) == 1 else tuple(leaves))
        root = nn.Module()
        for path, value in self.root.items():
            *parents, name = path.split(".")
            owner = root
            for part in parents:
                if not hasattr(owner, part):
                    owner.add_module(part, nn.Module())
                owner = getattr(owner, part)
            if isinstance(value, nn.Module):
                owner.add_module(name, value)
            elif isinstance(value, nn.Parameter):
                owner.register_parameter(name, value)
            else:
                owner.register_buffer(name, value)
        gm = fx.GraphModule(root, self.graph, type(self.src).__name__)
        gm.graph.eliminate_dead_code()
        gm.delete_all_unused_submodules()
        gm.graph.lint()
        gm.recompile()
        gm.meta["lifted"] = True
        gm.meta["free_dims"] = free_dims(self.ep)
        return gm.eval()

    _bn_tuple: set[fx.Node]


def _attr(module: nn.Module, target: str) -> Any:
    for part in target.split("."):
        module = getattr(module, part)
    return module


class _Env(dict):
    """Old node -> new node; a get_attr node is materialised on first lookup."""

    def __init__(self, lifter: _Lifter) -> None:
        super().__init__()
        self.lifter = lifter

    def __missing__(self, n: fx.Node) -> fx.Node:
        new = self[n] = self.lifter.materialize(n)
        return new


def lift(ep: torch.export.ExportedProgram, model: nn.Module | None = None) -> fx.GraphModule:
    """The exported graph with its weighted ops as layers sharing ``model``'s Parameters (by name; the
    program's own tensors where ``model`` is None or lacks one)."""
    lifter = _Lifter(ep, model)
    lifter._bn_tuple = set()
    return lifter.run()

