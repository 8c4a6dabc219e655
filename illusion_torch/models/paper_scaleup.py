"""The scale-up simulator's VGG-16 and ResNet-50, counted as it counts them: weights only, no biases, 16-bit.

Usage::

    from illusion_torch.models.paper_scaleup import PaperVGG16, PaperResNet50
    PaperVGG16()(torch.zeros(1, 3, 224, 224)).shape         # (1, 1000); 138,344,128 weights
    PaperResNet50()(torch.zeros(1, 3, 224, 224)).shape      # (1, 1000); no projection shortcuts

docs/paper.md ("The scale-up simulator as released"): VGG-16 is 13 3×3 convolutions and 3 FC layers; ResNet-50
has **no projection shortcuts** — the block input is added as it is, and the first 1×1 convolution of a stage
carries the stride; fc 2048 → 1000. Where a stage's first block changes the shape, "as it is" needs a rule
that adds no weights: we take He et al.'s option A (ResNet, 2015, §4.1, the parameter-free identity shortcut):
the input subsampled by the stride and zero-padded to the block's output channels. No batch norms (the
simulator has none). Float models with seeded random weights (``torch.manual_seed`` before building).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..workload import WorkloadConfig

__all__ = ["PaperVGG16", "PaperResNet50"]

_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class PaperVGG16(nn.Module):
    """VGG-16 (configuration D): 13 conv 3×3 (pad 1) + ReLU, 5 max-pools, fc 512·7·7→4096→4096→1000."""

    config = WorkloadConfig("paper-vgg16", input_shape=(3, 224, 224), num_classes=1000, weights_only=True)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in _VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, int(v), 3, padding=1, bias=False), nn.ReLU()]
                c = int(v)
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(512 * 7 * 7, 4096, bias=False)
        self.fc2 = nn.Linear(4096, 4096, bias=False)
        self.fc3 = nn.Linear(4096, 1000, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


class Bottleneck(nn.Module):
    """1×1 (carries the stride) → 3×3 → 1×1 ×4, ReLUs, plus the block input as it is (option A where the shape
    changes: subsampled, zero-padded channels)."""

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 1, stride=stride, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.conv3 = nn.Conv2d(width, 4 * width, 1, bias=False)
        self.stride, self.pad = stride, 4 * width - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.pad:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.pad))
        return torch.relu(y + shortcut)


class PaperResNet50(nn.Module):
    """conv 7×7/2 → max-pool 3/2 → 3, 4, 6, 3 bottlenecks (width 64…512) → global average pool → fc 2048→1000."""

    config = WorkloadConfig("paper-resnet50", input_shape=(3, 224, 224), num_classes=1000, weights_only=True)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        blocks, c = [], 64
        for stage, (width, n) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3))):
            for i in range(n):
                blocks.append(Bottleneck(c, width, 2 if (i == 0 and stage > 0) else 1))
                c = 4 * width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, 1000, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.pool(torch.relu(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
