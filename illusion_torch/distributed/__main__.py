"""Every rank of a distributed run, started by torchrun — across hosts or on one.

Usage (the same arguments as ``illusion run``; two hosts, 8 chips, one chip per rank plus the host)::

    # on host A (rank 0, the host: loads the model, ships every rank its chips, writes the report)
    torchrun --nnodes 2 --nproc-per-node 5 --node-rank 0 --master-addr A --master-port 29500 \
        -m illusion_torch.distributed --model mnist --chips 8 --json run.json
    # on host B
    torchrun --nnodes 2 --nproc-per-node 4 --node-rank 1 --master-addr A --master-port 29500 \
        -m illusion_torch.distributed --model mnist --chips 8

(``--nproc-per-node`` may differ per host in torchrun's static rendezvous only when the world size is the
same everywhere; the simplest is the same count on every host, e.g. 3 + 3 for 5 chips.) Rank 0 is the host;
ranks 1 … N − 1 take contiguous chip groups. ``--timeout S`` bounds every wait (default 300 s: rank 0
partitions the model while the others wait).
"""

from __future__ import annotations

import math
import os
import sys

from ..errors import IllusionError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    timeout = 300.0
    if "--timeout" in argv:
        i = argv.index("--timeout")
        try:
            timeout = float(argv[i + 1])
        except (IndexError, ValueError):
            timeout = math.nan
        if not math.isfinite(timeout) or timeout <= 0:
            print("error: --timeout takes a positive number of seconds, e.g. --timeout 300", file=sys.stderr)
            return 2
        del argv[i:i + 2]
    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    except (KeyError, ValueError):
        print("error: python -m illusion_torch.distributed runs under torchrun (RANK and WORLD_SIZE unset); "
              "on one machine use: illusion run --procs N", file=sys.stderr)
        return 2
    if rank != 0:
        from .launch import serve

        try:
            serve(rank, world, None, timeout)
        except KeyboardInterrupt:              # torchrun passes a Ctrl-C on to every rank: end quietly
            return 130
        return 0
    from ..cli import main as cli_main

    try:
        return cli_main(["run", *argv, "--procs", str(world), "--torchrun", "--timeout", f"{timeout:g}"])
    except IllusionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
