"""Shipped checkpoints — ``checkpoints/<name>.pt`` (weights) beside ``<name>.json`` (what they were trained
on) — and the one place a trained model's name becomes the model (``load``).

Usage::

    import illusion_torch as il
    model = il.load("mnist")                     # trained fixed-point MnistCNN, eval mode
    ck = il.checkpoint.record("mnist")           # a Checkpoint: dataset, source, sizes, accuracies, recipe, …
    x, y = ck.test_data(limit=500)               # the test split it was measured on
    ck.meta                                      # the whole JSON

The directory is ``$ILLUSION_CHECKPOINTS`` or the repository's ``checkpoints/``. Loading checks that the
weights sit on the model's fixed-point grid, so a float or corrupt file cannot pass silently. Writes are
atomic: a checkpoint is written under a temporary name and renamed, so an interrupted save leaves the old
files whole.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ..fixed import quantize
from ..pretrained.quantize import load_quantized
from ..workload import config_of
from .files import (
    Checkpoint,
    CheckpointError,
    available,
    checkpoint_dir,
    metadata,
    read_weights,
    record,
    save_checkpoint,
    state_of,
)

__all__ = ["load", "Checkpoint", "record", "save_checkpoint", "read_weights", "state_of", "metadata",
           "checkpoint_dir", "available", "CheckpointError"]


def load(name: str, directory: str | os.PathLike | None = None) -> nn.Module:
    """The trained model ``name`` in eval mode, weights verified to be fixed point. A post-training quantized
    checkpoint (its JSON has ``quantization``) is rebuilt from its float weights — fetched pretrained ones or
    ``<name>.pt`` — and the formats its JSON records."""
    ck = record(name, directory)
    if "quantization" in ck.meta:
        return load_quantized(name, ck.meta, directory).eval()
    path = ck.path
    model = read_weights(path, ck.model, f"retrain with `illusion train {name}`")
    fmt = config_of(model).weight_format
    if fmt is not None:
        for pname, p in model.named_parameters():
            if not torch.equal(quantize(p.detach(), fmt.wl, fmt.fl), p.detach()):
                raise CheckpointError(f"{path}: parameter {pname} is not on the {fmt} grid; the file is not "
                                      f"a fixed-point checkpoint of {ck.model}")
    return model.eval()
