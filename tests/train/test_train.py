"""A tiny real training run: QPyTorch optimizer, checkpoint + JSON written, resumable."""

import json

import pytest
import torch
import torch.nn.functional as F

import illusion_torch as il
from illusion_torch.train import Recipe, make_optimizer, run_epochs, shift_augment, train

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration


def _idx_data(cache):
    import numpy as np

    from illusion_torch.data.idx import write_idx

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=200, dtype=np.uint8)
    images = np.zeros((200, 28, 28), dtype=np.uint8)
    for i, lab in enumerate(labels):              # a learnable toy: the label picks a bright row
        images[i, 2 + 2 * lab] = 255
    (cache / "mnist").mkdir(parents=True)
    for prefix in ("train", "t10k"):
        write_idx(cache / "mnist" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(cache / "mnist" / f"{prefix}-labels-idx1-ubyte", labels)


def test_training_writes_checkpoint_and_json(empty_cache, tmp_path):
    _idx_data(empty_cache)
    recipe = Recipe(name="mnist", model="mnist", dataset="mnist", epochs=2, lr=1e-2, batch_size=50)
    out = tmp_path / "ckpt"
    meta = train(recipe, out_dir=out)
    saved = json.loads((out / "mnist.json").read_text())
    assert saved["test_accuracy"] == meta["test_accuracy"] and saved["train_size"] == 200
    assert saved["dataset"] == "mnist" and saved["recipe"]["epochs"] == 2
    assert not (out / "mnist.state.pt").exists()
    model = il.checkpoint.load("mnist", out)        # weights are on the FixedPoint(8,4) grid
    assert il.metrics.accuracy(model, *il.data.load("mnist", "test")) == saved["test_accuracy"]



def test_training_resumes_from_the_saved_state(empty_cache, tmp_path, capsys):
    _idx_data(empty_cache)
    out = tmp_path / "ckpt"
    out.mkdir()
    model = il.models.get_model("mnist")
    x, y = il.data.load("mnist", "train")
    two = Recipe(name="mnist", model="mnist", dataset="mnist", epochs=2, lr=1e-2, batch_size=50)
    run_epochs(model, two, lambda m, xb, yb: F.cross_entropy(m(xb), yb), x, y, out / "mnist.state.pt")
    capsys.readouterr()
    train(Recipe(name="mnist", model="mnist", dataset="mnist", epochs=3, lr=1e-2, batch_size=50), out_dir=out)
    err = capsys.readouterr().err
    assert "resuming mnist at epoch 2" in err
    assert "mnist epoch 3:" in err and "mnist epoch 1:" not in err
    assert not (out / "mnist.state.pt").exists()


def test_resume_refuses_a_state_from_another_recipe(empty_cache, tmp_path):
    _idx_data(empty_cache)
    model = il.models.get_model("mnist")
    x, y = il.data.load("mnist", "train")
    one = Recipe(name="mnist", model="mnist", dataset="mnist", epochs=1, lr=1e-2, batch_size=50)
    run_epochs(model, one, lambda m, xb, yb: F.cross_entropy(m(xb), yb), x, y, tmp_path / "mnist.state.pt")
    other = Recipe(name="mnist", model="mnist", dataset="mnist", epochs=2, lr=5e-3, batch_size=50)
    with pytest.raises(ValueError, match="different recipe; delete it"):
        train(other, out_dir=tmp_path)


def test_optimizer_keeps_float_master_and_fixed_point_weights():
    model = il.models.get_model("mnist")
    opt, _ = make_optimizer(model, Recipe(name="m", model="mnist", dataset="mnist", epochs=1, lr=1e-3))
    x = torch.randn(8, 1, 28, 28)
    for _ in range(3):
        opt.zero_grad()
        (model(x).square().mean() * 1000).backward()
        opt.step()
    for p in model.parameters():
        assert torch.equal(il.fixed.quantize(p.detach(), 8, 4), p.detach())
        master = opt.weight_acc[p]
        assert torch.equal(il.fixed.quantize(master, 8, 4), p.detach())
    assert any(not torch.equal(il.fixed.quantize(opt.weight_acc[p], 8, 4), opt.weight_acc[p])
               for p in model.parameters())


def test_shift_augment_translates_images():
    g = torch.Generator().manual_seed(0)
    x = torch.full((4, 1, 6, 6), -1.0)
    x[:, 0, 2, 3] = 1.0
    y = shift_augment(x, 2, g)
    assert y.shape == x.shape and (y == 1.0).sum() <= 4 and set(y.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(shift_augment(x, 0, g), x)
    moved = [tuple((img[0] == 1.0).nonzero()[0].tolist()) for img in y if (img == 1.0).any()]
    assert all(abs(r - 2) <= 2 and abs(c - 3) <= 2 for r, c in moved)
