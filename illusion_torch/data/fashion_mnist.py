"""Fashion-MNIST (real, 70,000 images): Debian's ``dataset-fashion-mnist`` or torchvision's IDX files.

Usage::

    from illusion_torch.data.fashion_mnist import load_fashion_mnist
    x, y, meta = load_fashion_mnist("train")
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .cache import SourceMissing, cache_dir
from .mnist import read_idx_split

__all__ = ["load_fashion_mnist", "DEBIAN_DIR"]

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def load_fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray, dict]:
    root = cache_dir()
    dirs = [root / "fashion-mnist", root / "FashionMNIST" / "raw", DEBIAN_DIR]
    if os.environ.get("ILLUSION_FASHION_MNIST_DIR"):
        dirs.insert(0, Path(os.environ["ILLUSION_FASHION_MNIST_DIR"]))
    for folder in dirs:
        found = read_idx_split(folder, split)
        if found is not None:
            return found[0], found[1], {"dataset": "fashion-mnist", "synthetic": False,
                                        "source": f"Fashion-MNIST IDX files in {folder}"}
    raise SourceMissing("no Fashion-MNIST source: run `apt-get install dataset-fashion-mnist` "
                        f"(or put torchvision's FashionMNIST IDX files in {root / 'fashion-mnist'})")
