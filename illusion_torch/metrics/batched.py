"""Accuracy of a model on a dataset, batched, without gradients.

Usage::

    from illusion_torch.metrics import accuracy, predict
    acc = accuracy(model, x, y)              # a fraction 0–1
    pred = predict(model, x)                 # argmax class per input
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import IllusionError
from ..runtime.batching import batches

__all__ = ["accuracy", "predict", "logits"]


@torch.no_grad()
def logits(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i:i + batch_size]) for i in batches(len(x), batch_size)])
    finally:
        model.train(was_training)


def predict(model: nn.Module, x: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    return logits(model, x, batch_size=batch_size).argmax(dim=1)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 1000) -> float:
    if len(x) != len(y):
        raise IllusionError(f"{len(x)} inputs but {len(y)} labels")
    if len(y) == 0:
        raise IllusionError("accuracy of an empty set is undefined; pass at least one sample")
    return float((predict(model, x, batch_size=batch_size) == y).float().mean())
