"""Reproduce a shipped checkpoint; its recipe and departures from the paper: illusion_torch/train/recipes.py.

    python training/train_svhn.py [--epochs N] [--seed S] [--out runs/checkpoints]
    python training/train_svhn.py --out checkpoints --overwrite     # replaces the shipped checkpoint
"""

import sys

from illusion_torch.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "svhn", *sys.argv[1:]]))
