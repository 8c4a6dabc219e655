"""Run a partitioned model with its chips in separate processes: rank 0 the host, ranks 1 … N − 1 chip groups.

Usage::

    from illusion_torch.distributed import run_distributed
    result = run_distributed(system, x, procs=5)                    # spawns 4 chip ranks on this machine
    result.logits, result.wire_bytes, result.ranks[1].peak_rss
    run_distributed(system, x, procs=5, schedule="pipelined", depth=8)
    run_distributed(system, [ids_12, ids_30], procs=4)   # token sequences of two lengths (a captured HF model)

The calling process is rank 0: it partitions nothing itself, ships each rank a bundle (its wakes, memory
images and steps: ``rank.make_bundle``) over the process group, feeds the inputs and collects the outputs.
Chip ranks are fresh interpreters (``spawn``), so each holds only its share. Across hosts, ``torchrun``
starts every rank instead (``python -m illusion_torch.distributed``; README).

Schedules: ``one`` — one batch in flight (batch 1: the paper's one input at a time; the host feeds input
i + 1 after output i is back); ``pipelined`` — the host feeds up to ``depth`` batches before it collects the
oldest, so chips work on different inputs at once.

Faults: a rank that dies ends every exchange with it; the host stops the other ranks and raises one error
naming the dead rank (its signal or exit code, and its own message where it left one).
"""

from __future__ import annotations

import datetime
import operator
import os
import resource
import socket
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import torch
import torch.distributed as dist
from torch import fx

from ..cost.work import profile_at
from ..errors import IllusionError
from ..interrupt import temporary
from ..partitioning.inputs import check_batch
from ..partitioning.partition import Partition
from ..partitioning.slices import EmbeddingRows
from ..partitioning.trace import HOST
from .rank import Bundle, Walker, make_bundle, probe_shapes
from .rank_map import RankMap, plan_rank_map
from .wire import Link, PeerLost

__all__ = ["run_distributed", "DistributedResult", "RankStats", "serve", "host_run", "SCHEDULES", "distributed_meta"]

SCHEDULES = ("one", "pipelined")
TIMEOUT_S = 60.0


@dataclass
class RankStats:
    rank: int
    chips: list
    chip_bytes: int                 # sent to other chip ranks
    host_bytes: int                 # sent to the host (rank 0: sent to chips)
    peak_rss: int                   # bytes
    wall_s: float
    events: list = field(default_factory=list)     # (kind, peer, bytes, start, end), perf_counter seconds
    route_bytes: int = 0            # a gated model's route sent on (control, not in chip_bytes)
    start_rss: int = 0              # resident bytes once joined, before its chips are loaded (torch's own)
    header_bytes: int = 0           # shapes sent ahead of values whose shape depends on the input (control)


@dataclass
class DistributedResult:
    logits: torch.Tensor | list   # a list when the outputs differ in shape (token sequences of several lengths)
    routes: torch.Tensor | None
    procs: int
    schedule: str
    batch: int
    wire_bytes: int                 # counted at the sends between chip ranks
    host_bytes: int                 # host → chips and chips → host
    wall_s: float                   # first input fed to last output back
    ranks: list[RankStats]
    runs: dict = field(default_factory=dict)          # {route: inferences}
    expected_wire_bytes: int = 0    # the message plan's bytes between chips on different ranks, for ``runs``
    chip_ranks: dict = field(default_factory=dict)   # chip -> rank
    lengths: dict = field(default_factory=dict)      # token sequences: {length: inputs} (else {0: inputs})


def distributed_meta(r: DistributedResult) -> dict:
    """The keys a distributed run adds to ``illusion run --json``."""
    return {"procs": r.procs, "schedule": r.schedule, "inputs_per_message": r.batch, "wire_bytes": r.wire_bytes,
            "plan_wire_bytes": r.expected_wire_bytes, "host_bytes": r.host_bytes,
            "route_bytes": sum(s.route_bytes for s in r.ranks),
            "shape_header_bytes": sum(s.header_bytes for s in r.ranks), "distributed_wall_s": round(r.wall_s, 3),
            "ranks": [{"rank": s.rank, "chips": [c for c in s.chips if isinstance(c, int)], "peak_rss": s.peak_rss,
                       "chip_bytes": s.chip_bytes, "wall_s": round(s.wall_s, 3)} for s in r.ranks]}


def _status_bytes(key: str) -> int | None:
    """A byte count from /proc/self/status (``VmRSS``: now; ``VmHWM``: the peak of this address space only —
    ru_maxrss would count the parent's pages a spawned rank was forked with before its exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _rss_now() -> int:
    return _status_bytes("VmRSS") or 0


def _peak_rss() -> int:
    return _status_bytes("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _init(rank: int, world: int, init_method: str | None, timeout_s: float) -> None:
    try:
        dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as e:
        where = init_method or f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
        raise IllusionError(f"rank {rank}: could not join the process group at {where} within {timeout_s:g} s "
                            f"({str(e).strip().splitlines()[0][:160]}); check the master address and port "
                            f"(MASTER_ADDR/MASTER_PORT or --master-addr/--master-port) and that rank 0 is up") from None


def serve(rank: int, world: int, init_method: str | None = None, timeout_s: float = TIMEOUT_S,
          errdir: str | None = None) -> None:
    """A chip rank: join, take the bundle from the host, walk every batch it is told, report, leave."""
    torch.set_num_threads(1)              # ranks share the machine's cores
    try:
        if os.environ.get("ILLUSION_FAULT") == f"hang-before-join:{rank}":   # the tests' host then waits in gloo
            time.sleep(3600)
        _init(rank, world, init_method, timeout_s)
        start_rss = _rss_now()
        box: list = [None]
        dist.recv_object_list(box, src=0)
        bundle: Bundle = box[0]
        started = time.perf_counter()
        try:
            if os.environ.get("ILLUSION_FAULT") == f"load:{rank}":     # fault injection for the tests
                raise IllusionError("injected: the memory images do not load")
            walker = Walker(bundle, Link(rank, bundle.dtype))
        except Exception as e:
            raise IllusionError(f"rank {rank} cannot load its chips {bundle.rank_map.chips_of(rank)}: {e}") from None
        sys.stderr.flush()                # one write of one line: ranks' lines never interleave
        os.write(2, f"rank {rank} (pid {os.getpid()}): chips {_span(bundle.rank_map.chips_of(rank))} loaded\n".encode())
        header: list = [None]
        dist.recv_object_list(header, src=0)
        sizes, depth, keep_events = header[0]
        for i, n in enumerate(sizes):
            walker.batch(None, n, i)
            walker.link.settle(before=i - depth)
        walker.link.settle()
        stats = RankStats(rank, bundle.rank_map.chips_of(rank), walker.link.chip_bytes, walker.link.host_bytes,
                          _peak_rss(), time.perf_counter() - started, walker.link.events if keep_events else [],
                          walker.link.route_bytes, start_rss, walker.link.header_bytes)
        dist.send_object_list([stats], dst=0)
        dist.destroy_process_group()
    except IllusionError as e:
        _fail(rank, str(e), errdir)
    except Exception as e:                # a bug: the whole traceback, and still one line for the host
        import traceback

        traceback.print_exc()
        _fail(rank, f"rank {rank} failed: {type(e).__name__}: {str(e).strip().splitlines()[0][:200]}", errdir)


def _fail(rank: int, message: str, errdir: str | None) -> None:
    if errdir:
        Path(errdir, f"rank{rank}.err").write_text(message)
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def _span(chips: list) -> str:
    ints = [c for c in chips if isinstance(c, int)]
    return f"{ints[0]}–{ints[-1]}" if len(ints) > 1 else (str(ints[0]) if ints else "none")


def _spawned(index: int, world: int, init_method: str, timeout_s: float, errdir: str) -> None:
    serve(index + 1, world, init_method, timeout_s, errdir)


def host_run(system: Partition, x: torch.Tensor, rank_map: RankMap, *, schedule: str = "one", batch: int = 1,
             depth: int = 4, timeline: bool = False) -> DistributedResult:
    """Rank 0 of an initialized process group: ship the bundles, run ``x``, gather the ranks' statistics."""
    from ..runtime import Runtime

    if schedule not in SCHEDULES:
        raise IllusionError(f"unknown schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    if batch < 1 or depth < 1:
        raise IllusionError(f"batch and depth must be at least 1, got {batch} and {depth}")
    world = dist.get_world_size()
    rt = Runtime(system)
    images, dtype, profile = rt.images, rt.dtype, rt.profile
    branch_of_wake = _branches(rt, system)
    out = system.chips.top.graph.output_node().args[0]
    route_value = getattr(out[1], "name", None) if system.chips.gated and isinstance(out, (tuple, list)) else None
    late = late_inputs(system.chips, rank_map, route_value)
    branch_of_value = _value_branches(rt.profile, rank_map, route_value, late) if system.chips.gated else {}
    batches, lengths, free = _batches(system, x, batch)
    probe = probe_shapes(system.chips, batches[0], free)

    def bundle(r: int) -> Bundle:
        return make_bundle(system, rank_map, r, images, dtype, probe, branch_of_wake, branch_of_value,
                           late_inputs=late)

    for r in range(1, world):
        dist.send_object_list([bundle(r)], dst=r)
    walker = Walker(bundle(0), Link(0, dtype))
    base = batches[0].shape[1] if free else 1
    sizes = [(len(xi), Fraction(xi.shape[1], base)) if free else len(xi) for xi in batches]
    ahead = depth if schedule == "pipelined" else 0
    for r in range(1, world):
        dist.send_object_list([(sizes, max(ahead, 1), timeline)], dst=r)
    batches = [xi.to(dtype) if xi.is_floating_point() else xi for xi in batches]
    out_step = walker.b.steps[-1].name
    outs: list = []
    started = time.perf_counter()
    split = walker.host_split()
    queue: list = []
    for i, (n, xi) in enumerate(zip(sizes, batches, strict=True)):
        if schedule == "one":
            env, _ = walker.batch(xi, n, i)
            outs.append(env[out_step])
        else:
            env, _ = walker.batch(xi, n, i, stop_at=split)
            queue.append((i, n, env))
            if len(queue) > depth:
                j, m, e = queue.pop(0)
                outs.append(walker.batch(None, m, j, env=e, start=split)[0][out_step])
        walker.link.settle(before=i - max(ahead, 1))
    for j, m, e in queue:
        outs.append(walker.batch(None, m, j, env=e, start=split)[0][out_step])
    walker.link.settle()
    wall = time.perf_counter() - started
    stats = [RankStats(0, rank_map.chips_of(0), walker.link.chip_bytes, walker.link.host_bytes, _peak_rss(), wall,
                       walker.link.events if timeline else [], walker.link.route_bytes,
                       header_bytes=walker.link.header_bytes)]
    for r in range(1, world):
        box: list = [None]
        dist.recv_object_list(box, src=r)
        stats.append(box[0])
    firsts = [o[0].double() for o in outs]
    logits = torch.cat(firsts) if len({t.shape[1:] for t in firsts}) == 1 else firsts
    route = torch.cat([o[1] for o in outs]) if system.chips.gated else None
    total = sum(len(xi) for xi in batches)
    runs = {None: total} if route is None else {int(r): int((route == r).sum()) for r in route.unique()}
    if route is None:                   # the plan for these inputs: at each length, each message, each lookup
        shared = _shared(rank_map, probe)
        holder = next(n for n in system.graph.gm.graph.nodes if n.op == "placeholder")
        example_length = holder.meta["tensor_meta"].shape[1] if free else None
        plan = 0
        for length in sorted(lengths):
            group = [xi for xi in batches if (xi.shape[1] if free else 0) == length]
            at = profile_at(system, (length,)) if free and length != example_length else profile
            plan += expected_wire_bytes(at, rank_map, {None: lengths[length]}, shared, len(group),
                                        _looked_up_bytes(system, rank_map, group))
    else:
        plan = expected_wire_bytes(profile, rank_map, runs)
    return DistributedResult(logits, route, world, schedule, batch, sum(s.chip_bytes for s in stats[1:]),
                             sum(s.host_bytes for s in stats), wall, stats, runs=runs, expected_wire_bytes=plan,
                             chip_ranks=dict(rank_map.rank_of_chip), lengths=dict(sorted(lengths.items())))


def _batches(system: Partition, x: torch.Tensor | list[torch.Tensor],
             batch: int) -> tuple[list[torch.Tensor], dict[int, int], tuple[int, ...]]:
    """``x`` (a tensor, or a list of tensors: token sequences of different lengths) cut into messages of
    ``batch`` inputs; {length: inputs} and the inputs' free dimensions (the length's, for a model captured
    for token sequences of any length: ``partitioning.exported.free_dims``)."""
    free = tuple(system.graph.gm.meta.get("free_dims", ()))
    parts = list(x) if isinstance(x, (list, tuple)) else [x]
    if not parts or any(not isinstance(p, torch.Tensor) for p in parts):
        raise IllusionError("the inputs must be a tensor (a batch) or a list of tensors (batches of token "
                            "sequences, each of one length)")
    for p in parts:
        check_batch(system.graph.gm, p)
    batches = [p[i:i + batch] for p in parts for i in range(0, len(p), batch)]
    batches = [b for b in batches if len(b)]
    if not batches:
        raise IllusionError("no inputs to run")
    if len({b.shape[1:] for b in batches}) > 1 and not free:
        raise IllusionError("the inputs have different shapes, but the model was captured for one shape")
    lengths: dict[int, int] = {}
    for b in batches:
        key = b.shape[1] if free else 0
        lengths[key] = lengths.get(key, 0) + len(b)
    return batches, lengths, free


def late_inputs(programs, rank_map: RankMap, route_value: str | None) -> frozenset[str]:
    """The inputs of the wake that makes a gated model's route that the route does not depend on (its
    wake also starts a branch): that wake runs first without them, sends the route on, and takes them only
    when the route takes their branch (the plan sends them only then)."""
    v = rank_map.values.get(route_value) if route_value else None
    if v is None or v.wake is None:
        return frozenset()
    top = programs.top
    node = next(n for n in top.graph.nodes if n.name == route_value)
    if node.op != "call_function" or node.target is not operator.getitem:
        return frozenset()                                     # the wake returns the route alone
    call = node.args[0]
    gm = programs.wakes[v.wake][1]
    result = gm.graph.output_node().args[0]
    made = result[int(node.args[1])]
    seen, stack = set(), [made]
    while stack:                                               # the route's ancestors in its wake
        n = stack.pop()
        if isinstance(n, fx.Node) and n not in seen:
            seen.add(n)
            stack.extend(n.all_input_nodes)
    holders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    return frozenset(a.name for a, h in zip(call.args, holders, strict=True)
                     if isinstance(a, fx.Node) and a.op != "get_attr" and h not in seen)


def _value_branches(profile, rank_map: RankMap, route_value: str | None,
                    late: frozenset[str] = frozenset()) -> dict[tuple[str, int], frozenset]:
    """(value, destination rank) -> the routes for which the plan sends it (a branch's output that a wake
    outside the branch selects from, or a late input of the route's wake: ``late_inputs``); values sent for
    every route are left out."""
    every = {r for r in profile.routes if r is not None}
    by_transfer: dict[tuple[str, int, int], set] = {}
    for t in profile.transfers:
        if t.src_wake is not None and t.dst_wake is not None:
            by_transfer.setdefault((t.tensor, t.src_wake, t.dst_wake), set()).add(t.branch)
    route = rank_map.values.get(route_value) if route_value else None
    known_after = route.wake if route is not None and route.wake is not None else -1
    out = {}
    for v in rank_map.values.values():
        tensor = rank_map.expanded_name.get(v.name)
        if v.wake is None or tensor is None:
            continue
        for d, wakes in v.dest_wakes.items():
            if not all(w is not None for w in wakes):
                continue
            branches = set().union(*(by_transfer.get((tensor, v.wake, w), {None}) for w in wakes if w is not None))
            after = all(w is not None and (w > known_after or w == known_after and v.name in late) for w in wakes)
            if None not in branches and not every <= branches and after:
                out[(v.name, d)] = frozenset(branches)  # (a wake up to the gate's needs it before the route)
    return out


def _branches(rt, system: Partition) -> dict[int, frozenset]:
    """Wakes (ChipPrograms order) that run for some routes only (a gated model's branches)."""
    if not system.chips.gated:
        return {}
    out = {}
    chips = [c for c, _ in system.chips.wakes]
    by_index = {w.index: w for w in rt.profile.wakes}
    every = {r for r in rt.profile.routes if r is not None}
    for k, c in enumerate(chips):
        w = by_index.get(k)
        if w is None or w.chip != c or None in w.work or every <= set(w.work):
            continue                                    # runs for every route (the gate's own chip, say)
        out[k] = frozenset(w.work)
    return out


def expected_wire_bytes(profile, rank_map: RankMap, runs: dict, shared: frozenset[str] | dict = frozenset(),
                        messages: int = 0, looked_up: dict[str, int] | None = None) -> int:
    """The message plan's bytes between chips on different ranks for ``runs`` ({route: inferences}): a value
    goes once to each rank that needs it (one chip per rank: the plan's inter-chip bytes), and a gated
    model's transfers count only for the inferences whose route takes their branch. A value the same for
    every input of a message (``shared``: a slice of stored position ids) goes once per message; the rows a
    split embedding's chip looked up are the bytes ``looked_up`` counted for the inputs (the plan itself
    counts an even share of the ids)."""
    looked_up = looked_up or {}
    total, seen = 0, set()
    for t in profile.transfers:
        if t.src == HOST or t.dst == HOST:
            continue
        src, dst = rank_map.rank_of_chip[t.src], rank_map.rank_of_chip[t.dst]
        if src == dst or (t.tensor, t.src, dst, t.branch) in seen:
            continue
        seen.add((t.tensor, t.src, dst, t.branch))
        if t.tensor in looked_up:
            total += looked_up[t.tensor]
            continue
        count = messages if t.tensor in shared else sum(n for r, n in runs.items() if t.branch is None or t.branch == r)
        total += t.bytes * count
    return total


def _looked_up_bytes(system: Partition, rank_map: RankMap, batches: list[torch.Tensor]) -> dict[str, int]:
    """{a split embedding's lookup (expanded-graph name): the bytes of the rows it looks up for ``batches``}:
    its ids are computed from the inputs (their ancestors in the chip programs only) and counted in its rows."""
    gm = system.chips.expanded
    lookups = [n for n in gm.graph.nodes if n.op == "call_module" and
               isinstance(gm.get_submodule(str(n.target)), EmbeddingRows) and isinstance(n.args[0], fx.Node)]
    wires = {rank_map.expanded_name.get(v.name): v.wire for v in rank_map.values.values()}
    lookups = [n for n in lookups if n.name in wires]
    if not lookups:
        return {}
    needed: set[fx.Node] = set()
    stack = [n.args[0] for n in lookups]
    while stack:
        a = stack.pop()
        if a not in needed:
            needed.add(a)
            stack.extend(a.all_input_nodes)
    g, env = fx.Graph(), {}
    for n in gm.graph.nodes:
        if n in needed:
            env[n] = g.node_copy(n, lambda a: env[a])
    g.output(tuple(env[n.args[0]] for n in lookups))
    ids_of = fx.GraphModule(gm, g)
    out = dict.fromkeys((n.name for n in lookups), 0)
    with torch.no_grad():
        for xi in batches:
            for n, ids in zip(lookups, ids_of(xi), strict=True):
                m = gm.get_submodule(str(n.target))
                rows = int(((ids >= m.start) & (ids < m.start + m.weight.shape[0])).sum())
                out[n.name] += rows * m.weight.shape[1] * wires[n.name].bits // 8
    return out


def _shared(rank_map: RankMap, probe: dict) -> frozenset[str]:
    """The expanded-graph names of values whose shape does not grow with the inputs (one per message)."""
    out = set()
    for name, shape in probe.items():
        base = name.split("[")[0]
        if base in rank_map.values and "[" not in name and not isinstance(shape[0], str) and shape[1] == () \
                and base in rank_map.expanded_name:
            out.add(rank_map.expanded_name[base])
    return frozenset(out)


def rank_map_for(system: Partition, procs: int) -> RankMap:
    """Ranks and wire formats of every value; the wire formats read the chip programs' shapes (a flag travels
    as one 16-bit word), so those are propagated first — before any runtime is built."""
    from ..cost.work import expanded_shapes

    g = system.graph
    expanded_shapes(g, system.chips)
    return plan_rank_map(system.chips, procs, n_chips=system.mapping.n_chips, word_bits=g.word_bits,
                       weight_format=g.config.weight_format, per_tensor=g.config.per_tensor_formats)


def launched_by_torchrun() -> bool:
    """This process is one of several that torchrun (torch.distributed's elastic launcher) started."""
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ
                                                   and "MASTER_ADDR" in os.environ)


def run_distributed(system: Partition, x: torch.Tensor, procs: int, *, schedule: str = "one", batch: int = 1,
                    depth: int = 4, timeline: bool = False, timeout_s: float | None = None,
                    join: bool | None = None) -> DistributedResult:
    """Run ``x`` on ``procs`` local processes (see the module); raises IllusionError naming a rank that failed.
    ``timeout_s``: the longest wait for any exchange (default ``TIMEOUT_S``). ``join``: this process is rank 0
    of ranks torchrun started (default: when torchrun's variables are set), else it spawns the chip ranks."""
    import torch.multiprocessing as mp

    timeout_s = TIMEOUT_S if timeout_s is None else timeout_s
    rank_map = rank_map_for(system, procs)             # checks procs against the chips first
    if launched_by_torchrun() if join is None else join:   # every rank was started by torchrun: join, not spawn
        if int(os.environ["WORLD_SIZE"]) != procs:
            raise IllusionError(f"torchrun started {os.environ['WORLD_SIZE']} processes but {procs} were asked for")
        _init(0, procs, None, timeout_s)
        try:
            result = host_run(system, x, rank_map, schedule=schedule, batch=batch, depth=depth, timeline=timeline)
        finally:
            dist.destroy_process_group()
        return result
    port = _free_port()
    init = f"tcp://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="illusion-ranks-") as errdir, temporary(errdir):
        ctx = _start_ignoring_ctrl_c(lambda: mp.start_processes(_spawned, args=(procs, init, timeout_s, errdir),
                                                                nprocs=procs - 1, join=False, start_method="spawn"))
        failed, first = threading.Event(), []  # type: ignore[var-annotated]
        watch = threading.Thread(target=_watch, args=(ctx, failed, first), daemon=True)
        watch.start()
        try:
            _init(0, procs, init, timeout_s)
            result = host_run(system, x, rank_map, schedule=schedule, batch=batch, depth=depth, timeline=timeline)
            dist.destroy_process_group()
        except (PeerLost, RuntimeError, IllusionError) as e:
            failed.set()
            dead = _dead_ranks(ctx, errdir, first)
            _stop(ctx)
            if dist.is_initialized():
                dist.destroy_process_group()
            raise IllusionError(dead or f"rank 0: {e}") from None
        except KeyboardInterrupt:             # the host ends its ranks (they ignore Ctrl-C: see below)
            failed.set()
            _stop(ctx)
            raise
        failed.set()
        ctx.join()
    return result


def _start_ignoring_ctrl_c(start):
    """Start the chip ranks with Ctrl-C ignored (a disposition a new process keeps, and Python then leaves
    alone): a Ctrl-C to the terminal reaches every process, and only the host should act on it — it ends its
    ranks, so none prints a KeyboardInterrupt of its own."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        return start()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, previous)


def _watch(ctx, failed: threading.Event, first: list) -> None:
    """Stop every rank as soon as one dies (noting which, in ``first``): the host's waits then end at once."""
    while not failed.is_set():
        for i, p in enumerate(ctx.processes):
            if p.exitcode not in (None, 0):
                first.append((i, p.exitcode, p.pid))
                _stop(ctx)
                return
        time.sleep(0.2)


def _stop(ctx) -> None:
    for p in ctx.processes:
        if p.is_alive():
            p.kill()
    for p in ctx.processes:
        p.join(timeout=5)


def _dead_ranks(ctx, errdir: str, first: list) -> str:
    """One line naming the first rank that failed, and how."""
    import signal

    for p in ctx.processes:
        p.join(timeout=2)
    order = first + [(i, p.exitcode, p.pid) for i, p in enumerate(ctx.processes) if p.exitcode not in (None, 0)]
    for i, code, pid in order:
        msg = Path(errdir, f"rank{i + 1}.err")
        if msg.exists():
            return msg.read_text().strip()
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        return f"rank {i + 1} (pid {pid}) {how}; the run was stopped (no output written)"
    return ""
