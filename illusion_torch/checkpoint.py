"""Shipped checkpoints: ``checkpoints/<name>.pt`` (weights) beside ``<name>.json`` (what they were trained on).

Usage::

    import illusion_torch as il
    model = il.load("mnist")                     # trained fixed-point MnistCNN, eval mode
    meta = il.checkpoint.metadata("mnist")       # dataset, source, sizes, accuracies, command, ...

The directory is ``$ILLUSION_CHECKPOINTS`` or the repository's ``checkpoints/``. Loading checks that the
weights sit on the model's fixed-point grid, so a float or corrupt file cannot pass silently.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from . import models
from .fixed import quantize

__all__ = ["load", "save_checkpoint", "metadata", "checkpoint_dir", "available", "CheckpointError"]

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing or unreadable; the message says what to do."""


def checkpoint_dir() -> Path:
    env = os.environ.get("ILLUSION_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "checkpoints"


def available(directory: str | os.PathLike | None = None) -> list[str]:
    d = Path(directory) if directory else checkpoint_dir()
    return sorted(p.stem for p in d.glob("*.json"))


def save_checkpoint(model: nn.Module, meta: dict, out_dir: str | os.PathLike) -> None:
    out_dir = Path(out_dir)
    name = meta["name"]
    kwargs = meta.get("recipe", {}).get("model_kwargs", {})
    torch.save({"format_version": FORMAT_VERSION, "model": meta["model"], "model_kwargs": kwargs,
                "state_dict": model.state_dict()}, out_dir / f"{name}.pt")
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n")


def metadata(name: str, directory: str | os.PathLike | None = None) -> dict:
    d = Path(directory) if directory else checkpoint_dir()
    path = d / f"{name}.json"
    if not path.is_file():
        have = available(d)
        raise CheckpointError(f"no checkpoint {name!r} in {d}; shipped: {', '.join(have) or 'none'} "
                              f"(train one with `illusion train {name}`)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is corrupt ({e}); restore it with `git checkout -- {path}`") from None


def load(name: str, directory: str | os.PathLike | None = None) -> nn.Module:
    """The trained model ``name`` in eval mode, weights verified to be fixed point."""
    meta = metadata(name, directory)
    d = Path(directory) if directory else checkpoint_dir()
    path = d / f"{name}.pt"
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = models.get(blob["model"], **blob.get("model_kwargs", {}))
        model.load_state_dict(blob["state_dict"])
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing (its JSON exists); restore it with "
                              f"`git checkout -- {path}` or retrain with `illusion train {name}`") from None
    except Exception as e:  # unpickling, key or shape errors all mean the same to the user
        raise CheckpointError(f"{path} is corrupt or from another model ({type(e).__name__}: {e}); restore "
                              f"it with `git checkout -- {path}` or retrain with `illusion train {name}`") from None
    fmt = getattr(model, "weight_format", None)
    if fmt is not None:
        for pname, p in model.named_parameters():
            if not torch.equal(quantize(p.detach(), fmt.wl, fmt.fl), p.detach()):
                raise CheckpointError(f"{path}: parameter {pname} is not on the {fmt} grid; the file is not "
                                      f"a fixed-point checkpoint of {meta.get('model', name)}")
    model.eval()
    model.checkpoint_meta = meta  # type: ignore[attr-defined]
    return model
