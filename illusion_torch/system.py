"""An Illusion system: a model spread over chips of small memory, callable like the model it came from.

Usage::

    import illusion_torch as il
    system = il.partition(il.load("mnist"), x[:1], chips=8, capacity="512B")
    logits = system(x)                              # the chips' GraphModules in message order — bit-exact
    assert torch.equal(logits, system.reference(x))  # the unpartitioned integer model
    report = system.run(x, y, preset="paper-testchip")   # accuracy, energy and time vs the ideal chip
    system.chips.wakes                              # [(chip, fx.GraphModule), ...] one per wake-up
    system.plan                                     # messages: tensor, source chip, destination chip, bytes
    print(system.summary())

Integer-exact: the system computes in float64 on fixed-point values (integer codes × 2^-fl), where every
product and sum is exact, so any split — output slices, input slices with int32 partial sums added in chip
order, LSTM hidden-unit slices — gives bit-identical logits to the unpartitioned model on one ideal chip.
Calling the system is the plain loop over the per-chip programs (``partitioning.wakes``); ``run`` is the
cost-counting runtime (``runtime``, ``cost``, ``report``).
"""

from __future__ import annotations

import torch
from torch import fx, nn

from .cost.hardware import ChipSpec
from .errors import IllusionError
from .partitioning.exported import lift
from .partitioning.inputs import check_batch
from .partitioning.partition import Partition
from .partitioning.plan import Mapping, inter_chip_bytes
from .partitioning.solver import Mapper, Objective, solve
from .partitioning.trace import ORDERS, OpGraph, shorter_branches_first, trace
from .report import Report, run_and_price

__all__ = ["IllusionSystem", "build", "partition"]


class IllusionSystem(Partition):
    """A partitioned model: the graph, the mapping and the message plan between its chips; call it on inputs."""

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x``: the chips' GraphModules run one after another (float64, exact)."""
        check_batch(self.graph.gm, x)
        return self.chips.run(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Same as ``system(x)``."""
        return self(x)

    def run(self, x: torch.Tensor, y: torch.Tensor | None = None, *, preset: str | ChipSpec = "paper-testchip",
            batch_size: int | None = None, progress: bool = False) -> Report:
        """Run ``x`` chip by chip on ``preset`` chips: accuracy, mismatches, energy and time vs the ideal chip."""
        return run_and_price(self, x, y, preset=preset, batch_size=batch_size, progress=progress)

    def export(self, folder: str, format: str = "onnx", *, progress: bool = False):
        """Write the per-chip programs into ``folder`` (``deploy.export``; the ``deploy`` extra): ``"onnx"`` —
        an ONNX graph per wake, the chips' memory images, ``manifest.json`` and ``run.py``; ``"c"`` — all of that
        and integer-only C for each chip with ``run_c.py``. ``system.export("mnist-export", format="c")``."""
        if format not in ("onnx", "c"):
            raise IllusionError(f"unknown export format {format!r}: use 'onnx' or 'c'")
        from .deploy import export

        return export(self, folder, progress=progress, c=format == "c")


def build(model: nn.Module, graph: OpGraph, mapping: Mapping) -> IllusionSystem:
    """Bind a mapping to its model; every layer must be placed."""
    return IllusionSystem(model, graph, mapping)


def _reorders(graph: OpGraph) -> bool:
    """Whether shorter branches first changes the node order of ``graph`` (tried on a copy)."""
    probe = fx.Graph()
    probe.output(probe.graph_copy(graph.gm.graph, {}))
    return shorter_branches_first(probe)


def partition(model: nn.Module | torch.export.ExportedProgram, example_inputs: torch.Tensor, *,
              capacity: str | int | list, chips: int | None = None, max_chips: int | None = None,
              solver: str | Mapper = "bilp",
              time_limit_s: float = 60.0, activation_cap: str | int | None = None,
              weights_only: bool | None = None, order: str | None = None, capture: str = "auto",
              objective: str | Objective = "bytes", preset: str | ChipSpec = "paper-testchip") -> IllusionSystem:
    """trace + solve + build: ``il.partition(model, x[:1], chips=8, capacity="512B")``.

    ``objective``: what the mapping minimizes — ``"bytes"`` between chips (the paper's), ``"energy"`` or
    ``"time"`` of one inference on ``preset`` (``illusion_torch.objectives``), or your own cost function
    ``(graph, mapping) -> float``.

    ``solver`` is a name (``partitioning.SOLVERS``) or your own mapper: a callable
    ``(graph, capacities, chips=..., max_chips=..., time_limit_s=...) -> Mapping``.

    ``order`` is the graph's node order (``partitioning.trace.ORDERS``), which sets where ops that join
    branches run. By default the BILP mapper tries the model's order and shorter branches first (when that
    differs), each with half the time limit, and keeps the mapping with fewer bytes between chips (ties: the
    model's); first-fit, sequential and your own mapper take the model's order, as the paper's simulator.

    ``capture``: how the model becomes a graph (``partitioning.CAPTURES``): ``"auto"`` tries torch.fx, then
    torch.export (a Hugging Face model, code with Python control flow); ``"fx"`` or ``"torch.export"`` only
    that door. ``model`` may also be a ``torch.export.ExportedProgram``."""
    if isinstance(model, torch.export.ExportedProgram):
        model = lift(model)                 # the system keeps an nn.Module: the program's graph, lifted
    cost = None
    if callable(objective):
        cost = objective
    elif objective != "bytes":
        from .objectives import mapping_cost

        cost = mapping_cost(model, objective, preset)
    orders = [order] if order is not None else list(ORDERS) if solver == "bilp" else ["model"]
    graphs = [trace(model, example_inputs, order=orders[0], capture=capture)]
    if len(orders) == 2 and _reorders(graphs[0]):        # traced again only where the order changes something
        other = trace(model, example_inputs, order=orders[1], capture=graphs[0].capture)
        if [ly.name for ly in other.layers] != [ly.name for ly in graphs[0].layers] or \
                other.owner != graphs[0].owner:
            graphs.append(other)
    best: tuple[OpGraph, Mapping, int] | None = None
    for o, g in zip(orders, graphs, strict=False):
        m = solve(g, capacity, chips=chips, max_chips=max_chips, solver=solver,
                  time_limit_s=time_limit_s / len(graphs), activation_cap=activation_cap, weights_only=weights_only,
                  objective=cost)
        if len(graphs) > 1:
            m.method += f"; graph order: {o}"
        b = cost(g, m) if cost is not None else inter_chip_bytes(g, m)
        if best is None or b < best[2]:
            best = (g, m, b)
    assert best is not None
    return build(model, best[0], best[1])
