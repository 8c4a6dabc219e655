"""The one batching loop: start indices of inputs taken a batch at a time.

Usage::

    from illusion_torch.batching import batches
    for i in batches(len(x), 1000):
        out = model(x[i:i + 1000])
"""

from __future__ import annotations

from .errors import IllusionError

__all__ = ["batches"]


def batches(n: int, batch_size: int) -> range:
    """Start indices of ``n`` inputs taken ``batch_size`` at a time."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise IllusionError(f"batch_size must be a positive whole number of inputs, got {batch_size!r}")
    return range(0, n, batch_size)
