"""illusion_torch: a network of small chips that behaves like one chip with a large memory.

Usage::

    import illusion_torch as il
    model = il.load("mnist")                        # the shipped fixed-point MNIST CNN
    x, y = il.data.load("mnist", split="test")
    il.evaluate.accuracy(model, x, y)
    il.fixed.quantize(x, 8, 4)                      # bit-exact with qtorch's nearest rounding
    system = il.partition(model, x[:1], chips=8, capacity="512B")
    report = system.run(x, y, preset="paper-testchip")   # chip by chip: accuracy, energy/time vs ideal chip
    print(report.summary()); report.save("runs/mnist-8")
    il.preset("accelerator-28nm")                   # the hardware presets (il.PRESETS)

Importing compiles nothing and does not import qtorch (only training does).
"""

from __future__ import annotations

from . import checkpoint, data, evaluate, fixed, graph, hardware, layers, mapping, models, system
from .checkpoint import load
from .hardware import PRESETS, ChipSpec, preset
from .system import partition

__all__ = ["load", "partition", "preset", "PRESETS", "ChipSpec", "checkpoint", "data", "evaluate", "fixed",
           "graph", "hardware", "layers", "mapping", "models", "system", "__version__"]
__version__ = "0.1.0"
