"""Run an exported Illusion system: one onnxruntime session per wake, weights bound from each chip's memory
image, values passed between chips as the integer codes of the manifest and their bytes counted.

    python run.py --inputs x.npy --out logits.npy [--batch 1]

Needs only numpy and onnxruntime (no torch, no illusion_torch). The folder holds manifest.json, wakes/*.onnx
and images/chip_*.bin, as ``illusion export`` wrote them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

MANIFEST_VERSION = 1
CODES = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}
STORED = {1: "<i1", 2: "<i2", 4: "<i4", 8: "<i8"}


class ExportError(Exception):
    """A folder this runner cannot run: said in one line."""


class System:
    """An exported system: its manifest, its chips' images and one session per wake."""

    one_at_a_time = False                       # True: ``run`` takes one input at a time

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / "manifest.json"
        try:
            self.manifest = json.loads(path.read_text())
        except FileNotFoundError:
            raise ExportError(f"{path}: no manifest; give the folder `illusion export` wrote") from None
        except json.JSONDecodeError as e:
            raise ExportError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); export the system again") from None
        version = self.manifest.get("version")
        if version != MANIFEST_VERSION:
            raise ExportError(f"{path}: manifest version {version!r}, this runner reads version {MANIFEST_VERSION}; "
                              f"use the run.py written with it")
        self.images = {}
        for chip in self.manifest["chips"]:
            image = self.folder / chip["image"]
            if not image.is_file():
                raise ExportError(f"{image}: missing; export the system again")
            data = image.read_bytes()
            if len(data) != chip["image_bytes"]:
                raise ExportError(f"{image}: {len(data)} B where the manifest says {chip['image_bytes']} B; "
                                  f"export the system again")
            self.images[chip["chip"]] = data
        self.weights = {}                       # (chip, address) -> values, decoded once
        self.routes: list[int] = []             # a gated model's route of every input run
        self.open()

    def open(self) -> None:
        """Load one onnxruntime session per wake."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.sessions = {}
        for step in self.manifest["steps"]:
            if step["op"] == "wake":
                file = self.folder / step["file"]
                if not file.is_file():
                    raise ExportError(f"{file}: missing; export the system again")
                try:
                    self.sessions[step["index"]] = ort.InferenceSession(str(file), options,
                                                                        providers=["CPUExecutionProvider"])
                except Exception as e:  # onnxruntime raises its own types for a file it cannot read
                    raise ExportError(f"{file}: onnxruntime cannot load it ({str(e).splitlines()[0][:160]}); "
                                      f"export the system again") from None

    def close(self) -> None:
        """Release what ``open`` took (nothing for onnxruntime sessions)."""

    def compute(self, step: dict, leaves: list[np.ndarray]) -> list[np.ndarray]:
        """A wake's flat outputs for its flat inputs (``leaves``), by its onnxruntime session."""
        dtype = np.float64 if step.get("dtype") == "float64" else np.float32
        feed = {f"x{i}": (_as(p, dtype) if p.dtype.kind == "f" else p) for i, p in enumerate(leaves)}
        for b in step["binds"]:
            feed[b["input"]] = self.weight(b).astype(dtype, copy=False)
        taken = step.get("inputs", list(feed))         # the inputs the graph reads (the exporter drops others)
        return self.sessions[step["index"]].run(None, {k: feed[k] for k in taken})

    def weight(self, w: dict) -> np.ndarray:
        """A weight's values from its chip's image: codes × 2^-fl, in its shape."""
        key = (w["chip"], w["address"])
        if key not in self.weights:
            n, width = w["numel"], w["bytes_per_value"]
            raw = self.images[w["chip"]][w["address"]:w["address"] + n * width]
            codes = np.frombuffer(raw, dtype=STORED[width]).astype(np.float64)
            self.weights[key] = (codes * 2.0 ** -w["fl"]).reshape(w["shape"])
        return self.weights[key]

    def run(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """(outputs, bytes passed between chips) for the batch ``x``."""
        values = self.manifest["values"]
        env: dict[str, np.ndarray] = {}
        sent = 0
        delivered: set[tuple[str, int]] = set()
        later: list[tuple[int, list[int]]] = []      # a branch's message: (bytes per input, routes it goes for)
        for step in self.manifest["steps"]:
            op = step["op"]
            if op == "input":
                env[step["name"]] = x
            elif op == "stored":
                env[step["name"]] = self.weight(step["weight"])
            elif op == "item":
                env[step["name"]] = env[step["source"]][step["index"]]
            elif op == "wake":
                chip = step["chip"]
                leaves = []
                for name in step["reads"]:
                    value = env[name]
                    parts = list(value) if isinstance(value, tuple) else [value]
                    keys = [f"{name}[{k}]" for k in range(len(parts))] if isinstance(value, tuple) else [name]
                    for key, part in zip(keys, parts, strict=True):
                        v = values.get(key)
                        if v is not None and chip is not None and v["chip"] is not None and v["chip"] != chip \
                                and (key, chip) not in delivered:
                            part, nbytes = _passed(part, v)
                            only = v.get("only_for_routes", {}).get(str(chip))
                            if only is None:
                                sent += nbytes
                            else:                   # counted once the route is known (the plan's rule)
                                later.append((nbytes // max(1, len(part)), only))
                            delivered.add((key, chip))
                        leaves.extend(_leaves(part))
                outs = self.compute(step, leaves)
                env[step["name"]] = _nested(step["structure"], outs)
            elif op == "output":
                if self.manifest.get("gated"):
                    route = np.asarray(env[step["values"][1]]).reshape(-1)
                    self.routes.extend(int(r) for r in route)
                    sent += sum(per_input * int(np.isin(route, only).sum()) for per_input, only in later)
                return env[step["values"][0]], sent
        raise ExportError("the manifest has no output step; export the system again")


def _as(value: np.ndarray, dtype) -> np.ndarray:
    """``value`` in a wake's dtype, checked exact (a fixed-point value fits both float32 and float64)."""
    out = value.astype(dtype, copy=False)
    if out.dtype != value.dtype and not np.array_equal(out.astype(value.dtype), value):
        raise ExportError(f"a value does not fit {np.dtype(dtype).name} exactly on its way into a wake")
    return out


def _leaves(value) -> list:
    """A value's arrays in order (a tuple's, recursively)."""
    return [a for part in value for a in _leaves(part)] if isinstance(value, tuple) else [value]


def _nested(structure, outs: list):
    """A wake's outputs in the nesting its program returns (an int: that flat output)."""
    return tuple(_nested(s, outs) for s in structure) if isinstance(structure, list) else outs[structure]


def _passed(value: np.ndarray, v: dict) -> tuple[np.ndarray, int]:
    """A value sent between chips as the manifest's integer codes (checked exact) and back; its bytes."""
    if v["fl"] is None:
        return value, value.nbytes
    scaled = value.astype(np.float64) * 2.0 ** v["fl"]
    codes = scaled.astype(CODES[v["bits"]])
    if not np.array_equal(codes.astype(np.float64), scaled):
        raise ExportError(f"a value is not on its {v['bits']}-bit codes with {v['fl']} fractional bits")
    return (codes.astype(np.float64) * 2.0 ** -v["fl"]).astype(value.dtype), codes.nbytes


def main(argv: list[str] | None = None, system_class: type = System) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", required=True, help="a .npy file: a batch of inputs (N, ...)")
    ap.add_argument("--out", required=True, help="the .npy file to write the outputs to (not overwritten)")
    ap.add_argument("--batch", type=int, default=1, help="inputs per pass (default 1: one at a time)")
    ap.add_argument("--folder", default=str(Path(__file__).resolve().parent))
    args = ap.parse_args(argv)
    try:
        target = Path(args.out if args.out.endswith(".npy") else args.out + ".npy")   # np.save adds the suffix
        if target.exists():
            raise ExportError(f"{target} exists; give a new file for the outputs")
        if args.batch < 1:
            raise ExportError(f"--batch must be at least 1, got {args.batch}")
        try:
            x = np.load(args.inputs)
        except (OSError, ValueError) as e:
            raise ExportError(f"{args.inputs}: cannot read it as a .npy array ({e})") from None
        system = system_class(args.folder)
        want = system.manifest["input"]["shape_per_input"]
        if list(x.shape[1:]) != want:
            raise ExportError(f"{args.inputs}: inputs of shape {list(x.shape)}; the system takes (N, "
                              f"{', '.join(map(str, want))})")
        started = time.perf_counter()
        outs, sent = [], 0
        if system.one_at_a_time or any(s.get("one_at_a_time") for s in system.manifest["steps"]):
            args.batch = 1                      # a wake exported for one input at a time
        for i in range(0, len(x), args.batch):
            out, nbytes = system.run(np.ascontiguousarray(x[i:i + args.batch]))
            outs.append(out)
            sent += nbytes
        seconds = time.perf_counter() - started
        system.close()
        partial = target.with_name(f".{target.name}.partial.npy")
        try:                                    # whole or not at all: an interrupted write leaves no file
            np.save(partial, np.concatenate(outs))
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        plan = system.manifest["plan_bytes_per_inference"] * len(x)
        if system.manifest.get("gated"):       # per route taken: the routes come with the outputs
            routes = system.routes
            plan = sum(system.manifest["plan_bytes_per_route"][str(int(r))] for r in routes)
        print(f"{len(x)} inputs in {seconds:.2f} s; {sent} B passed between chips (the plan's: {plan} B)")
        return 0
    except ExportError as e:
        print(f"run.py: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("run.py: interrupted; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
