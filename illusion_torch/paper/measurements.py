"""The paper's measurements the cost model is calibrated and checked against (docs/paper.md, "The test chip").

Usage::

    from illusion_torch.paper import IDEAL_CHIP, RATIOS_4_CHIPS, CAPACITY
    IDEAL_CHIP["mnist"]          # (4.563 s, 3.375e-3 J) per inference on the ideal chip at 1 MHz
    RATIOS_4_CHIPS["kws"]        # (time, energy, EDP) of the 4-chip system over the ideal chip
    CAPACITY["svhn"][8]          # "4KiB": weight memory per chip in the paper's 8-chip system
"""

from __future__ import annotations

from ..units import ceil_div, parse_bytes

__all__ = ["IDEAL_CHIP", "RATIOS_4_CHIPS", "CAPACITY", "WORKLOADS", "HEADLINE_8_CHIPS", "default_capacity"]

WORKLOADS = ("mnist", "svhn", "d2nn", "kws")

# seconds, joules per inference on the ideal chip (one chip with the whole model), test chip at 1 MHz
IDEAL_CHIP: dict[str, tuple[float, float]] = {
    "mnist": (4.563, 3.375e-3),
    "svhn": (32.92, 23.79e-3),
    "d2nn": (4.591, 3.277e-3),
    "kws": (25.13, 18.06e-3),
}

# measured 4-chip Illusion over the ideal chip: time, energy, EDP
RATIOS_4_CHIPS: dict[str, tuple[float, float, float]] = {
    "mnist": (1.0022, 1.0044, 1.0067),
    "svhn": (1.0005, 1.0056, 1.0061),
    "d2nn": (1.0043, 1.0064, 1.0107),
    "kws": (1.0098, 1.0135, 1.0235),
}

# the paper's headline for the 8-chip systems (upper bounds over all four workloads): time, energy
HEADLINE_8_CHIPS = (1.025, 1.035)

# weight memory per chip: ideal chip (1), 4-chip and 8-chip systems
CAPACITY: dict[str, dict[int, str]] = {
    "mnist": {1: "4KiB", 4: "1KiB", 8: "512B"},
    "svhn": {1: "32KiB", 4: "8KiB", 8: "4KiB"},
    "d2nn": {1: "32KiB", 4: "8KiB", 8: "4KiB"},
    "kws": {1: "32KiB", 4: "8KiB", 8: "4KiB"},
}


def default_capacity(workload: str, chips: int, weight_bytes: int) -> int:
    """Weight memory per chip when none is given: the paper's for this workload and chip count, else a quarter
    more than an even share of the model's weights (so ``chips`` chips can hold it with room to split)."""
    if workload in CAPACITY and chips in CAPACITY[workload]:
        return parse_bytes(CAPACITY[workload][chips])
    return ceil_div(weight_bytes * 5, 4 * chips)
