"""The fast tier: every stage of the pipeline on tiny SYNTHETIC fixed-point models (seeded random weights)."""

import pytest
import torch
from torch import nn

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.fixed import FixedPoint
from illusion_torch.fixed.layers import QLSTM, QuantPoint, quantize_weights
from illusion_torch.runtime import Runtime
from illusion_torch.workload import WorkloadConfig


class TinyCNN(nn.Module):
    config = WorkloadConfig("tiny-cnn", input_shape=(1, 8, 8), num_classes=4, weight_format=FixedPoint(8, 4))

    def __init__(self) -> None:
        super().__init__()
        self.q_in, self.conv = QuantPoint(8, 4), nn.Conv2d(1, 6, 3)
        self.q1, self.pool = QuantPoint(8, 4), nn.MaxPool2d(2)
        self.fc, self.q_out = nn.Linear(54, 4), QuantPoint(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.q1(torch.relu(self.conv(self.q_in(x)))))
        return self.q_out(self.fc(torch.flatten(x, 1)))


class TinyLSTM(nn.Module):
    config = WorkloadConfig("tiny-lstm", input_shape=(5, 3), num_classes=4, weight_format=FixedPoint(8, 6))

    def __init__(self) -> None:
        super().__init__()
        self.lstm, self.fc, self.q_out = QLSTM(3, 12), nn.Linear(12, 4), QuantPoint(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q_out(self.fc(self.lstm(x)))


@pytest.fixture(scope="session")
def tiny():
    torch.manual_seed(0)
    out = {}
    for cls in (TinyCNN, TinyLSTM):
        model = cls().eval()
        quantize_weights(model)
        x = torch.randn(16, *cls.config.input_shape, generator=torch.Generator().manual_seed(1))
        out[cls.config.name] = (model, x)
    return out


@pytest.mark.parametrize("name, chips", [("tiny-cnn", 3), ("tiny-lstm", 3)])
def test_every_stage_on_a_tiny_model(tiny, name, chips):
    model, x = tiny[name]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    g = partitioning.trace(model, x[:1])                                         # trace
    assert g.model_name == name and g.weight_bytes == sum(p.numel() for p in model.parameters())
    cap = -(-g.weight_bytes * 5 // (4 * chips))
    m = partitioning.solve(g, cap, chips=chips)                                  # map
    assert m.n_chips == chips and max(m.chip_weight_bytes()) <= cap
    system = il.IllusionSystem(model, g, m)                                      # rewrite + cut
    assert torch.equal(system(x), system.reference(x))                           # bit-exact
    rt = Runtime(system)                                                         # memory images + run
    assert torch.equal(rt.run(x, batch_size=5).logits, system.reference(x))
    assert rt.profile.inter_chip_bytes() == system.inter_chip_bytes
    report = system.run(x, preset="paper-testchip")                              # cost + report
    assert report.mismatches == 0 and report.energy_ratio > 1.0 and report.chips == chips
    assert model.training is False and next(model.parameters()).dtype == torch.float32   # untouched
    assert system.placed_share == 1.0 and "% of parameter bytes are on chips" not in system.summary()
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_wear_on_a_tiny_model(tiny):
    from illusion_torch.wear import simulate

    model, x = tiny["tiny-cnn"]
    system = il.partition(model, x[:1], chips=2, capacity=400)
    y = system(x).argmax(1)
    result = simulate(system, x, y, resilience="distributed-endurer-plus", years=0.1, rate=1e6, seed=0)
    assert [p.label for p in result.points][:3] == ["ZERO", "DAY", "WEEK"]
    assert result.points[0].accuracy == 1.0 and result.points[0].stuck_bits == 0


def test_a_mapper_function_is_accepted_and_checked(tiny):
    model, x = tiny["tiny-cnn"]
    g = partitioning.trace(model, x[:1])

    def one_chip(graph, capacities):
        whole = [partitioning.Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes) for ly in graph.layers]
        return partitioning.Mapping([whole], [capacities[0]], "mine", method="one chip")

    assert partitioning.solve(g, 4096, solver=one_chip).method == "one chip"
    with pytest.raises(il.IllusionError, match="more than its 100 B"):
        partitioning.solve(g, 100, solver=one_chip)


def test_plots_leave_the_pyplot_backend_alone(tiny, tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("template")              # a backend the library must not switch (to Agg, say)
    try:
        model, x = tiny["tiny-cnn"]
        system = il.partition(model, x[:1], chips=2, capacity=400)
        system.run(x).save(tmp_path / "r")
        assert matplotlib.get_backend() == "template"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "r" / "mapping.png").stat().st_size > 1000


def test_op_table_is_the_one_classification(tiny):
    from illusion_torch.partitioning.ops import Role, op_of

    model, x = tiny["tiny-cnn"]
    g = partitioning.trace(model, x[:1])
    modules = dict(g.gm.named_modules())
    roles = {n.name: op_of(n, modules).role for n in g.gm.graph.nodes if n.op not in ("placeholder", "output")}
    assert roles["pool"] is Role.POOL_MAX and roles["relu"] is Role.ELEMENTWISE and roles["flatten"] is Role.VIEW
    assert roles["q1"] is Role.ROUND


def test_the_users_model_keeps_its_mode_dtype_and_attributes(tiny):
    import copy

    model, x = tiny["tiny-cnn"]
    mine = copy.deepcopy(model).double().train()
    attrs = set(vars(mine))
    system = il.partition(mine, x[:1].double(), chips=2, capacity=400)
    assert torch.equal(system(x.double()), system.reference(x.double()))
    system.run(x.double())
    assert mine.training is True and next(mine.parameters()).dtype == torch.float64
    assert set(vars(mine)) == attrs and all(m.training for m in mine.modules())


class TinyGrouped(nn.Module):
    """Depthwise (6 groups of 1) and grouped (3 groups, 4 outputs each) convolutions: split anywhere."""

    config = WorkloadConfig("tiny-grouped", input_shape=(3, 8, 8), num_classes=4, weight_format=FixedPoint(8, 5))

    def __init__(self) -> None:
        super().__init__()
        self.q_in, self.stem = QuantPoint(8, 4), nn.Conv2d(3, 6, 3, padding=1)
        self.q1, self.dw = QuantPoint(8, 4), nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.q2, self.grouped = QuantPoint(8, 4), nn.Conv2d(6, 12, 3, stride=2, groups=3)
        self.q3, self.fc, self.q_out = QuantPoint(8, 4), nn.Linear(12 * 9, 4), QuantPoint(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q1(torch.relu(self.stem(self.q_in(x))))
        x = self.q2(torch.relu(self.dw(x)))
        x = self.q3(torch.relu(self.grouped(x)))
        return self.q_out(self.fc(torch.flatten(x, 1)))


@pytest.mark.parametrize("capacity", [60, 90, 150, 400])
def test_grouped_and_depthwise_convolutions_split_anywhere_exactly(capacity):
    from illusion_torch.partitioning.slices import GroupSlice

    torch.manual_seed(capacity)
    model = TinyGrouped().eval()
    quantize_weights(model)
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    g = partitioning.trace(model, x[:1])
    system = il.IllusionSystem(model, g, partitioning.solve(g, capacity, solver="first-fit"))
    assert torch.equal(system(x), system.reference(x))
    rt = Runtime(system)
    assert torch.equal(rt.run(x).logits, system.reference(x))
    assert rt.profile.inter_chip_bytes() == system.inter_chip_bytes
    assert rt.profile.inter_chip_bytes() == system.inter_chip_bytes
    split = [p for p in system.mapping.pieces_of("grouped") + system.mapping.pieces_of("dw")]
    if capacity < 150:
        assert len(split) > 2 and any(isinstance(m, GroupSlice) for m in system.chips.expanded.modules())
    macs = sum(c.macs for c in rt.run(x[:1]).counters)
    assert macs == sum(ly.macs for ly in g.layers)             # a slice costs its own groups' MACs only


class TinyTokens(nn.Module):
    """Linear layers on (B, T, C) and channels-last (B, H, W, C) tensors: split along the feature dimension."""

    config = WorkloadConfig("tiny-tokens", input_shape=(5, 8), num_classes=4, weight_format=FixedPoint(8, 5))

    def __init__(self) -> None:
        super().__init__()
        self.q_in, self.fc1, self.q1 = QuantPoint(8, 4), nn.Linear(8, 24), QuantPoint(8, 4)
        self.fc2, self.q2 = nn.Linear(24, 12), QuantPoint(8, 4)
        self.fc3, self.q3 = nn.Linear(12, 6), QuantPoint(8, 4)
        self.head, self.q_out = nn.Linear(5 * 6, 4), QuantPoint(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q1(torch.relu(self.fc1(self.q_in(x))))                   # (B, 5, 24)
        x = self.q2(self.fc2(x)).reshape(-1, 5, 1, 12)                    # (B, 5, 1, 12): channels last
        x = self.q3(torch.relu(self.fc3(x)))                              # (B, 5, 1, 6)
        return self.q_out(self.head(torch.flatten(x, 1)))


@pytest.mark.parametrize("solver, capacity", [("first-fit", 100), ("first-fit", 160), ("bilp", 200),
                                              ("sequential", 120)])
def test_linear_layers_on_tensors_of_any_rank_split_exactly(solver, capacity):
    torch.manual_seed(capacity)
    model = TinyTokens().eval()
    quantize_weights(model)
    x = torch.randn(6, 5, 8, generator=torch.Generator().manual_seed(3))
    g = partitioning.trace(model, x[:1])
    assert [ly.feature_dim for ly in g.layers] == [2, 2, 3, 1]
    m = partitioning.solve(g, capacity, solver=solver, max_chips=8 if solver == "bilp" else None)
    system = il.IllusionSystem(model, g, m)
    assert any(len(m.pieces_of(name)) > 1 for name in ("fc1", "fc2", "fc3"))
    assert torch.equal(system(x), system.reference(x))
    rt = Runtime(system)
    assert torch.equal(rt.run(x).logits, system.reference(x))
    assert rt.profile.inter_chip_bytes() == system.inter_chip_bytes


def test_runtime_batches_by_its_largest_value(tiny, monkeypatch):
    from illusion_torch.runtime import batching
    from illusion_torch.runtime.engine import largest_value

    model, x = tiny["tiny-cnn"]
    system = il.partition(model, x[:1], chips=3, capacity=400)
    assert Runtime(system).batch_size == 1000                                  # small values: the most
    assert largest_value(system.chips.expanded.graph) == 6 * 6 * 6           # conv1's output, per input
    assert batching.fitting_batch(8 * 216, budget=8 * 216 * 5) == 5
    monkeypatch.setattr(batching, "BATCH_BYTES", 8 * 216 * 3)                 # three inputs a batch
    rt = Runtime(system)
    assert rt.batch_size == 3
    assert torch.equal(rt.run(x).logits, system.reference(x))
