"""Replace torch.nn's opaque blocks with traceable equivalents before tracing, so their weights split like any
layer's.

Usage::

    from illusion_torch.partitioning.decompose import decompose
    traceable = decompose(model)     # the same model (same parameter tensors, no copy) with every
    #                                  nn.MultiheadAttention / nn.TransformerEncoderLayer / nn.TransformerEncoder
    #                                  rebuilt from Linear projections, norms and matmuls, and every nn.LSTM /
    #                                  nn.GRU as a stack of per-layer ``recurrent.Recurrent`` layers

torch.fx keeps torch.nn's modules whole (leaves), and these three hide their weights inside one call
(``F.multi_head_attention_forward``, a fused fast path). ``Attention`` computes the same function from four
``nn.Linear`` projections (q, k, v sharing the rows of ``in_proj_weight``; ``out_proj`` itself) and a scaled
dot product written as two matmuls of activations and a softmax, so the projections split by output or input
features like any linear layer. The user's model is never changed: modules on the way to a replaced one are
shallow copies; every other module and every tensor is shared. Equal to the original within float rounding
(checked against it by the tests in float64).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import fx, nn

from ..errors import IllusionError
from .recurrent import RecurrentStack

__all__ = ["decompose", "Attention", "EncoderLayer", "Encoder"]


@fx.wrap
def additive_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A boolean mask (True: may not attend) as −inf / 0 in ``like``'s dtype; a float mask as it is."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=like.dtype, device=like.device).masked_fill(mask, float("-inf"))
    return mask.to(like.dtype)


def _share(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    """An nn.Linear whose weight and bias are views of the given tensors (no copy)."""
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    linear.weight = nn.Parameter(weight, requires_grad=weight.requires_grad)
    if bias is not None:
        linear.bias = nn.Parameter(bias, requires_grad=bias.requires_grad)
    return linear


class Attention(nn.Module):
    """``nn.MultiheadAttention`` as q/k/v/out projections and a scaled dot product per head (eval)."""

    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        if mha.bias_k is not None or mha.add_zero_attn:
            raise IllusionError("nn.MultiheadAttention with add_bias_kv or add_zero_attn is not decomposed yet; "
                                "build the attention from nn.Linear projections and matmuls instead")
        E, self.heads, self.batch_first = mha.embed_dim, mha.num_heads, mha.batch_first
        self.head_dim = E // self.heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        b = mha.in_proj_bias
        if mha._qkv_same_embed_dim:
            w = mha.in_proj_weight
            ws = (w[:E], w[E:2 * E], w[2 * E:])
        else:
            ws = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
        bs = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        self.q_proj, self.k_proj, self.v_proj = (_share(w, bias) for w, bias in zip(ws, bs, strict=True))
        self.out_proj = mha.out_proj

    @classmethod
    def of(cls, mha: nn.Module) -> Attention:
        assert isinstance(mha, nn.MultiheadAttention)
        return cls(mha)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.unflatten(-1, (self.heads, self.head_dim)).transpose(1, 2)        # (B, heads, T, d)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        q = self._heads(self.q_proj(query))
        k = self._heads(self.k_proj(key))
        v = self._heads(self.v_proj(value))
        scores = torch.matmul(q, k.transpose(-2, -1)) * self.scale                # (B, heads, T, S)
        if attn_mask is not None:
            scores = scores + additive_mask(attn_mask, scores)
        if key_padding_mask is not None:
            scores = scores + additive_mask(key_padding_mask, scores).unsqueeze(1).unsqueeze(2)
        weights = torch.softmax(scores, dim=-1)
        out = self.out_proj(torch.matmul(weights, v).transpose(1, 2).flatten(2))   # (B, T, E)
        if not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        return out, weights.mean(dim=1) if average_attn_weights else weights


class EncoderLayer(nn.Module):
    """``nn.TransformerEncoderLayer`` in eval: attention and feed-forward blocks, norm first or after."""

    def __init__(self, layer: nn.TransformerEncoderLayer) -> None:
        super().__init__()
        self.self_attn = Attention(layer.self_attn)
        self.linear1, self.linear2 = layer.linear1, layer.linear2
        self.norm1, self.norm2, self.norm_first = layer.norm1, layer.norm2, layer.norm_first
        self.activation = layer.activation

    @classmethod
    def of(cls, layer: nn.Module) -> EncoderLayer:
        assert isinstance(layer, nn.TransformerEncoderLayer)
        return cls(layer)

    def _attend(self, x: torch.Tensor, mask: torch.Tensor | None, padding: torch.Tensor | None) -> torch.Tensor:
        return self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=padding, need_weights=False)[0]

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.activation(self.linear1(x)))

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        x = src
        if self.norm_first:
            x = x + self._attend(self.norm1(x), src_mask, src_key_padding_mask)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._attend(x, src_mask, src_key_padding_mask))
        return self.norm2(x + self._feed_forward(x))


class Encoder(nn.Module):
    """``nn.TransformerEncoder``: its layers one after another, then its norm."""

    def __init__(self, encoder: nn.TransformerEncoder) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_replace(layer) for layer in encoder.layers)
        self.norm = encoder.norm

    @classmethod
    def of(cls, encoder: nn.Module) -> Encoder:
        assert isinstance(encoder, nn.TransformerEncoder)
        return cls(encoder)

    def forward(self, src: torch.Tensor, mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None, is_causal: bool | None = None) -> torch.Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask)
        return x if self.norm is None else self.norm(x)


# exact types: a subclass may change forward, so it is left for the op table to judge
_RULES: dict[type[nn.Module], Callable[[nn.Module], nn.Module]] = {
    nn.MultiheadAttention: Attention.of,
    nn.TransformerEncoderLayer: EncoderLayer.of,
    nn.TransformerEncoder: Encoder.of,
    nn.LSTM: RecurrentStack.of,
    nn.GRU: RecurrentStack.of,
}


def _replace(module: nn.Module) -> nn.Module:
    rule = _RULES.get(type(module))
    if rule is not None:
        return rule(module)
    children = {name: _replace(child) for name, child in module._modules.items() if child is not None}
    if all(child is module._modules[name] for name, child in children.items()):
        return module
    clone = copy.copy(module)                   # shares parameters, buffers and every other child
    clone._modules = {**module._modules, **children}
    return clone


def decompose(model: nn.Module) -> nn.Module:
    """``model`` with torch.nn's attention and transformer blocks rebuilt traceably; the model itself when it
    has none. Parameters are shared, not copied; ``model`` is not changed."""
    return _replace(model)
