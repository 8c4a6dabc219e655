"""What the pipeline knows about a workload beyond its ``nn.Module``: a typed record, not loose attributes.

Usage::

    from illusion_torch.workload import WorkloadConfig, config_of
    cfg = config_of(il.models.get_model("mnist"))
    cfg.weight_format, cfg.input_shape, cfg.dataset     # FixedPoint(8,4), (1, 28, 28), 'mnist'
    config_of(torchvision.models.resnet18())            # any other module: a float model, 3×224×224 inputs

A workload class carries its record as the class attribute ``config`` (an instance may replace it, e.g. a
ResNet built for 3-channel inputs); every stage reads it through ``config_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from .fixed import FixedPoint

__all__ = ["WorkloadConfig", "config_of", "DEFAULT_INPUT_SHAPE"]

DEFAULT_INPUT_SHAPE = (3, 224, 224)        # torchvision's classifiers


@dataclass(frozen=True)
class WorkloadConfig:
    """A workload's settings.

    ``weight_format`` None means a float model (weights and activations in 16-bit words, as the paper's
    scale-up simulation counts them). ``weights_only``: the mappers count bytes as the paper's simulator did
    (``OpGraph.weights_only``). ``route_node`` and ``branches`` describe a gated model (D2NN): the
    traced node whose per-input value picks the branch, and the module prefixes that run only on that value.
    """

    name: str
    input_shape: tuple[int, ...] = DEFAULT_INPUT_SHAPE
    num_classes: int | None = None
    weight_format: FixedPoint | None = None
    dataset: str | None = None
    route_node: str | None = None
    branches: tuple[tuple[str, int], ...] = field(default=())
    vocab_size: int | None = None  # a model of token ids: inputs are ids below this
    weights_only: bool = False     # map counting conv/fc/recurrent/embedding weights only — no biases, norm
    #                                statistics or constants — as the paper's scale-up simulator counts
    per_tensor_formats: bool = False  # each stored tensor has its own fractional bits (post-training
    #                                   quantization, ``ptq``); ``weight_format`` then gives the word length only
    #                                   and a tensor's codes are read at ``fixed.grid_fl`` of its values
    steps_as_batch: tuple[tuple[str, int], ...] = field(default=())
    # pricing only: (module prefix, b) — the layers under the prefix (a recurrent layer, an embedding) are
    # priced as the scale-up simulator as released scheduled them: their unrolled steps as a batch of b, each
    # weight fetched once per b steps (``cost.work``); the chips still run, and are counted, step by step

    @property
    def fixed_point(self) -> bool:
        return self.weight_format is not None

    def batch_of(self, module: str) -> int | None:
        """The batch the simulator scheduled ``module``'s steps as (``steps_as_batch``), or None."""
        for prefix, b in self.steps_as_batch:
            if module == prefix or module.startswith(prefix + "."):
                return b
        return None

    @property
    def routes(self) -> list[int | None]:
        """The gate's route values, or [None] for a model without a gate."""
        values: list[int | None] = [r for r in sorted({r for _, r in self.branches})]
        return values or [None]


def config_of(model: nn.Module) -> WorkloadConfig:
    """The model's ``config`` record; any other module is a float model named after its class."""
    cfg = getattr(model, "config", None)
    if isinstance(cfg, WorkloadConfig):
        return cfg
    return WorkloadConfig(name=type(model).__name__)
