"""Export a partitioned system as a folder anyone can run: one ONNX graph per wake, each chip's memory image as
a binary file, a versioned manifest, and ``run.py`` (numpy + onnxruntime, no torch).

Usage::

    from illusion_torch.deploy import export
    result = export(system, "mnist-export")           # or: illusion export --model mnist --chips 8 --out DIR
    # python mnist-export/run.py --inputs x.npy --out logits.npy

The folder:

- ``wakes/wake_NNN.onnx`` — wake NNN's program (``ChipPrograms.wakes``), exported by ``torch.onnx``: the
  TorchScript tracer first (milliseconds; kept only when onnxruntime then reproduces the program exactly for one
  and two inputs), else the dynamo exporter (seconds). Wakes with one structure share one graph.
  Its first inputs are the values it receives, the rest the weights it reads: those are graph inputs, not
  initializers, so the runner binds them from the chip's image (a flipped bit in the image changes what the
  chip computes, as it would on the chip). The batch dimension is free.
- ``images/chip_NNN.bin`` — the chip's weight memory: every weight's integer codes at its address, little
  endian, ``bytes_per_value`` each (``runtime.memory.build_images``).
- ``manifest.json`` (``MANIFEST_VERSION``) — the chips (capacity, image file and size), the steps of one
  inference in message order (inputs, stored tensors, wakes with what they read and bind, tuple items, the
  output), every value's wire format (integer codes of ``bits`` with ``fl`` fractional bits, as the distributed
  runtime sends it) and the chips it goes to, the messages (value, source chip, destination chip, shape and
  bytes per inference) and the plan's bytes between chips per inference.
- ``run.py`` — the runner (``deploy/run.py``): it walks the steps, passes each value between chips as its
  codes, counts those bytes and prints them beside the plan's.

The graphs compute in float32 where ``runtime.precision.exact_dtype`` proves it exact for the system (every sum
below 2^23 LSBs), else in float64 (exact for fixed-point sums below 2^53 LSBs). onnxruntime has no float64
convolution: a wake with a convolution runs in float32 where every sum it computes is proven exact in float32,
else in float64 with each convolution lowered to one matrix product per kernel tap (``deploy.lowering``). A
value whose shape depends on the input is refused with one line. A gated model (D2NN) runs every wake (the
select keeps the route's branch, as in process) and counts a branch's messages only for the inputs whose route
takes it, as the plan does.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import fx, nn
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..errors import IllusionError
from ..partitioning.partition import Partition
from ..partitioning.slices import GroupSlice
from ..partitioning.trace import HOST
from .lowering import convolutions_as_products

__all__ = ["export", "ExportResult", "MANIFEST_VERSION", "INSTALL_HINT"]

MANIFEST_VERSION = 1
INSTALL_HINT = "pip install onnx onnxruntime onnxscript (or: pip install 'illusion_torch[deploy]')"
FILES = ("manifest.json", "run.py", "wakes", "images", "c", "run_c.py")          # what an export writes in its folder
FORMAT = "illusion_torch per-chip programs"


@dataclass
class ExportResult:
    folder: Path
    wakes: int
    chips: int
    seconds: float
    plan_bytes: int            # between chips per inference


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise IllusionError(f"exporting to ONNX needs onnx and onnxscript: {INSTALL_HINT}") from None


class _Wake(nn.Module):
    """A wake's program taking flat tensors: its arguments' leaves (a tuple argument — an LSTM slice's (h, c) —
    flattened in order) and then the weights it reads (``functional_call``); its result flattened too."""

    def __init__(self, gm: fx.GraphModule, bound: list[str], spec) -> None:
        super().__init__()
        self.gm, self.bound, self.spec = gm, bound, spec

    def forward(self, *args: torch.Tensor):
        k = len(args) - len(self.bound)
        values = tree_unflatten(list(args[:k]), self.spec)
        out = torch.func.functional_call(self.gm, dict(zip(self.bound, args[k:], strict=True)), tuple(values))
        return tuple(tree_flatten(out)[0])


class _TracedWake(nn.Module):
    """``_Wake`` for the TorchScript tracer, which cannot trace ``functional_call``: a copy of the program whose
    bound weights are plain attributes, set from the arguments on each call."""

    def __init__(self, gm: fx.GraphModule, bound: list[str], spec) -> None:
        super().__init__()
        self.gm, self.bound, self.spec = copy.deepcopy(gm), bound, spec
        for name in bound:
            owner, _, attr = name.rpartition(".")
            m = self.gm.get_submodule(owner)
            m._parameters.pop(attr, None)
            m._buffers.pop(attr, None)

    def forward(self, *args: torch.Tensor):
        k = len(args) - len(self.bound)
        for name, t in zip(self.bound, args[k:], strict=True):
            owner, _, attr = name.rpartition(".")
            setattr(self.gm.get_submodule(owner), attr, t)
        return tuple(tree_flatten(self.gm(*tree_unflatten(list(args[:k]), self.spec)))[0])


def _traced_export(gm, bound, spec, leaves, weights, names, outs, path: Path) -> list[str] | None:
    """Export by the TorchScript tracer (tens of milliseconds where the dynamo exporter takes seconds) and keep
    it only if onnxruntime then computes the program's own outputs exactly for one and for two inputs: the
    inputs the graph takes (the tracer drops those it does not read); None otherwise (the caller uses the dynamo
    exporter)."""
    import onnxruntime as ort

    try:
        traced = _TracedWake(gm, bound, spec).eval()
        torch.onnx.export(traced, tuple(leaves) + tuple(weights), str(path), dynamo=False, input_names=names,
                          output_names=outs, dynamic_axes={n: {0: "batch"} for n in names[:len(leaves)]})
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        taken = [i.name for i in session.get_inputs()]
        if [n for n in names if n in taken] != taken:
            return None
        for rows in (1, 2):
            args = [t[:rows] if isinstance(t, torch.Tensor) and t.dim() else t for t in leaves] + list(weights)
            with torch.no_grad():
                want = traced(*args)
            got = session.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True) if n in taken})
            if len(got) != len(want) or not all(np.array_equal(g, w.numpy()) for g, w in zip(got, want, strict=True)):
                return None
        return taken
    except Exception:  # noqa: BLE001 - the tracer or onnxruntime refused: the dynamo exporter decides
        return None


def _wake_args(system: Partition, x: torch.Tensor) -> dict[str, list]:
    """Each top-graph wake call's arguments for the batch ``x`` (float32 values), in order."""
    seen: dict[str, list] = {}

    class Recorder(fx.Interpreter):
        def call_module(self, target, args, kwargs):
            seen[str(target)] = list(args)
            return super().call_module(target, args, kwargs)

    with torch.no_grad():
        Recorder(system.chips.top).run(x.float() if x.is_floating_point() else x)
    return seen


def _image_bytes(img) -> bytes:
    """The chip's weight memory: every weight region's codes at its address (little endian, signed)."""
    regions = [r for r in img.regions if r.kind.value == "weight" and r.codes is not None]
    size = max((r.address + r.nbytes for r in regions), default=0)
    out = bytearray(size)
    for r in regions:
        dtype = {1: "<i1", 2: "<i2", 4: "<i4", 8: "<i8"}[r.bytes_per_value]
        out[r.address:r.address + r.nbytes] = r.codes.numpy().astype(dtype).tobytes()
    return bytes(out)


def export(system: Partition, folder: str | Path, *, example: torch.Tensor | None = None,
           progress: bool = False, c: bool = False) -> ExportResult:
    """Write ``system``'s per-chip programs into ``folder`` (see the module); ``example``: a batch to trace
    the wakes with (default: zeros of the traced input's shape, two of them); ``c``: also integer-only C for
    each chip (``deploy.c_export``)."""
    from ..runtime.precision import exact_dtype

    _require_onnx()
    started = time.perf_counter()
    programs = system.chips
    cfg = system.graph.config
    if cfg.weight_format is None:
        raise IllusionError("a float model has no integer memory image to export; export its fixed-point version "
                            "(illusion_torch.fixed.quantized.fixed_point_version or ptq.post_training_quantize)")
    dtype, reason = exact_dtype(programs, cfg.weight_format, per_tensor=cfg.per_tensor_formats)
    float32_wakes = set(programs.wake_of.values()) if dtype == torch.float32 else _float32_wakes(programs, cfg)
    target = _replaceable(Path(folder))
    with _fresh(target) as folder:
        return _write(system, folder, target, example, progress, reason, started, dtype, float32_wakes, with_c=c)


def _convolutions(gm: fx.GraphModule) -> set[str]:
    """The model layers (``orig``) of ``gm``'s convolution nodes."""
    nodes = {n.name: n for n in gm.graph.nodes}
    return {nodes[name].meta.get("orig", name) for name in _conv_nodes(gm)}


def _float32_wakes(programs, cfg) -> set[int]:
    """The wakes float32 computes exactly (``runtime.precision``: no unproven node in them, every sum they
    compute — a layer's, a residual add's — bounded below 2^23 LSBs)."""
    from ..runtime.precision import LIMIT, layer_bounds

    problems, ratios = layer_bounds(programs, cfg.weight_format, per_tensor=cfg.per_tensor_formats)
    wakes = set(programs.wake_of.values())
    for n in programs.expanded.graph.nodes:
        key = n.name if n.name in ratios else n.meta.get("orig", n.name)
        if n.name in problems or ratios.get(key, 0.0) >= LIMIT:
            wakes.discard(programs.wake_of.get(n.name))
    return wakes


def _erf_node(gm: fx.GraphModule) -> str | None:
    """The first node of ``gm`` that computes an exact (erf) GELU, or None."""
    import torch.nn.functional as F

    modules = dict(gm.named_modules())
    for n in gm.graph.nodes:
        m = modules.get(str(n.target)) if n.op == "call_module" else None
        if (isinstance(m, nn.GELU) and m.approximate == "none") or (
                n.op == "call_function" and n.target in (F.gelu, torch.ops.aten.gelu.default)
                and n.kwargs.get("approximate", "none") == "none"):
            return n.name
    return None


def _conv_nodes(gm: fx.GraphModule) -> list[str]:
    modules = dict(gm.named_modules())
    return [n.name for n in gm.graph.nodes if n.op == "call_module"
            and isinstance(modules.get(str(n.target)), (nn.Conv2d, GroupSlice))]


def _replaceable(folder: Path) -> Path:
    """``folder`` if it is new or an earlier export (its manifest and only the files an export writes); else
    one clear refusal — an export never replaces a folder it did not write."""
    from ..files import _protected

    reason = _protected(folder.resolve())
    if reason is None and folder.exists():
        if not folder.is_dir():
            reason = "a file"
        else:
            foreign = sorted(e.name for e in folder.iterdir() if e.name not in FILES)
            try:
                ours = json.loads((folder / "manifest.json").read_text()).get("format") == FORMAT
            except (OSError, ValueError, AttributeError):
                ours = False
            if foreign or not ours:
                reason = "a folder an export did not write" + (f" (it holds {', '.join(foreign[:3])})" if foreign
                                                                 else "")
    if reason is not None:
        raise IllusionError(f"refusing to write the export to {folder}: it is {reason}; give a new folder")
    return folder


class _fresh:
    """A folder beside ``target`` that replaces it when the block ends without error (else it is removed)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __enter__(self) -> Path:
        import tempfile

        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", dir=self.target.parent))
        return self.tmp

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        if self.target.exists():
            old = self.target.with_name(self.tmp.name + ".old")
            self.target.rename(old)
        self.tmp.rename(self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _write(system: Partition, folder: Path, target: Path, example, progress: bool, reason: str,
           started: float, dtype: torch.dtype, float32_wakes: set[int], with_c: bool = False) -> ExportResult:
    from ..distributed.launch import expected_wire_bytes, rank_map_for
    from ..distributed.rank import _steps
    from ..runtime import Runtime

    programs = system.chips
    n_chips = system.mapping.n_chips
    rank_map = rank_map_for(system, n_chips + 1)            # one chip per rank: rank c + 1 is chip c
    chip_of_rank = {r: c for c, r in rank_map.rank_of_chip.items()}
    if progress:
        print(f"memory images of {n_chips} chips, then one ONNX graph per wake structure", flush=True)
    runtime = Runtime(system)
    images = runtime.images
    region_of: dict[int, tuple[int, object]] = {}      # id(tensor) -> (chip, region)
    for c, img in enumerate(images):
        for r in img.regions:
            if r.kind.value == "weight" and r.codes is not None:
                t = getattr(programs.expanded.get_submodule(r.module), r.param)
                region_of[id(t)] = (c, r)
    if example is None:
        meta = next(n for n in system.graph.gm.graph.nodes if n.op == "placeholder").meta["tensor_meta"]
        example = torch.zeros((2, *meta.shape[1:]), dtype=meta.dtype)
    args_of = _wake_args(system, example)
    steps = _steps(programs.top, rank_map)
    (folder / "wakes").mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    manifest_steps: list[dict] = []
    files: dict[str, tuple[str, tuple]] = {}          # a wake's structure -> its exported graph
    top_nodes = {n.name: n for n in programs.top.graph.nodes}
    for s in steps:
        if s.kind == "input":
            manifest_steps.append({"op": "input", "name": s.name})
        elif s.kind == "attr":
            t = _attr(programs.top, str(top_nodes[s.name].target))
            if id(t) not in region_of:
                raise IllusionError(f"the stored tensor {s.name} is in no chip's image")
            c, r = region_of[id(t)]
            manifest_steps.append({"op": "stored", "name": s.name, "weight": _weight(c, r)})
        elif s.kind == "item":
            manifest_steps.append({"op": "item", "name": s.name, "source": s.source, "index": s.index})
        elif s.kind == "output":
            manifest_steps.append({"op": "output", "values": [a[1] for a in s.args if a[0] != "l"]})
        else:
            chip, gm = programs.wakes[s.wake]
            if any(a[0] == "l" for a in s.args):
                raise IllusionError(f"wake {s.wake} takes a constant argument; only tensors can be exported")
            file = f"wakes/wake_{s.wake:04d}.onnx"
            tensors = dict(gm.named_parameters()) | dict(gm.named_buffers())
            bound = [name for name, t in tensors.items() if id(t) in region_of]
            values = args_of[str(top_nodes[s.name].target)]
            wake_dtype = torch.float32 if s.wake in float32_wakes and _convolutions(gm) else dtype
            weights = [tensors[name].detach().to(wake_dtype) for name in bound]
            key = _structure(gm, bound, values, tensors) + str(wake_dtype)
            erf = _erf_node(gm) if wake_dtype == torch.float64 else None
            if erf is not None:
                raise IllusionError(f"wake {s.wake} (chip {chip}) computes in float64 and {erf} is an exact GELU "
                                    f"(erf), which onnxruntime has no float64 kernel for; such models cannot be "
                                    f"exported exactly yet")
            if key in files:                           # the same program on other weights: one graph
                file, (outs, structure, single, taken) = files[key]
            else:
                try:
                    outs, structure, single, taken = _export_wake(gm, bound, values, weights, folder / file,
                                                                  wake_dtype)
                except Exception as e:  # noqa: BLE001 - the exporter raises many types; one line names the wake
                    while e.__cause__ is not None:               # the exporter wraps the reason
                        e = e.__cause__
                    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()     # the exporter's colours
                    first = (text.splitlines() or [type(e).__name__])[0][:200]
                    why = first if isinstance(e, IllusionError) else f"{type(e).__name__}: {first}"
                    raise IllusionError(f"wake {s.wake} (chip {chip}) cannot be exported to ONNX: {why}") from None
                files[key] = (file, (outs, structure, single, taken))
                if progress:
                    print(f"graph {len(files)}: wake {s.wake} (chip {chip})", flush=True)
            manifest_steps.append({
                "op": "wake", "name": s.name, "index": s.wake, "chip": None if chip == HOST else int(chip),
                "file": file, "reads": [a[1] for a in s.args], "outputs": outs, "inputs": taken,
                "structure": structure, "dtype": str(wake_dtype).removeprefix("torch."), "one_at_a_time": single,
                "binds": [{"input": f"w{j}", **_weight(*region_of[id(tensors[name])])} for j, name in
                          enumerate(bound)]})
    values, messages = _values(system, rank_map, chip_of_rank, example, runtime.profile)
    plan = expected_wire_bytes(runtime.profile, rank_map, {None: 1})
    if programs.gated:               # the plan's bytes per inference for each route the gate can take
        plan_routes = {str(r): expected_wire_bytes(runtime.profile, rank_map, {r: 1})
                       for r in runtime.profile.routes if r is not None}
        plan = 0
    chips = []
    for c, img in enumerate(images):
        data = _image_bytes(img)
        path = folder / "images" / f"chip_{c:04d}.bin"
        path.write_bytes(data)
        chips.append({"chip": c, "image": f"images/chip_{c:04d}.bin", "image_bytes": len(data),
                      "capacity_bytes": int(system.mapping.capacity_bytes[c if len(system.mapping.capacity_bytes)
                                                                          > 1 else 0])})
    inp = next(n for n in system.graph.gm.graph.nodes if n.op == "placeholder").meta["tensor_meta"]
    manifest = {"format": FORMAT, "version": MANIFEST_VERSION,
                "model": system.graph.model_name, "dtype": str(dtype).removeprefix("torch."),
                "compute": f"{str(dtype).removeprefix('torch.')} ({reason})",
                "input": {"shape_per_input": list(inp.shape[1:]), "dtype": str(inp.dtype).removeprefix("torch.")},
                "chips": chips, "steps": manifest_steps, "values": values, "messages": messages,
                "plan_bytes_per_inference": plan, "gated": bool(programs.gated),
                "plan_bytes_per_route": plan_routes if programs.gated else {}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.copyfile(Path(__file__).with_name("run.py"), folder / "run.py")
    if with_c:
        from .c_export import write_c

        if progress:
            print("integer-only C for each chip", flush=True)
        write_c(system, folder, manifest, args_of, region_of)
    return ExportResult(target, len(programs.wakes), n_chips, time.perf_counter() - started, plan)


def _attr(top: fx.GraphModule, target: str) -> torch.Tensor:
    obj = top
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _weight(chip: int, r) -> dict:
    """Where a weight lies: its chip's image, address, values, bytes per value, fractional bits, shape."""
    return {"chip": int(chip), "address": int(r.address), "numel": int(r.numel), "bytes_per_value":
            int(r.bytes_per_value), "fl": int(r.fmt.fl), "shape": [int(d) for d in r.shape], "region": r.name}


def _structure(gm: fx.GraphModule, bound: list[str], values: list, tensors: dict) -> str:
    """What a wake's ONNX graph depends on: its ops in order (modules by their repr), the arguments'
    shapes and dtypes, the bound weights' shapes and the values of the tensors it keeps (not bound)."""
    import hashlib

    index = {n: i for i, n in enumerate(gm.graph.nodes)}
    h = hashlib.sha256()
    for n in gm.graph.nodes:
        target = _module_key(gm.get_submodule(str(n.target))) if n.op == "call_module" else \
            str(n.target) if n.op in ("call_function", "call_method") else n.op
        args = fx.node.map_arg((n.args, n.kwargs), lambda a: f"%{index[a]}")
        h.update(f"{n.op}|{target}|{args}\n".encode())
    leaves, _ = tree_flatten(list(values))
    h.update(repr([(tuple(v.shape[1:]), v.dtype) if isinstance(v, torch.Tensor) else v for v in leaves]).encode())
    bound_set = set(bound)
    for name, t in tensors.items():
        h.update(f"{name in bound_set}|{tuple(t.shape)}|{t.dtype}".encode())
        if name not in bound_set:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _module_key(m: nn.Module) -> str:
    """A module's type, its repr and every plain attribute it computes with (a row slice's start, say)."""
    plain = {k: v for mod in m.modules() for k, v in vars(mod).items()
             if not k.startswith("_") and not isinstance(v, (torch.Tensor, nn.Module)) and k != "training"}
    return f"{type(m).__qualname__}|{m!r}|{sorted((k, repr(v)) for k, v in plain.items())}"


def _export_wake(gm: fx.GraphModule, bound: list[str], values: list, weights: list, path: Path,
                 dtype: torch.dtype = torch.float32) -> tuple[list, object, bool, list[str]]:
    """One wake as ONNX: inputs x0… (values, batch free) then w0… (weights); outputs y0…; (outputs, their
    nesting, whether the graph takes one input at a time, the inputs it takes)."""
    import torch.onnx

    gm.recompile()
    lowering = contextlib.nullcontext()
    if dtype != torch.float32:                 # a copy in the compute dtype (its kept tensors too)
        gm = copy.deepcopy(gm).to(dtype)
        lowering = convolutions_as_products()  # onnxruntime has no float64 Conv
    values = [v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else
              tuple(t.to(dtype) if t.is_floating_point() else t for t in v) if isinstance(v, tuple) else v
              for v in values]
    leaves, spec = tree_flatten(list(values))
    wrapper = _Wake(gm, bound, spec).eval()
    with torch.no_grad():
        out = wrapper(*leaves, *weights)
        out_nested = torch.func.functional_call(gm, dict(zip(bound, weights, strict=True)), tuple(values))
    n_out = len(out)
    if not all(isinstance(o, torch.Tensor) for o in out):
        raise IllusionError("it returns a number computed from its input's shape (a sequence length the chips "
                            "receive), which the ONNX exporters cannot return as a value")
    batch = torch.export.Dim("batch", min=1)
    dynamic = tuple({0: batch} for _ in leaves) + tuple(None for _ in weights)
    names = [f"x{i}" for i in range(len(leaves))] + [f"w{j}" for j in range(len(weights))]
    outs = [f"y{k}" for k in range(n_out)]
    one_at_a_time = False
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), lowering:   # exporter's chatter
        warnings.simplefilter("ignore")
        taken = _traced_export(gm, bound, spec, leaves, weights, names, outs, path)
        if taken is not None:
            structure = tree_unflatten(list(range(n_out)), tree_flatten(out_nested)[1])
            return outs, _jsonable(structure), False, taken
        try:
            program = torch.onnx.export(wrapper, tuple(leaves) + tuple(weights), dynamo=True, input_names=names,
                                        output_names=outs, dynamic_shapes=(dynamic,), optimize=True,
                                        verbose=False)
        except Exception:  # noqa: BLE001 - a program that fixes its batch: exported for one input at a time
            one_at_a_time = True
            single = [t[:1] if isinstance(t, torch.Tensor) and t.dim() else t for t in leaves]
            program = torch.onnx.export(wrapper, tuple(single) + tuple(weights), dynamo=True, input_names=names,
                                        output_names=outs, optimize=True, verbose=False)
    program.save(str(path))
    structure = tree_unflatten(list(range(n_out)), tree_flatten(out_nested)[1])
    return outs, _jsonable(structure), one_at_a_time, names


def _jsonable(structure):
    """A nested tuple of output positions as JSON lists (an int: that flat output)."""
    return [_jsonable(s) for s in structure] if isinstance(structure, (tuple, list)) else structure


def _values(system: Partition, rank_map, chip_of_rank: dict, example: torch.Tensor, profile) -> tuple[dict, list]:
    """Every top-graph value's maker chip, wire format and destination chips (with, for a gated model, the
    routes for which the plan sends it there: a branch's value only when the route takes the branch); the
    messages between chips."""
    branches: dict[tuple, set] = {}
    for t in profile.transfers:
        branches.setdefault((t.tensor, t.src, t.dst), set()).add(t.branch)
    from ..distributed.rank import probe_shapes, shape_for, variable
    from ..runtime.precision import sum_formats

    shapes = probe_shapes(system.chips, example)
    cfg = system.graph.config
    sums = sum_formats(system.chips, cfg.weight_format, list(rank_map.expanded_name.values()),
                       per_tensor=cfg.per_tensor_formats)        # unrounded sums: integer codes of a finer step
    values, messages = {}, []
    for v in rank_map.values.values():
        names = [v.name] if v.parts is None else [f"{v.name}[{k}]" for k in v.parts]
        wires = [v.wire] if v.parts is None else v.part_wires
        for name, wire in zip(names, wires, strict=True):
            shape = shapes.get(name)
            if shape is None or isinstance(shape[0], str):
                continue
            if variable(shape):
                raise IllusionError(f"value {name}'s shape depends on the input (a split embedding's rows); "
                                    f"such values cannot be exported yet")
            src = chip_of_rank.get(v.rank)
            dests = sorted({chip_of_rank[d] for d in v.dests} - {src}, key=str)
            one = shape_for(shape, 1)
            bits = wire.bits if wire.fl is not None else torch.empty(0, dtype=shape[2]).element_size() * 8
            tensor = rank_map.expanded_name.get(v.name)
            fl, holds = wire.fl, bits
            known = sums.get(tensor) if v.parts is None else None        # the bound of unrounded sums
            if known is not None and known.wl <= bits and fl in (None, known.fl):
                fl, holds = known.fl, known.wl      # codes of the plan's width (not floats), within holds_bits
            only = {}
            for d in dests:
                routes_taken = branches.get((tensor, src, d), {None})
                if None not in routes_taken:
                    only[str(d)] = sorted(routes_taken)
            values[name] = {"chip": None if src == HOST else src, "fl": fl, "bits": int(bits), "holds_bits": holds,
                            "shape_per_input": list(one[1:]), "to": [None if d == HOST else d for d in dests],
                            "only_for_routes": only}
            if src != HOST:
                for d in dests:
                    if d != HOST:
                        messages.append({"value": name, "from": src, "to": d, "shape_per_input": list(one[1:]),
                                         "bytes_per_inference": int(np.prod(one[1:], dtype=np.int64)) * bits // 8})
    return values, messages
