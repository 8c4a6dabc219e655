"""The paper's keyword-spotting LSTM: 80 hidden units over 40 frames of 10 features, fc 80→11; 30,011 bytes.

Usage::

    from illusion_torch.models.kws import KwsLSTM
    logits = KwsLSTM()(torch.zeros(1, 40, 10))          # (1, 11): 10 keywords + unknown
"""

from __future__ import annotations

import torch
from torch import nn

from ..fixed import FixedPoint
from ..fixed.layers import QLSTM, QuantPoint
from ..workload import WorkloadConfig

__all__ = ["KwsLSTM"]


class KwsLSTM(nn.Module):
    """QLSTM(10, 80) with hard sigmoid/tanh, then fc 80→11 on the last h (docs/paper.md formats)."""

    config = WorkloadConfig("kws", input_shape=(40, 10), num_classes=11, weight_format=FixedPoint(8, 7),
                            dataset="speech-commands")

    def __init__(self, features: int = 10, hidden: int = 80, classes: int = 11,
                 out: tuple[int, int] = (16, 8)) -> None:
        super().__init__()
        self.lstm = QLSTM(features, hidden)
        self.fc = nn.Linear(hidden, classes)
        self.q_out = QuantPoint(*out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q_out(self.fc(self.lstm(x)))
