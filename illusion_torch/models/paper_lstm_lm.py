"""The scale-up simulator's big LSTM language model: One Billion Word vocabulary, 8,192 cells, 1,024 projection.

Usage::

    from illusion_torch.models.paper_lstm_lm import PaperLstmLM
    lm = PaperLstmLM()                               # 963,508,224 weights: ≈ 1.79 GiB at 16 bit
    lm(torch.randint(0, 793_470, (1, 32))).shape     # (1, 32, 1024): every step's projected h, no softmax
    PaperLstmLM(vocab=1000, cells=64, proj=16)       # the same structure, small

PAPER.md ("The scale-up simulator as released"): embedding 793,470 × 1,024; two LSTM layers, each one gate
matrix 2,048 → 32,768 (input 1,024 + projected h 1,024 → 4 × 8,192 gates) and a projection 8,192 → 1,024;
no softmax layer; 32 unrolled steps; weights only, no biases. That is torch's ``nn.LSTM(1024, 8192,
num_layers=2, proj_size=1024, bias=False)`` after an ``nn.Embedding``: the partitioner splits each layer by
cells (each chip holds its cells' gate rows and projection columns; the chips add their shares of h), and the
table by rows (each lookup reads one row on the chip that holds it). Float, seeded random weights.
"""

from __future__ import annotations

import torch
from torch import nn

from ..workload import WorkloadConfig

__all__ = ["PaperLstmLM"]

VOCAB, EMBED, CELLS, PROJ, LAYERS, STEPS = 793_470, 1024, 8192, 1024, 2, 32


class PaperLstmLM(nn.Module):
    """Embedding → 2-layer LSTM with projection (no biases) → every step's h."""

    config = WorkloadConfig("paper-lstm-lm", input_shape=(STEPS,), vocab_size=VOCAB, weights_only=True)

    def __init__(self, vocab: int = VOCAB, embed: int = EMBED, cells: int = CELLS, proj: int = PROJ,
                 layers: int = LAYERS, steps: int = STEPS) -> None:
        super().__init__()
        if (vocab, embed, cells, proj, layers, steps) != (VOCAB, EMBED, CELLS, PROJ, LAYERS, STEPS):
            self.config = WorkloadConfig("paper-lstm-lm", input_shape=(steps,), vocab_size=vocab,
                                         weights_only=True)
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, cells, num_layers=layers, proj_size=proj, bias=False, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(tokens))
        return out
