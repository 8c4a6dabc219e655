"""Integer values between chips — token ids, position ids — and the signed codes that hold them.

Usage::

    from illusion_torch.partitioning.indices import index_bits
    bits = index_bits(programs.expanded)       # {node name: 8 | 16 | 32} for integer values with a known bound

A token id indexes the model's largest table, so it needs the bits of its last row (a 30,522-row vocabulary:
15 bits, a 16-bit code); a stored integer tensor (BERT's position ids) needs those of its largest entry; a
slice, reshape or copy keeps its input's bound, a sum adds the bounds, a product multiplies them. The message
plan counts such a value at that code's bytes and the distributed runtime sends it as that code — the same
bytes. An integer whose bound the graph does not show (an argmax: a gated model's route) is left as it was:
the plan's word, sent as it is.
"""

from __future__ import annotations

import operator

import torch
from torch import fx, nn

from .slices import EmbeddingJoin, EmbeddingRows, TableLookup

__all__ = ["index_bits", "code_bits"]

_SUMS = {operator.add, operator.sub, torch.add, torch.sub, torch.ops.aten.add.Tensor, torch.ops.aten.sub.Tensor}
_PRODUCTS = {operator.mul, torch.mul, torch.ops.aten.mul.Tensor}
_aten = torch.ops.aten
_KEEPS = {operator.getitem, torch.reshape, torch.flatten, torch.cat, torch.stack, torch.squeeze, torch.unsqueeze,
          torch.transpose, torch.permute, torch.clone, _aten.slice.Tensor, _aten.select.int, _aten.reshape.default,
          _aten.view.default, _aten.expand.default, _aten.unsqueeze.default, _aten.squeeze.dim,
          _aten.clone.default, _aten.cat.default, _aten.permute.default, _aten.transpose.int,
          _aten._to_copy.default}
_PICKS = {torch.gather, torch.index_select, torch.take, _aten.gather.default, _aten.index_select.default,
          _aten.index.Tensor}                   # entries of their first input, picked by the others
_KEEPS_METHODS = {"reshape", "view", "expand", "unsqueeze", "squeeze", "flatten", "permute", "transpose",
                  "contiguous", "clone", "to", "long", "int", "type_as", "__getitem__", "repeat", "narrow"}


def code_bits(bound: int) -> int | None:
    """The signed code (8, 16 or 32 bits) that holds every integer of magnitude ≤ ``bound``; None past 32."""
    need = int(bound).bit_length() + 1
    return next((b for b in (8, 16, 32) if need <= b), None)


def _rows(gm: fx.GraphModule) -> int:
    """The rows of the largest table the graph looks up (its token ids' range); 0 when it has none."""
    rows = 0
    for m in gm.modules():
        if isinstance(m, EmbeddingRows):
            rows = max(rows, m.vocab)
        elif isinstance(m, TableLookup):
            rows = max(rows, m.weight.shape[0])
        elif isinstance(m, nn.Embedding):
            rows = max(rows, m.num_embeddings)
        elif isinstance(m, EmbeddingJoin) and m.bounds:
            rows = max(rows, m.bounds[-1][1])
    return rows


def _integer(node: fx.Node) -> bool:
    dtype = getattr(node.meta.get("tensor_meta"), "dtype", None)
    return dtype is not None and not dtype.is_floating_point and dtype != torch.bool and not dtype.is_complex


def index_bits(gm: fx.GraphModule) -> dict[str, int]:
    """{name: code bits} for every integer-valued node of ``gm`` (shapes propagated) whose bound it shows."""
    rows = _rows(gm)
    bound: dict[str, int] = {}
    for n in gm.graph.nodes:
        if not _integer(n):
            continue
        if n.op == "placeholder":
            if rows:
                bound[n.name] = rows - 1
            continue
        if n.op == "get_attr":
            t = gm
            for part in str(n.target).split("."):
                t = getattr(t, part)
            if isinstance(t, torch.Tensor) and t.numel():
                bound[n.name] = int(t.abs().max())
            continue
        ins = [a for a in n.all_input_nodes if _integer(a)]
        if n.op == "call_function" and n.target in _PICKS and n.args and isinstance(n.args[0], fx.Node):
            if n.args[0].name in bound:
                bound[n.name] = bound[n.args[0].name]
            continue
        if not ins or any(a.name not in bound for a in ins):
            continue                           # made here (an argmax, an arange): no bound shown
        if n.op == "call_module" and isinstance(gm.get_submodule(str(n.target)), TableLookup):
            continue
        b = [bound[a.name] for a in ins]
        if n.op == "call_function" and n.target in _SUMS:
            bound[n.name] = sum(b) + sum(abs(a) for a in n.args if isinstance(a, int))
        elif n.op == "call_function" and n.target in _PRODUCTS:
            value = 1
            for a in n.args:
                value *= bound[a.name] if isinstance(a, fx.Node) else abs(a) if isinstance(a, int) else 1
            bound[n.name] = value
        elif n.op == "call_function" and n.target in _KEEPS or n.op == "call_method" and n.target in _KEEPS_METHODS:
            bound[n.name] = max(b)                 # the same integers, moved
    out = {}
    for name, value in bound.items():
        bits = code_bits(value)
        if bits is not None:
            out[name] = bits
    return out
