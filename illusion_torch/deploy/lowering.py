"""Convolutions onnxruntime can compute exactly in float64: each kernel tap as a matrix product.

Usage::

    from illusion_torch.deploy.lowering import convolutions_as_products
    with convolutions_as_products():                   # while a float64 wake is traced for export
        torch.onnx.export(wake, args, dynamo=True)

onnxruntime has no float64 Conv, and float32 is exact only where ``runtime.precision`` bounds every sum
below 2^23 LSBs — not for 16-bit activations. A convolution is a sum over its kernel taps (i, j) of
``W[:, :, i, j] @ x_padded[:, :, i·d : … : s, j·d : … : s]``: Pad, Slice, Reshape and MatMul, which onnxruntime
runs in float64. Every product and partial sum of fixed-point codes is exact in float64 below 2^53 LSBs, so
the result equals the reference's float64 convolution bit for bit whatever the order of the sums.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F

__all__ = ["conv2d_by_products", "convolutions_as_products"]


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv2d_by_products(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1,
                       padding=0, dilation=1, groups: int = 1) -> torch.Tensor:
    """``F.conv2d``'s result as a sum of one matrix product per kernel tap (same arguments)."""
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    cout, cg, kh, kw = weight.shape
    if isinstance(padding, str):                # "valid" or "same" (stride 1): the padding each side
        total = (0, 0) if padding == "valid" else (dh * (kh - 1), dw * (kw - 1))
        pads = (total[1] // 2, total[1] - total[1] // 2, total[0] // 2, total[0] - total[0] // 2)
    else:
        ph, pw = _pair(padding)
        pads = (pw, pw, ph, ph)
    if any(pads):
        x = F.pad(x, pads)
    h, w = x.shape[-2], x.shape[-1]
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    y = None
    for i in range(kh):
        for j in range(kw):
            tap = x[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
            tap = tap.reshape(-1, groups, cg, ho * wo)
            product = torch.matmul(weight[:, :, i, j].reshape(groups, cout // groups, cg), tap)
            y = product if y is None else y + product
    y = y.reshape(-1, cout, ho, wo)
    return y if bias is None else y + bias.reshape(1, cout, 1, 1)


@contextlib.contextmanager
def convolutions_as_products() -> Iterator[None]:
    """While inside, ``F.conv2d`` (what ``nn.Conv2d`` and the partitioner's slices call) is
    ``conv2d_by_products``; restored on leaving."""
    original = F.conv2d
    F.conv2d = conv2d_by_products
    try:
        yield
    finally:
        F.conv2d = original
