"""The chip-by-chip runtime: memory images, per-wake work profile, and the batched run loop.

Usage::

    from illusion_torch.runtime import Runtime
    result = Runtime(system).run(x)          # logits bit-identical to the model, per-chip Counters
"""

from .counters import Counters
from .engine import RunResult, Runtime
from .memory import ImageError, MemoryImage, Region
from .profile import Profile, profile

__all__ = ["Runtime", "RunResult", "Counters", "MemoryImage", "Region", "ImageError", "Profile", "profile"]
