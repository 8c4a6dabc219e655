"""Quantized building blocks shared by the workloads: quantization points, hard sigmoid/tanh, the LSTM.

Usage::

    from illusion_torch.fixed.layers import QuantPoint, QLSTM, float_mode
    q = QuantPoint(8, 4)                    # rounds activations to FixedPoint(8,4) (nearest)
    y = q(torch.randn(3))                   # straight-through gradient in training
    with float_mode(model):                 # every QuantPoint of `model` passes values through
        logits = model(x)

A ``QuantPoint`` is where the chip stores a value in memory: its format is the activation's word size.
Training may swap in QPyTorch's ``Quantizer`` (``set_quantizer``); both round identically (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import IllusionError
from ..workload import config_of
from . import FixedPoint, quantize

__all__ = ["QuantPoint", "QLSTM", "lstm_cell", "hard_sigmoid", "hard_tanh", "float_mode", "quantize_weights",
           "quant_points"]


class _RoundSTE(torch.autograd.Function):
    """Fixed-point rounding forward, identity backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, wl: int, fl: int) -> torch.Tensor:  # type: ignore[override]
        return quantize(x, wl, fl, rounding="nearest")

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return grad, None, None


class QuantPoint(nn.Module):
    """Round to ``FixedPoint(wl, fl)`` with nearest rounding (qtorch's rule) and clamp."""

    def __init__(self, wl: int, fl: int) -> None:
        super().__init__()
        self.format = FixedPoint(wl, fl)
        self.enabled = True
        self._quantizer: Callable[[torch.Tensor], torch.Tensor] | None = None

    def set_quantizer(self, quantizer: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        """Use another rounding implementation (QPyTorch's ``Quantizer`` in training); None restores ours."""
        # stored outside _modules so state_dict and the fx graph never see it
        object.__setattr__(self, "_quantizer", quantizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return x
        if self._quantizer is not None:
            return self._quantizer(x)
        return _RoundSTE.apply(x, self.format.wl, self.format.fl)

    def extra_repr(self) -> str:
        return f"wl={self.format.wl}, fl={self.format.fl}"


def quant_points(model: nn.Module) -> Iterator[QuantPoint]:
    """Every QuantPoint inside ``model``."""
    return (m for m in model.modules() if isinstance(m, QuantPoint))


@contextmanager
def float_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily disable every QuantPoint of ``model`` (float activations)."""
    points = list(quant_points(model))
    saved = [p.enabled for p in points]
    for p in points:
        p.enabled = False
    try:
        yield model
    finally:
        for p, s in zip(points, saved, strict=True):
            p.enabled = s


def quantize_weights(model: nn.Module) -> None:
    """Round every parameter of ``model`` in place to the model's ``weight_format`` (nearest)."""
    fmt = config_of(model).weight_format
    if fmt is None:
        raise IllusionError(f"{type(model).__name__} has no fixed-point weight format (a WorkloadConfig with "
                            f"weight_format) to round its weights to")
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(quantize(p, fmt.wl, fmt.fl))


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """clamp((x + 4) / 8, 0, 1): the KWS LSTM's gate nonlinearity (docs/paper.md)."""
    return torch.clamp((x + 4.0) * 0.125, 0.0, 1.0)


def hard_tanh(x: torch.Tensor) -> torch.Tensor:
    """clamp(x, -1, 1)."""
    return torch.clamp(x, -1.0, 1.0)


Round = Callable[[torch.Tensor], torch.Tensor]


def lstm_cell(x_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
              bias: torch.Tensor, *, pre: Round, gate: Round, c_new: Round, h_out: Round,
              c_in: Round) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step with hard nonlinearities, rounding where the chip stores a value; gates i, f, g, o.

    The whole layer (``QLSTM.step``) and a chip's slice of hidden units (``partitioning.slices.LstmSlice``)
    both call this, each with its own rounding functions::

        h, c = lstm_cell(x_t, h, c, w_ih, w_hh, b, pre=q16, gate=q8, c_new=q16, h_out=q8, c_in=q8)
    """
    p = pre(x_t @ weight_ih.t() + h @ weight_hh.t() + bias)
    i, f, g, o = p.chunk(4, dim=-1)
    i, f = gate(hard_sigmoid(i)), gate(hard_sigmoid(f))
    g, o = gate(hard_tanh(g)), gate(hard_sigmoid(o))
    c_next = c_new(f * c + i * g)
    return h_out(o * hard_tanh(c_next)), c_in(c_next)


class QLSTM(nn.Module):
    """One-layer LSTM with gates i, f, g, o, hard nonlinearities and fixed-point quantization points.

    One bias per gate row (not torch's two), so weights + bias = 4H·(I + H + 1) values. Formats as in
    the paper's KWS model: inputs, h, c-in and gate outputs ``io``; pre-activations and new c ``pre``.

    >>> QLSTM(10, 80)(torch.zeros(2, 40, 10)).shape      # (batch, time, features) -> last h
    torch.Size([2, 80])
    """

    def __init__(self, input_size: int, hidden_size: int, *, io: tuple[int, int] = (8, 4),
                 pre: tuple[int, int] = (16, 11)) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        bound = hidden_size ** -0.5
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        with torch.no_grad():  # forget gate starts open
            self.bias[hidden_size:2 * hidden_size].fill_(1.0)
        self.q_x = QuantPoint(*io)
        self.q_h = QuantPoint(*io)
        self.q_c_in = QuantPoint(*io)
        self.q_gate = QuantPoint(*io)
        self.q_pre = QuantPoint(*pre)
        self.q_c_new = QuantPoint(*pre)

    def step(self, x_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: (x_t, h_{t-1}, c_{t-1}) -> (h_t, c_t); c_t returned at the c-in format."""
        return lstm_cell(x_t, h, c, self.weight_ih, self.weight_hh, self.bias, pre=self.q_pre, gate=self.q_gate,
                         c_new=self.q_c_new, h_out=self.q_h, c_in=self.q_c_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, time, input_size) -> h after the last step, (batch, hidden_size)."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise IllusionError(f"QLSTM expects (batch, time, {self.input_size}) inputs, got {tuple(x.shape)}")
        x = self.q_x(x)
        h = x.new_zeros(x.shape[0], self.hidden_size)
        c = x.new_zeros(x.shape[0], self.hidden_size)
        for t in range(x.shape[1]):
            h, c = self.step(x[:, t], h, c)
        return h


def masked_scores(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Attention scores with every position ``allowed`` forbids (False) set to −inf, so softmax gives it
    exactly 0 (a causal or padding mask). Values move, none is computed: the op keeps its input's format and
    a fixed-point version puts no rounding point after it (``partitioning.ops``: a view); the partition pass's
    tracer keeps it one op wherever a model calls it (``partitioning.trace.AUTOWRAP``)."""
    return scores.masked_fill(~allowed, float("-inf"))
