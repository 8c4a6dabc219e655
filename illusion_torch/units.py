"""Human byte sizes at the edge: "512B", "4KiB", "1 MiB", "0.5KB", 4096.

Usage::

    from illusion_torch.units import parse_bytes, format_bytes
    parse_bytes("4KiB")        # 4096
    parse_bytes("0.5KB")       # 512: the paper's "KB" is 1,024 bytes, as chip memories are counted
    format_bytes(1536)         # '1.5 KiB'
"""

from __future__ import annotations

import math
import re

from .errors import IllusionError

__all__ = ["parse_bytes", "format_bytes", "bytes_text", "percent", "ceil_div"]

_UNITS = {"": 1, "b": 1, "kb": 1024, "kib": 1024, "k": 1024, "mb": 1024**2, "mib": 1024**2, "m": 1024**2,
          "gb": 1024**3, "gib": 1024**3, "g": 1024**3}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_bytes(size: str | int | float) -> int:
    """Bytes in ``size``; KB/MB/GB are binary (1,024-based) like KiB/MiB/GiB. Raises ValueError if malformed
    or not positive."""
    if isinstance(size, bool):
        raise IllusionError(f"not a size: {size!r}")
    if isinstance(size, (int, float)):
        value, unit = float(size), ""
    else:
        match = _PATTERN.match(str(size))
        if match is None or match.group(2).lower() not in _UNITS:
            raise IllusionError(f"malformed size {size!r}: write a number with an optional unit B, KiB/KB, MiB/MB or "
                             f"GiB/GB, e.g. '512B' or '4KiB'")
        value, unit = float(match.group(1)), match.group(2).lower()
    total = value * _UNITS[unit]
    if not math.isfinite(total) or total > 2**62:
        raise IllusionError(f"size {size!r} is too large: give at most a few thousand GiB")
    if total <= 0:
        raise IllusionError(f"size {size!r} must be positive")
    if total != int(total):
        raise IllusionError(f"size {size!r} is not a whole number of bytes ({total})")
    return int(total)


def format_bytes(n: int) -> str:
    """``n`` bytes in the largest binary unit that keeps the number ≥ 1."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            value = n / scale
            return f"{value:.3g} {unit}" if value != int(value) else f"{int(value)} {unit}"
    return f"{n} B"


def bytes_text(n: float) -> str:
    """How every summary spells a byte count: whole bytes with thousands separators (``bytes_text(436351)`` is
    '436,351 B'), one unit for every quantity, so two lines about the same chips read alike."""
    return f"{n:,.0f} B"


def percent(fraction: float) -> str:
    """How every summary spells an accuracy or agreement: ``percent(0.82)`` is '82.00 %'."""
    return f"{100 * fraction:.2f} %"


def ceil_div(a: int, b: int) -> int:
    """⌈a / b⌉ for whole numbers: ``ceil_div(5, 2) == 3`` (the words that ``a`` bytes occupy, and the like)."""
    return -(-a // b)
