"""RRAM wear: cell model, write-back buffer, stuck-bit injection, policies, and the lifetime simulation."""

import json

import numpy as np
import pytest
import torch

import illusion_torch as il
from illusion_torch.cli import main
from illusion_torch.runtime import Runtime
from illusion_torch.wear import LABELS, nvm_layout, simulate, write_pattern
from illusion_torch.wear.endurer import policy
from illusion_torch.wear.faults import FaultyChips

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration

def _system(shipped, name, limit=200):
    model, x, y = shipped(name, limit)
    return il.partition(model, x[:1], chips=8, capacity="4KiB"), x, y


def test_faulty_chips_apply_stuck_bits_where_they_land(shipped):
    system, x, y = _system(shipped, "svhn")
    rt = Runtime(system)
    faulty = FaultyChips(rt)
    layout = nvm_layout(rt)
    faulty.layout = dict(enumerate(layout))
    ref = rt.run(x).logits
    assert torch.equal(faulty.run(x), ref)
    words = 1 + max(-(-img.nvm_bytes // 2) + 4096 for img in rt.images)
    ones, zeros = np.full(words, 0xFFFF), np.zeros(words, dtype=np.int64)
    region = rt.images[0].space("nvm")[0]                  # conv1.weight: force every sign bit to 1
    stuck = zeros.copy()
    stuck[region.address // 2:(region.address + region.nbytes) // 2] = 0x8080
    faulty.set_masks(0, ones, stuck)
    assert not torch.equal(faulty.run(x), ref)
    faulty.clear()
    assert torch.equal(faulty.run(x), ref)
    chip = next(c for c, where in enumerate(layout) if where)      # a chip with a message buffer in RRAM
    first = min(layout[chip].values()) // 2
    stuck = zeros.copy()
    stuck[first:first + 64] = 0xFFFF
    faulty.set_masks(chip, ones, stuck)
    assert not torch.equal(faulty.run(x), ref)


def test_write_pattern_comes_from_the_program(shipped):
    system, x, _ = _system(shipped, "kws", limit=20)
    rt = Runtime(system)
    runs = rt.run(x).runs
    layout = nvm_layout(rt)
    patterns = write_pattern(rt, runs, layout)
    nvm_words = -(-rt.images[3].nvm_bytes // 2)
    assert np.all(patterns[3][:nvm_words] == 0)                  # weights are not rewritten by inference
    assert patterns[3].max() == 40                               # h and c: rewritten every step


def test_bad_policy_names_and_parameters():
    with pytest.raises(ValueError, match="valid: none, endurer"):
        policy("wear-magic")
    with pytest.raises(ValueError, match="tau"):
        policy("distributed-endurer", tau=1.5)
    with pytest.raises(ValueError, match="valid: tau, eps, c"):
        policy("distributed-endurer", lam=1)
    with pytest.raises(ValueError, match="spares"):
        policy("distributed-endurer-plus", spares=-1)


def test_lifetime_wear_grows_without_resilience_and_is_reproducible(shipped):
    system, x, y = _system(shipped, "svhn")
    a = simulate(system, x, y, resilience="none", seed=1)
    assert [p.label for p in a.points] == list(LABELS)
    stuck = [p.stuck_bits for p in a.points]
    assert stuck == sorted(stuck) and stuck[0] == 0 and stuck[-1] > 20
    writes = [p.max_writes_per_word for p in a.points]
    assert writes == sorted(writes) and writes[-1] == pytest.approx(writes[-2] * 10, rel=1e-6)
    b = simulate(system, x, y, resilience="none", seed=1)
    assert a.points == b.points and a.wear_evenness == b.wear_evenness
    assert a.lifetime_years is not None and a.wear_evenness < 0.2


def test_distributed_endurer_plus_keeps_accuracy_and_levels_wear(tmp_path):
    out = tmp_path / "l.json"
    assert main(["lifetime", "--model", "svhn", "--resilience", "distributed-endurer-plus", "--limit", "200",
                 "--json", str(out), "--plot", str(tmp_path / "l.png")]) == 0
    r = json.loads(out.read_text())
    assert {"model", "resilience", "points", "lifetime_years", "wear_evenness"} <= set(r)
    assert abs(r["points"][-1]["accuracy"] - r["points"][0]["accuracy"]) <= 0.01
    assert r["lifetime_years"] is None and r["wear_evenness"] >= 0.9
    assert (tmp_path / "l.png").stat().st_size > 1000


def test_lifetime_cli_rejects_bad_input(capsys):
    assert main(["lifetime", "--resilience", "magic"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice" in err[0] and "start-gap" in err[0]
    assert main(["lifetime", "--years", "-1"]) == 2
    assert "positive" in capsys.readouterr().err
