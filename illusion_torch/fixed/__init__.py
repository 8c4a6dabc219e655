"""Qm.n fixed-point numbers in pure torch: formats, quantization and integer codes.

Usage::

    from illusion_torch import fixed
    y = fixed.quantize(x, wl=8, fl=4)                 # nearest (ties to even), clamped to [-8, 8 - 1/16]
    fmt = fixed.FixedPoint(8, 4)
    codes = fmt.to_codes(y)                           # int64 integers, y * 2**fl
    assert torch.equal(fmt.from_codes(codes), y)

A ``FixedPoint(wl, fl)`` number is a wl-bit two's complement integer read with fl fractional bits:
step 2**-fl, range [-2**(wl-fl-1), 2**(wl-fl-1) - 2**-fl]. ``quantize`` with ``rounding="nearest"`` is
bit-exact with ``qtorch.quant.fixed_point_quantize(x, wl, fl, rounding="nearest")`` (qtorch 0.3.0): it
scales by 2**fl, computes ``(s + 0.5) - 0.5`` in the input's own float precision (which, like qtorch's C++
code, can carry a value just below a tie onto the tie), rounds half to even (C's ``nearbyint``), scales
back and clamps. Nothing here compiles or imports qtorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import IllusionError

__all__ = ["FixedPoint", "grid_fl", "quantize", "fixed_point_quantize", "to_codes", "from_codes", "check_format",
           "ROUNDINGS"]

ROUNDINGS = ("nearest", "stochastic")


def check_format(wl: int, fl: int) -> None:
    """Raise ValueError with a clear message unless (wl, fl) is a usable fixed-point format."""
    if not isinstance(wl, int) or not isinstance(fl, int) or isinstance(wl, bool) or isinstance(fl, bool):
        raise IllusionError(f"fixed-point word length and fractional bits must be integers, got wl={wl!r}, fl={fl!r}")
    if not 2 <= wl <= 32:
        raise IllusionError(f"word length wl={wl} is out of range: use 2 <= wl <= 32 bits")
    if not 0 <= fl < wl:
        raise IllusionError(f"fractional bits fl={fl} must satisfy 0 <= fl < wl={wl}")


@dataclass(frozen=True)
class FixedPoint:
    """A Qm.n format: ``wl`` bits in all (sign included), ``fl`` of them fractional.

    >>> FixedPoint(8, 4).max, FixedPoint(8, 4).min, FixedPoint(8, 4).step
    (7.9375, -8.0, 0.0625)
    """

    wl: int
    fl: int

    def __post_init__(self) -> None:
        check_format(self.wl, self.fl)

    @property
    def step(self) -> float:
        return 2.0 ** -self.fl

    @property
    def min(self) -> float:
        return -(2.0 ** (self.wl - self.fl - 1))

    @property
    def max(self) -> float:
        return 2.0 ** (self.wl - self.fl - 1) - 2.0 ** -self.fl

    @property
    def code_min(self) -> int:
        return -(1 << (self.wl - 1))

    @property
    def code_max(self) -> int:
        return (1 << (self.wl - 1)) - 1

    @property
    def bytes(self) -> int:
        """Bytes one value occupies in memory (word length rounded up to whole bytes)."""
        return (self.wl + 7) // 8

    def quantize(self, x: torch.Tensor, rounding: str = "nearest",
                 generator: torch.Generator | None = None) -> torch.Tensor:
        return quantize(x, self.wl, self.fl, rounding=rounding, generator=generator)

    def to_codes(self, x: torch.Tensor) -> torch.Tensor:
        return to_codes(x, self.wl, self.fl)

    def from_codes(self, codes: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return from_codes(codes, self.fl, dtype=dtype)

    def __str__(self) -> str:
        return f"FixedPoint({self.wl},{self.fl})"


def quantize(x: torch.Tensor, wl: int, fl: int, rounding: str = "nearest", *, clamp: bool = True,
             symmetric: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """Round ``x`` onto the FixedPoint(wl, fl) grid and clamp it to the format's range.

    ``rounding="nearest"`` rounds to the nearest step, ties to even, exactly as qtorch's
    ``nearbyint((x * 2**fl + 0.5) - 0.5)``; ``rounding="stochastic"`` rounds up with probability equal to
    the fractional remainder. ``symmetric`` clamps to [-max, max] (qtorch's option: the most negative code
    is left out). float16 and bfloat16 inputs are rounded in float32 and cast back (their own precision
    cannot hold every step of a wide format).

    >>> quantize(torch.tensor([0.03125, 0.09375, 100.0]), 8, 4).tolist()
    [0.0, 0.125, 7.9375]
    """
    check_format(wl, fl)
    if rounding not in ROUNDINGS:
        raise IllusionError(f"unknown rounding {rounding!r}: use one of {', '.join(ROUNDINGS)}")
    if not torch.is_floating_point(x):
        raise TypeError(f"quantize expects a floating-point tensor, got {x.dtype}; convert with .float()")
    if x.dtype in (torch.float16, torch.bfloat16):
        return quantize(x.float(), wl, fl, rounding, clamp=clamp, symmetric=symmetric,
                        generator=generator).to(x.dtype)
    fmt_max = 2.0 ** (wl - fl - 1) - 2.0 ** -fl
    low = -fmt_max if symmetric else -(2.0 ** (wl - fl - 1))
    scaled = x * (2.0**fl)  # a power of two: exact, in x's own precision
    if not scaled.requires_grad:
        # the same arithmetic in place on the one new tensor: large activations are not copied five times
        if rounding == "nearest":
            scaled.add_(0.5).sub_(0.5).round_()  # qtorch's float arithmetic, then half-to-even
        else:
            scaled.add_(torch.rand(x.shape, dtype=x.dtype, device=x.device, generator=generator)).floor_()
        scaled.mul_(2.0**-fl)
        return scaled.clamp_(low, fmt_max) if clamp else scaled
    if rounding == "nearest":
        scaled = torch.round((scaled + 0.5) - 0.5)
    else:
        noise = torch.rand(x.shape, dtype=x.dtype, device=x.device, generator=generator)
        scaled = torch.floor(scaled + noise)
    y = scaled * (2.0**-fl)
    return torch.clamp(y, low, fmt_max) if clamp else y


def fixed_point_quantize(x: torch.Tensor, wl: int, fl: int, clamp: bool = True, symmetric: bool = False,
                         rounding: str = "stochastic") -> torch.Tensor:
    """A drop-in for ``qtorch.quant.fixed_point_quantize``: the same signature and defaults (stochastic
    rounding), bit-exact with it for nearest rounding, without compiling anything.

    >>> fixed_point_quantize(torch.tensor([0.09375]), 8, 4, rounding="nearest").tolist()
    [0.125]
    """
    return quantize(x, wl, fl, rounding, clamp=clamp, symmetric=symmetric)


def to_codes(x: torch.Tensor, wl: int, fl: int) -> torch.Tensor:
    """Integer codes (int64) of values already on the FixedPoint(wl, fl) grid: ``x * 2**fl``.

    Values off the grid or out of range are a bug upstream, so they raise instead of rounding silently.
    """
    check_format(wl, fl)
    codes_f = x.double() * (2.0**fl)
    codes = torch.round(codes_f)
    if not torch.equal(codes, codes_f):
        raise IllusionError(f"values are not on the FixedPoint({wl},{fl}) grid; quantize them first")
    lo, hi = -(1 << (wl - 1)), (1 << (wl - 1)) - 1
    if codes.numel() and (codes.min() < lo or codes.max() > hi):
        raise IllusionError(f"values exceed the FixedPoint({wl},{fl}) range; quantize (clamp) them first")
    return codes.to(torch.int64)


def from_codes(codes: torch.Tensor, fl: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Values of integer codes read with ``fl`` fractional bits: ``codes * 2**-fl`` (exact)."""
    return codes.to(dtype) * (2.0**-fl)


def grid_fl(x: torch.Tensor, wl: int) -> int:
    """The fewest fractional bits (0 … wl − 1) that put every value of ``x`` on integer codes of ``wl`` bits:
    the format a tensor rounded to some FixedPoint(wl, fl) is read back at (``fl`` or fewer, the same values).

    >>> grid_fl(torch.tensor([0.5, -1.25]), 8), grid_fl(torch.tensor([3.0]), 8)
    (2, 0)
    """
    v = x.detach().double().flatten()
    for fl in range(wl):
        scaled = v * 2.0 ** fl
        if torch.equal(torch.round(scaled), scaled):
            if v.numel() and (scaled.min() < -(1 << (wl - 1)) or scaled.max() > (1 << (wl - 1)) - 1):
                break
            return fl
    raise IllusionError(f"values are not on any FixedPoint({wl}, fl) grid; quantize them first")
