"""illusion_torch: a network of small chips that behaves like one chip with a large memory.

Usage::

    import illusion_torch as il
    model = il.load("mnist")                        # the shipped fixed-point MNIST CNN
    x, y = il.data.load("mnist", split="test")
    il.evaluate.accuracy(model, x, y)
    il.fixed.quantize(x, 8, 4)                      # bit-exact with qtorch's nearest rounding

Importing compiles nothing and does not import qtorch (only training does).
"""

from __future__ import annotations

from . import checkpoint, data, evaluate, fixed, graph, layers, mapping, models, system
from .checkpoint import load
from .system import partition

__all__ = ["load", "partition", "checkpoint", "data", "evaluate", "fixed", "graph", "layers", "mapping", "models",
           "system", "__version__"]
__version__ = "0.1.0"
