"""The paper's dynamic D2NN on MNIST: a shared trunk N1, a gate Q, a big branch N2 and a small branch N3.

Usage::

    from illusion_torch.models.d2nn import D2NN
    model = D2NN()
    logits = model(torch.zeros(4, 1, 28, 28))          # each input through the branch its gate picks
    parts = model.forward_all(torch.zeros(4, 1, 28, 28))  # gate, route, n2, n3 logits

argmax(Q) = 0 runs N2, = 1 runs N3 (docs/paper.md). Byte counts: N1 240, Q 7,106, N2 19,686, N3 3,818.
"""

from __future__ import annotations

import torch
from torch import nn

from ..fixed import FixedPoint
from ..fixed.layers import QuantPoint
from ..workload import WorkloadConfig

__all__ = ["D2NN"]


def _fc(i: int, o: int, out: tuple[int, int], relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(i, o)]
    if relu:
        layers.append(nn.ReLU())
    layers.append(QuantPoint(*out))
    return nn.Sequential(*layers)


class D2NN(nn.Module):
    # the traced node whose per-input value picks the branch, and the modules that run only on that value
    # (the chips holding the other branch stay asleep for that input)
    config = WorkloadConfig("d2nn", input_shape=(1, 28, 28), num_classes=10, weight_format=FixedPoint(8, 4),
                            dataset="mnist", route_node="argmax", branches=(("n2", 0), ("n3", 1)))

    def __init__(self, act: tuple[int, int] = (8, 4), out: tuple[int, int] = (16, 8)) -> None:
        super().__init__()
        self.n1 = nn.Sequential(
            QuantPoint(*act),
            nn.Conv2d(1, 6, 5), nn.ReLU(), QuantPoint(*act), nn.MaxPool2d(4),      # 28 -> 24 -> 6
            nn.Conv2d(6, 12, 1), nn.ReLU(), QuantPoint(*act),                       # 12 x 6 x 6
        )
        self.q = nn.Sequential(
            nn.MaxPool2d(2), nn.Flatten(),                                           # 108
            _fc(108, 64, out, relu=True), _fc(64, 2, out, relu=False),
        )
        self.n2 = nn.Sequential(
            nn.Conv2d(12, 12, 3), nn.ReLU(), QuantPoint(*act),                      # 6 -> 4
            nn.Conv2d(12, 24, 3), nn.ReLU(), QuantPoint(*act), nn.Flatten(),        # 24 x 2 x 2 = 96
            _fc(96, 128, out, relu=True), _fc(128, 24, out, relu=True), _fc(24, 10, out, relu=False),
        )
        self.n3 = nn.Sequential(
            nn.MaxPool2d(2), nn.Flatten(),                                           # 108
            _fc(108, 32, out, relu=True), _fc(32, 10, out, relu=False),
        )

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every part's output: ``gate`` logits, ``route`` (0 = N2, 1 = N3), ``n2``, ``n3`` and ``logits``."""
        f = self.n1(x)
        gate = self.q(f)
        route = gate.argmax(dim=1)
        n2, n3 = self.n2(f), self.n3(f)
        logits = torch.where(route[:, None] == 0, n2, n3)
        return {"gate": gate, "route": route, "n2": n2, "n3": n3, "logits": logits}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)["logits"]
