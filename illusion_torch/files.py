"""Safe writes: a file appears whole or not at all; a folder holds one run's files.

Usage::

    from illusion_torch.files import write_atomic, writable_file, fresh_dir
    write_atomic(Path("out.json"), lambda tmp: tmp.write_text("{}"))    # written to a temporary name, renamed
    writable_file("out.json")          # before any work: refuses a directory or an unwritable place
    with fresh_dir("runs/mnist-8") as tmp:   # files go to a temporary folder that replaces runs/mnist-8
        (tmp / "report.json").write_text("{}")
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import IllusionError

__all__ = ["write_atomic", "writable_file", "writable_dir", "fresh_dir", "dumps_json"]


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        if math.isnan(obj):
            raise ValueError("NaN in a result: a bug, not an input to write")
        return "inf" if obj > 0 else "-inf"
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def dumps_json(obj: Any) -> str:
    """Strict JSON (no bare NaN or Infinity: an unbounded quantity, such as a link's bandwidth, is "inf")."""
    return json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n"


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)          # mkstemp makes it private; the result gets a normal file's mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _writable_parent(path: Path, what: str) -> None:
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise IllusionError(f"cannot write {what} {path}: {parent} is not a writable folder; choose another path")


def writable_file(path: str | os.PathLike, what: str = "the file") -> Path:
    """Check, before any work, that ``path`` can be written as a file (an existing file is replaced)."""
    p = Path(path)
    if str(path) in ("", "-"):
        raise IllusionError(f"{what} needs a file name, got {str(path)!r}")
    if p.is_dir():
        raise IllusionError(f"cannot write {what} {p}: it is a folder; give a file name")
    if p.exists() and not os.access(p, os.W_OK):
        raise IllusionError(f"cannot write {what} {p}: the file is read-only")
    _writable_parent(p, what)
    return p


def writable_dir(path: str | os.PathLike, what: str = "the folder") -> Path:
    """Check, before any work, that ``path`` can be (re)made as a folder."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise IllusionError(f"cannot write {what} {p}: a file of that name exists; give a folder name")
    _writable_parent(p, what)
    return p


@contextlib.contextmanager
def fresh_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``path`` that replaces ``path`` (and whatever it held) when the block ends
    without error; on error ``path`` is left as it was."""
    target = writable_dir(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
