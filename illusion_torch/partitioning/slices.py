"""The modules a chip program holds for its share of a split layer.

Usage::

    from illusion_torch.partitioning.slices import sliced, LstmSlice, EmbeddingRows, BiasAdd
    part = sliced(conv, conv.weight[0:4], conv.bias[0:4])     # a Conv2d of output channels 0..3
    cell = LstmSlice(w_ih_rows, w_hh_rows, bias_rows, io=FixedPoint(8, 4), pre=FixedPoint(16, 11))

Each holds private copies of its weights (the runtime loads them from the chip's memory image).
"""

from __future__ import annotations

import copy
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..fixed import FixedPoint, quantize
from ..fixed.layers import lstm_cell

__all__ = ["LstmSlice", "TableLookup", "EmbeddingRows", "EmbeddingJoin", "embedding_share_bytes",
           "BiasAdd", "GroupSlice", "sliced", "frozen", "gathered", "channel_slice"]


def frozen(t: torch.Tensor) -> nn.Parameter:
    """A private, gradient-free copy of ``t`` as a parameter."""
    return nn.Parameter(t.detach().clone(), requires_grad=False)


def gathered(t: torch.Tensor, index: torch.Tensor) -> nn.Parameter:
    """A private, gradient-free parameter of ``t``'s rows ``index``: the gather is the copy (no second one)."""
    return nn.Parameter(t.detach()[index], requires_grad=False)


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


class TableLookup(nn.Module):
    """A whole embedding table a chip holds: ``F.embedding`` of its indices.

    A table is only read, never computed with, so a run in float64 does not cast it (``lookup_only``): the
    looked-up rows are cast to the dtype of the zero-size ``out_dtype`` buffer, which a run casts."""

    lookup_only = True

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = frozen(weight)
        self.register_buffer("out_dtype", torch.zeros(0, dtype=weight.dtype))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, self.weight).to(self.out_dtype.dtype)


class EmbeddingRows(TableLookup):
    """A chip's rows [start, start + n) of an embedding table (of ``vocab`` rows): the rows of the indices it
    holds, in the indices' order — (lookups it holds, dim); the others' rows are on other chips."""

    def __init__(self, weight: torch.Tensor, start: int, vocab: int) -> None:
        super().__init__(weight)
        self.start, self.vocab = start, vocab

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        local = idx - self.start
        mine = (local >= 0) & (local < self.weight.shape[0])
        return F.embedding(local[mine], self.weight).to(self.out_dtype.dtype)


class EmbeddingJoin(nn.Module):
    """Puts the rows each chip looked up (``EmbeddingRows``, chip order) where their indices are: the lookup of
    the whole table, exactly (rows are copied, never added)."""

    def __init__(self, bounds: list[tuple[int, int]]) -> None:
        super().__init__()
        self.bounds = bounds

    def forward(self, idx: torch.Tensor, *rows: torch.Tensor) -> torch.Tensor:
        if idx.numel() and (int(idx.min()) < self.bounds[0][0] or int(idx.max()) >= self.bounds[-1][1]):
            raise IndexError(f"token ids must lie in [0, {self.bounds[-1][1]}) (the table's rows), got "
                             f"{int(idx.min())} … {int(idx.max())}")
        out = rows[0].new_zeros(*idx.shape, rows[0].shape[-1])
        for (start, stop), part in zip(self.bounds, rows, strict=True):
            out[(idx >= start) & (idx < stop)] = part
        return out


def embedding_share_bytes(lookup_bytes: int, rows: int, vocab: int) -> int:
    """Bytes a chip holding ``rows`` of a ``vocab``-row table sends per inference when the lookups' rows
    (``lookup_bytes`` in all) are spread over the table evenly: the expected share of uniform token ids. The
    shares add up to the lookups' bytes whatever the tokens; which chip sends them depends on the tokens."""
    return int(round(lookup_bytes * rows / vocab))


class BiasAdd(nn.Module):
    """The bias an input-split layer's last chip adds to the summed partial sums."""

    def __init__(self, bias: torch.Tensor, dim: int = 1) -> None:
        super().__init__()
        self.bias = frozen(bias)
        self.dim = dim                          # channels (1) for a convolution; the last for a Linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1] * x.dim()
        shape[self.dim] = -1
        return x + self.bias.view(shape)


class GroupSlice(nn.Module):
    """Output channels [start, stop) of a grouped or depthwise convolution, fed its whole input.

    It holds exactly those channels' weights and computes each group it touches on that group's input
    channels: one grouped convolution over the whole groups it covers, a plain one for a group it covers in
    part (at most the first and the last)."""

    def __init__(self, conv: nn.Conv2d, start: int, stop: int) -> None:
        super().__init__()
        self.weight = frozen(conv.weight[start:stop])
        self.bias = None if conv.bias is None else frozen(conv.bias[start:stop])
        self.start, self.stop = start, stop
        self.per_group = conv.out_channels // conv.groups          # output channels per group
        self.in_per_group = conv.in_channels // conv.groups
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        self.in_channels, self.groups = conv.in_channels, conv.groups

    def _runs(self) -> list[tuple[int, int, int]]:
        """(first output channel, last + 1, groups) of each run: partial groups alone, whole groups together."""
        k, runs, a = self.per_group, [], self.start
        while a < self.stop:
            g = a // k
            if a % k or self.stop < (g + 1) * k:                    # a group covered in part
                b = min(self.stop, (g + 1) * k)
                runs.append((a, b, 1))
            else:                                                   # whole groups up to the last whole one
                b = max((self.stop // k) * k, a + k)
                runs.append((a, b, (b - a) // k))
            a = b
        return runs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for a, b, groups in self._runs():
            g0 = a // self.per_group
            inputs = x[:, g0 * self.in_per_group:(g0 + groups) * self.in_per_group]
            w = self.weight[a - self.start:b - self.start]
            bias = None if self.bias is None else self.bias[a - self.start:b - self.start]
            outs.append(F.conv2d(inputs, w, bias, self.stride, self.padding, self.dilation, groups))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)


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


def channel_slice(module: nn.Module, start: int, stop: int) -> nn.Module:
    """A copy of a per-channel op (a batch norm) holding only channels [start, stop) of its state."""
    part = copy.deepcopy(module)
    with torch.no_grad():
        for name, t in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            if t.dim() >= 1 and t.shape[0] > 1:
                value = t.detach()[start:stop].clone()
                if isinstance(t, nn.Parameter):
                    setattr(part, name, frozen(value))
                else:
                    setattr(part, name, value)
    if hasattr(part, "num_features"):
        part.num_features = stop - start
    return part
