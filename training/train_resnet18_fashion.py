"""Train torchvision's ResNet-18 on Fashion-MNIST with QPyTorch (8-bit weights, 16-bit activations), then
fold its batch norms and quantize it for the chips (16-bit per-tensor formats, calibrated on training images).

    python training/train_resnet18_fashion.py [--epochs N] [--out runs/checkpoints]
    python training/train_resnet18_fashion.py --out checkpoints --overwrite      # replaces the shipped one
    python training/train_resnet18_fashion.py --quantize-only --out checkpoints

Writes ``<out>/resnet18-fashion.pt`` (the trained weights as int8 codes + batch-norm state) and ``.json``
(recipe, accuracy as trained and as deployed, the deployed formats).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from illusion_torch.pretrained.quantize import quantize_and_record
from illusion_torch.train import RECIPES, train

NAME = "resnet18-fashion"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=RECIPES[NAME].epochs)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/checkpoints")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--quantize-only", action="store_true", help="keep <out>/resnet18-fashion.pt, redo the rest")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not args.quantize_only:
        if (out / f"{NAME}.json").exists() and not args.overwrite:
            print(f"{out}/{NAME}.json exists; pass --overwrite to replace it", file=sys.stderr)
            return 2
        train(dataclasses.replace(RECIPES[NAME], epochs=args.epochs, seed=args.seed), out_dir=out)
    meta = quantize_and_record(NAME, out)
    print(json.dumps(meta["metric"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
