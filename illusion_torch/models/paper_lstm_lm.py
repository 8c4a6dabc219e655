"""The scale-up simulator's big LSTM language model: One Billion Word vocabulary, 8,192 cells, 1,024 projection.

Usage::

    from illusion_torch.models.paper_lstm_lm import PaperLstmLM
    lm = PaperLstmLM()                               # 963,508,224 weights: ≈ 1.79 GiB at 16 bit
    lm(torch.randint(0, 793_470, (1, 32))).shape     # (1, 32, 1024): every step's projected h, no softmax
    PaperLstmLM(vocab=1000, cells=64, proj=16)       # the same structure, small
    PaperLstmLMSequential()                          # priced step by step (h feeds the next step)

docs/paper.md ("The scale-up simulator as released"): embedding 793,470 × 1,024; two LSTM layers, each one gate
matrix 2,048 → 32,768 (input 1,024 + projected h 1,024 → 4 × 8,192 gates) and a projection 8,192 → 1,024;
no softmax layer; 32 unrolled steps; weights only, no biases. That is torch's ``nn.LSTM(1024, 8192,
num_layers=2, proj_size=1024, bias=False)`` after an ``nn.Embedding``: the partitioner splits each layer by
cells (each chip holds its cells' gate rows and projection columns; the chips add their shares of h), and the
table by rows (each lookup reads one row on the chip that holds it). Float, seeded random weights.

Two ways to price it (the chips compute the same values either way):
- ``paper-lstm-lm`` is the simulator's network as released: part 1 (the embedding, as FC(1 → its rows), and the
  first LSTM layer) scheduled with the 32 steps as a batch, part 2 (the second layer) with batches of 4, each
  cell group's element-wise gate arithmetic as a layer of its own (``cost.steps_as_batch``) — so each weight
  is fetched once per batch of steps and step t's dependence on step t − 1 is not modelled;
- ``paper-lstm-lm-sequential`` runs each step after the last, every slice re-reading its weights every step.
"""

from __future__ import annotations

import torch
from torch import nn

from ..workload import WorkloadConfig

__all__ = ["PaperLstmLM", "PaperLstmLMSequential"]

VOCAB, EMBED, CELLS, PROJ, LAYERS, STEPS = 793_470, 1024, 8192, 1024, 2, 32
PART_2_BATCH = 4            # the release's batch for part 2 (docs/paper.md); part 1's is the 32 steps


def _as_released(steps: int, layers: int) -> tuple[tuple[str, int], ...]:
    """Part 1 (the embedding and the first layer) at the steps as one batch, the later layers at 4."""
    return (("embedding", steps), ("lstm.cells.0", steps),
            *((f"lstm.cells.{i}", min(PART_2_BATCH, steps)) for i in range(1, layers)))


class PaperLstmLM(nn.Module):
    """Embedding → 2-layer LSTM with projection (no biases) → every step's h."""

    config = WorkloadConfig("paper-lstm-lm", input_shape=(STEPS,), vocab_size=VOCAB, weights_only=True,
                            steps_as_batch=_as_released(STEPS, LAYERS))
    sequential = False

    def __init__(self, vocab: int = VOCAB, embed: int = EMBED, cells: int = CELLS, proj: int = PROJ,
                 layers: int = LAYERS, steps: int = STEPS) -> None:
        super().__init__()
        if (vocab, embed, cells, proj, layers, steps) != (VOCAB, EMBED, CELLS, PROJ, LAYERS, STEPS):
            self.config = WorkloadConfig(self.config.name, input_shape=(steps,), vocab_size=vocab,
                                         weights_only=True,
                                         steps_as_batch=() if self.sequential else _as_released(steps, layers))
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, cells, num_layers=layers, proj_size=proj, bias=False, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(tokens))
        return out


class PaperLstmLMSequential(PaperLstmLM):
    """The same network priced step by step: each step after the last, every slice re-reading its weights."""

    config = WorkloadConfig("paper-lstm-lm-sequential", input_shape=(STEPS,), vocab_size=VOCAB, weights_only=True)
    sequential = True
