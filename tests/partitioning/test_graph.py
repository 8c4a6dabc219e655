import pytest
import torch
from torch import nn

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.partitioning.trace import HOST, CaptureError, TraceError


def _trace(name):
    m = il.models.get_model(name)
    return partitioning.trace(m, torch.zeros(1, *il.models.config_of(m).input_shape))


def test_mnist_layers_bytes_and_macs():
    g = _trace("mnist")
    assert [(ly.name, ly.weight_bytes, ly.out_units, ly.in_units) for ly in g.layers] == [
        ("conv1", 156, 6, 1), ("conv2", 330, 6, 6), ("conv3", 440, 8, 6), ("conv4", 1752, 24, 8), ("fc", 970, 10, 96)]
    assert g.layer("conv1").macs == 6 * 24 * 24 * 25
    assert g.layer("fc").macs == 960
    assert g.is_chain()


def test_messages_are_what_the_producer_chip_stores():
    # docs/paper.md: conv1-2 -> 600 B -> conv3 -> 128 B (pooled, int8) ; conv4 out 96 B int8; fc out int16
    edges = {(e.src, e.dst): e.bytes for e in _trace("mnist").edges}
    assert edges[("conv2", "conv3")] == 600
    assert edges[("conv3", "conv4")] == 128
    assert edges[("conv4", "fc")] == 96
    assert edges[("fc", HOST)] == 20
    svhn = {(e.src, e.dst): e.bytes for e in _trace("svhn").edges}
    assert svhn[("conv2", "conv3")] == 1152 and svhn[("fc1", "fc2")] == 104


def test_paper_workloads_trace_with_the_papers_bytes():
    assert _trace("svhn").weight_bytes == 31160
    kws = _trace("kws")
    assert kws.weight_bytes == 30011 and kws.layer("lstm").steps == 40 and kws.layer("lstm").splits == ("out",)
    assert _trace("d2nn").weight_bytes == 30850
    assert not _trace("resnet").is_chain()


@pytest.mark.parametrize("name, shape", [("resnet18", (1, 3, 224, 224)), ("alexnet", (1, 3, 224, 224)),
                                         ("paper-alexnet", (1, 3, 227, 227))])
def test_torchvision_models_trace_at_16_bit(name, shape):
    model = il.models.get_model(name)
    g = partitioning.trace(model, torch.zeros(shape))
    weighted = sum(p.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
                   for p in m.parameters())
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    state = 4 * sum(m.num_features for m in norms)      # scale, shift, running mean and variance
    assert g.weight_bytes == 2 * (weighted + state)
    # each batch norm follows its convolution alone, so it is stored with it: no layer of its own
    assert len(g.layers) == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    assert sum(len(ly.absorbed) for ly in g.layers) == len(norms)
    assert sum(ly.param_count for ly in g.layers) == sum(p.numel() for p in model.parameters())
    assert g.word_bits == 16


def test_untraceable_model_gives_fx_reason_and_hint():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return x

    with pytest.raises(TraceError, match="torch.fx cannot trace Branchy.*test_graph.py:67.*torch.export"):
        partitioning.trace(Branchy(), torch.zeros(1, 4), capture="fx")
    # the default tries torch.export next; it too stops on the data-dependent branch: one line naming both
    with pytest.raises(CaptureError) as info:
        partitioning.trace(Branchy(), torch.zeros(1, 4))
    text = str(info.value)
    assert "neither door" in text and "torch.fx stopped" in text and "torch.export stopped" in text
    assert text.count("test_graph.py:67") == 2 and "\n" not in text
