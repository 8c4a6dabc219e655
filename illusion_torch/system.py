"""An Illusion system: a model, its OpGraph and a Mapping, run slice by slice as the chips would.

Usage::

    import illusion_torch as il
    system = il.partition(il.load("mnist"), x[:1], chips=8, capacity="512B")
    logits = system.logits(x)                       # the chips' GraphModules in message order — bit-exact
    assert torch.equal(logits, system.reference(x))  # the unpartitioned integer model
    report = system.run(x, y, preset="paper-testchip")   # accuracy, energy and time vs the ideal chip
    system.chips.wakes                              # [(chip, fx.GraphModule), ...] one per wake-up
    system.plan                                     # messages: tensor, source chip, destination chip, bytes
    print(system.summary())

Integer-exact: the system computes in float64 on fixed-point values (integer codes × 2^-fl), where every
product and sum is exact, so any split — output slices, input slices with int32 partial sums added in chip
order, LSTM hidden-unit slices — gives bit-identical logits to the unpartitioned model on one ideal chip.
``logits`` is the plain loop over the per-chip programs (``chips.py``); ``run`` is the cost-counting
runtime (``runtime/``, ``cost.py``, ``report.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from .chips import ChipPrograms, chip_programs
from .graph import OpGraph, trace
from .hardware import ChipSpec
from .mapping import Mapping, Message, Piece, activation_bytes, inter_chip_bytes, messages, solve

if TYPE_CHECKING:
    from .report import Report

__all__ = ["IllusionSystem", "build", "partition"]


@dataclass
class IllusionSystem:
    """A partitioned model: the graph, the mapping and the message plan between its chips."""

    model: nn.Module
    graph: OpGraph
    mapping: Mapping
    _programs: ChipPrograms | None = field(default=None, repr=False)

    @property
    def plan(self) -> list[Message]:
        return messages(self.graph, self.mapping)

    @property
    def inter_chip_bytes(self) -> int:
        return inter_chip_bytes(self.graph, self.mapping)

    @property
    def chips(self) -> ChipPrograms:
        """One torch.fx GraphModule per chip wake-up, in message order (built once)."""
        if self._programs is None:
            self._programs = chip_programs(self)
        return self._programs

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x``: the chips' GraphModules run one after another (float64, exact)."""
        self.model.eval()
        return self.chips.run(x)

    def run(self, x: torch.Tensor, y: torch.Tensor | None = None, *, preset: str | ChipSpec = "paper-testchip",
            batch_size: int = 1000, progress: bool = False) -> Report:
        """Run ``x`` chip by chip on ``preset`` chips: accuracy, mismatches, energy and time vs the ideal chip."""
        from .report import simulate

        return simulate(self, x, y, preset=preset, batch_size=batch_size, progress=progress)

    def ideal(self) -> IllusionSystem:
        """The same model on one ideal chip: memory for the whole model, every layer whole."""
        g = self.graph
        m = Mapping([[Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes) for ly in g.layers]],
                    [g.weight_bytes], "ideal", optimal=True, method="ideal")
        return IllusionSystem(self.model, g, m)

    @torch.no_grad()
    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The unpartitioned model on one ideal chip, in the same exact arithmetic."""
        self.model.double().eval()
        try:
            return self.model(x.double() if x.is_floating_point() else x)
        finally:
            self.model.float()

    def summary(self) -> str:
        """A per-chip table: pieces, weight bytes, message bytes in and out."""
        plan = [m for m in self.plan if m.between_chips]
        steps = {ly.name: ly.steps for ly in self.graph.layers}

        def total(m: Message) -> int:
            return m.bytes * (steps[m.tensor.split(":")[0]] - 1) if m.per == "step" else m.bytes

        m = self.mapping
        if m.optimal:
            status = f" (proven optimal, {m.solve_s:.2f} s)"
        else:
            bound = f", proven lower bound {m.lower_bound:.0f} B" if m.lower_bound is not None else ""
            status = f" (not proven optimal: best found in {m.solve_s:.2f} s{bound})"
        lines = [f"{self.graph.model_name}: {m.n_chips} chips, solver {m.method}, "
                 f"{self.inter_chip_bytes} B between chips per inference{status}",
                 f"{'chip':>4}  {'weight B':>9}  {'in B':>7}  {'out B':>7}  {'act. B':>7}  pieces"]
        act = activation_bytes(self.graph, self.mapping)
        for c, pieces in enumerate(self.mapping.chips):
            names = ", ".join(p.layer if p.split is None else f"{p.layer}[{p.split} {p.start}:{p.stop}]"
                              for p in pieces)
            lines.append(f"{c:>4}  {sum(p.weight_bytes for p in pieces):>9}  "
                         f"{sum(total(m) for m in plan if m.dst == c):>7}  "
                         f"{sum(total(m) for m in plan if m.src == c):>7}  {act[c]:>7}  {names}")
        return "\n".join(lines)


def build(model: nn.Module, graph: OpGraph, mapping: Mapping) -> IllusionSystem:
    """Bind a mapping to its model; every layer must be placed."""
    placed = {p.layer for pieces in mapping.chips for p in pieces}
    missing = [ly.name for ly in graph.layers if ly.name not in placed]
    if missing:
        raise ValueError(f"the mapping places no piece of {', '.join(missing)}")
    return IllusionSystem(model, graph, mapping)


def partition(model: nn.Module, example_inputs: torch.Tensor, *, capacity: str | int | list,
              chips: int | None = None, max_chips: int | None = None, solver: str = "bilp",
              time_limit_s: float = 60.0, activation_cap: str | int | None = None) -> IllusionSystem:
    """trace + solve + build: ``il.partition(model, x[:1], chips=8, capacity="512B")``."""
    g = trace(model, example_inputs)
    m = solve(g, capacity, chips=chips, max_chips=max_chips, solver=solver, time_limit_s=time_limit_s,
              activation_cap=activation_cap)
    return build(model, g, m)
