"""Work of a recurrent layer (or an embedding) priced as the scale-up simulator as released scheduled it.

Usage (``cost.work`` calls these for a module under a ``WorkloadConfig.steps_as_batch`` prefix)::

    recurrent_as_batch(k, node, kind="lstm", units=1024, fan_in=2048, proj=1024, steps=32, batch=32, first=True)
    embedding_as_batch(k, node, module, rows=99_184, steps=32, batch=32)

docs/paper.md ("The scale-up simulator as released", how it schedules the LSTM language model): its two parts'
schedules are searched with the unrolled steps as a batch — 32 × the batch for part 1 (the embedding, the first
LSTM layer and its projection), 4 × the batch for part 2 — so each weight matrix is fetched once per batch of
steps and the dependence of step t on step t − 1 is not modelled; the embedding is a fully connected layer
FC(1 → its rows) over the vocabulary, and each cell group's element-wise gate arithmetic a "layer"
FC(1 → batch × cells) of its own. Here, per chip and layer slice (a cell group):

- the gate rows FC(fan-in → 4 × cells) and the projection FC(cells → projection) searched by nn_dataflow at
  its batch ``batch`` (``LayerShape.batch``: each weight fetched once for the whole batch), and the element-wise
  FC(1 → batch × cells) at batch 1 (as the release's layer file writes it), each called ⌈steps / batch⌉
  times — our choice where the release leaves it open: its part 2 is searched at batch 4 and we run that
  schedule 8 times to cover the 32 steps (the release's script names the two batches; it does not say that
  part 2 covers fewer steps);
- the weights read once per call, not once per step;
- all of it charged to the slice's first step (its first wake): the steps run as one batch, so the later steps'
  wakes do only their messages.

The chips still compute step by step — the values, messages and memory images are those of the sequential
model — only the work a dataflow scheduler prices changes. The element-wise layer has no weights to read.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..partitioning.recurrent import GATES
from .counters import Counters
from .profile import LayerShape

if TYPE_CHECKING:
    from torch import fx, nn

__all__ = ["recurrent_as_batch", "embedding_as_batch"]


def recurrent_as_batch(k, n: fx.Node, module: nn.Module, *, kind: str, units: int, fan_in: int, proj: int,
                       steps: int, batch: int, first: bool) -> Counters:
    """The Counters of one step node of a recurrent layer (slice) of ``units`` cells whose ``steps`` steps are
    scheduled as batches of ``batch``: everything on the ``first`` step's node, nothing on the others."""
    if not first:
        return Counters(layer_calls=0)
    calls = math.ceil(steps / batch)
    rows = GATES[kind] * units
    k.layer(n, LayerShape.fc(fan_in, rows, batch=batch), calls, rows * fan_in * calls)
    macs = rows * fan_in * batch * calls
    if proj:
        k.layer(n, LayerShape.fc(units, proj, batch=batch), calls, units * proj * calls)
        macs += units * proj * batch * calls
    k.layer(n, LayerShape.fc(1, batch * units), calls, 0.0)          # the element-wise gate arithmetic
    macs += batch * units * calls
    return Counters(macs=macs, lstm_macs=macs, layer_calls=calls) + k.read_weights(n, module, float(calls))


def embedding_as_batch(k, n: fx.Node, module: nn.Module, *, rows: int, width: int, steps: int,
                       batch: int) -> Counters:
    """An embedding's rows as FC(1 → rows) at nn_dataflow batch ``batch``, ⌈steps / batch⌉ calls: one weight per row
    read per call (the release's layer reads ``rows`` weights, not the table's ``rows × width``)."""
    calls = math.ceil(steps / batch)
    k.layer(n, LayerShape.fc(1, rows, batch=batch), calls, rows * calls)
    macs = rows * batch * calls
    return Counters(macs=macs, fc_macs=macs, layer_calls=calls) + k.read_weights(n, module, calls / width)
