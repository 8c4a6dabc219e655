"""The paper's figures and the helpers that reproduce them (used by benchmarks and defaults).

Usage::

    from illusion_torch.paper import CAPACITY, IDEAL_CHIP, default_capacity
    CAPACITY["svhn"][8]                       # "4KiB": the paper's per-chip memory for 8 chips
    default_capacity("mnist", 8, 3648)        # 512: the rule `illusion run` and `illusion partition` share
"""

from .measurements import CAPACITY, HEADLINE_8_CHIPS, IDEAL_CHIP, RATIOS_4_CHIPS, WORKLOADS, default_capacity

__all__ = ["CAPACITY", "IDEAL_CHIP", "RATIOS_4_CHIPS", "HEADLINE_8_CHIPS", "WORKLOADS", "default_capacity"]
