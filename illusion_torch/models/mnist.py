"""The paper's MNIST CNN: four convolutions and one fully connected layer, 3,648 weight+bias bytes (int8).

Usage::

    from illusion_torch.models.mnist import MnistCNN
    logits = MnistCNN()(torch.zeros(1, 1, 28, 28))     # (1, 10)
"""

from __future__ import annotations

import torch
from torch import nn

from ..fixed import FixedPoint
from ..fixed.layers import QuantPoint
from ..workload import WorkloadConfig

__all__ = ["MnistCNN"]


class MnistCNN(nn.Module):
    """conv1 1→6 k5, pool2; conv2 6→6 k3; conv3 6→8 k3, pool2; conv4 8→24 k3; fc 96→10 (docs/paper.md)."""

    config = WorkloadConfig("mnist", input_shape=(1, 28, 28), num_classes=10, weight_format=FixedPoint(8, 4),
                            dataset="mnist")

    def __init__(self, act: tuple[int, int] = (8, 4), out: tuple[int, int] = (16, 8)) -> None:
        super().__init__()
        self.q_in = QuantPoint(*act)
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.q1 = QuantPoint(*act)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 6, 3)
        self.q2 = QuantPoint(*act)
        self.conv3 = nn.Conv2d(6, 8, 3)
        self.q3 = QuantPoint(*act)
        self.pool3 = nn.MaxPool2d(2)
        self.conv4 = nn.Conv2d(8, 24, 3)
        self.q4 = QuantPoint(*act)
        self.fc = nn.Linear(96, 10)
        self.q_out = QuantPoint(*out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q_in(x)
        x = self.pool1(self.q1(torch.relu(self.conv1(x))))      # 28 -> 24 -> 12
        x = self.q2(torch.relu(self.conv2(x)))                  # -> 10
        x = self.pool3(self.q3(torch.relu(self.conv3(x))))      # -> 8 -> 4
        x = self.q4(torch.relu(self.conv4(x)))                  # -> 2
        return self.q_out(self.fc(torch.flatten(x, 1)))
