"""The ``illusion`` command's jobs: each takes the parsed arguments and calls the API.

Usage::

    from illusion_torch.cli.commands import run
    run(argparse.Namespace(model="mnist", chips=8, ...))
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from ..errors import IllusionError
from ..files import replaceable_dir, writable_dir
from .arguments import say, settle, stage, write_json

__all__ = ["eval_checkpoint", "run", "lifetime", "train", "partition", "models", "datasets"]


def _shipped(name: str) -> None:
    from .. import checkpoint
    from ..train import RECIPES

    if name not in checkpoint.available():
        hint = f"; retrain it with `illusion train {name}`" if name in RECIPES else ""
        raise IllusionError(f"no shipped checkpoint {name!r}; shipped: {', '.join(checkpoint.available())}{hint}")


def _count(args: argparse.Namespace) -> str:
    """How many chips the options ask for, in words: "8", "up to 61", "the fewest"."""
    if getattr(args, "max_chips", None):
        return f"up to {args.max_chips}"
    return str(args.chips) if args.chips else "the fewest"


def _partition(args: argparse.Namespace, w, capacity: int, *, chips: int | None, max_chips: int | None,
               fixed_chips: str = "", **options):
    """``il.partition`` for a command: a failure the options caused names them (the default capacity comes
    from the chip count; SYNTHETIC inputs from --input-shape or the model's default)."""
    from ..errors import CapacityError
    from ..partitioning.inputs import InputsRejected
    from ..system import partition
    from ..units import bytes_text

    objective = getattr(args, "objective", "bytes")
    if objective != "bytes":                          # priced on the run's chips (and its link cost)
        from ..cost.hardware import preset as get_preset

        spec = get_preset(getattr(args, "preset", "paper-testchip"))
        if getattr(args, "link_cost", 1.0) != 1.0:
            spec = spec.with_link_cost(args.link_cost)
        options.update(objective=objective, preset=spec)
    try:
        return partition(w.model, w.x[:1], chips=chips, max_chips=max_chips, capacity=capacity,
                         capture=getattr(args, "capture", "auto"), **options)
    except CapacityError as e:
        n = f"{chips or max_chips:,} chips" + (f" ({fixed_chips})" if fixed_chips else "")
        if args.capacity is None:
            why = f"{bytes_text(capacity)} per chip is the default share for {n} (no --capacity given): give --capacity"
            fix = "" if fixed_chips else ", or fewer --chips"
        else:
            why = f"--capacity {bytes_text(capacity)} on {n}: give a larger --capacity"
            fix = "" if fixed_chips else ", or more --chips"
        raise CapacityError(f"{e}; {why}{fix}") from None
    except InputsRejected as e:
        if not w.random_inputs:
            raise
        given = ",".join(map(str, w.x.shape[1:]))
        src = f"--input-shape {given}" if args.input_shape else f"shape {given}, the model's default (no --input-shape)"
        raise InputsRejected(f"{e}. The SYNTHETIC inputs have {src}: give the --input-shape the model takes"
                             + ("" if w.x.is_floating_point() else ", and --vocab")) from None


def eval_checkpoint(args: argparse.Namespace) -> None:
    from .. import checkpoint
    from ..metrics import metric_text
    from ..metrics.batched import accuracy
    from ..units import percent

    _shipped(args.name)
    started = time.time()
    ck = checkpoint.record(args.name)
    x, y = ck.test_data(limit=args.limit)
    if "quantization" in ck.meta:           # post-training quantized: its metric against its float model
        from ..pretrained.quantize import fixed_outputs, task_metric

        m = task_metric(args.name, x, y).evaluate(fixed_outputs(checkpoint.load(args.name), x))
        say(args, f"{args.name}: fixed point {metric_text(m)} on {len(x)} real {ck.dataset} test inputs; checkpoint "
                   f"records {metric_text(ck.meta['metric'], float_model=False)} on {ck.meta['metric']['samples']}")
        write_json(args.json, {"model": args.name, "dataset": ck.dataset, "synthetic": ck.synthetic,
                                "samples": len(x), "metric": m, "eval_seconds": round(time.time() - started, 2)})
        return
    acc = accuracy(checkpoint.load(args.name), x, y)
    synthetic = " (SYNTHETIC data)" if ck.synthetic else ""
    recorded = "" if ck.test_accuracy is None else (f"; checkpoint records {percent(ck.test_accuracy)} on its "
                                                    "full test split")
    say(args, f"{args.name}: fixed-point accuracy {percent(acc)} on {len(y)} {ck.dataset} test samples"
               f"{synthetic}{recorded}")
    write_json(args.json, {"model": args.name, "dataset": ck.dataset, "synthetic": ck.synthetic,
                            "samples": len(y), "accuracy": acc, "checkpoint_test_accuracy": ck.test_accuracy,
                            "eval_seconds": round(time.time() - started, 2)})


def _distributed_options(args: argparse.Namespace) -> None:
    """Refuse options that cannot apply (before any work); fill in the defaults of those that do."""
    import os

    from ..distributed.launch import launched_by_torchrun

    given = [o for o, v in (("--schedule", args.schedule), ("--batch", args.batch), ("--depth", args.depth),
                            ("--timeout", args.timeout))
             if v is not None]
    if args.procs is None and given:
        raise IllusionError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to a distributed run: "
                            f"add --procs N, or drop {'it' if len(given) == 1 else 'them'}")
    if args.depth is not None and args.schedule != "pipelined":
        raise IllusionError("--depth sets how many batches are in flight with --schedule pipelined: add "
                            "--schedule pipelined, or drop --depth")
    args.schedule, args.batch, args.depth = args.schedule or "one", args.batch or 1, args.depth or 4
    left = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")
            if v in os.environ]
    if args.procs is not None and not args.torchrun and launched_by_torchrun():
        raise IllusionError(f"{', '.join(left)} {'is' if len(left) == 1 else 'are'} set in the environment (left "
                            f"from torchrun?); illusion run --procs starts its own ranks on this machine: unset "
                            f"{'it' if len(left) == 1 else 'them'}, or start every rank with torchrun -m "
                            f"illusion_torch.distributed")


def run(args: argparse.Namespace) -> None:
    """The shipped checkpoint partitioned onto chips, run chip by chip, priced against the ideal chip."""
    from ..cost.hardware import preset
    from ..metrics import metric_text
    from ..report import REPORT_FILES, run_and_price
    from ..units import bytes_text, percent
    from .jobs import capacity_for, job

    _distributed_options(args)
    out = None if args.out is None else replaceable_dir(args.out, REPORT_FILES, "the report folder (--out)")
    spec = preset(args.preset).with_link_cost(args.link_cost)
    stage(args, f"loading {args.model} and its inputs")
    w = job(args.model, limit=args.limit, input_shape=args.input_shape, vocab=args.vocab, weights=args.weights)
    if args.chips is None and args.max_chips is None and args.capacity is None:
        args.chips = 8                          # the paper's systems; with --capacity: the fewest that fit, as
    chips = None if args.max_chips else args.chips     # `illusion partition` counts them
    capacity = capacity_for(w, args.max_chips or args.chips or 8, args.capacity)
    count = f"up to {args.max_chips}" if args.max_chips else str(chips) if chips else "the fewest"
    stage(args, f"mapping onto {count} chips of {bytes_text(capacity)} ({args.solver}, time limit "
                f"{args.time_limit:g} s)")
    system = _partition(args, w, capacity, chips=chips, max_chips=args.max_chips, solver=args.solver,
                        time_limit_s=args.time_limit, weights_only=args.weights_only)
    stage(args, f"{system.mapping.n_chips} chips, {bytes_text(system.inter_chip_bytes)} between them; running "
                f"{len(w.x)} inputs chip by chip, then pricing on {spec.name}")
    if out is None:                  # the default folder is named by the chips used: checked before the run
        out = replaceable_dir(Path("runs") / f"{args.model}-{system.mapping.n_chips}chips-{spec.name}", REPORT_FILES,
                              "the report folder")
    distributed = None
    if args.procs:
        from ..distributed import distributed_meta, run_distributed
        from ..runtime import Runtime
        from ..runtime.engine import RunResult

        distributed = run_distributed(system, w.x, args.procs, schedule=args.schedule, batch=args.batch,
                                      depth=args.depth, join=args.torchrun, timeout_s=args.timeout)
        result = RunResult(distributed.logits, distributed.routes, distributed.runs,
                           Runtime(system).counters(distributed.runs))
        report = run_and_price(system, w.x, w.y, preset=spec, model_name=args.model, result=result)
        report.meta.update(distributed_meta(distributed))
    else:
        report = run_and_price(system, w.x, w.y, preset=spec, progress=not args.quiet, model_name=args.model)
    report.meta.update({"dataset": w.dataset, "synthetic": w.synthetic})
    if w.metric is not None:
        report.meta["metric"] = {**w.metric.evaluate(report.logits), "samples": len(w.x)}
    if w.labels != "labels":
        report.meta["accuracy_is"] = "top-1 agreement with the float model (the images have no labels)"
    say(args, system.summary())
    say(args)
    say(args, report.summary())
    tail = (f"energy ×{report.energy_ratio:.4f}, time ×{report.time_ratio:.4f}, EDP ×{report.edp_ratio:.4f} of "
            f"the ideal chip on {spec.name}")
    where = f"{args.model} on {report.chips} chips × {bytes_text(capacity)}"
    marker = " (SYNTHETIC data)" if w.synthetic else ""
    if w.metric is not None:
        say(args, f"\n{where}: {metric_text(report.meta['metric'])} on "
                   f"{len(w.x)} real {w.dataset} test inputs{marker}; {report.mismatches} inputs whose outputs "
                   f"differ from the unpartitioned {'fixed-point ' if system.graph.config.fixed_point else ''}"
                   f"model's; {tail}")
    elif report.accuracy is not None and report.reference_accuracy is not None:
        say(args, f"\n{where}: accuracy {percent(report.accuracy)} on {len(w.x)} {w.dataset} test samples"
                   f"{marker}; unpartitioned {percent(report.reference_accuracy)}; {report.mismatches} inputs "
                   f"whose logits differ from the unpartitioned model's; {tail}")
    else:
        say(args, f"\n{args.model} (untrained, no checkpoint) on {report.chips} chips × {bytes_text(capacity)}: "
                   f"{len(w.x)} SYNTHETIC random inputs, no accuracy; {report.mismatches} inputs whose logits "
                   f"differ from the unpartitioned model's beyond float64 rounding (max |Δ| "
                   f"{report.meta['max_abs_diff']:.2g}); {tail}")
    stage(args, f"saving the report and its figures to {out}/")
    report.save(out)
    if distributed is not None:
        say(args, f"{distributed.procs} processes ({distributed.schedule}, {distributed.batch} input(s) per message):"
                  f" {bytes_text(distributed.wire_bytes)} sent between chip ranks (the plan's: "
                  f"{bytes_text(distributed.expected_wire_bytes)}), {bytes_text(distributed.host_bytes)} host I/O, "
                  f"{distributed.wall_s:.2f} s; peak RSS per rank "
                  f"{', '.join(f'{s.peak_rss / 2**20:.0f}' for s in distributed.ranks)} MiB")
    say(args, f"report written to {out}/ (report.json, power_timeline.png, energy_breakdown.png, mapping.png)")
    write_json(args.json, report.as_dict())


def lifetime(args: argparse.Namespace) -> None:
    """Years of inference on wearing RRAM chips under a resilience policy; accuracy at ZERO … TENYEAR."""
    from ..paper.endurance_run import WORKLOADS, Assumptions, run_experiment, stuck_at_one
    from ..report.plots import plot_lifetime
    from ..units import bytes_text
    from ..wear import PAPER_ENDURANCE, policy, simulate
    from ..wear.lifetime import marks_until
    from .jobs import capacity_for, job

    share = stuck_at_one(args.stuck_at_1)
    on = {None: None, "on": True, "off": False}
    if args.chips is None and (args.capacity is None or args.scenario == "paper"):
        args.chips = 8                  # the paper's systems; --capacity alone: the fewest chips that fit it
    if args.scenario == "paper":
        if args.model not in WORKLOADS:
            raise IllusionError(f"the paper ran its endurance experiment on {', '.join(WORKLOADS)}; --scenario "
                                f"paper cannot run {args.model!r} (use --scenario ours)")
        if any(v is not None for v in (args.tau, args.eps, args.c)):
            raise IllusionError("--scenario paper runs the experiments' own TAU/EPS/C (paper/endurance_run.py "
                                "PAPER_DE); drop --tau/--eps/--c, or use --scenario ours")
        if args.chips != 8:
            raise IllusionError("the paper's experiment ran on 8 chips: drop --chips or give --chips 8")
        assumptions = Assumptions(wears=args.wears or "buffer", stuck_at_one=share,
                                  mask_weights=on[args.weight_masks], packed=not args.one_value_per_word,
                                  write_back=on[args.write_back], spares=args.spares)
    elif args.wears == "buffer" or args.one_value_per_word:
        raise IllusionError("--wears buffer and --one-value-per-word are assumptions of --scenario paper (the "
                            "paper's one RRAM buffer); with --scenario ours, --wears takes ours or every")
    params = {k: v for k, v in (("tau", args.tau), ("eps", args.eps), ("c", args.c), ("spares", args.spares))
              if v is not None}
    resilience = policy(args.resilience, **params) if args.scenario == "ours" else None   # fails before any work
    marks_until(args.years)
    _shipped(args.model)
    stage(args, f"loading {args.model} and its first {args.limit} test inputs" if args.limit else
          f"loading {args.model} and its test split")
    w = job(args.model, limit=args.limit)
    assert w.y is not None                            # a shipped checkpoint: its test labels
    capacity = capacity_for(w, args.chips or 8, args.capacity)
    stage(args, f"mapping onto {args.chips or 'the fewest'} chips of {bytes_text(capacity)} ({args.solver})")
    system = _partition(args, w, capacity, chips=args.chips, max_chips=None, solver=args.solver,
                        time_limit_s=args.time_limit,
                        fixed_chips="--scenario paper runs on 8" if args.scenario == "paper" else "")
    stage(args, f"{args.years:g} years of wear on {system.mapping.n_chips} chips ({args.resilience}, "
                f"{args.scenario} scenario), accuracy on {len(w.x)} inputs at each mark")
    if args.scenario == "paper":
        result = run_experiment(system, w.x, w.y, resilience=args.resilience, years=args.years, seed=args.seed,
                                rate=args.rate, assumptions=assumptions)
    else:
        assert resilience is not None
        endurance = replace(PAPER_ENDURANCE, stuck_at_zero=1 - share)
        result = simulate(system, w.x, w.y, resilience=resilience, years=args.years, seed=args.seed, rate=args.rate,
                          endurance=endurance, layout=args.wears or "ours",
                          write_back_on=on[args.write_back] is not False,
                          mask_weights=on[args.weight_masks] is not False)
    settle()
    say(args, result.summary())
    synthetic = " (SYNTHETIC data)" if w.synthetic else ""
    say(args, f"accuracy on a fixed test subset: the first {len(w.x)} {w.dataset} test samples{synthetic}")
    write_json(args.json, {**result.as_dict(), "dataset": w.dataset, "synthetic": w.synthetic})
    if args.plot:
        plot_lifetime([result], args.plot)


def train(args: argparse.Namespace) -> None:
    import dataclasses

    from .. import checkpoint
    from ..train import RECIPES, train_d2nn
    from ..train import train as train_recipe

    if args.name not in RECIPES:
        raise IllusionError(f"no training recipe {args.name!r}; valid names: {', '.join(sorted(RECIPES))}")
    out = writable_dir(args.out, "the checkpoint folder")
    if args.name in checkpoint.available(out) and not args.overwrite:
        raise IllusionError(f"{out / args.name}.pt already exists; pass --overwrite to replace it, or choose "
                            f"another --out")
    recipe = RECIPES[args.name]
    recipe = dataclasses.replace(recipe, epochs=args.epochs if args.epochs is not None else recipe.epochs,
                                 seed=args.seed)
    (train_d2nn if args.name == "d2nn" else train_recipe)(recipe, out_dir=out)


def partition(args: argparse.Namespace) -> None:
    from ..partitioning import min_chips, sweep_chips
    from ..report.plots import plot_mapping
    from ..units import bytes_text
    from .jobs import capacity_for, job

    stage(args, f"loading {args.model}")
    w = job(args.model, limit=1, input_shape=args.input_shape, vocab=args.vocab, weights=args.weights)
    capacity = capacity_for(w, args.chips or args.max_chips or 8, args.capacity)
    stage(args, f"tracing and mapping onto {_count(args)} chips of {bytes_text(capacity)} ({args.solver}, time "
                f"limit {args.time_limit:g} s)")
    system = _partition(args, w, capacity, chips=args.chips, max_chips=args.max_chips, solver=args.solver,
                        time_limit_s=args.time_limit, activation_cap=args.activation_cap,
                        weights_only=args.weights_only)
    settle()
    system.graph.model_name = args.model
    graph, m = system.graph, system.mapping
    say(args, system.summary())
    result = system.as_dict()
    if args.sweep_chips:
        top = args.max_chips or max(m.n_chips + 4, int(m.n_chips * 1.5))
        first = min(m.n_chips, min_chips(graph, capacity))
        stage(args, f"mapping onto each of {first}–{top} chips")
        rows = sweep_chips(graph, capacity, range(first, top + 1), time_limit_s=args.time_limit)
        settle()
        result["sweep"] = rows
        say(args, f"\n{'chips':>5}  {'bytes between chips':>20}  optimal")
        for r in rows:
            say(args, f"{r['chips']:>5}  {r.get('inter_chip_bytes', r.get('error', '')):>20}  "
                       f"{r.get('optimal', '')}")
    if args.plot:
        stage(args, f"drawing the mapping to {args.plot}")
        plot_mapping(graph, m, args.plot)
        settle()
    write_json(args.json, result)


def export(args: argparse.Namespace) -> None:
    from ..deploy import export as export_programs
    from ..deploy.onnx_export import _replaceable
    from ..units import bytes_text
    from .jobs import capacity_for, job

    _replaceable(Path(args.out))                      # refused before any work
    stage(args, f"loading {args.model}")
    w = job(args.model, limit=1, input_shape=args.input_shape, vocab=args.vocab, weights=args.weights)
    capacity = capacity_for(w, args.chips or args.max_chips or 8, args.capacity)
    stage(args, f"tracing and mapping onto {_count(args)} chips of {bytes_text(capacity)} ({args.solver})")
    system = _partition(args, w, capacity, chips=args.chips, max_chips=args.max_chips, solver=args.solver,
                        time_limit_s=args.time_limit)
    settle()
    system.graph.model_name = args.model
    say(args, system.summary().splitlines()[0])
    result = export_programs(system, args.out, progress=not args.quiet, c=args.c)
    say(args, f"{result.wakes} wakes on {result.chips} chips exported to {result.folder}/ in {result.seconds:.1f} s "
              f"({result.plan_bytes:,} B between chips per inference); run it without torch: python "
              f"{result.folder}/run.py --inputs x.npy --out logits.npy")
    if args.c:
        say(args, f"C for each chip: make -C {result.folder}/c && python {result.folder}/run_c.py --inputs x.npy "
                  f"--out logits.npy")


def models(args: argparse.Namespace) -> None:
    from .. import checkpoint
    from ..models import list_models

    shipped = set(checkpoint.available())
    for name in list_models():
        kind = "untrained"
        if name in shipped:
            meta = checkpoint.record(name).meta
            kind = "trained checkpoint" if "quantization" not in meta else (
                "pretrained (fetched), post-training quantized" if "pretrained" in meta else
                "trained here, post-training quantized")
        print(f"{name:14s} {kind}")


def datasets(args: argparse.Namespace) -> None:
    from .. import data

    for name in data.names():
        try:
            print(f"{name:16s} {data.describe(name)['source']}")
        except IllusionError as e:
            print(f"{name:16s} unavailable: {e}")

