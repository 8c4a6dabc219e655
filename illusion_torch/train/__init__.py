"""Training with QPyTorch: the shared loop, the recipe of every shipped checkpoint, the D2NN's two stages.

Usage::

    from illusion_torch.train import RECIPES, train
    meta = train(RECIPES["mnist"], out_dir="runs/checkpoints")    # writes mnist.pt and mnist.json

qtorch (a JIT-compiled extension) is imported only when training starts.
"""

from .d2nn import train_d2nn
from .loop import Recipe, float_accuracy, make_optimizer, run_epochs, shift_augment, train, use_qtorch_quantizers
from .recipes import RECIPES

__all__ = ["Recipe", "RECIPES", "train", "train_d2nn", "run_epochs", "make_optimizer", "use_qtorch_quantizers",
           "shift_augment", "float_accuracy"]
