"""The ``illusion`` command.

Usage::

    illusion run [--model mnist] [--limit N] [--json PATH]    # the main job (for now: checkpoint evaluation)
    illusion eval NAME [--limit N] [--json PATH]             # fixed-point accuracy of a shipped checkpoint
    illusion train NAME [--epochs N] [--seed S] [--out DIR]  # retrain a checkpoint with its recipe
    illusion models | illusion datasets                      # what is registered

Errors a user can cause end in one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _evaluate(name: str, limit: int | None) -> dict:
    from . import checkpoint, data
    from .evaluate import accuracy

    model = checkpoint.load(name)
    meta = model.checkpoint_meta
    started = time.time()
    x, y = data.load(meta["recipe"]["dataset"], "test", limit=limit)
    acc = accuracy(model, x, y)
    return {"model": name, "dataset": meta["dataset"], "synthetic": meta["synthetic"], "samples": len(y),
            "accuracy": acc, "checkpoint_test_accuracy": meta["test_accuracy"],
            "eval_seconds": round(time.time() - started, 2)}


def _print_eval(result: dict) -> None:
    synthetic = " (SYNTHETIC data)" if result["synthetic"] else ""
    print(f"{result['model']}: fixed-point accuracy {100 * result['accuracy']:.2f} % on {result['samples']} "
          f"{result['dataset']} test samples{synthetic}; checkpoint records "
          f"{100 * result['checkpoint_test_accuracy']:.2f} % on its full test split")


def _write_json(path: str | None, result: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(result, indent=2) + "\n")


def _cmd_eval(args: argparse.Namespace) -> None:
    result = _evaluate(args.name, args.limit)
    _print_eval(result)
    _write_json(args.json, result)


def _cmd_run(args: argparse.Namespace) -> None:
    print("illusion run: the chip-by-chip runtime is not built yet; evaluating the shipped checkpoint "
          "on one ideal chip", file=sys.stderr)
    result = _evaluate(args.model, args.limit)
    _print_eval(result)
    _write_json(args.json, result)


def _cmd_train(args: argparse.Namespace) -> None:
    from .recipes import RECIPES

    if args.name not in RECIPES:
        raise ValueError(f"no training recipe {args.name!r}; valid names: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[args.name]
    recipe = dataclasses.replace(recipe, epochs=args.epochs or recipe.epochs, seed=args.seed)
    if args.name == "d2nn":
        from .train_d2nn import train_d2nn

        train_d2nn(recipe, out_dir=args.out)
    else:
        from .train import train

        train(recipe, out_dir=args.out)


def _cmd_models(args: argparse.Namespace) -> None:
    from . import checkpoint, models

    shipped = set(checkpoint.available())
    for name in models.names():
        print(f"{name:10s} {'trained checkpoint' if name in shipped else 'untrained'}")


def _cmd_datasets(args: argparse.Namespace) -> None:
    from . import data

    for name in data.names():
        try:
            meta = data.describe(name)
            print(f"{name:16s} {meta['source']}")
        except (FileNotFoundError, ValueError) as e:
            print(f"{name:16s} unavailable: {e}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="illusion", description="Networked small chips as one big chip.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the main job")
    run.add_argument("--model", default="mnist")
    run.add_argument("--limit", type=int, default=None, help="evaluate the first N test samples only")
    run.add_argument("--json", default=None)
    run.set_defaults(func=_cmd_run)
    ev = sub.add_parser("eval", help="fixed-point accuracy of a shipped checkpoint")
    ev.add_argument("name")
    ev.add_argument("--limit", type=int, default=None)
    ev.add_argument("--json", default=None)
    ev.set_defaults(func=_cmd_eval)
    tr = sub.add_parser("train", help="train a checkpoint with its recipe (imports qtorch)")
    tr.add_argument("name")
    tr.add_argument("--epochs", type=int, default=None)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", default="checkpoints")
    tr.set_defaults(func=_cmd_train)
    sub.add_parser("models", help="registered models").set_defaults(func=_cmd_models)
    sub.add_parser("datasets", help="datasets and the sources found").set_defaults(func=_cmd_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .checkpoint import CheckpointError

    try:
        args.func(args)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        print(f"illusion {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
