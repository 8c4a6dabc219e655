"""illusion_torch: a network of small chips that behaves like one chip with a large memory.

Usage::

    import illusion_torch as il
    model = il.load("mnist")                        # the shipped fixed-point MNIST CNN
    x, y = il.data.load("mnist", split="test")
    il.metrics.accuracy(model, x, y)
    il.fixed.quantize(x, 8, 4)                      # bit-exact with qtorch's nearest rounding
    system = il.partition(model, x[:1], chips=8, capacity="512B")
    system(x)                                       # chip by chip: bit-identical logits
    report = system.run(x, y, preset="paper-testchip")   # accuracy, energy/time vs the ideal chip
    print(report.summary()); report.save("runs/mnist-8")
    il.preset("accelerator-28nm")                   # the hardware presets (il.PRESETS)

Importing compiles nothing and does not import qtorch (only training does). The pipeline, in order:
``fixed`` (formats, fixed-point layers, post-training quantization) → ``partitioning`` (trace, op table, mappers,
per-chip rewrite) → ``cost`` (presets, work profile, energy and time) → ``runtime`` (memory images, chip-by-chip
run) → ``wear`` (RRAM cells, remapping, lifetime) → ``report`` (the priced run, its figures) → ``system`` (the
callable result of ``partition``); ``models``, ``data``, ``metrics``, ``checkpoint``, ``train`` and ``paper``
around it; ``cli`` on top. ``tests/test_imports.py`` keeps the imports running that one way.
"""

from __future__ import annotations

from . import checkpoint, cost, data, fixed, metrics, models, partitioning, runtime
from .checkpoint import load
from .cost.hardware import PRESETS, ChipSpec, preset
from .errors import IllusionError
from .models import get_model, list_models, register_model
from .system import IllusionSystem, partition

__all__ = ["load", "partition", "IllusionSystem", "IllusionError", "preset", "PRESETS", "ChipSpec",
           "get_model", "list_models", "register_model", "checkpoint", "cost", "data", "fixed", "metrics",
           "models", "partitioning", "runtime", "__version__"]
__version__ = "0.2.0"
