"""Integer-only C for each chip of an exported system: the paper's test chips ran C on their MSP430s.

Usage::

    from illusion_torch.deploy import export
    export(system, "mnist-export", c=True)        # or: illusion export --model mnist --chips 8 --out DIR --c
    # make -C mnist-export/c && python mnist-export/run_c.py --inputs x.npy --out logits.npy

``export(..., c=True)`` adds ``c/`` to the folder: ``chip.h`` (the integer kernels), ``chip_NNNN.c`` (one
program per chip: its wakes in order, each a function that reads its messages, computes and writes its
results), ``programs.json`` (each wake's inputs and outputs: sizes, widths, fractional bits) and a Makefile
(``gcc -O2 -mgeneral-regs-only``: the compiler itself refuses any float arithmetic on x86-64). ``run_c.py``
(numpy only) starts one process per chip, each reading its memory image file, and walks the manifest's steps,
passing every message to its chip's pipe as the wire's integer codes and counting their bytes.

Each value is int32 codes whose fractional bits the generator tracks from the rounding points, the
weights' formats and the partial sums' (``runtime.precision.sum_formats``); sums are int64. The arithmetic is
the models' own, exactly: a product of codes is exact, rounding is to nearest with ties to even and a clamp
(``fixed.quantize``), and the float reference is proven exact (``runtime.precision``), so the two agree bit for
bit. An op the generator does not know is refused with one line naming it.
"""

from __future__ import annotations

import json
import math
import operator
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import fx, nn

from ..errors import IllusionError
from ..fixed import FixedPoint
from ..fixed.layers import QuantPoint
from ..partitioning.slices import BiasAdd, LstmSlice
from ..partitioning.trace import HOST

__all__ = ["write_c"]

HERE = Path(__file__).parent


@dataclass
class _Value:
    """A node's value in the arena: offset, shape (no batch), fractional bits; or a tuple of them."""

    offset: int
    shape: tuple[int, ...]
    fl: int
    kind: str = "fixed"                 # fixed | int | bool | tuple
    parts: list[_Value] = field(default_factory=list)
    bound: float = 0.0                  # the largest |code| it can hold (proven from formats and weights)
    owned: bool = True                  # False: a part of a tuple, kept until the wake ends

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class _Arena:
    """Offsets in the chip's value arena: a value's block is freed after its last use (first fit)."""

    def __init__(self) -> None:
        self.free: list[tuple[int, int]] = []
        self.top = 0
        self.peak = 0

    def take(self, n: int) -> int:
        n = max(n, 1)
        for i, (off, size) in enumerate(self.free):
            if size >= n:
                self.free[i] = (off + n, size - n)
                if size == n:
                    del self.free[i]
                return off
        off = self.top
        self.top += n
        self.peak = max(self.peak, self.top)
        return off

    def give(self, off: int, n: int) -> None:
        self.free.append((off, max(n, 1)))
        self.free.sort()
        merged: list[tuple[int, int]] = []
        for o, s in self.free:
            if merged and merged[-1][0] + merged[-1][1] == o:
                merged[-1] = (merged[-1][0], merged[-1][1] + s)
            else:
                merged.append((o, s))
        if merged and merged[-1][0] + merged[-1][1] == self.top:
            self.top = merged.pop()[0]
        self.free = merged


def _ints(values) -> str:
    return "(const int32_t[]){" + ", ".join(str(int(v)) for v in values) + "}"


class _Wake:
    """One wake's C function: its statements and the arena blocks of its values."""

    def __init__(self, index: int, gm: fx.GraphModule, args: list, specs: list[dict], region_of: dict,
                 arena: _Arena, chip: int) -> None:
        self.index, self.gm, self.arena, self.chip = index, gm, arena, chip
        self.region_of = region_of
        self.modules = dict(gm.named_modules())
        self.lines: list[str] = []
        self.inputs: list[dict] = []
        self.outputs: list[dict] = []
        self.env: dict[str, _Value] = {}
        self.examples = _run_recording(gm, args)
        self.last_use = {}
        for n in gm.graph.nodes:
            for a in n.all_input_nodes:
                self.last_use[a.name] = n.name
        self.specs = specs

    # -- values ----------------------------------------------------------------------------------------
    def new(self, node: fx.Node, shape, fl: int, bound: float, kind: str = "fixed") -> _Value:
        if bound >= 2.0 ** 31:
            raise IllusionError(f"wake {self.index}: {node.name}: its codes may reach {bound:.3g}, beyond int32")
        v = _Value(self.arena.take(math.prod(shape)), tuple(int(d) for d in shape), fl, kind, bound=bound)
        self.env[node.name] = v
        return v

    def in_place(self, node: fx.Node, shape, fl: int, bound: float, kind: str = "fixed") -> _Value:
        """A new value for an elementwise op: in its input's block when the input dies here, else a new block."""
        src = node.args[0]
        x = self.env.get(src.name) if isinstance(src, fx.Node) else None
        if x is None or not x.owned or self.last_use.get(src.name) != node.name or x.numel != math.prod(shape):
            return self.new(node, shape, fl, bound, kind)
        if bound >= 2.0 ** 31:
            raise IllusionError(f"wake {self.index}: {node.name}: its codes may reach {bound:.3g}, beyond int32")
        x.owned = False                                 # the block passes to the result
        v = _Value(x.offset, tuple(int(d) for d in shape), fl, kind, bound=bound)
        self.env[node.name] = v
        return v

    def ref(self, v: _Value) -> str:
        return f"arena + {v.offset}"

    def release(self, node: fx.Node) -> None:
        """Free the blocks of the values whose last use is ``node``."""
        for a in node.all_input_nodes:
            v = self.env.get(a.name)
            if self.last_use.get(a.name) == node.name and v is not None and v.owned and v.kind != "tuple":
                self.arena.give(v.offset, v.numel)

    def weight(self, t: torch.Tensor) -> tuple[int, int, int]:
        """(address, bytes per value, fractional bits) of a weight in the chip's image."""
        if id(t) not in self.region_of:
            raise IllusionError(f"wake {self.index}: a weight is in no chip's image")
        c, r = self.region_of[id(t)]
        if c != self.chip:
            raise IllusionError(f"wake {self.index}: reads a weight held by chip {c}")
        return int(r.address), int(r.bytes_per_value), int(r.fmt.fl)

    # -- the walk --------------------------------------------------------------------------------------
    def build(self) -> None:
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        leaves = iter(self.specs)
        first = True
        for n in placeholders:
            example = self.examples[n.name]
            parts = list(example) if isinstance(example, tuple) else [example]
            made = []
            for part in parts:
                spec = next(leaves)
                v = _Value(self.arena.take(part[0].numel()), tuple(part.shape[1:]), spec["fl"], spec["kind"],
                           bound=spec["bound"], owned=False)
                read = f"read_codes({self.ref(v)}, {v.numel}, {spec['width']}, {int(first)})"
                self.lines.append(f"if (!{read}) return 0;" if first else f"{read};")
                first = False
                self.inputs.append({"numel": v.numel, "width": spec["width"], "fl": spec["fl"],
                                    "input": bool(spec.get("input"))})
                made.append(v)
            self.env[n.name] = made[0] if not isinstance(example, tuple) else _Value(0, (), 0, "tuple", made,
                                                                                       owned=False)
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                continue
            if n.op == "output":
                self.output(n)
                continue
            self.node(n)
            self.release(n)

    def output(self, n: fx.Node) -> None:
        leaves = _flatten(n.args[0])
        for a in leaves:
            v = self.env[a.name]
            for b in _blocks(v):
                self.lines.append(f"write_codes({self.ref(b)}, {b.numel});")
                self.outputs.append({"numel": b.numel, "shape": list(b.shape), "fl": b.fl, "kind": b.kind,
                                     "bound": b.bound})
        self.lines.append("fflush(stdout);")

    def node(self, n: fx.Node) -> None:
        ex = self.examples[n.name]
        m = self.modules.get(str(n.target)) if n.op == "call_module" else None
        shape = tuple(ex.shape[1:]) if isinstance(ex, torch.Tensor) else None
        ins = [self.env.get(a.name) if isinstance(a, fx.Node) else a for a in n.args]
        if isinstance(m, QuantPoint):
            x = ins[0]
            lo, hi = m.format.code_min, m.format.code_max
            y = self.in_place(n, shape, m.format.fl, 2.0 ** (m.format.wl - 1))
            self.lines.append(f"requant({self.ref(y)}, {self.ref(x)}, {y.numel}, {x.fl - m.format.fl}, {lo}, {hi});")
        elif type(m) is nn.Conv2d:
            self.conv(n, m, ins[0], shape)
        elif type(m) is nn.Linear:
            self.linear(n, m, ins[0], shape)
        elif isinstance(m, BiasAdd):
            x = ins[0]
            addr, width, bfl = self.weight(m.bias)
            fl = max(x.fl, bfl)
            dim = m.dim % (len(x.shape) + 1) - 1
            outer, inner = math.prod(x.shape[:dim]), math.prod(x.shape[dim + 1:])
            b = float(m.bias.detach().double().abs().max()) * 2.0 ** fl
            y = self.new(n, shape, fl, x.bound * 2.0 ** (fl - x.fl) + b)
            self.lines.append(f"bias_add({self.ref(y)}, {self.ref(x)}, {outer}, {x.shape[dim]}, {inner}, {addr}, "
                              f"{width}, {fl - x.fl}, {fl - bfl});")
        elif isinstance(m, LstmSlice):
            self.lstm(n, m, ins)
        elif isinstance(m, nn.MaxPool2d) or (n.op == "call_function" and n.target is torch.nn.functional.max_pool2d):
            self.maxpool(n, m, ins[0], shape)
        elif isinstance(m, nn.ReLU) or (n.op in ("call_function", "call_method") and
                                        n.target in (torch.relu, torch.nn.functional.relu, "relu")):
            x = ins[0]
            y = self.in_place(n, shape, x.fl, x.bound, x.kind)
            self.lines.append(f"relu({self.ref(y)}, {self.ref(x)}, {y.numel});")
        elif n.op == "call_function" and n.target is operator.getitem and isinstance(ins[0], _Value) \
                and ins[0].kind == "tuple":
            self.env[n.name] = ins[0].parts[n.args[1]]          # kept until the wake ends (not owned)
        elif n.op == "call_function" and n.target in (operator.add, torch.add):
            a, b = ins[:2]
            if not (isinstance(a, _Value) and isinstance(b, _Value) and a.shape == b.shape == shape):
                raise IllusionError(f"wake {self.index}: {n.name} adds values of different shapes; "
                                    f"the C generator adds equal shapes only")
            fl = max(a.fl, b.fl)
            y = self.new(n, shape, fl, a.bound * 2.0 ** (fl - a.fl) + b.bound * 2.0 ** (fl - b.fl))
            self.lines.append(f"add({self.ref(y)}, {self.ref(a)}, {fl - a.fl}, {self.ref(b)}, {fl - b.fl}, "
                              f"{y.numel});")
        elif n.op == "call_function" and n.target is torch.cat:
            self.cat(n, shape)
        elif (n.op == "call_method" and n.target == "argmax") or (n.op == "call_function" and n.target is torch.argmax):
            x = ins[0]
            dim = n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else None)
            if dim is None or dim % (len(x.shape) + 1) != len(x.shape):
                raise IllusionError(f"wake {self.index}: {n.name}: argmax over the last dimension only")
            y = self.new(n, shape, 0, x.shape[-1], "int")
            self.lines.append(f"argmax_rows({self.ref(y)}, {self.ref(x)}, {y.numel}, {x.shape[-1]});")
        elif n.op == "call_function" and n.target is operator.eq and isinstance(n.args[1], int):
            x = ins[0]
            y = self.new(n, shape, 0, 1, "bool")
            self.lines.append(f"eq_scalar({self.ref(y)}, {self.ref(x)}, {y.numel}, {n.args[1]});")
        elif n.op == "call_function" and n.target is torch.where and len(n.args) == 3:
            self.where(n, ins, shape)
        elif n.op == "call_function" and n.target is torch.zeros_like:
            y = self.new(n, shape, ins[0].fl, 0, ins[0].kind)
            self.lines.append(f"fill({self.ref(y)}, {y.numel}, 0);")
        elif self.is_view(n):
            self.view(n, ins[0], ex)
        else:
            raise IllusionError(f"wake {self.index}: {n.name} ({n.target}) has no integer C kernel yet")

    def is_view(self, n: fx.Node) -> bool:
        views = {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, operator.getitem, torch.narrow}
        methods = {"view", "reshape", "flatten", "expand", "squeeze", "unsqueeze", "contiguous", "narrow"}
        m = self.modules.get(str(n.target)) if n.op == "call_module" else None
        return isinstance(m, nn.Flatten) or (n.op == "call_function" and n.target in views) or \
            (n.op == "call_method" and n.target in methods)

    def view(self, n: fx.Node, x: _Value, ex: torch.Tensor) -> None:
        """A reshaping or indexing op: replayed on the indices of ``x`` to find where each element comes from."""
        index = torch.arange(x.numel, dtype=torch.int64).reshape(1, *x.shape)
        node_args = fx.node.map_arg(n.args, lambda a: index if a is n.args[0] else self.examples[a.name])
        kwargs = fx.node.map_arg(n.kwargs, lambda a: self.examples[a.name])
        if n.op == "call_module":
            got = self.modules[str(n.target)](*node_args, **kwargs)
        elif n.op == "call_method":
            got = getattr(node_args[0], n.target)(*node_args[1:], **kwargs)
        else:
            got = n.target(*node_args, **kwargs)
        if tuple(got.shape[1:]) != tuple(ex.shape[1:]):
            raise IllusionError(f"wake {self.index}: {n.name}: a view whose shape depends on the batch")
        got = got[0]
        y = self.new(n, tuple(got.shape), x.fl, x.bound, x.kind)
        sizes = list(got.shape) or [1]
        strides = list(got.stride()) or [1]
        dstrides = list(torch.empty(sizes).stride())
        self.lines.append(f"copy_strided({self.ref(y)}, 0, {_ints(dstrides)}, {self.ref(x)}, {got.storage_offset()}, "
                          f"{_ints(strides)}, {_ints(sizes)}, {len(sizes)}, 0);")

    def conv(self, n, m: nn.Conv2d, x: _Value, shape) -> None:
        if m.padding_mode != "zeros" or isinstance(m.padding, str):
            raise IllusionError(f"wake {self.index}: {n.name}: only zero padding given as numbers")
        waddr, ww, wfl = self.weight(m.weight)
        baddr, bw, bfl = self.weight(m.bias) if m.bias is not None else (0, 0, 0)
        fl = max(wfl + x.fl, bfl) if m.bias is not None else wfl + x.fl
        y = self.new(n, shape, fl, _sum_bound(m.weight, m.bias, x, wfl, fl))
        c, h, w = x.shape
        kh, kw = m.kernel_size
        self.lines.append(
            f"conv2d({self.ref(y)}, {self.ref(x)}, {c}, {h}, {w}, {m.out_channels}, {kh}, {kw}, {m.stride[0]}, "
            f"{m.stride[1]}, {m.padding[0]}, {m.padding[1]}, {m.dilation[0]}, {m.dilation[1]}, {m.groups}, "
            f"{shape[1]}, {shape[2]}, {waddr}, {ww}, {baddr}, {bw}, {fl - wfl - x.fl}, {fl - bfl});")

    def linear(self, n, m: nn.Linear, x: _Value, shape) -> None:
        if len(x.shape) != 1:
            raise IllusionError(f"wake {self.index}: {n.name}: a Linear on a (batch, features) input only")
        waddr, ww, wfl = self.weight(m.weight)
        baddr, bw, bfl = self.weight(m.bias) if m.bias is not None else (0, 0, 0)
        fl = max(wfl + x.fl, bfl) if m.bias is not None else wfl + x.fl
        y = self.new(n, shape, fl, _sum_bound(m.weight, m.bias, x, wfl, fl))
        self.lines.append(f"linear({self.ref(y)}, {self.ref(x)}, {m.in_features}, {m.out_features}, {waddr}, {ww}, "
                          f"{baddr}, {bw}, {fl - wfl - x.fl}, {fl - bfl});")

    def maxpool(self, n, m, x: _Value, shape) -> None:
        k, s, p = (m.kernel_size, m.stride, m.padding) if m is not None else (n.args[1], n.args[2], n.args[3])
        if m is not None and (m.dilation not in (1, (1, 1)) or m.ceil_mode):
            raise IllusionError(f"wake {self.index}: {n.name}: max pooling without dilation or ceil mode only")
        k, s, p = _pair(k), _pair(s if s else k), _pair(p)
        y = self.new(n, shape, x.fl, x.bound, x.kind)
        c, h, w = x.shape
        self.lines.append(f"maxpool2d({self.ref(y)}, {self.ref(x)}, {c}, {h}, {w}, {k[0]}, {k[1]}, {s[0]}, {s[1]}, "
                          f"{p[0]}, {p[1]}, {shape[1]}, {shape[2]});")

    def cat(self, n: fx.Node, shape) -> None:
        parts = [self.env[a.name] for a in n.args[0]]
        dim = n.kwargs.get("dim", n.args[1] if len(n.args) > 1 else 0)
        dim = dim % (len(shape) + 1) - 1                        # without the batch
        fl = max(p.fl for p in parts)
        y = self.new(n, shape, fl, max(p.bound * 2.0 ** (fl - p.fl) for p in parts), parts[0].kind)
        whole = torch.empty(shape)
        at = 0
        for p in parts:
            box = whole.narrow(dim, at, p.shape[dim])
            sizes = list(p.shape)
            self.lines.append(f"copy_strided({self.ref(y)}, {at * whole.stride()[dim]}, {_ints(box.stride())}, "
                              f"{self.ref(p)}, 0, {_ints(torch.empty(sizes).stride())}, {_ints(sizes)}, "
                              f"{len(sizes)}, {fl - p.fl});")
            at += p.shape[dim]

    def where(self, n: fx.Node, ins: list, shape) -> None:
        full = []
        for a in ins:                                   # each operand broadcast to the result's shape
            index = torch.arange(a.numel).reshape(a.shape).expand(shape)
            t = _Value(self.arena.take(math.prod(shape)), tuple(shape), a.fl, a.kind)
            self.lines.append(f"copy_strided({self.ref(t)}, 0, {_ints(torch.empty(shape).stride())}, {self.ref(a)}, "
                              f"0, {_ints(index.stride())}, {_ints(shape)}, {len(shape)}, 0);")
            full.append(t)
        c, a, b = full
        fl = max(a.fl, b.fl)
        y = self.new(n, shape, fl, max(a.bound * 2.0 ** (fl - a.fl), b.bound * 2.0 ** (fl - b.fl)))
        self.lines.append(f"where3({self.ref(y)}, {self.ref(c)}, {self.ref(a)}, {fl - a.fl}, {self.ref(b)}, "
                          f"{fl - b.fl}, {y.numel});")
        for t in full:
            self.arena.give(t.offset, t.numel)

    def lstm(self, n: fx.Node, m: LstmSlice, ins: list) -> None:
        x, h, c = ins
        fio, fpre = m.io.fl, m.pre.fl
        for name, v in (("x", x), ("h", h), ("c", c)):
            if v.fl != fio or len(v.shape) != 1:
                raise IllusionError(f"wake {self.index}: {n.name}: its {name} is not one step of io-format codes")
        wih, ww, wfl = self.weight(m.weight_ih)
        whh, ww2, wfl2 = self.weight(m.weight_hh)
        baddr, bw, bfl = self.weight(m.bias)
        if (ww, wfl) != (ww2, wfl2):
            raise IllusionError(f"wake {self.index}: {n.name}: its two weight matrices have different formats")
        units = m.weight_ih.shape[0] // 4
        ho = _Value(self.arena.take(units), (units,), fio, bound=2.0 ** (m.io.wl - 1), owned=False)
        co = _Value(self.arena.take(units), (units,), fio, bound=2.0 ** (m.io.wl - 1), owned=False)
        self.env[n.name] = _Value(0, (), 0, "tuple", [ho, co], owned=False)
        (lo, hi), (plo, phi) = (m.io.code_min, m.io.code_max), (m.pre.code_min, m.pre.code_max)
        self.lines.append(f"lstm_slice({self.ref(ho)}, {self.ref(co)}, {self.ref(x)}, {self.ref(h)}, {self.ref(c)}, "
                          f"{x.shape[0]}, {h.shape[0]}, {units}, {wih}, {whh}, {ww}, {baddr}, {bw}, {wfl}, {bfl}, "
                          f"{fio}, {lo}, {hi}, {fpre}, {plo}, {phi});")


def _sum_bound(weight: torch.Tensor, bias, x: _Value, wfl: int, fl: int) -> float:
    """The largest |code| of a layer's sums at ``fl`` bits: max over outputs of Σ|w|·max|x| + |b|."""
    w = weight.detach().double().abs().flatten(1).sum(1) * 2.0 ** wfl * x.bound * 2.0 ** (fl - wfl - x.fl)
    b = bias.detach().double().abs() * 2.0 ** fl if bias is not None else torch.zeros_like(w)
    return float((w + b).max())


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _blocks(v: _Value) -> list[_Value]:
    return [b for p in v.parts for b in _blocks(p)] if v.kind == "tuple" else [v]


def _flatten(a) -> list[fx.Node]:
    if isinstance(a, (tuple, list)):
        return [x for p in a for x in _flatten(p)]
    return [a]


def _run_recording(gm: fx.GraphModule, args: list) -> dict:
    """Every node's value on one input (the shapes and the check that sums fit int32)."""
    seen: dict = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            seen[n.name] = out
            return out

    with torch.no_grad():
        Recorder(gm).run(*args)
    return seen


def _leaf_specs(step: dict, manifest: dict, input_name: str, input_format: FixedPoint | None, args: list,
                made: dict) -> list[dict]:
    """Each flat input of a wake: how its codes come (bytes each, fractional bits, kind, largest |code|) — as the
    wire carries it between chips, as the host rounds the model input, or (a value that stays on its chip) as
    the wake that made it wrote it (``made``)."""
    values = manifest["values"]
    specs = []
    for name, arg in zip(step["reads"], args, strict=True):
        parts = list(arg) if isinstance(arg, tuple) else [arg]
        keys = [f"{name}[{k}]" for k in range(len(parts))] if isinstance(arg, tuple) else [name]
        for k, (key, part) in enumerate(zip(keys, parts, strict=True)):
            v = values.get(key)
            kind = "bool" if part.dtype == torch.bool else "int" if not part.is_floating_point() else "fixed"
            own = made.get(name)
            own = own[k] if isinstance(own, list) else own
            if v is not None and (v["fl"] is not None or kind != "fixed"):
                specs.append({"value": key, "width": v["bits"] // 8, "fl": v["fl"] or 0, "kind": kind,
                              "bound": 2.0 ** (v.get("holds_bits", v["bits"]) - 1)})
            elif key == input_name and input_format is not None:
                specs.append({"value": key, "width": -(-input_format.wl // 8), "fl": input_format.fl, "kind": kind,
                              "input": True, "bound": 2.0 ** (input_format.wl - 1)})
            elif isinstance(own, dict):
                specs.append({"value": key, "width": 4, "fl": own["fl"], "kind": own["kind"], "bound": own["bound"]})
            else:
                raise IllusionError(f"wake {step['index']}: its input {key} has no integer format; the C programs "
                                    f"need fixed-point values")
    return specs


def _nest(structure, flat: list):
    """Flat outputs in a wake's nesting (``run.py``'s ``_nested``, as lists)."""
    return [_nest(s, flat) for s in structure] if isinstance(structure, list) else flat[structure]


def input_format(gm: fx.GraphModule) -> FixedPoint | None:
    """The format every consumer of the model's input rounds it to (the host sends those codes), or None."""
    modules = dict(gm.named_modules())
    x = next(n for n in gm.graph.nodes if n.op == "placeholder")
    formats = {modules[str(u.target)].format if u.op == "call_module" and isinstance(modules.get(str(u.target)),
                                                                                      QuantPoint) else None
               for u in x.users}
    return formats.pop() if len(formats) == 1 else None


def write_c(system, folder: Path, manifest: dict, args_of: dict, region_of: dict, progress: bool = False) -> dict:
    """Write ``folder/c`` (see the module) for the exported ``manifest``; returns its ``programs.json``."""
    programs = system.chips
    fmt = input_format(programs.expanded)
    input_name = next(s["name"] for s in manifest["steps"] if s["op"] == "input")
    top_nodes = {n.name: n for n in programs.top.graph.nodes}
    out = folder / "c"
    out.mkdir(exist_ok=True)
    sources: dict[int, list[str]] = {}
    arenas: dict[int, _Arena] = {}
    table = {"format": "illusion_torch C chip programs", "input_format": None if fmt is None else [fmt.wl, fmt.fl],
             "wakes": {}, "chips": {}}
    made: dict = {}                                     # a value's codes as its wake wrote them
    for step in manifest["steps"]:
        if step["op"] == "item" and isinstance(made.get(step["source"]), list):
            made[step["name"]] = made[step["source"]][step["index"]]
        if step["op"] != "wake":
            continue
        chip, gm = programs.wakes[step["index"]]
        args = [a[:1] if isinstance(a, torch.Tensor) else tuple(t[:1] for t in a)
                for a in args_of[str(top_nodes[step["name"]].target)]]
        if chip == HOST:
            if not _host_rounds_input(gm, fmt):
                raise IllusionError(f"wake {step['index']} runs on the host and is not only the input's rounding; "
                                    f"the C programs run chips only")
            table["wakes"][str(step["index"])] = {"host": True}
            continue
        specs = _leaf_specs(step, manifest, input_name, fmt, args, made)
        arena = arenas.setdefault(chip, _Arena())
        wake = _Wake(step["index"], gm, args, specs, region_of, arena, int(chip))
        wake.build()
        arena.free, arena.top = [], 0
        body = "\n    ".join(wake.lines)
        sources.setdefault(int(chip), []).append(
            f"static int wake_{step['index']}(void) {{\n    {body}\n    return 1;\n}}\n")
        table["wakes"][str(step["index"])] = {"chip": int(chip), "inputs": wake.inputs, "outputs": wake.outputs}
        made[step["name"]] = _nest(step["structure"], wake.outputs)
    for c, funcs in sources.items():
        order = [int(k) for k, w in table["wakes"].items() if w.get("chip") == c]
        image = manifest["chips"][c]
        ends = ["return 0"] + ['fail("its input ended inside an inference")'] * (len(order) - 1)
        loop = "\n        ".join(f"if (!wake_{w}()) {end};" for w, end in zip(order, ends, strict=True))
        text = (f"/* Chip {c} of {manifest['model']}: its {len(order)} wakes, in order, once per inference "
                f"(generated by illusion export). */\n#define CHIP {c}\n#define IMAGE_BYTES {image['image_bytes']}\n"
                f"#define ARENA_VALUES {arenas[c].peak}\n#include \"chip.h\"\n\n" + "\n".join(funcs) +
                "\nint main(int argc, char **argv) {\n    if (argc != 2) fail(\"usage: chip IMAGE_FILE\");\n"
                "    load_image(argv[1]);\n    for (;;) {\n        " + loop + "\n    }\n}\n")
        (out / f"chip_{c:04d}.c").write_text(text)
        table["chips"][str(c)] = {"program": f"c/chip_{c:04d}", "wakes": order, "arena_values": arenas[c].peak}
    shutil.copyfile(HERE / "chip.h", out / "chip.h")
    chips = " ".join(f"chip_{c:04d}" for c in sorted(sources))
    (out / "Makefile").write_text(
        "# Builds one program per chip: integer-only (-mgeneral-regs-only refuses float code on x86-64).\n"
        "CC ?= gcc\nCFLAGS ?= -O2 -std=c11 -Wall -Wextra -Werror -mgeneral-regs-only\n"
        f"CHIPS = {chips}\n\nall: $(CHIPS)\n\n"
        "chip_%.o: chip_%.c chip.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n\n"
        "chip_%: chip_%.o\n\t$(CC) -o $@ $<\n\n"
        "clean:\n\trm -f $(CHIPS) $(CHIPS:=.o)\n\n.PHONY: all clean\n.SECONDARY:\n")
    (out / "programs.json").write_text(json.dumps(table, indent=1) + "\n")
    shutil.copyfile(HERE / "run_c.py", folder / "run_c.py")
    return table


def _host_rounds_input(gm: fx.GraphModule, fmt: FixedPoint | None) -> bool:
    """The host's wake is the model input's rounding to ``fmt`` and nothing else (the runner does it)."""
    modules = dict(gm.named_modules())
    ops = [n for n in gm.graph.nodes if n.op not in ("placeholder", "output")]
    return fmt is not None and len(ops) == 1 and isinstance(modules.get(str(ops[0].target)), QuantPoint) \
        and modules[str(ops[0].target)].format == fmt
