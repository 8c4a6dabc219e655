"""The partition pass: trace a model, map it onto chips, rewrite it into per-chip programs.

Usage::

    from illusion_torch.partitioning import trace, solve, chip_programs
    graph = trace(model, x[:1])                      # torch.fx → OpGraph (layers, bytes, MACs, splits)
    mapping = solve(graph, "512B", chips=8)          # BILP (HiGHS): minimum bytes between chips
    programs = chip_programs(graph, mapping)         # one GraphModule per chip wake-up

Files, in pipeline order: ``ops`` (the op table every stage reads), ``trace``, ``plan`` (what a mapping is,
the messages it implies), the mappers ``bilp``, ``chain_dp``, ``greedy`` and ``solve`` (which picks one),
``slices`` (the modules of a split layer), ``rewrite`` (per-chip graph) and ``wakes`` (the cut).
"""

from .ops import UnknownOpError, register_op
from .plan import Mapping, Message, MessageKind, Piece, Split, activation_bytes, inter_chip_bytes, messages
from .rewrite import chip_programs
from .solver import SOLVERS, Mapper, forced_split_bound, min_chips, solve, sweep_chips
from .trace import CAPTURES, HOST, PARTIAL_SUM_BYTES, CaptureError, Edge, Layer, OpGraph, TraceError, trace
from .wakes import ChipPrograms, cut

__all__ = ["trace", "OpGraph", "Layer", "Edge", "HOST", "PARTIAL_SUM_BYTES", "TraceError", "CaptureError", "CAPTURES",
           "solve", "sweep_chips", "min_chips", "forced_split_bound", "SOLVERS", "Mapper", "Mapping", "Piece", "Split",
           "Message", "MessageKind", "messages", "inter_chip_bytes", "activation_bytes", "chip_programs",
           "ChipPrograms", "cut", "register_op", "UnknownOpError"]
