"""The ``illusion`` command: a thin shell over the API.

Usage::

    illusion run [--model mnist] [--chips 8 | --max-chips N] [--capacity 512B] [--preset paper-testchip]
                 [--solver bilp] [--limit N] [--out DIR] [--json PATH|-]          # the main job
    illusion lifetime --model svhn|d2nn|kws [--chips 8] [--resilience distributed-endurer] [--years 10]
                      [--seed S] [--limit 500] [--json PATH|-] [--plot PATH.png]   # RRAM wear over the years
    illusion eval NAME [--limit N] [--json PATH|-]            # fixed-point accuracy of a shipped checkpoint
    illusion train NAME [--epochs N] [--seed S] [--out DIR] [--overwrite]   # retrain with its recipe
    illusion partition --model NAME [--chips N | --max-chips N] [--capacity C] [--solver ...]
                       [--time-limit S] [--activation-cap C] [--sweep-chips] [--json PATH|-] [--plot PATH.png]
    illusion models | illusion datasets                       # what is registered

Without ``--capacity``, ``run``, ``partition`` and ``lifetime`` share one rule (``paper.default_capacity``).
``--json -`` prints the JSON on stdout. Errors a user can cause (``IllusionError``) end in one line on stderr
and exit status 2; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import IllusionError
from .files import dumps_json, writable_dir, writable_file, write_atomic

__all__ = ["main"]

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


# -- argument types: a bad value names its option (argparse adds "argument --x:") ------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed must be 0 or more, got {value}")
    return value


def _number(*, positive: bool) -> Callable[[str], float]:
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


def _size(text: str) -> int:
    from .units import parse_bytes

    try:
        return parse_bytes(text)
    except IllusionError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _plot_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise argparse.ArgumentTypeError(f"give a picture file name ending in {', '.join(PLOT_SUFFIXES)}, "
                                         f"got {text!r}")
    return path


# -- output ------------------------------------------------------------------------------------------------
def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, outputs that cannot be written."""
    if getattr(args, "json", None) not in (None, "-"):
        writable_file(args.json, "the JSON file")
    if getattr(args, "plot", None) is not None:
        writable_file(args.plot, "the picture")


def _write_json(path: str | None, result: dict) -> None:
    if path is None:
        return
    text = dumps_json(result)
    if path == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(path), lambda tmp: tmp.write_text(text))


def _say(args: argparse.Namespace, text: str = "") -> None:
    """Human-readable output: on stderr when stdout carries the JSON (``--json -``)."""
    print(text, file=sys.stderr if getattr(args, "json", None) == "-" else sys.stdout)


# -- commands ----------------------------------------------------------------------------------------------
def _shipped(name: str) -> None:
    from . import checkpoint
    from .train import RECIPES

    if name not in checkpoint.available():
        hint = f"; retrain it with `illusion train {name}`" if name in RECIPES else ""
        raise IllusionError(f"no shipped checkpoint {name!r}; shipped: {', '.join(checkpoint.available())}{hint}")


def _cmd_eval(args: argparse.Namespace) -> None:
    from . import checkpoint
    from .evaluate import accuracy

    _shipped(args.name)
    started = time.time()
    ck = checkpoint.record(args.name)
    x, y = ck.test_data(limit=args.limit)
    acc = accuracy(checkpoint.load(args.name), x, y)
    synthetic = " (SYNTHETIC data)" if ck.synthetic else ""
    _say(args, f"{args.name}: fixed-point accuracy {100 * acc:.2f} % on {len(y)} {ck.dataset} test samples"
               f"{synthetic}; checkpoint records {100 * ck.test_accuracy:.2f} % on its full test split")
    _write_json(args.json, {"model": args.name, "dataset": ck.dataset, "synthetic": ck.synthetic,
                            "samples": len(y), "accuracy": acc, "checkpoint_test_accuracy": ck.test_accuracy,
                            "eval_seconds": round(time.time() - started, 2)})


def _cmd_run(args: argparse.Namespace) -> None:
    """The shipped checkpoint partitioned onto chips, run chip by chip, priced against the ideal chip."""
    from .cost.hardware import preset
    from .jobs import capacity_for, workload
    from .report import simulate
    from .system import partition
    from .units import format_bytes

    out = Path(args.out) if args.out else None
    if out is not None:
        writable_dir(out, "the report folder")
    spec = preset(args.preset)
    w = workload(args.model, limit=args.limit)
    chips = None if args.max_chips else args.chips
    capacity = capacity_for(w, args.max_chips or args.chips, args.capacity)
    system = partition(w.model, w.x[:1], chips=chips, max_chips=args.max_chips, capacity=capacity,
                       solver=args.solver, time_limit_s=args.time_limit)
    report = simulate(system, w.x, w.y, preset=spec, progress=True, model_name=args.model)
    report.meta.update({"dataset": w.dataset, "synthetic": w.synthetic})
    _say(args, system.summary())
    _say(args)
    _say(args, report.summary())
    tail = (f"energy ×{report.energy_ratio:.4f}, time ×{report.time_ratio:.4f}, EDP ×{report.edp_ratio:.4f} of "
            f"the ideal chip on {spec.name}")
    if report.accuracy is not None and report.reference_accuracy is not None:
        marker = " (SYNTHETIC data)" if w.synthetic else ""
        _say(args, f"\n{args.model} on {report.chips} chips × {format_bytes(capacity)}: accuracy "
                   f"{100 * report.accuracy:.2f} % on {len(w.x)} {w.dataset} test samples{marker}; unpartitioned "
                   f"{100 * report.reference_accuracy:.2f} %; {report.mismatches} inputs whose logits differ from "
                   f"the unpartitioned model's; {tail}")
    else:
        _say(args, f"\n{args.model} (untrained, no checkpoint) on {report.chips} chips × {format_bytes(capacity)}: "
                   f"{len(w.x)} SYNTHETIC random inputs, no accuracy; {report.mismatches} inputs whose logits "
                   f"differ from the unpartitioned model's beyond float64 rounding (max |Δ| "
                   f"{report.meta['max_abs_diff']:.2g}); {tail}")
    out = out or Path("runs") / f"{args.model}-{report.chips}chips-{spec.name}"
    report.save(out)
    _say(args, f"report written to {out}/ (report.json, power_timeline.png, energy_breakdown.png, mapping.png)")
    _write_json(args.json, report.as_dict())


def _cmd_lifetime(args: argparse.Namespace) -> None:
    """Years of inference on wearing RRAM chips under a resilience policy; accuracy at ZERO … TENYEAR."""
    from .jobs import capacity_for, workload
    from .plots import plot_lifetime
    from .system import partition
    from .wear import policy, simulate
    from .wear.lifetime import marks_until

    params = {k: v for k, v in (("tau", args.tau), ("eps", args.eps), ("c", args.c), ("spares", args.spares))
              if v is not None}
    resilience = policy(args.resilience, **params)    # a bad parameter fails before any work
    marks_until(args.years)
    _shipped(args.model)
    w = workload(args.model, limit=args.limit)
    assert w.y is not None                            # a shipped checkpoint: its test labels
    capacity = capacity_for(w, args.chips, args.capacity)
    system = partition(w.model, w.x[:1], chips=args.chips, capacity=capacity)
    result = simulate(system, w.x, w.y, resilience=resilience, years=args.years, seed=args.seed, rate=args.rate)
    _say(args, result.summary())
    synthetic = " (SYNTHETIC data)" if w.synthetic else ""
    _say(args, f"accuracy on a fixed test subset: the first {len(w.x)} {w.dataset} test samples{synthetic}")
    _write_json(args.json, {**result.as_dict(), "dataset": w.dataset, "synthetic": w.synthetic})
    if args.plot:
        plot_lifetime([result], args.plot)


def _cmd_train(args: argparse.Namespace) -> None:
    import dataclasses

    from . import checkpoint
    from .train import RECIPES, train, train_d2nn

    if args.name not in RECIPES:
        raise IllusionError(f"no training recipe {args.name!r}; valid names: {', '.join(sorted(RECIPES))}")
    out = writable_dir(args.out, "the checkpoint folder")
    if args.name in checkpoint.available(out) and not args.overwrite:
        raise IllusionError(f"{out / args.name}.pt already exists; pass --overwrite to replace it, or choose "
                            f"another --out")
    recipe = RECIPES[args.name]
    recipe = dataclasses.replace(recipe, epochs=args.epochs if args.epochs is not None else recipe.epochs,
                                 seed=args.seed)
    (train_d2nn if args.name == "d2nn" else train)(recipe, out_dir=out)


def _cmd_partition(args: argparse.Namespace) -> None:
    from .jobs import capacity_for, workload
    from .partitioning import min_chips, solve, sweep_chips
    from .partitioning.trace import trace
    from .plots import plot_mapping
    from .system import build

    w = workload(args.model, limit=1)
    graph = trace(w.model, w.x[:1], model_name=args.model)
    capacity = capacity_for(w, args.chips or args.max_chips or 8, args.capacity)
    m = solve(graph, capacity, chips=args.chips, max_chips=args.max_chips, solver=args.solver,
              time_limit_s=args.time_limit, activation_cap=args.activation_cap)
    system = build(w.model, graph, m)
    _say(args, system.summary())
    result = system.as_dict()
    if args.sweep_chips:
        top = args.max_chips or max(m.n_chips + 4, int(m.n_chips * 1.5))
        first = min(m.n_chips, min_chips(graph, capacity))
        rows = sweep_chips(graph, capacity, range(first, top + 1), time_limit_s=args.time_limit)
        result["sweep"] = rows
        _say(args, f"\n{'chips':>5}  {'bytes between chips':>20}  optimal")
        for r in rows:
            _say(args, f"{r['chips']:>5}  {r.get('inter_chip_bytes', r.get('error', '')):>20}  "
                       f"{r.get('optimal', '')}")
    if args.plot:
        plot_mapping(graph, m, args.plot)
    _write_json(args.json, result)


def _cmd_models(args: argparse.Namespace) -> None:
    from . import checkpoint, models

    shipped = set(checkpoint.available())
    for name in models.list_models():
        print(f"{name:14s} {'trained checkpoint' if name in shipped else 'untrained'}")


def _cmd_datasets(args: argparse.Namespace) -> None:
    from . import data

    for name in data.names():
        try:
            print(f"{name:16s} {data.describe(name)['source']}")
        except IllusionError as e:
            print(f"{name:16s} unavailable: {e}")


class _Parser(argparse.ArgumentParser):
    """Bad arguments end in one line, like every other user error."""

    def error(self, message: str):  # type: ignore[override]
        raise IllusionError(f"{message} (see `{self.prog} --help`)")


def _parser() -> argparse.ArgumentParser:
    from .cost.hardware import PRESETS
    from .partitioning import SOLVERS
    from .wear import POLICIES

    parser = _Parser(prog="illusion", description="Networked small chips as one big chip.")
    sub = parser.add_subparsers(dest="command", required=True)

    def chip_counts(p: argparse.ArgumentParser, default: int | None) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--chips", type=_positive_int, default=default,
                           help=f"exactly this many chips (at most; empty ones drop){'' if default is None else ''}")
        group.add_argument("--max-chips", type=_positive_int, default=None,
                           help="up to this many, where more lowers traffic")

    capacity_help = ("weight memory per chip, e.g. 512B, 4KiB, 1MiB (default: the paper's for the workload and "
                     "chip count — MNIST 8 chips: 0.5 KB — else 1.25 × an even share)")
    run = sub.add_parser("run", help="the main job: a shipped checkpoint run chip by chip")
    run.add_argument("--model", default="mnist")
    chip_counts(run, 8)
    run.add_argument("--capacity", type=_size, default=None, help=capacity_help)
    run.add_argument("--preset", default="paper-testchip", choices=sorted(PRESETS))
    run.add_argument("--solver", default="bilp", choices=SOLVERS)
    run.add_argument("--time-limit", type=_number(positive=True), default=60.0)
    run.add_argument("--limit", type=_positive_int, default=None,
                     help="the first N test samples only (an untrained model runs 4 random inputs by default)")
    run.add_argument("--out", default=None, help="report folder (default runs/MODEL-NchipS-PRESET), replaced whole")
    run.add_argument("--json", default=None, help="write the report's JSON here ('-': stdout)")
    run.set_defaults(func=_cmd_run)

    lt = sub.add_parser("lifetime", help="years of inference on wearing RRAM chips, with a resilience policy")
    lt.add_argument("--model", default="svhn", help="svhn, d2nn or kws (any checkpoint with --rate)")
    lt.add_argument("--chips", type=_positive_int, default=8)
    lt.add_argument("--capacity", type=_size, default=None, help=capacity_help)
    lt.add_argument("--resilience", default="distributed-endurer", choices=list(POLICIES))
    lt.add_argument("--years", type=_number(positive=True), default=10.0, help="at most 100")
    lt.add_argument("--seed", type=_seed, default=0)
    lt.add_argument("--limit", type=_positive_int, default=500, help="accuracy on the first N test samples")
    lt.add_argument("--rate", type=_number(positive=True), default=None,
                    help="inferences per 4 hours (default: PAPER.md's)")
    lt.add_argument("--tau", type=_number(positive=False), default=None)
    lt.add_argument("--eps", type=_number(positive=False), default=None)
    lt.add_argument("--c", type=_number(positive=False), default=None)
    lt.add_argument("--spares", type=_seed, default=None, help="spare words per chip (distributed-endurer-plus)")
    lt.add_argument("--json", default=None, help="'-': stdout")
    lt.add_argument("--plot", type=_plot_path, default=None, help="picture: accuracy and stuck bits vs years")
    lt.set_defaults(func=_cmd_lifetime)

    ev = sub.add_parser("eval", help="fixed-point accuracy of a shipped checkpoint")
    ev.add_argument("name")
    ev.add_argument("--limit", type=_positive_int, default=None)
    ev.add_argument("--json", default=None, help="'-': stdout")
    ev.set_defaults(func=_cmd_eval)

    tr = sub.add_parser("train", help="train a checkpoint with its recipe (imports qtorch)")
    tr.add_argument("name")
    tr.add_argument("--epochs", type=_positive_int, default=None)
    tr.add_argument("--seed", type=_seed, default=0)
    tr.add_argument("--out", default="runs/checkpoints",
                    help="folder for NAME.pt and NAME.json (default runs/checkpoints; the shipped ones are in "
                         "checkpoints/)")
    tr.add_argument("--overwrite", action="store_true", help="replace a checkpoint of that name in --out")
    tr.set_defaults(func=_cmd_train)

    pa = sub.add_parser("partition", help="map a model onto chips of small memory")
    pa.add_argument("--model", required=True)
    chip_counts(pa, None)
    pa.add_argument("--capacity", type=_size, default=None, help=capacity_help)
    pa.add_argument("--solver", default="bilp", choices=SOLVERS)
    pa.add_argument("--time-limit", type=_number(positive=True), default=60.0, help="seconds for the BILP")
    pa.add_argument("--activation-cap", type=_size, default=None,
                    help="refuse mappings whose chips need more activation buffer")
    pa.add_argument("--sweep-chips", action="store_true", help="table of chips vs bytes between chips")
    pa.add_argument("--json", default=None, help="'-': stdout")
    pa.add_argument("--plot", type=_plot_path, default=None, help="picture of the mapping")
    pa.set_defaults(func=_cmd_partition)

    sub.add_parser("models", help="registered models").set_defaults(func=_cmd_models)
    sub.add_parser("datasets", help="datasets and the sources found").set_defaults(func=_cmd_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except IllusionError as e:
        print(f"illusion: {e}", file=sys.stderr)
        return 2
    try:
        _check_outputs(args)
        args.func(args)
    except IllusionError as e:
        print(f"illusion {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
