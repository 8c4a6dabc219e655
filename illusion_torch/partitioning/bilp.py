"""The exact mapper: a binary integer linear program, solved with HiGHS, that minimizes inter-chip bytes.

Usage::

    from illusion_torch.partitioning.bilp import solve_bilp
    mapping = solve_bilp(graph, capacities=[512] * 8, time_limit_s=30)
    mapping.optimal, mapping.gap, mapping.lower_bound

The program (per layer L in topological order, chip c):
- ``n_out[L,c]`` / ``n_in[L,c]``: units of L on c when split by output / by input units; ``o[L]`` picks
  the mode (a whole layer is the out mode with all units on one chip); ``p_*[L,c]`` mark a piece on c;
  ``r[L,c]`` marks the chip that reduces an input split's int32 partial sums and holds its bias.
- Capacity: per chip, the weight bytes of its pieces ≤ its capacity.
- Layout: chips are ordered and layers occupy them in topological order (the last chip of a layer comes no
  later than the first chip of the next) — the message chain of docs/paper.md, and it removes the chips'
  permutation symmetry. The reducer is the last chip of its layer.
- Bytes, for each tensor P → L between layers (host I/O excluded): a chip of L in the out mode receives
  the whole tensor less what its own chip holds, T·(p_out[L,d] − a[P,d]) where a[P,d] is P's share on d —
  once per chip, however many of its layers consume the tensor (one variable per tensor and chip);
  a chip of L in the in mode receives its slice T·n_in[L,d]/N, less T·n_in[L,d]/N where P sits whole on
  that chip; an input split adds (pieces − 1) partial sums; a split LSTM adds its h exchange every step.
- Objective: bytes + a small weight × pieces (ties go to fewer pieces, i.e. fewer wake-ups).

The in-mode credit counts only a producer held whole on the chip, so for an input slice that overlaps a
split producer's slice on the same chip the program's bytes are an upper bound; the reported bytes always
come from ``plan.messages``. Solved with HiGHS (``milp.Program``), optionally from a starting mapping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import CapacityError, IllusionError
from .greedy import first_fit, sequential
from .milp import Program
from .plan import Mapping, Piece, inter_chip_bytes, piece_bytes
from .trace import HOST, Layer, OpGraph, Split

__all__ = ["solve_bilp", "TIE_BREAK_BYTES"]

TIE_BREAK_BYTES = 1e-3        # objective weight of one piece: far below one byte


def _greedy_fallback(graph: OpGraph, capacities: list[int], why: str, started: float) -> Mapping:
    """The better of the greedy mappers when the program yields nothing; never a silent claim of optimality."""
    if len(set(capacities)) == 1:
        fits = []
        for mapper in (first_fit, sequential):
            try:
                m = mapper(graph, capacities[0])
            except IllusionError:
                continue
            if m.n_chips <= len(capacities):
                fits.append(m)
        if fits:
            best = min(fits, key=lambda m: inter_chip_bytes(graph, m))
            best.solver, best.optimal, best.solve_s = "bilp", False, time.perf_counter() - started
            best.method = f"{best.method} (fallback: {why})"
            best.notes.append(why)
            return best
    raise IllusionError(f"{why}, and no greedy mapping fits {len(capacities)} chips of {capacities} B; use more "
                        f"chips, a larger capacity or a longer time limit")


@dataclass
class _LayerVars:
    """One layer's variables: per chip of its span, units and piece markers in each mode, and the reducer."""

    span: range
    mode: int | None                         # 1 = out mode; None where no input split exists
    lo: int                                  # first and last chip the layer occupies (continuous)
    hi: int
    n_out: dict[int, int] = field(default_factory=dict)
    p_out: dict[int, int] = field(default_factory=dict)
    n_in: dict[int, int] = field(default_factory=dict)
    p_in: dict[int, int] = field(default_factory=dict)
    red: dict[int, int] = field(default_factory=dict)

    def share(self, c: int, out_units: int) -> dict[int, float]:
        """Linear expression: the fraction of the layer's emitted tensor held on chip c."""
        if c not in self.n_out:
            return {}
        expr = {self.n_out[c]: 1.0 / out_units}
        if c in self.red:
            expr[self.red[c]] = 1.0
        return expr


class _Bilp:
    """The program of the module docstring, built step by step."""

    def __init__(self, graph: OpGraph, capacities: list[int], windows: dict[str, tuple[int, int]] | None) -> None:
        self.graph, self.capacities, self.K = graph, capacities, len(capacities)
        self.prog = Program()
        self.vars: dict[str, _LayerVars] = {}
        for ly in graph.layers:
            span = range(max(0, windows[ly.name][0]), min(self.K - 1, windows[ly.name][1]) + 1) if windows \
                else range(self.K)
            self.vars[ly.name] = self._layer(ly, span)
        self._chain_order()
        self._capacity()
        self._tensor_traffic()
        self._split_traffic()

    def _layer(self, ly: Layer, span: range) -> _LayerVars:
        """Variables of one layer and the rows that place all its units, in one mode, on a run of chips."""
        prog, K = self.prog, self.K
        can_in = "in" in ly.splits and ly.in_units > 0
        v = _LayerVars(span, prog.var() if can_in else None, prog.var(0, K - 1, integer=False),
                       prog.var(0, K - 1, integer=False))
        for c in span:
            v.n_out[c] = prog.var(0, ly.out_units)
            v.p_out[c] = prog.var(cost=TIE_BREAK_BYTES)
            if can_in:
                v.n_in[c] = prog.var(0, ly.in_units)
                v.p_in[c] = prog.var(cost=TIE_BREAK_BYTES)
                v.red[c] = prog.var()
        o = v.mode
        row = {v.n_out[c]: 1.0 for c in span}
        if o is None:
            prog.row(row, ly.out_units, ly.out_units)
        else:
            row[o] = -float(ly.out_units)
            prog.row(row, 0, 0)
            row = {v.n_in[c]: 1.0 for c in span}
            row[o] = float(ly.in_units)
            prog.row(row, ly.in_units, ly.in_units)
            row = {v.red[c]: 1.0 for c in span}
            row[o] = 1.0
            prog.row(row, 1, 1)
        for c in span:
            prog.row({v.n_out[c]: 1.0, v.p_out[c]: -float(ly.out_units)}, hi=0)
            prog.row({v.p_out[c]: 1.0, v.n_out[c]: -1.0}, hi=0)
            pieces = [v.p_out[c]]
            if o is not None:
                prog.row({v.n_in[c]: 1.0, v.p_in[c]: -float(ly.in_units)}, hi=0)
                prog.row({v.p_in[c]: 1.0, v.n_in[c]: -1.0}, hi=0)
                prog.row({v.red[c]: 1.0, v.p_in[c]: -1.0}, hi=0)
                # the reducer is the last chip of the layer
                row = {v.red[cc]: 1.0 for cc in span if cc < c}
                row[v.p_in[c]] = 1.0
                prog.row(row, hi=1)
                pieces.append(v.p_in[c])
            for pv in pieces:   # lo ≤ c ≤ hi where the layer has a piece
                prog.row({v.hi: 1.0, pv: -float(c)}, lo=0)
                prog.row({v.lo: 1.0, pv: float(K)}, hi=c + K)
        return v

    def _chain_order(self) -> None:
        """Layers occupy chips in topological order: a layer's last chip ≤ the next layer's first."""
        layers = self.graph.layers
        for a, b in zip(layers, layers[1:], strict=False):
            self.prog.row({self.vars[a.name].hi: 1.0, self.vars[b.name].lo: -1.0}, hi=0)

    def _capacity(self) -> None:
        graph = self.graph
        for c in range(self.K):
            row: dict[int, float] = {}
            for ly in graph.layers:
                v = self.vars[ly.name]
                if c not in v.n_out:
                    continue
                row[v.n_out[c]] = piece_bytes(graph, ly.name, "out", 0, ly.out_units, with_bias=False) / ly.out_units
                if c in v.n_in:
                    row[v.n_in[c]] = piece_bytes(graph, ly.name, "in", 0, ly.in_units, with_bias=False) / ly.in_units
                    row[v.red[c]] = float(ly.bias_bytes)
            self.prog.row(row, hi=self.capacities[c])

    def _tensor_traffic(self) -> None:
        """Bytes each chip of a consumer receives of every tensor between layers (host I/O excluded)."""
        prog, graph = self.prog, self.graph
        received: dict[tuple[str, int], int] = {}   # a tensor received whole on a chip serves all its consumers
        for e in graph.edges:
            if e.src == HOST or e.dst == HOST or e.src == e.dst:    # gathering a layer's own slices: not modelled
                continue
            dst, v = graph.layer(e.dst), self.vars[e.dst]
            src_units = graph.layer(e.src).out_units
            T = float(e.bytes)
            for d in v.span:
                share = self.vars[e.src].share(d, src_units)
                if (e.tensor, d) not in received:
                    received[e.tensor, d] = prog.var(0, T, integer=False, cost=1.0)
                recv = received[e.tensor, d]
                row = {recv: 1.0, v.p_out[d]: -T}
                for j, x in share.items():
                    row[j] = row.get(j, 0.0) + T * x
                prog.row(row, lo=0)
                if d in v.n_in:
                    recv_in = prog.var(0, T, integer=False, cost=1.0)
                    whole = prog.var()                     # the producer sits whole on chip d
                    credit = prog.var(0, T, integer=False)
                    row = {whole: 1.0}
                    for j, x in share.items():
                        row[j] = row.get(j, 0.0) - x
                    prog.row(row, hi=0)
                    prog.row({credit: 1.0, v.n_in[d]: -T / dst.in_units}, hi=0)
                    prog.row({credit: 1.0, whole: -T}, hi=0)
                    prog.row({recv_in: 1.0, v.n_in[d]: -T / dst.in_units, credit: 1.0}, lo=0)

    def _split_traffic(self) -> None:
        """An input split's (pieces − 1) int32 partial sums (an embedding's row split the same); a split LSTM's
        h exchange every step."""
        prog, K = self.prog, self.K
        for ly in self.graph.layers:
            v = self.vars[ly.name]
            if v.mode is not None:       # Σ p_in − (1 − o) partial sums in the in mode
                ps = float(ly.out_numel * self.graph.partial_sum_bytes)
                psv = prog.var(0, ps * K, integer=False, cost=1.0)
                row = {psv: 1.0, v.mode: -ps}
                for c in v.span:
                    row[v.p_in[c]] = -ps
                prog.row(row, lo=-ps)
            if ly.kind == "embedding":    # rows split: each chip's rows sent to the last; priced here as one
                # share (the lookups' bytes / 2, two even pieces) per chip beyond the first: linear, and exact
                # for two pieces; the plan counts the true shares
                rows = float(ly.out_numel * self.graph.partial_sum_bytes) / 2
                rv = prog.var(0, rows * K, integer=False, cost=1.0)
                row = {rv: 1.0}
                for c in v.span:
                    row[v.p_out[c]] = -rows
                prog.row(row, lo=-rows)
            if ly.recurrent:
                hx = float(ly.exchange_bytes(2))               # per chip beyond the first
                hv = prog.var(0, hx * K, integer=False, cost=1.0)
                row = {hv: 1.0}
                for c in v.span:
                    row[v.p_out[c]] = -hx
                prog.row(row, lo=-hx)

    def encode(self, mapping: Mapping) -> dict[int, float] | None:
        """The placement variables of ``mapping`` (a starting point HiGHS completes), or None where the
        program cannot express it (more chips, a layer outside its window, chips out of topological order)."""
        if mapping.n_chips > self.K:
            return None
        start: dict[int, float] = {}
        last_hi = 0
        for ly in self.graph.layers:
            v, pieces = self.vars[ly.name], mapping.pieces_of(ly.name)
            chips = [c for c, _ in pieces]
            if not pieces or any(c not in v.span for c in chips) or min(chips) < last_hi:
                return None
            in_mode = pieces[0][1].split == Split.IN
            if in_mode and v.mode is None:
                return None
            if v.mode is not None:
                start[v.mode] = 0.0 if in_mode else 1.0
            units = {c: (p.stop - p.start) if p.split is not None else (ly.in_units if in_mode else ly.out_units)
                     for c, p in pieces}
            for c in v.span:
                n = units.get(c, 0)
                start[v.n_out[c]], start[v.p_out[c]] = (0.0, 0.0) if in_mode else (float(n), float(n > 0))
                if v.mode is not None:
                    start[v.n_in[c]], start[v.p_in[c]] = (float(n), float(n > 0)) if in_mode else (0.0, 0.0)
                    start[v.red[c]] = float(in_mode and c == chips[-1])
            start[v.lo], start[v.hi] = float(min(chips)), float(max(chips))
            last_hi = max(chips)
        return start

    def decode(self, x: np.ndarray) -> list[list[Piece]]:
        """Per chip, the pieces the solution places there (a layer on one chip is whole)."""
        graph, K = self.graph, self.K
        chips: list[list[Piece]] = [[] for _ in range(K)]
        for ly in graph.layers:
            v = self.vars[ly.name]
            out_mode = v.mode is None or x[v.mode] == 1
            split_units = ly.out_units if out_mode else ly.in_units
            counts = [int(x[v.n_out[c]] if out_mode else x[v.n_in[c]]) if c in v.span else 0 for c in range(K)]
            used = [c for c in range(K) if counts[c] > 0]
            if len(used) == 1:
                chips[used[0]].append(Piece(ly.name, None, 0, ly.out_units, ly.weight_bytes))
                continue
            split = Split.OUT if out_mode else Split.IN
            start = 0
            for c in used:
                stop = start + counts[c]
                b = piece_bytes(graph, ly.name, split, start, stop, with_bias=(stop == split_units))
                chips[c].append(Piece(ly.name, split, start, stop, b))
                start = stop
        return chips


def solve_bilp(graph: OpGraph, capacities: list[int], *, time_limit_s: float = 60.0,
               windows: dict[str, tuple[int, int]] | None = None, start: Mapping | None = None) -> Mapping:
    """Minimum inter-chip bytes over at most ``len(capacities)`` chips (empty chips are allowed).

    ``windows`` restricts each layer to chips [lo, hi]; the program is then exact only within them.
    ``start`` (e.g. the chain program's or first-fit's mapping) is HiGHS's first incumbent: the answer is
    never worse than it, whenever the time limit stops the search.
    """
    started = time.perf_counter()
    K = len(capacities)
    program = _Bilp(graph, capacities, windows)
    begin = program.encode(start) if start is not None else None
    res = program.prog.solve(max(0.1, time_limit_s - (time.perf_counter() - started)), begin)
    if res.x is None:
        if res.infeasible:
            sizes = f"{capacities[0]} B" if len(set(capacities)) == 1 else f"{capacities} B"
            raise CapacityError(f"no mapping fits {K} chips of {sizes}: {graph.weight_bytes} B of weights (use more "
                                f"chips or a larger capacity)")
        if start is not None:
            return _kept(start, graph, started, res, "HiGHS found nothing better within its time limit")
        return _greedy_fallback(graph, capacities, f"HiGHS returned no mapping ({res.message})", started)
    chips = program.decode(np.round(res.x).astype(np.int64))
    kept = [c for c in range(K) if chips[c]]
    bound = res.dual_bound
    if bound is not None:       # bytes only: take off the most the tie-break can have added
        pieces = sum(1 for c in program.prog.cost if c == TIE_BREAK_BYTES)
        bound = max(0.0, float(bound) - TIE_BREAK_BYTES * pieces)
    found = Mapping([chips[c] for c in kept], [capacities[c] for c in kept], "bilp", optimal=res.optimal,
                    gap=res.gap, solve_s=time.perf_counter() - started, lower_bound=bound,
                    method="bilp (HiGHS" + (", warm-started)" if begin is not None else ")"))
    if start is not None and inter_chip_bytes(graph, start) < inter_chip_bytes(graph, found):
        # the program's bytes bound the plan's from above: a start it could not improve on may still be better
        return _kept(start, graph, started, res, "the exact program's best was no better")
    return found


def _kept(start: Mapping, graph: OpGraph, started: float, res, why: str) -> Mapping:
    """The starting mapping, returned as the program's answer with the program's bound."""
    kept = Mapping([list(p) for p in start.chips], list(start.capacity_bytes), "bilp", optimal=False,
                   solve_s=time.perf_counter() - started, method=f"{start.method} ({why})")
    if res.dual_bound is not None:
        kept.lower_bound = max(0.0, float(res.dual_bound))
        b = inter_chip_bytes(graph, kept)
        kept.gap = (b - kept.lower_bound) / b if b > 0 else 0.0
    return kept
