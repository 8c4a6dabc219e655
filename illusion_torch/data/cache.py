"""Where datasets live: a cache directory outside git, configurable.

Usage::

    from illusion_torch.data.cache import cache_dir, set_cache_dir
    cache_dir()                       # $ILLUSION_CACHE or ~/.cache/illusion_torch
    set_cache_dir("/tmp/il-cache")    # for this process
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import IllusionError

__all__ = ["cache_dir", "set_cache_dir", "cached_npz", "SourceMissing"]

_override: Path | None = None


class SourceMissing(IllusionError, FileNotFoundError):
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
    if root.exists() and not root.is_dir():
        raise SourceMissing(f"the dataset cache {root} is a file, not a folder: set ILLUSION_CACHE to a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SourceMissing(f"cannot create the dataset cache {root} ({e.strerror}): set ILLUSION_CACHE to a "
                            f"writable folder") from None
    return root


def cached_npz(path: Path, build: Callable[[], dict[str, np.ndarray]], keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the cache file ``path``, built with ``build()`` and saved when missing; a
    truncated or corrupt file is rebuilt. The file is written under a temporary name and renamed."""
    if path.is_file():
        try:
            with np.load(path) as f:
                return {k: f[k] for k in keys}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            try:
                path.unlink()
            except OSError:
                raise SourceMissing(f"the cache file {path} is corrupt and cannot be removed: delete it") from None
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            np.savez_compressed(name, **arrays)  # type: ignore[arg-type]
            os.replace(name, path)
        finally:
            Path(name).unlink(missing_ok=True)
    except OSError as e:
        raise SourceMissing(f"cannot write the dataset cache {path.parent} ({e.strerror}): set ILLUSION_CACHE to "
                            f"a writable folder") from None
    return {k: arrays[k] for k in keys}
