"""A tied LM head stored once: it runs on the chips of the embedding table it shares, on the rows they hold.

Usage::

    from illusion_torch.partitioning.tied import store_once
    mapping = store_once(graph, mapping)     # every tied head's pieces moved to its table's chips

A language model whose LM head is its token embedding's table (Llama, GPT-2, SmolLM2: ``tie_word_embeddings``)
keeps one tensor: row v of the table is token v's embedding and the weights of logit v. The chips holding
rows [a, b) of the table can therefore compute logits [a, b) from the final hidden state — the head's
output-unit slice [a, b) — with no weight of their own. ``trace`` marks such a head (``Layer.tied``) and counts
it as 0 weight bytes, so a mapper fills chips as if it were not there; this pass then puts one head piece on
each chip of the table, on that chip's rows, and drops chips the head leaves empty. The hidden state goes to
the table's chips and their logit slices to the host (the message plan counts both); the chip programs give
each head slice the very parameter its chip's table slice holds (``rewrite``), so a chip stores it once.
"""

from __future__ import annotations

from dataclasses import replace

from .plan import Mapping, Piece
from .trace import OpGraph, Split

__all__ = ["store_once"]


def store_once(graph: OpGraph, mapping: Mapping) -> Mapping:
    """``mapping`` with each tied head's pieces on its table's chips (one per table piece, the same rows);
    chips left with nothing are dropped. A mapping without tied heads is returned as it is."""
    heads = [ly for ly in graph.layers if ly.tied]
    if not heads:
        return mapping
    moved = {ly.name for ly in heads}
    chips = [[p for p in pieces if p.layer not in moved] for pieces in mapping.chips]
    for ly in heads:
        for c, p in mapping.pieces_of(ly.tied):
            whole = p.split is None
            chips[c].append(Piece(ly.name, None if whole else Split.OUT, 0 if whole else p.start,
                                  ly.out_units if whole else p.stop, 0))
    keep = [c for c, pieces in enumerate(chips) if pieces]
    caps = mapping.capacity_bytes
    note = f"tied LM head{'s' if len(heads) > 1 else ''} {', '.join(sorted(moved))} run on the table's chips"
    return replace(mapping, chips=[chips[c] for c in keep],
                   capacity_bytes=[caps[c] for c in keep] if len(caps) == len(chips) else list(caps),
                   notes=[*mapping.notes, note])
