"""A partitioned model: the model, its OpGraph and a Mapping — what every later stage reads.

Usage::

    from illusion_torch.partitioning.partition import Partition
    p = Partition(model, graph, mapping)       # graph = trace(model, x[:1]); mapping = solve(graph, ...)
    p.chips.wakes                              # [(chip, fx.GraphModule), ...] one per wake-up, built once
    p.plan                                     # messages: tensor, source chip, destination chip, bytes
    p.reference(x)                             # the unpartitioned model in float64 (a private copy)
    p.ideal()                                  # the same model on one ideal chip
    print(p.summary())

``illusion_torch.IllusionSystem`` is a Partition that can also run and price itself.
"""

from __future__ import annotations

from collections import defaultdict
from operator import attrgetter
from typing import Self

import torch
from torch import nn

from ..errors import IllusionError
from ..units import bytes_text
from .inputs import check_batch, float64_copy, select_output
from .plan import Mapping, Message, Piece, activation_bytes, inter_chip_bytes, messages, unplaced
from .rewrite import chip_programs
from .trace import OpGraph
from .wakes import ChipPrograms

__all__ = ["Partition"]


REFERENCE_CACHE_BYTES = 256 * 2**20


def _state_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))


class Partition:
    """The model, the graph traced from it and the mapping of its layers onto chips (checked whole)."""

    def __init__(self, model: nn.Module, graph: OpGraph, mapping: Mapping) -> None:
        missing = unplaced(graph, mapping)
        if missing:
            raise IllusionError(f"the mapping places no piece of {', '.join(missing)}")
        self.model, self.graph, self.mapping = model, graph, mapping
        self._programs: ChipPrograms | None = None
        self._reference: nn.Module | None = None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.graph.model_name!r}, {self.mapping.n_chips} chips, "
                f"{self.inter_chip_bytes} B between chips)")

    @property
    def plan(self) -> list[Message]:
        return messages(self.graph, self.mapping)

    @property
    def inter_chip_bytes(self) -> int:
        return inter_chip_bytes(self.graph, self.mapping)

    @property
    def params_bytes(self) -> int:
        """Every parameter of the model at the counted word size (what a chip would store)."""
        return sum(p.numel() for p in self.model.parameters()) * ((self.graph.word_bits + 7) // 8)

    @property
    def placed_bytes(self) -> int:
        """The model's parameters the chips store, at the counted word size (buffers such as a batch norm's
        running statistics are stored too, but are not parameters)."""
        return sum(ly.param_count for ly in self.graph.layers) * ((self.graph.word_bits + 7) // 8)

    @property
    def unused_bytes(self) -> int:
        """Parameters of the model the traced forward never reads (e.g. GoogLeNet's training-only auxiliary
        heads), at the counted word size: they run nowhere, so no chip stores them."""
        read: set[int] = set()
        for node in self.graph.gm.graph.nodes:
            if node.op == "call_module":
                tensors = list(self.graph.gm.get_submodule(str(node.target)).parameters())
            elif node.op == "get_attr":
                tensors = [attrgetter(str(node.target))(self.graph.gm)]
            else:
                continue
            read.update(t.untyped_storage().data_ptr() for t in tensors if isinstance(t, torch.Tensor))
        unused = sum(p.numel() for p in self.model.parameters() if p.untyped_storage().data_ptr() not in read)
        return unused * ((self.graph.word_bits + 7) // 8)

    @property
    def placed_share(self) -> float:
        """The share of ``params_bytes`` the mapping puts on chips; below 1 only for parameters the traced
        forward never reads."""
        return min(1.0, self.placed_bytes / self.params_bytes) if self.params_bytes else 1.0

    @property
    def chips(self) -> ChipPrograms:
        """One torch.fx GraphModule per chip wake-up, in message order (built once)."""
        if self._programs is None:
            self._programs = chip_programs(self.graph, self.mapping)
        return self._programs

    def ideal(self) -> Self:
        """The same model on one ideal chip: memory for the whole model, every layer whole."""
        g = self.graph
        m = Mapping([[Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes) for ly in g.layers]],
                    [g.weight_bytes], "ideal", optimal=True, method="ideal")
        return type(self)(self.model, g, m)

    @torch.no_grad()
    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The unpartitioned model on one ideal chip, in float64 (exact for a fixed-point model).

        It runs a private float64 copy of the model in eval mode: the user's model keeps its mode, dtype and
        attributes. The copy is kept for the next call when it is small (≤ ``REFERENCE_CACHE_BYTES``), else
        made for each call and dropped, so a large model is never held twice besides its chips."""
        model = self._reference if self._reference is not None else float64_copy(self.model)
        if self._reference is None and _state_bytes(model) <= REFERENCE_CACHE_BYTES:
            self._reference = model
        check_batch(self.graph.gm, x)
        return select_output(model(x.double() if x.is_floating_point() else x), self.graph.output_path)

    def summary(self) -> str:
        """A per-chip table: pieces, weight bytes, message bytes in and out, activation buffer."""
        plan = [m for m in self.plan if m.between_chips]
        m = self.mapping
        if m.optimal:
            status = f" (proven optimal, {m.solve_s:.2f} s)"
        elif m.solver in ("paper", "first-fit", "sequential"):
            status = ""                                 # a fixed rule, not a search: nothing to prove
        else:
            bound = f", proven lower bound {bytes_text(m.lower_bound)}" if m.lower_bound is not None else ""
            status = f" (not proven optimal: best found in {m.solve_s:.2f} s{bound})"
        lines = [f"{self.graph.model_name} (captured by {self.graph.capture}): {m.n_chips} chips, solver {m.method}, "
                 f"{bytes_text(self.inter_chip_bytes)} between chips per inference{status}",
                 *([] if self.placed_share >= 1.0 else [
                     f"{100 * self.placed_share:.2f} % of parameter bytes are on chips: "
                     f"{bytes_text(self.unused_bytes)} are parameters the traced forward never reads (they run "
                     f"nowhere)" + ("" if self.placed_bytes + self.unused_bytes >= self.params_bytes else
                                    f", {bytes_text(self.params_bytes - self.placed_bytes - self.unused_bytes)} are "
                                    f"read but on no chip")]),
                 *([f"output: {self.graph.output}"] if self.graph.output else []),
                 f"{'chip':>4}  {'weight B':>9}  {'in B':>7}  {'out B':>7}  {'act. B':>7}  pieces"]
        act = activation_bytes(self.graph, self.mapping)
        received: dict = defaultdict(int)
        sent: dict = defaultdict(int)
        for x in plan:                                  # one pass: thousands of chips stay fast
            received[x.dst] += x.total_bytes
            sent[x.src] += x.total_bytes
        for c, pieces in enumerate(self.mapping.chips):
            names = ", ".join(p.layer if p.split is None else f"{p.layer}[{p.split} {p.start}:{p.stop}]"
                              for p in pieces)
            lines.append(f"{c:>4}  {sum(p.weight_bytes for p in pieces):>9}  {received[c]:>7}  {sent[c]:>7}  "
                         f"{act[c]:>7}  {names}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """The JSON record of the mapping (``illusion partition --json``): chips, pieces, messages, proof."""
        m, g = self.mapping, self.graph
        act = activation_bytes(g, m)
        return {
            "model": g.model_name, "capture": g.capture, "chips": m.n_chips, "capacity_bytes": max(m.capacity_bytes),
            "inter_chip_bytes": self.inter_chip_bytes, "solver": m.solver, "method": m.method,
            "optimal": m.optimal, "gap": m.gap, "lower_bound": m.lower_bound, "solve_s": round(m.solve_s, 3),
            "weight_bytes": g.weight_bytes,
            "params_bytes": self.params_bytes, "placed_bytes": self.placed_bytes, "placed_share": self.placed_share,
            "unused_bytes": self.unused_bytes, **({"output": g.output} if g.output else {}),
            "per_chip": [{"weight_bytes": sum(p.weight_bytes for p in pieces), "activation_bytes": act[c],
                          "nodes": [{"layer": p.layer, "split": p.split, "start": p.start, "stop": p.stop,
                                     "weight_bytes": p.weight_bytes} for p in pieces]}
                         for c, pieces in enumerate(m.chips)],
            "messages": [{"tensor": x.tensor, "src": x.src, "dst": x.dst, "bytes": x.bytes, "per": x.per}
                         for x in self.plan],
        }
