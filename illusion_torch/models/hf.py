"""Hugging Face transformers models as the chips take them: one input tensor, the model's main tensor out.

Usage::

    from illusion_torch.models.hf import load_hf, HFModel
    model = load_hf("path/to/folder")     # config.json (+ its weights when present, random init when not)
    model(torch.randint(0, model.config.vocab_size, (1, 16)))   # logits (or the last hidden state)
    model = HFModel(transformers_model)   # wrap one you already built

``illusion partition --model hf:DIR`` and every other command take such a folder. transformers is an optional
extra (``pip install --no-deps transformers regex typer``; ``make setup`` installs it); the base install never
imports it. The wrapper passes a token model its attention mask made from the token ids inside the model the
chips run (an encoder pads with ``pad_token_id``) and returns ``logits`` where the model
has them, else ``last_hidden_state``. Its ``config`` is the workload record: token ids below the vocabulary,
16 of them by default, or the vision config's images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.wheels import require_transformers
from ..errors import IllusionError
from ..workload import WorkloadConfig

__all__ = ["HFModel", "load_hf", "DEFAULT_TOKENS"]

DEFAULT_TOKENS = 16
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


def _workload(hf: nn.Module, name: str) -> WorkloadConfig:
    cfg = hf.config
    vocab = getattr(cfg, "vocab_size", None)
    if getattr(cfg, "image_size", None) and getattr(cfg, "num_channels", None):
        size = cfg.image_size if isinstance(cfg.image_size, int) else cfg.image_size[0]
        return WorkloadConfig(name, input_shape=(cfg.num_channels, size, size),
                              num_classes=getattr(cfg, "num_labels", None))
    return WorkloadConfig(name, input_shape=(DEFAULT_TOKENS,), vocab_size=vocab)


class HFModel(nn.Module):
    """A transformers model with one input tensor (token ids, or pixel values) and one output tensor."""

    def __init__(self, hf: nn.Module, name: str | None = None) -> None:
        super().__init__()
        self.hf = hf.eval()
        cfg = hf.config
        self.config = _workload(hf, name or f"hf-{getattr(cfg, 'model_type', type(hf).__name__)}")
        arch = type(hf).__name__
        pad = getattr(cfg, "pad_token_id", None)
        # an encoder reads which tokens are padding from the ids; a causal LM masks the future by itself
        self.pad_token_id = pad if pad is not None and self.config.vocab_size is not None and not (
            arch.endswith("ForCausalLM") or getattr(cfg, "is_decoder", False)) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.vocab_size is None:
            out = self.hf(pixel_values=x)
        elif self.pad_token_id is not None:
            out = self.hf(input_ids=x, attention_mask=(x != self.pad_token_id).long())
        else:
            out = self.hf(input_ids=x)
        logits = getattr(out, "logits", None)
        return logits if logits is not None else out.last_hidden_state


def _model_class(transformers: Any, config: Any) -> Any:
    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    return transformers.AutoModel


def load_hf(folder: str | os.PathLike, *, seed: int = 0, **kwargs: Any) -> HFModel:
    """The model in ``folder`` (a Hugging Face model folder: ``config.json``, with its weights when present —
    safetensors, a PyTorch bin or a ``gguf_file=`` — else random init from ``seed``), wrapped by ``HFModel``."""
    path = Path(folder).expanduser()
    if not (path / "config.json").is_file() and "gguf_file" not in kwargs:
        raise IllusionError(f"hf:{folder}: no config.json there; give a Hugging Face model folder (config.json, "
                            f"and model.safetensors for its weights)")
    transformers = require_transformers()
    try:
        if "gguf_file" in kwargs:
            config = transformers.AutoConfig.from_pretrained(path, gguf_file=kwargs["gguf_file"])
        else:
            config = transformers.AutoConfig.from_pretrained(path)
        cls = _model_class(transformers, config)
        if any((path / f).is_file() for f in WEIGHT_FILES) or "gguf_file" in kwargs:
            hf = cls.from_pretrained(path, **{"use_kernels": False, **kwargs})   # no hub kernels: offline
            note = ""
        else:
            torch.manual_seed(seed)
            hf = cls.from_config(config) if cls is transformers.AutoModel else cls(config)
            note = "-random-init"
    except IllusionError:
        raise
    except Exception as e:        # transformers raises many types for a folder it cannot read
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:240]
        raise IllusionError(f"hf:{folder}: transformers cannot load it: {type(e).__name__}: {first}") from None
    if getattr(hf.config, "use_cache", False):
        hf.config.use_cache = False                # our own copy: no KV cache, the chips run whole sequences
    return HFModel(hf, f"hf-{path.name}{note}")
