"""The jobs behind the ``illusion`` command, as functions: pick a workload, its inputs and its capacity.

Usage::

    from illusion_torch.jobs import job, capacity_for
    j = job("mnist", limit=500)          # the shipped checkpoint and its test split
    j = job("resnet18", limit=4)         # an untrained registry model on SYNTHETIC seeded random inputs
    capacity_for(j, chips=8)             # the paper's per-chip memory for MNIST on 8 chips: 512

A trained checkpoint runs on its own test split; any other registered model runs untrained on seeded
random-normal inputs of its config's input shape, named SYNTHETIC, with no accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from . import checkpoint, models
from .paper import default_capacity
from .units import parse_bytes
from .workload import config_of

__all__ = ["Job", "job", "capacity_for", "UNTRAINED_INPUTS"]

UNTRAINED_INPUTS = 4            # random inputs an untrained model runs by default


@dataclass
class Job:
    """A model and the inputs a command runs it on."""

    name: str
    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor | None      # None: untrained, random inputs
    dataset: str
    synthetic: bool

    @property
    def trained(self) -> bool:
        return self.y is not None


def job(name: str, *, limit: int | None = None) -> Job:
    """The shipped checkpoint ``name`` on its test split, else the registry's untrained model on random inputs."""
    if name in checkpoint.available():
        ck = checkpoint.record(name)
        model = checkpoint.load(name)
        x, y = ck.test_data(limit=limit)
        return Job(name, model, x, y, ck.dataset, ck.synthetic)
    model = models.get_model(name).eval()
    shape = config_of(model).input_shape
    x = torch.randn(limit or UNTRAINED_INPUTS, *shape, generator=torch.Generator().manual_seed(0))
    return Job(name, model, x, None, "random-normal", True)


def capacity_for(w: Job, chips: int, capacity: str | int | None = None) -> int:
    """``capacity`` in bytes, or the shared default rule (``paper.default_capacity``) for ``chips`` chips."""
    if capacity is not None:
        return parse_bytes(capacity)
    return default_capacity(w.name, chips, models.weight_bytes(w.model))
