"""The scale-up simulator's networks and its way of counting: weights only, first-fit, nn_dataflow chips."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.partitioning.trace import trace


def _graph(name: str):
    model = il.models.get_model(name)
    shape = il.models.config_of(model).input_shape
    return model, trace(model, torch.zeros(1, *shape))


@pytest.mark.parametrize("name, weights", [("paper-vgg16", 138_344_128), ("paper-resnet50", 22_734_016)])
def test_the_simulators_networks_have_its_weights_and_no_biases(name, weights):
    model, g = _graph(name)
    assert sum(p.numel() for p in model.parameters()) == weights
    assert all(m.bias is None for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert g.weight_bytes == 2 * weights                                  # 16-bit words
    assert il.models.config_of(model).weights_only


def test_resnet50_has_no_projection_shortcuts():
    model, g = _graph("paper-resnet50")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 + 3 * 16                  # the stem and three per bottleneck, nothing on a shortcut
    assert [b.conv1.stride for b in model.blocks][3] == (2, 2)           # a stage's first 1×1 carries the stride


def test_first_fit_fills_chips_with_weights_only():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    g = trace(model.eval(), torch.zeros(1, 3, 8, 8))
    weights = 2 * (model[0].weight.numel() + model[4].weight.numel())
    assert g.weights_only().weight_bytes == weights < g.weight_bytes
    counted = partitioning.solve(g, 1024, solver="first-fit", weights_only=True)
    assert sum(counted.chip_weight_bytes()) == weights
    plain = partitioning.solve(g, 1024, solver="first-fit")
    assert counted.n_chips <= plain.n_chips


def test_first_fit_chip_counts_shrink_as_chips_grow():
    _, g = _graph("paper-vgg16")
    counts = [partitioning.solve(g, int(mib * 2**20), solver="first-fit").n_chips for mib in (0.25, 1, 4, 16, 64, 256)]
    assert counts == sorted(counts, reverse=True) and counts[-1] == 2        # 263.9 MiB of weights
    assert counts[0] >= (2 * 138_344_128) // (2**18)


@pytest.mark.slow
def test_paper_resnet50_runs_chip_by_chip_on_nn_dataflow_chips():
    torch.manual_seed(0)
    model = il.models.get_model("paper-resnet50").eval()
    x = torch.randn(1, 3, 224, 224)
    system = il.partition(model, x, capacity="4MiB", solver="first-fit")
    report = system.run(x, preset="accelerator-28nm")
    assert report.mismatches == 0
    assert {r.source for r in report.ideal.layers} == {"nn_dataflow"} and len(report.ideal.layers) == 50
    assert report.energy_ratio > 1 and report.time_ratio > 1
    assert report.dram.time_s > report.ideal.time_s
