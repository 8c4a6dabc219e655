"""Map an OpGraph onto chips of small memory: which layer (or slice of one) lives on which chip.

Usage::

    from illusion_torch.partitioning import trace, solve, sweep_chips, inter_chip_bytes
    g = trace(model, x[:1])
    m = solve(g, "512B", chips=8)                  # BILP (HiGHS): minimum inter-chip bytes
    m = solve(g, "4KiB")                           # the fewest chips that fit
    m = solve(g, "4KiB", max_chips=10)             # more chips where that lowers traffic
    m = solve(g, "1MiB", solver="first-fit")       # the paper's greedy simulator rule
    m = solve(g, "4KiB", chips=8, solver="paper")  # the paper's hand mapping (its test-chip systems only)
    m = solve(g, "1MiB", solver=my_mapper)         # your own: my_mapper(graph, capacities) -> Mapping
    m = solve(g, "4KiB", max_chips=16, objective=cost)   # the least cost(graph, mapping), e.g. energy
    inter_chip_bytes(g, m), m.optimal, m.gap, m.solve_s
    sweep_chips(g, "4KiB", range(8, 13))           # chips vs bytes: the trade-off to choose from

Capacity counts weights (the RRAM), as in the paper: one size for all chips or one per chip, in human units
("512B", "4KiB", "1MiB") or bytes. A mapper of your own gets the graph and the capacities of the chips it
may use (one per chip: ``chips`` or ``max_chips`` of them, else just one size) and returns a ``Mapping``;
``solve`` checks that it places every layer within those chips.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ..errors import CapacityError, IllusionError
from ..units import parse_bytes
from .bilp import solve_bilp
from .bounds import forced_split_bound, lower_bound
from .chain_dp import OutOfTime, chain_dp
from .greedy import first_fit, sequential
from .paper_mappings import paper_mapping
from .plan import Mapping, activation_bytes, inter_chip_bytes, piece_bytes, unplaced
from .tied import store_once
from .trace import LayerKind, OpGraph

__all__ = ["solve", "sweep_chips", "min_chips", "SOLVERS", "Mapper", "Objective", "forced_split_bound"]

Mapper = Callable[[OpGraph, list[int]], Mapping]
Objective = Callable[[OpGraph, Mapping], float]
SOLVERS = ("bilp", "first-fit", "sequential", "paper")

EXACT_LIMIT = 1200          # layers × chips above which the chain dynamic program (heuristic) runs instead


def _heuristic(graph: OpGraph, caps: list[int], deadline: float) -> Mapping | None:
    """The best of first-fit and the chain program (4 labels, then 32 while time is left before ``deadline``)
    within ``len(caps)`` chips of one size, or None."""
    found = []
    try:
        greedy = first_fit(graph, caps[0])
        if greedy.n_chips <= len(caps):
            found.append(greedy)
    except IllusionError:           # the paper's split rule picked a split whose one unit exceeds a chip
        pass
    for keep in (4, 32):
        try:
            found.append(chain_dp(graph, caps[0], len(caps), keep=keep, deadline=deadline))
        except OutOfTime:
            break
        except IllusionError:
            continue
    return min(found, key=lambda m: inter_chip_bytes(graph, m)) if found else None


def _bilp(graph: OpGraph, caps: list[int], time_limit_s: float) -> Mapping:
    """The exact program, started from the chain program's or first-fit's mapping (whichever is better), so a
    feasible answer never worse than either comes back within the time limit; for graphs too large for the
    exact program, that heuristic mapping with the forced-split lower bound."""
    started = time.perf_counter()
    same = len(set(caps)) == 1
    exact = len(graph.layers) * len(caps) <= EXACT_LIMIT or not same
    # the heuristic gets half the time when the exact program follows, all of it otherwise
    start = _heuristic(graph, caps, started + time_limit_s * (0.5 if exact else 1.0)) if same else None
    if exact:
        left = max(0.5, time_limit_s - (time.perf_counter() - started))
        result = _checked(graph, solve_bilp(graph, caps, time_limit_s=left, start=start), min(caps))
        result.solve_s = time.perf_counter() - started
        if same and not result.optimal and result.lower_bound is not None:
            result.lower_bound = max(result.lower_bound, lower_bound(graph, caps[0]))
            result.gap = _gap(graph, result)
        return result
    if start is None:
        raise IllusionError(f"neither the chain program nor first-fit fits {len(caps)} chips of {caps[0]} B; use "
                            f"more chips or a larger capacity")
    start = improve(graph, caps[0], start, started + time_limit_s)
    start.lower_bound = lower_bound(graph, caps[0])
    start.optimal = False
    start.solver = "bilp"
    start.method += f"; graph too large for the exact program ({len(graph.layers)} layers × {len(caps)} chips)"
    start.solve_s = time.perf_counter() - started
    return start


WINDOW_CHIPS = 8            # consecutive chips one exact re-solve of the improvement search takes
WINDOW_S = 3.0              # seconds at most per re-solve
STALL = 4                   # re-solves in a row that improve nothing: the search has stalled


def improve(graph: OpGraph, capacity: int, mapping: Mapping, deadline: float) -> Mapping:
    """Large-neighbourhood search: re-solve windows of ``WINDOW_CHIPS`` consecutive chips exactly (the BILP
    with every layer outside the window kept within the chips it spans, each one inside free over the window
    and its own chips), sliding by half a window; a re-solve starts from the current mapping, so the bytes
    never grow. Anytime: it stops at ``deadline`` with the best so far, after ``STALL`` re-solves in a row
    that improved nothing, or after a pass that improved nothing."""
    best, k = inter_chip_bytes(graph, mapping), mapping.n_chips
    if k < 3 or time.perf_counter() > deadline - 1.0:
        return mapping
    tried = improved = since = 0
    while True:
        gained = False
        for a in range(0, k - 1, max(1, WINDOW_CHIPS // 2)):
            left = deadline - time.perf_counter()
            if left < 1.0 or since >= STALL:
                return _note(mapping, tried, improved)
            b = min(k - 1, a + WINDOW_CHIPS - 1)
            windows = {}
            for ly in graph.layers:
                chips = [c for c, _ in mapping.pieces_of(ly.name)]
                lo, hi = min(chips), max(chips)
                windows[ly.name] = (lo, hi) if hi < a or lo > b else (min(lo, a), max(hi, b))
            try:
                found = solve_bilp(graph, [capacity] * k, time_limit_s=min(WINDOW_S, left), windows=windows,
                                   start=mapping)
            except IllusionError:
                continue
            tried, since = tried + 1, since + 1
            now = inter_chip_bytes(graph, found)
            if now < best:
                found.method = mapping.method
                best, mapping, gained = now, found, True
                improved, since = improved + 1, 0
        if not gained:
            return _note(mapping, tried, improved)


def _note(mapping: Mapping, tried: int, improved: int) -> Mapping:
    if tried and "window re-solves" not in mapping.method:
        mapping.method += f"; {improved} of {tried} window re-solves improved it"
    return mapping


def _gap(graph: OpGraph, m: Mapping) -> float | None:
    b = inter_chip_bytes(graph, m)
    return None if m.lower_bound is None else ((b - m.lower_bound) / b if b > 0 else 0.0)


def _checked(graph: OpGraph, m: Mapping, capacity: int) -> Mapping:
    """The program prices some messages above the plan's count (an embedding split into more than two pieces:
    ``bilp._split_traffic``), so its bound, and its proof, hold for the plan only where they do not exceed the
    plan's bytes of its own answer and no embedding can split into more than two pieces; elsewhere the bound is
    ``bounds.lower_bound`` and nothing is proven."""
    over = any(ly.kind == LayerKind.EMBEDDING and ly.weight_bytes > 2 * capacity for ly in graph.layers)
    if m.lower_bound is not None and (over or m.lower_bound > inter_chip_bytes(graph, m) + 1e-6):
        m.lower_bound, m.optimal = lower_bound(graph, capacity), False
        m.gap = _gap(graph, m)
        m.method += "; the program's bound does not hold for the plan's bytes here (it over-prices some messages): " \
                    "the bound is ours"
    return m


def _capacities(capacity: str | int | list, chips: int | None) -> list[int]:
    if isinstance(capacity, (list, tuple)):
        caps = [parse_bytes(c) for c in capacity]
        if chips is not None and len(caps) != chips:
            raise IllusionError(f"{len(caps)} capacities given for {chips} chips; give one, or one per chip")
        return caps
    return [parse_bytes(capacity)]


def _check_pieces_fit(graph: OpGraph, largest: int) -> None:
    """Every layer's smallest piece must fit the largest chip; else one message naming the layers that do not
    and the capacity that fits them all (the largest of the smallest pieces)."""
    smallest = {ly.name: min(piece_bytes(graph, ly.name, s, 0, 1, with_bias=True) for s in ly.splits)
                for ly in graph.layers}
    too_big = [name for name, b in smallest.items() if b > largest]
    if too_big:
        need = max(smallest.values())
        worst = max(too_big, key=lambda name: smallest[name])
        how = "cannot be split and" if smallest[worst] == graph.layer(worst).weight_bytes else \
            "has a smallest slice that"
        others = f" ({len(too_big) - 1} more layers do not fit either)" if len(too_big) > 1 else ""
        raise CapacityError(f"layer {worst} {how} needs {smallest[worst]} B, more than the chip capacity of "
                            f"{largest} B{others}: use chips of at least {need} B")


def min_chips(graph: OpGraph, capacity_bytes: int) -> int:
    """A lower bound on the chips needed: total weight bytes over the capacity."""
    return max(1, math.ceil(graph.weight_bytes / capacity_bytes))


def solve(graph: OpGraph, capacity: str | int | list, *, chips: int | None = None, max_chips: int | None = None,
          solver: str | Mapper = "bilp", time_limit_s: float = 60.0,
          activation_cap: str | int | None = None, weights_only: bool | None = None,
          objective: Objective | None = None) -> Mapping:
    """A mapping of ``graph`` onto chips of ``capacity``; see the module docstring for the options.

    ``weights_only`` (default: the workload's ``config.weights_only``, set for the paper-* networks) fills
    chips counting weights as the paper's scale-up simulator does (``OpGraph.weights_only``): no biases, norm
    statistics or constants.

    ``objective`` (optional, with the default solver): a cost function ``(graph, mapping) -> float`` — the
    energy or time of one inference on a chip preset (``illusion_torch.objectives``) — to choose by instead of
    bytes between chips: the bytes mapping competes with first-fit and the chain program at chip counts from
    the fewest that fit up to the limit, and the cheapest wins (``_cheapest``; the bytes mapping gets 70 % of
    the time limit, the rest prices the others).

    ``activation_cap`` (optional) bounds each chip's activation buffer (``activation_bytes``); a mapping that
    needs more is refused with the chip and its bytes.
    """
    if graph.config.weights_only if weights_only is None else weights_only:
        graph = graph.weights_only()
    started = time.perf_counter()
    share = 0.7 if objective is not None and solver == "bilp" else 1.0     # the rest: pricing other mappings
    result = store_once(graph, _solve(graph, capacity, chips=chips, max_chips=max_chips, solver=solver,
                                      time_limit_s=time_limit_s * share))
    if objective is not None and solver == "bilp":
        result = _cheapest(objective, graph, result, _capacities(capacity, chips), chips or max_chips,
                           started + time_limit_s)
    if activation_cap is not None:
        cap = parse_bytes(activation_cap)
        for c, b in enumerate(activation_bytes(graph, result)):
            if b > cap:
                raise IllusionError(f"chip {c} of the {result.method} mapping needs {b} B of activation buffer, more "
                                 f"than the cap of {cap} B: raise the cap or use more chips")
    return result


def _cheapest(objective: Objective, graph: OpGraph, found: Mapping, caps: list[int], limit: int | None,
              deadline: float) -> Mapping:
    """The mapping of least ``objective`` among ``found`` (the bytes mapping), first-fit and the chain program at
    chip counts k from the fewest that fit to ``limit`` (``found``'s count when there is no limit) — on the full
    capacity and on an even share (1.05 × weights / k), which spreads the model over k chips; one capacity for
    all chips. Candidates stop at ``deadline`` once two are priced; ties keep the earlier (``found``)."""
    candidates = [found]
    if len(set(caps)) == 1:
        cap = caps[0]
        top = limit or found.n_chips
        low = min(top, min_chips(graph, cap))
        counts = sorted({low, top, found.n_chips, *(round(low * (top / low) ** (i / 4)) for i in range(1, 4))})
        try:
            ff = first_fit(graph, cap)
            if ff.n_chips <= top:
                candidates.append(store_once(graph, ff))
        except IllusionError:
            pass
        for k in counts:            # at k chips: the chain program on chips filled to an even share
            if time.perf_counter() > deadline and len(candidates) >= 2:
                break
            share = min(cap, math.ceil(graph.weight_bytes * 1.05 / k))
            for c in {cap, share}:
                try:
                    candidates.append(store_once(graph, chain_dp(graph, c, k, keep=4, deadline=deadline)))
                except IllusionError:   # too few chips at this count or share, or out of time
                    continue
    seen: set = set()
    priced: list[tuple[float, int, Mapping]] = []
    for i, m in enumerate(candidates):
        key = tuple(tuple(pieces) for pieces in m.chips)
        if key in seen or (i >= 2 and time.perf_counter() > deadline):
            continue
        seen.add(key)
        value = objective(graph, m)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise IllusionError(f"the objective {getattr(objective, '__name__', objective)!r} returned {value!r} for "
                                f"a mapping; it must return a finite number (lower is better)")
        priced.append((float(value), i, m))
    least = min(v for v, _, _ in priced)        # within 1e-9 of it is a tie (float noise): the earlier wins
    value, _, best = next(t for t in priced if t[0] <= least + 1e-9 * abs(least))
    name = getattr(objective, "__name__", "objective")
    if best is not found:
        best.lower_bound, best.optimal, best.gap, best.solver = found.lower_bound, False, None, found.solver
    best.method += f"; least {name} ({value:.4g}) of {len(priced)} mappings (bytes mapping: {priced[0][0]:.4g})"
    return best


def _check_options(solver: str | Mapper, chips: int | None, max_chips: int | None, time_limit_s: float) -> None:
    if not callable(solver) and solver not in SOLVERS:
        raise IllusionError(f"unknown solver {solver!r}; use one of {', '.join(SOLVERS)} or pass a mapper function")
    for label, value in (("chips", chips), ("max_chips", max_chips)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise IllusionError(f"{label} must be a positive whole number, got {value!r}")
    if chips is not None and max_chips is not None:
        raise IllusionError("give chips (exactly this many) or max_chips (up to this many), not both")
    if not isinstance(time_limit_s, (int, float)) or not math.isfinite(time_limit_s) or time_limit_s <= 0:
        raise IllusionError(f"the time limit must be a positive number of seconds, got {time_limit_s}")


def _own_mapper(mapper: Mapper, graph: OpGraph, caps: list[int]) -> Mapping:
    """Run a user's mapper and check what it returns: a Mapping that places every layer within ``caps``."""
    result = mapper(graph, list(caps))
    if not isinstance(result, Mapping):
        raise IllusionError(f"the mapper {getattr(mapper, '__name__', mapper)!r} returned "
                            f"{type(result).__name__}, not a Mapping")
    if len(caps) > 1 and result.n_chips > len(caps):
        raise IllusionError(f"the mapper used {result.n_chips} chips, more than the {len(caps)} allowed")
    for c, used in enumerate(result.chip_weight_bytes()):
        cap = caps[c] if len(caps) > 1 else caps[0]
        if used > cap:
            raise IllusionError(f"the mapper put {used} B of weights on chip {c}, more than its {cap} B")
    missing = unplaced(graph, result)
    if missing:
        raise IllusionError(f"the mapper places no piece of {', '.join(missing)}")
    return result


def _solve(graph: OpGraph, capacity: str | int | list, *, chips: int | None, max_chips: int | None,
           solver: str | Mapper, time_limit_s: float) -> Mapping:
    _check_options(solver, chips, max_chips, time_limit_s)
    caps = _capacities(capacity, chips)
    _check_pieces_fit(graph, max(caps))
    per_chip = len(caps) > 1
    if per_chip:
        chips = len(caps)
    need = min_chips(graph, max(caps)) if not per_chip else None
    if chips is not None and need is not None and chips < need:
        raise CapacityError(f"too few chips: {graph.weight_bytes} B of weights need at least {need} chips of "
                            f"{caps[0]} B")

    if callable(solver):
        limit = chips or max_chips
        return _own_mapper(solver, graph, caps * limit if limit and not per_chip else caps)
    if solver == "paper":
        if per_chip:
            raise IllusionError("the paper's mappings use one capacity for all chips; give a single size")
        return paper_mapping(graph, caps[0], chips or max_chips)
    if solver in ("first-fit", "sequential"):
        if per_chip:
            raise IllusionError(f"{solver} assumes one capacity for all chips; give a single size")
        result = (first_fit if solver == "first-fit" else sequential)(graph, caps[0])
        limit = chips or max_chips
        if limit is not None and result.n_chips > limit:
            raise CapacityError(f"{solver} needs {result.n_chips} chips of {caps[0]} B, more than {limit}")
        return result

    if per_chip:
        return _bilp(graph, caps, time_limit_s)
    limit = chips or max_chips
    if limit is not None:
        return _bilp(graph, caps * limit, time_limit_s)
    assert need is not None             # one capacity for all chips: the lower bound is known
    # the fewest chips that fit: the chain program finds a feasible count fast (binary search); below it, the
    # exact program gets a short try each, since proving a count infeasible can take long
    started = time.perf_counter()
    try:
        hi = first_fit(graph, caps[0]).n_chips
    except IllusionError:   # the paper's split rule picked a split that cannot fit: search up to a generous count
        hi = 2 * need + len(graph.layers)
    lo = need
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            chain_dp(graph, caps[0], mid, keep=4, deadline=started + time_limit_s / 2)
            hi = mid
        except OutOfTime:                   # first-fit's count, or the fewest found so far, stands
            break
        except IllusionError:
            lo = mid + 1
    for k in range(need, hi):
        if len(graph.layers) * k > EXACT_LIMIT:      # too large for the exact program: the chain's count stands
            break
        try:
            return _checked(graph, solve_bilp(graph, caps * k, time_limit_s=min(5.0, time_limit_s)), caps[0])
        except IllusionError:
            continue
    return _bilp(graph, caps * hi, max(1.0, time_limit_s - (time.perf_counter() - started)))


def sweep_chips(graph: OpGraph, capacity: str | int, counts, *, time_limit_s: float = 60.0) -> list[dict]:
    """One BILP per chip count: [{chips, inter_chip_bytes, optimal, gap, solve_s}] — the trade-off table."""
    rows = []
    for k in counts:
        try:
            m = solve(graph, capacity, max_chips=k, time_limit_s=time_limit_s)
        except IllusionError as e:
            rows.append({"chips": k, "error": str(e)})
            continue
        rows.append({"chips": k, "chips_used": m.n_chips, "inter_chip_bytes": inter_chip_bytes(graph, m),
                     "optimal": m.optimal, "gap": m.gap, "solve_s": round(m.solve_s, 3)})
    return rows
