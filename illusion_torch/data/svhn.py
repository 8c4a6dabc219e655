"""SVHN: the real cropped-digit ``.mat`` files when present, else ``synth-digits`` (SYNTHETIC, rendered).

Usage::

    from illusion_torch.data.svhn import load_svhn
    x, y, meta = load_svhn("test")      # meta["dataset"] is "svhn" or "synth-digits"

Real files: ``train_32x32.mat`` / ``test_32x32.mat`` (torchvision's format: X (32, 32, 3, N), y with 10
for the digit 0) in ``$ILLUSION_SVHN_DIR``, ``<cache>/svhn`` or ``<cache>/SVHN``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import IllusionError
from . import synth_digits
from .cache import cache_dir, cached_npz

__all__ = ["load_svhn", "load_synth_digits", "read_svhn_mat"]


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels 0–9 from an SVHN ``.mat`` file."""
    import scipy.io

    mat = scipy.io.loadmat(path)
    if "X" not in mat or "y" not in mat:
        raise IllusionError(f"{path} is not an SVHN .mat file (needs variables X and y)")
    images = np.transpose(mat["X"], (3, 0, 1, 2)).astype(np.uint8)
    labels = mat["y"].reshape(-1).astype(np.int64) % 10
    return images, labels.astype(np.uint8)


def load_synth_digits(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The rendered split (cached once whole); ``limit`` renders only a prefix and does not cache."""
    size = synth_digits.SPLIT_SIZES[split]
    meta = {"dataset": "synth-digits", "synthetic": True,
            "source": f"SYNTHETIC synth-digits: rendered from {len(synth_digits.font_files())} system fonts "
                      f"(fingerprint {synth_digits.fonts_fingerprint()}), seed {synth_digits.SEED}; not SVHN"}
    if limit is not None and limit < size:
        images, labels = synth_digits.render_split(split, limit)
        return images, labels, meta
    path = cache_dir() / "synth-digits" / f"{split}-{size}-{synth_digits.fonts_fingerprint()}.npz"
    def build() -> dict[str, np.ndarray]:
        images, labels = synth_digits.render_split(split, size)
        return {"images": images, "labels": labels}

    arrays = cached_npz(path, build, ("images", "labels"))
    return arrays["images"], arrays["labels"], meta


def load_svhn(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    root = cache_dir()
    dirs = [root / "svhn", root / "SVHN"]
    if os.environ.get("ILLUSION_SVHN_DIR"):
        dirs.insert(0, Path(os.environ["ILLUSION_SVHN_DIR"]))
    for folder in dirs:
        path = folder / f"{split}_32x32.mat"
        if path.is_file():
            images, labels = read_svhn_mat(path)
            return images, labels, {"dataset": "svhn", "synthetic": False, "source": f"SVHN .mat {path}"}
    return load_synth_digits(split, limit)
