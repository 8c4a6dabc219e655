"""Accuracy vs chip count at scale: today's quantized models on ≈ 8, 64, 256 and over 1,000 chips.

    python benchmarks/scale_accuracy.py [--models mobilenet_v2,minilm,gpt] [--targets 8,64,256,1280]
                                        [--limit 1000] [--time-limit 30]
    python benchmarks/scale_accuracy.py --plot-only          # redraw the figure from the JSON
    python benchmarks/scale_accuracy.py --models gpt --out /tmp/gpt.json     # one model into its own file
    python benchmarks/scale_accuracy.py --merge /tmp/gpt.json                # …then its rows into the JSON

For each shipped post-training quantized checkpoint (``illusion_torch.load``): its real test inputs (``--limit``
of them: clip-art images for MobileNetV2, State of the Union sentences for MiniLM, held-out 128-character
windows for the GPT), the float model's outputs on them (what the metric compares with), and for each target
chip count a capacity of 1.25 × an even share of the weights (the default rule, so the mapper may use fewer
chips): partition (``il.partition``, BILP with its fallbacks), build, one chip-by-chip run of every input from
the memory images, mismatches against the unpartitioned fixed-point model (must be 0), the metric, bytes between
chips per inference and energy/time vs the ideal chip on ``accelerator-28nm`` (each layer slice scheduled by
nn_dataflow). Wall time per row is partition + build + run + pricing. Rows are written as they finish to
benchmarks/results/scale_accuracy.json; the figure (metric vs chips) to scale_accuracy.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from pathlib import Path

import torch

import illusion_torch as il
from illusion_torch import checkpoint
from illusion_torch.cli.arguments import positive_int
from illusion_torch.cli.jobs import job
from illusion_torch.files import dumps_json
from illusion_torch.report import run_and_price

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "scale_accuracy.json"
BATCH = {"mobilenet_v2": 50, "minilm": 250, "gpt": 100}


def _rss_gib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def _save(rows: list[dict], meta: dict, out: Path = OUT) -> None:
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(dumps_json({**meta, "rows": rows}))
    tmp.replace(out)


def merge(paths: list[str]) -> None:
    """Put the rows of other runs' files (models run apart, e.g. in parallel) into the JSON, replacing the
    rows of the same models."""
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {"rows": []}
    rows = saved.pop("rows")
    for path in paths:
        other = json.loads(Path(path).read_text())["rows"]
        names = {r["model"] for r in other}
        rows = [r for r in rows if r["model"] not in names] + other
    _save(rows, saved)


def plot(path: Path = OUT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = json.loads(path.read_text())["rows"]
    names = list(dict.fromkeys(r["model"] for r in rows))
    fig, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 6.6), squeeze=False)
    for ax, name in zip(axes[1], names, strict=True):
        mine = [r for r in rows if r["model"] == name]
        chips = [r["chips"] for r in mine]
        ax.plot(chips, [r["energy_ratio"] for r in mine], "o-", label="energy")
        ax.plot(chips, [r["time_ratio"] for r in mine], "s-", label="time")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chips")
        ax.set_ylabel("× the ideal chip (accelerator-28nm)")
        ax.legend(fontsize=7)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [r for r in rows if r["model"] == name]
        chips = [r["chips"] for r in mine]
        ax.plot(chips, [r["metric"]["value"] for r in mine], "o-", label="fixed point, chip by chip")
        ax.axhline(mine[0]["metric"]["float_value"], color="gray", ls="--", label="float model")
        for extra in ("top5_agreement", "retrieval_agreement"):
            if extra in mine[0]["metric"]:
                ax.plot(chips, [r["metric"][extra] for r in mine], "s:", label=extra.replace("_", " "))
        ax.set_xscale("log")
        ax.set_xlabel("chips")
        ax.set_ylabel(mine[0]["metric"]["name"].replace("_", " "))
        ax.set_title(f"{name} ({mine[0]['samples']} real inputs)")
        for r in mine:
            ax.annotate(f"{r['mismatches']} mism.", (r["chips"], r["metric"]["value"]), fontsize=7,
                        textcoords="offset points", xytext=(0, 6), ha="center")
        ax.legend(fontsize=7)
    fig.suptitle("Quantized models split over many chips: metric vs chip count (bit-identical to one chip)")
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=130)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,minilm,gpt")
    ap.add_argument("--targets", type=lambda s: [positive_int(t) for t in s.split(",")], default="8,64,256,1280",
                    help="target chip counts, comma-separated")
    ap.add_argument("--limit", type=positive_int, default=1000)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--preset", default="accelerator-28nm")
    ap.add_argument("--plot-only", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT, help="the JSON to write (default: the results file)")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="merge these runs' rows into the results file")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge)
        plot()
        return 0
    if args.plot_only:
        plot()
        return 0
    torch.set_num_threads(max(1, torch.get_num_threads()))
    meta = {"limit": args.limit, "preset": args.preset, "time_limit_s": args.time_limit,
            "capacity_rule": "1.25 × weight bytes / target chips", "machine": "2 cores, 24 GiB, no GPU"}
    rows: list[dict] = json.loads(args.out.read_text())["rows"] if args.out.is_file() else []
    for name in args.models.split(","):
        rows = [r for r in rows if r["model"] != name]
        t = time.perf_counter()
        w = job(name, limit=args.limit)
        assert w.metric is not None, f"{name} is not a post-training quantized checkpoint"
        load_s = time.perf_counter() - t
        weight_bytes = il.models.weight_bytes(w.model)
        print(f"{name}: {len(w.x)} inputs, {weight_bytes:,} weight bytes, loaded + float outputs in {load_s:.0f} s",
              flush=True)
        for target in args.targets:
            capacity = -(-weight_bytes * 5 // (4 * target))
            t = time.perf_counter()
            system = il.partition(w.model, w.x[:1], capacity=capacity, max_chips=2 * target,
                                  time_limit_s=args.time_limit)
            partition_s = time.perf_counter() - t
            report = run_and_price(system, w.x, w.y, preset=args.preset, batch_size=BATCH.get(name, 100))
            wall = time.perf_counter() - t
            m = w.metric.evaluate(report.logits)
            row = {"model": name, "dataset": w.dataset, "synthetic": w.synthetic, "samples": len(w.x),
                   "target_chips": target, "chips": report.chips, "capacity_bytes": capacity,
                   "solver": system.mapping.method, "mismatches": report.mismatches,
                   "metric": m, "inter_chip_bytes": report.inter_chip_bytes,
                   "energy_ratio": report.energy_ratio, "time_ratio": report.time_ratio,
                   "edp_ratio": report.edp_ratio, "compute_dtype": report.meta["compute_dtype"],
                   "partition_s": round(partition_s, 1), "wall_s": round(wall, 1), "peak_rss_gib": _rss_gib(),
                   "checkpoint": checkpoint.record(name).meta["metric"]}
            rows.append(row)
            _save(rows, meta, args.out)
            print(f"  {report.chips:>5} chips × {capacity:,} B: {m['name']} {m['value']:.4f} (float "
                  f"{m['float_value']:.4f}), {report.mismatches} mismatches, {report.inter_chip_bytes:,} B between "
                  f"chips, E ×{report.energy_ratio:.3f} T ×{report.time_ratio:.3f}, {wall:.0f} s "
                  f"(partition {partition_s:.0f} s), {_rss_gib()} GiB", flush=True)
            del system, report
            gc.collect()
        del w
        gc.collect()
    if args.out == OUT:
        plot()
    return 0


if __name__ == "__main__":
    sys.exit(main())
