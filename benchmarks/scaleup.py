"""The paper's scale-up study on its own scheduler: four networks, chips of 0.25 … 2048 MiB, links ×1 … ×8.

    python benchmarks/scaleup.py [--networks paper-alexnet,paper-vgg16,paper-resnet50,paper-lstm-lm,...]
                                 [--capacities 0.25,0.5,...,2048] [--links 1,2,4,8] [--time-limit 10]
                                 [--no-inference] [--cold | --fresh] [--summarize]

Per network (seeded random weights, one SYNTHETIC seeded random input) and per-chip memory (MiB, weights only,
16-bit, as the simulator counts): the simulator's first-fit mapping and ours at the same chip count
(``solve(..., chips=first-fit's)``, warm-started from first-fit, so never worse); bytes between chips; for
each link-cost multiplier, energy / time / EDP of each mapping on ``accelerator-28nm`` chips (each layer slice
priced by its nn_dataflow schedule) against the ideal chip (one input at a time), the ideal chip against the
DRAM chip, and pipelined throughput; one chip-by-chip inference of our mapping against the unpartitioned
model (max |Δ| / max |ref|). Wall time per phase (``--cold`` starts from an empty schedule cache and maps,
builds and counts everything afresh). Mappings and work profiles are kept between runs by network, capacity
and time limit under a key of the package's source (``Store``), so a warm rerun with ``--no-inference`` only
re-prices. Writes benchmarks/results/scaleup.json and scaleup.png (ratio vs chip count per network, like the
paper's figure) and scaleup.md (the table); ``--summarize`` rewrites those two from the JSON.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import pickle
import resource
import sys
import time
from pathlib import Path

import torch

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.cost import dataflow
from illusion_torch.cost.evaluate import evaluate
from illusion_torch.cost.hardware import preset
from illusion_torch.files import write_atomic
from illusion_torch.partitioning.trace import trace
from illusion_torch.runtime.engine import Runtime
from illusion_torch.system import build

RESULTS = Path(__file__).parent / "results"
NETWORKS = ("paper-alexnet", "paper-vgg16", "paper-resnet50", "paper-lstm-lm", "paper-lstm-lm-sequential")
CAPACITIES_MIB = (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)
LINKS = (1, 2, 4, 8)
RUNS = {None: 1}


def _input(model: torch.nn.Module) -> torch.Tensor:
    cfg = il.models.config_of(model)
    g = torch.Generator().manual_seed(0)
    if cfg.vocab_size:
        return torch.randint(0, cfg.vocab_size, (1, *cfg.input_shape), generator=g)
    return torch.randn(1, *cfg.input_shape, generator=g)


def _costs(profile, ideal, links) -> dict:
    spec = preset("accelerator-28nm")
    out = {}
    for k in links:
        s = spec.with_link_cost(k)
        c = evaluate(profile, RUNS, s)
        i = ideal[k]
        out[f"x{k}"] = {"energy_ratio": c.energy_j / i.energy_j, "time_ratio": c.time_s / i.time_s,
                        "edp_ratio": c.edp / i.edp, "energy_j": c.energy_j, "time_s": c.time_s,
                        "pipelined_inferences_per_s": c.throughput_per_s,
                        "roofline_layers": sum(1 for r in c.layers if r.source != "nn_dataflow")}
    return out


class Store:
    """Mappings and work profiles kept between runs, by network, capacity and time limit, under a key of the
    package's source (any change to the code starts afresh): a warm sweep re-prices without re-mapping or
    re-building. ``--fresh`` ignores and replaces what is kept."""

    def __init__(self, fresh: bool) -> None:
        digest = hashlib.sha256()
        for path in sorted(Path(il.__file__).parent.rglob("*.py")):
            digest.update(path.read_bytes())
        from illusion_torch.data.cache import cache_dir

        self.dir = cache_dir() / "scaleup" / digest.hexdigest()[:16]
        self.fresh = fresh

    def get(self, key: str):
        path = self.dir / f"{key}.pkl"
        if self.fresh or not path.exists():
            return None
        with path.open("rb") as f:
            return pickle.load(f)

    def put(self, key: str, value) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f"{key}.tmp"
        with tmp.open("wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(self.dir / f"{key}.pkl")


def network(name: str, capacities, links, time_limit: float, inference: bool, store: Store) -> dict:
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = il.models.get_model(name).eval()
    x = _input(model)
    g = trace(model, x)
    t_trace = time.perf_counter() - t0
    ideal_profile = store.get(f"{name}-ideal")
    if ideal_profile is None:
        whole = partitioning.solve(g, g.weight_bytes + 1, solver="first-fit")
        ideal_profile = Runtime(build(model, g, whole).ideal()).profile
        store.put(f"{name}-ideal", ideal_profile)
        gc.collect()
    spec = preset("accelerator-28nm")
    ideal = {k: evaluate(ideal_profile, RUNS, spec.with_link_cost(k), always_on=True) for k in links}
    dram = evaluate(ideal_profile, RUNS, spec.with_dram(), always_on=True)
    head = {"network": name, "weights": sum(p.numel() for p in model.parameters()),
            "weight_bytes": g.weights_only().weight_bytes, "trace_s": round(t_trace, 2),
            "ideal": {"energy_j": ideal[1].energy_j, "time_s": ideal[1].time_s, "edp_js": ideal[1].edp,
                      "pipelined_inferences_per_s": ideal[1].throughput_per_s,
                      "layers": [{"layer": r.layer, "shape": r.shape, "source": r.source, "time_s": r.time_s,
                                  "energy_j": r.energy_j} for r in ideal[1].layers]},
            "dram_chip": {"energy_j": dram.energy_j, "time_s": dram.time_s, "edp_js": dram.edp},
            "ideal_vs_dram": {"speedup": dram.time_s / ideal[1].time_s,
                              "energy_saving": dram.energy_j / ideal[1].energy_j},
            "rows": []}
    print(f"{name}: ideal {ideal[1].time_s * 1e3:.3f} ms {ideal[1].energy_j * 1e3:.3f} mJ; DRAM chip "
          f"{head['ideal_vs_dram']['speedup']:.2f}× slower, {head['ideal_vs_dram']['energy_saving']:.2f}× the energy",
          flush=True)
    for mib in capacities:
        cap = int(mib * 2**20)
        row: dict = {"capacity_mib": mib}
        key = f"{name}-{mib:g}MiB-{time_limit:g}s"
        kept = store.get(key) or {}
        row["kept"] = sorted(kept)
        t = time.perf_counter()
        ff = kept.get("first_fit") or partitioning.solve(g, cap, solver="first-fit")
        row["first_fit_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        ours = kept.get("ours") or (ff if ff.n_chips == 1 else
                                    partitioning.solve(g, cap, chips=ff.n_chips, time_limit_s=time_limit))
        row["ours_s"] = round(time.perf_counter() - t, 2)
        kept.update(first_fit=ff, ours=ours)
        row.update(chips_first_fit=ff.n_chips, chips_ours=ours.n_chips, ours_method=ours.method)
        same = ours.chips == ff.chips                   # our mapper kept first-fit's placement
        row["ours_same_as_first_fit"] = same
        system = None
        for label, m in (("first_fit", ff), ("ours", ours)):
            if label == "ours" and same:
                row.update(ours=row["first_fit"], bytes_ours=row["bytes_first_fit"])
            else:
                t = time.perf_counter()
                if f"profile_{label}" in kept and not inference:
                    profile, row[f"bytes_{label}"] = kept[f"profile_{label}"], kept[f"bytes_{label}"]
                else:
                    system = build(model, g, m)
                    profile = Runtime(system).profile
                    row[f"bytes_{label}"] = kept[f"bytes_{label}"] = system.inter_chip_bytes
                    kept[f"profile_{label}"] = profile
                row[f"{label}_profile_s"] = round(time.perf_counter() - t, 2)
                t = time.perf_counter()
                row[label] = _costs(profile, ideal, links)
                row[f"{label}_cost_s"] = round(time.perf_counter() - t, 2)
                del profile
            if label == "ours" and inference:           # our mapping (first-fit's, when it kept it), chip by chip
                assert system is not None
                t = time.perf_counter()
                out, ref = system(x), system.reference(x)
                row["max_rel_diff"] = float((out - ref).abs().max() / ref.abs().max())
                row["inference_s"] = round(time.perf_counter() - t, 2)
                del out, ref
        store.put(key, kept)
        del system, kept
        gc.collect()                 # a system's graphs hold reference cycles: free its weights before the next
        row["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
        o, f = row["ours"][f"x{links[0]}"], row["first_fit"][f"x{links[0]}"]
        diff = f" | Δ {row['max_rel_diff']:.1e}" if "max_rel_diff" in row else ""
        print(f"  {mib:>7g} MiB: chips {ff.n_chips:>5} | bytes ff {row['bytes_first_fit']:>11,} ours "
              f"{row['bytes_ours']:>11,} | ff E×{f['energy_ratio']:.3f} T×{f['time_ratio']:.3f} | ours "
              f"E×{o['energy_ratio']:.3f} T×{o['time_ratio']:.3f} EDP×{o['edp_ratio']:.3f}{diff}", flush=True)
        head["rows"].append(row)
    return head


def table(data: dict) -> str:
    """The sweep as a markdown table: per network and capacity, chips, bytes and ratios (link ×1, and ×8)."""
    lines = ["| network | MiB/chip | chips | bytes first-fit | bytes ours | E / T / EDP first-fit | "
             "E / T / EDP ours | ours, link ×8 (E / T) |", "|---|---|---|---|---|---|---|---|"]
    for net in data["networks"]:
        for r in net["rows"]:
            if r["chips_first_fit"] == 1:
                continue
            f, o = r["first_fit"]["x1"], r["ours"]["x1"]
            o8 = r["ours"].get("x8")
            link8 = f"{o8['energy_ratio']:.3f} / {o8['time_ratio']:.3f}" if o8 else "–"
            lines.append(f"| {net['network']} | {r['capacity_mib']:g} | {r['chips_first_fit']} | "
                         f"{r['bytes_first_fit']:,} | {r['bytes_ours']:,} | {f['energy_ratio']:.3f} / "
                         f"{f['time_ratio']:.3f} / {f['edp_ratio']:.3f} | {o['energy_ratio']:.3f} / "
                         f"{o['time_ratio']:.3f} / {o['edp_ratio']:.3f} | {link8} |")
    heads = ["", "| network | ideal chip | DRAM chip / ideal (time, energy) | first-fit chips 0.25 … 2048 MiB |",
             "|---|---|---|---|"]
    for net in data["networks"]:
        counts = "/".join(str(r["chips_first_fit"]) for r in net["rows"])
        ideal = net["ideal"]
        heads.append(f"| {net['network']} | {ideal['time_s'] * 1e3:.3f} ms, {ideal['energy_j'] * 1e3:.2f} mJ | "
                     f"{net['ideal_vs_dram']['speedup']:.2f} ×, {net['ideal_vs_dram']['energy_saving']:.2f} × | "
                     f"{counts} |")
    return "\n".join(lines + heads) + "\n"


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(4.2 * len(results), 6.4), squeeze=False, sharey="row")
    for col, net in enumerate(results):
        rows = [r for r in net["rows"] if r["chips_first_fit"] > 1]
        chips = [r["chips_first_fit"] for r in rows]
        for r_i, (key, label) in enumerate((("energy_ratio", "energy / ideal"), ("time_ratio", "time / ideal"))):
            ax = axes[r_i][col]
            for k in sorted({int(x[1:]) for x in rows[0]["ours"]} if rows else []):
                ax.plot(chips, [r["ours"][f"x{k}"][key] for r in rows], marker="o", ms=3, label=f"ours, link ×{k}")
            ax.plot(chips, [r["first_fit"]["x1"][key] for r in rows], "k--", lw=1, label="first-fit, link ×1")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.axhline(1.0, color="grey", lw=0.5)
            ax.set_xlabel("chips")
            if col == 0:
                ax.set_ylabel(label)
            if r_i == 0:
                ax.set_title(net["network"])
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Illusion on nn_dataflow-scheduled 28 nm chips vs the ideal chip (seeded random weights)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--networks", default=",".join(NETWORKS))
    p.add_argument("--capacities", default=",".join(f"{c:g}" for c in CAPACITIES_MIB), help="MiB per chip")
    p.add_argument("--links", default=",".join(str(k) for k in LINKS))
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds for our mapper per capacity")
    p.add_argument("--no-inference", action="store_true", help="skip the chip-by-chip inference")
    p.add_argument("--cold", action="store_true", help="start from an empty schedule cache and map, build and "
                                                       "count everything afresh")
    p.add_argument("--fresh", action="store_true", help="map, build and count afresh (keep the schedule cache)")
    p.add_argument("--out", default=str(RESULTS / "scaleup.json"))
    p.add_argument("--summarize", action="store_true", help="only write the table and the plot from --out")
    args = p.parse_args()
    if args.summarize:
        data = json.loads(Path(args.out).read_text())
        Path(args.out).with_suffix(".md").write_text(table(data))
        plot(data["networks"], Path(args.out).with_suffix(".png"))
        return 0
    if args.cold:
        dataflow.schedule_cache_path().unlink(missing_ok=True)
    started = time.perf_counter()
    caps = [float(c) for c in args.capacities.split(",")]
    links = [float(k) if "." in k else int(k) for k in args.links.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    for name in args.networks.split(","):
        results.append(network(name, caps, links, args.time_limit, not args.no_inference,
                               Store(fresh=args.cold or args.fresh)))
        partial = json.dumps({"meta": {"partial": True}, "networks": results}, indent=1) + "\n"
        write_atomic(out, lambda path, text=partial: path.write_text(text))    # Ctrl-C leaves the last whole one
        gc.collect()
    meta = {"total_s": round(time.perf_counter() - started, 1), "cold_cache": args.cold,
            "schedules_cached": len(dataflow._MEMORY), "time_limit_s": args.time_limit,
            "inference": not args.no_inference, "input": "SYNTHETIC seeded random input, seeded random weights",
            "preset": "accelerator-28nm", "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                / 2**20, 2)}
    whole = json.dumps({"meta": meta, "networks": results}, indent=1) + "\n"
    write_atomic(out, lambda path: path.write_text(whole))
    plot(results, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(table({"meta": meta, "networks": results}))
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
