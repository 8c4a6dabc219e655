"""The shipped checkpoints: what their JSON records, and a fast re-check of accuracy on a test subset."""

import shutil

import pytest
import torch

import illusion_torch as il
from illusion_torch.checkpoint import CheckpointError, checkpoint_dir

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration

# issue targets: fixed-point test accuracy (fraction) on each checkpoint's own test split
TARGETS = {"mnist": 0.97, "d2nn": 0.94, "svhn": 0.90, "kws": 0.85, "resnet": 0.90}
SUBSET = {"mnist": None, "d2nn": None, "svhn": 1000, "kws": None, "resnet": 2000}
PAPER_BYTES = {"mnist": 3648, "svhn": 31160, "kws": 30011, "d2nn": 240 + 7106 + 19686 + 3818}
SHIPPED = sorted(p.stem for p in checkpoint_dir().glob("*.json"))
LABELLED = [n for n in SHIPPED if n in TARGETS]
# post-training quantized (test_today_models)
QUANTIZED = {"mobilenet_v2", "minilm", "gpt", "resnet18-fashion", "smollm2"}


def test_every_workload_has_a_shipped_checkpoint():
    assert set(TARGETS) <= set(SHIPPED) <= set(TARGETS) | QUANTIZED
    assert all("quantization" in il.checkpoint.record(n).meta for n in set(SHIPPED) - set(TARGETS))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_record_reads_and_names_its_data(name):
    ck = il.checkpoint.record(name)
    assert ck.name == name and ck.data_key in il.data.names()
    assert ck.synthetic == il.data.describe(ck.data_key)["synthetic"]      # what the loader really reads


def test_d2nn_gate_sends_few_images_to_the_big_branch(shipped):
    model, x, y = shipped("d2nn", None)
    with torch.no_grad():
        parts = model.forward_all(x)
    assert float((parts["route"] == 0).double().mean()) <= 0.30                # measured, not read from JSON
    assert float((parts["n2"].argmax(1) == y).double().mean()) >= 0.97


@pytest.mark.parametrize("name", LABELLED)
def test_shipped_checkpoint_accuracy_on_a_test_subset(shipped, name):
    model, x, y = shipped(name, SUBSET[name])
    acc = il.metrics.accuracy(model, x, y)
    assert acc >= TARGETS[name] - 0.03, f"{name}: {acc:.4f} on {len(y)} test samples"
    if name in PAPER_BYTES:
        assert il.models.weight_bytes(model) == PAPER_BYTES[name]


def test_loaded_weights_are_on_the_fixed_point_grid():
    model = il.load("mnist")
    for p in model.parameters():
        assert torch.equal(il.fixed.quantize(p.detach(), 8, 4), p.detach())


def _copy(name, tmp_path):
    for ext in ("pt", "json"):
        shutil.copy(checkpoint_dir() / f"{name}.{ext}", tmp_path / f"{name}.{ext}")


def test_missing_checkpoint_names_the_train_command(tmp_path):
    with pytest.raises(CheckpointError, match="illusion train mnist"):
        il.checkpoint.load("mnist", tmp_path)
    with pytest.raises(CheckpointError, match="shipped: ") as e:
        il.load("nothing")
    assert "illusion train" not in str(e.value)          # no recipe of that name to suggest


def test_corrupt_weights_file_is_reported(tmp_path):
    _copy("mnist", tmp_path)
    (tmp_path / "mnist.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        il.checkpoint.load("mnist", tmp_path)


def test_corrupt_json_is_reported(tmp_path):
    _copy("mnist", tmp_path)
    (tmp_path / "mnist.json").write_text("{")
    with pytest.raises(CheckpointError, match="corrupt"):
        il.checkpoint.load("mnist", tmp_path)


def test_float_weights_are_not_accepted_as_fixed_point(tmp_path):
    _copy("mnist", tmp_path)
    blob = torch.load(tmp_path / "mnist.pt", weights_only=True)
    blob["state_dict"]["fc.weight"] = blob["state_dict"]["fc.weight"] + 0.01
    torch.save(blob, tmp_path / "mnist.pt")
    with pytest.raises(CheckpointError, match="not on the FixedPoint"):
        il.checkpoint.load("mnist", tmp_path)


def test_model_options_travel_with_the_checkpoint(tmp_path):
    model = il.models.get_model("resnet", act=(8, 3))
    il.fixed.layers.quantize_weights(model)
    meta = {"name": "r", "model": "resnet", "dataset": "fashion-mnist", "synthetic": False, "source": "test",
            "test_accuracy": 0.0, "weight_bytes": il.models.weight_bytes(model),
            "recipe": {"dataset": "fashion-mnist", "model_kwargs": {"act": (8, 3)}}}
    il.checkpoint.save_checkpoint(model, meta, tmp_path)
    loaded = il.checkpoint.load("r", tmp_path)
    assert loaded.q_stem.format == il.fixed.FixedPoint(8, 3)
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(loaded(x), model.eval()(x))
