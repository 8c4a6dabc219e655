"""Which float type computes a system's chip programs exactly: float32 where it is proven, else float64.

Usage::

    from illusion_torch.runtime.precision import exact_dtype
    dtype, reason = exact_dtype(system.chips, system.graph.config.weight_format)   # float32 for MNIST

Chips compute on fixed-point values, so every product and sum is a multiple of the layer's least
significant bit 2^-(fl_weights + fl_input). float32 holds such sums exactly while their magnitude stays
below 2^24 LSBs (in any summation order), and rounding to a fixed-point format (``fixed.quantize``: add
0.5, subtract 0.5, round) stays exact below 2^23 LSBs. For every weighted layer (all of its slices and its
bias together) we bound |sum| ≤ max over outputs of Σ|w|·max|x| + |b|, with max|x| from the format of the
rounding point that produced the input; float32 is used only when every layer's bound is below 2^23 LSBs
and every other node is one whose float32 result is exact (ReLU, max pooling, rounding, hard sigmoid/tanh,
slicing, concatenation, adds of fixed-point values, argmax). A residual add of a layer's unrounded sums
and another value (a rounded value, or a second layer's sums: ResNet's ``conv2(x) + shortcut(x)``) is one
sum too: its bound is the bounds of what it adds and its step the finest of their steps. Anything else —
average pooling, an unrounded model input, a float model — computes in float64, which is exact for
fixed-point models with sums below 2^53 LSBs (the reference model runs in float64 too).
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict

import torch
from torch import fx, nn

from ..fixed import FixedPoint, grid_fl
from ..fixed.layers import QLSTM, QuantPoint
from ..partitioning.ops import op_of
from ..partitioning.slices import BiasAdd, GroupSlice, LstmSlice
from ..partitioning.wakes import ChipPrograms

__all__ = ["exact_dtype", "layer_bounds", "format_of", "sum_formats", "LIMIT"]

LIMIT = 2.0 ** 23


def format_of(node: fx.Node | None, modules: dict[str, nn.Module],
              memo: dict[str, FixedPoint | None] | None = None) -> FixedPoint | None:
    """The fixed-point format of ``node``'s value, when it is known (else None)."""
    if memo is None:
        memo = {}
    if not isinstance(node, fx.Node):
        return None
    if node.name in memo:
        return memo[node.name]
    memo[node.name] = None
    m = modules.get(str(node.target)) if node.op == "call_module" else None
    fmt = None
    if isinstance(m, QuantPoint):
        fmt = m.format
    elif node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], fx.Node) \
            and isinstance(modules.get(str(node.args[0].target)), LstmSlice):
        fmt = modules[str(node.args[0].target)].io
    elif node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], fx.Node) \
            and isinstance(modules.get(str(node.args[0].target)), QLSTM):
        fmt = modules[str(node.args[0].target)].q_h.format
    elif isinstance(m, QLSTM):
        fmt = m.q_h.format
    elif op_of(node, modules).keeps_format:
        fmts = {format_of(a, modules, memo) for a in node.all_input_nodes}
        fmt = fmts.pop() if len(fmts) == 1 else None
    memo[node.name] = fmt
    return fmt


def exact_dtype(programs: ChipPrograms, weight_format: FixedPoint | None, *,
                per_tensor: bool = False) -> tuple[torch.dtype, str]:
    """(dtype, reason): float32 when the bound above proves every sum exact in it, else float64.
    ``per_tensor``: each weight has its own fractional bits (``fixed.grid_fl``), the format gives the word."""
    if weight_format is None:
        return torch.float64, "a float model (no weight format)"
    problems, ratios = layer_bounds(programs, weight_format, per_tensor=per_tensor)
    if problems:
        return torch.float64, next(iter(problems.values()))
    worst = max(((r, k) for k, r in ratios.items()), default=(0.0, ""))
    if worst[0] >= LIMIT:
        return torch.float64, f"layer {worst[1]} may reach {worst[0]:.3g} LSBs (float32 is exact below 2^23)"
    return torch.float32, f"every sum stays below {worst[0]:.3g} LSBs (< 2^23): float32 is exact"


def layer_bounds(programs: ChipPrograms, weight_format: FixedPoint, *,
                 per_tensor: bool = False) -> tuple[dict[str, str], dict[str, float]]:
    """({expanded node float32 cannot be proven exact for, whatever the sums: why}, in graph order; per weighted
    layer of the model — the expanded nodes' ``orig`` — and per residual add, the bound on its sums in LSBs, for
    those whose inputs have a known format): ``exact_dtype``'s evidence."""
    problems, ratios, _, _ = _bounds(programs, weight_format, per_tensor)
    return problems, ratios


def sum_formats(programs: ChipPrograms, weight_format: FixedPoint, names: list[str], *,
                per_tensor: bool = False) -> dict[str, FixedPoint]:
    """For each expanded node in ``names`` whose value is unrounded sums (a layer's, a residual add's, or a
    pass-through of them) with a known bound: the format that holds it exactly — fractional bits of its finest
    step, and the fewest bits (sign included) its bound needs. These values travel as integer codes of that step.

        sum_formats(system.chips, FixedPoint(8, 6), ["getitem_1"])    # {'getitem_1': FixedPoint(27, 14)}
    """
    _, _, total, lsb = _bounds(programs, weight_format, per_tensor)
    modules = dict(programs.expanded.named_modules())
    nodes = {n.name: n for n in programs.expanded.graph.nodes}
    memo: dict = {}
    out = {}
    for name in names:
        terms = _terms(nodes[name], modules, memo, {}) if name in nodes else None
        if not terms or not all(isinstance(t, FixedPoint) or t in total for t in terms):
            continue
        size = sum(c * (2.0 ** (t.wl - 1 - t.fl) if isinstance(t, FixedPoint) else total[t]) for t, c in terms.items())
        fl = max(t.fl if isinstance(t, FixedPoint) else -round(math.log2(lsb[t])) for t in terms)
        wl = math.floor(math.log2(max(size * 2.0 ** fl, 1.0))) + 2       # 2^(wl-1) > the largest |code|
        if wl <= 64:
            out[name] = FixedPoint(wl, fl)
    return out


def _bounds(programs: ChipPrograms, weight_format: FixedPoint, per_tensor: bool):
    """(problems, ratios, each layer's bound on |sum|, each layer's step): ``layer_bounds`` and ``sum_formats``."""
    problems: dict[str, str] = {}
    wfmt = weight_format
    gm = programs.expanded
    modules = dict(gm.named_modules())
    memo: dict[str, FixedPoint | None] = {}
    bound: dict[str, list[float]] = defaultdict(list)   # per layer of the model: |sum| bound of each slice
    partial: set[str] = set()                           # layers split by inputs: their slices' sums add up
    lsb: dict[str, float] = {}
    seen: set[str] = set()
    residual: dict[str, dict] = {}                      # per cross-layer add: {layer or format: how often}

    def layer(node, weight: torch.Tensor, bias: torch.Tensor | None, x_fmt: FixedPoint | None) -> str | None:
        if x_fmt is None:
            return f"{node.name}: its input has no known fixed-point format"
        key = node.meta.get("orig", node.name)
        w = weight.detach().double().abs().flatten(1).sum(1)
        b = bias.detach().double().abs() if bias is not None else torch.zeros_like(w)
        if str(node.target) not in seen:         # an LSTM slice is called every step: count it once
            bound[key].append(float((w * 2.0 ** (x_fmt.wl - 1 - x_fmt.fl) + b).max()))
            seen.add(str(node.target))
        step = 2.0 ** -((grid_fl(weight, wfmt.wl) if per_tensor else wfmt.fl) + x_fmt.fl)
        if per_tensor and bias is not None:         # a bias on a finer grid than the products sets the step
            step = min(step, 2.0 ** -grid_fl(bias, wfmt.wl))
        lsb[key] = min(lsb.get(key, 1.0), step)
        return None

    for n in gm.graph.nodes:
        if n.op in ("placeholder", "output", "get_attr"):
            continue
        m = modules.get(str(n.target)) if n.op == "call_module" else None
        problem = None
        if isinstance(m, (nn.Conv2d, nn.Linear, GroupSlice)):
            problem = layer(n, m.weight, m.bias, format_of(n.args[0], modules, memo))
        elif isinstance(m, LstmSlice):
            xf = format_of(n.args[0], modules, memo)
            hf = format_of(n.args[1], modules, memo)
            io = m.io
            if n.args[1].op == "call_method":           # step 0: zeros expanded to h's shape
                hf = io
            problem = layer(n, torch.cat([m.weight_ih, m.weight_hh], 1), m.bias, xf if xf == hf == io else None)
        elif isinstance(m, QLSTM):
            problem = layer(n, torch.cat([m.weight_ih, m.weight_hh], 1), m.bias, m.q_x.format)
        elif isinstance(m, BiasAdd):
            key = n.meta.get("orig", n.name)
            bound[key].append(float(m.bias.detach().double().abs().max()))
            partial.add(key)
        elif n.op == "call_function" and n.target in (operator.add, torch.add):
            a, b = n.all_input_nodes[:2] if len(n.all_input_nodes) >= 2 else (None, None)
            same_layer = a is not None and a.meta.get("orig") == b.meta.get("orig") == n.meta.get("orig")
            if same_layer:
                partial.add(n.meta["orig"])
            elif not (format_of(a, modules, memo) and format_of(b, modules, memo)):
                terms = _terms(n, modules, memo, {})
                if terms is None:
                    problem = f"{n.name}: an add of values without a known fixed-point format"
                else:
                    residual[n.name] = terms
        elif op_of(n, modules).exact_f32:
            pass
        else:
            problem = f"{n.name} ({n.target}) is not proven exact in float32"
        if problem:
            problems[n.name] = problem
    total = {k: sum(v) if k in partial else max(v) for k, v in bound.items() if k in lsb}
    ratios = {k: total[k] / lsb[k] for k in total}
    for name, terms in residual.items():
        if all(isinstance(t, FixedPoint) or t in total for t in terms):
            size = sum(c * (2.0 ** (t.wl - 1 - t.fl) if isinstance(t, FixedPoint) else total[t])
                       for t, c in terms.items())
            step = min(2.0 ** -t.fl if isinstance(t, FixedPoint) else lsb[t] for t in terms)
            ratios[name] = size / step
        else:
            problems[name] = f"{name}: an add of values without a known fixed-point format"
    return problems, ratios, total, lsb


def _terms(node: fx.Node, modules: dict[str, nn.Module], memo: dict, done: dict) -> dict | None:
    """What ``node``'s value sums, as {model layer (its unrounded sums) or FixedPoint (a rounded value): how many
    times}, through pass-throughs (ReLU, slicing, concatenation: the most of each input) and adds (the sum of
    both); None where a term is neither."""
    if node.name in done:
        return done[node.name]
    done[node.name] = None
    fmt = format_of(node, modules, memo)
    m = modules.get(str(node.target)) if node.op == "call_module" else None
    out: dict | None = None
    if fmt is not None:
        out = {fmt: 1}
    elif isinstance(m, (nn.Conv2d, nn.Linear, GroupSlice, BiasAdd)):
        out = {node.meta.get("orig", node.name): 1}
    elif node.op == "call_function" and node.target in (operator.add, torch.add) and len(node.all_input_nodes) == 2:
        a, b = (_terms(x, modules, memo, done) for x in node.all_input_nodes)
        if a is not None and b is not None:
            if a.keys() == b.keys() == {node.meta.get("orig")} and len(a) == 1:
                out = a                                 # slices of one layer: its bound already sums them
            else:
                out = {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
    elif op_of(node, modules).keeps_format and node.all_input_nodes:
        parts = [_terms(x, modules, memo, done) for x in node.all_input_nodes]
        if all(p is not None for p in parts):
            out = {}
            for p in parts:
                for k, c in p.items():
                    out[k] = max(out.get(k, 0), c)
    done[node.name] = out
    return out
