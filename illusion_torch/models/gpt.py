"""A small GPT (decoder-only transformer, nanoGPT's layout) over characters, in plain PyTorch.

Usage::

    from illusion_torch.models.gpt import GPT
    model = GPT(vocab_size=96)                       # 4 layers × 4 heads × 192 wide, 128-character context
    logits = model(torch.zeros(2, 128, dtype=torch.long))     # (2, 128, 96): the next character's scores

Each block: LayerNorm → causal self-attention (separate q, k, v projections so each splits like any linear
layer) → residual; LayerNorm → 4× MLP with GELU → residual. Learned position embeddings over a fixed context
(``block_size``; inputs are windows of exactly that length). The causal mask is ``layers.masked_scores``
(−inf, so a future character has exactly zero weight, also in fixed point). Trained on the State of the
Union text (``training/train_gpt.py``); the shipped checkpoint's JSON records its data and split.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import IllusionError
from ..fixed.layers import masked_scores
from ..workload import WorkloadConfig

__all__ = ["GPT", "Block", "CausalSelfAttention"]


class CausalSelfAttention(nn.Module):
    causal: torch.Tensor

    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.n_head, self.head_dim = n_head, n_embd // n_head
        self.q, self.k, self.v = (nn.Linear(n_embd, n_embd) for _ in range(3))
        self.proj = nn.Linear(n_embd, n_embd)
        self.register_buffer("causal", torch.ones(block_size, block_size, dtype=torch.bool).tril(),
                             persistent=False)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.n_head, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        weights = torch.softmax(masked_scores(scores, self.causal), dim=-1)
        y = torch.matmul(weights, v).transpose(1, 2).reshape(b, n, c)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.fc, self.act, self.out = nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.out(self.act(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """Token + position embeddings → ``n_layer`` blocks → LayerNorm → a linear head over the vocabulary."""

    config = WorkloadConfig("gpt", input_shape=(128,), dataset="sotu", vocab_size=96)

    def __init__(self, vocab_size: int = 96, block_size: int = 128, n_layer: int = 4, n_head: int = 4,
                 n_embd: int = 192) -> None:
        super().__init__()
        if n_embd % n_head:
            raise IllusionError(f"n_embd={n_embd} must be a multiple of n_head={n_head}")
        self.config = WorkloadConfig("gpt", input_shape=(block_size,), dataset="sotu", vocab_size=vocab_size)
        self.block_size = block_size
        self.tok = nn.Embedding(vocab_size, n_embd)
        self.pos = nn.Parameter(torch.zeros(1, block_size, n_embd))
        self.blocks = nn.Sequential(*(Block(n_embd, n_head, block_size) for _ in range(n_layer)))
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        for m in self.modules():                      # GPT-2's initialisation
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.ln_f(self.blocks(self.tok(ids) + self.pos)))
