"""Chips as processes on torch.distributed (gloo, this machine): bit-identity and bytes for every shipped
checkpoint, the MNIST test split one input at a time vs the in-process runtime, each rank's peak memory for
ResNet-50 over 8 chip ranks, pipelined throughput vs the cost model, and scale (64 chips / 8 ranks, ≥ 1,000
chips / 16 ranks).

    python benchmarks/distributed.py [--parts identity,mnist,rss,pipelined,scale] [--limit 8]

Parts (each writes its rows into benchmarks/results/distributed.json as it finishes; the figure
distributed.png is drawn from the timeline part of ``mnist``):
- identity: each shipped checkpoint (``checkpoint.available()``) at 4, 8 and 16 chips (capacity 1.25 × an even
  share; the mapper may use fewer), one chip per rank plus the host, its first ``--limit`` test inputs: logits
  equal to the in-process runtime's (bit for bit), bytes counted at the sends vs the plan's.
- lengths: MiniLM on 32 State of the Union sentences at their own token counts (7 to 32: the length changes
  between messages) at 8 and 16 chips: bit-identity and bytes vs the plan at each length.
- mnist: the whole MNIST test split (10,000) one input at a time on 8 chips (9 processes) vs the in-process
  runtime one input at a time and batched; the ratio the issue targets (≤ 3×) is distributed / in-process at the
  same schedule (one input at a time); per-rank time split from the ranks' own clocks.
- rss: torchvision ResNet-50 (untrained: no ImageNet weights offline; SYNTHETIC random inputs) on 8 chips:
  the single-process run's peak RSS (a fresh process: partition + build + run) vs each chip rank's.
- pipelined: MNIST on 8 chips, 2,000 inputs: one at a time vs pipelined (depth 8), measured inputs/s, against
  the cost model's speed-up of pipelining on the same mapping (``paper-testchip``).
- floor: the transport alone — the MNIST run's messages (sizes, peers, order: from a timeline run of one input)
  replayed by bare gloo ``isend``/``recv`` between 9 processes with no computing, 2,000 inputs one at a time;
  the least any one-chip-per-rank run of this mapping can take on this machine.
- scale: SVHN on ≥ 64 chips (an even 64th of its weights per chip) over 8 ranks; ResNet-18 (Fashion-MNIST,
  fixed point) on ≥ 1,000 chips (an even 1,000th) over 16 ranks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

import illusion_torch as il
from illusion_torch import checkpoint
from illusion_torch.cli.arguments import positive_int
from illusion_torch.cli.jobs import capacity_for, job
from illusion_torch.cost.evaluate import evaluate
from illusion_torch.cost.hardware import preset
from illusion_torch.distributed import run_distributed
from illusion_torch.errors import IllusionError
from illusion_torch.files import dumps_json
from illusion_torch.runtime import Runtime

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "distributed.json"


def _save(part: str, rows) -> None:
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    saved[part] = rows
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(dumps_json(saved))
    tmp.replace(OUT)


def _mib(b: int) -> float:
    return round(b / 2**20, 1)


def _sent(r, started: float) -> dict:
    """A distributed run's bytes (counted at the sends, the plan's, shape headers, host I/O) and times."""
    return {"wire_bytes": r.wire_bytes, "plan_bytes": r.expected_wire_bytes,
            "shape_header_bytes": sum(st.header_bytes for st in r.ranks), "host_bytes": r.host_bytes,
            "distributed_s": round(r.wall_s, 2), "wall_s": round(time.perf_counter() - started, 1)}


def identity(limit: int, models: list[str] | None = None) -> list[dict]:
    saved = json.loads(OUT.read_text()).get("identity", []) if OUT.is_file() and models else []
    rows = [r for r in saved if r["model"] not in models] if models else []
    for name in models or checkpoint.available():
        w = job(name, limit=limit)
        for target in (4, 8, 16):
            t = time.perf_counter()
            system = il.partition(w.model, w.x[:1], chips=target, capacity=capacity_for(w, target, None),
                                  solver="first-fit")
            ref = Runtime(system).run(w.x)
            n = system.mapping.n_chips
            try:
                r = run_distributed(system, w.x, procs=n + 1, timeout_s=600)
            except IllusionError as e:                  # recorded, not hidden: the row says why
                rows.append({"model": name, "target": target, "chips": n, "error": str(e)})
                print(rows[-1], flush=True)
                _save("identity", rows)
                continue
            row = {"model": name, "target": target, "chips": n, "procs": n + 1, "inputs": len(w.x),
                   "bit_identical": bool(torch.equal(r.logits, ref.logits)), **_sent(r, t),
                   "plan_inter_chip_bytes_per_inference": system.inter_chip_bytes}
            print(row, flush=True)
            rows.append(row)
            _save("identity", rows)
    return rows


def lengths(limit: int = 32) -> list[dict]:
    """MiniLM (transformers' BertModel, 16-bit post-training quantized) on the first ``limit`` test sentences at
    their own token counts — no padding, so the length changes from message to message — at 8 and 16 chips
    (first-fit, one chip per rank plus the host): logits vs the unpartitioned fixed-point model's, bytes vs the
    plan's at each length (the rows each split-embedding chip looks up counted for these sentences)."""
    from illusion_torch.data.sentences import sentences, tokenize

    w = job("minilm", limit=limit)
    ids = [torch.from_numpy(a)[None] for a in tokenize(sentences("test")[:limit], pad=False)]
    rows = []
    for target in (8, 16):
        t = time.perf_counter()
        system = il.partition(w.model, w.x[:1], chips=target, capacity=capacity_for(w, target, None),
                              solver="first-fit")
        refs = torch.cat([system.reference(x) for x in ids])
        n = system.mapping.n_chips
        r = run_distributed(system, ids, procs=n + 1, timeout_s=600)
        row = {"model": "minilm", "target": target, "chips": n, "procs": n + 1, "sentences": len(ids),
               "lengths": sorted({x.shape[1] for x in ids}), "free_dims": list(system.graph.gm.meta["free_dims"]),
               "bit_identical": bool(torch.equal(r.logits, refs)), **_sent(r, t)}
        print(row, flush=True)
        rows.append(row)
        _save("lengths", rows)
    return rows


def mnist(timeline_inputs: int = 3) -> dict:
    w = job("mnist")
    system = il.partition(w.model, w.x[:1], chips=8, capacity=capacity_for(w, 8, None))
    rt = Runtime(system)
    t = time.perf_counter()
    one = rt.run(w.x, batch_size=1)
    in_one = time.perf_counter() - t
    t = time.perf_counter()
    rt.run(w.x)
    in_batched = time.perf_counter() - t
    by_procs = {}
    for procs in (2, 3, 5):                              # fewer chip ranks: fewer hops, fewer processes per core
        by_procs[procs] = round(run_distributed(system, w.x, procs=procs).wall_s, 2)
    t = time.perf_counter()
    r = run_distributed(system, w.x, procs=system.mapping.n_chips + 1)
    total = time.perf_counter() - t
    row = {"inputs": len(w.x), "chips": system.mapping.n_chips, "procs": r.procs,
           "bit_identical": bool(torch.equal(r.logits, one.logits)),
           "in_process_one_at_a_time_s": round(in_one, 2), "in_process_batched_s": round(in_batched, 2),
           "distributed_one_at_a_time_s": round(r.wall_s, 2), "distributed_with_start_s": round(total, 2),
           "ratio_vs_in_process_one_at_a_time": round(r.wall_s / in_one, 2),
           "ratio_vs_in_process_batched": round(r.wall_s / in_batched, 2),
           "wire_bytes": r.wire_bytes, "plan_bytes": r.expected_wire_bytes,
           "rank_wall_s": [round(s.wall_s, 2) for s in r.ranks],
           "distributed_one_at_a_time_s_by_procs": {**by_procs, r.procs: round(r.wall_s, 2)},
           "ratio_by_procs": {k: round(v / in_one, 2) for k, v in {**by_procs, r.procs: r.wall_s}.items()}}
    print(row, flush=True)
    tl = run_distributed(system, w.x[:timeline_inputs], procs=system.mapping.n_chips + 1, timeline=True)
    row["timeline"] = {s.rank: s.events for s in tl.ranks}
    _save("mnist", row)
    _plot_timeline(tl, rt, system)
    return row


_SINGLE = """
import json, sys, torch, illusion_torch as il
from illusion_torch.cli.jobs import capacity_for, job
from illusion_torch.runtime import Runtime
start = [int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS")][0]
w = job("torchvision:resnet50", limit=2)
system = il.partition(w.model, w.x[:1], chips=8, capacity=capacity_for(w, 8, None), solver="first-fit")
Runtime(system).run(w.x)
print(json.dumps({"chips": system.mapping.n_chips, "start_rss": start,
                  "peak_rss": [int(l.split()[1]) * 1024 for l in open("/proc/self/status")
                               if l.startswith("VmHWM")][0]}))
"""


def rss() -> dict:
    """Peak RSS of each chip rank vs the single-process run, whole and above what the process held once torch
    and illusion_torch were imported (every such process maps ~0.7 GiB before any model: torch's libraries)."""
    single = json.loads(subprocess.run([sys.executable, "-c", _SINGLE], capture_output=True, text=True,
                                       check=True).stdout.strip().splitlines()[-1])
    w = job("torchvision:resnet50", limit=2)
    system = il.partition(w.model, w.x[:1], chips=8, capacity=capacity_for(w, 8, None), solver="first-fit")
    ref = Runtime(system).run(w.x)
    r = run_distributed(system, w.x, procs=system.mapping.n_chips + 1, timeout_s=600)
    own = single["peak_rss"] - single["start_rss"]
    ranks = [{"rank": s.rank, "chips": [c for c in s.chips if isinstance(c, int)], "peak_rss_mib": _mib(s.peak_rss),
              "share_of_single": round(s.peak_rss / single["peak_rss"], 3),
              "above_start_mib": _mib(s.peak_rss - s.start_rss) if s.start_rss else None,
              "share_of_single_above_start": round((s.peak_rss - s.start_rss) / own, 3) if s.start_rss else None}
             for s in r.ranks]
    row = {"model": "torchvision:resnet50 (untrained float model, SYNTHETIC random inputs)",
           "chips": system.mapping.n_chips, "single_process_peak_rss_mib": _mib(single["peak_rss"]),
           "single_process_above_start_mib": _mib(own), "ranks": ranks,
           "max_chip_rank_share": max(x["share_of_single"] for x in ranks[1:]),
           "max_chip_rank_share_above_start": max(x["share_of_single_above_start"] for x in ranks[1:]),
           "max_abs_diff": float((r.logits - ref.logits).abs().max()), "wire_bytes": r.wire_bytes,
           "plan_bytes": r.expected_wire_bytes}
    print(row, flush=True)
    _save("rss", row)
    return row


def pipelined(inputs: int = 2000) -> dict:
    from illusion_torch.report import run_and_price

    w = job("mnist", limit=inputs)
    system = il.partition(w.model, w.x[:1], chips=8, capacity=capacity_for(w, 8, None))
    rep = run_and_price(system, w.x[:1], w.y[:1])
    procs = system.mapping.n_chips + 1
    one = run_distributed(system, w.x, procs=procs)
    pipe = run_distributed(system, w.x, procs=procs, schedule="pipelined", depth=8)
    row = {"inputs": inputs, "chips": system.mapping.n_chips, "procs": procs,
           "bit_identical": bool(torch.equal(one.logits, pipe.logits)),
           "measured_one_at_a_time_per_s": round(inputs / one.wall_s, 1),
           "measured_pipelined_per_s": round(inputs / pipe.wall_s, 1),
           "measured_speedup": round(one.wall_s / pipe.wall_s, 2),
           "model_one_at_a_time_per_s": round(1 / rep.illusion.time_s, 1),
           "model_pipelined_per_s": round(rep.illusion.throughput_per_s, 1),
           "model_speedup": round(rep.illusion.time_s * rep.illusion.throughput_per_s, 2)}
    row["measured_over_model_speedup"] = round(row["measured_speedup"] / row["model_speedup"], 2)
    print(row, flush=True)
    _save("pipelined", row)
    return row


def _replay(index: int, world: int, init: str, pattern: dict, inputs: int, out: str) -> None:
    """A rank of the floor run: this rank's sends and receives of one input, ``inputs`` times, nothing else."""
    import torch.distributed as dist

    rank = index + 1                    # the host calls it with -1
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    bufs = [torch.zeros(nbytes, dtype=torch.uint8) for _, _, nbytes in pattern[rank]]
    dist.barrier()
    t = time.perf_counter()
    pending: list = []
    for _ in range(inputs):
        for p in pending:
            p.wait()
        pending = []
        for (kind, peer, _), buf in zip(pattern[rank], bufs, strict=True):
            if kind == "recv":
                dist.recv(buf, src=peer)
            else:
                pending.append(dist.isend(buf, dst=peer))
    for p in pending:
        p.wait()
    wall = time.perf_counter() - t
    dist.barrier()
    if rank == 0:
        Path(out).write_text(json.dumps(wall))
    dist.destroy_process_group()


def floor(inputs: int = 2000) -> dict:
    import socket
    import tempfile

    import torch.multiprocessing as mp

    w = job("mnist", limit=inputs)
    system = il.partition(w.model, w.x[:1], chips=8, capacity=capacity_for(w, 8, None))
    procs = system.mapping.n_chips + 1
    tl = run_distributed(system, w.x[:1], procs=procs, timeline=True)
    pattern = {s.rank: [(kind, peer, nbytes) for kind, peer, nbytes, _, _ in s.events] for s in tl.ranks}
    t = time.perf_counter()
    Runtime(system).run(w.x, batch_size=1)
    in_one = time.perf_counter() - t
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        init = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp, "wall.json"))
        ctx = mp.start_processes(_replay, args=(procs, init, pattern, inputs, ""), nprocs=procs - 1, join=False,
                                 start_method="spawn")
        _replay(-1, procs, init, pattern, inputs, out)
        ctx.join()
        wall = json.loads(Path(out).read_text())
    row = {"inputs": inputs, "chips": system.mapping.n_chips, "procs": procs,
           "messages_per_input": sum(len(v) for v in pattern.values()) // 2, "pattern": pattern,
           "bare_transport_s": round(wall, 2), "bare_transport_ms_per_input": round(wall / inputs * 1e3, 3),
           "in_process_one_at_a_time_s": round(in_one, 2),
           "floor_ratio_vs_in_process": round(wall / in_one, 2)}
    print({k: v for k, v in row.items() if k != "pattern"}, flush=True)
    _save("floor", row)
    return row


def scale() -> list[dict]:
    rows = []
    for name, share, procs in (("svhn", 64, 9), ("resnet18-fashion", 1000, 17)):
        w = job(name, limit=4)
        cap = il.models.weight_bytes(w.model) // share                  # an even share: at least that many chips
        t = time.perf_counter()
        system = il.partition(w.model, w.x[:1], capacity=cap, solver="first-fit")
        setup = time.perf_counter() - t
        ref = Runtime(system).run(w.x)
        t = time.perf_counter()
        r = run_distributed(system, w.x, procs=procs, timeout_s=600)
        row = {"model": name, "chips": system.mapping.n_chips, "procs": procs, "inputs": len(w.x),
               "bit_identical": bool(torch.equal(r.logits, ref.logits)),
               "max_abs_diff": float((r.logits - ref.logits).abs().max()), "wire_bytes": r.wire_bytes,
               "plan_bytes": r.expected_wire_bytes, "partition_s": round(setup, 1),
               "distributed_s": round(r.wall_s, 2), "with_start_s": round(time.perf_counter() - t, 1),
               "peak_rss_mib": [_mib(s.peak_rss) for s in r.ranks]}
        print(row, flush=True)
        rows.append(row)
        _save("scale", rows)
    return rows


def _plot_timeline(result, rt: Runtime, system) -> None:
    """Measured send/receive events of a distributed run (top) beside the cost model's timeline (bottom)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6))
    top, bottom = fig.subplots(2, 1)
    t0 = min(e[3] for s in result.ranks for e in s.events)
    colors = {"send": "tab:red", "recv": "tab:green"}
    for s in result.ranks:
        for kind, _peer, _bytes, start, end in s.events:
            top.barh(s.rank, max(end - start, 2e-5) * 1e3, left=(start - t0) * 1e3, color=colors[kind], height=0.6)
    top.set_yticks(range(result.procs), ["host"] + [f"rank {r}" for r in range(1, result.procs)])
    top.set_xlabel("measured wall time (ms): receive (green, incl. waiting), send (red)")
    top.set_title(f"MNIST on {system.mapping.n_chips} chips, {result.procs} processes, "
                  f"{len(result.logits)} inputs one at a time")
    events = evaluate(rt.profile, result.runs or {None: 1}, preset("paper-testchip")).timeline
    state = {"compute": "tab:blue", "receive": "tab:green", "send": "tab:red", "memory": "tab:purple"}
    for e in events:
        bottom.barh(e.chip, (e.end_s - e.start_s) * 1e3, left=e.start_s * 1e3, color=state.get(e.state, "0.7"),
                    height=0.6)
    bottom.set_xlabel("cost model (paper-testchip), one inference (ms): compute, receive, send, memory")
    bottom.set_ylabel("chip")
    fig.tight_layout()
    fig.savefig(RESULTS / "distributed.png", dpi=120)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="identity,mnist,floor,rss,pipelined,scale")
    p.add_argument("--limit", type=positive_int, default=8)
    p.add_argument("--models", default=None, help="identity: only these checkpoints (comma-separated)")
    args = p.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for part in args.parts.split(","):
        if part == "identity":
            identity(args.limit, args.models.split(",") if args.models else None)
        elif part == "lengths":
            lengths()
        elif part == "mnist":
            mnist()
        elif part == "rss":
            rss()
        elif part == "pipelined":
            pipelined()
        elif part == "scale":
            scale()
        elif part == "floor":
            floor()
        else:
            raise SystemExit(f"unknown part {part!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
