"""The model registry: the paper's workloads, a ResNet-style CNN and torchvision's large CNNs.

Usage::

    from illusion_torch import models
    model = models.get("mnist")             # a fresh, untrained MnistCNN
    models.names()                          # ['alexnet', 'd2nn', 'kws', 'mnist', ...]
    models.weight_bytes(model)              # 3648: weights + biases at the model's word size

``illusion_torch.load(name)`` returns the shipped, trained checkpoint instead.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .d2nn import D2NN
from .kws import KwsLSTM
from .mnist import MnistCNN
from .paper_alexnet import PaperAlexNet
from .resnet import ResNetCNN
from .svhn import SvhnCNN

__all__ = ["get", "names", "register", "weight_bytes", "MnistCNN", "SvhnCNN", "KwsLSTM", "D2NN", "ResNetCNN",
           "PaperAlexNet"]


def _torchvision(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision.models as tvm

        return getattr(tvm, name)(weights=None)

    build.__doc__ = f"torchvision.models.{name}(weights=None), untrained"
    return build


_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "mnist": MnistCNN,
    "svhn": SvhnCNN,
    "kws": KwsLSTM,
    "d2nn": D2NN,
    "resnet": ResNetCNN,
    "paper-alexnet": PaperAlexNet,
    "resnet18": _torchvision("resnet18"),
    "resnet50": _torchvision("resnet50"),
    "vgg16": _torchvision("vgg16"),
    "alexnet": _torchvision("alexnet"),
}


def names() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(_REGISTRY)


def register(name: str, builder: Callable[..., nn.Module]) -> None:
    """Add a model builder under ``name`` (later issues register e.g. ``paper-alexnet``)."""
    _REGISTRY[name] = builder


def get(name: str, **kwargs) -> nn.Module:
    """A new, untrained model by registry name; unknown names list the valid ones."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(names())}") from None
    return builder(**kwargs)


def weight_bytes(model: nn.Module, word_bits: int | None = None) -> int:
    """Bytes of all weights and biases at the model's ``weight_format`` (or ``word_bits``; default 16)."""
    if word_bits is None:
        fmt = getattr(model, "weight_format", None)
        word_bits = fmt.wl if fmt is not None else 16
    per_value = (word_bits + 7) // 8
    return sum(p.numel() for p in model.parameters()) * per_value
