"""Chips as processes on torch.distributed (gloo): bit-identical logits, bytes counted at the sends equal the
message plan's, and faults end in one clear error, never a hang."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

import illusion_torch as il
from illusion_torch.cli.jobs import capacity_for, job
from illusion_torch.errors import IllusionError
from illusion_torch.runtime import Runtime


def _system(name: str, chips: int, limit: int):
    w = job(name, limit=limit)
    return w, il.partition(w.model, w.x[:1], chips=chips, capacity=capacity_for(w, chips, None))


@pytest.mark.slow
def test_one_chip_per_rank_is_bit_identical_and_sends_the_plans_bytes():
    from illusion_torch.distributed import run_distributed

    w, system = _system("mnist", 4, 12)
    ref = Runtime(system).run(w.x)
    r = run_distributed(system, w.x, procs=system.mapping.n_chips + 1)
    assert torch.equal(r.logits, ref.logits)
    assert r.wire_bytes == r.expected_wire_bytes == system.inter_chip_bytes * len(w.x)
    assert r.host_bytes > 0 and all(s.peak_rss > 0 for s in r.ranks)


@pytest.mark.slow
def test_chip_groups_and_the_pipelined_schedule_are_bit_identical():
    from illusion_torch.distributed import run_distributed

    w, system = _system("svhn", 8, 10)
    ref = Runtime(system).run(w.x)
    r = run_distributed(system, w.x, procs=4, schedule="pipelined", batch=3, depth=2)
    assert torch.equal(r.logits, ref.logits)
    assert r.wire_bytes == r.expected_wire_bytes < system.inter_chip_bytes * len(w.x)   # some stay on a rank
    assert [s.chips for s in r.ranks[1:]] == [[0, 1], [2, 3, 4], [5, 6, 7]]


@pytest.mark.slow
@pytest.mark.parametrize("chips", [4, 8])      # at 8 the route is computed after a branch value is made
def test_the_gated_model_wakes_only_the_branch_taken(chips):
    from illusion_torch.distributed import run_distributed

    w, system = _system("d2nn", chips, 12)
    ref = Runtime(system).run(w.x)
    r = run_distributed(system, w.x, procs=5)
    assert torch.equal(r.logits, ref.logits) and torch.equal(r.routes, ref.routes)
    assert r.wire_bytes < system.inter_chip_bytes * len(w.x)          # a branch slept for some inputs
    assert r.wire_bytes == r.expected_wire_bytes        # (at 8 the gate's wake also starts N2: the trunk's
                                                        # output goes to it only once the route takes N2)
    assert 0 < r.runs[0] < len(w.x)                     # both branches were taken
    assert sum(s.route_bytes for s in r.ranks) > 0      # the route was sent on


@pytest.mark.slow
def test_the_recurrent_model_exchanges_h_every_step():
    from illusion_torch.distributed import run_distributed

    w, system = _system("kws", 4, 3)
    ref = Runtime(system).run(w.x)
    r = run_distributed(system, w.x, procs=5)
    assert torch.equal(r.logits, ref.logits)
    assert r.wire_bytes == r.expected_wire_bytes == system.inter_chip_bytes * len(w.x)


def test_more_processes_than_chips_is_one_clear_error():
    from illusion_torch.distributed import run_distributed

    w, system = _system("mnist", 4, 2)
    with pytest.raises(IllusionError, match=r"use at most 5 processes"):
        run_distributed(system, w.x, procs=9)


_LONG_RUN = """
import illusion_torch as il
from illusion_torch.cli.jobs import capacity_for, job
from illusion_torch.distributed import run_distributed
if __name__ == "__main__":
    w = job("mnist")
    system = il.partition(w.model, w.x[:1], chips=4, capacity=capacity_for(w, 4, None))
    run_distributed(system, w.x, procs=5)
    print("finished")
"""


def _launch(tmp_path, env=None):
    script = tmp_path / "long_run.py"
    script.write_text(_LONG_RUN)
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_a_rank_killed_mid_run_stops_every_rank_with_an_error_naming_it(tmp_path):
    proc = _launch(tmp_path)
    pid = None
    for line in proc.stderr:                            # "rank 2 (pid N): chips 1 loaded"
        m = re.match(r"rank 2 \(pid (\d+)\)", line)
        if m:
            pid = int(m.group(1))
            break
    assert pid is not None
    time.sleep(2)                                       # the run is under way (10,000 inputs one at a time)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - killed < 30
    assert proc.returncode != 0 and "finished" not in out
    assert f"rank 2 (pid {pid}) was killed by SIGKILL" in err


@pytest.mark.slow
def test_a_rank_that_cannot_load_its_chips_is_one_clear_error(tmp_path):
    proc = _launch(tmp_path, {"ILLUSION_FAULT": "load:3"})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "finished" not in out
    assert "rank 3 cannot load its chips [2]" in err


@pytest.mark.slow
def test_illusion_run_procs_json_adds_procs_and_wire_bytes(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "illusion_torch.cli", "run", "--model", "mnist", "--chips", "4",
                           "--procs", "3", "--limit", "6", "--out", str(tmp_path / "rep"), "--json", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    import json

    d = json.loads(out.read_text())
    assert d["procs"] == 3 and d["mismatches"] == 0
    assert d["wire_bytes"] == d["plan_wire_bytes"] > 0 and d["inter_chip_bytes"] > 0
    assert [r["chips"] for r in d["ranks"]] == [[], [0, 1], [2, 3]]


@pytest.mark.slow
def test_two_torchrun_nodes_over_localhost(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "r.json"

    def node(rank: int, extra: list[str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node",
                                 "2", "--node-rank", str(rank), "--master-addr", "127.0.0.1", "--master-port",
                                 str(port), "-m", "illusion_torch.distributed", "--model", "mnist", "--chips", "3",
                                 "--limit", "6", "--out", str(tmp_path / "rep"), *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    second = node(1, [])
    first = node(0, ["--json", str(out)])
    _, err0 = first.communicate(timeout=240)
    _, err1 = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0, err0[-2000:] + err1[-2000:]
    import json

    d = json.loads(out.read_text())
    assert d["procs"] == 4 and d["mismatches"] == 0 and d["wire_bytes"] == d["plan_wire_bytes"] > 0


@pytest.mark.slow
def test_an_unreachable_master_is_one_clear_error():
    import socket

    with socket.socket() as s:                          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    proc = subprocess.run([sys.executable, "-m", "illusion_torch.distributed", "--timeout", "5"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"rank 1: could not join the process group at 127.0.0.1:{port}" in proc.stderr
    assert "check the master address and port" in proc.stderr


@pytest.mark.slow
def test_a_split_embedding_sends_its_rows_after_their_shape_and_stays_bit_identical():
    """A split embedding's chips send the rows of the tokens they hold — how many depends on the sentence:
    each such value travels after its shape (a header, counted apart), and the run stays bit-identical."""
    from illusion_torch.distributed import distributed_meta, run_distributed
    from illusion_torch.fixed.ptq import post_training_quantize
    from illusion_torch.models.minilm import MiniLM
    from illusion_torch.partitioning import solve, trace

    torch.manual_seed(0)
    model = MiniLM(vocab_size=60, hidden=16, layers=1, heads=2, intermediate=32, max_positions=16, seq_len=8)
    x = torch.randint(1, 60, (5, 8), generator=torch.Generator().manual_seed(3))
    x[1, 5:] = 0
    x[3, 2:] = 0                                       # sentences of 8, 5 and 2 tokens
    g = trace(model, x[:1])
    word = next(ly for ly in g.layers if "word_embeddings" in ly.name)
    cap = max(ly.weight_bytes for ly in g.layers if ly is not word) + 64
    assert word.weight_bytes > cap
    system = il.system.build(model, g, solve(g, cap, solver="first-fit"))
    assert sum(1 for p in system.mapping.chips for q in p if q.layer == word.name) >= 2    # its rows split
    ref = Runtime(system).run(x)
    r = run_distributed(system, x, procs=system.mapping.n_chips + 1)
    assert torch.equal(r.logits, ref.logits)
    assert distributed_meta(r)["shape_header_bytes"] > 0
    # its fixed-point version: the rows travel as the table's 16-bit codes and the ids as 8-bit codes (a
    # 60-row table); the plan for these inputs counts the rows each chip really looks up, so the bytes are equal
    fixed = post_training_quantize(model, x)
    g = trace(fixed, x[:1])
    system = il.system.build(fixed, g, solve(g, cap, solver="first-fit"))
    r = run_distributed(system, x, procs=system.mapping.n_chips + 1)
    assert torch.equal(r.logits, Runtime(system).run(x).logits)
    assert r.wire_bytes == r.expected_wire_bytes
