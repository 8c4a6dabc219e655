"""The paper's endurance experiment as it was run (paper/endurance_run.py): each workload's one RRAM buffer, what
one inference writes into it, stuck bits forced the way the chips would force them, and reproducibility."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import illusion_torch as il
from illusion_torch.cli import main
from illusion_torch.errors import IllusionError
from illusion_torch.fixed.layers import QuantPoint
from illusion_torch.paper.endurance_run import (
    SEGMENT_WORDS,
    Assumptions,
    PaperFaults,
    RunningMax,
    paper_patterns,
    run_experiment,
)
from illusion_torch.paper.measurements import CAPACITY
from illusion_torch.runtime import Runtime
from illusion_torch.wear.rram import write_back


def _paper_system(shipped, name, limit):
    model, x, y = shipped(name, limit)
    return il.partition(model, x[:1], chips=8, capacity=CAPACITY[name][8]), model, x, y


def _base(rt, chip):
    return -(-rt.images[chip].nvm_bytes // 2)


def test_the_write_back_buffer_can_flush_whole_when_full():
    trace = np.array([0, 1, 2, 3, 4, 1])
    # whole: 0–3 fill it, 4 flushes all four, 1 misses again; the end flushes 4 and 1
    assert write_back(trace, 5, flush="whole").tolist() == [1, 2, 1, 1, 1]
    # least recently used: 4 evicts 0 only, 1 is still buffered
    assert write_back(trace, 5).tolist() == [1, 1, 1, 1, 1]
    with pytest.raises(IllusionError, match="flush"):
        write_back(trace, 5, flush="fifo")


def _brute_force_running_max(pre_codes: np.ndarray, and_m=None, or_m=None, k=4) -> tuple[np.ndarray, np.ndarray]:
    """Per value (c, i, j) of the pooled map: its writes in place and its final code, one window at a time,
    scanning the window row by row: −128, every value above what reads back, the ReLU fix-up."""
    c, h, w = pre_codes.shape
    writes = np.zeros((c, h // k, w // k), dtype=np.int64)
    final = np.zeros((c, h // k, w // k), dtype=np.int64)

    def force(v, ch, i, j):
        if and_m is None:
            return v
        u = ((v & 0xFF) & int(and_m[ch, i, j])) | int(or_m[ch, i, j])
        return u - 256 if u >= 128 else u

    for ch in range(c):
        for i in range(h // k):
            for j in range(w // k):
                held, n = force(-128, ch, i, j), 1
                for y in range(i * k, i * k + k):
                    for x in range(j * k, j * k + k):
                        v = int(pre_codes[ch, y, x])
                        if v > held:
                            held, n = force(v, ch, i, j), n + 1
                held, n = force(max(held, 0), ch, i, j), n + 1
                writes[ch, i, j], final[ch, i, j] = n, held
    return writes, final


def test_running_max_forces_stuck_bits_at_every_write_as_the_chip_would():
    torch.manual_seed(0)
    q = QuantPoint(8, 4)
    conv = torch.randn(3, 3, 16, 16) * 3
    mod = RunningMax(q, channels=2, kernel=4)
    ref = F.max_pool2d(torch.relu(q(conv)), 4)
    assert torch.equal(mod(conv), ref)                                   # no stuck bits: exactly the pool
    rng = np.random.default_rng(1)
    and_m = np.where(rng.random((2, 4, 4)) < 0.3, 0xFF & ~(1 << rng.integers(0, 8, (2, 4, 4))), 0xFF)
    or_m = np.where(rng.random((2, 4, 4)) < 0.3, 1 << rng.integers(0, 8, (2, 4, 4)), 0)
    mod.and_mask, mod.or_mask, mod.active = torch.from_numpy(and_m), torch.from_numpy(or_m), True
    out = mod(conv)
    codes = torch.round(q(conv) * 16).to(torch.int64).numpy()
    for n in range(len(conv)):
        _, final = _brute_force_running_max(codes[n, :2], and_m, or_m)
        assert torch.equal(out[n, :2], torch.from_numpy(final).double().float() / 16)
    assert torch.equal(out[:, 2:], ref[:, 2:])                           # channels outside the buffer: SRAM
    assert not torch.equal(out, ref)


@pytest.mark.slow
def test_svhn_buffer_writes_per_inference_are_the_running_max_in_place(shipped):
    system, model, x, _ = _paper_system(shipped, "svhn", 8)
    rt = Runtime(system)
    chip = rt.programs.chip_of["orig_pool1"]
    with torch.no_grad():
        pre = model.q1(model.conv1(model.q_in(x)))                      # the unpartitioned model's conv1
    codes = torch.round(pre[:, :2] * 16).to(torch.int64).numpy()
    per_value = sum(_brute_force_running_max(codes[n])[0] for n in range(len(x))).reshape(-1) / len(x)
    patterns = paper_patterns(rt, "svhn", x)
    base = _base(rt, chip)
    expected = np.zeros(SEGMENT_WORDS)
    expected[base:base + 64] = per_value[0::2] + per_value[1::2]          # int8 two per word
    np.testing.assert_allclose(patterns[chip], expected)
    assert all(not p.any() for c, p in enumerate(patterns) if c != chip)  # nothing else wears
    one_per_word = paper_patterns(rt, "svhn", x, packed=False)[chip]
    np.testing.assert_allclose(one_per_word[base:base + 128], per_value)
    buffered = paper_patterns(rt, "svhn", x, write_back_on=True)[chip]
    assert buffered.sum() < patterns[chip].sum()                        # the SRAM absorbs repeated updates
    assert (buffered[base:base + 64] >= 2).all()                        # −128 and the fix-up reach the RRAM


@pytest.mark.slow
def test_d2nn_and_kws_buffers_are_written_as_the_paper_describes(shipped):
    system, _, x, _ = _paper_system(shipped, "d2nn", 4)
    rt = Runtime(system)
    chip = rt.programs.chip_of["orig_n1_7"]
    base = _base(rt, chip)
    for buffered in (False, True):
        p = paper_patterns(rt, "d2nn", x, write_back_on=buffered)
        expected = np.zeros(SEGMENT_WORDS)
        expected[base:base + 216] = 1.0                                  # 432 int8 = 216 words, once
        np.testing.assert_array_equal(p[chip], expected)
        assert sum(q.sum() for q in p) == 216
    system, _, x, _ = _paper_system(shipped, "kws", 4)
    rt = Runtime(system)
    for c, p in enumerate(paper_patterns(rt, "kws", x)):
        base = _base(rt, c)
        expected = np.zeros(SEGMENT_WORDS)
        expected[base:base + 10] = x.shape[1]                            # c: 10 int16 words, every step (40)
        np.testing.assert_array_equal(p, expected)


@pytest.mark.slow
def test_paper_faults_are_exact_without_stuck_bits_and_hit_the_buffer(shipped):
    system, _, x, _ = _paper_system(shipped, "d2nn", 64)
    rt = Runtime(system)
    ref = rt.run(x).logits
    faulty = PaperFaults(rt, "d2nn", packed=True, mask_weights=True)
    assert torch.equal(faulty.run(x), ref)
    chip = rt.programs.chip_of["orig_n1_7"]
    base = _base(rt, chip)
    ones, stuck = np.full(SEGMENT_WORDS, 0xFFFF), np.zeros(SEGMENT_WORDS, dtype=np.int64)
    stuck[base:base + 216] = 0x4040                                      # bit 6 of every value stuck at 1
    faulty.set_segment_masks({chip: (ones, stuck)})
    assert faulty.buffer_stuck_bits() == 2 * 216
    assert not torch.equal(faulty.run(x), ref)
    faulty.set_segment_masks({})
    assert torch.equal(faulty.run(x), ref)
    weights = np.zeros(SEGMENT_WORDS, dtype=np.int64)
    weights[:base] = 0x4040                                              # every weight's bit 6 stuck at 1
    faulty.set_segment_masks({chip: (ones, weights)})
    assert not torch.equal(faulty.run(x), ref) and faulty.buffer_stuck_bits() == 0
    unmasked = PaperFaults(rt, "d2nn", packed=True, mask_weights=False)   # the paper's no-resilience analysis
    unmasked.set_segment_masks({chip: (ones, weights)})
    assert torch.equal(unmasked.run(x), ref)


@pytest.mark.slow
def test_paper_scenario_is_seeded_and_reaches_the_papers_write_counts(shipped):
    system, _, x, y = _paper_system(shipped, "d2nn", 100)
    a = run_experiment(system, x, y, resilience="none", seed=3)
    b = run_experiment(system, x, y, resilience="none", seed=3)
    assert a.points == b.points
    top = a.points[-1]
    assert top.max_writes_per_word == 3000 * 21_900                     # one write per inference, ten years
    assert top.buffer_stuck_bits == top.stuck_bits > 0                  # only the buffer wears
    de = run_experiment(system, x, y, resilience="distributed-endurer", seed=3)
    assert de.params == {"tau": 0.4, "eps": 0.4, "c": 7e8}
    assert de.points[-1].max_writes_per_word < top.max_writes_per_word / 10
    off = run_experiment(system, x, y, resilience="distributed-endurer", seed=3,
                         assumptions=Assumptions(mask_weights=False, stuck_at_one=0.02))
    assert off.points[-1].stuck_bits == de.points[-1].stuck_bits        # the same cells fail: only masks differ


def test_paper_scenario_rejects_what_the_paper_did_not_run(capsys):
    assert main(["lifetime", "--model", "mnist", "--scenario", "paper"]) == 2
    assert "svhn, d2nn, kws" in capsys.readouterr().err
    assert main(["lifetime", "--model", "svhn", "--scenario", "paper", "--tau", "0.5"]) == 2
    assert "TAU/EPS/C" in capsys.readouterr().err
    assert main(["lifetime", "--model", "svhn", "--stuck-at-1", "1.5"]) == 2
    assert "fraction in [0, 1]" in capsys.readouterr().err
    assert main(["lifetime", "--model", "svhn", "--wears", "buffer"]) == 2       # the paper's buffer: its scenario
    assert "--scenario paper" in capsys.readouterr().err
    with pytest.raises(IllusionError, match="wear assumption"):
        Assumptions(wears="weights")
