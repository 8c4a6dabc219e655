"""The paper's endurance experiment as the authors ran it, and the assumptions that decide whether Distributed
ENDURER keeps accuracy.

Usage::

    from illusion_torch.paper.endurance_run import Assumptions, run_experiment
    r = run_experiment(system, x, y, resilience="distributed-endurer", seed=0)        # as the paper ran it
    r = run_experiment(system, x, y, resilience="distributed-endurer",
                       assumptions=Assumptions(stuck_at_one=DE_MIX))                  # one assumption changed
    r.points[-1].accuracy, r.points[-1].buffer_stuck_bits

What the ``paper`` scenario models (docs/paper.md, "The endurance experiment as it was run"):

- Eight segments of M = 2,048 16-bit words. Segment k holds chip k's weight image (weights are never written
  by inference; every remap and swap moves them: M writes) followed by the workload's one RRAM buffer;
  nothing else wears:
  SVHN — pool1's first 2 channels (2 × 8 × 8 int8 = 64 words) on the chip that pools, a running max kept in
  place: −128, then every new maximum, then a ReLU fix-up. The writes are counted from the real conv1
  outputs of the inputs evaluated, scanned in NCHW order (a value's word is written at each of its updates).
  D2NN — N1's conv2 output (432 int8 = 216 words), written once per inference (the conv writes its output
  pairs as words). KWS — the LSTM's cell state c: units 10k … 10k + 9 on segment k (int16, one per word),
  written every step (40 per inference).
- int8 values two per word (``packed``), the LSTM's c one per word.
- The 4-word write-back SRAM buffer (flushed whole when full) only when a policy remaps; with no resilience
  the writes go straight to the RRAM.
- Distributed ENDURER with the experiments' parameters (SVHN TAU = EPS = 0.45, C = 7e8; D2NN 0.4, 0.4, 7e8);
  the LSTM's chips were run one by one: ENDURER per chip.
- Stuck bits are forced into the buffer's values at every write (the running max compares each new value
  with what it reads back) and into the weights, except with no resilience (the authors' no-resilience runs
  masked activations only).

Cells fail from our calibrated endurance (``rram.PAPER_ENDURANCE``, fitted to the same SVHN buffer); the share
of failed cells stuck at 1 is an assumption (``Assumptions.stuck_at_one``). ``Assumptions`` changes one thing
at a time: what wears (``buffer`` / ``ours`` — messages and state kept across a shutdown, ``lifetime.simulate``
— / ``every`` activation), the stuck-at-1 share, weights masked, packing, the write-back buffer, spare words.
"""

from __future__ import annotations

import copy
import operator
import time
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx

from ..errors import IllusionError
from ..partitioning.ops import StoredValue
from ..partitioning.partition import Partition
from ..partitioning.slices import LstmSlice
from ..runtime import Runtime
from ..units import ceil_div
from ..wear.endurer import Policy, policy
from ..wear.fastforward import FastForward
from ..wear.faults import FaultyChips, StuckBits
from ..wear.lifetime import PERIODS_PER_YEAR, LifetimePoint, LifetimeResult, _inference_rate, marks_until, simulate
from ..wear.rram import PAPER_ENDURANCE, Endurance, write_back

__all__ = ["Assumptions", "run_experiment", "scenario", "stuck_at_one", "paper_patterns", "SEGMENT_WORDS", "PAPER_DE",
           "DE_MIX", "WORKLOADS", "SCENARIOS", "RunningMax", "PaperFaults"]

SEGMENT_WORDS = 2048                   # M: one chip's RRAM segment in the experiment
PAPER_DE = {"svhn": {"tau": 0.45, "eps": 0.45, "c": 7e8}, "d2nn": {"tau": 0.4, "eps": 0.4, "c": 7e8}}
# "under Distributed ENDURER most new failures were stuck-at-0": no share is given; the mirror image of the
# no-resilience "almost all stuck-at-1" (our 0.98) is the reading that favours the paper most
DE_MIX = 0.02
WORKLOADS = ("svhn", "d2nn", "kws")
SCENARIOS = ("ours", "paper")
WEARS = ("buffer", "ours", "every")


@dataclass(frozen=True)
class Assumptions:
    """What the experiment assumes; ``None``: the paper's rule for the policy run."""

    wears: str = "buffer"               # "buffer" (the paper's) | "ours" | "every"
    stuck_at_one: float = 1 - PAPER_ENDURANCE.stuck_at_zero
    mask_weights: bool | None = None    # paper: masked unless there is no resilience
    packed: bool = True                 # int8 values two per 16-bit word
    write_back: bool | None = None      # paper: the 4-word buffer only when a policy remaps
    spares: int | None = None           # spare words per chip (None: the policy's own)
    params: str = "paper"               # Distributed ENDURER's TAU/EPS/C: "paper" (the experiments') | "ours"

    def __post_init__(self) -> None:
        if self.wears not in WEARS:
            raise IllusionError(f"unknown wear assumption {self.wears!r}; use one of {', '.join(WEARS)}")
        if not 0 <= self.stuck_at_one <= 1:
            raise IllusionError(f"the stuck-at-1 share is a fraction in [0, 1], got {self.stuck_at_one}")
        if self.params not in SCENARIOS:
            raise IllusionError(f"unknown parameter set {self.params!r}; use one of {', '.join(SCENARIOS)}")
        if self.spares is not None and self.spares < 0:
            raise IllusionError(f"spare words per chip must be ≥ 0, got {self.spares}")

    def resolved(self, resilience: str) -> Assumptions:
        """The paper's rules filled in for ``resilience``."""
        remaps = resilience != "none"
        return replace(self, mask_weights=remaps if self.mask_weights is None else self.mask_weights,
                       write_back=remaps if self.write_back is None else self.write_back)


def scenario(name: str) -> Assumptions:
    """A named scenario's assumptions: "paper" (the experiment as run) or "ours" (``lifetime.simulate``'s:
    messages and kept state wear, our policy parameters, write-back buffer and weight masks always)."""
    if name == "paper":
        return Assumptions()
    if name == "ours":
        return Assumptions(wears="ours", params="ours", mask_weights=True, write_back=True)
    raise IllusionError(f"unknown scenario {name!r}; use one of {', '.join(SCENARIOS)}")


def stuck_at_one(text: str | float | None) -> float:
    """The stuck-at-1 share from a command line: a fraction in [0, 1], 'de-mix' (``DE_MIX``), or None (ours)."""
    if text is None:
        return 1 - PAPER_ENDURANCE.stuck_at_zero
    if text == "de-mix":
        return DE_MIX
    try:
        share = float(text)
    except ValueError:
        share = float("nan")
    if not 0 <= share <= 1:
        raise IllusionError(f"--stuck-at-1 takes a fraction in [0, 1] or 'de-mix', got {text!r}")
    return share


def _policy(workload: str, resilience: str, spares: int | None, params: str = "paper") -> Policy:
    """The experiment's policy: Distributed ENDURER with its parameters; the LSTM's chips one by one
    (``params="ours"``: the policy's own defaults)."""
    if resilience == "distributed-endurer" and params == "paper":
        pol = policy("endurer") if workload == "kws" else policy(resilience, **PAPER_DE[workload])
    else:
        pol = policy(resilience)
    if spares is not None:
        pol.spares = int(spares)
    return pol


# -- the buffer and what one inference writes --------------------------------------------------------------
@dataclass
class _Site:
    """Where the workload's buffer values live: value i of the site sits on ``segment[i]`` at word ``word[i]``,
    byte ``byte[i]`` of it (0 low, 1 high; -1 the whole 16-bit word)."""

    segment: np.ndarray
    word: np.ndarray
    byte: np.ndarray


def _bases(runtime: Runtime) -> list[int]:
    """Each segment's first free word: after its chip's weight image."""
    return [ceil_div(img.nvm_bytes, 2) for img in runtime.images]


def _node(gm: fx.GraphModule, name: str) -> fx.Node:
    node = next((n for n in gm.graph.nodes if n.name == name), None)
    if node is None:
        raise IllusionError(f"the paper scenario looks for node {name!r}, which this partition does not have "
                            f"(a layer split across chips?); map the model onto the paper's 8 chips")
    return node


def _arg(node: fx.Node) -> fx.Node:
    """A node's first argument, which must be a node (the paper's layers as our models trace them)."""
    a = node.args[0] if node.args else None
    if not isinstance(a, fx.Node):
        raise IllusionError(f"{node.name} does not read a traced value; the paper scenario expects the paper's "
                            f"models")
    return a


def _chip(runtime: Runtime, node: fx.Node) -> int:
    chip = runtime.programs.chip_of.get(node.name)
    if not isinstance(chip, int):
        raise IllusionError(f"{node.name} runs on the host, not on a chip")
    return chip


def _int8_site(runtime: Runtime, chip: int, numel: int, packed: bool) -> _Site:
    base = _bases(runtime)[chip]
    i = np.arange(numel)
    word = base + (i // 2 if packed else i)
    byte = i % 2 if packed else np.zeros(numel, dtype=np.int64)
    return _Site(np.full(numel, chip), word, byte)


def _lstm_units(gm: fx.GraphModule) -> list[tuple[str, int, int]]:
    """The LSTM's slices in unit order: (module, first unit, units)."""
    out, first = [], 0
    for name, m in gm.named_modules():
        if isinstance(m, LstmSlice):
            units = m.weight_ih.shape[0] // 4
            out.append((name, first, units))
            first += units
    return out


def _site(runtime: Runtime, workload: str, packed: bool) -> _Site:
    gm = runtime.programs.expanded
    if workload == "svhn":
        return _int8_site(runtime, _chip(runtime, _node(gm, "orig_pool1")), 2 * 8 * 8, packed)
    if workload == "d2nn":
        return _int8_site(runtime, _chip(runtime, _node(gm, "orig_n1_7")), 432, packed)
    if workload == "kws":
        units = sum(u for _, _, u in _lstm_units(gm))
        if units != 80 or runtime.profile is None or len(runtime.images) != 8:
            raise IllusionError("the paper's KWS experiment keeps 10 units of c on each of 8 chips: map the "
                                "80-unit LSTM onto 8 chips")
        u = np.arange(units)
        bases = np.asarray(_bases(runtime))
        return _Site(u // 10, bases[u // 10] + u % 10, np.full(units, -1))
    raise IllusionError(f"the paper ran its endurance experiment on {', '.join(WORKLOADS)}, not {workload!r}")


def _svhn_conv1_codes(runtime: Runtime, x: torch.Tensor) -> torch.Tensor:
    """conv1's rounded outputs before the ReLU, as int8 codes, for the buffer's 2 channels: (N, 2, 32, 32)."""
    gm = runtime.programs.expanded
    q1 = _arg(_node(gm, "orig_pool1"))                     # pool1(q1(relu(conv1(q_in(x)))))
    conv = _arg(_arg(q1))
    q_in = _arg(conv)
    mods: list[Any] = [copy.deepcopy(gm.get_submodule(str(n.target))).double() for n in (q_in, conv, q1)]
    with torch.no_grad():
        pre = mods[2](mods[1](mods[0](x.double())))
    return torch.round(pre[:, :2] * 2.0 ** mods[2].format.fl).to(torch.int64)


def _windows(codes: torch.Tensor, k: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H/k, W/k, k·k): each pooling window's values in the order a row-by-row scan
    of the conv outputs meets them."""
    n, c, h, w = codes.shape
    return codes.reshape(n, c, h // k, k, w // k, k).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h // k, w // k, k * k)


def _updates(codes: torch.Tensor, k: int = 4) -> list[np.ndarray]:
    """Per input, the pooled values a running max in place updates, in the NCHW scan order of the conv
    outputs (a conv output above its window's maximum so far, which starts at −128)."""
    n, c, h, w = codes.shape
    win = _windows(codes, k)
    start = torch.full(win.shape[:-1] + (1,), -128, dtype=win.dtype)
    new = win > torch.cummax(torch.cat([start, win], -1), -1).values[..., :-1]
    image = new.reshape(n, c, h // k, w // k, k, k).permute(0, 1, 2, 4, 3, 5).reshape(n, -1).numpy()
    pos = np.arange(c * h * w)
    value_of = (pos // (h * w)) * (h // k) * (w // k) + ((pos % (h * w)) // w // k) * (w // k) + (pos % w) // k
    return [value_of[row] for row in image]


def paper_patterns(runtime: Runtime, workload: str, x: torch.Tensor, *, packed: bool = True,
                   write_back_on: bool = False) -> list[np.ndarray]:
    """Per segment, the RRAM writes per word per inference of the paper's buffer (see the module); ``x``: the
    inputs whose writes are averaged (SVHN's running max depends on them)."""
    site = _site(runtime, workload, packed)
    patterns = [np.zeros(SEGMENT_WORDS) for _ in runtime.images]
    top = int(site.word.max()) + 1
    if top > SEGMENT_WORDS:
        raise IllusionError(f"a chip's weights and the buffer take {top:,} words, more than the segment's "
                            f"{SEGMENT_WORDS:,} (the paper's chip): int8 values one per word (--one-value-per-word, "
                            f"packed=False) or a larger --capacity grow them past it; drop that option")
    if workload == "svhn":
        seg = int(site.segment[0])
        values = np.arange(len(site.word))
        for updated in _updates(_svhn_conv1_codes(runtime, x)):   # −128 into every value, each new maximum,
            trace = site.word[np.concatenate([values, updated, values])]   # the ReLU fix-up of every value
            patterns[seg] += _to_rram(trace, write_back_on) / len(x)
    elif workload == "d2nn":
        seg = int(site.segment[0])
        trace = np.unique(site.word) if packed else site.word          # pairs written as words
        patterns[seg] += _to_rram(trace, write_back_on)
    else:
        steps = int(x.shape[1])
        for seg in range(len(patterns)):
            words = site.word[site.segment == seg]
            patterns[seg] += _to_rram(np.tile(words, steps), write_back_on)
    return patterns


def _to_rram(trace: np.ndarray, buffered: bool) -> np.ndarray:
    if buffered:
        return write_back(trace, SEGMENT_WORDS, flush="whole").astype(np.float64)
    return np.bincount(trace, minlength=SEGMENT_WORDS).astype(np.float64)


# -- stuck bits where the paper's chips read and write them --------------------------------------------------
class RunningMax(StoredValue):
    """SVHN's pool1 with its first ``channels`` kept as a running max in RRAM words with stuck bits: each window
    starts at −128, takes every value above what reads back, then the ReLU; every write forced (AND/OR masks
    on the int8 codes). Without stuck bits it is exactly max_pool(relu(q(conv)))."""

    def __init__(self, q: Any, channels: int, kernel: int) -> None:
        super().__init__()
        self.q, self.channels, self.kernel, self.fl = q, channels, kernel, int(q.format.fl)
        self.and_mask = torch.zeros(0, dtype=torch.int64)
        self.or_mask = torch.zeros(0, dtype=torch.int64)
        self.active = False

    @property
    def keeps_format(self) -> bool:
        return True

    def _force(self, codes: torch.Tensor) -> torch.Tensor:
        u = ((codes & 0xFF) & self.and_mask) | self.or_mask
        return torch.where(u >= 128, u - 256, u)

    def forward(self, conv: torch.Tensor) -> torch.Tensor:
        pre = self.q(conv)
        out = F.max_pool2d(torch.relu(pre), self.kernel)
        if not self.active:
            return out
        k, c, fl = self.kernel, self.channels, self.fl
        win = _windows(torch.round(pre[:, :c] * 2.0 ** fl).to(torch.int64), k)
        held = self._force(torch.full(win.shape[:-1], -128, dtype=torch.int64))
        for j in range(k * k):
            v = win[..., j]
            held = torch.where(v > held, self._force(v), held)
        held = self._force(held.clamp(min=0))
        out = out.clone()
        out[:, :c] = (held.to(out.dtype) * 2.0 ** -fl)
        return out


class PaperFaults(FaultyChips):
    """The runtime's chips with stuck bits only where the paper's experiment has RRAM: the buffer (see the
    module) and, when ``mask_weights``, the weights."""

    def __init__(self, runtime: Runtime, workload: str, packed: bool, mask_weights: bool) -> None:
        self.workload, self.site = workload, _site(runtime, workload, packed)
        self.sites: list[tuple[RunningMax | StuckBits, np.ndarray]] = []       # (module, indices into ``site``)
        self.segment_masks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        super().__init__(runtime, layout={}, mask_weights=mask_weights)

    def insert_points(self) -> None:
        super().insert_points()
        g, gm = self.gm.graph, self.gm
        if self.workload == "svhn":
            pool = _node(gm, "orig_pool1")
            q1 = _arg(pool)
            conv = _arg(_arg(q1))                # pool1(q1(relu(conv1)))
            mod = RunningMax(gm.get_submodule(str(q1.target)), channels=2, kernel=4)
            new = self.call_after(pool, "paper_buffer", mod, (conv,), like=pool)
            pool.replace_all_uses_with(new, delete_user_cb=lambda u: u is not new)
            self.sites.append((mod, np.arange(len(self.site.word))))
        elif self.workload == "d2nn":
            node = _node(gm, "orig_n1_7")
            self._stuck_after(node, StuckBits(432, 8, 4), np.arange(432), "paper_buffer")
        else:
            units = {name: (first, n) for name, first, n in _lstm_units(gm)}
            count = 0
            for node in list(g.nodes):
                if node.op != "call_module" or str(node.target) not in units:
                    continue
                first, n = units[str(node.target)]
                module: Any = gm.get_submodule(str(node.target))
                for u in list(node.users):
                    if u.target is operator.getitem and u.args[1] == 1:         # (h, c)[1]: c, written each step
                        count += 1
                        self._stuck_after(u, StuckBits(n, module.pre.wl, module.pre.fl), np.arange(first, first + n),
                                          f"paper_c{count}")
        g.lint()
        gm.recompile()

    def _stuck_after(self, node: fx.Node, mod: StuckBits, index: np.ndarray, name: str) -> None:
        new = self.call_after(node, name, mod, (node,), like=node)
        node.replace_all_uses_with(new, delete_user_cb=lambda u: u is not new)
        self.sites.append((mod, index))

    def set_segment_masks(self, masks: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        """Stuck bits per segment word (segment -> AND and OR words, its logical layout: weights, then buffer)."""
        self.segment_masks = masks
        self.set_all_masks(masks)               # the weights' words (``FaultyChips.mask_weights``), then ``apply``

    def apply(self) -> None:
        super().apply()
        if not self.segment_masks:
            for mod, _ in self.sites:
                mod.active = False
            return
        s = self.site
        ands = np.full(len(s.word), 0xFFFF, dtype=np.int64)
        ors = np.zeros(len(s.word), dtype=np.int64)
        for seg, (a, o) in self.segment_masks.items():
            here = s.segment == seg
            ands[here], ors[here] = a[s.word[here]], o[s.word[here]]
        half = s.byte >= 0
        shift = 8 * np.maximum(s.byte, 0)
        ands = np.where(half, (ands >> shift) & 0xFF, ands)
        ors = np.where(half, (ors >> shift) & 0xFF, ors)
        for mod, index in self.sites:
            ta, to = torch.from_numpy(ands[index]), torch.from_numpy(ors[index])
            if isinstance(mod, RunningMax):
                mod.and_mask, mod.or_mask = ta.reshape(2, 8, 8), to.reshape(2, 8, 8)
                mod.active = bool(((ta != 0xFF) | (to != 0)).any())
            else:
                full = (1 << mod.wl) - 1
                cast(torch.Tensor, mod.and_mask).copy_(ta & full)
                cast(torch.Tensor, mod.or_mask).copy_(to & full)
                hit = torch.nonzero(((ta & full) != full) | (to != 0)).flatten()
                mod.hit = hit
                mod.active = len(hit) > 0

    def buffer_stuck_bits(self) -> int:
        """Stuck bits in effect in the buffer's words now."""
        s, total = self.site, 0
        for seg, (a, o) in self.segment_masks.items():
            words = np.unique(s.word[s.segment == seg])
            bits = (~a[words] & 0xFFFF) | o[words]
            total += int(sum(bin(int(b)).count("1") for b in bits))
        return total


# -- the run -------------------------------------------------------------------------------------------------
def run_experiment(system: Partition, x: torch.Tensor, y: torch.Tensor, *, resilience: str = "distributed-endurer",
                   years: float = 10.0, seed: int = 0, rate: float | None = None,
                   assumptions: Assumptions | None = None) -> LifetimeResult:
    """Fast-forward ``years`` of the paper's experiment (see the module) under ``resilience``; accuracy on (x, y).
    ``assumptions.wears`` "ours" / "every" runs ``lifetime.simulate`` with the other assumptions applied."""
    started = time.perf_counter()
    a = (assumptions or Assumptions()).resolved(resilience)
    name = system.graph.model_name
    endurance = Endurance(PAPER_ENDURANCE.mu, PAPER_ENDURANCE.sigma, stuck_at_zero=1 - a.stuck_at_one)
    pol = _policy(name, resilience, a.spares, a.params)
    if a.wears != "buffer":
        if not a.packed:
            raise IllusionError("one value per word is a paper-scenario assumption (wears='buffer'); our layout "
                                "packs values by their bytes")
        return simulate(system, x, y, resilience=pol, years=years, seed=seed, rate=rate, endurance=endurance,
                        layout=a.wears, write_back_on=bool(a.write_back), mask_weights=bool(a.mask_weights))
    marks = marks_until(years)
    rate = _inference_rate(name, rate)
    runtime = Runtime(system)
    patterns = paper_patterns(runtime, name, x, packed=a.packed, write_back_on=bool(a.write_back))
    ff = FastForward(patterns, rate, pol, endurance, seed)
    faulty = PaperFaults(runtime, name, a.packed, bool(a.mask_weights))
    base = faulty.run(x)
    points = []
    for label, period in marks:
        wear = ff.advance_to(period)
        masks, stuck, failed = ff.logical_masks(wear)
        faulty.set_segment_masks(masks)
        logits = base if stuck == 0 else faulty.run(x)
        acc = float((logits.argmax(1) == y).double().mean())
        points.append(LifetimePoint(label, period, period / PERIODS_PER_YEAR, acc, stuck, float(wear.max()), failed,
                                    sum(len(sp.of) for sp in ff.spares), faulty.buffer_stuck_bits()))
    start = points[0].accuracy
    below = next((p for p in points if p.accuracy < start - 0.01), None)
    evenness = float(wear.mean() / wear.max()) if wear.max() > 0 else 1.0
    params = {**pol.given, **({"spares": pol.spares} if a.spares is not None else {})}
    return LifetimeResult(name, pol.name, params, ff.n, seed, len(x), rate, ff.words, points,
                          None if below is None else below.years, evenness, pol.swaps,
                          time.perf_counter() - started, [f"scenario paper: {a}"])

