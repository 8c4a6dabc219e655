"""How good a model's outputs are: accuracy on labels (``batched``), and the quality of a quantized (and
partitioned) model's outputs against its float model's, per kind of model.

Usage::

    from illusion_torch.metrics import accuracy, predict, metric_for
    accuracy(model, x, y)                                # a fraction 0–1, batched, without gradients
    m = metric_for("agreement", float_logits)            # ImageNet classifiers on unlabeled real images
    m.evaluate(fixed_logits)     # {'name': 'top1_agreement', 'value': 0.995, 'float_value': 1.0, 'top5_agreement': …}
    metric_for("embedding", float_embeddings).evaluate(fixed_embeddings)      # mean cosine, retrieval agreement
    metric_for("perplexity", float_logits, targets).evaluate(fixed_logits)    # next-token perplexity

``agreement``: the fraction of inputs whose top-1 class equals the float model's (top-5: the float model's
top-1 is among the five highest) — not accuracy, since the images have no labels. ``embedding``: the mean
cosine similarity of each input's embedding to the float model's, and the fraction of inputs whose nearest
other input (by cosine) is the one the float embeddings pick. ``perplexity``: exp of the mean cross-entropy of
the next token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import IllusionError
from ..units import percent
from .batched import accuracy, logits, predict

__all__ = ["accuracy", "predict", "logits", "Metric", "metric_for", "metric_text", "FRACTIONS", "KINDS",
           "top_k_agreement", "mean_cosine", "retrieval_agreement", "perplexity_of"]

KINDS = ("accuracy", "agreement", "embedding", "perplexity")
FRACTIONS = ("accuracy", "top1_agreement", "top5_agreement", "retrieval_agreement")   # shown as percentages


def top_k_agreement(outputs: torch.Tensor, float_outputs: torch.Tensor, k: int = 1) -> float:
    """Fraction of rows whose ``k`` highest outputs include the float model's highest."""
    ref = float_outputs.argmax(1, keepdim=True)
    return float((outputs.topk(k, dim=1).indices == ref).any(1).double().mean())


def mean_cosine(outputs: torch.Tensor, float_outputs: torch.Tensor) -> float:
    return float(F.cosine_similarity(outputs.double(), float_outputs.double(), dim=1).mean())


def _nearest(e: torch.Tensor) -> torch.Tensor:
    e = F.normalize(e.double(), dim=1)
    sim = e @ e.T
    sim.fill_diagonal_(-math.inf)
    return sim.argmax(1)


def retrieval_agreement(outputs: torch.Tensor, float_outputs: torch.Tensor) -> float:
    """Fraction of inputs whose nearest other input (cosine of embeddings) is the float embeddings' choice."""
    if len(outputs) < 2:
        raise IllusionError("retrieval needs at least two inputs")
    return float((_nearest(outputs) == _nearest(float_outputs)).double().mean())


def perplexity_of(logits: torch.Tensor, targets: torch.Tensor) -> float:
    ce = F.cross_entropy(logits.double().flatten(0, -2), targets.flatten(), reduction="mean")
    return math.exp(float(ce))


@dataclass
class Metric:
    """A metric bound to the float model's outputs (and targets) on the same inputs."""

    kind: str
    float_outputs: torch.Tensor = field(repr=False)
    targets: torch.Tensor | None = field(repr=False, default=None)

    def evaluate(self, outputs: torch.Tensor) -> dict:
        """{'name', 'value', 'float_value', 'description', …}: ``outputs`` (a model's, on the same inputs)
        against the float model's."""
        if outputs.shape != self.float_outputs.shape:
            raise IllusionError(f"outputs of shape {tuple(outputs.shape)} cannot be compared with the float model's "
                                f"{tuple(self.float_outputs.shape)}")
        f = self.float_outputs
        if self.kind == "accuracy":
            assert self.targets is not None
            return {"name": "accuracy", "value": float((outputs.argmax(1) == self.targets).double().mean()),
                    "float_value": float((f.argmax(1) == self.targets).double().mean()),
                    "agreement": top_k_agreement(outputs, f, 1),
                    "description": "fraction of test inputs classified as labelled; float_value: the model as "
                                   "trained, before folding and 16-bit formats"}
        if self.kind == "agreement":
            return {"name": "top1_agreement", "value": top_k_agreement(outputs, f, 1), "float_value": 1.0,
                    "top5_agreement": top_k_agreement(outputs, f, 5),
                    "description": "fraction of inputs whose top-1 class is the float model's (no labels)"}
        if self.kind == "embedding":
            return {"name": "mean_cosine", "value": mean_cosine(outputs, f), "float_value": 1.0,
                    "retrieval_agreement": retrieval_agreement(outputs, f),
                    "description": "mean cosine similarity of embeddings to the float model's; retrieval: the "
                                   "nearest other input is the float embeddings' choice"}
        assert self.targets is not None
        return {"name": "perplexity", "value": perplexity_of(outputs, self.targets),
                "float_value": perplexity_of(f, self.targets),
                "description": "exp(mean next-token cross-entropy) on held-out text"}


def metric_text(m: dict, *, float_model: bool = True) -> str:
    """A metric's words in a summary: fractions (accuracy, agreements) as percentages, the rest as numbers —
    ``top-1 agreement 99.50 % (float model 100.00 %), top-5 agreement 100.00 %``."""
    def value(key: str, v: float) -> str:
        return percent(v) if key in FRACTIONS else f"{v:.4f}"

    def label(key: str) -> str:
        return key.replace("top1_", "top-1 ").replace("top5_", "top-5 ").replace("_", " ")

    name = m["name"]
    text = f"{label(name)} {value(name, m['value'])}"
    if float_model and "float_value" in m:
        text += f" (float model {value(name, m['float_value'])})"
    return text + "".join(f", {label(k)} {value(k, v)}" for k, v in m.items()
                          if k.endswith("_agreement") and k != name)


def metric_for(kind: str, float_outputs: torch.Tensor, targets: torch.Tensor | None = None) -> Metric:
    if kind not in KINDS:
        raise IllusionError(f"unknown metric kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind in ("perplexity", "accuracy") and targets is None:
        raise IllusionError(f"{kind} needs the targets (next tokens or labels)")
    return Metric(kind, float_outputs, targets)
