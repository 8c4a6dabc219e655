"""Hugging Face transformers models through the torch.export door, and the bytes that door costs.

    python benchmarks/hf_models.py [--chips 16,64,256] [--time-limit 10]

GPT-2, BERT, Llama (grouped-query attention, rotary embeddings, SwiGLU, RMS norms, tied LM head) and ViT from
transformers, small random-init configs (hidden 64, 2 layers, 4 heads, vocabulary 1,000, 16 tokens or 32×32
images; SYNTHETIC seeded random inputs), at each chip count (capacity 1.25 × an even share of the weights the
graph stores): chips used, bytes between chips, parameters placed, float64 max |Δ| / max |ref| of the chips
against the user's model itself run in float64, the weight bytes the chips' memory images hold (a tied LM head
stored once: the parameters plus stored buffers), and whether the model's ``fixed_point_version`` is bit-identical
chip by chip. Then a same-shape plain-torch twin (``nn.Embedding``, two ``nn.TransformerEncoderLayer``s, a linear
head) through both doors: bytes between chips on the torch.export path over the fx path.
Writes benchmarks/results/hf_models.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import transformers as T
from torch import nn

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.fixed.quantized import fixed_point_version
from illusion_torch.models.hf import HFModel
from illusion_torch.runtime import Runtime

RESULTS = Path(__file__).parent / "results"


def _models() -> dict:
    return {
        "gpt2": (T.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=1000, n_positions=64, bos_token_id=0,
                              eos_token_id=0), T.GPT2LMHeadModel, (16,)),
        "bert": (T.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                              vocab_size=1000, max_position_embeddings=64), T.BertModel, (16,)),
        "llama": (T.LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                intermediate_size=128, vocab_size=1000, max_position_embeddings=64,
                                tie_word_embeddings=True, bos_token_id=0, eos_token_id=0), T.LlamaForCausalLM,
                  (16,)),
        "vit": (T.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                            image_size=32, patch_size=8, num_labels=10), T.ViTForImageClassification, (3, 32, 32)),
    }


class Twin(nn.Module):
    def __init__(self, vocab: int = 1000, d: int = 64, heads: int = 4, ff: int = 128) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(d, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(self.emb(x)))


def _capacity(model: nn.Module, x: torch.Tensor, chips: int, capture: str = "auto") -> int:
    return -(-partitioning.trace(model, x, capture=capture).weight_bytes * 5 // (4 * chips))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chips", default="16,64,256")
    p.add_argument("--time-limit", type=float, default=10.0)
    args = p.parse_args()
    counts = [int(c) for c in args.chips.split(",")]
    rows, twins = [], []
    for name, (config, cls, shape) in _models().items():
        torch.manual_seed(0)
        model = HFModel(cls(config), name).eval()
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(3, *shape, generator=gen) if len(shape) == 3 else torch.randint(1, 1000, (3, *shape),
                                                                                            generator=gen)
        with torch.no_grad():
            ref = model.double()(x.double() if x.is_floating_point() else x)
        model.float()
        fixed = fixed_point_version(model, x[:1])
        for chips in counts:
            t = time.perf_counter()
            system = il.partition(model, x[:1], chips=chips, capacity=_capacity(model, x[:1], chips),
                                  time_limit_s=args.time_limit)
            out = system(x)
            fsys = il.partition(fixed, x[:1], chips=chips, capacity=_capacity(fixed, x[:1], chips),
                                time_limit_s=args.time_limit)
            rows.append({"model": name, "chips_asked": chips, "chips": system.mapping.n_chips,
                         "capture": system.graph.capture, "inter_chip_bytes": system.inter_chip_bytes,
                         "params_bytes": system.params_bytes, "placed_bytes": system.placed_bytes,
                         "unused_bytes": system.unused_bytes,
                         "stored_bytes": sum(r.nbytes for img in Runtime(system).images for r in img.regions
                                             if r.kind.value == "weight"),
                         "max_rel_diff": float((out - ref).abs().max() / ref.abs().max()),
                         "fixed_point_bit_identical": bool(torch.equal(fsys(x), fsys.reference(x))),
                         "s": round(time.perf_counter() - t, 1)})
            print(json.dumps(rows[-1]), flush=True)
    torch.manual_seed(0)
    twin = Twin().eval()
    x = torch.randint(0, 1000, (1, 16), generator=torch.Generator().manual_seed(2))
    for chips in (15, *counts):
        moved = {}
        for door in ("fx", "torch.export"):
            s = il.partition(twin, x, chips=chips, capacity=_capacity(twin, x, chips, door),
                             time_limit_s=args.time_limit, capture=door)
            moved[door] = (s.inter_chip_bytes, s.mapping.n_chips)
        twins.append({"chips_asked": chips, "fx_bytes": moved["fx"][0], "fx_chips": moved["fx"][1],
                      "export_bytes": moved["torch.export"][0], "export_chips": moved["torch.export"][1],
                      "ratio": round(moved["torch.export"][0] / moved["fx"][0], 3)})
        print(json.dumps(twins[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "hf_models.json").write_text(json.dumps({"models": rows, "twin": twins}, indent=2) + "\n")
    lines = ["# transformers models on chips (benchmarks/hf_models.py)", "",
             "| model | chips (asked) | capture | bytes between chips | parameters placed (unused) | "
             "stored in the chips' memory | max rel Δ (float64, vs the model) | fixed point bit-identical | s |",
             "|---|---|---|---:|---|---:|---:|---|---:|",
             *[f"| {r['model']} | {r['chips']} ({r['chips_asked']}) | {r['capture']} | {r['inter_chip_bytes']:,} | "
               f"{r['placed_bytes']:,} of {r['params_bytes']:,} B ({r['unused_bytes']:,}) | {r['stored_bytes']:,} | "
               f"{r['max_rel_diff']:.1e} | "
               f"{r['fixed_point_bit_identical']} | {r['s']} |" for r in rows],
             "", "Plain-torch twin, bytes between chips per inference:", "",
             "| chips asked | fx (chips) | torch.export (chips) | export / fx |", "|---:|---:|---:|---:|",
             *[f"| {t['chips_asked']} | {t['fx_bytes']:,} ({t['fx_chips']}) | {t['export_bytes']:,} "
               f"({t['export_chips']}) | {t['ratio']} |" for t in twins]]
    (RESULTS / "hf_models.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
