"""The nn_dataflow per-layer cost: the paper's chip, counts × docs/paper.md energies, the cache and the roofline."""

from __future__ import annotations

import pytest

from illusion_torch.cost import dataflow
from illusion_torch.cost.dataflow import PAPER_CHIP, LayerShape, layer_cost, roofline_cost
from illusion_torch.cost.hardware import preset
from illusion_torch.errors import IllusionError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(dataflow, "schedule_cache_path", lambda: tmp_path / "schedules.json")
    monkeypatch.setattr(dataflow, "_MEMORY", {})
    monkeypatch.setattr(dataflow, "_LOADED", set())
    monkeypatch.setattr(dataflow, "_FOREIGN", set())


def test_a_conv_schedule_is_priced_at_the_papers_energies():
    shape = LayerShape.conv(96, 256, out_hw=(27, 27), kernel=(5, 5))
    c = layer_cost(shape)
    assert c.source == "nn_dataflow"
    assert c.energy["compute"] == pytest.approx(shape.macs * 1.9e-12)
    assert c.energy["regf"] == pytest.approx(shape.macs * 7.36e-12)     # two 16-bit operand reads per MAC
    assert c.cycles >= shape.macs / 4096                                 # no more than every PE every cycle
    # the weights at least once from RRAM, the outputs at least once into it
    assert c.accesses["memory_reads"] >= shape.weights and c.accesses["memory_writes"] >= shape.outputs


def test_a_large_fc_layer_is_bound_by_the_memory_stream():
    shape = LayerShape.fc(4096, 4096)
    c = layer_cost(shape)
    assert c.cycles >= shape.weights * 2 / PAPER_CHIP.memory_bytes_per_cycle     # 512 B per cycle


def test_schedules_are_cached_in_memory_and_on_disk(monkeypatch, tmp_path):
    shape = LayerShape.fc(256, 512)
    first = layer_cost(shape)
    assert (tmp_path / "schedules.json").exists()

    def refuse(*_):
        raise AssertionError("searched the same shape twice")
    monkeypatch.setattr(dataflow, "_search", refuse)
    assert layer_cost(shape).cycles == first.cycles
    monkeypatch.setattr(dataflow, "_MEMORY", {})            # a new process: the file answers
    monkeypatch.setattr(dataflow, "_LOADED", set())
    assert layer_cost(shape).energy == first.energy


def test_a_shape_without_a_schedule_falls_back_to_the_roofline(monkeypatch):
    def boom(*_):
        raise ValueError("no blocking fits")
    monkeypatch.setattr(dataflow, "_search", boom)
    shape = LayerShape.conv(3, 8, (4, 4), (3, 3))
    c = layer_cost(shape)
    assert c.source == "roofline" and "no blocking fits" in c.note
    assert c.cycles == roofline_cost(shape, PAPER_CHIP).cycles


def test_a_dram_chip_searches_at_the_drams_bandwidth_and_energy():
    spec = preset("accelerator-28nm")
    dram = spec.with_dram().dataflow
    assert dram.memory == "dram" and dram.memory_bytes_per_cycle == spec.dram_bytes_per_s / spec.clock_hz
    shape = LayerShape.fc(1024, 1024)
    assert layer_cost(shape, dram).cycles > layer_cost(shape, spec.dataflow).cycles
    assert layer_cost(shape, dram).energy["memory"] > layer_cost(shape, spec.dataflow).energy["memory"]


def test_link_cost_multiplies_energy_latency_and_time_per_byte():
    spec = preset("accelerator-28nm")
    x4 = spec.with_link_cost(4)
    assert x4.link_j_per_byte == 4 * spec.link_j_per_byte and x4.link_latency_s == 4 * spec.link_latency_s
    assert x4.link_bytes_per_s == spec.link_bytes_per_s / 4 and x4.with_link_cost(2).link_cost == 8
    for bad in (0, -2, float("nan"), float("inf")):
        with pytest.raises(IllusionError, match="positive finite"):
            spec.with_link_cost(bad)


def test_a_bad_shape_is_refused():
    with pytest.raises(IllusionError, match="positive sizes"):
        layer_cost(LayerShape.fc(0, 4))


def test_prefetch_searches_each_new_shape_once_on_every_core_and_keeps_each_as_found(monkeypatch, tmp_path, capsys):
    """The first run's schedule search: distinct shapes only, in worker processes, each written to the cache file
    as it arrives (a stopped run keeps them); the schedules are the ones a lone search finds."""
    import json

    shapes = [LayerShape.fc(64, 96), LayerShape.fc(64, 96), LayerShape.fc(96, 64, positions=4),
              LayerShape.conv(8, 16, (6, 6), (3, 3))]
    assert dataflow.prefetch(shapes, PAPER_CHIP, processes=2) == 3
    assert "searching schedules for 3 new layer shapes (rram chip; 2 processes" in capsys.readouterr().err
    stored = json.loads((tmp_path / "schedules.json").read_text())
    assert len(stored) == 3 and all(k.startswith(PAPER_CHIP.search_key) for k in stored)
    assert dataflow.prefetch(shapes, PAPER_CHIP, processes=2) == 0          # all known: nothing said or searched
    assert capsys.readouterr().err == ""
    pooled = [layer_cost(s) for s in shapes[1:]]
    monkeypatch.setattr(dataflow, "_MEMORY", {})
    monkeypatch.setattr(dataflow, "_LOADED", set())
    monkeypatch.setattr(dataflow, "schedule_cache_path", lambda: tmp_path / "alone.json")
    assert [layer_cost(s).cycles for s in shapes[1:]] == [c.cycles for c in pooled]
    assert [layer_cost(s).energy for s in shapes[1:]] == [c.energy for c in pooled]


def test_time_goes_through_the_memory_systems_latencies_and_the_schedule_only_preset_keeps_the_old_time():
    """accelerator-28nm: max(schedule, RRAM lines × 8/16 cycles over 16 channels, buffer lines × 4 over 16
    nodes) — docs/paper.md's memory system; accelerator-28nm-schedule: the schedule's cycles alone."""
    shape = LayerShape.fc(4096, 1024)
    timed, alone = layer_cost(shape, PAPER_CHIP), layer_cost(shape, PAPER_CHIP.schedule_only())
    reads, writes = timed.accesses["memory_reads"], timed.accesses["memory_writes"]
    lines = -(-reads // 16) * 8 + -(-writes // 16) * 16          # 16 words per 256-bit line
    assert timed.cycles == max(alone.cycles, lines / 16, -(-timed.accesses["gbuf"] // 16) * 4 / 16)
    assert timed.cycles > 4 * alone.cycles          # an FC layer streams its weights: the latency is exposed
    assert timed.energy == alone.energy             # energy is the accesses', not the time's
    assert PAPER_CHIP.schedule_only().memory_cycles(1e6, 1e6, 1e6) == 0.0
    assert preset("accelerator-28nm-schedule").dataflow.read_latency is None
    assert preset("accelerator-28nm").dataflow.search_key == preset("accelerator-28nm-schedule").dataflow.search_key
    dram = preset("dram-chip").dataflow             # 16 LPDDR4 banks, 36/27-cycle latencies, 64 B lines
    assert (dram.memory_channels, dram.read_latency, dram.write_latency, dram.line_bytes) == (16, 36.0, 27.0, 64)


def test_a_schedule_cache_path_that_holds_something_else_is_never_written_over(monkeypatch, tmp_path, capsys):
    """``$ILLUSION_SCHEDULES`` pointing at a user's own file: one line, the file untouched, schedules kept in
    memory."""
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}')
    monkeypatch.setattr(dataflow, "schedule_cache_path", lambda: mine)
    assert dataflow.prefetch([LayerShape.fc(32, 48)], PAPER_CHIP, processes=1) == 1
    assert mine.read_text() == '{"my": "notes"}'
    assert "is not a schedule cache; it is left as it is" in capsys.readouterr().err
    assert layer_cost(LayerShape.fc(32, 48)).source == "nn_dataflow"            # from memory
