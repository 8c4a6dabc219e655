"""The jobs behind the ``illusion`` command, as functions: pick a workload, its inputs and its capacity.

Usage::

    from illusion_torch.cli.jobs import job, capacity_for
    j = job("mnist", limit=500)          # the shipped checkpoint and its test split
    j = job("resnet18", limit=4)         # an untrained registry model on SYNTHETIC seeded random inputs
    j = job("torchvision:mobilenet_v3_small", input_shape=(3, 64, 64))   # any torchvision classifier
    j = job("mypkg.nets:build", weights="net.pt")                         # your factory and its state dict
    j = job("mypkg.nets:tagger", input_shape=(12,), vocab=1000)          # token ids in [0, 1000)
    capacity_for(j, chips=8)             # the paper's per-chip memory for MNIST on 8 chips: 512

A trained checkpoint runs on its own test split. A post-training quantized one (``mobilenet_v2``, ``minilm``,
``gpt``, ``resnet18-fashion``) also carries ``metric``, bound to its float model's outputs on the same
inputs; for an ImageNet classifier ``y`` is the float model's top-1 class (the images have no labels), so
accuracy reads as agreement with the float model. Any other model runs on seeded random inputs — normal
values of ``input_shape`` (default: the model's config, else 3×224×224), or token ids below ``vocab`` — named
SYNTHETIC, with no accuracy.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import sys
from dataclasses import dataclass

import torch
from torch import nn

from .. import checkpoint, models
from ..errors import IllusionError
from ..metrics import Metric
from ..paper import default_capacity
from ..units import format_bytes, parse_bytes
from ..workload import config_of

__all__ = ["Job", "job", "build_model", "capacity_for", "UNTRAINED_INPUTS"]

UNTRAINED_INPUTS = 4            # random inputs an untrained model runs by default
RANDOM_DATASETS = ("random-normal", "random-tokens")     # SYNTHETIC inputs: values, token ids


@dataclass
class Job:
    """A model and the inputs a command runs it on."""

    name: str
    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor | None      # None: untrained, random inputs
    dataset: str
    synthetic: bool
    metric: Metric | None = None      # a post-training quantized checkpoint's quality measure
    labels: str = "labels"            # what ``y`` holds: "labels" or "float-model top-1"

    @property
    def trained(self) -> bool:
        return self.y is not None

    @property
    def random_inputs(self) -> bool:
        """The inputs are seeded random values or token ids (``--input-shape``/``--vocab``), not a dataset's."""
        return self.dataset in RANDOM_DATASETS


def _factory(spec: str) -> nn.Module:
    """``package.module:factory`` called: the module is looked up in the current folder too (as ``python -m``
    does), and every way it can fail is one line naming ``spec``."""
    module_name, attr = spec.split(":", 1)
    if not module_name or not attr:
        raise IllusionError(f"--model {spec!r}: give package.module:factory, e.g. mypkg.nets:build")
    here = os.getcwd()
    added = here not in sys.path and "" not in sys.path
    if added:                      # as `python -m` does; only while the module is imported
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise IllusionError(f"--model {spec!r}: no module {e.name!r} in the current folder ({here}) or "
                                f"among the installed packages; run from the folder that holds {e.name}.py (or "
                                f"its package), or add that folder to PYTHONPATH") from None
        raise IllusionError(f"--model {spec!r}: importing {module_name} failed: {e}") from None
    except Exception as e:         # the user's module itself fails: say so, in one line
        raise IllusionError(f"--model {spec!r}: importing {module_name} failed: {type(e).__name__}: "
                            f"{_first_line(e)}") from None
    finally:
        if added:
            sys.path.remove(here)
    if not hasattr(module, attr):
        names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise IllusionError(f"--model {spec!r}: {module_name} has no {attr!r}; callables there: "
                            f"{', '.join(names[:12]) or 'none'}")
    factory = getattr(module, attr)
    if not callable(factory):
        raise IllusionError(f"--model {spec!r} is {type(factory).__name__} {factory!r}, not a callable that "
                            f"returns an nn.Module")
    try:
        needed = [p.name for p in inspect.signature(factory).parameters.values()
                  if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        needed = []
    if needed:
        raise IllusionError(f"--model {spec!r} takes arguments ({', '.join(needed)}); give a factory that takes "
                            f"none (e.g. def build(): return Net(...))")
    try:
        made = factory()
    except Exception as e:
        raise IllusionError(f"--model {spec!r} raised {type(e).__name__}: {_first_line(e)}; fix the factory") \
            from None
    if not isinstance(made, nn.Module):
        raise IllusionError(f"--model {spec!r} returned {type(made).__name__}, not an nn.Module")
    return made


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def _load_weights(model: nn.Module, weights: str | os.PathLike, spec: str) -> None:
    """A state dict file loaded strictly into ``model``; one line for a file that is not one, or does not fit."""
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise IllusionError(f"--weights {weights}: no such file") from None
    except Exception as e:        # torch.load raises many types for a file it did not write
        raise IllusionError(f"--weights {weights}: not a state dict saved with torch.save(model.state_dict(), "
                            f"path) ({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise IllusionError(f"--weights {weights} holds a {type(state).__name__}, not a state dict of tensors; save "
                            f"one with torch.save(model.state_dict(), path)")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and state[k].shape != own[k].shape]
    if missing or extra or shapes:
        def few(keys: list[str]) -> str:
            return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        parts = [f"{len(missing)} of the model's tensors missing ({few(missing)})" if missing else "",
                 f"{len(extra)} the model does not have ({few(extra)})" if extra else "",
                 f"shapes differ: {few(shapes)}" if shapes else ""]
        raise IllusionError(f"--weights {weights} does not fit {spec}: {'; '.join(p for p in parts if p)}; give "
                            f"the state dict of this model")
    model.load_state_dict(state)


def build_model(spec: str, weights: str | os.PathLike | None = None) -> nn.Module:
    """A model from ``spec``: a registry name, ``torchvision:NAME``, ``package.module:factory`` or ``hf:DIR`` (a
    Hugging Face model folder, ``models.hf.load_hf``); with
    ``weights``, a state dict loaded strictly."""
    if spec.startswith("hf:"):
        from ..models.hf import load_hf

        if not spec[3:]:
            raise IllusionError("--model hf:DIR: give the Hugging Face model folder after hf:")
        model = load_hf(spec[3:])
    elif spec.startswith("torchvision:"):
        import torchvision.models as tvm

        name = spec.split(":", 1)[1]
        if name not in tvm.list_models(module=tvm):
            raise IllusionError(f"torchvision has no classifier {name!r}; see torchvision.models.list_models()")
        model = tvm.get_model(name, weights=None)
    elif ":" in spec:
        model = _factory(spec)
    else:
        model = models.get_model(spec)
    if next(model.parameters(), None) is None:
        raise IllusionError(f"--model {spec!r} has no parameters: there are no weights to place on chips")
    if weights is not None:
        _load_weights(model, weights, spec)
    return model.eval()


def _random_inputs(model: nn.Module, n: int, shape: tuple[int, ...], vocab: int | None) -> torch.Tensor:
    """Seeded SYNTHETIC inputs, refused with one line when they would not fit in memory or hold token ids the
    model's first embedding has no row for."""
    need = n * math.prod(shape) * (8 if vocab is not None else 4)
    have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if need > have // 4:
        raise IllusionError(f"--input-shape {','.join(map(str, shape))}: {n} such inputs take {format_bytes(need)}, "
                            f"more than a quarter of this machine's {format_bytes(have)} memory; give a smaller "
                            f"shape")
    gen = torch.Generator().manual_seed(0)
    if vocab is None:
        return torch.randn(n, *shape, generator=gen)
    table = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if table is not None and vocab > table.num_embeddings:
        raise IllusionError(f"--vocab {vocab}: the model's embedding {type(table).__name__} has "
                            f"{table.num_embeddings} rows, so token ids stop at {table.num_embeddings - 1}; give "
                            f"--vocab {table.num_embeddings} or less")
    return torch.randint(0, vocab, (n, *shape), generator=gen)


def job(name: str, *, limit: int | None = None, input_shape: tuple[int, ...] | None = None,
        vocab: int | None = None, weights: str | os.PathLike | None = None) -> Job:
    """The shipped checkpoint ``name`` on its test split (on random inputs when ``input_shape`` or ``vocab`` is
    given), else the model ``name`` (see ``build_model``) on seeded random inputs."""
    if name in checkpoint.available() and weights is None:
        model = checkpoint.load(name)
        if input_shape is None and vocab is None:
            ck = checkpoint.record(name)
            if limit is None and "quantization" in ck.meta:
                from ..pretrained.tasks import TASKS

                limit = TASKS[name].run_limit if name in TASKS else None
            x, y = ck.test_data(limit=limit)
            if "quantization" not in ck.meta:
                return Job(name, model, x, y, ck.dataset, ck.synthetic)
            from ..pretrained.quantize import task_metric

            metric = task_metric(name, x, y)
            if metric.kind == "agreement":
                return Job(name, model, x, metric.float_outputs.argmax(1), ck.dataset, ck.synthetic, metric,
                           "float-model top-1")
            if metric.kind == "accuracy":
                return Job(name, model, x, y, ck.dataset, ck.synthetic, metric)
            return Job(name, model, x, None, ck.dataset, ck.synthetic, metric)
    else:
        model = build_model(name, weights)
        if name.startswith("hf:") and vocab is None and weights is None:
            held = _held_out_text(name[3:], model, limit, input_shape)
            if held is not None:
                return held
    shape = input_shape or config_of(model).input_shape
    n = limit or UNTRAINED_INPUTS
    vocab = vocab or config_of(model).vocab_size
    x = _random_inputs(model, n, shape, vocab)
    return Job(name, model, x, None, RANDOM_DATASETS[vocab is not None], True)


def _held_out_text(folder: str, model: nn.Module, limit: int | None,
                   input_shape: tuple[int, ...] | None) -> Job | None:
    """A pretrained causal language model's folder that holds its tokenizer: the held-out State of the Union
    addresses (2011 on) in windows of its own tokens (``input_shape``: the window, default 64; ``limit``
    windows, default 8), measured by perplexity against the model itself. None for any other model."""
    from pathlib import Path

    from ..metrics import metric_for
    from ..models.hf import HFModel
    from ..pretrained.quantize import batched_outputs

    path = Path(folder).expanduser()
    tokenizer_files = ("tokenizer.json", "tokenizer_config.json", "vocab.json")
    if not isinstance(model, HFModel) or model.config.name.endswith("-random-init") or \
            not _causal_lm(model.hf) or \
            not any((path / f).is_file() for f in tokenizer_files) or \
            (input_shape is not None and len(input_shape) != 1):
        return None
    from transformers import AutoTokenizer

    from ..data.sotu import PACKAGE
    from ..data.sotu_tokens import sotu_windows

    tok = AutoTokenizer.from_pretrained(path)
    x, y = sotu_windows(tok, "test", limit=limit or 8, window=input_shape[0] if input_shape else 64)
    if len(x) == 0:
        return None
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    metric = metric_for("perplexity", batched_outputs(model, x, batch_size=8), y)
    dataset = f"State of the Union (2011 on, {PACKAGE}; windows of this folder's tokens)"
    return Job(f"hf:{folder}", model, x, None, dataset, False, metric)


def _causal_lm(hf: nn.Module) -> bool:
    """A transformers model that predicts the next token (it can generate; not an encoder-decoder)."""
    can = getattr(hf, "can_generate", None)
    return bool(can is not None and can()) and not getattr(hf.config, "is_encoder_decoder", False)


def capacity_for(w: Job, chips: int, capacity: str | int | None = None) -> int:
    """``capacity`` in bytes, or the shared default rule (``paper.default_capacity``) for ``chips`` chips."""
    if capacity is not None:
        return parse_bytes(capacity)
    return default_capacity(w.name, chips, models.weight_bytes(w.model))
