"""The paper's endurance experiment as it was run (``--scenario paper``), and which assumptions decide whether
Distributed ENDURER keeps accuracy for ten years.

    python benchmarks/lifetime_paper.py [--parts paper,sensitivity] [--seeds 5]

Each workload's shipped checkpoint on the paper's 8 chips (BILP mapping, docs/paper.md's capacity), docs/paper.md's
inference rates, accuracy on docs/paper.md's test-set sizes: SVHN 999, D2NN 1,000, KWS the whole test split (the
SVHN and KWS checkpoints are trained and tested on SYNTHETIC data: synth-digits, tts-commands).

- paper: peak writes per word over ten years for none / endurer / distributed-endurer; for none and
  distributed-endurer, seeds 0 … S−1: accuracy at ZERO … TENYEAR (mean, min, max) and stuck bits in the buffer
  at each point (mean).
- sensitivity: from each scenario (paper, ours), one assumption changed at a time; TENYEAR accuracy (mean and
  least over seeds 0 … ``--sensitivity-seeds``−1) for distributed-endurer, start-gap and
  distributed-endurer-plus, stuck bits in effect (mean), and each run's wall time.

Writes benchmarks/results/lifetime_paper.json (each part as it finishes) and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import illusion_torch as il
from illusion_torch.errors import IllusionError
from illusion_torch.files import dumps_json, write_atomic
from illusion_torch.paper.endurance_run import DE_MIX, WORKLOADS, run_experiment, scenario
from illusion_torch.paper.measurements import CAPACITY
from illusion_torch.wear.lifetime import LABELS

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "lifetime_paper.json"
TEST_SIZE = {"svhn": 999, "d2nn": 1000, "kws": None}              # docs/paper.md's test sets (KWS: the whole split)
POLICIES = ("distributed-endurer", "start-gap", "distributed-endurer-plus")


def _save(part: str, rows) -> None:
    saved = json.loads(OUT.read_text()) if OUT.is_file() else {}
    saved[part] = rows
    write_atomic(OUT, lambda tmp: tmp.write_text(dumps_json(saved)))     # Ctrl-C leaves the old file whole


def _workload(name: str):
    model = il.load(name)
    x, y = il.data.load(il.checkpoint.record(name).data_key, "test", limit=TEST_SIZE[name])
    return il.partition(model, x[:1], chips=8, capacity=CAPACITY[name][8]), x, y


def paper(seeds: int) -> list[dict]:
    rows = []
    for name in WORKLOADS:
        system, x, y = _workload(name)
        peaks = {}
        for res in ("none", "endurer", "distributed-endurer"):
            peaks[res] = run_experiment(system, x, y, resilience=res, seed=0).points[-1].max_writes_per_word
        for res in ("none", "distributed-endurer"):
            runs = []
            for s in range(seeds):
                runs.append(run_experiment(system, x, y, resilience=res, seed=s))
            acc = {lb: [r.points[i].accuracy for r in runs] for i, lb in enumerate(LABELS)}
            row = {"workload": name, "resilience": res, "policy": runs[0].resilience, "params": runs[0].params,
                   "inputs": len(x), "seeds": seeds, "peak_writes_per_word": peaks,
                   "accuracy_mean": {k: statistics.mean(v) for k, v in acc.items()},
                   "accuracy_min": {k: min(v) for k, v in acc.items()},
                   "accuracy_max": {k: max(v) for k, v in acc.items()},
                   "buffer_stuck_bits_mean": {lb: statistics.mean(r.points[i].buffer_stuck_bits for r in runs)
                                              for i, lb in enumerate(LABELS)},
                   "stuck_bits_mean": {lb: statistics.mean(r.points[i].stuck_bits for r in runs)
                                       for i, lb in enumerate(LABELS)},
                   "wall_s": [round(r.wall_s, 2) for r in runs]}
            rows.append(row)
            accs = " | ".join(f"{100 * row['accuracy_mean'][k]:.1f} ({100 * row['accuracy_min'][k]:.1f}–"
                              f"{100 * row['accuracy_max'][k]:.1f})" for k in LABELS)
            stuck = " / ".join(f"{row['buffer_stuck_bits_mean'][k]:g}" for k in LABELS)
            print(f"| {name} | {res} | {accs} | {stuck} | {max(row['wall_s']):.1f} s |", flush=True)
        print(f"| {name} | peak writes per word, ten years: "
              + ", ".join(f"{k} {v:.3g}" for k, v in peaks.items()) + " |", flush=True)
        _save("paper", rows)
    return rows


def _variants(base: str) -> list[tuple[str, object]]:
    a = scenario(base)
    out = [("as the scenario", a)]
    for wears in ("buffer", "ours", "every"):
        if wears != a.wears:
            out.append((f"wears: {wears}", replace(a, wears=wears)))
    out += [(f"stuck-at-1 share {DE_MIX:g} (the DE mix)", replace(a, stuck_at_one=DE_MIX)),
            ("stuck-at-1 share 0.5", replace(a, stuck_at_one=0.5)),
            (f"weights masked: {'no' if a.mask_weights is not False else 'yes'}",
             replace(a, mask_weights=a.mask_weights is False)),
            (f"write-back buffer: {'off' if a.write_back is not False else 'on'}",
             replace(a, write_back=a.write_back is False))]
    if a.wears == "buffer":
        out.append(("one value per word", replace(a, packed=False)))
    out += [(f"spare words {n}", replace(a, spares=n)) for n in (0, 32, 256)]
    return out


def sensitivity(seeds: int) -> list[dict]:
    rows = []
    print("| workload | scenario | change | " + " | ".join(POLICIES) + " |", flush=True)
    for name in WORKLOADS:
        system, x, y = _workload(name)
        for base in ("paper", "ours"):
            for label, a in _variants(base):
                row = {"workload": name, "scenario": base, "change": label, "assumptions": repr(a),
                       "seeds": seeds, "tenyear": {}, "tenyear_min": {}, "zero": {}, "stuck_bits": {}, "wall_s": {}}
                try:
                    for pol in POLICIES:
                        t = time.perf_counter()
                        runs = [run_experiment(system, x, y, resilience=pol, seed=s,
                                               assumptions=a)  # type: ignore[arg-type]
                                for s in range(seeds)]
                        row["tenyear"][pol] = statistics.mean(r.points[-1].accuracy for r in runs)
                        row["tenyear_min"][pol] = min(r.points[-1].accuracy for r in runs)
                        row["zero"][pol] = runs[0].points[0].accuracy
                        row["stuck_bits"][pol] = statistics.mean(r.points[-1].stuck_bits for r in runs)
                        row["wall_s"][pol] = round((time.perf_counter() - t) / seeds, 2)
                except IllusionError as e:                    # recorded, not hidden: e.g. it does not fit
                    row["error"] = str(e)
                    rows.append(row)
                    print(f"| {name} | {base} | {label} | {e} |", flush=True)
                    continue
                rows.append(row)
                cells = " | ".join(f"{100 * row['tenyear'][p]:.1f} % (min {100 * row['tenyear_min'][p]:.1f}; "
                                   f"{row['stuck_bits'][p]:g})" for p in POLICIES)
                print(f"| {name} | {base} | {label} | {cells} |", flush=True)
                _save("sensitivity", rows)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="paper,sensitivity")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--sensitivity-seeds", type=int, default=2)
    args = p.parse_args()
    RESULTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    for part in args.parts.split(","):
        t = time.perf_counter()
        if part == "paper":
            paper(args.seeds)
        elif part == "sensitivity":
            sensitivity(args.sensitivity_seeds)
        else:
            raise SystemExit(f"unknown part {part!r}")
        print(f"{part}: {time.perf_counter() - t:.0f} s", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
