"""torchvision's ResNet-18 for Fashion-MNIST, with the rounding points QPyTorch trains through.

Usage::

    from illusion_torch.models.resnet18_fashion import ResNet18Fashion
    model = ResNet18Fashion()                       # untrained; ``il.load("resnet18-fashion")``: trained
    model(torch.zeros(2, 1, 28, 28)).shape          # (2, 10)

``torchvision.models.resnet18(num_classes=10)`` unchanged but for its first convolution, which reads one
channel; the ImageNet stem (7×7 stride 2, max pool) is kept, so 28 × 28 images shrink to 1 × 1 by the last
stage (11.2 M weights, about 37 M multiply-accumulates per image). Every ReLU is followed by a
``QuantPoint`` (the activations a chip stores), as are the input and the logits: FixedPoint(16, 8), the
ResNet-style CNN's activation format (``models.resnet``: residual sums outgrow 8 bits). Weights train to
FixedPoint(8, 7) (``OptimLP``): kaiming-initialised 3×3 convolutions of 256 and 512 channels have standard
deviations of 0.02–0.03, which (8, 6)'s step of 1/64 would round mostly to zero.
"""

from __future__ import annotations

import torch
from torch import nn

from ..fixed import FixedPoint
from ..fixed.layers import QuantPoint
from ..workload import WorkloadConfig

__all__ = ["ResNet18Fashion"]


class ResNet18Fashion(nn.Module):
    config = WorkloadConfig("resnet18-fashion", input_shape=(1, 28, 28), num_classes=10,
                            weight_format=FixedPoint(8, 7), dataset="fashion-mnist")

    def __init__(self, act: tuple[int, int] = (16, 8)) -> None:
        super().__init__()
        import torchvision.models as tvm

        net = tvm.resnet18(weights=None, num_classes=10)
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        net.relu = nn.Sequential(nn.ReLU(), QuantPoint(*act))
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
            for block in stage:
                block.relu = nn.Sequential(nn.ReLU(), QuantPoint(*act))   # used twice per block: both rounded
        self.q_in = QuantPoint(*act)
        self.net = net
        self.q_out = QuantPoint(*act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q_out(self.net(self.q_in(x)))
