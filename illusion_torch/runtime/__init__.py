"""The chip-by-chip runtime: memory images, the exact-dtype proof, and the batched run loop.

Usage::

    from illusion_torch.runtime import Runtime
    result = Runtime(system).run(x)          # logits bit-identical to the model, per-chip Counters
"""

from .engine import RunResult, Runtime, batches
from .memory import ImageError, MemoryImage, Region, RegionKind, Space
from .precision import exact_dtype

__all__ = ["Runtime", "RunResult", "batches", "MemoryImage", "Region", "RegionKind", "Space",
           "ImageError", "exact_dtype"]
