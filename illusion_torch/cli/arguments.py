"""The ``illusion`` command's argument types and output: a bad value names its option; JSON is strict.

Usage::

    parser.add_argument("--limit", type=positive_int)     # "argument --limit: must be at least 1, got 0"
    write_json("-", result)                                # '-': stdout
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import IllusionError
from ..files import dumps_json, writable_file, write_atomic
from ..units import parse_bytes

__all__ = ["positive_int", "at_least", "joined_values", "seed", "number", "size", "shape", "plot_path",
           "check_outputs", "write_json", "say", "PLOT_SUFFIXES"]

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def at_least(low: int, why: str) -> Callable[[str], int]:
    """A whole number of at least ``low`` (``why``: what the least stands for)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low} ({why}), got {value}")
        return value
    return parse


def joined_values(argv: list[str]) -> list[str]:
    """``--opt -3,32,32`` as ``--opt=-3,32,32``: argparse takes a value that starts with '-' for an option and
    says only "expected one argument"; joined, the option's own check names what is wrong with it."""
    out: list[str] = []
    for before, tok in zip([""] + argv, argv, strict=False):
        negative = len(tok) > 1 and tok[0] == "-" and (tok[1].isdigit() or tok[1] == ".")
        if negative and before.startswith("--") and "=" not in before and out[-1] == before:
            out[-1] = f"{before}={tok}"
        else:
            out.append(tok)
    return out


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed must be 0 or more, got {value}")
    return value


def number(*, positive: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(f"must be {'positive' if positive else '0 or more'}, got {text}")
        return value
    return parse


def shape(text: str) -> tuple[int, ...]:
    """"3,64,64" -> (3, 64, 64): an input's shape without the batch dimension."""
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes separated by commas, e.g. 3,224,224, got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"every size must be at least 1, got {text!r}")
    return dims


def size(text: str) -> int:
    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"a size must be positive, got {text!r}")
    try:
        return parse_bytes(text)
    except IllusionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def plot_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise argparse.ArgumentTypeError(f"give a picture file name ending in {', '.join(PLOT_SUFFIXES)}, "
                                         f"got {text!r}")
    return path


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, outputs that cannot be written."""
    if getattr(args, "json", None) not in (None, "-"):
        writable_file(args.json, "the JSON file")
    if getattr(args, "plot", None) is not None:
        writable_file(args.plot, "the picture")


def write_json(path: str | None, result: dict) -> None:
    if path is None:
        return
    text = dumps_json(result)
    if path == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(path), lambda tmp: tmp.write_text(text))


STAGE_AFTER_S = 1.0          # a stage names itself once it has taken this long (a quick one, or a mistake, stays
#                              silent: bad input still gets exactly one line)
_pending: list = []


def stage(args: argparse.Namespace, text: str) -> None:
    """The stage a long command enters: one line on stderr once it has run ``STAGE_AFTER_S`` (``--quiet``: none);
    entering the next stage, or ``settle()``, cancels a line not yet printed."""
    settle()
    if getattr(args, "quiet", False):
        return
    if STAGE_AFTER_S <= 0:
        print(f"[{args.command}] {text}", file=sys.stderr, flush=True)
        return
    import threading

    timer = threading.Timer(STAGE_AFTER_S, lambda: print(f"[{args.command}] {text}", file=sys.stderr, flush=True))
    timer.daemon = True
    _pending.append(timer)
    timer.start()


def settle() -> None:
    """Cancel a stage line not yet printed (the command moved on, finished or failed)."""
    while _pending:
        _pending.pop().cancel()


def say(args: argparse.Namespace, text: str = "") -> None:
    """Human-readable output: on stderr when stdout carries the JSON (``--json -``)."""
    print(text, file=sys.stderr if getattr(args, "json", None) == "-" else sys.stdout)

