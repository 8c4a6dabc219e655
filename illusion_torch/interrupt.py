"""Ctrl-C ends a command within about a second: one line, exit status 130, every child process ended, no
temporary file left — even while the main thread waits inside C++ (a gloo ``recv``, the process group's
set-up), where Python cannot raise KeyboardInterrupt until the call returns.

Usage::

    from illusion_torch import interrupt
    with interrupt.watched("illusion run"):     # the CLI wraps every command in this
        ...                                     # KeyboardInterrupt: caught by the CLI, which calls ``stopped``
    with interrupt.temporary(path):             # removed if Ctrl-C ends the process before the block does
        ...
    interrupt.kept("the training state runs/checkpoints/mnist.state.pt")   # named in the one line

How: Python's C-level signal handler writes each signal's number to a pipe (``signal.set_wakeup_fd``) the
moment it arrives, whatever the main thread is doing. A watcher thread reads that pipe; if the process is
still running ``GRACE_S`` after a Ctrl-C (the main thread is stuck in a call that does not return), the
watcher ends the child processes, removes the temporary files, prints the line and leaves with ``os._exit``.
When the main thread does get its KeyboardInterrupt, the CLI ends cleanly the same way (``stopped``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["watched", "rename", "temporary", "kept", "stopped", "end_children", "GRACE_S", "EXIT_STATUS"]

GRACE_S = 1.0                   # the main thread's chance to stop by itself before the watcher ends the process
EXIT_STATUS = 130               # 128 + SIGINT, as shells report a command Ctrl-C ended

_temporaries: set[Path] = set()
_kept: list[str] = []
_said = threading.Lock()
_said_once = [False]
_finished = threading.Event()
_prog = ["illusion"]


def rename(prog: str) -> None:
    """The name the watcher's line starts with (the CLI knows its command only once the arguments are read)."""
    _prog[0] = prog


@contextlib.contextmanager
def temporary(path: str | os.PathLike) -> Iterator[Path]:
    """``path`` (a file or folder the block writes and removes or renames) is removed if the process is ended
    by Ctrl-C while the block runs."""
    p = Path(path)
    _temporaries.add(p)
    try:
        yield p
    finally:
        _temporaries.discard(p)


def kept(what: str) -> None:
    """Name something the command keeps on purpose when interrupted (e.g. a resumable training state)."""
    _kept.append(what)


def end_children() -> None:
    """Kill every child process this one started with multiprocessing (the distributed chip ranks)."""
    children = multiprocessing.active_children()
    for p in children:
        with contextlib.suppress(Exception):
            p.kill()
    for p in children:
        with contextlib.suppress(Exception):
            p.join(timeout=2)


def _clean() -> None:
    for p in list(_temporaries):
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def stopped(prog: str) -> int:
    """End after a Ctrl-C: children ended, temporaries removed, one line (once); returns ``EXIT_STATUS``."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not interrupt the cleaning up
    end_children()
    _clean()
    with _said:
        if not _said_once[0]:
            _said_once[0] = True
            what = f"kept {', '.join(_kept)}" if _kept else "nothing written"
            sys.stderr.write(f"\n{prog}: interrupted; {what}\n")
            sys.stderr.flush()
    return EXIT_STATUS


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:                      # the command ended: the pipe was closed
            return
        if signal.SIGINT in data:
            if _finished.wait(GRACE_S):   # the main thread stopped by itself
                return
            stopped(_prog[0])
            os._exit(EXIT_STATUS)


@contextlib.contextmanager
def watched(prog: str) -> Iterator[None]:
    """Watch for Ctrl-C while the block runs (in the main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    previous_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    _said_once[0] = False
    _kept.clear()
    _finished.clear()
    _prog[0] = prog
    watcher = threading.Thread(target=_watch, args=(r,), daemon=True, name="interrupt-watcher")
    watcher.start()
    try:
        yield
    finally:
        _finished.set()
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous)
        os.close(w)                       # the watcher reads end-of-file and returns
        watcher.join(timeout=1)
        os.close(r)
