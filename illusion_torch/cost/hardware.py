"""What a chip costs: ``ChipSpec`` and the presets the cost model prices counters with.

Usage::

    from illusion_torch.cost.hardware import preset, PRESETS
    spec = preset("paper-testchip")            # the measured MSP430 + RRAM chip (docs/paper.md), calibrated
    spec.active_power_w, spec.cycles_per_mac
    preset("accelerator-28nm").dataflow        # the nn_dataflow chip each layer is scheduled on
    preset("accelerator-28nm").with_link_cost(4)   # links 4 × as costly (energy, latency, time per byte)

A chip is priced by what it does (``runtime`` counts it): MACs, other arithmetic ops (ReLU, rounding,
pooling comparisons, partial-sum adds), layer invocations, weight reads from non-volatile memory (NVM),
activation writes, message words, wake-ups; and by how long it is on (active power) or asleep (sleep power).

Sources:
- ``paper-testchip``: docs/paper.md "The test chip": 1 MHz, 4.7 µs wake-up and shutdown, ≈1 µW shut down, board
  active power ≈0.73 mW, 16-bit message words through a FIFO relayed by the system's controller. Its free
  constants (cycles per MAC / op / layer / message word, active and sleep power) are fitted by
  ``benchmarks/calibrate.py`` to the ideal-chip times and energies and the 4-chip ratios; the numbers below
  are that script's output (it checks they match).
- ``accelerator-28nm``: the chip below with each layer (slice) priced by nn_dataflow's schedule, as the paper's
  scale-up simulator did (``cost.dataflow``: the configuration, how access counts become joules and cycles),
  and timed through the memory system's latencies (``DataflowChip.memory_cycles``); what no schedule covers
  (ReLU, pooling, adds, embedding rows) is priced by the roofline figures below.
- ``accelerator-28nm-schedule``: the same, timed by the schedules' cycles alone (no latencies): the time every
  earlier result of this preset used.
- ``accelerator-28nm-roofline``: docs/paper.md "The scale-up simulation": 4,096 PEs at 1 GHz; MAC 1.9 pJ + register file
  7.36 pJ per MAC; RRAM read 0.8 pJ/bit, write 1.5 pJ/bit; active leakage 3.17 W; asleep 3.096 mW; links
  32 GB/s, 100 ns, 256 pJ/B. Weights are read from RRAM once per inference (the 2 MiB global buffer reuses
  them); one cycle per 4,096 MACs, i.e. full PE utilization (an optimistic bound, as for the ideal chip).
- ``dram-chip``: ``accelerator-28nm`` with its main memory (weights and spilled feature maps) in off-chip DRAM
  instead of RRAM: the same schedule search at the DRAM's bandwidth, every main-memory access at DRAM energy.
- ``dram-chip-roofline``: the roofline accelerator with weights in off-chip DRAM, streamed in once per
  inference through a 2 MiB on-chip buffer.
- DRAM figures: 20 pJ/bit: Horowitz, "Computing's energy problem", ISSCC 2014 (45 nm:
  1.3–2.6 nJ per 64-bit DRAM access, i.e. 20–40 pJ/bit; we take the low end). Bandwidth 25.6 GB/s (a 64-bit
  LPDDR4-3200 interface), not overlapped with compute. Every preset carries these DRAM figures for the
  "same chip with DRAM" comparison column of a report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from ..errors import IllusionError
from .dataflow import PAPER_CHIP, DataflowChip

__all__ = ["ChipSpec", "PRESETS", "preset"]


@dataclass(frozen=True)
class ChipSpec:
    """One chip's speed, energy and memory. Times in s, energies in J, powers in W, sizes in bytes."""

    name: str
    clock_hz: float
    # compute: cycles per unit of work (a fraction for parallel hardware)
    cycles_per_mac: float                # convolutions (and any MAC without its own figure below)
    cycles_per_op: float                 # ReLU, rounding, pooling comparison, partial-sum add (per value)
    cycles_per_layer: float              # setting up one layer (slice) invocation: loops, pointers
    cycles_per_fc_mac: float | None = None     # fully connected layers (None: cycles_per_mac)
    cycles_per_lstm_mac: float | None = None   # LSTM gates (None: cycles_per_mac)
    # energy beyond active power, per unit of work
    mac_j: float = 0.0
    op_j: float = 0.0
    nvm_read_j_per_bit: float = 0.0
    nvm_write_j_per_bit: float = 0.0
    active_power_w: float = 0.0          # while the chip is on (board power, or leakage of an accelerator)
    sleep_power_w: float = 0.0           # shut down (weights kept in NVM)
    wake_s: float = 0.0
    shutdown_s: float = 0.0
    # messages
    word_bytes: int = 2                  # a message travels in words of this size
    cycles_per_word_send: float = 0.0    # sender's cycles per word (pushing it into the FIFO / link)
    cycles_per_word_recv: float = 0.0    # receiver's cycles per word
    link_bytes_per_s: float = float("inf")
    link_latency_s: float = 0.0          # per message
    link_j_per_byte: float = 0.0
    # memory
    nvm_bytes: int = 0                   # weight capacity of one chip (the default --capacity)
    sram_bytes: int = 0                  # activation buffer
    weights_buffered: bool = False       # weights read from NVM once per inference (a buffer reuses them),
    #                                      else once per use (per MAC)
    weights_in_dram: bool = False        # weights streamed from off-chip DRAM every inference
    dram_j_per_bit: float = 20e-12
    dram_bytes_per_s: float = 25.6e9
    dataflow: DataflowChip | None = None     # price each layer by its nn_dataflow schedule (cost.dataflow)
    link_cost: float = 1.0                   # the link multiplier these link figures carry (with_link_cost)
    description: str = ""

    def mac_cycles(self, macs: float, fc_macs: float = 0.0, lstm_macs: float = 0.0) -> float:
        """Cycles for ``macs`` MACs of which ``fc_macs`` are in FC layers and ``lstm_macs`` in LSTM gates."""
        fc = self.cycles_per_mac if self.cycles_per_fc_mac is None else self.cycles_per_fc_mac
        lstm = self.cycles_per_mac if self.cycles_per_lstm_mac is None else self.cycles_per_lstm_mac
        return (macs - fc_macs - lstm_macs) * self.cycles_per_mac + fc_macs * fc + lstm_macs * lstm

    def with_dram(self) -> ChipSpec:
        """The same chip with its weights in off-chip DRAM (the report's DRAM-chip comparison)."""
        if self.weights_in_dram or (self.dataflow is not None and self.dataflow.memory == "dram"):
            return self
        if self.dataflow is not None:          # the schedules' main memory becomes the off-chip DRAM
            memory = self.dataflow.with_memory("dram", bytes_per_cycle=self.dram_bytes_per_s / self.clock_hz,
                                               read_j_per_bit=self.dram_j_per_bit, write_j_per_bit=self.dram_j_per_bit)
            return replace(self, name=f"{self.name}+dram", dataflow=memory)
        return replace(self, name=f"{self.name}+dram", weights_in_dram=True)

    def with_link_cost(self, k: float) -> ChipSpec:
        """The same chip with links ``k`` × as costly: energy per byte, latency and time per byte all × k (the
        paper's link sensitivity study: ×2, ×4, ×8)."""
        if not (math.isfinite(k) and k > 0):
            raise IllusionError(f"a link-cost multiplier must be a positive finite number, got {k!r}")
        if k == 1:
            return self
        base = self.link_cost
        return replace(self, name=f"{self.name.split('@')[0]}@link×{base * k:g}", link_cost=base * k,
                       link_j_per_byte=self.link_j_per_byte * k, link_latency_s=self.link_latency_s * k,
                       link_bytes_per_s=self.link_bytes_per_s / k)

    def as_dict(self) -> dict:
        return asdict(self)


_PAPER_TESTCHIP = ChipSpec(
    name="paper-testchip",
    description="openMSP430 + memory-mapped MAC + RRAM test chip at 1 MHz (docs/paper.md), calibrated",
    clock_hz=1e6,
    # fitted by benchmarks/calibrate.py (ideal-chip times/energies and 4-chip ratios of docs/paper.md); the fit
    # leaves nothing to per-op or per-layer cycles (they went to 0), the MAC loops carry the time
    cycles_per_mac=30.29,
    cycles_per_fc_mac=128.4,
    cycles_per_lstm_mac=21.73,
    cycles_per_op=0.0,
    cycles_per_layer=0.0,
    active_power_w=0.7241e-3,
    sleep_power_w=0.9865e-6,
    wake_s=4.7e-6,
    shutdown_s=4.7e-6,
    word_bytes=2,
    cycles_per_word_send=24.38,
    cycles_per_word_recv=24.38,
    nvm_bytes=4096,
    sram_bytes=8192,
    dram_bytes_per_s=2e6,                # a 16-bit bus at the 1 MHz clock
)

_ROOFLINE_28NM = ChipSpec(
    name="accelerator-28nm-roofline",
    description="Eyeriss-like accelerator, 4,096 PEs at 1 GHz, on-chip RRAM, 28 nm (docs/paper.md scale-up), every PE "
                "busy every cycle (analytic bound)",
    clock_hz=1e9,
    cycles_per_mac=1 / 4096,
    cycles_per_op=1 / 4096,
    cycles_per_layer=0.0,
    mac_j=(1.9 + 7.36) * 1e-12,
    nvm_read_j_per_bit=0.8e-12,
    nvm_write_j_per_bit=1.5e-12,
    active_power_w=3.17,
    sleep_power_w=3.096e-3,
    word_bytes=2,
    link_bytes_per_s=32e9,
    link_latency_s=100e-9,
    link_j_per_byte=256e-12,
    nvm_bytes=2**20,
    sram_bytes=2 * 2**20,
    weights_buffered=True,
)

_ACCELERATOR_28NM = replace(
    _ROOFLINE_28NM, name="accelerator-28nm", dataflow=PAPER_CHIP,
    mac_j=PAPER_CHIP.mac_j + 2 * PAPER_CHIP.word_bits * PAPER_CHIP.regf_j_per_bit,   # MACs outside a schedule
    nvm_read_j_per_bit=PAPER_CHIP.memory_read_j_per_bit, nvm_write_j_per_bit=PAPER_CHIP.memory_write_j_per_bit,
    description="Eyeriss-like accelerator, 4,096 PEs at 1 GHz, on-chip RRAM, 28 nm (docs/paper.md scale-up), each "
                "layer priced by its nn_dataflow schedule (cost.dataflow)")

_ACCELERATOR_28NM_SCHEDULE = replace(
    _ACCELERATOR_28NM, name="accelerator-28nm-schedule", dataflow=PAPER_CHIP.schedule_only(),
    description="accelerator-28nm timed by its nn_dataflow schedules alone, without the memory system's "
                "latencies (cost.dataflow)")

_DRAM_CHIP = replace(_ACCELERATOR_28NM.with_dram(), name="dram-chip",
                     description="the 28 nm accelerator with its main memory off chip in DRAM (20 pJ/bit, "
                                 "25.6 GB/s; see hardware.py), each layer priced by its nn_dataflow schedule")

_DRAM_CHIP_ROOFLINE = replace(_ROOFLINE_28NM, name="dram-chip-roofline", weights_in_dram=True,
                              description="the roofline accelerator with weights streamed from off-chip DRAM "
                                          "(20 pJ/bit, 25.6 GB/s; see hardware.py)")

PRESETS: dict[str, ChipSpec] = {s.name: s for s in (_PAPER_TESTCHIP, _ACCELERATOR_28NM, _ROOFLINE_28NM, _DRAM_CHIP,
                                                    _DRAM_CHIP_ROOFLINE, _ACCELERATOR_28NM_SCHEDULE)}


def preset(name: str | ChipSpec) -> ChipSpec:
    """The preset called ``name`` (a ChipSpec passes through)."""
    if isinstance(name, ChipSpec):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise IllusionError(f"unknown hardware preset {name!r}; valid presets: {', '.join(PRESETS)}") from None
