"""Checkpoint files: ``checkpoints/<name>.pt`` (weights) beside ``<name>.json`` (what they were trained on) —
their records, reading and atomic writing. ``checkpoint.load`` (the package) turns a name into a model.

Usage::

    from illusion_torch.checkpoint.files import record, read_weights, save_checkpoint
    ck = record("mnist")                         # a Checkpoint: dataset, source, sizes, accuracies, recipe, …
    x, y = ck.test_data(limit=500)               # the test split it was measured on
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import data, models
from ..errors import IllusionError
from ..files import write_atomic
from ..fixed import quantize
from ..workload import config_of

__all__ = ["Checkpoint", "record", "save_checkpoint", "read_weights", "state_of", "metadata",
           "checkpoint_dir", "available", "CheckpointError"]

FORMAT_VERSION = 1


class CheckpointError(IllusionError):
    """A checkpoint is missing or unreadable; the message says what to do."""


@dataclass(frozen=True)
class Checkpoint:
    """What a shipped checkpoint records (its JSON), typed: in the spirit of torchvision's ``Weights``."""

    name: str
    model: str                  # the registry name of its architecture
    dataset: str                # the data it was trained on (``synth-digits`` where that is synthetic)
    data_key: str               # the ``il.data`` name that loads it
    synthetic: bool
    source: str
    test_accuracy: float | None     # None: a model measured by another metric (``meta["metric"]``)
    weight_bytes: int
    path: Path
    meta: dict[str, Any] = field(repr=False, default_factory=dict)

    def test_data(self, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The test split this checkpoint was measured on (the first ``limit`` samples)."""
        return data.load(self.data_key, "test", limit=limit)


def checkpoint_dir() -> Path:
    env = os.environ.get("ILLUSION_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "checkpoints"


def available(directory: str | os.PathLike | None = None) -> list[str]:
    d = Path(directory) if directory else checkpoint_dir()
    return sorted(p.stem for p in d.glob("*.json"))


def save_checkpoint(model: nn.Module, meta: dict, out_dir: str | os.PathLike) -> None:
    """Write ``<out_dir>/<name>.pt`` and ``.json`` atomically (``meta["name"]`` names them). Parameters on the
    model's fixed-point grid of 8 bits or fewer are stored as int8 codes (a quarter of float32's bytes)."""
    out_dir = Path(out_dir)
    name = meta["name"]
    kwargs = meta.get("recipe", {}).get("model_kwargs", {})
    state = model.state_dict()
    fmt = config_of(model).weight_format
    codes = {}
    if fmt is not None and fmt.wl <= 8:
        for pname, p in model.named_parameters():
            t = p.detach()
            if torch.equal(quantize(t, fmt.wl, fmt.fl), t):
                codes[pname] = torch.round(t * 2.0 ** fmt.fl).to(torch.int8)
                del state[pname]
    blob = {"format_version": FORMAT_VERSION, "model": meta["model"], "model_kwargs": kwargs, "state_dict": state,
            **({"codes": codes, "code_fl": fmt.fl} if codes and fmt is not None else {})}
    write_atomic(out_dir / f"{name}.pt", lambda path: torch.save(blob, path))
    write_atomic(out_dir / f"{name}.json", lambda path: path.write_text(json.dumps(meta, indent=2) + "\n"))


def metadata(name: str, directory: str | os.PathLike | None = None) -> dict:
    """The checkpoint's JSON as a dict."""
    return record(name, directory).meta


_FIELDS: dict[str, type | tuple[type, ...]] = {"name": str, "model": str, "dataset": str, "synthetic": bool,
                                               "source": str, "test_accuracy": (int, float, type(None)),
                                               "weight_bytes": int, "recipe": dict}


def record(name: str, directory: str | os.PathLike | None = None) -> Checkpoint:
    """The typed record of checkpoint ``name``; a missing, corrupt or incomplete JSON is one clear error."""
    d = Path(directory) if directory else checkpoint_dir()
    path = d / f"{name}.json"
    if not path.is_file():
        have = available(d)
        hint = f" (train one with `illusion train {name}`)" if name in models.list_models() else ""
        raise CheckpointError(f"no checkpoint {name!r} in {d}; shipped: {', '.join(have) or 'none'}{hint}")
    fix = f"restore it with `git checkout -- {path}` or retrain with `illusion train {name}`"
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e}); {fix}") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} holds a JSON {type(meta).__name__}, not a checkpoint record; {fix}")
    bad = [k for k, t in _FIELDS.items() if not isinstance(meta.get(k), t)]
    if bad or not isinstance(meta["recipe"].get("dataset"), str):
        missing = bad or ["recipe.dataset"]
        raise CheckpointError(f"{path} lacks or has a wrong type for {', '.join(missing)}; {fix}")
    return Checkpoint(meta["name"], meta["model"], meta["dataset"], meta["recipe"]["dataset"], meta["synthetic"],
                      meta["source"], None if meta["test_accuracy"] is None else float(meta["test_accuracy"]),
                      meta["weight_bytes"], d / f"{name}.pt", meta)


def state_of(blob: dict) -> dict[str, torch.Tensor]:
    """A saved checkpoint's full state dict: int8 weight codes (if any) read back as values."""
    state = dict(blob["state_dict"])
    for pname, c in blob.get("codes", {}).items():
        state[pname] = c.float() * 2.0 ** -blob["code_fl"]
    return state


def read_weights(path: Path, model_name: str, retrain: str) -> nn.Module:
    """The registry model ``model_name`` with the weights of the file ``path`` (``save_checkpoint``'s format);
    a missing, corrupt or foreign file is one CheckpointError that ends with ``retrain`` (what remakes it)."""
    fix = f"restore it with `git checkout -- {path}` or {retrain}"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing (its JSON exists); {fix}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob["model"] != model_name:
            raise CheckpointError(f"holds a {blob['model']!r} model but its JSON names {model_name!r}")
        model = models.get_model(blob["model"], **blob.get("model_kwargs", {}))
        model.load_state_dict(state_of(blob))
    except Exception as e:  # unpickling, key or shape errors all mean the same to the user
        raise CheckpointError(f"{path} is corrupt or from another model ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}); {fix}") from None
    return model
