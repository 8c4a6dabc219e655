"""The one batching loop: start indices of inputs taken a batch at a time.

Usage::

    from illusion_torch.runtime.batching import batches
    for i in batches(len(x), 1000):
        out = model(x[i:i + 1000])
    fitting_batch(8 * 112 * 112 * 96)          # 6: inputs whose largest float64 value fits 64 MiB
"""

from __future__ import annotations

from ..errors import IllusionError

__all__ = ["batches", "fitting_batch", "BATCH_BYTES"]

BATCH_BYTES = 64 * 2**20       # a batch's largest value stays near the caches, not gigabytes of page faults


def batches(n: int, batch_size: int) -> range:
    """Start indices of ``n`` inputs taken ``batch_size`` at a time."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise IllusionError(f"batch_size must be a positive whole number of inputs, got {batch_size!r}")
    return range(0, n, batch_size)


def fitting_batch(bytes_per_input: int, budget: int | None = None, most: int = 1000) -> int:
    """The most inputs (1 … ``most``) whose largest value, ``bytes_per_input`` each, fits ``budget`` bytes.

    A MobileNetV2 batch of 1,000 ImageNet images holds 9.6 GB in one float64 activation; run 6 at a time its
    rounding points stay in memory bandwidth instead of allocating and faulting in gigabytes."""
    budget = BATCH_BYTES if budget is None else budget
    return max(1, min(most, budget // max(1, int(bytes_per_input))))
