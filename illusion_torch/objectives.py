"""What a mapping is chosen for: bytes between chips (the paper's), or the energy or time of one inference on a
chip preset — the user's own question rather than its proxy.

Usage::

    import illusion_torch as il
    system = il.partition(model, x[:1], capacity="4KiB", max_chips=16, objective="energy",
                          preset="paper-testchip")          # the mapping that costs the least energy
    cost = mapping_cost(model, "time", "accelerator-28nm")  # (graph, mapping) -> seconds per inference

The partitioner imports nothing from the cost model: it takes a cost function ``(graph, mapping) -> float``
and compares the mappings it finds with it (``partitioning.solver``). This module builds that function: the
system of the mapping, its per-inference work (``cost.work.profile``: the same count the runtime makes) and
its price on the preset (``cost.evaluate``), every route of a gated model weighted alike.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .cost.evaluate import evaluate
from .cost.hardware import ChipSpec
from .cost.hardware import preset as get_preset
from .cost.work import profile
from .errors import IllusionError
from .partitioning.partition import Partition
from .partitioning.plan import Mapping
from .partitioning.trace import OpGraph

__all__ = ["OBJECTIVES", "mapping_cost"]

OBJECTIVES = ("bytes", "energy", "time")


def mapping_cost(model: nn.Module, objective: str, preset: str | ChipSpec) -> Callable[[OpGraph, Mapping], float]:
    """The cost function of ``objective`` ("energy": joules, "time": seconds per inference) on ``preset``."""
    if objective not in ("energy", "time"):
        raise IllusionError(f"unknown objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    spec = get_preset(preset)

    def cost(graph: OpGraph, mapping: Mapping) -> float:
        system = Partition(model, graph, mapping)
        prof = profile(graph, system.chips, mapping.n_chips)
        priced = evaluate(prof, {route: 1 for route in prof.routes}, spec)
        return priced.energy_j if objective == "energy" else priced.time_s

    cost.__name__ = f"{objective} on {spec.name}"
    return cost
