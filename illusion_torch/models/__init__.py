"""The model registry: the paper's workloads, a ResNet-style CNN, torchvision's large CNNs and today's models
(MobileNetV2, a MiniLM encoder, a character GPT) whose quantized checkpoints ``illusion_torch.load`` returns.

Usage::

    from illusion_torch import models
    model = models.get_model("mnist")        # a fresh, untrained MnistCNN
    models.list_models()                     # ['alexnet', 'd2nn', 'kws', 'mnist', ...]
    models.weight_bytes(model)               # 3648: weights + biases at the model's word size
    models.register_model("tiny", TinyNet)   # a name already taken is refused

``illusion_torch.load(name)`` returns the shipped, trained checkpoint instead.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from ..errors import IllusionError
from ..workload import WorkloadConfig, config_of
from .d2nn import D2NN
from .gpt import GPT
from .imagenet import ImageNetClassifier, mobilenet_v2
from .kws import KwsLSTM
from .minilm import MiniLM
from .mnist import MnistCNN
from .paper_alexnet import PaperAlexNet
from .paper_lstm_lm import PaperLstmLM, PaperLstmLMSequential
from .paper_scaleup import PaperResNet50, PaperVGG16
from .resnet import ResNetCNN
from .resnet18_fashion import ResNet18Fashion
from .smollm2 import smollm2
from .svhn import SvhnCNN

__all__ = ["get_model", "list_models", "register_model", "weight_bytes", "config_of", "WorkloadConfig",
           "MnistCNN", "SvhnCNN", "KwsLSTM", "D2NN", "ResNetCNN", "PaperAlexNet", "PaperVGG16",
           "PaperResNet50", "PaperLstmLM", "PaperLstmLMSequential", "GPT", "ImageNetClassifier", "MiniLM",
           "ResNet18Fashion"]

Builder = Callable[..., nn.Module]
_REGISTRY: dict[str, Builder] = {}


def register_model(name: str, builder: Builder) -> Builder:
    """Add a model builder under ``name``; a name already registered is refused (pick another)."""
    if not isinstance(name, str) or not name:
        raise IllusionError(f"a model name must be a non-empty string, got {name!r}")
    if name in _REGISTRY:
        raise IllusionError(f"a model is already registered as {name!r}; register yours under another name")
    _REGISTRY[name] = builder
    return builder


def list_models() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(_REGISTRY)


def get_model(name: str, **kwargs) -> nn.Module:
    """A new, untrained model by registry name; unknown names list the valid ones."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise IllusionError(f"unknown model {name!r}; valid names: {', '.join(list_models())}") from None
    return builder(**kwargs)


def _torchvision(name: str) -> Builder:
    def build() -> nn.Module:
        import torchvision.models as tvm

        return getattr(tvm, name)(weights=None)

    build.__doc__ = f"torchvision.models.{name}(weights=None), untrained"
    return build


_BUILDERS: dict[str, Builder] = {"mnist": MnistCNN, "svhn": SvhnCNN, "kws": KwsLSTM, "d2nn": D2NN, "resnet": ResNetCNN,
                        "paper-alexnet": PaperAlexNet, "paper-vgg16": PaperVGG16,
                        "paper-resnet50": PaperResNet50, "paper-lstm-lm": PaperLstmLM,
                        "paper-lstm-lm-sequential": PaperLstmLMSequential, "gpt": GPT,
                        "mobilenet_v2": mobilenet_v2, "minilm": MiniLM, "resnet18-fashion": ResNet18Fashion,
                        "smollm2": smollm2}
for _name, _builder in _BUILDERS.items():
    register_model(_name, _builder)
for _name in ("resnet18", "resnet50", "vgg16", "alexnet"):
    register_model(_name, _torchvision(_name))


def weight_bytes(model: nn.Module, word_bits: int | None = None) -> int:
    """Bytes of all weights and biases at the model's weight format (or ``word_bits``; default 16). A tensor
    tied to two modules (an LM head reading its embedding table) is counted once: the chips store it once
    (``partitioning.tied``)."""
    if word_bits is None:
        fmt = config_of(model).weight_format
        word_bits = fmt.wl if fmt is not None else 16
    per_value = (word_bits + 7) // 8
    return sum(p.numel() for p in model.parameters()) * per_value
