"""RRAM wear: cells that fail, wear-leveling policies, stuck bits in the chips, years fast-forwarded.

Usage::

    from illusion_torch.wear import simulate
    result = simulate(system, x[:500], y[:500], resilience="distributed-endurer-plus", years=10, seed=0)
    print(result.summary())

Files: ``rram`` (cells, endurance, write-verify, the write-back buffer), ``endurer`` (policies),
``writes`` (what one inference writes where), ``spares`` (spare words for failed ones), ``patterns`` (a write
pattern's wear), ``fastforward`` and ``reports`` (years of wear in closed form), ``faults``
(stuck bits forced into the chip programs) and ``lifetime`` (the fast-forward and the measurements).
"""

from .endurer import POLICIES, Policy, policy
from .faults import FaultyChips, StuckBits
from .lifetime import LABELS, RATES, LifetimePoint, LifetimeResult, simulate
from .rram import PAPER_ENDURANCE, Endurance, RRAMArray, write_back
from .writes import nvm_layout, write_pattern

__all__ = ["simulate", "LifetimeResult", "LifetimePoint", "LABELS", "RATES", "POLICIES", "Policy", "policy",
           "FaultyChips", "StuckBits", "PAPER_ENDURANCE", "Endurance", "RRAMArray", "write_back", "nvm_layout",
           "write_pattern"]
