"""One tiny model per op family the op table covers (SYNTHETIC: seeded random weights and inputs), in float64:
chip by chip equals the unpartitioned model to float rounding, every parameter byte is on a chip."""

import pytest
import torch
from torch import nn

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.partitioning.decompose import decompose
from illusion_torch.runtime import Runtime

TOL = 1e-12


class NormNet(nn.Module):
    """Batch norm after a convolution (stored with it), after a concatenation (an op of its own), a group norm,
    a layer scale (a constant read by the forward) and an SE-style gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn_cat, self.gn = nn.BatchNorm2d(16), nn.GroupNorm(4, 16)
        self.scale = nn.Parameter(torch.rand(16, 1, 1))
        self.se1, self.se2 = nn.Conv2d(16, 4, 1), nn.Conv2d(4, 16, 1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.bn1(self.conv1(x)))
        x = self.gn(self.bn_cat(torch.cat([a, self.conv2(a)], 1))) * self.scale
        gate = torch.sigmoid(self.se2(torch.relu(self.se1(x.mean((2, 3), keepdim=True)))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x * gate, 1), 1))


class TokenNet(nn.Module):
    """A ViT-like classifier: patches, a class token, a positional embedding, two encoder layers."""

    def __init__(self, batch_first: bool = True) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 16))
        self.pos = nn.Parameter(torch.randn(1, 5, 16))
        layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=batch_first, norm_first=batch_first)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16), enable_nested_tensor=False)
        self.head = nn.Linear(16, 5)
        self.batch_first = batch_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)                          # (B, 4, 16)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1) + self.pos
        if not self.batch_first:
            return self.head(self.encoder(t.transpose(0, 1))[0])
        return self.head(self.encoder(t)[:, 0])


class AttentionNet(nn.Module):
    """nn.MultiheadAttention with separate key/value sizes and a causal mask held as a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 12)
        self.kv = nn.Linear(12, 6)
        self.attn = nn.MultiheadAttention(12, 3, kdim=6, vdim=6, batch_first=True)
        self.register_buffer("mask", torch.triu(torch.ones(6, 6, dtype=torch.bool), 1))
        self.head = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embed(x)
        kv = self.kv(e)
        return self.head(self.attn(e, kv, kv, attn_mask=self.mask, need_weights=False)[0].mean(1))


class RecurrentNet(nn.Module):
    """nn.LSTM / nn.GRU: two layers, batch first or time first, one or two directions."""

    def __init__(self, kind: str, batch_first: bool, bidirectional: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.rnn = getattr(nn, kind)(8, 12, num_layers=2, batch_first=batch_first, bidirectional=bidirectional)
        self.head = nn.Linear(12 * (2 if bidirectional else 1), 4)
        self.batch_first = batch_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embed(x)
        out, _ = self.rnn(e if self.batch_first else e.transpose(0, 1))
        return self.head(out[:, -1] if self.batch_first else out[-1])


def _inputs(name: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    if name in ("attention", "lstm", "gru-bidirectional"):
        return torch.randint(0, 20, (3, 6), generator=g)
    return torch.randn(3, 3, 8, 8, generator=g, dtype=torch.float64)


MODELS = {"norms": NormNet, "tokens": TokenNet, "tokens-seq-first": lambda: TokenNet(batch_first=False),
          "attention": AttentionNet, "lstm": lambda: RecurrentNet("LSTM", True, False),
          "gru-bidirectional": lambda: RecurrentNet("GRU", False, True)}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("chips", [3, 9])
def test_op_family_runs_chip_by_chip_exactly_with_every_parameter_placed(name, chips):
    torch.manual_seed(chips)
    model = MODELS[name]().double().eval()
    for m in model.modules():                   # non-trivial norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
    x = _inputs(name)
    g = partitioning.trace(model, x[:1])
    cap = -(-g.weight_bytes * 5 // (4 * chips))
    system = il.IllusionSystem(model, g, partitioning.solve(g, cap, solver="first-fit"))
    assert system.placed_share == 1.0 and system.placed_bytes == system.params_bytes
    assert max(system.mapping.chip_weight_bytes()) <= cap
    ref = system.reference(x)
    assert (system(x) - ref).abs().max() <= TOL * ref.abs().max()
    rt = Runtime(system)                        # memory images hold every stored tensor, buffers included
    stored = sum(r.numel for img in rt.images for r in img.space("nvm"))
    assert stored * 2 == g.weight_bytes
    assert (rt.run(x).logits - ref).abs().max() <= TOL * ref.abs().max()
    assert rt.profile.inter_chip_bytes() == system.inter_chip_bytes


def test_attention_is_decomposed_into_projections_that_split():
    model = TokenNet().double().eval()
    g = partitioning.trace(model, _inputs("tokens")[:1])
    kinds = {ly.name: ly.kind for ly in g.layers}
    assert kinds["cls"] == kinds["pos"] == "constant"
    assert kinds["encoder_layers_0_norm1"] == "op"
    projections = [n for n in kinds if n.endswith(("q_proj", "k_proj", "v_proj", "out_proj"))]
    assert len(projections) == 8 and all(kinds[n] == "linear" for n in projections)
    macs = {n.name: n for n in g.gm.graph.nodes if n.op == "call_function" and n.target is torch.matmul}
    assert len(macs) == 4                        # q·kᵀ and ·v, in each of the two layers
    # the user's model is untouched: its attention is still torch's, sharing (not copying) its weights
    assert isinstance(model.encoder.layers[0].self_attn, nn.MultiheadAttention)
    decomposed = decompose(model)
    q = decomposed.encoder.layers[0].self_attn.q_proj.weight
    assert q.data_ptr() == model.encoder.layers[0].self_attn.in_proj_weight.data_ptr()


def test_batch_norm_rides_with_its_convolution_or_stands_alone():
    g = partitioning.trace(NormNet().eval(), torch.zeros(1, 3, 8, 8))
    conv1 = g.layer("conv1")
    assert conv1.absorbed == ("bn1",) and conv1.bias_bytes == 2 * (8 + 4 * 8)
    assert g.layer("bn_cat").kind == "op" and g.layer("gn").kind == "op" and g.layer("scale").kind == "constant"


def test_an_unknown_module_with_weights_is_an_error_naming_it_and_registering_fixes_it():
    class Scaler(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(4))

        def forward(self, x):
            return x * self.w

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.s = nn.Linear(4, 4), Scaler()

        def forward(self, x):
            return self.s(self.fc(x))

    Scaler.__module__ = "torch.nn.mine"         # fx keeps torch.nn modules whole: a leaf with weights
    with pytest.raises(partitioning.UnknownOpError, match=r"module s \(torch\.nn\.mine\.Scaler\).*register_op"):
        partitioning.trace(Net(), torch.zeros(1, 4))
    partitioning.register_op(Scaler, ops_per_value=1)
    try:
        g = partitioning.trace(Net(), torch.zeros(1, 4))
        assert g.layer("s").kind == "op" and g.layer("s").weight_bytes == 8
    finally:
        from illusion_torch.partitioning import ops
        ops._STATEFUL.pop(Scaler)


def test_recurrent_layers_split_by_hidden_units_and_exchange_h_every_step():
    model = RecurrentNet("LSTM", True, False).double().eval()
    x = _inputs("lstm")
    g = partitioning.trace(model, x[:1])
    rnn = [ly for ly in g.layers if ly.kind == "lstm"]
    assert len(rnn) == 2 and all(ly.steps == 6 and ly.recurrent and ly.out_units == 12 for ly in rnn)
    assert sum(ly.param_count for ly in g.layers) == sum(p.numel() for p in model.parameters())
    system = il.IllusionSystem(model, g, partitioning.solve(g, rnn[0].weight_bytes // 2 + 8, solver="first-fit"))
    h = [m for m in system.plan if m.kind == "lstm_h"]
    assert h and all(m.repeats == 5 for m in h)                      # every step after the first


def test_reading_an_lstms_final_cell_state_is_a_clear_error():
    class UsesC(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(4, 6, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[1][1]

    with pytest.raises(il.IllusionError, match="final cell state c_n"):
        partitioning.trace(UsesC(), torch.zeros(1, 3, 4))


@pytest.mark.parametrize("name", ["norms", "tokens"])
def test_a_fixed_point_version_is_bit_identical_on_any_split(name):
    from illusion_torch.fixed.quantized import fixed_point_version

    torch.manual_seed(5)
    model = MODELS[name]().eval()
    x = _inputs(name).float()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    fixed = fixed_point_version(model, x[:1])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())   # the model given: untouched
    assert not all(torch.equal(v, fixed.state_dict()[k]) for k, v in state.items() if k in fixed.state_dict())
    g = partitioning.trace(fixed, x[:1])
    assert g.config.fixed_point and g.partial_sum_bytes == 4
    for chips in (3, 9):
        cap = -(-g.weight_bytes * 5 // (4 * chips))
        system = il.IllusionSystem(fixed, g, partitioning.solve(g, cap, solver="first-fit"))
        ref = system.reference(x)
        assert ref.abs().max() > 0 and torch.equal(system(x), ref)
        rt = Runtime(system)                                # codes in the images, loaded back: still identical
        assert all(r.codes is not None for img in rt.images for r in img.space("nvm"))
        assert torch.equal(rt.run(x).logits, ref)


def test_an_op_larger_than_a_chip_is_named_with_the_capacity_it_needs():
    model = nn.Sequential(nn.Linear(8, 600), nn.LayerNorm(600), nn.Linear(600, 4)).eval()
    g = partitioning.trace(model, torch.zeros(1, 8))
    norm = g.layer("_1")
    assert norm.kind == "op" and norm.weight_bytes == 2 * 1200
    with pytest.raises(il.IllusionError, match=r"layer _1 cannot be split and needs 2400 B, more than the chip "
                                               r"capacity of 2000 B: use chips of at least 2400 B"):
        partitioning.solve(g, 2000, solver="first-fit")


def test_parameters_the_forward_never_reads_are_reported_apart():
    class WithAux(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.aux = nn.Linear(4, 3), nn.Linear(4, 5)      # aux: a training-only head

        def forward(self, x):
            return self.fc(x)

    system = il.partition(WithAux(), torch.zeros(1, 4), capacity=1024, solver="first-fit")
    assert system.placed_bytes == 2 * 15 and system.unused_bytes == 2 * 25
    assert system.placed_bytes + system.unused_bytes == system.params_bytes
    assert "50 B are parameters the traced forward never reads" in system.summary()
    assert system.as_dict()["unused_bytes"] == 50


def test_a_chips_recurrent_slice_owns_its_rows_of_every_gate():
    """The gather that picks a chip's rows is its private copy: the model's weights can change afterwards
    without changing the chip's, and the rows are those of every gate for its hidden units."""
    from illusion_torch.partitioning.recurrent import Recurrent, RecurrentSlice

    torch.manual_seed(0)
    H, n_in = 6, 5
    layer = Recurrent("lstm", nn.Parameter(torch.randn(4 * H, n_in)), nn.Parameter(torch.randn(4 * H, H)),
                      nn.Parameter(torch.randn(4 * H)), None)
    part = RecurrentSlice(layer, 2, 4)
    rows = [k * H + u for k in range(4) for u in (2, 3)]
    assert torch.equal(part.weight_ih, layer.weight_ih.detach()[rows])
    assert torch.equal(part.bias_ih, layer.bias_ih.detach()[rows]) and not part.weight_ih.requires_grad
    before = part.weight_hh.clone()
    with torch.no_grad():
        layer.weight_hh.add_(1.0)
        layer.weight_ih.zero_()
    assert torch.equal(part.weight_hh, before) and part.weight_ih.abs().sum() > 0
