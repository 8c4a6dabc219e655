"""The second door: models torch.fx cannot trace are captured with torch.export, lifted back onto their own
layers (sharing the user's Parameters) and split exactly as the fx path's layers are."""

import json

import pytest
import torch
from torch import nn

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.fixed.quantized import fixed_point_version
from illusion_torch.partitioning.exported import ParamOp, RunDtype


def _capacity(model, x, chips, capture="auto"):
    g = partitioning.trace(model, x, capture=capture)
    return -(-g.weight_bytes * 5 // (4 * chips))


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


class Twin(nn.Module):
    """A plain-torch transformer: an embedding, two encoder layers, a linear head (both doors capture it)."""

    def __init__(self, vocab=200, d=32, heads=4, ff=64):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)

    def forward(self, x):
        return self.head(self.enc(self.emb(x)))


class ShapeBranch(nn.Module):
    """Python control flow on a traced shape (fx stops there; torch.export does not), a float32 island the
    model's own code makes, a cast that follows the model's dtype, and a norm's scale written out."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.scale = nn.Parameter(torch.rand(16) + 0.5)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        h = self.fc1(x)
        if h.shape[-1] != 16:                      # fx: a Proxy's shape cannot decide this branch
            raise ValueError("width")
        var = h.to(torch.float32).pow(2).mean(-1, keepdim=True)      # computed in float32 in any dtype
        h = h * torch.rsqrt(var + 1e-6).to(h.dtype)
        return self.fc2(torch.relu(self.scale * h))


def test_auto_falls_back_to_torch_export_and_is_exact_against_the_model_itself():
    torch.manual_seed(0)
    model = ShapeBranch().eval()
    x = torch.randn(1, 8)
    with pytest.raises(partitioning.TraceError):
        partitioning.trace(model, x, capture="fx")
    system = il.partition(model, x, chips=3, capacity=_capacity(model, x, 3), time_limit_s=5)
    assert system.graph.capture == "torch.export"
    assert "captured by torch.export" in system.summary().splitlines()[0]
    assert json.loads(json.dumps(system.as_dict()))["capture"] == "torch.export"
    kinds = {type(m) for m in system.graph.gm.modules()}
    assert nn.Linear in kinds and ParamOp in kinds and RunDtype in kinds
    xb = torch.randn(5, 8)                                  # a batch of any size after an example of one
    out = system(xb)
    assert out.dtype == torch.float64
    with torch.no_grad():
        ref = model.double()(xb.double())                   # the user's model itself, in float64
    model.float()
    assert _rel(out, ref) <= 1e-12
    assert system.placed_bytes == system.params_bytes       # every parameter placed


def test_lifted_layers_share_the_users_parameters():
    torch.manual_seed(0)
    model = ShapeBranch().eval()
    gm = partitioning.trace(model, torch.randn(1, 8)).gm
    mine = {p.data_ptr() for p in model.parameters()}
    theirs = list(gm.parameters())
    assert theirs and all(p.data_ptr() in mine for p in theirs)
    assert any(p is model.fc1.weight for p in theirs)        # the very Parameter, no copy


def test_exported_program_is_taken_directly():
    torch.manual_seed(0)
    model = ShapeBranch().eval()
    x = torch.randn(1, 8)
    ep = torch.export.export(model, (x,), strict=False)
    system = il.partition(ep, x, chips=2, capacity=_capacity(model, x, 2), time_limit_s=5)
    assert system.graph.capture == "torch.export"
    xb = torch.randn(3, 8)
    assert torch.equal(system(xb), system.reference(xb))
    with torch.no_grad():
        assert torch.allclose(system(xb).float(), model(xb), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("chips", [15, 64])
def test_torch_export_path_moves_at_most_a_quarter_more_bytes_than_fx_on_a_plain_twin(chips):
    torch.manual_seed(0)
    model = Twin().eval()
    x = torch.randint(0, 200, (1, 16))
    moved = {}
    for door in ("fx", "torch.export"):
        cap = _capacity(model, x, chips, door)
        system = il.partition(model, x, chips=chips, capacity=cap, time_limit_s=5, capture=door)
        assert system.graph.capture == door
        xb = torch.randint(0, 200, (2, 16))
        assert _rel(system(xb), system.reference(xb)) <= 1e-12
        moved[door] = system.inter_chip_bytes
    assert moved["torch.export"] <= 1.25 * moved["fx"], moved


def test_tied_weights_are_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 16)
            self.mid = nn.Linear(16, 16)
            self.head = nn.Linear(16, 50, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, x):
            h = self.mid(self.emb(x))
            if h.shape[1] > 100:
                h = h[:, :100]
            return self.head(h)

    model = Tied().eval()
    x = torch.randint(0, 50, (1, 6))
    system = il.partition(model, x, chips=4, capacity=_capacity(model, x, 4), time_limit_s=5)
    assert system.graph.capture == "torch.export"
    assert system.placed_bytes == system.params_bytes == (50 * 16 + 16 * 16 + 16) * 2
    xb = torch.randint(0, 50, (3, 6))
    assert _rel(system(xb), system.reference(xb)) <= 1e-12


def test_fixed_point_version_of_an_exported_model_is_bit_identical_chip_by_chip():
    torch.manual_seed(0)
    fixed = fixed_point_version(ShapeBranch().eval(), torch.randn(1, 8))
    x = torch.randn(1, 8)
    system = il.partition(fixed, x, chips=3, capacity=_capacity(fixed, x, 3), time_limit_s=5)
    xb = torch.randn(6, 8)
    assert torch.equal(system(xb), system.reference(xb))


def test_unknown_capture_is_refused():
    with pytest.raises(il.IllusionError, match="unknown capture 'export'.*'auto', 'fx', 'torch.export'"):
        partitioning.trace(nn.Linear(2, 2), torch.zeros(1, 2), capture="export")


def test_a_bound_default_still_read_inside_the_graph_runs_through_the_cost_profile():
    """timm's ViTs pass ``is_causal=False`` from forward to scaled_dot_product_attention: the bound value goes
    into the graph, so the per-chip programs (and the cost profile's shapes) need no extra input."""

    class Passes(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(6, 8), nn.Linear(8, 3)

        def forward(self, x, attn_mask=None, training=False):
            return self.fc2(nn.functional.dropout(self.fc1(x), 0.5, training=training))

    torch.manual_seed(0)
    model = Passes().eval()
    x = torch.randn(1, 6)
    system = il.partition(model, x, chips=2, capacity=_capacity(model, x, 2), time_limit_s=5)
    assert [n.op for n in system.graph.gm.graph.nodes].count("placeholder") == 1
    report = system.run(torch.randn(3, 6), preset="accelerator-28nm")
    assert report.mismatches == 0


class _Conv1dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 32, 3, padding=1)
        self.c2 = nn.Conv1d(32, 32, 5, stride=2, groups=4)
        self.fc = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).mean(-1))


def test_conv1d_is_lifted_as_a_conv2d_on_a_view_of_its_weight_and_split_exactly():
    """``aten.conv1d`` becomes the nn.Conv2d the op table splits, on a (1, k) view of the user's own weight;
    split over chips it is exact against the model itself."""
    torch.manual_seed(0)
    model = _Conv1dNet().eval()
    x = torch.randn(3, 4, 40)
    g = partitioning.trace(model, x[:1], capture="torch.export")
    c2 = g.gm.get_submodule("c2")
    assert isinstance(c2, nn.Conv2d) and c2.kernel_size == (1, 5) and c2.stride == (1, 2) and c2.groups == 4
    assert c2.weight.untyped_storage().data_ptr() == model.c2.weight.untyped_storage().data_ptr()
    system = il.partition(model, x[:1], chips=4, capacity=g.weight_bytes // 3, capture="torch.export",
                          time_limit_s=2)
    assert system.mapping.n_chips >= 3
    with torch.no_grad():
        ref = model.double()(x.double())
    model.float()
    assert ((system(x) - ref).abs().max() / ref.abs().max()).item() <= 1e-12
