"""Cut a rewritten graph whose nodes carry chips into one GraphModule per chip wake-up.

Usage::

    from illusion_torch.partitioning.wakes import cut
    programs = cut(gm, chip_of)                # gm: the rewritten graph; chip_of: node name -> chip
    programs.wakes                             # [(chip, GraphModule), ...] in message order
    logits, route = programs.forward(x)        # the chips one after another

Taking nodes in topological order, lowest chip first (the host before every chip), a maximal run of nodes
on one chip is one wake-up; ``torch.fx.passes.split_module`` cuts the graph there: one GraphModule per wake,
called in order by the top module, with the tensors between them as its inputs and outputs.
"""

from __future__ import annotations

import contextlib
import heapq
from dataclasses import dataclass, field

import torch
from torch import fx
from torch.fx.passes.split_module import split_module

from .trace import HOST, Chip

__all__ = ["ChipPrograms", "cut", "wake_order", "lazy_graph_modules"]


def wake_order(graph: fx.Graph, chip: dict[str, Chip]) -> dict[str, int]:
    """Node name -> wake index: topological order preferring the lowest chip (host first); each maximal run
    of nodes on one chip is a wake."""
    def rank(n: fx.Node) -> int:
        c = chip.get(n.name, -1)
        return -1 if c == HOST else int(c)

    nodes = list(graph.nodes)
    indeg = {n: len(n.all_input_nodes) for n in nodes}
    order_index = {n: i for i, n in enumerate(nodes)}
    heap = [(rank(n), i, n) for i, n in enumerate(nodes) if indeg[n] == 0]
    heapq.heapify(heap)
    wake, last, out = -1, object(), {}
    while heap:
        _, _, n = heapq.heappop(heap)
        c = chip.get(n.name)
        if n.op not in ("placeholder", "output"):
            if c != last:
                wake += 1
                last = c
            out[n.name] = wake
        for u in n.users:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (rank(u), order_index[u], u))
    return out


@dataclass
class ChipPrograms:
    """The per-wake GraphModules of a system and the top module that calls them in message order.

    ``expanded`` is the whole rewritten graph before the cut, ``chip_of`` / ``wake_of`` give each of its
    nodes' chip and wake index (the cost profile reads them); ``gated`` says the programs also return the
    model's per-input route (D2NN). The programs hold private copies of every module they call, so running
    them never touches the user's model."""

    top: fx.GraphModule
    wakes: list[tuple[Chip, fx.GraphModule]]
    expanded: fx.GraphModule
    chip_of: dict[str, Chip] = field(default_factory=dict)
    wake_of: dict[str, int] = field(default_factory=dict)
    gated: bool = False
    dtype: torch.dtype = torch.float32

    @torch.no_grad()
    def forward(self, x: torch.Tensor, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, route) of ``x`` computed in ``dtype``; route is None for a model without a gate.

        The programs keep their weights in the model's own dtype, once: each wake computes with its own
        weights cast to ``dtype`` for the call (at most one chip's worth at a time)."""
        x = x.to(dtype) if x.is_floating_point() else x
        out = self.top(x) if dtype == self.dtype else _InDtype(self.top, dtype).run(x)
        return out if self.gated else (out, None)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``x`` in float64 (exact for fixed-point models)."""
        return self.forward(x)[0]


class _InDtype(fx.Interpreter):
    """Runs the top module, calling each wake with its parameters and buffers cast to ``dtype`` (and the
    stored tensors the top passes to wakes) — but an embedding table's (``lookup_only`` modules: their rows
    are cast after the lookup, exactly)."""

    CACHE_BYTES = 2 * 2**30     # casts kept for the run: a recurrent slice's weights are used every step

    def __init__(self, top: fx.GraphModule, dtype: torch.dtype) -> None:
        super().__init__(top)
        self.dtype = dtype
        self.seen: set[int] = set()
        self.cache: dict[int, torch.Tensor] = {}
        self.cached_bytes = 0

    def cast(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` in the run's dtype; a tensor cast a second time in this run is kept (up to CACHE_BYTES)."""
        key = id(t)
        if key in self.cache:
            return self.cache[key]
        out = t.to(self.dtype)
        if key in self.seen and self.cached_bytes + out.nbytes <= self.CACHE_BYTES:
            self.cache[key] = out
            self.cached_bytes += out.nbytes
        self.seen.add(key)
        return out

    def get_attr(self, target, args, kwargs):  # type: ignore[override]
        value = super().get_attr(target, args, kwargs)      # a stored tensor the top hands to a wake
        return value.to(self.dtype) if isinstance(value, torch.Tensor) and value.is_floating_point() else value

    def call_module(self, target, args, kwargs):  # type: ignore[override]
        wake = self.fetch_attr(str(target))
        computed = {id(p) for m in wake.modules() if not getattr(m, "lookup_only", False)
                    for p in m.parameters(recurse=False)}           # a tied LM head computes with its table
        tables = {id(p) for m in wake.modules() if getattr(m, "lookup_only", False) for p in m.parameters()} - computed
        state = {f"wake.{name}": self.cast(t) if t.is_floating_point() and id(t) not in tables else t
                 for name, t in (*wake.named_parameters(remove_duplicate=False),    # a tensor two modules hold:
                                 *wake.named_buffers(remove_duplicate=False))}     # cast for both (once)
        return torch.func.functional_call(_Interpreted(wake), state, args, kwargs, tie_weights=False)


class _Interpreted(torch.nn.Module):
    """Runs a wake's graph node by node (``fx.Interpreter``) instead of its generated code: a system of tens of
    thousands of wakes never generates and compiles their Python code (the wakes are built lazily)."""

    def __init__(self, wake: fx.GraphModule) -> None:
        super().__init__()
        self.wake = wake

    def forward(self, *args):
        return fx.Interpreter(self.wake).run(*args)


def lazy_graph_modules():
    """torch.fx's lazy GraphModules (their code generated on first call), where this torch has them."""
    try:
        from torch.fx._lazy_graph_module import _use_lazy_graph_module
    except ImportError:                     # an older torch: every wake's code is generated now
        return contextlib.nullcontext()
    return _use_lazy_graph_module(True)


def cut(gm: fx.GraphModule, chip: dict[str, Chip], *, gated: bool = False) -> ChipPrograms:
    """Cut a rewritten graph whose nodes carry chips (``chip``: node name -> chip) into wake GraphModules."""
    wake_of = wake_order(gm.graph, chip)
    chip_of_wake = {w: chip[name] for name, w in wake_of.items()}
    with lazy_graph_modules():
        top = split_module(gm, gm, lambda n: wake_of[n.name])
    subs = sorted((int(name.split("_")[1]), mod) for name, mod in top.named_children() if name.startswith("submod_"))
    wakes = [(chip_of_wake[w], mod) for w, mod in subs]
    dtype = next((p.dtype for p in gm.parameters() if p.is_floating_point()), torch.float32)
    return ChipPrograms(top, wakes, gm, chip, wake_of, gated, dtype)
