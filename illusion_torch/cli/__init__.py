"""The ``illusion`` command: a thin shell over the API.

Usage::

    illusion run [--model mnist] [--chips 8 | --max-chips N] [--capacity 512B] [--preset paper-testchip]
                 [--solver bilp] [--limit N] [--out DIR] [--json PATH|-]          # the main job
                 [--weights-only] [--link-cost K]
    illusion lifetime --model svhn|d2nn|kws [--chips 8] [--resilience distributed-endurer] [--years 10]
                      [--solver bilp] [--rate R]                 # any checkpoint with --rate (mobilenet_v2 …)
                      [--seed S] [--limit 500] [--json PATH|-] [--plot PATH.png]   # RRAM wear over the years
                      [--scenario ours|paper] [--stuck-at-1 F|de-mix] [--write-back on|off]
                      [--weight-masks on|off] [--wears buffer|ours|every] [--one-value-per-word]
    illusion eval NAME [--limit N] [--json PATH|-]            # fixed-point accuracy of a shipped checkpoint
    illusion train NAME [--epochs N] [--seed S] [--out DIR] [--overwrite]   # retrain with its recipe
    illusion partition --model NAME [--chips N | --max-chips N] [--capacity C] [--solver ...]
                       [--time-limit S] [--activation-cap C] [--sweep-chips] [--json PATH|-] [--plot PATH.png]
                       [--weights-only]
    illusion models | illusion datasets                       # what is registered

Without ``--capacity``, ``run``, ``partition`` and ``lifetime`` share one rule (``paper.default_capacity``).
``--json -`` prints the JSON on stdout. Errors a user can cause (``IllusionError``) end in one line on stderr
and exit status 2; anything else is a bug and shows its traceback. Ctrl-C ends any command within about a
second with one line and exit status 130 (``interrupt``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import interrupt
from ..errors import IllusionError
from . import commands
from .arguments import (
    at_least,
    check_outputs,
    joined_values,
    number,
    plot_path,
    positive_int,
    seed,
    settle,
    shape,
    size,
)

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """Bad arguments end in one line, like every other user error."""

    def error(self, message: str):  # type: ignore[override]
        raise IllusionError(f"{message} (see `{self.prog} --help`)")


def _parser() -> argparse.ArgumentParser:
    from ..cost.hardware import PRESETS
    from ..objectives import OBJECTIVES
    from ..partitioning import CAPTURES, SOLVERS
    from ..wear import POLICIES

    parser = _Parser(prog="illusion", description="Networked small chips as one big chip.")
    sub = parser.add_subparsers(dest="command", required=True)

    def chip_counts(p: argparse.ArgumentParser, default: int | None) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("--chips", type=positive_int, default=default,
                           help="exactly this many chips (at most; empty ones drop); without it, the fewest that "
                                "fit --capacity (without either: 8, the paper's system)")
        group.add_argument("--max-chips", type=positive_int, default=None,
                           help="up to this many, where more lowers traffic")

    def model_source(p: argparse.ArgumentParser, default: str | None) -> None:
        p.add_argument("--model", default=default, required=default is None,
                       help="a registered name (`illusion models`), torchvision:NAME, package.module:factory or "
                            "hf:DIR (a Hugging Face model folder; needs transformers)")
        p.add_argument("--capture", default="auto", choices=CAPTURES,
                       help="how the model becomes a graph: torch.fx, else torch.export (auto; the default), or "
                            "only one of them")
        p.add_argument("--weights", default=None, help="a state dict (.pt) to load into the model")
        p.add_argument("--input-shape", type=shape, default=None,
                       help="C,H,W (or T token ids with --vocab) of the SYNTHETIC random inputs of a model "
                            "without a dataset (default: its config, else 3,224,224)")
        p.add_argument("--vocab", type=positive_int, default=None, help="inputs are token ids in [0, N)")

    capacity_help = ("weight memory per chip, e.g. 512B, 4KiB, 1MiB (default: the paper's for the workload and "
                     "chip count — MNIST 8 chips: 0.5 KB — else 1.25 × an even share)")
    run = sub.add_parser("run", help="the main job: a shipped checkpoint run chip by chip")
    model_source(run, "mnist")
    chip_counts(run, None)
    run.add_argument("--capacity", type=size, default=None, help=capacity_help)
    run.add_argument("--preset", default="paper-testchip", choices=sorted(PRESETS))
    run.add_argument("--solver", default="bilp", choices=SOLVERS)
    run.add_argument("--objective", default="bytes", choices=OBJECTIVES,
                     help="what the mapping minimizes: bytes between chips (the paper's; default), or the "
                              "energy or time of one inference on --preset")
    run.add_argument("--time-limit", type=number(positive=True), default=60.0)
    run.add_argument("--weights-only", action="store_true", default=None,
                     help="fill chips counting weights only (no biases, norms, constants), as the paper's scale-up "
                          "simulator; the paper-* networks always do")
    run.add_argument("--link-cost", type=number(positive=True), default=1.0,
                     help="links this many times as costly (energy, latency and time per byte; the paper's ×2/×4/×8)")
    run.add_argument("--limit", type=positive_int, default=None,
                     help="the first N test samples only (an untrained model runs 4 random inputs by default)")
    run.add_argument("--out", default=None,
                     help="report folder (default runs/MODEL-NchipS-PRESET): a new folder, or an earlier report's, "
                          "which is replaced whole; a folder holding anything else is refused")
    run.add_argument("--json", default=None, help="write the report's JSON here ('-': stdout)")
    run.add_argument("--quiet", action="store_true", help="no stage lines or progress bars on stderr")
    run.add_argument("--procs", type=at_least(2, "the host and one chip rank"), default=None,
                     help="run the chips in N processes on torch.distributed: rank 0 the host, N − 1 chip ranks "
                          "(contiguous chip groups; N = chips + 1: one chip per rank)")
    run.add_argument("--schedule", default=None, choices=["one", "pipelined"],
                     help="with --procs: one batch in flight (the paper's; default), or up to --depth batches in "
                          "flight")
    run.add_argument("--batch", type=positive_int, default=None, help="with --procs: inputs per message (default 1)")
    run.add_argument("--depth", type=positive_int, default=None,
                     help="with --schedule pipelined: batches in flight (default 4)")
    run.add_argument("--timeout", type=number(positive=True), default=None,
                     help="with --procs: the longest wait in seconds for any exchange between ranks (default 60; "
                          "300 under torchrun, where rank 0 partitions the model while the others wait)")
    run.add_argument("--torchrun", action="store_true", help=argparse.SUPPRESS)   # set by the torchrun entry
    run.set_defaults(func=commands.run)

    lt = sub.add_parser("lifetime", help="years of inference on wearing RRAM chips, with a resilience policy")
    lt.add_argument("--model", default="svhn", help="svhn, d2nn or kws (any checkpoint with --rate)")
    lt.add_argument("--chips", type=positive_int, default=None,
                    help="exactly this many chips; without it, the fewest that fit --capacity (without either: 8)")
    lt.add_argument("--capacity", type=size, default=None, help=capacity_help)
    lt.add_argument("--solver", default="bilp", choices=SOLVERS,
                    help="the mapping (wear follows it; first-fit maps hundreds of chips in seconds)")
    lt.add_argument("--time-limit", type=number(positive=True), default=60.0, help="seconds for the BILP")
    lt.add_argument("--resilience", default="distributed-endurer", choices=list(POLICIES))
    lt.add_argument("--years", type=number(positive=True), default=10.0, help="at most 100")
    lt.add_argument("--seed", type=seed, default=0)
    lt.add_argument("--limit", type=positive_int, default=500, help="accuracy on the first N test samples")
    lt.add_argument("--rate", type=number(positive=True), default=None,
                    help="inferences per 4 hours (default: docs/paper.md's)")
    lt.add_argument("--tau", type=number(positive=False), default=None)
    lt.add_argument("--eps", type=number(positive=False), default=None)
    lt.add_argument("--c", type=number(positive=False), default=None)
    lt.add_argument("--spares", type=at_least(0, "none"), default=None,
                    help="spare words per chip (distributed-endurer-plus)")
    lt.add_argument("--scenario", default="ours", choices=["ours", "paper"],
                    help="ours: messages and state kept across a shutdown wear; paper: the authors' experiment as "
                         "run (one RRAM buffer per workload, their parameters; svhn, d2nn, kws on 8 chips)")
    lt.add_argument("--stuck-at-1", dest="stuck_at_1", default=None,
                    help="share of failed cells stuck at 1 (default 0.98: 'almost all'); 'de-mix': the paper's "
                         "mostly-stuck-at-0 mix under Distributed ENDURER (0.02)")
    lt.add_argument("--write-back", choices=["on", "off"], default=None,
                    help="the 4-word write-back SRAM buffer (default: ours on; paper on unless --resilience none)")
    lt.add_argument("--weight-masks", choices=["on", "off"], default=None,
                    help="stuck bits forced into the weights (default: ours on; paper on unless --resilience none)")
    lt.add_argument("--wears", choices=["buffer", "ours", "every"], default=None,
                    help="what wears: buffer (--scenario paper's default: the paper's one buffer), ours (messages "
                         "and state kept across a shutdown: --scenario ours's default) or every activation")
    lt.add_argument("--one-value-per-word", action="store_true",
                    help="--scenario paper: int8 values one per 16-bit word instead of two")
    lt.add_argument("--json", default=None, help="'-': stdout")
    lt.add_argument("--plot", type=plot_path, default=None, help="picture: accuracy and stuck bits vs years")
    lt.add_argument("--quiet", action="store_true", help="no stage lines or progress bars on stderr")
    lt.set_defaults(func=commands.lifetime)

    ev = sub.add_parser("eval", help="fixed-point accuracy of a shipped checkpoint")
    ev.add_argument("name")
    ev.add_argument("--limit", type=positive_int, default=None)
    ev.add_argument("--json", default=None, help="'-': stdout")
    ev.set_defaults(func=commands.eval_checkpoint)

    tr = sub.add_parser("train", help="train a checkpoint with its recipe (imports qtorch)")
    tr.add_argument("name")
    tr.add_argument("--epochs", type=positive_int, default=None)
    tr.add_argument("--seed", type=seed, default=0)
    tr.add_argument("--out", default="runs/checkpoints",
                    help="folder for NAME.pt and NAME.json (default runs/checkpoints; the shipped ones are in "
                         "checkpoints/)")
    tr.add_argument("--overwrite", action="store_true", help="replace a checkpoint of that name in --out")
    tr.set_defaults(func=commands.train)

    def mapping_options(p: argparse.ArgumentParser) -> None:
        """The model, its chips and how they are mapped: what partition and export share."""
        model_source(p, None)
        chip_counts(p, None)
        p.add_argument("--capacity", type=size, default=None, help=capacity_help)
        p.add_argument("--solver", default="bilp", choices=SOLVERS)
        p.add_argument("--objective", default="bytes", choices=OBJECTIVES,
                       help="what the mapping minimizes: bytes between chips (the paper's; default), or the "
                              "energy or time of one inference on --preset")
        p.add_argument("--preset", default="paper-testchip", choices=sorted(PRESETS),
                       help="the chips that --objective energy or time prices on")
        p.add_argument("--time-limit", type=number(positive=True), default=60.0, help="seconds for the BILP")

    pa = sub.add_parser("partition", help="map a model onto chips of small memory")
    mapping_options(pa)
    pa.add_argument("--weights-only", action="store_true", default=None,
                    help="fill chips counting weights only (no biases, norms, constants), as the paper's scale-up "
                         "simulator; the paper-* networks always do")
    pa.add_argument("--activation-cap", type=size, default=None,
                    help="refuse mappings whose chips need more activation buffer")
    pa.add_argument("--sweep-chips", action="store_true", help="table of chips vs bytes between chips")
    pa.add_argument("--json", default=None, help="'-': stdout")
    pa.add_argument("--plot", type=plot_path, default=None, help="picture of the mapping")
    pa.add_argument("--quiet", action="store_true", help="no stage lines or progress bars on stderr")
    pa.set_defaults(func=commands.partition)

    ex = sub.add_parser("export", help="per-chip ONNX programs, memory images and a runner without torch")
    mapping_options(ex)
    ex.add_argument("--out", required=True, help="a new folder (or one an earlier export wrote) for the programs")
    ex.add_argument("--c", action="store_true", help="also integer-only C for each chip (make -C OUT/c; run_c.py)")
    ex.add_argument("--quiet", action="store_true", help="no stage lines or progress bars on stderr")
    ex.set_defaults(func=commands.export)

    sub.add_parser("models", help="registered models").set_defaults(func=commands.models)
    sub.add_parser("datasets", help="datasets and the sources found").set_defaults(func=commands.datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    prog = "illusion"
    with interrupt.watched(prog):
        try:
            args = _parser().parse_args(joined_values(sys.argv[1:] if argv is None else list(argv)))
            prog = f"illusion {args.command}"
            interrupt.rename(prog)
            check_outputs(args)
            args.func(args)
        except IllusionError as e:
            settle()
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            settle()
            return interrupt.stopped(prog)
        finally:
            settle()
    return 0


if __name__ == "__main__":
    sys.exit(main())
