"""The AlexNet of the paper's scale-up simulator: no groups, conv/fc weights only, no biases (docs/paper.md).

Usage::

    from illusion_torch.models.paper_alexnet import PaperAlexNet
    PaperAlexNet()(torch.zeros(1, 3, 227, 227)).shape      # (1, 1000); 62,367,776 weights ≈ 118.9 MiB at 16 bit
"""

from __future__ import annotations

import torch
from torch import nn

from ..workload import WorkloadConfig

__all__ = ["PaperAlexNet"]


class PaperAlexNet(nn.Module):
    """conv1 3→96 k11 s4 (55×55), conv2 96→256 k5 (27), conv3 256→384, conv4 384→384, conv5 384→256 k3 (13),
    fc 256·6·6→4096→4096→1000. Float; weights counted at 16 bit."""

    config = WorkloadConfig("paper-alexnet", input_shape=(3, 227, 227), num_classes=1000, weights_only=True)

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4, bias=False)
        self.pool1 = nn.MaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, bias=False)
        self.pool2 = nn.MaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1, bias=False)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, bias=False)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, bias=False)
        self.pool5 = nn.MaxPool2d(3, 2)
        self.fc1 = nn.Linear(256 * 6 * 6, 4096, bias=False)
        self.fc2 = nn.Linear(4096, 4096, bias=False)
        self.fc3 = nn.Linear(4096, 1000, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(torch.relu(self.conv1(x)))               # 55 -> 27
        x = self.pool2(torch.relu(self.conv2(x)))               # 27 -> 13
        x = torch.relu(self.conv3(x))
        x = torch.relu(self.conv4(x))
        x = self.pool5(torch.relu(self.conv5(x)))               # 13 -> 6
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)
