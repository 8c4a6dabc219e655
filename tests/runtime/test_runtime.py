"""The chip-by-chip runtime: memory images, per-address counts, gating, exact float32, work profile."""

import pytest
import torch

import illusion_torch as il
from illusion_torch.cost.evaluate import evaluate
from illusion_torch.cost.hardware import preset
from illusion_torch.runtime import ImageError, Runtime
from illusion_torch.runtime.precision import exact_dtype

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration

def _system(shipped, name, chips=8, cap="4KiB", limit=64):
    model, x, y = shipped(name, limit)
    return il.partition(model, x[:1], chips=chips, capacity=cap), x, y


def test_memory_images_hold_the_weights_as_integer_codes(shipped):
    system, x, _ = _system(shipped, "mnist", cap="512B")
    rt = Runtime(system)
    assert [img.nvm_bytes for img in rt.images] == system.mapping.chip_weight_bytes()
    fl = system.graph.config.weight_format.fl
    for img in rt.images:
        addresses = [r.address for r in img.space("nvm")]
        assert addresses == sorted(addresses) and addresses[0] == 0
        for r in img.space("nvm"):
            assert r.codes.dtype == torch.int64 and r.codes.abs().max() <= 128
            param = rt.programs.expanded.get_submodule(r.module).get_parameter(r.param)
            assert torch.equal(r.codes.double() * 2.0 ** -fl, param.detach().double().flatten())


def test_the_chips_compute_with_what_their_memory_holds(shipped):
    system, x, _ = _system(shipped, "mnist", cap="512B")
    rt = Runtime(system)
    ref = rt.run(x).logits
    region = rt.images[7].space("nvm")[0]          # fc's second input slice
    region.codes[:] = 0
    rt.reload_weights()
    assert not torch.equal(rt.run(x).logits, ref)
    assert torch.equal(system.reference(x), ref)   # the user's model is untouched
    assert torch.equal(system(x), ref) and torch.equal(Runtime(system).run(x).logits, ref)   # and the system's


def test_write_and_read_counts_per_address_follow_the_inferences(shipped):
    system, x, _ = _system(shipped, "mnist", cap="512B")
    rt = Runtime(system)
    result = rt.run(x)
    n = len(x)
    writes = rt.images[0].write_counts("act", result.runs)
    assert len(writes) == rt.images[0].act_bytes and torch.all(writes == n)
    reads = rt.images[0].read_counts("nvm", result.runs)
    conv1 = rt.images[0].space("nvm")[0]           # conv1.weight: read once per output position (24 × 24)
    assert torch.all(reads[conv1.address:conv1.address + conv1.nbytes] == 576 * n)
    assert sum(c.macs for c in result.counters) == 154_320 * n      # the MNIST CNN's MACs (docs/paper.md)
    events = evaluate(rt.profile, result.runs, preset("paper-testchip")).timeline
    assert [e.chip for e in events if e.state == "compute"] == list(range(8))   # chips one after another
    assert all(a.end_s <= b.start_s + 1e-12 for a, b in zip(events, events[1:], strict=False))


def test_lstm_buffers_are_rewritten_every_step(shipped):
    system, x, _ = _system(shipped, "kws", limit=8)
    rt = Runtime(system)
    result = rt.run(x)
    assert [c.wakeups for c in result.counters] == [40 * len(x)] * 8
    slices = [r for r in rt.images[3].space("act") if r.kind == "activation" and r.writes_per_value == 40]
    units = sum(p.units for p in system.mapping.chips[3] if p.layer == "lstm")
    assert len(slices) == 1 and slices[0].numel == 2 * units          # h and c of its hidden units
    received = [r for r in rt.images[3].space("act") if r.kind == "inbox" and r.writes_per_value == 39]
    assert sum(r.numel for r in received) == 80 - units               # the other chips' h slices
    assert rt.profile.inter_chip_bytes() == system.inter_chip_bytes


def test_d2nn_gate_wakes_only_the_taken_branch(shipped):
    system, x, _ = _system(shipped, "d2nn", limit=200)
    rt = Runtime(system)
    result = rt.run(x)
    routes = system.model.forward_all(x)["route"]
    assert torch.equal(result.routes, routes)
    assert result.runs == {0: int((routes == 0).sum()), 1: int((routes == 1).sum())}
    assert 0 < result.runs[0] < len(x)
    gated = 0
    for chip, counters in enumerate(result.counters):
        work = {b for w in rt.profile.wakes if w.chip == chip for b in w.work}
        if work == {0}:                            # only N2 work: awake only for inputs routed to N2
            assert counters.wakeups == result.runs[0]
            gated += 1
        if work == {1}:
            assert counters.wakeups == result.runs[1]
        if None in work:                           # trunk work (N1, the gate, the final select): every input
            assert counters.wakeups >= len(x)
    assert gated >= 2
    assert rt.profile.inter_chip_bytes(0) < rt.profile.inter_chip_bytes() == system.inter_chip_bytes


@pytest.mark.parametrize("name, cap, dtype", [("mnist", "512B", torch.float32), ("svhn", "4KiB", torch.float32),
                                              ("kws", "4KiB", torch.float32), ("resnet", "12KiB", torch.float64)])
def test_float32_only_where_proven_exact(shipped, name, cap, dtype):
    system, x, _ = _system(shipped, name, cap=cap, limit=32)
    got, reason = exact_dtype(system.chips, system.graph.config.weight_format)
    assert got == dtype and reason
    assert torch.equal(Runtime(system).run(x).logits, system.reference(x))


def test_unrepresentable_weights_are_refused(shipped):
    system, x, _ = _system(shipped, "mnist", cap="512B")
    model = il.load("mnist")
    with torch.no_grad():
        model.conv1.weight[0, 0, 0, 0] += 0.01        # not a FixedPoint(8,4) value any more
    bad = il.partition(model, x[:1], chips=8, capacity="512B")
    with pytest.raises(ImageError, match="quantize_weights"):
        Runtime(bad)


@pytest.mark.parametrize("name, cap", [("d2nn", "4KiB"), ("kws", "4KiB")])
def test_the_papers_own_mappings_run_exactly(shipped, name, cap):
    """D2NN's hand mapping puts N3 on a chip before N2's, KWS's puts the fc beside each LSTM slice (out of the
    layer order our mappers keep): chip by chip both still compute the model's logits, with the plan's bytes."""
    model, x, _ = shipped(name, 64)
    system = il.partition(model, x[:1], chips=8, capacity=cap, solver="paper")
    rt = Runtime(system)
    assert torch.equal(rt.run(x).logits, system.reference(x))
    assert rt.profile.inter_chip_bytes() == system.inter_chip_bytes
