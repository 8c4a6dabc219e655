"""Where datasets live: a cache directory outside git, configurable.

Usage::

    from illusion_torch.data.cache import cache_dir, set_cache_dir
    cache_dir()                       # $ILLUSION_CACHE or ~/.cache/illusion_torch
    set_cache_dir("/tmp/il-cache")    # for this process
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "set_cache_dir", "SourceMissing"]

_override: Path | None = None


class SourceMissing(FileNotFoundError):
    """A dataset's source is not on this machine; the message names the command that installs it."""


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Use ``path`` as the cache directory for this process (None: back to the default)."""
    global _override
    _override = Path(path) if path is not None else None


def cache_dir() -> Path:
    """The dataset cache: set_cache_dir(), else $ILLUSION_CACHE, else ~/.cache/illusion_torch."""
    if _override is not None:
        root = _override
    elif os.environ.get("ILLUSION_CACHE"):
        root = Path(os.environ["ILLUSION_CACHE"])
    else:
        root = Path.home() / ".cache" / "illusion_torch"
    root.mkdir(parents=True, exist_ok=True)
    return root
