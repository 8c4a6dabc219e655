"""Years of inference on RRAM chips that wear out: stuck bits from the writes the model really makes, a
wear-leveling policy, and the accuracy the chip-by-chip runtime measures at ZERO … TENYEAR.

Usage::

    import illusion_torch as il
    from illusion_torch.lifetime import simulate
    system = il.partition(il.load("svhn"), x[:1], chips=8, capacity="4KiB")
    result = simulate(system, x[:500], y[:500], resilience="distributed-endurer", years=10, seed=0)
    result.points[-1].accuracy, result.wear_evenness, result.lifetime_years

How (PAPER.md, "RRAM endurance and Distributed ENDURER"):
1. Write pattern: each chip's RRAM holds its weight image followed by the activation buffers that must
   outlive a shutdown (``nvm_layout``: messages from other chips, values kept between a chip's wake-ups such
   as the LSTM's h and c); working activations stay in SRAM. One inference's writes to those buffers, in
   program order (``Profile.events``), pass through the 4-word write-back SRAM buffer (``rram.write_back``);
   what reaches the RRAM is the writes per word per inference. A gated model averages its routes by how
   often the test inputs take them. Weights are written only when a remap moves them.
2. Fast-forward: periods of 4 hours run ``rate`` inferences each. The policy (``endurer.py``) records, per
   period, which physical chip held which logical image at which rotation; wear is linear in those counts,
   so the writes every physical word has received after any number of periods is a circular correlation of
   the per-inference pattern with the histogram of offsets (FFT), plus the remap writes — exact, with no
   per-inference simulation.
3. At ZERO, DAY, WEEK, MONTH, YEAR, TENYEAR (0, 6, 42, 180, 2,190, 21,900 periods) every cell whose
   endurance (``rram.RRAMArray``, seeded) is below its word's wear is stuck; the stuck bits are mapped back
   through the current placement onto each logical chip and forced into its weights and every activation
   write (``runtime.faults``), and the test subset runs chip by chip.
"""

from __future__ import annotations

import math
import operator
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .endurer import Policy
from .endurer import policy as make_policy
from .graph import HOST
from .rram import PAPER_ENDURANCE, Endurance, RRAMArray, write_back
from .runtime import Runtime
from .runtime.faults import FaultyChips

__all__ = ["simulate", "LifetimeResult", "LifetimePoint", "LABELS", "RATES", "write_pattern", "nvm_layout",
           "plot_lifetime"]

PERIOD_HOURS = 4
PERIODS_PER_YEAR = 365 * 24 // PERIOD_HOURS                  # 2,190
LABELS = {"ZERO": 0, "DAY": 6, "WEEK": 42, "MONTH": 180, "YEAR": 2_190, "TENYEAR": 21_900}
RATES = {"svhn": 411, "d2nn": 3000, "kws": 541}               # inferences per 4 h (PAPER.md)
REPORT_PERIODS = 42             # spare-word repair: write-verify reports are acted on weekly


@dataclass
class LifetimePoint:
    label: str
    periods: int
    years: float
    accuracy: float
    stuck_bits: int             # failed cells in effect (a failed word moved to a spare no longer counts)
    max_writes_per_word: float
    failed_cells: int = 0       # every failed cell of the chips' memories, repaired or not
    repaired_words: int = 0     # words redirected to spares (distributed-endurer-plus)


@dataclass
class LifetimeResult:
    model: str
    resilience: str
    params: dict
    chips: int
    seed: int
    samples: int
    rate: float
    words_per_chip: int
    points: list[LifetimePoint]
    lifetime_years: float | None
    wear_evenness: float
    swaps: int
    wall_s: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        params = "".join(f" {k}={v:g}" for k, v in self.params.items())
        lines = [f"{self.model} on {self.chips} chips, resilience {self.resilience}{params}, "
                 f"{self.rate:g} inferences per 4 h, seed {self.seed}, accuracy on the first {self.samples} test "
                 f"inputs",
                 f"{'point':<9}{'years':>8}{'accuracy':>10}{'stuck bits':>12}{'failed cells':>14}{'repaired':>10}"
                 f"{'max writes/word':>17}"]
        for p in self.points:
            lines.append(f"{p.label:<9}{p.years:>8.3g}{100 * p.accuracy:>9.2f}%{p.stuck_bits:>12}{p.failed_cells:>14}"
                         f"{p.repaired_words:>10}{p.max_writes_per_word:>17.4g}")
        life = "never within the horizon" if self.lifetime_years is None else f"{self.lifetime_years:g} years"
        lines.append(f"accuracy first 1 point below its start: {life}; wear evenness (mean ÷ max writes per "
                     f"word) {self.wear_evenness:.3f}; chip swaps {self.swaps}; {self.wall_s:.1f} s")
        lines += self.notes
        return "\n".join(lines)


def nvm_layout(runtime: Runtime) -> list[dict[str, int]]:
    """Per chip, the activation buffers that live in RRAM and their byte addresses (after the weights).

    A chip keeps its working activations in SRAM while it is on (PAPER.md: activations sit in a separate
    SRAM); what must outlive a shutdown is written to RRAM: messages from other chips (relayed through the
    controller's FIFO, waiting for the receiver to use them) and values a chip keeps from one of its
    wake-ups to a later one (the LSTM's h and c between steps). The host's input stream goes to SRAM.
    """
    programs, prof = runtime.programs, runtime.profile
    by_name = {n.name: n for n in programs.expanded.graph.nodes}

    def used_in_a_later_wake(name: str) -> bool:
        node, chip, wake = by_name[name], programs.chip_of.get(name), programs.wake_of.get(name)
        # an LSTM slice returns (h, c): its values are used through the tuple's getitems
        users = [v for u in node.users for v in (u.users if u.target is operator.getitem else [u])]
        return any(programs.chip_of.get(u.name) == chip and programs.wake_of.get(u.name, wake) != wake
                   for u in users)

    out = []
    for img in runtime.images:
        address = 2 * (-(-img.nvm_bytes // 2))
        layout = {}
        for s in prof.stores:
            if s.chip != img.chip:
                continue
            if s.kind == "inbox":
                keep = programs.chip_of.get(s.nodes[0]) != HOST
            else:
                keep = any(used_in_a_later_wake(name) for name in s.nodes)
            if keep:
                layout[s.name] = address
                address += 2 * (-(-s.numel * s.bytes_per_value // 2))
        out.append(layout)
    return out


def write_pattern(runtime: Runtime, runs: dict, layout: list[dict[str, int]]) -> list[np.ndarray]:
    """Per chip, RRAM writes per 16-bit word per inference: weights first (written only by remaps), then the
    RRAM-resident buffers of ``layout``, through the 4-word write-back SRAM buffer."""
    prof = runtime.profile
    total = sum(runs.values())
    out = []
    for img, where in zip(runtime.images, layout, strict=True):
        words = -(-img.nvm_bytes // 2) + sum(-(-s.numel * s.bytes_per_value // 2) for s in prof.stores
                                             if s.chip == img.chip and s.name in where)
        pattern = np.zeros(words)
        for route, n in runs.items():
            trace = []
            for _, _, i in prof.events:
                s = prof.stores[i]
                if s.chip != img.chip or s.name not in where or (s.branch is not None and s.branch != route):
                    continue
                trace.append((where[s.name] + np.arange(s.numel * s.bytes_per_value)) // 2)
            if trace:
                pattern += (n / total) * write_back(np.concatenate(trace), words)
        out.append(pattern)
    return out


class _Spares:
    """A chip's spare words: write-verify reports a failed word (or a failed spare) and the controller
    redirects it to the next free spare, which from then on takes that word's writes."""

    def __init__(self, count: int, endurance: Endurance, seed: int) -> None:
        self.count = count
        self.cells = RRAMArray(max(count, 1), endurance, seed=seed)
        self.of: dict[int, tuple[int, float]] = {}          # word -> (spare, the word's wear when assigned)
        self.used = 0

    def report(self, cells: RRAMArray, wear: np.ndarray) -> None:
        for w in np.nonzero((cells.endurance <= wear[:, None]).any(1))[0].tolist():
            if w in self.of:
                i, at = self.of[w]
                if not (self.cells.endurance[i] <= wear[w] - at).any():
                    continue
            if self.used < self.count:
                self.of[w] = (self.used, float(wear[w]))
                self.used += 1

    def masks(self, cells: RRAMArray, wear: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
        """The chip's AND/OR masks with redirected words read from their spares, the stuck bits in effect,
        and every failed cell (spares included)."""
        and_m, or_m, failed = cells.masks(wear)
        if not self.of:
            return and_m, or_m, failed, failed
        spare_wear = np.zeros(self.cells.n_words)
        for w, (i, at) in self.of.items():
            spare_wear[i] = wear[w] - at
        s_and, s_or, spare_failed = self.cells.masks(spare_wear)
        stuck = failed + spare_failed
        for w, (i, _) in self.of.items():
            stuck -= int((cells.endurance[w] <= wear[w]).sum())
            and_m[w], or_m[w] = s_and[i], s_or[i]
        return and_m, or_m, stuck, failed + spare_failed


def _wear(hist_fft: np.ndarray, pattern_fft: np.ndarray, extra: np.ndarray, words: int) -> np.ndarray:
    """Writes per physical word: Σ_L circular correlation of the offset histogram with L's pattern."""
    spec = np.einsum("plf,lf->pf", np.conj(hist_fft), pattern_fft)
    return np.fft.irfft(spec, n=words) + extra[:, None]


def simulate(system, x: torch.Tensor, y: torch.Tensor, *, resilience: str = "distributed-endurer",
             params: dict | None = None, years: float = 10.0, seed: int = 0, rate: float | None = None,
             model_name: str | None = None, endurance: Endurance = PAPER_ENDURANCE) -> LifetimeResult:
    """Fast-forward ``years`` of inference on ``system``'s chips under ``resilience``; accuracy on (x, y)."""
    started = time.perf_counter()
    name = model_name or system.graph.model_name
    if years <= 0 or not math.isfinite(years):
        raise ValueError(f"years must be a positive number, got {years}")
    notes = []
    if rate is None:
        if name not in RATES:
            raise ValueError(f"no inference rate known for {name!r}; pass rate= (inferences per 4 hours); "
                             f"PAPER.md gives {', '.join(f'{k} {v}' for k, v in RATES.items())}")
        rate = RATES[name]
    if rate <= 0:
        raise ValueError(f"rate must be positive (inferences per 4 hours), got {rate}")
    pol: Policy = make_policy(resilience, **(params or {}))
    runtime = Runtime(system)
    base = runtime.run(x)
    layout = nvm_layout(runtime)
    patterns = write_pattern(runtime, base.runs, layout)
    n = len(patterns)
    words = max(len(p) for p in patterns)
    padded = np.zeros((n, words))
    for c, p in enumerate(patterns):
        padded[c, :len(p)] = p
    writes_per_chip = padded.sum(1) * rate
    pattern_fft = np.fft.rfft(padded, axis=1)
    rng = np.random.default_rng(seed)
    pol.reset(n, words, rng)
    arrays = [RRAMArray(words, endurance, seed=seed * 1_000_003 + c) for c in range(n)]
    faulty = FaultyChips(runtime)
    faulty.layout = dict(enumerate(layout))

    spares = [_Spares(pol.spares, endurance, seed * 1_000_003 + 500 + c) for c in range(n)]

    horizon = int(round(years * PERIODS_PER_YEAR))
    marks = {label: p for label, p in LABELS.items() if p <= horizon}
    if horizon not in marks.values():
        marks[f"{years:g}Y"] = horizon
    hist = np.zeros((n, n, words))
    extra = np.zeros(n)
    points: list[LifetimePoint] = []
    done = 0
    wear = np.zeros((n, words))
    for label, period in sorted(marks.items(), key=lambda kv: kv[1]):
        while done < period:
            pol.step(writes_per_chip, rate, hist, extra)
            done += 1
            if pol.spares and done % REPORT_PERIODS == 0:   # act on what write-verify has reported
                now = _wear(np.fft.rfft(hist, axis=2), pattern_fft, extra, words)
                for c in range(n):
                    spares[c].report(arrays[c], now[c])
        wear = _wear(np.fft.rfft(hist, axis=2), pattern_fft, extra, words) if done else np.zeros((n, words))
        masks = [spares[c].masks(arrays[c], wear[c]) for c in range(n)]
        stuck = sum(m[2] for m in masks)
        acc = None
        if stuck == 0 and points:
            acc = points[0].accuracy
        else:
            for logical in range(n):
                phys = int(pol.place.chip[logical])
                off = int(pol.place.offset[phys])
                and_p, or_p = masks[phys][:2]
                index = (np.arange(words) - off) % words
                faulty.masks[logical] = (and_p[index], or_p[index])
            faulty.apply()
            acc = float((faulty.run(x).argmax(1) == y).double().mean())
        failed = sum(m[3] for m in masks)
        points.append(LifetimePoint(label, period, period / PERIODS_PER_YEAR, acc, stuck, float(wear.max()), failed,
                                    sum(len(sp.of) for sp in spares)))
    start = points[0].accuracy
    below = next((p for p in points if p.accuracy < start - 0.01), None)
    evenness = float(wear.mean() / wear.max()) if wear.max() > 0 else 1.0
    if faulty.unmasked:
        notes.append(f"values without a fixed-point code left unmasked: {', '.join(sorted(set(faulty.unmasked)))}")
    return LifetimeResult(name, resilience, dict(params or {}), n, seed, len(x), rate, words, points,
                          None if below is None else below.years, evenness, pol.swaps,
                          time.perf_counter() - started, notes)


def plot_lifetime(results: list[LifetimeResult], path) -> None:
    """Accuracy and stuck bits against time (log axis): a row per workload, a colour per policy (like the
    paper's Fig. 6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r.model for r in results))
    policies = list(dict.fromkeys(r.resilience for r in results))
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 3.2 * len(models)), squeeze=False)
    first = PERIOD_HOURS / 24 / 365                     # ZERO is drawn at one period
    for row, model in enumerate(models):
        ax1, ax2 = axes[row]
        for r in (r for r in results if r.model == model):
            color = f"C{policies.index(r.resilience) % 10}"
            t = [max(p.years, first) for p in r.points]
            ax1.plot(t, [100 * p.accuracy for p in r.points], "o-", ms=3, color=color, label=r.resilience)
            ax2.plot(t, [max(p.stuck_bits, 0.5) for p in r.points], "o-", ms=3, color=color)
        for ax in (ax1, ax2):
            ax.set_xscale("log")
        ax2.set_yscale("log")
        ax1.set_ylabel(f"{model}: accuracy (%)")
        ax2.set_ylabel("stuck bits (all chips; 0 drawn at 0.5)")
        if row == 0:
            ax1.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("years of inference (ZERO drawn at 4 h)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
