"""The ``illusion`` command.

Usage::

    illusion run [--model mnist] [--chips 8] [--capacity 512B] [--preset paper-testchip] [--solver bilp]
                 [--limit N] [--out DIR] [--json PATH]               # the main job
    illusion lifetime --model svhn|d2nn|kws [--chips 8] [--resilience distributed-endurer] [--years 10]
                      [--seed S] [--limit 500] [--json PATH] [--plot PATH]   # RRAM wear over the years
    illusion eval NAME [--limit N] [--json PATH]             # fixed-point accuracy of a shipped checkpoint
    illusion train NAME [--epochs N] [--seed S] [--out DIR]  # retrain a checkpoint with its recipe
    illusion partition --model NAME [--chips N | --max-chips N] [--capacity C] [--solver bilp|first-fit|sequential]
                       [--time-limit S] [--activation-cap C] [--sweep-chips] [--json PATH] [--plot PATH]
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


def _run_capacity(model_name: str, chips: int, weight_bytes: int) -> int:
    """Without --capacity: the paper's per-chip memory for this workload and chip count, else a quarter more
    than an even share of the model's weights (so ``chips`` chips can hold it)."""
    from .paper_data import CAPACITY
    from .units import parse_bytes

    if model_name in CAPACITY and chips in CAPACITY[model_name]:
        return parse_bytes(CAPACITY[model_name][chips])
    return -(-weight_bytes * 5 // (4 * chips))


def _cmd_run(args: argparse.Namespace) -> None:
    """The shipped checkpoint partitioned onto chips, run chip by chip, priced against the ideal chip."""
    from . import checkpoint, data, hardware, models
    from .models import weight_bytes
    from .report import simulate
    from .system import partition
    from .units import format_bytes, parse_bytes

    if args.limit is not None and args.limit <= 0:
        raise ValueError(f"--limit must be a positive number of samples, got {args.limit}")
    chips = None if args.max_chips else args.chips
    if (chips is not None and chips <= 0) or (args.max_chips is not None and args.max_chips <= 0):
        raise ValueError("--chips and --max-chips must be at least 1")
    spec = hardware.preset(args.preset)
    trained = args.model in checkpoint.available()
    if trained:
        model = checkpoint.load(args.model)
        meta = model.checkpoint_meta
        x, y = data.load(meta["recipe"]["dataset"], "test", limit=args.limit)
        dataset, synthetic = meta["dataset"], meta["synthetic"]
    else:                                   # an untrained registry model (torchvision's): random inputs
        import torch

        model = models.get(args.model).eval()
        shape = getattr(model, "input_shape", (3, 224, 224))
        x = torch.randn(args.limit or 4, *shape, generator=torch.Generator().manual_seed(0))
        y, dataset, synthetic = None, "random-normal", True
    capacity = parse_bytes(args.capacity) if args.capacity else _run_capacity(args.model, args.chips,
                                                                              weight_bytes(model))
    system = partition(model, x[:1], chips=chips, max_chips=args.max_chips, capacity=capacity,
                       solver=args.solver, time_limit_s=args.time_limit)
    report = simulate(system, x, y, preset=spec, progress=True, model_name=args.model)
    report.meta.update({"dataset": dataset, "synthetic": synthetic})
    print(system.summary())
    print()
    print(report.summary())
    tail = (f"energy ×{report.energy_ratio:.4f}, time ×{report.time_ratio:.4f}, EDP ×{report.edp_ratio:.4f} of "
            f"the ideal chip on {spec.name}")
    if trained:
        marker = " (SYNTHETIC data)" if synthetic else ""
        print(f"\n{args.model} on {report.chips} chips × {format_bytes(capacity)}: accuracy "
              f"{100 * report.accuracy:.2f} % on {len(y)} {dataset} test samples{marker}; unpartitioned "
              f"{100 * report.reference_accuracy:.2f} %; {report.mismatches} inputs whose logits differ from the "
              f"unpartitioned model's; {tail}")
    else:
        print(f"\n{args.model} (untrained, no checkpoint) on {report.chips} chips × {format_bytes(capacity)}: "
              f"{len(x)} SYNTHETIC random inputs, no accuracy; {report.mismatches} inputs whose logits differ from "
              f"the unpartitioned model's beyond float64 rounding (max |Δ| {report.meta['max_abs_diff']:.2g}); "
              f"{tail}")
    out = Path(args.out) if args.out else Path("runs") / f"{args.model}-{report.chips}chips-{spec.name}"
    report.save(out)
    print(f"report written to {out}/ (report.json, power_timeline.png, energy_breakdown.png, mapping.png)")
    _write_json(args.json, report.as_dict())


def _cmd_lifetime(args: argparse.Namespace) -> None:
    """Years of inference on wearing RRAM chips under a resilience policy; accuracy at ZERO … TENYEAR."""
    from . import checkpoint, data
    from .lifetime import plot_lifetime, simulate
    from .models import weight_bytes
    from .system import partition
    from .units import parse_bytes

    if args.limit <= 0:
        raise ValueError(f"--limit must be a positive number of samples, got {args.limit}")
    params = {k: v for k, v in (("tau", args.tau), ("eps", args.eps), ("c", args.c), ("spares", args.spares))
              if v is not None}
    from .endurer import policy

    policy(args.resilience, **params)                 # a bad name or parameter fails before any work
    model = checkpoint.load(args.model)
    meta = model.checkpoint_meta
    capacity = parse_bytes(args.capacity) if args.capacity else _run_capacity(args.model, args.chips,
                                                                              weight_bytes(model))
    x, y = data.load(meta["recipe"]["dataset"], "test", limit=args.limit)
    system = partition(model, x[:1], chips=args.chips, capacity=capacity)
    result = simulate(system, x, y, resilience=args.resilience, params=params, years=args.years, seed=args.seed,
                      rate=args.rate, model_name=args.model)
    print(result.summary())
    synthetic = " (SYNTHETIC data)" if meta["synthetic"] else ""
    print(f"accuracy on a fixed test subset: the first {len(y)} {meta['dataset']} test samples{synthetic}")
    out = result.as_dict()
    out["dataset"], out["synthetic"] = meta["dataset"], meta["synthetic"]
    _write_json(args.json, out)
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot_lifetime([result], args.plot)


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


def _partition_model(name: str):
    """The trained checkpoint when shipped, else the registry's (untrained) model, and an example input."""
    import torch

    from . import checkpoint, models

    model = checkpoint.load(name) if name in checkpoint.available() else models.get(name)
    shape = getattr(model, "input_shape", (3, 224, 224))
    return model.eval(), torch.zeros(1, *shape)


def _cmd_partition(args: argparse.Namespace) -> None:
    from . import mapping
    from .graph import trace
    from .system import build
    from .units import parse_bytes

    model, example = _partition_model(args.model)
    graph = trace(model, example, model_name=args.model)
    capacity = args.capacity or _default_capacity(graph.weight_bytes)
    m = mapping.solve(graph, capacity, chips=args.chips, max_chips=args.max_chips, solver=args.solver,
                      time_limit_s=args.time_limit, activation_cap=args.activation_cap)
    act = mapping.activation_bytes(graph, m)
    system = build(model, graph, m)
    print(system.summary())
    result = {
        "model": args.model, "chips": m.n_chips, "capacity_bytes": parse_bytes(capacity),
        "inter_chip_bytes": system.inter_chip_bytes, "solver": m.solver, "method": m.method,
        "optimal": m.optimal, "gap": m.gap, "lower_bound": m.lower_bound, "solve_s": round(m.solve_s, 3),
        "weight_bytes": graph.weight_bytes,
        "per_chip": [{"weight_bytes": sum(p.weight_bytes for p in pieces), "activation_bytes": act[c],
                      "nodes": [{"layer": p.layer, "split": p.split, "start": p.start, "stop": p.stop,
                                 "weight_bytes": p.weight_bytes} for p in pieces]} for c, pieces in enumerate(m.chips)],
        "messages": [{"tensor": x.tensor, "src": x.src, "dst": x.dst, "bytes": x.bytes, "per": x.per}
                     for x in system.plan],
    }
    if args.sweep_chips:
        top = args.max_chips or max(m.n_chips + 4, int(m.n_chips * 1.5))
        first = min(m.n_chips, mapping.min_chips(graph, parse_bytes(capacity)))
        rows = mapping.sweep_chips(graph, capacity, range(first, top + 1), time_limit_s=args.time_limit)
        result["sweep"] = rows
        print(f"\n{'chips':>5}  {'bytes between chips':>20}  optimal")
        for r in rows:
            print(f"{r['chips']:>5}  {r.get('inter_chip_bytes', r.get('error', '')):>20}  {r.get('optimal', '')}")
    if args.plot:
        from .mapping.plot import plot_mapping

        plot_mapping(graph, m, args.plot)
    _write_json(args.json, result)


def _default_capacity(weight_bytes: int) -> int:
    """Without --capacity: an eighth of the model, as the paper's 8-chip systems."""
    return -(-weight_bytes // 8)


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
    run = sub.add_parser("run", help="the main job: a shipped checkpoint run chip by chip")
    run.add_argument("--model", default="mnist")
    run.add_argument("--chips", type=int, default=8)
    run.add_argument("--max-chips", type=int, default=None,
                     help="instead of --chips: up to this many, where more lowers traffic")
    run.add_argument("--capacity", default=None,
                     help="weight memory per chip (default: the paper's for the workload and chip count — "
                          "MNIST 8 chips: 0.5 KB — else 1.25 × an even share)")
    run.add_argument("--preset", default="paper-testchip", help="hardware: paper-testchip, accelerator-28nm, "
                                                               "dram-chip")
    run.add_argument("--solver", default="bilp", choices=["bilp", "first-fit", "sequential"])
    run.add_argument("--time-limit", type=float, default=60.0)
    run.add_argument("--limit", type=int, default=None,
                     help="the first N test samples only (an untrained model runs 4 random inputs by default)")
    run.add_argument("--out", default=None, help="report folder (default runs/MODEL-NchipS-PRESET)")
    run.add_argument("--json", default=None)
    run.set_defaults(func=_cmd_run)
    lt = sub.add_parser("lifetime", help="years of inference on wearing RRAM chips, with a resilience policy")
    lt.add_argument("--model", default="svhn", help="svhn, d2nn or kws (any checkpoint with --rate)")
    lt.add_argument("--chips", type=int, default=8)
    lt.add_argument("--capacity", default=None, help="weight memory per chip (default: the paper's)")
    lt.add_argument("--resilience", default="distributed-endurer",
                    help="none, endurer, distributed-endurer, start-gap, distributed-endurer-golden, "
                         "distributed-endurer-plus")
    lt.add_argument("--years", type=float, default=10.0)
    lt.add_argument("--seed", type=int, default=0)
    lt.add_argument("--limit", type=int, default=500, help="accuracy on the first N test samples (default 500)")
    lt.add_argument("--rate", type=float, default=None, help="inferences per 4 hours (default: PAPER.md's)")
    lt.add_argument("--tau", type=float, default=None)
    lt.add_argument("--eps", type=float, default=None)
    lt.add_argument("--c", type=float, default=None)
    lt.add_argument("--spares", type=int, default=None, help="spare words per chip (distributed-endurer-plus)")
    lt.add_argument("--json", default=None)
    lt.add_argument("--plot", default=None, help="PNG: accuracy and stuck bits vs years")
    lt.set_defaults(func=_cmd_lifetime)
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
    pa = sub.add_parser("partition", help="map a model onto chips of small memory")
    pa.add_argument("--model", required=True)
    group = pa.add_mutually_exclusive_group()
    group.add_argument("--chips", type=int, default=None, help="exactly this many chips (at most; empty ones drop)")
    group.add_argument("--max-chips", type=int, default=None, help="up to this many, where more lowers traffic")
    pa.add_argument("--capacity", default=None, help="weight memory per chip, e.g. 512B, 4KiB, 1MiB")
    pa.add_argument("--solver", default="bilp", choices=["bilp", "first-fit", "sequential"])
    pa.add_argument("--time-limit", type=float, default=60.0, help="seconds for the BILP")
    pa.add_argument("--activation-cap", default=None, help="refuse mappings whose chips need more activation buffer")
    pa.add_argument("--sweep-chips", action="store_true", help="table of chips vs bytes between chips")
    pa.add_argument("--json", default=None)
    pa.add_argument("--plot", default=None, help="PNG picture of the mapping")
    pa.set_defaults(func=_cmd_partition)
    sub.add_parser("models", help="registered models").set_defaults(func=_cmd_models)
    sub.add_parser("datasets", help="datasets and the sources found").set_defaults(func=_cmd_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from .checkpoint import CheckpointError

    try:
        args.func(args)
    except (ValueError, FileNotFoundError, CheckpointError, RuntimeError) as e:
        print(f"illusion {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
