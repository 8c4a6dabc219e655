"""Run an exported system's C chip programs: one process per chip, every message over its chip's pipe.

    make -C c && python run_c.py --inputs x.npy --out logits.npy

Needs only numpy (no torch, no onnxruntime). Each chip's program (``c/chip_NNNN``) reads its memory image file
and then, once per inference, runs its wakes in order: it reads each wake's messages from its stdin as the
wire's integer codes and writes the wake's results to its stdout as int32 codes. This driver walks the
manifest's steps (``run.py``'s walk), rounds the model input to the codes the chips take, passes the values
between the chips' pipes and counts the bytes passed between chips as ``run.py`` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ExportError, System  # noqa: E402 - run.py lies beside this file
from run import main as run_main  # noqa: E402

WIDTH = {1: "<i1", 2: "<i2", 4: "<i4"}


class ChipProcesses(System):
    """An exported system whose wakes run in the chips' C programs, one process per chip."""

    one_at_a_time = True

    def open(self) -> None:
        path = self.folder / "c" / "programs.json"
        if not path.is_file():
            raise ExportError(f"{path}: missing; export with --c to write the C programs")
        self.programs = json.loads(path.read_text())
        self.procs: dict[int, subprocess.Popen] = {}
        for c, chip in self.programs["chips"].items():
            exe = self.folder / chip["program"]
            if not exe.is_file():
                raise ExportError(f"{exe}: not built; run `make -C {self.folder / 'c'}` first")
            image = self.folder / self.manifest["chips"][int(c)]["image"]
            self.procs[int(c)] = subprocess.Popen([str(exe), str(image)], stdin=subprocess.PIPE,
                                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def close(self) -> None:
        for c, proc in self.procs.items():
            proc.stdin.close()
            if proc.wait(timeout=30) != 0:
                raise ExportError(f"chip {c}'s program ended with {proc.returncode}: "
                                  f"{proc.stderr.read().decode().strip()}")

    def round_input(self, x: np.ndarray) -> np.ndarray:
        """The model input rounded to the chips' input format, as ``fixed.quantize`` does (ties to even)."""
        wl, fl = self.programs["input_format"]
        scaled = np.rint(x.astype(np.float64) * 2.0 ** fl + 0.5 - 0.5)
        return np.clip(scaled, -2.0 ** (wl - 1), 2.0 ** (wl - 1) - 1) * 2.0 ** -fl

    def compute(self, step: dict, leaves: list[np.ndarray]) -> list[np.ndarray]:
        wake = self.programs["wakes"][str(step["index"])]
        if wake.get("host"):                    # the host's one wake: the input's rounding
            return [self.round_input(leaves[0])]
        proc = self.procs[wake["chip"]]
        chunks = []
        for x, spec in zip(leaves, wake["inputs"], strict=True):
            if spec.get("input"):
                x = self.round_input(x)
            scaled = x.astype(np.float64) * 2.0 ** spec["fl"]
            codes = scaled.astype(WIDTH[spec["width"]])
            if not np.array_equal(codes, scaled):
                raise ExportError(f"wake {step['index']}: a value is not on the codes its chip takes")
            chunks.append(codes.tobytes())
        try:
            proc.stdin.write(b"".join(chunks))
            proc.stdin.flush()
        except BrokenPipeError:
            raise ExportError(f"chip {wake['chip']}'s program stopped: {proc.stderr.read().decode().strip()}") from None
        outs = []
        for spec in wake["outputs"]:
            raw = proc.stdout.read(4 * spec["numel"])
            if len(raw) != 4 * spec["numel"]:
                raise ExportError(f"chip {wake['chip']}'s program stopped: {proc.stderr.read().decode().strip()}")
            codes = np.frombuffer(raw, dtype="<i4").reshape(1, *spec["shape"])
            outs.append(codes.astype(bool) if spec["kind"] == "bool" else codes.astype(np.int64)
                        if spec["kind"] == "int" else codes * 2.0 ** -spec["fl"])
        return outs


if __name__ == "__main__":
    raise SystemExit(run_main(system_class=ChipProcesses))
