"""What a run costs: hardware presets, the work of one inference, and energy/time against the ideal chip.

Usage::

    from illusion_torch.cost import preset, evaluate
    spec = preset("paper-testchip")
    c = evaluate(runtime.profile, result.runs, spec)      # energy_j, time_s, per-chip breakdown

Files: ``hardware`` (ChipSpec and presets), ``counters`` (what a chip did), ``profile`` (the records of one
inference's work) and ``work`` (counting it off the chip programs), ``evaluate`` (counters × ChipSpec).
"""

from .counters import Counters
from .evaluate import CATEGORIES, ChipCost, Event, SystemCost, evaluate
from .hardware import PRESETS, ChipSpec, preset
from .profile import Profile
from .work import profile

__all__ = ["Counters", "evaluate", "SystemCost", "ChipCost", "Event", "CATEGORIES", "ChipSpec", "PRESETS",
           "preset", "Profile", "profile"]
