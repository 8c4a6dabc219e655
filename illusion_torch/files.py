"""Safe writes: a file appears whole or not at all; a folder holds one run's files.

Usage::

    from illusion_torch.files import write_atomic, writable_file, fresh_dir
    write_atomic(Path("out.json"), lambda tmp: tmp.write_text("{}"))    # written to a temporary name, renamed
    writable_file("out.json")          # before any work: refuses a directory or an unwritable place
    with fresh_dir("runs/mnist-8", keep=frozenset({"report.json"})) as tmp:   # replaces runs/mnist-8, which
        (tmp / "report.json").write_text("{}")        # must be new or hold only report.json (never the user's)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import IllusionError
from .interrupt import temporary

__all__ = ["write_atomic", "writable_file", "writable_dir", "replaceable_dir", "fresh_dir", "dumps_json",
           "OUTPUT_FOLDERS"]

OUTPUT_FOLDERS = ("runs",)      # the project folder's only subfolder that commands write into


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
    with temporary(tmp):
        try:
            write(tmp)
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)          # mkstemp makes it private; the result gets a normal file's mode
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def _nearest_existing(path: Path) -> Path:
    parent = path
    while not parent.exists():
        parent = parent.parent
    return parent


def _writable_parent(path: Path, what: str, inside: bool = False) -> None:
    """The nearest folder above ``path`` (``inside``: or ``path`` itself) that exists takes a new file: tried by
    making (and removing) one, since permission bits do not tell for root, /proc or /sys."""
    parent = _nearest_existing(path if inside else path.parent)
    reason = "is not a folder"
    if parent.is_dir():
        try:
            fd, probe = tempfile.mkstemp(prefix=".illusion-probe.", dir=parent)
        except OSError as e:
            reason = f"does not take new files ({e.strerror or type(e).__name__})"
        else:
            os.close(fd)
            os.unlink(probe)
            return
    raise IllusionError(f"cannot write {what} {path}: {parent} {reason}; choose another path")


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
    """Check, before any work, that ``path`` is, or can be made as, a folder that new files can go into."""
    p = Path(path)
    if str(path) == "":
        raise IllusionError(f"{what} needs a folder name, got ''")
    if p.exists() and not p.is_dir():
        raise IllusionError(f"cannot write {what} {p}: a file of that name exists; give a folder name")
    _writable_parent(p, what, inside=True)
    return p


def _protected(p: Path) -> str | None:
    """Why ``p`` (resolved) is a folder no command may replace whole, or None."""
    here = Path.cwd().resolve()
    if p == here:
        return "the current folder"
    if p in here.parents:
        return "a folder above the current one"
    if p == Path.home().resolve():
        return "your home folder"
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").exists() and (p == root or (p.parent == root and p.name not in OUTPUT_FOLDERS)):
        return "the project's own folder" if p == root else f"the project's own {p.name}/ folder"
    return None


def replaceable_dir(path: str | os.PathLike, keep: frozenset[str], what: str = "the folder") -> Path:
    """Check, before any work, that ``path`` may be replaced whole by a folder of ``keep``'s files: it is new,
    or holds only files named in ``keep`` (an earlier run's); never the current, home or project folder. A
    refused folder is not touched (its writability is tried only once it may be replaced)."""
    p = Path(path)
    if str(path) == "":
        raise IllusionError(f"{what} needs a folder name, got ''")
    reason = _protected(p.resolve())
    if reason is None and p.is_dir():
        foreign = sorted(e.name + ("/" if e.is_dir() else "") for e in p.iterdir()
                         if e.name not in keep or not e.is_file() or e.is_symlink())
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            reason = f"a folder that holds files this command did not write ({shown})"
    if reason is not None:
        raise IllusionError(f"refusing to write {what} {p}: it is {reason}, and {what} is replaced whole; give "
                            f"a new folder (e.g. runs/NAME) or one that an earlier run of this command wrote")
    return writable_dir(p, what)


@contextlib.contextmanager
def fresh_dir(path: str | os.PathLike, keep: frozenset[str]) -> Iterator[Path]:
    """A temporary folder beside ``path`` that replaces ``path`` when the block ends without error; ``path``
    must be new or hold only files named in ``keep`` (``replaceable_dir``), and keeps its permissions. On
    error or interruption ``path`` is left as it was."""
    target = replaceable_dir(path, keep)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    with temporary(tmp):
        try:
            yield tmp
            replaceable_dir(target, keep)          # again: nothing of the user's arrived while we worked
            if target.exists():
                tmp.chmod(stat.S_IMODE(target.stat().st_mode))
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
                os.replace(target, old / target.name)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                umask = os.umask(0)
                os.umask(umask)
                tmp.chmod(0o777 & ~umask)          # mkdtemp makes it private; a new folder gets a normal mode
                os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
