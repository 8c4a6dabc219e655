"""One rank's part of a distributed run: its chips' programs, loaded from their memory images, walked in
message order, with the values it lacks received and the values others need sent.

Usage (inside a launched rank; ``launch.py`` and ``__main__.py`` do this)::

    bundle = make_bundle(system, routes, rank)          # on the host: what rank ``rank`` needs, nothing more
    logits, route = Walker(bundle, link).run(batches)   # every rank walks the same steps

A bundle holds the rank's wakes (GraphModules), the stored tensors the top module hands them, its chips'
memory images (the weights the wakes compute with are read back from them), and the steps of the top
graph — names only, so a chip rank never holds another chip's weights. A gated model (D2NN): the rank
that computes the route sends it to every rank whose wakes run for one branch only; such a wake wakes for a
batch only when one of its inputs takes the branch (one input at a time: the chips of the branch not taken
never wake), and a rank that would receive from a wake that slept uses zeros (the gate's select discards them).
When the route's own wake also starts a branch, it runs first without the branch's inputs (zeros: the route
does not depend on them), sends the route on, and takes those inputs — and runs again — only when the route
takes their branch; their senders wait for the route, so they travel only then, as in the plan.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import torch
from torch import fx

from ..errors import IllusionError
from ..partitioning.partition import Partition
from ..partitioning.slices import EmbeddingRows
from ..partitioning.wakes import ChipPrograms
from ..runtime.memory import MemoryImage, Space
from .rank_map import RankMap
from .wire import Link

__all__ = ["Bundle", "make_bundle", "Walker", "Step", "probe_shapes", "shape_for", "variable"]


@dataclass
class Step:
    """One node of the top graph: ``kind`` input / wake / item / attr / output."""

    kind: str
    name: str
    wake: int = -1
    args: tuple = ()                    # ("v", value name) | ("c", constant name) | ("l", literal) per argument
    index: int = 0                      # item: which element of the wake's tuple
    source: str = ""                    # item: the wake node it reads


@dataclass
class Bundle:
    rank: int
    rank_map: RankMap
    steps: list[Step]
    dtype: torch.dtype
    wakes: dict[int, fx.GraphModule]
    constants: dict[str, torch.Tensor]
    images: list[MemoryImage]
    weights: list[tuple[int, str, str, str, int]]      # (wake, module in it, param, image region, image index)
    shapes: dict[str, Shape]             # per value: ``probe_shapes``
    branch_of_wake: dict[int, frozenset] = field(default_factory=dict)  # wakes that run for some routes only
    branch_of_value: dict[tuple[str, int], frozenset] = field(default_factory=dict)  # (value, dest): its branch
    route_value: str | None = None
    gated: bool = False
    late_inputs: frozenset = frozenset()   # inputs of the route's wake the route does not need (``late_inputs``)


def _steps(top: fx.GraphModule, rank_map: RankMap) -> list[Step]:
    out = []

    def ref(a: Any) -> tuple:
        if isinstance(a, fx.Node):
            return ("c", a.name) if a.op == "get_attr" else ("v", a.name)
        return ("l", a)

    for n in top.graph.nodes:
        if n.op == "placeholder":
            out.append(Step("input", n.name))
        elif n.op == "get_attr":
            out.append(Step("attr", n.name))
        elif n.op == "call_module":
            if n.kwargs:
                raise IllusionError(f"wake {n.target} takes keyword arguments; the distributed runtime passes "
                                    f"positional ones only")
            out.append(Step("wake", n.name, rank_map.wake_of_node[str(n.target)], tuple(ref(a) for a in n.args)))
        elif n.op == "call_function" and n.target is operator.getitem:
            out.append(Step("item", n.name, index=int(n.args[1]), source=n.args[0].name))
        elif n.op == "output":
            res = n.args[0]
            out.append(Step("output", n.name, args=tuple(ref(a) for a in res) if isinstance(res, (tuple, list))
                            else (ref(res),)))
        else:
            raise IllusionError(f"the top graph holds {n.op} {n.target}; the distributed runtime walks wakes, "
                                f"their tuple items and stored tensors only")
    return out


Shape = tuple   # (shape for 1 input, dims that scale with the inputs' count (None: with their content), dtype,
#                 per dim the power of the inputs' length it scales with — () for inputs of one length); a
#                 number (a size): ("scalar", its value for 1 input, for 2, its powers of the length)
Count = int | tuple[int, Fraction]      # a batch: how many inputs (and their length over the probes' length)


def probe_shapes(programs: ChipPrograms, x: torch.Tensor, free: tuple[int, ...] = ()) -> dict[str, Shape]:
    """Every top-graph value's shape and dtype, from in-process runs of 1 and 2 inputs (and, for a model
    whose inputs' length is free — ``free`` = (1,) — of 1 input of another length): its shape for one input,
    the dimensions that grow with the inputs (the batch, or heads × batch after a reshape) and the power of
    the length each dimension grows with (attention scores: L × L)."""
    runs: list[dict[str, tuple[tuple[int, ...], torch.dtype]]] = []

    class Probe(fx.Interpreter):
        def run_node(self, n: fx.Node) -> Any:
            value = super().run_node(n)
            out = runs[-1]
            if _scalar(value):
                scalars[-1][n.name] = value
            elif isinstance(value, torch.Tensor):
                out[n.name] = (tuple(value.shape), value.dtype)
            elif n.op != "output" and isinstance(value, (tuple, list)):
                for k, item in enumerate(value):                 # a tuple another wake reads items of
                    if isinstance(item, torch.Tensor):
                        out[f"{n.name}[{k}]"] = (tuple(item.shape), item.dtype)
            return value

    if free and (free != (1,) or x.dim() != 2):
        raise IllusionError(f"inputs free in dimensions {free}: the distributed runtime takes token sequences "
                            f"of any length (dimension 1 of a (batch, length) input) only")
    scalars: list[dict[str, Any]] = []
    x2 = x[:2] if len(x) >= 2 else torch.cat([x[:1], x[:1]])
    probes = [x2[:1], x2, x2[1:2]]
    if free:
        probes.append(_other_length(x2[:1]))
    for xs in probes:
        runs.append({})
        scalars.append({})
        with torch.no_grad():
            Probe(programs.top).run(xs.to(programs.dtype) if xs.is_floating_point() else xs)
    lengths = (x.shape[1], probes[-1].shape[1]) if free else None
    moved = [f"{k} (a number: {v} for one input, {scalars[2][k]} for another)" for k, v in scalars[0].items()
             if k in scalars[2] and scalars[2][k] != v]
    if moved:
        raise IllusionError(f"value {moved[0]} depends on the input's content; the distributed runtime sends "
                            f"tensors, not numbers that change per input — run this model in process")
    variable = {k for k, v in runs[0].items() if (k in runs[2] and runs[2][k] != v) or k in runs[1] and
                not _proportional(v[0], runs[1][k][0])} | _looked_up_rows(programs)
    shapes = {}
    for name, (one, dtype) in runs[0].items():
        two = runs[1][name][0]
        powers = () if lengths is None else _powers(one, runs[3].get(name, (None,))[0], *lengths)
        if powers is None:
            variable.add(name)                  # a size the length does not set by a power: sent ahead of it
        grows = None if name in variable else \
            tuple(d for d, (a, b) in enumerate(zip(one, two, strict=True)) if a != b)
        shapes[name] = (one, grows, dtype, powers or ())
    for name, one in scalars[0].items():                # sizes and the like: known from the inputs' count
        powers = () if lengths is None else _powers(one, scalars[3].get(name), *lengths)
        if powers is None:
            raise IllusionError(f"size {name} ({one} for {lengths[0]} tokens, {scalars[3].get(name)} for "
                                f"{lengths[1]}) is not a power of the inputs' length; the distributed runtime "
                                f"cannot know it — run this model in process")
        shapes[name] = ("scalar", one, scalars[1][name], powers)
    return shapes


def _other_length(x: torch.Tensor) -> torch.Tensor:
    """``x`` (one token sequence) at another length: its first tokens again after its last ones."""
    extra = max(1, x.shape[1] // 2)
    return torch.cat([x, x[:, :extra]], dim=1)


def _powers(one: Any, other: Any, length: int, other_length: int) -> Any:
    """Per size in ``one`` (a shape, a size or a tuple of sizes) the power of the length it scales with,
    from its value ``other`` at ``other_length``; None if some size is no fixed power of the length."""
    if isinstance(one, (tuple, list)):
        if not isinstance(other, (tuple, list)) or len(other) != len(one):
            return None
        out = tuple(_powers(a, b, length, other_length) for a, b in zip(one, other, strict=True))
        return None if any(p is None for p in out) else out
    if not isinstance(one, int) or isinstance(one, bool) or not isinstance(other, int):
        return 0 if one == other else None
    for power in range(4):
        if Fraction(one) * Fraction(other_length, length) ** power == other:
            return power
    return None


def _count(n: Count) -> tuple[int, Fraction]:
    return (n[0], n[1]) if isinstance(n, tuple) else (n, Fraction(1))


def _scaled(size: int, count: int, grows: bool, scale: Fraction, power: int) -> int:
    out = Fraction(size) * (count if grows else 1) * scale ** power
    if out.denominator != 1:
        raise IllusionError(f"a size of {size} at the probes' length is no whole size at this length")
    return int(out)


def _proportional(one: tuple[int, ...], two: tuple[int, ...]) -> bool:
    """Shapes for one and two inputs whose every dimension is the same or doubles."""
    return len(one) == len(two) and all(b in (a, 2 * a) for a, b in zip(one, two, strict=True))


def _looked_up_rows(programs: ChipPrograms) -> set[str]:
    """Top-graph values a wake makes with a split embedding's lookup (``EmbeddingRows``): the rows of the
    tokens that chip holds — how many depends on the tokens, whatever the probes happened to see."""
    out: set[str] = set()
    for n in programs.top.graph.nodes:
        if n.op != "call_module":
            continue
        wake = programs.top.get_submodule(str(n.target))
        result = wake.graph.output_node().args[0] if isinstance(wake, fx.GraphModule) else None
        items = result if isinstance(result, (tuple, list)) else [result]
        for k, item in enumerate(items):
            if isinstance(item, fx.Node) and item.op == "call_module" and \
                    isinstance(wake.get_submodule(str(item.target)), EmbeddingRows):
                if not isinstance(result, (tuple, list)):
                    out.add(n.name)
                    continue
                out.add(f"{n.name}[{k}]")
                out.update(u.name for u in n.users if u.op == "call_function" and u.target is operator.getitem
                           and u.args[1] == k)               # the item as the top graph names it
    return out


def _scalar(value: Any) -> bool:
    """A Python number, or a tuple of them (a size): metadata every rank can know, not a message."""
    if isinstance(value, (bool, int, float)):
        return True
    return isinstance(value, (tuple, list)) and len(value) > 0 and all(isinstance(v, (bool, int, float))
                                                                       for v in value)


def scalar_for(one: Any, two: Any, n: Count, powers: Any = 0) -> Any:
    """The scalar for a batch ``n``, from its values for 1 and 2 inputs (the same, or growing with the inputs)
    and the power of the inputs' length it grows with."""
    if isinstance(one, (tuple, list)):
        powers = powers or (0,) * len(one)
        return type(one)(scalar_for(a, b, n, p) for a, b, p in zip(one, two, powers, strict=True))
    count, scale = _count(n)
    if one == two:
        return _scaled(one, count, False, scale, powers or 0) if type(one) is int else one
    if two == 2 * one:
        return _scaled(one, count, True, scale, powers or 0)
    raise IllusionError(f"a size that is neither fixed nor proportional to the inputs ({one}, {two})")


def shape_for(shape: Shape, n: Count) -> tuple[int, ...]:
    """The value's shape for a batch ``n`` (a value whose shape depends on the input's content has none: its
    shape travels ahead of it, ``Link.send_shape``)."""
    one, grows, _, powers = shape
    if grows is None:
        raise IllusionError("a value whose shape depends on the input has no shape before it arrives")
    count, scale = _count(n)
    powers = powers or (0,) * len(one)
    return tuple(_scaled(size, count, d in grows, scale, powers[d]) for d, size in enumerate(one))


def variable(shape: Shape | None) -> bool:
    """Whether a value's shape depends on the input's content (it is sent after its shape)."""
    return shape is not None and not isinstance(shape[0], str) and shape[1] is None


def make_bundle(system: Partition, rank_map: RankMap, rank: int, images: list[MemoryImage], dtype: torch.dtype,
                probe: dict, branch_of_wake: dict[int, frozenset] | None = None,
                branch_of_value: dict | None = None, late_inputs: frozenset = frozenset()) -> Bundle:
    """What rank ``rank`` needs to run its chips (rank 0: the host's wakes); ``probe``: ``probe_shapes``."""
    programs = system.chips
    top = programs.top
    steps = _steps(top, rank_map)
    mine = rank_map.wakes_of(rank)
    wakes = {w: programs.wakes[w][1] for w in mine}
    constants = {}
    for s in steps:
        if s.kind == "wake" and s.wake in wakes:
            for kind, name in s.args:
                if kind == "c":
                    constants[name] = _attr(top, name).detach().clone()
        if s.kind == "output" and rank == 0:
            for kind, name in s.args:
                if kind == "c":
                    constants[name] = _attr(top, name).detach().clone()
    chips = [c for c in rank_map.chips_of(rank) if isinstance(c, int)]
    owner: dict[int, tuple[int, str]] = {}              # id(module) -> (wake, path in the wake)
    for w, gm in wakes.items():
        for path, m in gm.named_modules():
            owner.setdefault(id(m), (w, path))
    my_images = [images[c] for c in chips]
    attrs = {str(n.target): n.name for n in top.graph.nodes if n.op == "get_attr" and n.name in constants}
    weights = []
    for k, img in enumerate(my_images):
        for r in img.space(Space.NVM):
            if r.codes is None:
                continue
            m = programs.expanded.get_submodule(r.module)
            if id(m) in owner:
                w, path = owner[id(m)]
                weights.append((w, path, r.param, r.name, k))
            elif f"{r.module}.{r.param}" in attrs:          # a stored tensor the top module hands to a wake
                weights.append((-1, attrs[f"{r.module}.{r.param}"], "", r.name, k))
            else:
                raise IllusionError(f"chip {chips[k]}'s weight {r.module}.{r.param} is used by none of its wakes")
    shapes = {name: shape for name, shape in probe.items() if name.split("[")[0] in rank_map.values}
    route_value = None
    if programs.gated:
        out = next(s for s in steps if s.kind == "output")
        route_value = out.args[1][1]
    return Bundle(rank, rank_map, steps, dtype, wakes, constants, my_images, weights, shapes,
                  dict(branch_of_wake or {}), dict(branch_of_value or {}), route_value, programs.gated,
                  frozenset(late_inputs))


def _attr(top: fx.GraphModule, name: str) -> torch.Tensor:
    node = next(n for n in top.graph.nodes if n.name == name)
    obj: Any = top
    for part in str(node.target).split("."):
        obj = getattr(obj, part)
    return obj


class Walker:
    """Walks a bundle's steps for batch after batch (see the module)."""

    def __init__(self, bundle: Bundle, link: Link) -> None:
        self.b = bundle
        self.link = link
        self.rank = bundle.rank
        self.values = bundle.rank_map.values
        self.item_of = {s.name: (s.source, s.index) for s in bundle.steps if s.kind == "item"}
        self.route_dests = self._route_dests() if bundle.route_value is not None else set()
        self.deferred: list = []                        # sends waiting for the route (see ``_send``)
        self.sent_early: set[str] = set()               # the route, sent between its wake's two runs
        self.late = self._route_first_wakes()           # wake step -> its late arguments (``_route_first``)
        self._load()

    def _load(self) -> None:
        """Set every weight of this rank's wakes from its chip's memory image."""
        b = self.b
        with torch.no_grad():
            for w, path, param, region, k in b.weights:
                r = next(r for r in b.images[k].regions if r.name == region)
                p = b.constants[path] if w < 0 else getattr(b.wakes[w].get_submodule(path), param)
                r.load_into(p)
            for name, t in b.constants.items():
                if t.is_floating_point():
                    b.constants[name] = t.to(b.dtype)
            for gm in b.wakes.values():
                gm.to(b.dtype)                  # widening (or proven exact): computed once, not per batch

    def _taken(self, branches: frozenset, env: dict, n: int, index: int) -> bool:
        route = self._route(env, n, index)
        return bool(torch.isin(route, torch.tensor(sorted(branches), dtype=route.dtype)).any())

    def _awake(self, wake: int, route: torch.Tensor | None) -> bool:
        branches = self.b.branch_of_wake.get(wake)
        if branches is None or route is None:
            return True
        return bool(torch.isin(route, torch.tensor(sorted(branches), dtype=route.dtype)).any())

    def batch(self, x: torch.Tensor | None, n: int, index: int, stop_at: int | None = None,
              env: dict | None = None, start: int = 0) -> tuple[dict, int]:
        """Walk steps [start, stop_at) for one batch of ``n`` inputs (``x`` on the host); the environment and
        where it stopped."""
        b = self.b
        env = {} if env is None else env
        steps = b.steps
        end = len(steps) if stop_at is None else stop_at
        for i in range(start, end):
            s = steps[i]
            if s.kind == "input":
                if self.rank == 0 and x is not None:
                    env[s.name] = x
                    self._send(self.values[s.name], x, index, env, n)
            elif s.kind == "attr":
                if s.name in b.constants:
                    env[s.name] = b.constants[s.name]
            elif s.kind == "wake":
                v = self.values.get(s.name)
                if b.rank_map.rank_of_wake[s.wake] != self.rank:
                    continue
                route = self._route(env, n, index) if s.wake in b.branch_of_wake else None
                if not self._awake(s.wake, route):
                    env[s.name] = None
                    continue
                if s.name in self.late:
                    out = self._route_first(s, env, n, index)
                else:
                    args = [self._get(env, a, n, index) for a in s.args]
                    with torch.no_grad():
                        out = b.wakes[s.wake](*args)    # its generated code: a rank compiles only its own wakes
                env[s.name] = out
                if v is not None:
                    self._send(v, out, index, env, n)
            elif s.kind == "item":
                v = self.values[s.name]
                if v.rank != self.rank:
                    continue
                if s.name not in env or s.name in self.sent_early:
                    whole = env.get(s.source)
                    env[s.name] = None if whole is None else whole[s.index]
                if env[s.name] is not None and s.name not in self.sent_early:
                    self._send(v, env[s.name], index, env, n)
            elif s.kind == "output":
                if self.rank == 0:
                    env[s.name] = tuple(self._get(env, a, n, index) for a in s.args)
        if end == len(steps):
            deferred, self.deferred = self.deferred, []
            for v, out, d in deferred:
                self._send_to(v, out, d, index, env, n)
            self.sent_early = set()
        return env, end

    def _route_first(self, s: Step, env: dict, n: int, index: int) -> Any:
        """The route's wake when it also starts a branch: run it with zeros for the inputs the route does not
        need (``Bundle.late_inputs``), send the route on, then — only if the route takes their branch —
        receive them and run it again (the route is the same: it does not depend on them)."""
        b = self.b
        late = self.late[s.name]
        args = [self._zeros(b.shapes[a[1]], n) if a in late else self._get(env, a, n, index) for a in s.args]
        with torch.no_grad():
            out = b.wakes[s.wake](*args)
        name = b.route_value
        assert name is not None
        _, item = self.item_of[name]
        env[name] = out[item]
        self._send(self.values[name], env[name], index, env, n)
        self.sent_early.add(name)
        if not any(self._taken(b.branch_of_value[(a[1], self.rank)], env, n, index) for a in late):
            return out                                   # no input of the branch it starts comes: discarded
        args = [self._get(env, a, n, index) for a in s.args]
        with torch.no_grad():
            out = b.wakes[s.wake](*args)
        return out

    def _route_first_wakes(self) -> dict[str, list[tuple]]:
        """This rank's wake step that makes the route, if it takes arguments that come only for some routes
        and that the route does not need (``Bundle.late_inputs``): step name -> those arguments."""
        b, name = self.b, self.b.route_value
        if name is None or name not in self.item_of:
            return {}
        out = {}
        for s in b.steps:
            if s.kind == "wake" and s.wake == self.values[name].wake and b.rank_map.rank_of_wake[s.wake] == self.rank:
                late = [a for a in s.args if a[0] == "v" and a[1] in b.late_inputs
                        and (a[1], self.rank) in b.branch_of_value]
                if late:
                    out[s.name] = late
        return out

    def _shape(self, shape: Shape, frm: int, tag: int, n: int) -> tuple[int, ...]:
        """The shape of the value about to arrive: known from the inputs' count, or sent ahead of it."""
        return self.link.recv_shape(frm, tag, len(shape[0])) if variable(shape) else shape_for(shape, n)

    def _zeros(self, shape: Shape, n: int) -> torch.Tensor:
        """Zeros in place of a value that was not made or not sent (the gate's select discards it)."""
        dtype = shape[2]
        return torch.zeros(shape_for(shape, n), dtype=self.b.dtype if dtype.is_floating_point else dtype)

    def _is_scalar(self, name: str) -> bool:
        shape = self.b.shapes.get(name)
        return shape is not None and isinstance(shape[0], str)

    def _route(self, env: dict, n: int, index: int) -> torch.Tensor:
        assert self.b.route_value is not None
        return self._get(env, ("v", self.b.route_value), n, index)

    def _send(self, v, out: torch.Tensor, index: int, env: dict, n: int) -> None:
        """To every rank with a wake that uses ``v`` and is awake for this batch (the route to all that need it).
        A send that depends on a route this rank does not hold yet waits until the end of its walk of the batch
        (the route may itself be computed from values this rank sends on)."""
        if self._is_scalar(v.name):
            return                                      # every rank knows it: not a message
        for d in v.dests:
            if self._depends_on_route(v, d) and not self._route_ready(env):
                self.deferred.append((v, out, d))
            else:
                self._send_to(v, out, d, index, env, n)
        if v.name == self.b.route_value:
            for d in sorted(self.route_dests - set(v.dests)):
                self.link.send(out, d, v.part_tag(0), v.wire, batch=index, name=v.name, control=True)

    def _depends_on_route(self, v, d: int) -> bool:
        wakes = v.dest_wakes.get(d, [None])
        return all(w in self.b.branch_of_wake for w in wakes) or (v.name, d) in self.b.branch_of_value

    def _route_ready(self, env: dict) -> bool:
        name = self.b.route_value
        if name is None or name in env:
            return True
        v = self.values[name]
        return v.rank == self.rank and name in self.item_of and self.item_of[name][0] in env

    def _send_to(self, v, out: torch.Tensor, d: int, index: int, env: dict, n: int) -> None:
        wakes = v.dest_wakes.get(d, [None])
        if all(w in self.b.branch_of_wake for w in wakes):   # only a branch's wakes use it there: any awake?
            route = self._route(env, n, index)
            if not any(self._awake(w, route) for w in wakes if w is not None):
                return
        branch = self.b.branch_of_value.get((v.name, d))
        if branch is not None and not self._taken(branch, env, n, index):
            return                                      # a branch's output the select will not take
        if v.parts is None:
            if variable(self.b.shapes.get(v.name)):
                self.link.send_shape(out, d, v.part_tag(0), batch=index, name=v.name)
            self.link.send(out, d, v.part_tag(0), v.wire, batch=index, name=v.name)
        else:
            for j, (k, wire) in enumerate(zip(v.parts, v.part_wires, strict=True)):
                if variable(self.b.shapes.get(f"{v.name}[{k}]")):
                    self.link.send_shape(out[k], d, v.part_tag(j), batch=index, name=f"{v.name}[{k}]")
                self.link.send(out[k], d, v.part_tag(j), wire, batch=index, name=f"{v.name}[{k}]")

    def _route_dests(self) -> set[int]:
        """Ranks that need the route: those with a branch's wakes, and those sending to or receiving from them."""
        b = self.b
        cond = b.branch_of_wake
        need = {b.rank_map.rank_of_wake[w] for w in cond}
        for v in b.rank_map.values.values():
            if v.wake in cond:
                need.update(v.dests)
            if any(w in cond for ws in v.dest_wakes.values() for w in ws):
                need.add(v.rank)
        for name, d in b.branch_of_value:
            need.update({d, self.values[name].rank})
        assert b.route_value is not None
        return need - {self.values[b.route_value].rank}

    def _get(self, env: dict, a: tuple, n: int, index: int):
        kind, name = a
        if kind == "l":
            return name
        if kind == "c":
            return env[name] if name in env else self.b.constants[name]
        v = self.values[name]
        if v.parts is not None and name not in env:
            items: list = [None] * (max(v.parts) + 1)
            for j, (k, wire) in enumerate(zip(v.parts, v.part_wires, strict=True)):
                shape = self.b.shapes[f"{name}[{k}]"]
                dtype = shape[2]
                like = self.b.dtype if dtype.is_floating_point and wire.dtype is None else dtype
                items[k] = self.link.recv(v.rank, v.part_tag(j), wire, self._shape(shape, v.rank, v.part_tag(j), n),
                                          like, name=f"{name}[{k}]")
            env[name] = tuple(items)
            return env[name]
        if self._is_scalar(name):
            if name not in env:
                _, one, two, powers = self.b.shapes[name]
                env[name] = scalar_for(one, two, n, powers)
            return env[name]
        shape = self.b.shapes.get(name, ((1,), (0,), torch.float32, ()))
        dtype = shape[2]
        if name not in env and v.rank == self.rank and name in self.item_of:    # an item of a tuple made here
            source, item = self.item_of[name]
            env[name] = None if env.get(source) is None else env[source][item]
        if name in env:
            if env[name] is None:                     # its wake slept: the select discards it
                env[name] = self._zeros(shape, n)
            return env[name]
        branch = self.b.branch_of_value.get((name, self.rank))
        if branch is not None and not self._taken(branch, env, n, index) or \
                v.wake in self.b.branch_of_wake and name != self.b.route_value and \
                not self._awake(v.wake, self._route(env, n, index)):
            value = self._zeros(shape, n)
        else:
            wire = v.wire
            like = self.b.dtype if dtype.is_floating_point and wire.dtype is None else dtype
            value = self.link.recv(v.rank, v.part_tag(0), wire, self._shape(shape, v.rank, v.part_tag(0), n), like,
                                   name=name)
        env[name] = value
        return value

    def host_split(self) -> int:
        """The host's first step that waits on a chip: steps before it only feed (the pipelined schedule runs
        them for later batches before collecting earlier ones)."""
        for i, s in enumerate(self.b.steps):
            refs = list(s.args) if s.kind in ("wake", "output") else []
            if s.kind == "wake" and self.b.rank_map.rank_of_wake[s.wake] != 0:
                continue
            if s.kind == "item" and self.values[s.name].rank != 0:
                continue
            for kind, name in refs:
                if kind == "v" and self.values[name].rank != 0:
                    return i
        return len(self.b.steps)

