"""Post-training quantization: per-tensor fixed-point formats chosen from the tensors and from activation
statistics on real calibration inputs.

Usage::

    from illusion_torch.fixed.ptq import post_training_quantize
    fixed = post_training_quantize(float_model, calibration_images, weight_bits=16, activation_bits=16)
    # for the shipped MobileNetV2 (checkpoints/mobilenet_v2.json):
    fixed.formats.activations["backbone_features_0_0"]        # FixedPoint(16, 12): from the largest |x| seen
    fixed.formats.weights["backbone.features.1.conv.0.0.weight"]  # FixedPoint(16, 11): from the largest |w|
    again = post_training_quantize(float_model, x[:1], formats=fixed.formats)   # the same model, no statistics

The model is traced as the partition pass traces it, batch norms that follow a convolution are folded into
it (``torch.nn.utils.fusion.fuse_conv_bn_eval``), and then, as in ``quantized.fixed_point_version``, every
stored tensor is rounded and a ``QuantPoint`` follows the input and every op that computes a float value — but
each with its own format: the most fractional bits for which the tensor's largest magnitude (for an
activation: the largest over every calibration input) fits in the word. All formats share one word length per
kind (``weight_bits`` for stored tensors, ``activation_bits`` for computed values), so memory is counted as
for any fixed-point model; the model's ``WorkloadConfig`` says ``per_tensor_formats`` and the memory images
read each tensor's codes at its own format (``fixed.grid_fl``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import IllusionError
from ..partitioning.trace import traced
from ..workload import WorkloadConfig, config_of
from . import FixedPoint, quantize
from .layers import QuantPoint
from .quantized import insert_points, rounding_nodes

__all__ = ["Formats", "formats_of", "post_training_quantize", "fitting_format", "fold_batch_norms", "calibrate"]


@dataclass(frozen=True)
class Formats:
    """Per-tensor formats of a quantized model: stored tensors by their name in the traced graph, computed
    values by the name of the node that makes them."""

    weights: dict[str, FixedPoint]
    activations: dict[str, FixedPoint]

    def as_dict(self) -> dict:
        """JSON-ready: ``{"weights": {name: [wl, fl]}, "activations": {node: [wl, fl]}}``."""
        return {kind: {k: [f.wl, f.fl] for k, f in getattr(self, kind).items()}
                for kind in ("weights", "activations")}

    @classmethod
    def from_dict(cls, d: dict) -> Formats:
        try:
            return cls(*({k: FixedPoint(int(v[0]), int(v[1])) for k, v in d[kind].items()}
                         for kind in ("weights", "activations")))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise IllusionError(f"a formats record needs 'weights' and 'activations' maps of name → [wl, fl] "
                                f"({type(e).__name__}: {e})") from None


def formats_of(model: nn.Module) -> Formats:
    """The ``Formats`` a post-training quantized model carries."""
    formats = getattr(model, "formats", None)
    if not isinstance(formats, Formats):
        raise IllusionError(f"{type(model).__name__} carries no formats: make it with post_training_quantize")
    return formats


def fitting_format(max_abs: float, wl: int) -> FixedPoint:
    """The FixedPoint(wl, fl) with the most fractional bits (at most wl − 1) whose range holds ``max_abs``.

    >>> fitting_format(3.5, 8), fitting_format(4.0, 8), fitting_format(0.3, 8), fitting_format(1e6, 8)
    (FixedPoint(wl=8, fl=5), FixedPoint(wl=8, fl=4), FixedPoint(wl=8, fl=7), FixedPoint(wl=8, fl=0))
    """
    if not math.isfinite(max_abs):
        raise IllusionError(f"a tensor's largest magnitude is {max_abs}: the float model computes inf or nan on "
                            f"the calibration inputs; check them (and the model) before quantizing")
    int_bits = math.floor(math.log2(max_abs)) + 1 if max_abs > 0 else 0
    return FixedPoint(wl, min(wl - 1, max(0, wl - 1 - int_bits)))


def fold_batch_norms(gm: fx.GraphModule) -> int:
    """Fold every eval-mode batch norm that alone reads a convolution's output into that convolution (in
    place); returns how many were folded."""
    modules = dict(gm.named_modules())
    folded = 0
    for node in list(gm.graph.nodes):
        bn = modules.get(str(node.target)) if node.op == "call_module" else None
        if not isinstance(bn, nn.BatchNorm2d) or not node.args or not isinstance(node.args[0], fx.Node):
            continue
        src = node.args[0]
        conv = modules.get(str(src.target)) if src.op == "call_module" else None
        if not isinstance(conv, nn.Conv2d) or len(src.users) != 1 or not bn.track_running_stats:
            continue
        fused = fuse_conv_bn_eval(conv.eval(), bn.eval())
        parent, _, leaf = str(src.target).rpartition(".")
        setattr(gm.get_submodule(parent) if parent else gm, leaf, fused)
        node.replace_all_uses_with(src)
        gm.graph.erase_node(node)
        folded += 1
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return folded


class _Observer(nn.Module):
    """Passes values through and keeps the largest magnitude and the mean square seen (calibration)."""

    def __init__(self) -> None:
        super().__init__()
        self.max_abs = 0.0
        self.square_sum = 0.0
        self.count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel():
            v = x.detach().double()
            self.max_abs = max(self.max_abs, float(v.abs().max()))
            self.square_sum += float(v.square().sum())
            self.count += v.numel()
        return x

    @property
    def rms(self) -> float:
        return math.sqrt(self.square_sum / self.count) if self.count else 0.0


RESOLUTION_BITS = 8     # a value of a tensor's typical (RMS) size keeps at least this many significant bits


def outlier_format(max_abs: float, rms: float, wl: int, wide: int | None) -> FixedPoint:
    """``fitting_format(max_abs, wl)``, or — when ``wide`` is given and ``wl`` bits cannot hold ``max_abs`` at
    all, or that format's step leaves a value of the tensor's RMS size fewer than ``RESOLUTION_BITS``
    significant bits (a few huge outliers set its range, as in an LLM's residual stream) — the ``wide``-bit
    word's fitting format.

    >>> outlier_format(3000.0, 1.0, 16, 32), outlier_format(3000.0, 1.0, 16, None), outlier_format(4.0, 1.0, 16, 32)
    (FixedPoint(wl=32, fl=19), FixedPoint(wl=16, fl=3), FixedPoint(wl=16, fl=12))
    >>> outlier_format(7e5, 3e4, 16, 32)
    FixedPoint(wl=32, fl=11)
    """
    fmt = fitting_format(max_abs, wl)
    fits = max_abs <= 2.0 ** (wl - 1) - 1            # integer values beyond the word saturate
    if wide is None or (fits and (rms <= 0 or 2.0 ** -fmt.fl <= rms * 2.0 ** -RESOLUTION_BITS)):
        return fmt
    return fitting_format(max_abs, wide)


def calibrate(gm: fx.GraphModule, nodes: list[fx.Node], batches: Iterable[torch.Tensor],
              activation_bits: int, wide_bits: int | None = None) -> dict[str, FixedPoint]:
    """The format of each of ``nodes`` (rounding points of ``gm``) from its largest magnitude over ``batches``
    of real inputs — with ``wide_bits``, a wider word where outliers need it (``outlier_format``). Observers
    are put after the nodes; the caller replaces them (``targets``)."""
    observers = {n.name: _Observer() for n in nodes}
    targets = insert_points(gm, nodes, lambda node: observers[node.name], prefix="fixed_point")
    seen = 0
    with torch.no_grad():
        for batch in batches:
            gm(batch)
            seen += len(batch)
    if not seen:
        raise IllusionError("calibration needs at least one input; pass real samples of the model's data")
    formats = {name: outlier_format(o.max_abs, o.rms, activation_bits, wide_bits) for name, o in observers.items()}
    for name, target in targets.items():
        gm.add_submodule(target, QuantPoint(formats[name].wl, formats[name].fl))
    return formats


def post_training_quantize(model: nn.Module, calibration: torch.Tensor, *, weight_bits: int = 16,
                           activation_bits: int = 16, formats: Formats | None = None, batch_size: int = 32,
                           name: str | None = None, config: WorkloadConfig | None = None,
                           wide_bits: int | None = None) -> fx.GraphModule:
    """A fixed-point GraphModule of ``model`` (unchanged) with per-tensor formats (see the module doc).

    ``calibration``: real inputs (a batch); with ``formats`` (a previous run's ``.formats``) no statistics are
    taken and only ``calibration[:1]`` is run (for shapes). The result carries ``.formats`` and a
    ``WorkloadConfig`` (``config`` given: its fields, with the weight format and ``per_tensor_formats`` set).
    ``wide_bits``: computed values whose outliers leave their typical values too few bits get words of this
    many bits (``outlier_format``); None: every computed value has ``activation_bits``.
    """
    if len(calibration) == 0:
        raise IllusionError("calibration needs at least one input; pass real samples of the model's data")
    gm = traced(copy.deepcopy(model).eval(), example_inputs=(calibration[:1],))     # fx, else torch.export
    fold_batch_norms(gm)
    with torch.no_grad():
        ShapeProp(gm).propagate(calibration[:1])
    stored = dict(_stored(gm))
    nodes = rounding_nodes(gm)
    if formats is None:
        weights = {k: fitting_format(float(t.detach().abs().max()) if t.numel() else 0.0, weight_bits)
                   for k, t in stored.items()}
        _round_stored(stored, weights)
        batches = (calibration[i:i + batch_size] for i in range(0, len(calibration), batch_size))
        formats = Formats(weights, calibrate(gm, nodes, batches, activation_bits, wide_bits))
    else:
        names = {n.name for n in nodes}
        if set(stored) != set(formats.weights) or names != set(formats.activations):
            differ = sorted((set(stored) ^ set(formats.weights)) | (names ^ set(formats.activations)))
            raise IllusionError(f"the formats record does not match this model's traced graph (differs at "
                                f"{', '.join(differ[:4])}{' …' if len(differ) > 4 else ''}): it was made for "
                                f"another model or torch version; calibrate again (formats=None)")
        _round_stored(stored, formats.weights)
        acts = formats.activations
        insert_points(gm, nodes, lambda node: QuantPoint(acts[node.name].wl, acts[node.name].fl))
    base = config or config_of(model)
    wl = next(iter(formats.weights.values())).wl if formats.weights else weight_bits
    cfg = WorkloadConfig(name or base.name, input_shape=tuple(calibration.shape[1:]),
                         num_classes=base.num_classes, weight_format=FixedPoint(wl, 0), dataset=base.dataset,
                         vocab_size=base.vocab_size, weights_only=base.weights_only, per_tensor_formats=True)
    object.__setattr__(gm, "config", cfg)          # plain attributes, not modules
    object.__setattr__(gm, "formats", formats)
    return gm.eval()


def _stored(gm: fx.GraphModule) -> list[tuple[str, torch.Tensor]]:
    return [(k, t) for k, t in (*gm.named_parameters(), *gm.named_buffers()) if t.is_floating_point()]


def _round_stored(stored: dict[str, torch.Tensor], formats: dict[str, FixedPoint]) -> None:
    with torch.no_grad():
        for k, t in stored.items():
            t.copy_(quantize(t, formats[k].wl, formats[k].fl))
