"""Energy and time of a run: a runtime ``Profile`` (work per wake) × the inferences per route × a ``ChipSpec``.

Usage::

    from illusion_torch.cost import evaluate
    from illusion_torch.cost import preset
    c = evaluate(runtime.profile, result.runs, preset("paper-testchip"))
    c.energy_j, c.time_s, c.edp, c.per_chip[0].breakdown, c.timeline[:3]

Schedule (as measured on the test chip): one input at a time, chips one after another along the message
chain. A wake costs: wake-up latency, receiving its messages (receiver's cycles per word), computing
(cycles per MAC / op / layer call, at the clock), streaming weights from DRAM on a DRAM chip, sending its
messages (sender's cycles per word, then link latency + bytes / link bandwidth), shutdown latency. The
system's time per inference is the sum of its wakes; its energy is every chip's active time × active power
plus per-unit energies (MACs, ops, NVM reads, link bytes, DRAM bits), plus sleep power × the time each
chip is shut down while others run. The ideal chip (``always_on=True``) is one chip holding the whole
model: no wake-ups, no messages but the host's input and output, never asleep. A gated model's figures
are the average over the inputs' routes (docs/paper.md: D2NN weighted by how often each path runs).
Pipelined throughput: inputs stream through the chips, each busy for its active time per inference, so
one inference leaves every max-over-chips active time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..errors import IllusionError
from ..partitioning.trace import HOST
from ..units import ceil_div
from .counters import Counters
from .dataflow import layer_cost, prefetch_pairs
from .hardware import ChipSpec
from .profile import Profile, WakeWork

__all__ = ["evaluate", "SystemCost", "ChipCost", "Event", "LayerRecord"]

CATEGORIES = ("compute", "memory", "messages", "wakeup", "sleep")


@dataclass
class Event:
    chip: int
    start_s: float
    end_s: float
    state: str                  # "wake" | "receive" | "compute" | "memory" | "send" | "shutdown"
    power_w: float


@dataclass
class ChipCost:
    chip: int
    energy_j: float             # per inference (average over routes)
    active_s: float
    sleep_s: float
    wakeups: float
    weight_bytes: int
    breakdown: dict[str, float] = field(default_factory=dict)     # J per inference, by CATEGORIES


@dataclass
class LayerRecord:
    """A layer (slice) a chip computed, priced by a dataflow schedule or the roofline (dataflow presets)."""

    chip: int
    wake: int
    layer: str
    shape: str
    calls: float
    source: str                 # "nn_dataflow" | "roofline"
    time_s: float               # all calls
    energy_j: float             # all calls
    note: str = ""


@dataclass
class SystemCost:
    name: str
    spec: str
    energy_j: float             # per inference
    time_s: float               # per inference, sequential schedule
    per_chip: list[ChipCost]
    timeline: list[Event]       # one inference (route ``timeline_route``), sequential schedule
    timeline_route: int | None
    pipelined_s: float          # time between inferences when inputs stream through the chips
    layers: list[LayerRecord] = field(default_factory=list)    # dataflow presets: route ``timeline_route``

    @property
    def edp(self) -> float:
        return self.energy_j * self.time_s

    @property
    def throughput_per_s(self) -> float:
        return 1.0 / self.pipelined_s if self.pipelined_s > 0 else math.inf

    def as_dict(self) -> dict:
        d = asdict(self)
        d["edp_js"] = self.edp
        d["pipelined_inferences_per_s"] = self.throughput_per_s
        d.pop("timeline")
        if not self.layers:
            d.pop("layers")
        return d


def _words(nbytes: int, spec: ChipSpec) -> int:
    return ceil_div(nbytes, spec.word_bytes)


def _compute(w: WakeWork, work: Counters, route, spec: ChipSpec,
             records: list[LayerRecord]) -> tuple[float, float, float]:
    """A wake's compute: (seconds, joules beyond active power, joules of memory). A dataflow preset prices each
    layer it holds by its schedule and the rest (ops, layers without a shape, stored values read outside a
    schedule) by the roofline; the others price every count at the preset's per-unit figures."""
    f = spec.clock_hz
    df = spec.dataflow
    if df is None:
        cycles = spec.mac_cycles(work.macs, work.fc_macs, work.lstm_macs) + work.ops * spec.cycles_per_op + \
            work.layer_calls * spec.cycles_per_layer
        return cycles / f, work.macs * spec.mac_j + work.ops * spec.op_j, 0.0
    cycles = joules = memory = macs = reads = 0.0
    for lw in w.layers_for(route):
        c = layer_cost(lw.shape, df)
        cycles += c.cycles * lw.calls
        joules += (c.energy_j - c.energy["memory"]) * lw.calls
        memory += c.energy["memory"] * lw.calls
        macs += lw.macs
        reads += lw.weight_reads
        records.append(LayerRecord(w.chip, w.index, lw.label, c.shape, lw.calls, c.source,
                                   c.cycles * lw.calls / f, c.energy_j * lw.calls, c.note))
    rest_macs = max(0.0, work.macs - macs)
    rest_bits = max(0.0, work.weight_read_bits - reads * df.word_bits)
    cycles += max(rest_macs / df.pes + work.ops * spec.cycles_per_op, rest_bits / 8 / df.memory_bytes_per_cycle,
                  df.memory_cycles(rest_bits / df.word_bits, 0.0))
    joules += rest_macs * spec.mac_j + work.ops * spec.op_j
    memory += rest_bits * df.memory_read_j_per_bit
    return cycles / f, joules, memory


def _route_schedule(prof: Profile, route, spec: ChipSpec, always_on: bool, records: list[LayerRecord]):
    """Per-chip [active s, energy by category] and the timeline for one inference on ``route``."""
    f = spec.clock_hz
    n = prof.n_chips
    active = [0.0] * n
    energy = [dict.fromkeys(CATEGORIES, 0.0) for _ in range(n)]
    wakes = [0] * n
    events: list[Event] = []
    sends: dict[int | None, list] = {}
    recvs: dict[int | None, list] = {}
    for t in prof.transfers:
        if t.branch is not None and t.branch != route:
            continue
        if t.src != HOST:
            sends.setdefault(t.src_wake, []).append(t)
        if t.dst != HOST:
            recvs.setdefault(t.dst_wake, []).append(t)
    dram_done: set[int] = set()
    nvm_done: set[int] = set()
    clock = 0.0
    P = spec.active_power_w
    for w in prof.wakes:
        if not w.runs_for(route):
            continue
        c, work = w.chip, w.for_route(route)
        phases: list[tuple[str, float, float, str]] = []       # state, seconds, extra joules, category
        if not always_on:
            phases.append(("wake", spec.wake_s, 0.0, "wakeup"))
        words_in = sum(_words(t.bytes, spec) for t in recvs.get(w.index, []))
        if words_in:
            phases.append(("receive", words_in * spec.cycles_per_word_recv / f, 0.0, "messages"))
        if spec.weights_in_dram and c not in dram_done:     # the chip's weights, streamed once per inference
            dram_done.add(c)
            b = prof.weight_values(c, route) * prof.weight_bytes
            phases.append(("memory", b / spec.dram_bytes_per_s, 8 * b * spec.dram_j_per_bit, "memory"))
        secs, joules, memory = _compute(w, work, route, spec, records)
        phases.append(("compute", secs, joules, "compute"))
        energy[c]["memory"] += memory
        if spec.nvm_read_j_per_bit and not spec.weights_in_dram and spec.dataflow is None:
            if not spec.weights_buffered:
                bits = work.weight_read_bits
            else:                                           # read into the buffer once per inference
                bits = 0 if c in nvm_done else prof.weight_values(c, route) * prof.weight_bytes * 8
                nvm_done.add(c)
            energy[c]["memory"] += bits * spec.nvm_read_j_per_bit
        out = sends.get(w.index, [])
        if out:
            words_out = sum(_words(t.bytes, spec) for t in out)
            link_s = sum(spec.link_latency_s + t.bytes / spec.link_bytes_per_s for t in out)
            phases.append(("send", words_out * spec.cycles_per_word_send / f + link_s,
                           sum(t.bytes for t in out) * spec.link_j_per_byte, "messages"))
        if not always_on:
            phases.append(("shutdown", spec.shutdown_s, 0.0, "wakeup"))
        wakes[c] += 1
        for state, secs, joules, cat in phases:
            if secs > 0:
                events.append(Event(c, clock, clock + secs, state, P))
            clock += secs
            active[c] += secs
            energy[c][cat] += secs * P + joules
    total = clock
    for c in range(n):
        if not always_on:
            energy[c]["sleep"] += (total - active[c]) * spec.sleep_power_w
    return active, energy, wakes, events, total


def schedule_needs(prof: Profile, runs: dict, spec: ChipSpec) -> list:
    """The (layer shape, chip) pairs pricing ``prof`` on ``spec`` looks up (a dataflow preset; else none)."""
    if spec.dataflow is None:
        return []
    return [(lw.shape, spec.dataflow) for route in runs for w in prof.wakes if w.runs_for(route)
            for lw in w.layers_for(route)]


def evaluate(prof: Profile, runs: dict, spec: ChipSpec, *, name: str = "illusion", always_on: bool = False,
             timeline_route=None) -> SystemCost:
    """Energy, time and per-chip breakdown per inference of ``prof`` run ``runs`` ({route: inferences})."""
    total_runs = sum(runs.values())
    if total_runs <= 0:
        raise IllusionError("no inferences to price")
    if spec.dataflow is not None:               # every new shape searched once, on every core, before pricing
        prefetch_pairs(schedule_needs(prof, runs, spec))
    n = prof.n_chips
    active = [0.0] * n
    wakes = [0.0] * n
    energy = [dict.fromkeys(CATEGORIES, 0.0) for _ in range(n)]
    time_s = 0.0
    timeline, timeline_of, layers = [], None, []
    first = timeline_route if timeline_route in runs else max(runs, key=lambda r: runs[r])
    for route, count in runs.items():
        if count == 0:
            continue
        p = count / total_runs
        records: list[LayerRecord] = []
        a, e, k, events, total = _route_schedule(prof, route, spec, always_on, records)
        time_s += p * total
        for c in range(n):
            active[c] += p * a[c]
            wakes[c] += p * k[c]
            for cat in CATEGORIES:
                energy[c][cat] += p * e[c][cat]
        if route == first:
            timeline, timeline_of, layers = events, route, records
    stored = [0] * n                            # weight values per chip
    for w in prof.weights:
        stored[w.chip] += w.numel
    per_chip = []
    for c in range(n):
        wb = stored[c] * prof.weight_bytes
        per_chip.append(ChipCost(c, sum(energy[c].values()), active[c], max(0.0, time_s - active[c]) if not always_on
                                 else 0.0, wakes[c], wb, energy[c]))
    return SystemCost(name, spec.name, sum(pc.energy_j for pc in per_chip), time_s, per_chip, timeline, timeline_of,
                      max(active), layers)
