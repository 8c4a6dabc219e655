"""RRAM cells: the endurance fit, cells drawn only where they can fail, write-verify, the write-back buffer."""

import numpy as np
import pytest

from illusion_torch.wear.rram import PAPER_ENDURANCE, PAPER_POINTS, WORD_BITS, RRAMArray, fit_endurance, write_back


def test_endurance_fit_goes_through_the_paper_points():
    fit = fit_endurance(PAPER_POINTS)
    assert fit.mu == pytest.approx(PAPER_ENDURANCE.mu, abs=1e-4)
    assert fit.sigma == pytest.approx(PAPER_ENDURANCE.sigma, abs=1e-5)
    for writes, stuck, bits in PAPER_POINTS:
        assert bits * PAPER_ENDURANCE.failed_fraction(writes) == pytest.approx(stuck, rel=1e-4)


def test_cells_fail_stuck_mostly_at_one_and_write_verify_reports_them():
    mem = RRAMArray(4096, PAPER_ENDURANCE, seed=3)
    and_m, or_m, stuck = mem.masks(np.full(4096, 1e9))
    assert stuck > 1000                                          # ~27 % of cells at 1e9 writes
    ones = sum(bin(int(v)).count("1") for v in or_m)
    assert ones / stuck > 0.95                                   # stuck-at-1 dominates (2 % stuck-at-0)
    assert np.array_equal(RRAMArray(4096, PAPER_ENDURANCE, seed=3).masks(np.full(4096, 1e9))[1], or_m)
    fresh = RRAMArray.with_cells(1, {(0, 5): (2, True)})         # bit 5 fails at its second write, stuck at 1
    assert fresh.write(0, 0) == 0 and fresh.write(0, 0) == 1 and fresh.read(0) == 1 << 5


def test_write_back_buffer_absorbs_repeated_writes():
    assert write_back(np.array([0, 0, 0, 1, 1, 0, 2, 3, 4, 0]), 5).tolist() == [1] * 5   # 0 stays (recently used)
    counts = write_back(np.array([0, 1, 2, 3, 4, 0]), 5, entries=4)
    assert counts.tolist() == [2, 1, 1, 1, 1]       # word 0 evicted by word 4 (least recent), flushed at the end
    assert write_back(np.array([7] * 100), 8).tolist() == [0] * 7 + [1]


def test_cells_fail_at_the_log_normal_rate_whatever_was_asked_before():
    words = 50_000
    for writes in (1e6, 1e8):
        mem = RRAMArray(words, PAPER_ENDURANCE, seed=7)
        stuck = mem.masks(np.full(words, writes))[2]
        p = PAPER_ENDURANCE.failed_fraction(writes)
        n = words * WORD_BITS
        assert abs(stuck - n * p) <= 4 * np.sqrt(n * p * (1 - p))        # binomial: within 4 σ
        assert len(mem.cell) < 2 * n * PAPER_ENDURANCE.failed_fraction(2 * writes) + 100   # only what can fail
    wear = np.random.default_rng(1).uniform(0, 3e7, words)
    direct = RRAMArray(words, PAPER_ENDURANCE, seed=3).masks(wear)
    stepped = RRAMArray(words, PAPER_ENDURANCE, seed=3)
    low = stepped.masks(wear / 100)
    high = stepped.masks(wear)
    for a, b in zip(direct, high, strict=True):        # the same cells however the tiers were reached
        assert np.array_equal(a, b)
    assert low[2] < high[2]
    assert np.all((low[1] & ~high[1]) == 0)            # a failed cell stays failed
    assert len(np.unique(stepped.cell)) == len(stepped.cell)
