"""Fast-forwarded wear: chip-by-chip reads equal period-by-period accumulation; lazy spare reports equal weekly."""

import numpy as np
import pytest

from illusion_torch.wear.endurer import OffsetHistogram, policy
from illusion_torch.wear.fastforward import FastForward
from illusion_torch.wear.reports import SpareReports
from illusion_torch.wear.rram import PAPER_ENDURANCE


def _patterns(rng, words=(300, 120, 257, 40)):
    out = []
    for n in words:
        p = np.zeros(n)
        lo = int(rng.integers(0, n // 2))
        p[lo:lo + n // 3] = rng.integers(0, 5, n // 3)
        out.append(p)
    return out


@pytest.mark.parametrize("name", ["none", "endurer", "distributed-endurer", "start-gap"])
def test_wear_read_chip_by_chip_equals_period_by_period(name):
    rng = np.random.default_rng(0)
    patterns = _patterns(rng)
    rate = 1e4
    params = {"c": 0.0, "eps": 0.01} if name == "distributed-endurer" else {}
    ff = FastForward(patterns, rate, policy(name, **params), PAPER_ENDURANCE, seed=3)
    mirror = policy(name, **params)
    mirror.reset(ff.n, ff.words, np.random.default_rng(3))
    m = ff.words
    brute = np.zeros((ff.n, m))
    extra = np.zeros(ff.n)
    periods = 0
    for period in (7, 30, 31, 90):
        got = ff.advance_to(period)
        while periods < period:                          # one period at a time, each offset a shifted copy
            scratch = OffsetHistogram(m, ff.n)
            mirror.step(ff.writes_per_chip, rate, scratch, extra)
            for phys in range(ff.n):
                for logical, offsets, amounts in scratch.take(phys):
                    full = np.zeros(m)
                    full[:len(patterns[logical])] = patterns[logical]
                    for o, a in zip(offsets, amounts, strict=True):
                        brute[phys] += a * np.roll(full, -o)
            periods += 1
        np.testing.assert_allclose(got, brute + extra[:, None], rtol=1e-9, atol=1e-6)
    if name == "distributed-endurer":
        assert mirror.swaps > 0


@pytest.mark.parametrize("rate, spares, years", [(3e3, 16, 1), (3e4, 64, 3)])   # the second: spares fail and
def test_spare_reports_match_reading_every_chip_every_week(monkeypatch, rate, spares, years):   # run out
    rng = np.random.default_rng(1)
    patterns = _patterns(rng, (400, 400, 200, 100))
    runs = []
    for lazy in (True, False):
        if not lazy:                                     # read every chip at every weekly report
            monkeypatch.setattr(SpareReports, "act", lambda self: self.ff.report_by_reading())
        ff = FastForward(patterns, rate, policy("distributed-endurer-plus", spares=spares), PAPER_ENDURANCE, seed=5)
        reads = 0                                        # whole-memory reads of a chip
        original = ff._bring

        def counting(chip, original=original):
            nonlocal reads
            reads += 1
            return original(chip)

        ff._bring = counting
        for mark in (6, 180, 2_190, 2_190 * years):           # full reads between reports, as at the marks
            wear = ff.advance_to(mark)
        masks, stuck, failed = ff.logical_masks(wear)
        runs.append((reads, [dict(s.of) for s in ff.spares], stuck, failed, wear))
    (lazy_reads, lazy_of, *lazy_rest), (all_reads, all_of, *all_rest) = runs
    assert [sorted(o) for o in lazy_of] == [sorted(o) for o in all_of]        # the same words moved, to the same
    assert sum(len(o) for o in lazy_of) > 0                                  # spares, at the same wear
    for a, b in zip(lazy_of, all_of, strict=True):
        for w in a:
            assert a[w][0] == b[w][0] and a[w][1] == pytest.approx(b[w][1], rel=1e-12)
    assert lazy_rest[:2] == all_rest[:2]
    np.testing.assert_allclose(lazy_rest[2], all_rest[2], rtol=1e-12)
    assert lazy_reads < all_reads / 3


def test_a_pattern_adds_the_same_wear_by_shifted_copies_or_by_fft():
    from illusion_torch.wear.patterns import Pattern

    rng = np.random.default_rng(2)
    m = 97                                               # a prime: the circular length is not a fast FFT size
    pattern = np.zeros(60)
    pattern[40:55] = rng.random(15)
    p = Pattern(pattern, m)
    for count in (3, 90):                                # few offsets: shifted copies; many: FFT
        offsets = np.sort(rng.choice(m, count, replace=False))
        amounts = rng.random(count) * 100
        full = np.zeros(m)
        full[:60] = pattern
        want = sum(a * np.roll(full, -o) for o, a in zip(offsets, amounts, strict=True))
        got = np.zeros(m)
        p.add_to(got, offsets, amounts)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("words", [(997, 400, 37), (4096, 1000, 4096)])
def test_block_bounds_never_fall_below_the_wear(words, monkeypatch):
    from illusion_torch.wear import reports

    monkeypatch.setattr(reports, "WORDS_PER_BLOCK", 16)      # blocks small against these small memories
    rng = np.random.default_rng(4)
    patterns = _patterns(rng, words)
    ff = FastForward(patterns, 411, policy("distributed-endurer-plus"), PAPER_ENDURANCE, seed=2)
    for period in (5, 300):
        while ff.periods < period:                       # without reports: the bounds are brought up here
            ff.policy.step(ff.writes_per_chip, ff.rate, ff.hist, ff.extra)
            ff.periods += 1
            ff._log_extra()
        rep = ff.reports
        rep._bring_bounds()
        wear = ff.wear() - ff.extra[:, None]             # pattern writes (the bounds leave remaps out)
        bound = rep.bound[:, rep.block_of(np.arange(ff.words))]
        assert np.all(wear <= bound)
        crude = ff.periods * ff.peak.max()               # the busiest word's writes every period
        assert bound.mean() < 0.5 * crude                # and well below the crude bound


def test_a_sleeping_watch_entry_is_never_due(monkeypatch):
    """The reports check only the entries whose wake-up period has come; every other entry's bound must still
    be below its key at every report, or a failed cell would be reported late."""
    rng = np.random.default_rng(6)
    patterns = _patterns(rng, (400, 400, 200, 100))
    ff = FastForward(patterns, 3e4, policy("distributed-endurer-plus", spares=64), PAPER_ENDURANCE, seed=3)
    act, asleep = SpareReports.act, []

    def checked(self):
        act(self)
        n, now = self.size, self.ff.periods
        sleeping = np.flatnonzero((self.wake[:n] > now) & (self.key[:n] != np.inf))
        reach = self.bound.ravel()[self.flat[sleeping]] + self.ff.extra_at[now][self.chip[sleeping]]
        assert np.all(reach < self.key[sleeping])
        asleep.append(len(sleeping))

    monkeypatch.setattr(SpareReports, "act", checked)
    ff.advance_to(2_190)
    assert max(asleep) > 0                               # the calendar did put entries to sleep


@pytest.mark.slow
def test_spare_words_catch_failures_under_start_gap_too():
    # Start-Gap spreads a period over offsets (dense rows, not the placement log the lazy reports read): with
    # spares it is read whole at every weekly report, so failed words move to spares as under the other policies
    patterns = _patterns(np.random.default_rng(1), (400, 400, 200, 100))
    stuck = {}
    for spares in (0, 64):
        pol = policy("start-gap")
        pol.spares = spares
        ff = FastForward(patterns, 5_000, pol, PAPER_ENDURANCE, seed=5)
        wear = ff.advance_to(2_190 * 5)
        _, stuck[spares], failed = ff.logical_masks(wear)
        assert failed > 0
    assert sum(len(s.of) for s in ff.spares) > 0
    assert stuck[64] < stuck[0]
