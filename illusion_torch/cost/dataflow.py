"""A layer's energy and time on an Eyeriss-like chip, from nn_dataflow's schedule — the paper's scale-up cost.

Usage::

    from illusion_torch.cost.dataflow import LayerShape, PAPER_CHIP, layer_cost
    shape = LayerShape.conv(96, 256, out_hw=(27, 27), kernel=(5, 5))
    c = layer_cost(shape, PAPER_CHIP)       # LayerCost: cycles, energy_j by part, source "nn_dataflow"
    c.cycles / 1e9, c.energy_j, c.accesses  # seconds at the chip's 1 GHz clock; words per memory level

The authors' scale-up simulator took each layer's schedule from nn_dataflow (docs/paper.md, "The scale-up simulator
as released"). We call its per-layer search (``Scheduling.schedule_search``) with their invocation's chip: 4×4
nodes of 16×16 PEs, 256 B register file per PE, 2 MiB global buffer, 16-bit words, batch 1, relative costs
op 1 / main memory 200 / global buffer 6 / array bus 2 / register file 1, hop cost 0, unit static cost 1,
global-buffer bypass disabled for inputs, outputs and filters, search goal energy, exhaustive loop blocking.

Why the per-layer API: a chip holds layers or slices of layers and its cost is their sum, so a per-layer
schedule is the unit we need anyway; and nn_dataflow's network search runs every layer through its
pipeline-segment code, whose sympy use fails with the sympy torch needs (``subs`` with None). Per layer,
that code never runs. The one thing the network search adds for a lone layer is that the input layout comes
from the previous layer's output layout; we search over every input partition and keep the best.

From a schedule's counts to joules and seconds (constants from docs/paper.md, none fitted):
- compute: nn_dataflow's ops (MACs) × 1.90 pJ;
- register file: 0.23 pJ/bit × 16-bit words for the operand reads (input and filter, one each per MAC):
  7.36 pJ per MAC, the paper's register-file figure; the partial sum stays in the PE's accumulator (the two
  partial-sum accesses nn_dataflow also counts would double the paper's figure);
- global buffer: every access × 16 bits × 0.32 pJ/bit; array bus (nn_dataflow's ITCN level): no energy figure
  is given (the released configuration prices nothing between buffer and PEs beyond these), counted 0;
- main memory (on-chip RRAM): filter and input fetches are reads (0.8 pJ/bit); an output fetched f times is
  written f times and read back f − 1 times (nn_dataflow counts 2f − 1 accesses), writes at 1.5 pJ/bit;
- time: the schedule's cycles with the memory's bandwidth given to nn_dataflow — 16 channels × 32 GB/s at
  1 GHz = 512 B per cycle = 256 words — so a layer is max(processing, array bus, memory stream) cycles (its
  own overlap assumption); then the memory system's latencies (``memory_cycles``, below), as the release's
  time came from replaying each schedule's memory traces through its configured memory system.
- memory system (docs/paper.md, "The scale-up simulator as released": RRAM in 16 channels of 32 GB/s, one per
  node, 8-cycle reads and 16-cycle writes, 256-bit lines; a global buffer with a 4-cycle latency). A layer's
  main-memory accesses (its schedule's words, in 256-bit lines of 16 words) are spread evenly over the 16
  channels, and a channel serves one line at a time, each for its latency (8 cycles to read, 16 to write; a
  32 B line at 32 GB/s is one cycle of transfer, inside the latency). The global buffer: one bank per node,
  256 bits wide (the configuration gives no width; we take the memory's line), 4 cycles per access. So
  memory cycles = (read lines × 8 + write lines × 16) / 16 and buffer cycles = buffer lines × 4 / 16, and a
  layer takes max(schedule, memory, buffer) cycles — compute and memory overlap, as in nn_dataflow's own
  time. One outstanding line per channel is our choice where the configuration is silent: an RRAM channel is
  one array that serves one access at a time, nothing in the configuration says it pipelines them, and it is
  what a fixed-latency memory model gives a trace replayed one access at a time. The preset
  ``accelerator-28nm-schedule`` keeps the schedule's cycles alone (no latencies).
  The DRAM chip (``with_memory``): a 64-bit LPDDR4-3200 interface (25.6 GB/s) as 2 channels of 32 bits with
  8 banks each — 16 banks that each serve one 64 B line (a 16-beat burst) at a time; read latency RL 28
  clocks at 1.6 GHz (17.5 ns) + tRCD 18 ns ≈ 36 cycles, write latency WL 14 clocks (8.75 ns) + tRCD 18 ns ≈
  27 cycles at 1 GHz (JEDEC JESD209-4 timings for LPDDR4-3200; a row opened for each line, the worst case a
  trace meets); its bandwidth still bounds it through the schedule's own time.
A DRAM chip is the same search with main memory off chip (``DataflowChip.with_memory``).

A shape nn_dataflow cannot schedule (no valid blocking, an error) gets the stated roofline
(``roofline_cost``): max(MACs / 4,096 PEs, memory words / bandwidth) cycles and the same per-access
energies with every weight and input read once and every output written once. Schedules are cached by chip
and shape in memory and in ``<cache dir>/nn_dataflow/schedules-v1.json``, so a sweep never searches one
shape twice.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import IllusionError
from .profile import LayerShape

__all__ = ["LayerShape", "DataflowChip", "LayerCost", "PAPER_CHIP", "layer_cost", "roofline_cost",
           "schedule_cache_path", "prefetch", "prefetch_pairs"]

WORD_BITS = 16


@dataclass(frozen=True)
class DataflowChip:
    """The chip nn_dataflow schedules for (the search's parameters) and the energies its counts are priced at."""

    nodes: tuple[int, int] = (4, 4)
    array: tuple[int, int] = (16, 16)
    regf_bytes: int = 256                       # per PE
    gbuf_bytes: int = 2 * 2**20
    word_bits: int = WORD_BITS
    op_cost: float = 1.0
    hier_cost: tuple[float, float, float, float] = (200.0, 6.0, 2.0, 1.0)   # memory, gbuf, array bus, regf
    hop_cost: float = 0.0
    unit_static_cost: float = 1.0
    memory_bytes_per_cycle: float = 512.0       # 16 RRAM channels × 32 GB/s at 1 GHz
    memory: str = "rram"
    # the memory system's timing (``memory_cycles``); read_latency None: the schedule's cycles alone
    memory_channels: int = 16                   # units that each serve one line at a time (RRAM: a channel)
    line_bytes: int = 32                        # 256-bit lines
    read_latency: float | None = 8.0            # cycles a line read occupies its channel
    write_latency: float | None = 16.0
    gbuf_latency: float | None = 4.0            # cycles per global-buffer line (one bank per node)
    gbuf_line_bytes: int = 32                   # not configured: the memory's 256-bit line
    # energies (J)
    mac_j: float = 1.90e-12
    regf_j_per_bit: float = 0.23e-12
    gbuf_j_per_bit: float = 0.32e-12
    bus_j_per_bit: float = 0.0
    memory_read_j_per_bit: float = 0.8e-12
    memory_write_j_per_bit: float = 1.5e-12

    @property
    def pes(self) -> int:
        return self.nodes[0] * self.nodes[1] * self.array[0] * self.array[1]

    @property
    def search_key(self) -> str:
        """What the schedule depends on (energies are applied afterwards)."""
        return (f"n{self.nodes[0]}x{self.nodes[1]}-a{self.array[0]}x{self.array[1]}-r{self.regf_bytes}-"
                f"g{self.gbuf_bytes}-w{self.word_bits}-op{self.op_cost:g}-h{'/'.join(f'{c:g}' for c in self.hier_cost)}"
                f"-hop{self.hop_cost:g}-s{self.unit_static_cost:g}-bw{self.memory_bytes_per_cycle:g}")

    def with_memory(self, name: str, *, bytes_per_cycle: float, read_j_per_bit: float,
                    write_j_per_bit: float, channels: int = 16, line_bytes: int = 64,
                    read_latency: float | None = 36.0, write_latency: float | None = 27.0) -> DataflowChip:
        """The same chip with another main memory (default timing: off-chip LPDDR4-3200, see the module)."""
        timed = self.read_latency is not None
        return replace(self, memory=name, memory_bytes_per_cycle=bytes_per_cycle,
                       memory_read_j_per_bit=read_j_per_bit, memory_write_j_per_bit=write_j_per_bit,
                       memory_channels=channels, line_bytes=line_bytes,
                       read_latency=read_latency if timed else None, write_latency=write_latency if timed else None)

    def schedule_only(self) -> DataflowChip:
        """The same chip timed by its schedules alone (no memory latencies)."""
        return replace(self, read_latency=None, write_latency=None, gbuf_latency=None)

    def memory_cycles(self, reads: float, writes: float, gbuf: float = 0.0) -> float:
        """Cycles the memory system needs for ``reads`` and ``writes`` main-memory words and ``gbuf`` global-buffer
        words (the module's formula); 0 for a chip timed by its schedules alone."""
        if self.read_latency is None or self.write_latency is None:
            return 0.0
        per_line = self.line_bytes * 8 / self.word_bits
        memory = (math.ceil(reads / per_line) * self.read_latency +
                  math.ceil(writes / per_line) * self.write_latency) / self.memory_channels
        nodes = self.nodes[0] * self.nodes[1]
        buffer = math.ceil(gbuf / (self.gbuf_line_bytes * 8 / self.word_bits)) * (self.gbuf_latency or 0.0) / nodes
        return max(memory, buffer)


PAPER_CHIP = DataflowChip()


@dataclass
class LayerCost:
    """One layer (slice) on one chip, once: cycles, energy by part, and where the numbers came from."""

    shape: str
    source: str                                 # "nn_dataflow" | "roofline"
    cycles: float
    energy: dict[str, float] = field(default_factory=dict)      # J: compute, regf, gbuf, bus, memory
    accesses: dict[str, float] = field(default_factory=dict)    # words: memory reads/writes, gbuf, regf
    note: str = ""

    @property
    def energy_j(self) -> float:
        return sum(self.energy.values())


def roofline_cost(shape: LayerShape, chip: DataflowChip, note: str = "") -> LayerCost:
    """Every PE busy or the memory stream, whichever is slower; each weight and input read once, each output
    written once; register file and compute energies per MAC as in a schedule."""
    word = chip.word_bits
    reads, writes = shape.weights + shape.inputs, shape.outputs
    cycles = max(shape.macs / chip.pes, (reads + writes) * word / 8 / chip.memory_bytes_per_cycle,
                 chip.memory_cycles(reads, writes, reads + writes))
    energy = {"compute": shape.macs * chip.mac_j, "regf": 2 * shape.macs * word * chip.regf_j_per_bit,
              "gbuf": (reads + writes) * word * chip.gbuf_j_per_bit, "bus": 0.0,
              "memory": word * (reads * chip.memory_read_j_per_bit + writes * chip.memory_write_j_per_bit)}
    return LayerCost(str(shape), "roofline", cycles, energy,
                     {"memory_reads": reads, "memory_writes": writes}, note)


def _from_counts(shape: LayerShape, chip: DataflowChip, counts: dict) -> LayerCost:
    word = chip.word_bits
    mem, gbuf, bus, regf = counts["access"]             # per level: [filter, input, output] words
    f = counts["ofm_fetch"]
    out_writes = mem[2] * f / (2 * f - 1) if f > 0 else mem[2]
    reads = mem[0] + mem[1] + (mem[2] - out_writes)
    energy = {"compute": counts["ops"] * chip.mac_j,
              "regf": (regf[0] + regf[1]) * word * chip.regf_j_per_bit,
              "gbuf": sum(gbuf) * word * chip.gbuf_j_per_bit,
              "bus": sum(bus) * word * chip.bus_j_per_bit,
              "memory": word * (reads * chip.memory_read_j_per_bit + out_writes * chip.memory_write_j_per_bit)}
    cycles = max(counts["time"], chip.memory_cycles(reads, out_writes, sum(gbuf)))
    return LayerCost(str(shape), "nn_dataflow", cycles, energy,
                     {"memory_reads": reads, "memory_writes": out_writes, "gbuf": sum(gbuf), "regf": sum(regf)})


# -- the search ------------------------------------------------------------------------------------------------
def _search(shape: LayerShape, chip: DataflowChip) -> dict | None:
    """nn_dataflow's best schedule of ``shape`` on ``chip`` (counts only), or None when it finds none."""
    _search_available()
    from nn_dataflow.core import (
        ConvLayer,
        Cost,
        DataLayout,
        FmapPosition,
        FmapRange,
        MapStrategyEyeriss,
        NodeRegion,
        Option,
        PhyDim2,
        Resource,
        SchedulingCondition,
        SchedulingConstraint,
        partition,
    )
    from nn_dataflow.core.scheduling import Scheduling
    word_bytes = (chip.word_bits + 7) // 8
    nodes = PhyDim2(*chip.nodes)
    proc = NodeRegion(dim=nodes, origin=PhyDim2(0, 0), type=NodeRegion.PROC)
    # the invocation's default memory type '2D': memory reached from the four corner nodes
    data = NodeRegion(dim=PhyDim2(2, 2), origin=PhyDim2(0, 0), dist=nodes - PhyDim2(1, 1), type=NodeRegion.DRAM)
    resource = Resource(proc_region=proc, dram_region=data, src_data_region=data, dst_data_region=data,
                        dim_array=PhyDim2(*chip.array), size_gbuf=chip.gbuf_bytes // word_bytes,
                        size_regf=chip.regf_bytes // word_bytes, array_bus_width=float("inf"),
                        dram_bandwidth=chip.memory_bytes_per_cycle / word_bytes, no_time_mux=False)
    cost = Cost(mac_op=chip.op_cost, mem_hier=tuple(chip.hier_cost), noc_hop=chip.hop_cost,
                idl_unit=chip.unit_static_cost)
    options = Option(sw_gbuf_bypass=(False, False, False), opt_goal="e", ntops=1, nprocesses=1)
    layer = ConvLayer(shape.nifm, shape.nofm, (shape.hofm, shape.wofm), (shape.kh, shape.kw),
                      strd=(shape.sh, shape.sw))
    sched = Scheduling(layer, shape.batch, cost, MapStrategyEyeriss)
    source = layer.input_layer()
    frng = FmapRange(FmapPosition(b=0, n=0, h=0, w=0),
                     FmapPosition(b=shape.batch, n=source.nofm, h=source.hofm, w=source.wofm))
    best = None
    for part in partition.gen_partition(source, shape.batch, data.dim, options, guaranteed=True):
        layout = DataLayout(frngs=(frng,), regions=(data,), parts=(part.projection(data, appl2frng=True),))
        cond = SchedulingCondition(resource=resource, constraint=SchedulingConstraint(), ifmap_layout=layout,
                                   sched_seq=(0, 0, 0))
        for r in sched.schedule_search(cond, options):
            if best is None or (r.total_cost, r.total_time) < (best.total_cost, best.total_time):
                best = r
    if best is None:
        return None
    s = best.scheme
    return {"time": float(s["time"]), "ops": float(s["ops"]), "proc_time": float(s["proc_time"]),
            "dram_time": float(s["dram_time"]), "access": [[float(a) for a in level] for level in s["access"]],
            "ofm_fetch": float(s["fetch"][0][2]), "cost": float(s["cost"])}


_LOCK = threading.Lock()
_MEMORY: dict[str, dict | None] = {}
_LOADED: set[Path] = set()


def schedule_cache_path() -> Path:
    """``$ILLUSION_SCHEDULES`` (a file), else ``<cache dir>/nn_dataflow/schedules-v1.json``."""
    if os.environ.get("ILLUSION_SCHEDULES"):
        return Path(os.environ["ILLUSION_SCHEDULES"])
    from ..data.cache import cache_dir

    return cache_dir() / "nn_dataflow" / "schedules-v1.json"


_FOREIGN: set[Path] = set()     # files that exist but hold no schedule cache: never written over


def _load(path: Path) -> None:
    if path in _LOADED:
        return
    _LOADED.add(path)
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        stored = None
    if not isinstance(stored, dict) or not all(isinstance(k, str) and "|" in k for k in stored):
        _FOREIGN.add(path)
        print(f"nn_dataflow: {path} is not a schedule cache; it is left as it is and schedules are kept in memory "
              f"only (set ILLUSION_SCHEDULES to a new file)", file=sys.stderr, flush=True)
        return
    for k, v in stored.items():
        _MEMORY.setdefault(k, v)


def _save(path: Path) -> None:
    from ..files import write_atomic

    if path in _FOREIGN:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda p: p.write_text(json.dumps(_MEMORY)))
    except OSError:
        pass                            # a read-only cache only costs a search next time


def _searched(shape: LayerShape, chip: DataflowChip) -> dict:
    """One search, as stored in the cache: the counts, or why there are none (nn_dataflow's own refusal)."""
    try:
        counts = _search(shape, chip)
    except IllusionError:
        raise
    except Exception as e:                               # nn_dataflow's own refusal of a shape
        return {"error": f"{type(e).__name__}: {e}"}
    return counts if counts is not None else {"error": "no valid schedule"}


def _missing(pairs: Iterable[tuple[LayerShape, DataflowChip]], persist: bool) -> list[tuple[LayerShape, DataflowChip]]:
    with _LOCK:
        if persist:
            _load(schedule_cache_path())
        todo: dict[str, tuple[LayerShape, DataflowChip]] = {}
        for shape, chip in pairs:
            key = f"{chip.search_key}|{shape.key}"
            if key not in _MEMORY and key not in todo:
                todo[key] = (shape, chip)
        return list(todo.values())


def prefetch(shapes: Iterable[LayerShape], chip: DataflowChip = PAPER_CHIP, **options) -> int:
    """Search, once each, the ``shapes`` the cache lacks for ``chip`` (``prefetch_pairs``'s options)."""
    return prefetch_pairs(((shape, chip) for shape in shapes), **options)


def prefetch_pairs(pairs: Iterable[tuple[LayerShape, DataflowChip]], *, processes: int | None = None,
                   progress: bool = True, persist: bool = True) -> int:
    """Search, once each, the (shape, chip) pairs the cache lacks, in ``processes`` processes (default: one per
    core, at most one per search), each schedule stored as it arrives. Returns how many were searched. With
    ``progress``, one line on stderr says what is searched, and a bar counts them where stderr is a terminal."""
    todo = _missing(pairs, persist)
    if not todo:
        return 0
    from tqdm import tqdm

    # worker processes are forked (a spawned one would re-run the caller's script, which a script without a
    # main guard cannot survive); where fork is not the platform's safe default, one process searches
    workers = max(1, min(len(todo), processes or os.cpu_count() or 1)) if sys.platform == "linux" else 1
    if progress:
        kinds = sorted({chip.memory for _, chip in todo})
        print(f"nn_dataflow: searching schedules for {len(todo)} new layer shape{'s' * (len(todo) > 1)} "
              f"({', '.join(kinds)} chip; {workers} process{'es' * (workers > 1)}; each kept in "
              f"{schedule_cache_path()} as it is found)", file=sys.stderr, flush=True)
    bar = tqdm(total=len(todo), desc="schedules", unit="shape", file=sys.stderr,
               disable=not progress or not sys.stderr.isatty())

    def store(shape: LayerShape, chip: DataflowChip, counts: dict) -> None:
        with _LOCK:
            _MEMORY[f"{chip.search_key}|{shape.key}"] = counts
            if persist:
                _save(schedule_cache_path())
        bar.update(1)

    try:
        _search_available()
        if workers == 1:
            for shape, chip in todo:
                store(shape, chip, _searched(shape, chip))
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            # Ctrl-C is the parent's to handle (one line, the workers ended by ``interrupt``): workers ignore it,
            # and the pool is not waited for when the search is stopped
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                       initializer=_ignore_interrupts)
            try:
                futures = {pool.submit(_searched, shape, chip): (shape, chip) for shape, chip in todo}
                for done in as_completed(futures):
                    store(*futures[done], done.result())
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
    finally:
        bar.close()
    return len(todo)


def _ignore_interrupts() -> None:
    """A search worker leaves Ctrl-C to the process that started it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _search_available() -> None:
    """nn_dataflow importable here (a worker's ImportError would arrive as one per shape)."""
    try:
        import nn_dataflow  # noqa: F401
        import nn_dataflow.core.scheduling  # noqa: F401
    except ImportError as e:
        raise IllusionError(f"the nn_dataflow chip cost needs the nn-dataflow package ({e}); run `make setup` "
                            f"(it installs nn-dataflow 2.1 and fastcache), or pick the preset "
                            f"accelerator-28nm-roofline") from None


def layer_cost(shape: LayerShape, chip: DataflowChip = PAPER_CHIP, *, persist: bool = True) -> LayerCost:
    """``shape`` once on ``chip``: from nn_dataflow's best schedule (cached), else the roofline, with why."""
    if min(shape.nifm, shape.nofm, shape.hofm, shape.wofm, shape.kh, shape.kw) <= 0:
        raise IllusionError(f"a layer shape needs positive sizes, got {shape}")
    key = f"{chip.search_key}|{shape.key}"
    with _LOCK:
        known = key in _MEMORY
        if not known and persist:           # the cache file is read (once) only when memory lacks the shape
            path = schedule_cache_path()
            _load(path)
            known = key in _MEMORY
        counts = _MEMORY.get(key)
    if not known:
        found = _searched(shape, chip)
        with _LOCK:
            _MEMORY[key] = found
            if persist:
                _save(schedule_cache_path())
        counts = _MEMORY[key]
    if counts is None or "error" in counts:
        why = counts.get("error", "") if counts else ""
        return roofline_cost(shape, chip, note=f"nn_dataflow found no schedule ({why})" if why else
                             "nn_dataflow found no schedule")
    if not math.isclose(counts["ops"], shape.macs, rel_tol=1e-4):
        raise IllusionError(f"nn_dataflow scheduled {counts['ops']:g} MACs for {shape} ({shape.macs})")
    return _from_counts(shape, chip, counts)
