"""Partitioned == unpartitioned, bit for bit, for any split the mappers produce."""

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.runtime import Runtime
from illusion_torch.system import build

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration

WORKLOADS = ("mnist", "svhn", "kws", "d2nn", "resnet")
def _workload(shipped, name):
    model, x, _ = shipped(name, 24)
    return model, x, partitioning.trace(model, x[:1])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(name=st.sampled_from(WORKLOADS), chips=st.integers(1, 8), slack=st.floats(1.0, 1.8),
       solver=st.sampled_from(partitioning.SOLVERS))
def test_partitioned_equals_unpartitioned(shipped, name, chips, slack, solver):
    model, x, g = _workload(shipped, name)
    cap = math.ceil(g.weight_bytes / chips * slack)
    if solver == "bilp" and name == "resnet":
        solver = "first-fit"            # keep the suite fast; the BILP on resnet is in test_system_bilp
    try:
        m = partitioning.solve(g, cap, chips=chips if solver == "bilp" else None, solver=solver, time_limit_s=5)
    except ValueError:
        assume(False)
    system = build(model, g, m)
    ref = system.reference(x)
    assert torch.equal(system.logits(x), ref)
    rt = Runtime(system)                      # the cost runtime: weights read from the chips' memory images
    assert torch.equal(rt.run(x, batch_size=10).logits, ref)
    assert [img.nvm_bytes for img in rt.images] == m.chip_weight_bytes()
    assert rt.profile.inter_chip_bytes() == system.inter_chip_bytes


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(name=st.sampled_from(WORKLOADS), chips=st.integers(2, 8), slack=st.floats(1.05, 1.8))
def test_chain_program_mappings_are_bit_exact(shipped, name, chips, slack):
    from illusion_torch.partitioning.chain_dp import chain_dp

    model, x, g = _workload(shipped, name)
    cap = math.ceil(g.weight_bytes / chips * slack)
    try:
        m = chain_dp(g, cap, chips)
    except ValueError:
        assume(False)
    system = build(model, g, m)
    assert torch.equal(system.logits(x), system.reference(x))


@pytest.mark.parametrize("name, chips, cap", [("mnist", 8, "512B"), ("svhn", 8, "4KiB"), ("kws", 8, "4KiB"),
                                              ("d2nn", 8, "4KiB"), ("resnet", 8, "12KiB")])
def test_system_bilp_is_bit_exact_and_keeps_predictions(shipped, name, chips, cap):
    model, x, _ = _workload(shipped, name)
    system = il.partition(model, x[:1], chips=chips, capacity=cap)
    out = system.logits(x)
    assert torch.equal(out, system.reference(x))
    assert torch.equal(out.argmax(1), il.metrics.predict(model, x))
    assert str(system.mapping.n_chips) in system.summary()


def test_input_splits_really_pass_partial_sums(shipped):
    model, x, g = _workload(shipped, "svhn")
    system = il.partition(model, x[:1], chips=8, capacity="4KiB")
    pieces = system.mapping.pieces_of("fc1")
    assert len(pieces) > 1 and pieces[0][1].split == "in"
    ps = [m for m in system.plan if m.tensor == "fc1:partial_sums"]
    assert len(ps) == len(pieces) - 1 and all(m.bytes == 52 * 4 for m in ps)


def test_build_rejects_a_mapping_that_drops_a_layer(shipped):
    model, x, g = _workload(shipped, "mnist")
    m = partitioning.solve(g, "4KiB")
    m.chips[0] = [p for p in m.chips[0] if p.layer != "fc"]
    with pytest.raises(ValueError, match="places no piece of fc"):
        build(model, g, m)


@pytest.mark.parametrize("name, chips, cap", [("mnist", 8, "512B"), ("svhn", 8, "4KiB"), ("kws", 8, "4KiB"),
                                              ("d2nn", 8, "4KiB")])
def test_each_chip_graphmodule_holds_exactly_its_weights(shipped, name, chips, cap):
    model, x, _ = _workload(shipped, name)
    system = il.partition(model, x[:1], chips=chips, capacity=cap)
    held: dict = {}
    for chip, gm in system.chips.wakes:
        if chip == "host":
            assert not list(gm.parameters())
            continue
        tensors = {id(t): t for t in list(gm.parameters()) + list(gm.buffers()) if t.dtype.is_floating_point}
        held.setdefault(chip, {}).update(tensors)
    bytes_per_chip = [sum(t.numel() for t in held.get(c, {}).values()) for c in range(system.mapping.n_chips)]
    assert bytes_per_chip == system.mapping.chip_weight_bytes()          # int8: one byte per value


def test_chips_wake_in_message_order(shipped):
    model, x, _ = _workload(shipped, "mnist")
    wakes = [c for c, _ in il.partition(model, x[:1], chips=8, capacity="512B").chips.wakes]
    assert wakes == ["host", 0, 1, 2, 3, 4, 5, 6, 7]
    model, x, _ = _workload(shipped, "kws")
    wakes = [c for c, _ in il.partition(model, x[:1], chips=8, capacity="4KiB").chips.wakes]
    assert wakes == list(range(8)) * 40                                   # every chip, every time step


def test_embedding_split_by_rows_is_exact():
    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(64, 8)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, idx):
            return self.fc(self.emb(idx))

    torch.manual_seed(0)
    model = Tagger()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(il.fixed.quantize(p, 16, 10))
    idx = torch.randint(0, 64, (5, 3))
    g = partitioning.trace(model, idx[:1])
    assert g.layer("emb").kind == "embedding" and g.layer("emb").out_units == 64
    system = build(model, g, partitioning.solve(g, "400B", solver="first-fit"))
    assert len(system.mapping.pieces_of("emb")) > 1
    assert torch.equal(system.logits(idx), system.reference(idx))
