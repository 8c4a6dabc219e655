"""Energy and time: the cost model's bookkeeping, the presets, and the paper-testchip calibration targets."""

from dataclasses import replace

import pytest

import illusion_torch as il
from illusion_torch.cost.evaluate import evaluate
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


def test_chips_run_one_after_another_and_sleep_between(mnist):
    system, x, _ = mnist
    rt = Runtime(system)
    runs = rt.run(x).runs
    spec = preset("paper-testchip")
    c = evaluate(rt.profile, runs, spec)
    events = c.timeline
    assert all(a.end_s <= b.start_s + 1e-15 for a, b in zip(events, events[1:], strict=False))   # never overlap
    assert [e.chip for e in events if e.state == "compute"] == list(range(8))
    assert all(p.wakeups == 1 for p in c.per_chip)
    # sleep power is paid only while a chip sleeps: raising it adds energy, not time
    sleepy = evaluate(rt.profile, runs, replace(spec, sleep_power_w=2 * spec.sleep_power_w))
    assert sleepy.time_s == c.time_s and sleepy.energy_j > c.energy_j
    assert all(s.breakdown["compute"] == p.breakdown["compute"] for s, p in zip(sleepy.per_chip, c.per_chip,
                                                                              strict=True))
    # one inference leaves the pipeline every busiest-chip time, faster than the whole sequential pass
    assert c.throughput_per_s > 1 / c.time_s
    ideal = evaluate(Runtime(system.ideal()).profile, runs, spec, always_on=True)
    assert ideal.per_chip[0].breakdown["sleep"] == 0 and ideal.per_chip[0].breakdown["wakeup"] == 0
    # the ideal chip's only messages are the host's input and output
    assert ideal.per_chip[0].breakdown["messages"] < sum(p.breakdown["messages"] for p in c.per_chip)


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
    # every conv and fc layer scheduled by nn_dataflow, on the ideal chip and slice by slice on the chips
    assert [r.source for r in report.ideal.layers] == ["nn_dataflow"] * 5
    assert len(report.illusion.layers) >= 5 and {r.source for r in report.illusion.layers} == {"nn_dataflow"}
    assert report.as_dict()["layers"]["ideal"][0]["shape"].startswith("conv 1→6")


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid presets: paper-testchip, accelerator-28nm, accelerator-28nm-roofline, "
                       "dram-chip"):
        preset("tpu-v9")


def test_paper_testchip_meets_the_calibration_targets():
    """Ideal chip within ±15 % of docs/paper.md, 4-chip ratios within ±0.5 points, 8-chip under the headline."""
    rows = compare(paper_workloads(limit=None), preset("paper-testchip"))
    for r in rows:
        t, e = IDEAL_CHIP[r["workload"]]
        assert abs(r["ideal_time_s"] / t - 1) <= 0.15 and abs(r["ideal_energy_j"] / e - 1) <= 0.15
        rt, re, _ = RATIOS_4_CHIPS[r["workload"]]
        assert abs(r["time_ratio_4"] - rt) <= 0.005 and abs(r["energy_ratio_4"] - re) <= 0.005
        assert 1 <= r["time_ratio_8"] <= HEADLINE_8_CHIPS[0] and 1 <= r["energy_ratio_8"] <= HEADLINE_8_CHIPS[1]
