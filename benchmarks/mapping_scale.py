"""Mapping at hundreds of chips: our mapper against first-fit, with its proven lower bound and gap.

    python benchmarks/mapping_scale.py [--part zoo|scaleup|all] [--chips 64,256] [--models resnet18,...]
                                       [--time-limit 60] [--baseline]

Two parts (issue 26):

- ``zoo``: a fixed sample of 12 torchvision models (CNNs, depthwise nets, ViTs), untrained, 224×224 inputs
  (SYNTHETIC: only shapes matter to a mapping), at ≈ 64 and ≈ 256 chips: capacity = 1.2 × 2 B × parameters / N
  (16-bit words), our mapper with ``max_chips=N`` within ``--time-limit`` seconds at 64 chips (scaled by N / 64,
  at most 300 s), first-fit beside it.
- ``scaleup``: the paper's scale-up networks at their sweep capacities (``benchmarks/scaleup.py``) where they
  take 2 to 512 chips, and the paper's ResNet-50 at 44 and 175 chips (the capacity of an even share × 1.2).

- ``objectives``: the mapping of each objective (bytes, energy, time: ``illusion_torch.objectives``) on a few
  models, priced all three ways side by side.

Per mapping: bytes between chips (ours, first-fit), the proven lower bound (``Mapping.lower_bound``), the gap
(bytes − bound) / bytes, the method that ran and the solve time. ``--baseline`` also saves the rows as
``mapping_scale_baseline.json``: today's mapper, the number later mappers are measured against. Writes
benchmarks/results/mapping_scale.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision.models as tvm

import illusion_torch as il
from illusion_torch.partitioning import inter_chip_bytes, solve

RESULTS = Path(__file__).parent / "results"
ZOO = ("resnet18", "resnet50", "vgg16", "densenet121", "regnet_y_400mf", "efficientnet_b0", "mobilenet_v2",
       "mobilenet_v3_large", "shufflenet_v2_x1_0", "mnasnet1_0", "vit_b_16", "swin_t")
SCALEUP = ("paper-alexnet", "paper-vgg16", "paper-resnet50", "paper-lstm-lm")
CAPACITIES_MIB = (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


def _row(name: str, graph, capacity: int, chips: int | None, time_limit: float) -> dict:
    t = time.perf_counter()
    ours = solve(graph, capacity, max_chips=chips, time_limit_s=time_limit)
    solve_s = time.perf_counter() - t
    first = solve(graph, capacity, solver="first-fit")
    ours_b, first_b = inter_chip_bytes(graph, ours), inter_chip_bytes(graph, first)
    bound = ours.lower_bound if ours.lower_bound is not None else (ours_b if ours.optimal else None)
    gap = (ours_b - bound) / ours_b if bound is not None and ours_b else (0.0 if ours_b == 0 else None)
    return {"model": name, "target_chips": chips, "capacity_bytes": capacity, "chips": ours.n_chips,
            "bytes": ours_b, "first_fit_chips": first.n_chips, "first_fit_bytes": first_b,
            "vs_first_fit": round(ours_b / first_b, 4) if first_b else None, "bound": bound,
            "gap": None if gap is None else round(gap, 4), "optimal": bool(ours.optimal), "method": ours.method,
            "solve_s": round(solve_s, 2), "time_limit_s": time_limit}


def zoo(models, counts, time_limit: float) -> list[dict]:
    rows = []
    for name in models:
        torch.manual_seed(0)
        model = getattr(tvm, name)().eval()
        params = sum(p.numel() for p in model.parameters())
        graph = il.partitioning.trace(model, torch.randn(1, 3, 224, 224))
        for n in counts:
            limit = min(300.0, time_limit * n / 64)
            try:
                row = _row(name, graph, int(1.2 * 2 * params / n), n, limit)
            except il.IllusionError as e:
                row = {"model": name, "target_chips": n, "error": str(e)}
            rows.append({"part": "zoo", **row})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def scaleup(time_limit: float) -> list[dict]:
    rows = []
    for name in SCALEUP:
        torch.manual_seed(0)
        model = il.models.get_model(name).eval()
        cfg = il.models.config_of(model)
        g = torch.Generator().manual_seed(0)
        x = torch.randint(0, cfg.vocab_size, (1, *cfg.input_shape), generator=g) if cfg.vocab_size else \
            torch.randn(1, *cfg.input_shape, generator=g)
        graph = il.partitioning.trace(model, x)
        caps = [int(mib * 2**20) for mib in CAPACITIES_MIB]
        targets = [(c, None) for c in caps if 2 <= -(-graph.weight_bytes // c) <= 512]
        if name == "paper-resnet50":           # the two ResNet-50 cases: 44 and 175 chips
            targets += [(int(1.2 * graph.weight_bytes / n), n) for n in (44, 175)]
        for cap, n in targets:
            try:
                row = _row(name, graph, cap, n, time_limit)
            except il.IllusionError as e:
                row = {"model": name, "target_chips": n, "capacity_bytes": cap, "error": str(e)}
            rows.append({"part": "scaleup", **row})
            print(json.dumps(rows[-1]), flush=True)
    return rows


OBJECTIVE_CASES = (("mnist", 12, "paper-testchip"), ("svhn", 12, "paper-testchip"), ("d2nn", 12, "paper-testchip"),
                   ("resnet18", 16, "accelerator-28nm-roofline"), ("mobilenet_v2", 16, "accelerator-28nm-roofline"))


def objectives(time_limit: float) -> list[dict]:
    """Each objective's mapping (bytes, energy, time) priced all three ways, side by side: the shipped
    checkpoints at up to 12 chips of their 8-chip capacity on the test chips; two torchvision models (64×64
    SYNTHETIC inputs) at up to 16 chips of an 8-chip share on the roofline accelerator."""
    from illusion_torch.cli.jobs import capacity_for, job
    from illusion_torch.objectives import mapping_cost

    rows = []
    for name, limit, preset in OBJECTIVE_CASES:
        if name in ZOO:
            torch.manual_seed(0)
            model = getattr(tvm, name)().eval()
            x = torch.randn(1, 3, 64, 64)
            capacity = int(1.2 * 2 * sum(p.numel() for p in model.parameters()) / 8)
        else:
            w = job(name, limit=1)
            model, x, capacity = w.model, w.x[:1], capacity_for(w, 8, None)
        price = {k: mapping_cost(model, k, preset) for k in ("energy", "time")}
        for objective in ("bytes", "energy", "time"):
            t = time.perf_counter()
            system = il.partition(model, x, capacity=capacity, max_chips=limit, time_limit_s=time_limit,
                                  objective=objective, preset=preset)
            rows.append({"part": "objectives", "model": name, "preset": preset, "max_chips": limit,
                         "objective": objective, "chips": system.mapping.n_chips, "bytes": system.inter_chip_bytes,
                         "energy_j": price["energy"](system.graph, system.mapping),
                         "time_s": price["time"](system.graph, system.mapping),
                         "solve_s": round(time.perf_counter() - t, 1), "method": system.mapping.method})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def rebound(rows: list[dict]) -> list[dict]:
    """The saved mappings' bounds and gaps recomputed with today's ``partitioning.bounds.lower_bound`` (the bound
    depends only on the graph and the capacity: no mapping is solved again)."""
    from illusion_torch.partitioning.bounds import lower_bound

    graphs: dict[str, object] = {}
    for r in rows:
        if r["part"] == "objectives" or "bytes" not in r:
            continue
        if r["model"] not in graphs:
            torch.manual_seed(0)
            if r["part"] == "zoo":
                graphs[r["model"]] = il.partitioning.trace(getattr(tvm, r["model"])().eval(),
                                                           torch.randn(1, 3, 224, 224))
            else:
                model = il.models.get_model(r["model"]).eval()
                cfg = il.models.config_of(model)
                g = torch.Generator().manual_seed(0)
                x = torch.randint(0, cfg.vocab_size, (1, *cfg.input_shape), generator=g) if cfg.vocab_size else \
                    torch.randn(1, *cfg.input_shape, generator=g)
                graph = il.partitioning.trace(model, x)
                graphs[r["model"]] = graph.weights_only() if graph.config.weights_only else graph
        ours = lower_bound(graphs[r["model"]], r["capacity_bytes"])
        graph = graphs[r["model"]]
        over = any(ly.kind == "embedding" and ly.weight_bytes > 2 * r["capacity_bytes"] for ly in graph.layers)
        valid = r["bound"] is not None and r["bound"] <= r["bytes"] and not over    # the program's, where it holds
        bound = max(r["bound"], ours) if valid else ours
        r["optimal"] = bool(r.get("optimal")) and valid
        r["bound"], r["gap"] = bound, round((r["bytes"] - bound) / r["bytes"], 4) if r["bytes"] else 0.0
    return rows


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def summary(rows: list[dict]) -> dict:
    out = {}
    for n in sorted({r["target_chips"] for r in rows if r["part"] == "zoo"}):
        some = [r for r in rows if r["part"] == "zoo" and r["target_chips"] == n and "bytes" in r]
        out[f"zoo_{n}"] = {"models": len(some), "median_vs_first_fit": _median(r["vs_first_fit"] for r in some),
                           "median_gap": _median(r["gap"] for r in some),
                           "median_solve_s": _median(r["solve_s"] for r in some)}
    some = [r for r in rows if r["part"] == "scaleup" and "bytes" in r]
    if some:
        out["scaleup"] = {"mappings": len(some), "median_vs_first_fit": _median(r["vs_first_fit"] for r in some),
                          "median_gap": _median(r["gap"] for r in some)}
    return out


def markdown(rows: list[dict], summ: dict) -> str:
    lines = ["# Mapping at scale (benchmarks/mapping_scale.py)", "",
             "Medians: " + "; ".join(f"{k}: {v}" for k, v in summ.items()), "",
             "| part | model | target chips | chips | bytes | first-fit bytes | ours / first-fit | bound | gap | "
             "solve s | method |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if r["part"] == "objectives":
            continue
        if "error" in r:
            lines.append(f"| {r['part']} | {r['model']} | {r.get('target_chips') or '—'} | — | — | — | — | — | — | "
                         f"— | {r['error']} |")
            continue
        bound = "—" if r["bound"] is None else f"{r['bound']:,.0f}"
        lines.append(f"| {r['part']} | {r['model']} | {r['target_chips'] or '—'} | {r['chips']} | {r['bytes']:,} | "
                     f"{r['first_fit_bytes']:,} | {r['vs_first_fit']} | {bound} | {r['gap']} | {r['solve_s']} | "
                     f"{r['method']} |")
    some = [r for r in rows if r["part"] == "objectives"]
    if some:
        lines += ["", "## Each objective's mapping, priced three ways", "",
                  "| model | preset | max chips | objective | chips | bytes | energy (mJ) | time (ms) | solve s |",
                  "|---|---|---:|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['model']} | {r['preset']} | {r['max_chips']} | {r['objective']} | {r['chips']} | "
                  f"{r['bytes']:,} | {r['energy_j'] * 1e3:.4g} | {r['time_s'] * 1e3:.4g} | {r['solve_s']} |"
                  for r in some]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    some = [r for r in rows if r["part"] != "objectives" and "bytes" in r and r["vs_first_fit"] is not None]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for n, marker in ((64, "o"), (256, "s"), (None, "^")):
        pick = [r for r in some if (r["target_chips"] == n if n else r["part"] == "scaleup")]
        label = f"zoo ≈ {n} chips" if n else "scale-up networks"
        axes[0].scatter([r["chips"] for r in pick], [r["vs_first_fit"] for r in pick], marker=marker, label=label)
        gaps = [r for r in pick if r["gap"] is not None]
        axes[1].scatter([r["chips"] for r in gaps], [r["gap"] for r in gaps], marker=marker, label=label)
    axes[0].set(xscale="log", xlabel="chips", ylabel="our bytes / first-fit's", title="Mapping vs first-fit")
    axes[1].set(xscale="log", xlabel="chips", ylabel="proven gap (bytes − bound) / bytes", title="How far from optimal")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("zoo", "scaleup", "objectives", "all"), default="all")
    ap.add_argument("--chips", default="64,256")
    ap.add_argument("--models", default=",".join(ZOO))
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per mapping at 64 chips (× N / 64)")
    ap.add_argument("--baseline", action="store_true", help="also save the rows as today's mapper's baseline")
    ap.add_argument("--append", action="store_true", help="keep the saved rows of the other parts")
    ap.add_argument("--rebound", action="store_true", help="only recompute the saved rows' bounds and gaps")
    ap.add_argument("--save-as", default=None, help="write only results/NAME.json (a run to set beside the saved)")
    args = ap.parse_args()
    if args.rebound:
        for name in ("mapping_scale.json", "mapping_scale_baseline.json", "mapping_scale_search64.json"):
            rows = rebound(json.loads((RESULTS / name).read_text())["rows"])
            (RESULTS / name).write_text(json.dumps({"summary": summary(rows), "rows": rows}, indent=1) + "\n")
        rows = json.loads((RESULTS / "mapping_scale.json").read_text())["rows"]
        (RESULTS / "mapping_scale.md").write_text(markdown(rows, summary(rows)))
        figure(rows, RESULTS / "mapping_scale.png")
        print(json.dumps(summary(rows)))
        return 0
    rows = []
    saved = RESULTS / "mapping_scale.json"
    if args.append and saved.is_file():
        rows = [r for r in json.loads(saved.read_text())["rows"] if args.part != "all" and r["part"] != args.part]
    if args.part in ("zoo", "all"):
        rows += zoo(args.models.split(","), [int(c) for c in args.chips.split(",")], args.time_limit)
    if args.part in ("scaleup", "all"):
        rows += scaleup(args.time_limit)
    if args.part in ("objectives", "all"):
        rows += objectives(min(args.time_limit, 20.0))
    summ = summary(rows)
    RESULTS.mkdir(exist_ok=True)
    if args.save_as:
        (RESULTS / f"{args.save_as}.json").write_text(json.dumps({"summary": summ, "rows": rows}, indent=1) + "\n")
        print(json.dumps(summ), file=sys.stderr)
        return 0
    (RESULTS / "mapping_scale.json").write_text(json.dumps({"summary": summ, "rows": rows}, indent=1) + "\n")
    if args.baseline:
        base = RESULTS / "mapping_scale_baseline.json"
        kept = [r for r in json.loads(base.read_text())["rows"] if r["part"] != args.part] \
            if args.append and base.is_file() and args.part != "all" else []
        fresh = [r for r in rows if r["part"] == args.part or args.part == "all"]
        both = kept + fresh
        base.write_text(json.dumps({"summary": summary(both), "rows": both}, indent=1) + "\n")
    (RESULTS / "mapping_scale.md").write_text(markdown(rows, summ))
    figure(rows, RESULTS / "mapping_scale.png")
    print(json.dumps(summ), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
