"""An ImageNet classifier that reads the project's image convention: pixels in [−1, 1].

Usage::

    from illusion_torch.models.imagenet import ImageNetClassifier, mobilenet_v2
    model = mobilenet_v2()                          # torchvision's architecture, untrained
    logits = model(torch.zeros(1, 3, 224, 224))     # (1, 1000)

Every dataset here comes as (pixel/255 − 0.5)/0.5; torchvision's ImageNet weights expect (pixel/255 − mean)/std.
``ImageNetClassifier`` maps one to the other with a per-channel scale and shift (two stored tensors, so the
chips compute exactly what the pretrained network expects) and runs the backbone.
"""

from __future__ import annotations

import torch
from torch import nn

from ..workload import WorkloadConfig

__all__ = ["ImageNetClassifier", "mobilenet_v2", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageNetClassifier(nn.Module):
    """x ∈ [−1, 1] → backbone((x/2 + 1/2 − mean)/std)."""

    def __init__(self, backbone: nn.Module, name: str) -> None:
        super().__init__()
        self.config = WorkloadConfig(name, input_shape=(3, 224, 224), num_classes=1000, dataset="openclipart")
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", 0.5 / std)
        self.register_buffer("shift", (0.5 - mean) / std)
        self.backbone = backbone

    scale: torch.Tensor
    shift: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x * self.scale + self.shift)


def mobilenet_v2() -> ImageNetClassifier:
    """torchvision's MobileNetV2 (untrained) behind the [−1, 1] input map."""
    import torchvision.models as tvm

    return ImageNetClassifier(tvm.mobilenet_v2(weights=None), "mobilenet_v2")
