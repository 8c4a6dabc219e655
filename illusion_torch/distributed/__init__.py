"""Chips as processes on torch.distributed: rank 0 the host, the other ranks contiguous chip groups, values
between them by point-to-point sends (gloo). See ``launch.py`` (local runs) and ``__main__.py`` (torchrun).

Usage::

    from illusion_torch.distributed import run_distributed
    result = run_distributed(system, x, procs=5)     # logits bit-identical to Runtime(system).run(x)
    result.wire_bytes                                # bytes sent between chip ranks
"""

from .launch import SCHEDULES, DistributedResult, RankStats, distributed_meta, run_distributed

__all__ = ["run_distributed", "DistributedResult", "RankStats", "SCHEDULES", "distributed_meta"]
