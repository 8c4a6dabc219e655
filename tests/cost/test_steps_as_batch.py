"""The LSTM LM priced as the scale-up simulator as released scheduled it: its steps as a batch."""

import math

import torch

import illusion_torch as il
from illusion_torch.models.paper_lstm_lm import PaperLstmLM, PaperLstmLMSequential
from illusion_torch.runtime import Runtime

STEPS, CELLS, PROJ, EMBED = 12, 64, 16, 32


def _profiles(cls):
    torch.manual_seed(0)
    model = cls(vocab=3000, embed=EMBED, cells=CELLS, proj=PROJ, steps=STEPS).eval()
    x = torch.randint(0, 3000, (1, STEPS), generator=torch.Generator().manual_seed(0))
    g = il.partitioning.trace(model, x)
    system = il.partition(model, x, capacity=int(0.05 * g.weights_only().weight_bytes), time_limit_s=5)
    return system, Runtime(system).profile, Runtime(system.ideal()).profile


def test_the_released_lm_fetches_each_weight_once_per_batch_of_steps_and_computes_the_same_values():
    batched, prof, ideal = _profiles(PaperLstmLM)
    sequential, prof_seq, ideal_seq = _profiles(PaperLstmLMSequential)
    assert batched.mapping.chips == sequential.mapping.chips              # one mapping, two ways to price it
    x = torch.randint(0, 3000, (3, STEPS), generator=torch.Generator().manual_seed(1))
    assert torch.equal(batched(x), sequential(x))
    shapes = {lw.shape.key: lw for w in ideal.wakes for lw in w.layers_for(None)}
    fan_in = EMBED + PROJ
    part1 = shapes[il.cost.dataflow.LayerShape.fc(fan_in, 4 * CELLS, batch=STEPS).key]      # 12 steps, 1 call
    part2 = shapes[il.cost.dataflow.LayerShape.fc(2 * PROJ, 4 * CELLS, batch=4).key]        # batches of 4
    assert part1.calls == 1 and part2.calls == math.ceil(STEPS / 4)
    assert il.cost.dataflow.LayerShape.fc(1, 4 * CELLS).key in shapes or \
        il.cost.dataflow.LayerShape.fc(1, STEPS * CELLS).key in shapes              # the element-wise layers
    assert il.cost.dataflow.LayerShape.fc(1, 3000, batch=STEPS).key in shapes      # the embedding as FC
    reads = sum(w.for_route(None).weight_read_bits for w in ideal.wakes)
    reads_seq = sum(w.for_route(None).weight_read_bits for w in ideal_seq.wakes)
    assert reads < reads_seq / 2                          # weights fetched once per batch, not once per step
    # on the chips (each LSTM layer split, a wake per step): a slice's first step carries every batched MAC, its
    # later steps wake only to exchange h
    slices = {w.chip for w in prof.wakes if any("lstm" in lw.label for lw in w.layers_for(None))}
    assert len(slices) >= 4
    for chip in slices:
        wakes = [w for w in prof.wakes if w.chip == chip]
        assert len(wakes) >= STEPS and sum(1 for w in wakes if w.for_route(None).macs > 0) <= 2  # + embedding
    assert sum(w.for_route(None).macs for w in prof_seq.wakes) == sum(w.for_route(None).macs for w in ideal_seq.wakes)
