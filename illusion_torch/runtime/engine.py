"""Run inputs chip by chip: each chip computes with the weights in its memory image, in message order.

Usage::

    from illusion_torch.runtime import Runtime
    rt = Runtime(system)                       # system = il.partition(...)
    result = rt.run(x)                         # logits, routes, inferences per route, per-chip Counters
    result.logits, result.counters[0].macs, result.runs
    rt.images[0].write_counts("act", result.runs)
    evaluate(rt.profile, result.runs, preset("paper-testchip"))   # pricing reads the profile (``cost.evaluate``)

A batch runs through the per-wake GraphModules one after another (every chip's wake in turn, each given the
messages it receives as inputs), on fixed-point values in float32 where ``precision.exact_dtype`` proves every
sum exact in it, else float64 — exact either way, so the logits are bit-identical to the unpartitioned model.
A gated model (D2NN) computes both branches for the whole batch, which gives the same logits as waking
only the chips of the taken branch; its per-input route (computed by the chips) decides whose work is
charged: an input's counters hold only the wakes its route runs, the other chips sleep. Counters are exact
per inference (``profile``) and multiply by the inferences that ran them. The runtime counts; it does not
price: energy, time and the event timeline are ``cost.evaluate``'s, read off ``rt.profile``.
"""

from __future__ import annotations

import copy
import sys
import weakref
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..cost.counters import Counters
from ..cost.profile import Branch, Profile
from ..cost.work import profile
from ..errors import IllusionError
from ..partitioning.inputs import check_batch
from ..partitioning.partition import Partition
from .batching import batches, fitting_batch
from .memory import MemoryImage, build_images, load_weights
from .precision import exact_dtype

__all__ = ["Runtime", "RunResult", "batches", "profile_of"]

_PROFILES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()     # a system's programs → their profile


def profile_of(system: Partition) -> Profile:
    """The work profile of ``system``'s chip programs (``cost.work.profile``), counted once per programs and
    shared by every runtime, report and distributed host built on them: ``profile_of(system.ideal())`` prices
    the ideal chip without building its memory images."""
    key = system.chips.expanded
    found = _PROFILES.get(key)
    if found is None:
        found = _PROFILES[key] = profile(system.graph, system.chips, system.mapping.n_chips)
    return found


@dataclass
class RunResult:
    logits: torch.Tensor
    routes: torch.Tensor | None          # per input, for a gated model
    runs: dict[Branch, int]              # {route: inferences}; {None: n} without a gate
    counters: list[Counters]             # per chip, totals over the run


def largest_value(graph: torch.fx.Graph) -> int:
    """Elements of the largest value one input produces anywhere in ``graph`` (from its traced shapes)."""
    most = 1
    for node in graph.nodes:
        metas = node.meta.get("tensor_meta")
        # a TensorMetadata is itself a NamedTuple: only a plain tuple or list holds several (an LSTM's (h, c))
        for meta in (metas,) if hasattr(metas, "shape") or not isinstance(metas, (tuple, list)) else metas:
            shape = getattr(meta, "shape", None)
            if shape is not None and len(shape) > 0 and shape[0] > 0:
                most = max(most, shape.numel() // shape[0])
    return most


class Runtime:
    """Memory images + programs of an IllusionSystem, and the batched chip-by-chip loop over them."""

    def __init__(self, system: Partition) -> None:
        self.system = system
        self.programs = system.chips
        self.weight_format = system.graph.config.weight_format
        self.profile: Profile = profile_of(system)
        self.per_tensor = system.graph.config.per_tensor_formats
        self.images: list[MemoryImage] = build_images(self.profile, self.programs.expanded, self.weight_format,
                                                      per_tensor=self.per_tensor)
        # the images hold exactly the programs' weights (``build_images`` refuses any other), so the programs
        # already compute with what the memories hold; the system's own programs are never written
        self.dtype, self.dtype_reason = exact_dtype(self.programs, self.weight_format, per_tensor=self.per_tensor)
        # inputs per batch: the largest value of one input, in float64, within batching.BATCH_BYTES
        self.batch_size = fitting_batch(8 * largest_value(self.programs.expanded.graph))

    def reload_weights(self) -> None:
        """Compute with the (possibly changed) memory images: their values are loaded into this runtime's own
        copy of the programs, made on the first reload — ``system(x)`` and other runtimes keep the system's."""
        if self.programs is self.system.chips:
            self.programs = copy.deepcopy(self.system.chips)
        load_weights(self.images, self.programs.expanded)

    def counters(self, runs: dict[Branch, int]) -> list[Counters]:
        """Per-chip totals for ``runs`` ({route: inferences})."""
        out = []
        for chip in range(self.profile.n_chips):
            total = Counters()
            for route, n in runs.items():
                c = self.profile.work_of_chip(chip, route)
                wakes = sum(1 for w in self.profile.wakes if w.chip == chip and w.runs_for(route))
                total = total + (c + Counters(wakeups=wakes)).scaled(n)
            out.append(total)
        return out

    @torch.no_grad()
    def run(self, x: torch.Tensor, *, batch_size: int | None = None, progress: bool = False,
            desc: str = "chips") -> RunResult:
        """Logits of every input of ``x``, computed chip by chip, with the work it cost (``batch_size`` inputs at
        a time; default ``self.batch_size``)."""
        batch_size = self.batch_size if batch_size is None else batch_size
        check_batch(self.system.graph.gm, x)
        if len(x) == 0:
            raise IllusionError("no inputs to run")
        if x.is_floating_point() and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).flatten(1).any(1).nonzero()[0, 0])
            raise IllusionError(f"input {bad} holds NaN or infinity; chips compute on fixed-point values: "
                                f"clean or drop such inputs")
        logits, routes = [], []
        for i in tqdm(batches(len(x), batch_size), desc=desc, file=sys.stderr,
                      disable=not progress or not sys.stderr.isatty()):
            out, route = self.programs.forward(x[i:i + batch_size], dtype=self.dtype)
            logits.append(out.double())
            if route is not None:
                routes.append(route)
        route_t = torch.cat(routes) if routes else None
        runs: dict[Branch, int] = {None: len(x)} if route_t is None else \
            {r: int((route_t == r).sum()) for r in self.profile.routes if r is not None}
        return RunResult(torch.cat(logits), route_t, runs, self.counters(runs))
