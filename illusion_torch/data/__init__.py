"""Datasets: real formats when present, offline sources on this machine; one call for all of them.

Usage::

    from illusion_torch import data
    x, y = data.load("mnist", split="test")             # x (N, 1, 28, 28) in [-1, 1], y (N,) int64
    x, y = data.load("svhn", "test", limit=256)         # real SVHN or, offline, SYNTHETIC synth-digits
    loader = data.loader("fashion-mnist", "train", batch_size=128, shuffle=True)
    data.describe("svhn")                               # {'dataset': 'synth-digits', 'synthetic': True, ...}

Images come normalized as the paper's ``Normalize(0.5, 0.5)``: (pixel/255 − 0.5)/0.5. Speech comes as
(N, 40, 10) MFCC frames. The cache lives outside git (``data.cache.cache_dir()``, ``$ILLUSION_CACHE``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from ..errors import IllusionError
from .cache import SourceMissing, cache_dir, set_cache_dir
from .clipart import load_clipart
from .fashion_mnist import load_fashion_mnist
from .mnist import load_mnist
from .sentences import load_sentences
from .sotu import load_sotu
from .sotu_tokens import load_sotu_smollm2
from .speech_commands import load_speech_commands, load_tts_commands
from .svhn import load_svhn, load_synth_digits

__all__ = ["load", "loader", "describe", "names", "SourceMissing", "cache_dir", "set_cache_dir"]

SPLITS = ("train", "test")


def _no_limit(fn: Callable) -> Callable:
    return lambda split, limit=None: fn(split)


_LOADERS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray, dict]]] = {
    "mnist": _no_limit(load_mnist),
    "fashion-mnist": _no_limit(load_fashion_mnist),
    "svhn": load_svhn,
    "synth-digits": load_synth_digits,
    "speech-commands": load_speech_commands,
    "tts-commands": load_tts_commands,
    "openclipart": load_clipart,
    "sotu": load_sotu,
    "sotu-smollm2": load_sotu_smollm2,
    "sentences": load_sentences,
}


def names() -> list[str]:
    return sorted(_LOADERS)


def _raw(name: str, split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray, dict]:
    if name not in _LOADERS:
        raise IllusionError(f"unknown dataset {name!r}; valid names: {', '.join(names())}")
    if split not in SPLITS:
        raise IllusionError(f"unknown split {split!r}; use 'train' or 'test'")
    if limit is not None and limit <= 0:
        raise IllusionError(f"limit must be a positive number of samples, got {limit}")
    return _LOADERS[name](split, limit=limit)


def _to_tensors(values: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.from_numpy(labels.astype(np.int64))
    if values.dtype == np.uint8:                     # images: (N, H, W) or (N, H, W, C)
        x = torch.from_numpy(values).float() / 255.0
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2).contiguous()
        return (x - 0.5) / 0.5, y
    if values.dtype.kind in "iu":                    # token ids
        return torch.from_numpy(values.astype(np.int64)), y
    return torch.from_numpy(values.astype(np.float32)), y


def load(name: str, split: str = "test", *, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and labels of ``split``; ``limit`` keeps the first ``limit`` samples (rendering only those)."""
    values, labels, _ = _raw(name, split, limit)
    if limit is not None:
        values, labels = values[:limit], labels[:limit]
    return _to_tensors(values, labels)


def describe(name: str, split: str = "test") -> dict:
    """Which dataset and source ``load(name, split)`` reads: keys dataset, source, synthetic."""
    _, _, meta = _raw(name, split, 1)
    return dict(meta)


def loader(name: str, split: str = "train", *, batch_size: int = 128, shuffle: bool | None = None,
           limit: int | None = None, seed: int = 0) -> DataLoader:
    """A DataLoader over ``load(name, split)``; shuffles the train split by default, seeded."""
    x, y = load(name, split, limit=limit)
    shuffle = (split == "train") if shuffle is None else shuffle
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed))
