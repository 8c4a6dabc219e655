"""The paper's SVHN CNN: three convolutions and three fully connected layers, 31,160 bytes (int8).

Usage::

    from illusion_torch.models.svhn import SvhnCNN
    logits = SvhnCNN()(torch.zeros(1, 3, 32, 32))      # (1, 10)
"""

from __future__ import annotations

import torch
from torch import nn

from ..fixed import FixedPoint
from ..fixed.layers import QuantPoint
from ..workload import WorkloadConfig

__all__ = ["SvhnCNN"]


class SvhnCNN(nn.Module):
    """conv1 3→18 p1, pool4; conv2 18→18 p1; conv3 18→24 p1, pool2; fc 384→52→60→10, no ReLU between FCs."""

    config = WorkloadConfig("svhn", input_shape=(3, 32, 32), num_classes=10, weight_format=FixedPoint(8, 4),
                            dataset="svhn")

    def __init__(self, act: tuple[int, int] = (8, 4), out: tuple[int, int] = (16, 8)) -> None:
        super().__init__()
        self.q_in = QuantPoint(*act)
        self.conv1 = nn.Conv2d(3, 18, 3, padding=1)
        self.q1 = QuantPoint(*act)
        self.pool1 = nn.MaxPool2d(4)
        self.conv2 = nn.Conv2d(18, 18, 3, padding=1)
        self.q2 = QuantPoint(*act)
        self.conv3 = nn.Conv2d(18, 24, 3, padding=1)
        self.q3 = QuantPoint(*act)
        self.pool3 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(384, 52)
        self.q_fc1 = QuantPoint(*out)
        self.fc2 = nn.Linear(52, 60)
        self.q_fc2 = QuantPoint(*out)
        self.fc3 = nn.Linear(60, 10)
        self.q_out = QuantPoint(*out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.q_in(x)
        x = self.pool1(self.q1(torch.relu(self.conv1(x))))      # 32 -> 8
        x = self.q2(torch.relu(self.conv2(x)))
        x = self.pool3(self.q3(torch.relu(self.conv3(x))))      # 8 -> 4
        x = self.q_fc1(self.fc1(torch.flatten(x, 1)))
        x = self.q_fc2(self.fc2(x))
        return self.q_out(self.fc3(x))
