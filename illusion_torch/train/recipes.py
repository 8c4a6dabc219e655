"""The training recipe of each shipped checkpoint, with where and why it departs from the paper's.

Usage::

    from illusion_torch.train.recipes import RECIPES
    RECIPES["mnist"].epochs        # the recipe `illusion train mnist` and training/train_mnist.py use

The paper's recipes (docs/paper.md) assume the full datasets and a GPU. Here the offline sets are smaller
(8,000 MNIST training digits) or synthetic, and the CPU has 2 cores, so: Adam where plain
OptimLP(SGD) with nearest-rounded weights did not learn (docs/paper.md's trials), OptimLP's float master copy
(its accumulator) so small updates are not rounded away, image shifts, and fewer epochs.
"""

from __future__ import annotations

from .loop import Recipe

__all__ = ["RECIPES"]

RECIPES: dict[str, Recipe] = {
    "mnist": Recipe(
        name="mnist", model="mnist", dataset="mnist", epochs=10, optimizer="adam", lr=1e-2, lr_step=3,
        lr_gamma=0.2, batch_size=64, shift=2,
        notes="paper: SGD m0.9 lr 0.1/0.01/0.001, 30 epochs, 60k digits; here Adam lr 0.01 + float master "
              "copy + ±2 px shifts, 10 epochs on 8k digits"),
    "svhn": Recipe(
        name="svhn", model="svhn", dataset="svhn", epochs=15, optimizer="adam", lr=2e-3, lr_step=6,
        lr_gamma=0.3, batch_size=128,
        notes="paper: SGD lr 0.01/0.001/0.0001 per 10 epochs, 30 epochs; here Adam + float master copy, "
              "15 epochs"),
    "kws": Recipe(
        name="kws", model="kws", dataset="speech-commands", epochs=45, optimizer="adam", lr=0.01, lr_step=15,
        lr_gamma=0.5, batch_size=128,
        notes="paper: Adam lr 0.01, StepLR(25, 0.7), 75 epochs; here StepLR(15, 0.5), 45 epochs"),
    "resnet": Recipe(
        name="resnet", model="resnet", dataset="fashion-mnist", epochs=8, optimizer="adam", lr=2e-3, lr_step=3,
        lr_gamma=0.3, batch_size=128, shift=1,
        notes="FixedPoint(8,6) weights, (16,8) activations; Adam + float master copy, ±1 px shifts"),
    "resnet18-fashion": Recipe(
        name="resnet18-fashion", model="resnet18-fashion", dataset="fashion-mnist", epochs=3, optimizer="adam",
        lr=1e-3, lr_step=2, lr_gamma=0.3, batch_size=128, shift=1,
        notes="torchvision ResNet-18 (1-channel stem), FixedPoint(8,7) weights, (16,8) activations after every "
              "ReLU; Adam + float master copy, ±1 px shifts, 3 epochs (2 CPU cores); deployed with batch norms "
              "folded and 16-bit per-tensor formats (training/train_resnet18_fashion.py)"),
    "d2nn": Recipe(
        name="d2nn", model="d2nn", dataset="mnist", epochs=12, optimizer="adam", lr=1e-2, lr_step=4,
        lr_gamma=0.2, batch_size=64, shift=2,
        notes="stage 1 (N1+N2+N3, loss 5·MSE(N2)+MSE(N3)): paper SGD 0.1, 20 epochs; here Adam lr 0.01, "
              "12 epochs + float master copy + shifts. Stage 2 (gate): λ=0.94 (paper 0.55), "
              "cost N2 0.2 / N3 1, both heads regressed (see train_d2nn.py)"),
}
