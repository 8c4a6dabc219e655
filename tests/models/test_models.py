import pytest
import torch

import illusion_torch as il
from illusion_torch import models
from illusion_torch.fixed.layers import QLSTM, QuantPoint, float_mode, hard_sigmoid, hard_tanh, quant_points

# docs/paper.md's table: weight + bias bytes at int8
PAPER_BYTES = {"mnist": 3648, "svhn": 31160, "kws": 30011}
D2NN_PART_BYTES = {"n1": 240, "q": 7106, "n2": 19686, "n3": 3818}


@pytest.mark.parametrize("name, batch_shape, out", [
    ("mnist", (3, 1, 28, 28), (3, 10)),
    ("svhn", (3, 3, 32, 32), (3, 10)),
    ("kws", (3, 40, 10), (3, 11)),
    ("d2nn", (3, 1, 28, 28), (3, 10)),
    ("resnet", (3, 1, 28, 28), (3, 10)),
])
def test_forward_shapes(name, batch_shape, out):
    model = models.get_model(name)
    assert tuple(model.config.input_shape) == batch_shape[1:]
    assert model(torch.randn(batch_shape)).shape == out


def test_resnet_takes_32x32_colour_inputs():
    assert models.get_model("resnet", in_channels=3)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", sorted(PAPER_BYTES))
def test_weight_bytes_equal_the_papers_table(name):
    assert models.weight_bytes(models.get_model(name)) == PAPER_BYTES[name]


def test_d2nn_parts_have_the_papers_bytes():
    model = models.get_model("d2nn")
    for part, expected in D2NN_PART_BYTES.items():
        assert sum(p.numel() for p in getattr(model, part).parameters()) == expected


def test_kws_chip_slice_matches_paper():
    # docs/paper.md: chip k of 8 owns 10 hidden units with all four gates and the matching fc columns: 3,761 B
    from illusion_torch.partitioning.plan import piece_bytes
    from illusion_torch.partitioning.trace import trace

    g = trace(models.get_model("kws"), torch.zeros(1, 40, 10))
    lstm_slice = piece_bytes(g, "lstm", "out", 0, 10, with_bias=True)
    fc_columns = piece_bytes(g, "fc", "in", 70, 80, with_bias=True)
    assert (lstm_slice, fc_columns, lstm_slice + fc_columns) == (3640, 121, 3761)


def test_outputs_are_fixed_point():
    model = models.get_model("mnist")
    y = model(torch.randn(4, 1, 28, 28))
    assert torch.equal(il.fixed.quantize(y, 16, 8), y)


def test_d2nn_routes_each_input_through_its_gates_choice():
    model = models.get_model("d2nn").eval()
    parts = model.forward_all(torch.randn(16, 1, 28, 28))
    expected = torch.where(parts["gate"].argmax(1)[:, None] == 0, parts["n2"], parts["n3"])
    assert torch.equal(parts["logits"], expected)
    assert torch.equal(parts["route"], parts["gate"].argmax(1))


def test_hard_nonlinearities():
    x = torch.tensor([-10.0, -4.0, 0.0, 2.0, 4.0, 10.0])
    assert hard_sigmoid(x).tolist() == [0.0, 0.0, 0.5, 0.75, 1.0, 1.0]
    assert hard_tanh(x).tolist() == [-1.0, -1.0, 0.0, 1.0, 1.0, 1.0]


def test_lstm_quantization_points_have_the_papers_formats():
    lstm = QLSTM(10, 80)
    fmts = {n: (q.format.wl, q.format.fl) for n, q in lstm.named_modules() if isinstance(q, QuantPoint)}
    assert fmts == {"q_x": (8, 4), "q_h": (8, 4), "q_c_in": (8, 4), "q_gate": (8, 4), "q_pre": (16, 11),
                    "q_c_new": (16, 11)}
    assert models.get_model("kws").config.weight_format == il.fixed.FixedPoint(8, 7)


def test_lstm_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match=r"\(batch, time, 10\)"):
        QLSTM(10, 80)(torch.zeros(2, 10))


def test_float_mode_disables_and_restores_quant_points():
    model = models.get_model("mnist")
    x = torch.randn(2, 1, 28, 28)
    with float_mode(model):
        assert not any(q.enabled for q in quant_points(model))
        y_float = model(x)
    assert all(q.enabled for q in quant_points(model))
    assert not torch.equal(y_float, model(x))


def test_quant_point_has_straight_through_gradient():
    x = torch.tensor([0.01, 3.3, 100.0], requires_grad=True)
    QuantPoint(8, 4)(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.slow                  # imports qtorch
def test_qtorch_quantizer_and_ours_round_alike():
    from illusion_torch.train import use_qtorch_quantizers

    model = models.get_model("svhn")
    x = torch.randn(4, 3, 32, 32) * 3
    ours = model(x)
    use_qtorch_quantizers(model)
    try:
        theirs = model(x)
    finally:
        use_qtorch_quantizers(model, enable=False)
    assert torch.equal(ours, theirs)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*mnist"):
        models.get_model("lenet")


@pytest.mark.parametrize("name", ["resnet18", "alexnet"])
def test_torchvision_models_are_reachable(name):
    model = models.get_model(name)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    assert models.weight_bytes(model) == 2 * sum(p.numel() for p in model.parameters())


def test_large_torchvision_models_are_registered():
    assert {"resnet50", "vgg16"} <= set(models.list_models())
