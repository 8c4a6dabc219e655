"""The jobs behind the ``illusion`` command, as functions: pick a workload, its inputs and its capacity.

Usage::

    from illusion_torch.jobs import job, capacity_for
    j = job("mnist", limit=500)          # the shipped checkpoint and its test split
    j = job("resnet18", limit=4)         # an untrained registry model on SYNTHETIC seeded random inputs
    j = job("torchvision:mobilenet_v3_small", input_shape=(3, 64, 64))   # any torchvision classifier
    j = job("mypkg.nets:build", weights="net.pt")                         # your factory and its state dict
    j = job("mypkg.nets:tagger", input_shape=(12,), vocab=1000)          # token ids in [0, 1000)
    capacity_for(j, chips=8)             # the paper's per-chip memory for MNIST on 8 chips: 512

A trained checkpoint runs on its own test split. A post-training quantized one (``mobilenet_v2``, ``minilm``,
``gpt``, ``resnet18-fashion``) also carries ``metric``, bound to its float model's outputs on the same
inputs; for an ImageNet classifier ``y`` is the float model's top-1 class (the images have no labels), so
accuracy reads as agreement with the float model. Any other model runs on seeded random inputs — normal
values of ``input_shape`` (default: the model's config, else 3×224×224), or token ids below ``vocab`` — named
SYNTHETIC, with no accuracy.
"""

from __future__ import annotations

import importlib
import os
import pickle
from dataclasses import dataclass

import torch
from torch import nn

from . import checkpoint, models
from .errors import IllusionError
from .metrics import Metric
from .paper import default_capacity
from .units import parse_bytes
from .workload import config_of

__all__ = ["Job", "job", "build_model", "capacity_for", "UNTRAINED_INPUTS"]

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
    metric: Metric | None = None      # a post-training quantized checkpoint's quality measure
    labels: str = "labels"            # what ``y`` holds: "labels" or "float-model top-1"

    @property
    def trained(self) -> bool:
        return self.y is not None


def build_model(spec: str, weights: str | os.PathLike | None = None) -> nn.Module:
    """A model from ``spec``: a registry name, ``torchvision:NAME`` or ``package.module:factory``; with
    ``weights``, a state dict loaded strictly."""
    if spec.startswith("torchvision:"):
        import torchvision.models as tvm

        name = spec.split(":", 1)[1]
        if name not in tvm.list_models(module=tvm):
            raise IllusionError(f"torchvision has no classifier {name!r}; see torchvision.models.list_models()")
        model = tvm.get_model(name, weights=None)
    elif ":" in spec:
        module_name, factory = spec.split(":", 1)
        try:
            made = getattr(importlib.import_module(module_name), factory)()
        except (ImportError, AttributeError) as e:
            raise IllusionError(f"cannot build {spec!r} ({type(e).__name__}: {e}); give package.module:factory, "
                                f"a callable that returns an nn.Module, importable from here") from None
        if not isinstance(made, nn.Module):
            raise IllusionError(f"{spec} returned {type(made).__name__}, not an nn.Module")
        model = made
    else:
        model = models.get_model(spec)
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except (OSError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise IllusionError(f"cannot load the weights {weights} into {spec}: {first}") from None
    return model.eval()


def job(name: str, *, limit: int | None = None, input_shape: tuple[int, ...] | None = None,
        vocab: int | None = None, weights: str | os.PathLike | None = None) -> Job:
    """The shipped checkpoint ``name`` on its test split (on random inputs when ``input_shape`` or ``vocab`` is
    given), else the model ``name`` (see ``build_model``) on seeded random inputs."""
    if name in checkpoint.available() and weights is None:
        model = checkpoint.load(name)
        if input_shape is None and vocab is None:
            ck = checkpoint.record(name)
            x, y = ck.test_data(limit=limit)
            if "quantization" not in ck.meta:
                return Job(name, model, x, y, ck.dataset, ck.synthetic)
            from .pretrained.quantize import task_metric

            metric = task_metric(name, x, y)
            if metric.kind == "agreement":
                return Job(name, model, x, metric.float_outputs.argmax(1), ck.dataset, ck.synthetic, metric,
                           "float-model top-1")
            if metric.kind == "accuracy":
                return Job(name, model, x, y, ck.dataset, ck.synthetic, metric)
            return Job(name, model, x, None, ck.dataset, ck.synthetic, metric)
    else:
        model = build_model(name, weights)
    shape = input_shape or config_of(model).input_shape
    gen = torch.Generator().manual_seed(0)
    n = limit or UNTRAINED_INPUTS
    vocab = vocab or config_of(model).vocab_size
    if vocab is not None:
        return Job(name, model, torch.randint(0, vocab, (n, *shape), generator=gen), None, "random-tokens", True)
    return Job(name, model, torch.randn(n, *shape, generator=gen), None, "random-normal", True)


def capacity_for(w: Job, chips: int, capacity: str | int | None = None) -> int:
    """``capacity`` in bytes, or the shared default rule (``paper.default_capacity``) for ``chips`` chips."""
    if capacity is not None:
        return parse_bytes(capacity)
    return default_capacity(w.name, chips, models.weight_bytes(w.model))
