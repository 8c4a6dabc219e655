"""The modules a chip program holds for its share of a split layer.

Usage::

    from illusion_torch.partitioning.slices import sliced, LstmSlice, EmbeddingRows, BiasAdd
    part = sliced(conv, conv.weight[0:4], conv.bias[0:4])     # a Conv2d of output channels 0..3
    cell = LstmSlice(w_ih_rows, w_hh_rows, bias_rows, io=FixedPoint(8, 4), pre=FixedPoint(16, 11))

Each holds private copies of its weights (the runtime loads them from the chip's memory image).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..fixed import FixedPoint, quantize
from ..layers import lstm_cell

__all__ = ["LstmSlice", "EmbeddingRows", "BiasAdd", "sliced", "frozen"]


def frozen(t: torch.Tensor) -> nn.Parameter:
    """A private, gradient-free copy of ``t`` as a parameter."""
    return nn.Parameter(t.detach().clone(), requires_grad=False)


class LstmSlice(nn.Module):
    """A chip's slice of an LSTM: the rows of all four gates for its hidden units; one step per call."""

    def __init__(self, w_ih: torch.Tensor, w_hh: torch.Tensor, bias: torch.Tensor, *, io: FixedPoint,
                 pre: FixedPoint) -> None:
        super().__init__()
        self.weight_ih, self.weight_hh, self.bias = frozen(w_ih), frozen(w_hh), frozen(bias)
        self.io, self.pre = io, pre

    def forward(self, x_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        io = partial(quantize, wl=self.io.wl, fl=self.io.fl)
        pre = partial(quantize, wl=self.pre.wl, fl=self.pre.fl)
        return lstm_cell(x_t, h, c, self.weight_ih, self.weight_hh, self.bias, pre=pre, gate=io, c_new=pre,
                         h_out=io, c_in=io)


class EmbeddingRows(nn.Module):
    """A chip's rows [start, start + n) of an embedding table: looks up the indices it holds, zeros elsewhere."""

    def __init__(self, weight: torch.Tensor, start: int) -> None:
        super().__init__()
        self.weight = frozen(weight)
        self.start = start

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        local = idx - self.start
        mine = (local >= 0) & (local < self.weight.shape[0])
        rows = F.embedding(local.clamp(0, self.weight.shape[0] - 1), self.weight)
        return rows * mine.unsqueeze(-1).to(rows.dtype)


class BiasAdd(nn.Module):
    """The bias an input-split layer's last chip adds to the summed partial sums."""

    def __init__(self, bias: torch.Tensor) -> None:
        super().__init__()
        self.bias = frozen(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.bias.view(1, -1, 1, 1) if x.dim() == 4 else self.bias)


def sliced(module: nn.Conv2d | nn.Linear, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """A Conv2d/Linear like ``module`` holding ``weight`` (a slice of its rows or columns) and ``bias``."""
    m: nn.Conv2d | nn.Linear
    if isinstance(module, nn.Conv2d):
        m = nn.Conv2d(weight.shape[1], weight.shape[0], module.kernel_size, module.stride,  # type: ignore[arg-type]
                      module.padding, module.dilation, bias=bias is not None)  # type: ignore[arg-type]
    else:
        m = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        m.weight.copy_(weight)
        if bias is not None:
            m.bias.copy_(bias)
    return m.to(weight.dtype)
