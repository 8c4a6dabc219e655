"""Energy and time: the cost model's bookkeeping, the presets, and the paper-testchip calibration targets."""

import math

import pytest

import illusion_torch as il
from illusion_torch.cost.evaluate import CATEGORIES, evaluate
from illusion_torch.cost.hardware import PRESETS, preset
from illusion_torch.paper.calibration import compare, paper_workloads
from illusion_torch.paper.measurements import HEADLINE_8_CHIPS, IDEAL_CHIP, RATIOS_4_CHIPS
from illusion_torch.runtime import Runtime

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration


@pytest.fixture(scope="module")
def mnist():
    model = il.load("mnist")
    x, y = il.data.load("mnist", "test", limit=100)
    system = il.partition(model, x[:1], chips=8, capacity="512B")
    return system, x, y


def test_sequential_schedule_bookkeeping(mnist):
    system, x, _ = mnist
    rt = Runtime(system)
    runs = rt.run(x).runs
    spec = preset("paper-testchip")
    c = evaluate(rt.profile, runs, spec)
    assert math.isclose(c.time_s, sum(p.active_s for p in c.per_chip))          # one chip at a time
    assert math.isclose(c.energy_j, sum(p.energy_j for p in c.per_chip))
    for p in c.per_chip:
        assert math.isclose(p.energy_j, sum(p.breakdown[k] for k in CATEGORIES))
        assert math.isclose(p.breakdown["sleep"], (c.time_s - p.active_s) * spec.sleep_power_w)
        assert p.wakeups == 1
    assert c.pipelined_s == max(p.active_s for p in c.per_chip) < c.time_s
    assert [e.start_s for e in c.timeline] == sorted(e.start_s for e in c.timeline)
    assert math.isclose(c.timeline[-1].end_s, c.time_s)
    ideal = evaluate(Runtime(system.ideal()).profile, runs, spec, always_on=True)
    assert math.isclose(ideal.energy_j, ideal.time_s * spec.active_power_w)     # board power × time
    assert ideal.per_chip[0].breakdown["sleep"] == 0 and ideal.per_chip[0].breakdown["wakeup"] == 0


def test_accelerator_prices_macs_links_and_dram(mnist):
    system, x, y = mnist
    report = system.run(x, y, preset="accelerator-28nm")
    spec = PRESETS["accelerator-28nm"]
    rt = Runtime(system)
    macs = sum(w.for_route(None).macs for w in rt.profile.wakes)
    compute = sum(c.breakdown["compute"] for c in report.illusion.per_chip)
    assert compute >= macs * spec.mac_j
    link = sum(t.bytes for t in rt.profile.transfers if t.src != "host") * spec.link_j_per_byte
    assert sum(c.breakdown["messages"] for c in report.illusion.per_chip) >= link
    assert report.dram.time_s > report.ideal.time_s and report.dram.energy_j > report.ideal.energy_j
    assert report.mismatches == 0 and report.accuracy == report.reference_accuracy


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid presets: paper-testchip, accelerator-28nm, dram-chip"):
        preset("tpu-v9")


def test_paper_testchip_meets_the_calibration_targets():
    """Ideal chip within ±15 % of PAPER.md, 4-chip ratios within ±0.5 points, 8-chip under the headline."""
    rows = compare(paper_workloads(limit=None), preset("paper-testchip"))
    for r in rows:
        t, e = IDEAL_CHIP[r["workload"]]
        assert abs(r["ideal_time_s"] / t - 1) <= 0.15 and abs(r["ideal_energy_j"] / e - 1) <= 0.15
        rt, re, _ = RATIOS_4_CHIPS[r["workload"]]
        assert abs(r["time_ratio_4"] - rt) <= 0.005 and abs(r["energy_ratio_4"] - re) <= 0.005
        assert 1 <= r["time_ratio_8"] <= HEADLINE_8_CHIPS[0] and 1 <= r["energy_ratio_8"] <= HEADLINE_8_CHIPS[1]
