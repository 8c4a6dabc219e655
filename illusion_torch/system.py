"""An Illusion system: a model, its OpGraph and a Mapping, run slice by slice as the chips would.

Usage::

    import illusion_torch as il
    system = il.partition(il.load("mnist"), x[:1], chips=8, capacity="512B")
    logits = system.run(x)                          # chips' slices, partial sums, h exchanges — bit-exact
    assert torch.equal(logits, system.reference(x))  # the unpartitioned integer model
    system.plan                                     # messages: tensor, source chip, destination chip, bytes
    print(system.summary())

Integer-exact: the system computes in float64 on fixed-point values (integer codes × 2^-fl), where every
product and sum is exact, so any split — output slices, input slices with int32 partial sums added in chip
order, LSTM hidden-unit slices — gives bit-identical logits to the unpartitioned model on one ideal chip.
This module is the plain reference loop; the cost-counting runtime builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from .graph import OpGraph, trace
from .layers import QLSTM, hard_sigmoid, hard_tanh
from .mapping import Mapping, Message, activation_bytes, inter_chip_bytes, messages, solve
from .mapping.plan import Piece

__all__ = ["IllusionSystem", "build", "partition"]


def _conv(module: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return F.conv2d(x, weight, bias, module.stride, module.padding, module.dilation, 1)


def _run_layer(module: nn.Module, x: torch.Tensor, pieces: list[Piece]) -> torch.Tensor:
    """The layer's output computed piece by piece, as its chips would."""
    if len(pieces) == 1 and pieces[0].split is None:
        return module(x)
    split = pieces[0].split
    if isinstance(module, QLSTM):
        return _run_lstm(module, x, pieces)
    if isinstance(module, nn.Conv2d) and (module.groups != 1 or module.padding_mode != "zeros"):
        return module(x)       # grouped/odd-padded convs: whole-layer arithmetic, still exact
    w, b = module.weight, module.bias
    apply = (lambda xx, ww, bb: _conv(module, xx, ww, bb)) if isinstance(module, nn.Conv2d) else F.linear
    if isinstance(module, nn.Embedding):
        return module(x)
    if split == "out":
        return torch.cat([apply(x, w[p.start:p.stop], None if b is None else b[p.start:p.stop]) for p in pieces],
                         dim=1)
    partial = None
    for p in pieces:     # int32 partial sums passed along the chain of chips, bias on the last
        part = apply(x[:, p.start:p.stop], w[:, p.start:p.stop], None)
        partial = part if partial is None else partial + part
    return partial if b is None else partial + (b.view(1, -1, 1, 1) if partial.dim() == 4 else b)


def _run_lstm(lstm: QLSTM, x: torch.Tensor, pieces: list[Piece]) -> torch.Tensor:
    """Each chip owns hidden units [start, stop) with all four gates; h is gathered every step."""
    H = lstm.hidden_size
    x = lstm.q_x(x)
    h = x.new_zeros(x.shape[0], H)
    c = x.new_zeros(x.shape[0], H)
    rows = [torch.cat([torch.arange(p.start, p.stop) + k * H for k in range(4)]) for p in pieces]
    for t in range(x.shape[1]):
        h_parts, c_parts = [], []
        for p, r in zip(pieces, rows, strict=True):
            pre = lstm.q_pre(x[:, t] @ lstm.weight_ih[r].t() + h @ lstm.weight_hh[r].t() + lstm.bias[r])
            i, f, g, o = pre.chunk(4, dim=-1)
            i, f = lstm.q_gate(hard_sigmoid(i)), lstm.q_gate(hard_sigmoid(f))
            g, o = lstm.q_gate(hard_tanh(g)), lstm.q_gate(hard_sigmoid(o))
            c_new = lstm.q_c_new(f * c[:, p.start:p.stop] + i * g)
            h_parts.append(lstm.q_h(o * hard_tanh(c_new)))
            c_parts.append(lstm.q_c_in(c_new))
        h, c = torch.cat(h_parts, dim=1), torch.cat(c_parts, dim=1)
    return h


class _SlicedInterpreter(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, placement: dict[str, list[Piece]]) -> None:
        super().__init__(gm)
        self.placement = placement

    def run_node(self, n: fx.Node):
        if n.op == "call_module" and n.name in self.placement:
            (x,), _ = self.fetch_args_kwargs_from_env(n)
            return _run_layer(self.fetch_attr(str(n.target)), x, self.placement[n.name])
        return super().run_node(n)


@dataclass
class IllusionSystem:
    """A partitioned model: the graph, the mapping and the message plan between its chips."""

    model: nn.Module
    graph: OpGraph
    mapping: Mapping

    @property
    def plan(self) -> list[Message]:
        return messages(self.graph, self.mapping)

    @property
    def inter_chip_bytes(self) -> int:
        return inter_chip_bytes(self.graph, self.mapping)

    def _placement(self) -> dict[str, list[Piece]]:
        return {ly.name: [p for _, p in self.mapping.pieces_of(ly.name)] for ly in self.graph.layers}

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` computed slice by slice on the chips (float64, exact)."""
        self.model.double().eval()
        try:
            return _SlicedInterpreter(self.graph.gm, self._placement()).run(x.double())
        finally:
            self.model.float()

    @torch.no_grad()
    def reference(self, x: torch.Tensor) -> torch.Tensor:
        """The unpartitioned model on one ideal chip, in the same exact arithmetic."""
        self.model.double().eval()
        try:
            return self.model(x.double())
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
