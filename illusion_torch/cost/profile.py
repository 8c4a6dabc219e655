"""The work of one inference, wake by wake: what the cost model prices and the memory images lay out.

Usage::

    from illusion_torch.cost.work import profile
    p = profile(graph, programs, n_chips=8)    # programs = chip_programs(graph, mapping)
    p.wakes[0].chip, p.wakes[0].work[None].macs
    [(t.src, t.dst, t.bytes) for t in p.transfers]      # every message, host I/O included
    p.weights, p.stores                        # what each chip keeps in memory, and how often it is touched

A ``Profile`` is a static count read off the chips' rewritten graph (``cost.work`` builds it); nothing runs.
Work that belongs to a gated branch (D2NN's ``branches``) is kept apart under the route value that runs it,
so the runtime charges it only for the inputs that take it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..partitioning.trace import HOST, Chip
from .counters import Counters

__all__ = ["Profile", "WakeWork", "LayerWork", "LayerShape", "Transfer", "WeightSlot", "Store", "StoreKind", "Branch"]

Branch = int | None


@dataclass(frozen=True)
class LayerShape:
    """A convolution (an FC layer is one with a 1×1 output) nn_dataflow can schedule.

    ``nifm``/``nofm`` input/output channels, ``hofm``/``wofm`` output size, ``kh``/``kw`` kernel, ``stride``;
    ``batch``: inputs scheduled together (nn_dataflow's batch: each weight fetched once for all of them), 1
    unless a layer's steps are scheduled as a batch (``cost.steps_as_batch``)."""

    nifm: int
    nofm: int
    hofm: int = 1
    wofm: int = 1
    kh: int = 1
    kw: int = 1
    sh: int = 1
    sw: int = 1
    batch: int = 1

    @classmethod
    def conv(cls, nifm: int, nofm: int, out_hw: tuple[int, int], kernel: tuple[int, int],
             stride: tuple[int, int] = (1, 1)) -> LayerShape:
        return cls(int(nifm), int(nofm), int(out_hw[0]), int(out_hw[1]), int(kernel[0]), int(kernel[1]),
                   int(stride[0]), int(stride[1]))

    @classmethod
    def fc(cls, nifm: int, nofm: int, positions: int = 1, *, batch: int = 1) -> LayerShape:
        """A fully connected layer; applied at ``positions`` tokens it is a 1×1 convolution over them; ``batch``
        inputs scheduled together."""
        return cls(int(nifm), int(nofm), int(positions), 1, batch=int(batch))

    @property
    def macs(self) -> int:
        return self.nifm * self.nofm * self.hofm * self.wofm * self.kh * self.kw * self.batch

    @property
    def weights(self) -> int:
        return self.nifm * self.nofm * self.kh * self.kw

    @property
    def inputs(self) -> int:
        return self.nifm * ((self.hofm - 1) * self.sh + self.kh) * ((self.wofm - 1) * self.sw + self.kw) * self.batch

    @property
    def outputs(self) -> int:
        return self.nofm * self.hofm * self.wofm * self.batch

    @property
    def key(self) -> str:
        batch = f"-b{self.batch}" if self.batch != 1 else ""         # batch 1: the keys cached before batches
        return (f"{self.nifm}-{self.nofm}-{self.hofm}x{self.wofm}-k{self.kh}x{self.kw}-s{self.sh}x{self.sw}{batch}")

    def __str__(self) -> str:
        batch = f" ×{self.batch} batched" if self.batch != 1 else ""
        if (self.hofm, self.wofm, self.kh, self.kw) == (1, 1, 1, 1):
            return f"fc {self.nifm}→{self.nofm}{batch}"
        return (f"conv {self.nifm}→{self.nofm} k{self.kh}×{self.kw} s{self.sh} out {self.hofm}×{self.wofm}{batch}")


class StoreKind(StrEnum):
    ACTIVATION = "activation"       # a value the chip computed and keeps in a buffer
    INBOX = "inbox"                 # a message it received


@dataclass
class LayerWork:
    """A layer (slice) a wake computes ``calls`` times per inference, in the shape a dataflow scheduler takes;
    its MACs (shape × calls) and ``weight_reads`` (values) are part of the wake's ``Counters``."""

    label: str
    shape: LayerShape
    calls: float
    weight_reads: float

    @property
    def macs(self) -> float:
        return self.shape.macs * self.calls


@dataclass
class WakeWork:
    """One wake-up of one chip: its work per inference, by branch (None = every input)."""

    index: int
    chip: int
    work: dict[Branch, Counters] = field(default_factory=dict)
    layers: dict[Branch, list[LayerWork]] = field(default_factory=dict)

    def add(self, branch: Branch, c: Counters) -> None:
        self.work[branch] = self.work.get(branch, Counters()) + c

    def add_layer(self, branch: Branch, layer: LayerWork) -> None:
        self.layers.setdefault(branch, []).append(layer)

    def layers_for(self, route: Branch) -> list[LayerWork]:
        """The layers this wake runs for ``route`` (read only: a list the wake may hold itself)."""
        common = self.layers.get(None, [])
        own = self.layers.get(route) if route is not None else None
        return common + own if own else common

    def runs_for(self, route: Branch) -> bool:
        return None in self.work or route in self.work

    def for_route(self, route: Branch) -> Counters:
        total = self.work.get(None, Counters())
        return total + self.work[route] if route is not None and route in self.work else total


@dataclass
class Transfer:
    """A value produced on ``src`` and consumed on ``dst`` (chip index or HOST), once per inference."""

    tensor: str
    src: Chip
    dst: Chip
    src_wake: int | None
    dst_wake: int | None
    bytes: int
    branch: Branch


@dataclass
class WeightSlot:
    """A parameter a chip stores: where it lives in the programs and how often each value is read."""

    chip: int
    module: str                 # attribute path in the rewritten graph's root
    param: str
    label: str                  # the model's layer and the slice
    reads_per_value: float      # per inference
    branch: Branch
    numel: int = 0


@dataclass
class Store:
    """An activation a chip writes into its buffer (its own result, or a message it receives)."""

    chip: int
    name: str
    numel: int
    bytes_per_value: int
    writes_per_value: float     # per inference
    branch: Branch
    kind: StoreKind
    nodes: list[str] = field(default_factory=list)   # the rewritten graph's values written here


@dataclass
class Profile:
    n_chips: int
    wakes: list[WakeWork]
    transfers: list[Transfer]
    weights: list[WeightSlot]
    stores: list[Store]
    routes: list[Branch]        # [None] for a model without a gate, else its route values
    events: list[tuple[int, int, int]] = field(default_factory=list)   # writes in program order:
    #                             (wake, position in the graph, index into stores), one per buffer write
    weight_bytes: int = 1       # bytes per stored weight value

    def work_of_chip(self, chip: int, route: Branch) -> Counters:
        total = Counters()
        for w in self.wakes:
            if w.chip == chip and w.runs_for(route):
                total = total + w.for_route(route)
        return total

    def weight_values(self, chip: int, route: Branch) -> int:
        """Weight values stored on ``chip`` that an inference on ``route`` uses."""
        return sum(w.numel for w in self.weights if w.chip == chip and (w.branch is None or w.branch == route))

    def inter_chip_bytes(self, route: Branch | str = "all") -> int:
        """Bytes between chips per inference (``route="all"``: every branch, as the message plan counts)."""
        return sum(t.bytes for t in self.transfers if t.src != HOST and t.dst != HOST
                   and (route == "all" or t.branch is None or t.branch == route))
