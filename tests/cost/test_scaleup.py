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


@pytest.mark.slow
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


@pytest.mark.slow
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


def _small_lm():
    from illusion_torch.models.paper_lstm_lm import PaperLstmLM

    torch.manual_seed(0)
    return PaperLstmLM(vocab=3000, embed=32, cells=64, proj=16, steps=12).eval()


def test_the_lstm_lm_has_the_simulators_shape():
    from illusion_torch.models.paper_lstm_lm import PaperLstmLM

    with torch.device("meta"):                        # the full model's shapes without its 3.5 GB of weights
        lm = PaperLstmLM()
    assert lm.embedding.weight.shape == (793_470, 1024)
    assert lm.lstm.weight_ih_l0.shape[0] == 4 * 8192 and lm.lstm.weight_hr_l1.shape == (1024, 8192)
    gates = lm.lstm.weight_ih_l1.shape[1] + lm.lstm.weight_hh_l1.shape[1]
    assert gates == 2048 and lm.lstm.bias is False and il.models.config_of(lm).vocab_size == 793_470


def test_the_lstm_lm_split_over_many_chips_is_exact_and_counts_what_it_sends():
    lm = _small_lm()
    x = torch.randint(0, 3000, (3, 12), generator=torch.Generator().manual_seed(1))
    system = il.partition(lm, x[:1], capacity="16KiB", solver="first-fit")
    layers = {p.layer for pieces in system.mapping.chips for p in pieces}
    per_layer = {ly: sum(1 for pieces in system.mapping.chips for p in pieces if p.layer == ly) for ly in layers}
    assert min(per_layer.values()) >= 2                     # the table and both layers split over chips
    out, ref = system(x), system.reference(x)
    assert float((out - ref).abs().max() / ref.abs().max()) < 1e-12
    from illusion_torch.runtime.engine import Runtime

    profile = Runtime(system).profile
    assert profile.inter_chip_bytes() == system.inter_chip_bytes
    rows = [m for m in system.plan if m.tensor.endswith(":rows")]
    assert 0 < sum(m.bytes for m in rows) <= 12 * 32 * 2          # the looked-up rows at most, once each
    cells = [m for m in system.plan if m.tensor.endswith(":partial_sums")]
    assert cells and all(m.repeats == 12 and m.bytes == 16 * 2 for m in cells)   # h's partial sums every step


def test_an_embedding_split_by_rows_joins_the_rows_exactly():
    from illusion_torch.partitioning.slices import EmbeddingJoin, EmbeddingRows

    table = torch.randn(50, 4, dtype=torch.float64)
    idx = torch.tensor([[3, 49, 3, 20, 0, 27]])
    bounds = [(0, 10), (10, 30), (30, 50)]
    parts = [EmbeddingRows(table[a:b], a, 50)(idx) for a, b in bounds]
    assert [p.shape[0] for p in parts] == [3, 2, 1]
    assert torch.equal(EmbeddingJoin(bounds)(idx, *parts), table[idx])
    with pytest.raises(IndexError, match="token ids must lie in"):      # as nn.Embedding: no silent zeros
        EmbeddingJoin(bounds)(torch.tensor([[3, 50]]), *parts)


@pytest.mark.slow
def test_cli_partition_counts_weights_only_and_run_takes_a_link_cost(tmp_path, capsys):
    import json

    from illusion_torch.cli import main

    out = tmp_path / "p.json"
    assert main(["partition", "--model", "paper-vgg16", "--capacity", "64MiB", "--solver", "first-fit",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["chips"] == 5
    runs = {}
    for k in ("1", "8"):
        path = tmp_path / f"r{k}.json"
        assert main(["run", "--model", "mnist", "--chips", "8", "--capacity", "512B", "--limit", "2",
                     "--preset", "accelerator-28nm", "--link-cost", k, "--json", str(path)]) == 0
        runs[k] = json.loads(path.read_text())
    assert runs["8"]["hardware"]["link_cost"] == 8 and runs["1"]["hardware"]["link_cost"] == 1
    assert runs["8"]["energy_ratio"] > runs["1"]["energy_ratio"] and runs["8"]["time_ratio"] > runs["1"]["time_ratio"]
    capsys.readouterr()
