"""What a chip did: ``Counters`` of work (MACs, ops, memory accesses, message bytes, wake-ups).

Usage::

    from illusion_torch.runtime.counters import Counters
    c = Counters(macs=86_400, ops=3_456) + Counters(macs=960)
    c.scaled(2000).macs          # the same work for 2,000 inferences

Counts are per inference in a ``Profile`` (one wake's work) and totals over a run in a ``RunResult``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["Counters"]


@dataclass
class Counters:
    macs: float = 0                # all multiply-accumulates; of them:
    fc_macs: float = 0             #   in fully connected (Linear) layers
    lstm_macs: float = 0           #   in LSTM gates
    ops: float = 0                 # other arithmetic per value: ReLU, rounding, pooling comparisons, adds
    layer_calls: float = 0         # layer (slice) invocations; an LSTM slice counts one per step
    weight_reads: float = 0        # values read from the weight memory (NVM)
    weight_read_bits: float = 0
    act_writes: float = 0          # activation values written (own results and received messages)
    act_write_bits: float = 0
    bytes_sent: float = 0          # to other chips or the host
    bytes_received: float = 0
    messages_sent: float = 0
    messages_received: float = 0
    wakeups: float = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scaled(self, k: float) -> Counters:
        return Counters(**{f.name: getattr(self, f.name) * k for f in fields(self)})

    def as_dict(self) -> dict:
        return asdict(self)
