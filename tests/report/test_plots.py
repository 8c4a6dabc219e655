"""The pictures at scale: past MANY_CHIPS chips, matrices and heatmaps that keep every joule."""

import torch
from PIL import Image

import illusion_torch as il
from illusion_torch.report import run_and_price
from illusion_torch.report.plots import MANY_CHIPS, TIME_BINS, _power_grid


def test_a_run_on_many_chips_draws_matrices_and_a_heatmap_that_keeps_every_joule(tmp_path):
    model = il.models.get_model("svhn").eval()
    il.fixed.layers.quantize_weights(model)
    x = torch.rand(2, *il.models.config_of(model).input_shape, generator=torch.Generator().manual_seed(0))
    system = il.partition(model, x[:1], capacity=700, solver="first-fit")
    assert system.mapping.n_chips > MANY_CHIPS
    report = run_and_price(system, x, preset="paper-testchip")
    grid, busy, total = _power_grid(report, TIME_BINS)
    sleep = report.preset.sleep_power_w
    above = sum((e.power_w - sleep) * (e.end_s - e.start_s) for e in report.illusion.timeline)
    assert grid.shape == (system.mapping.n_chips, TIME_BINS) and grid.min() >= sleep * (1 - 1e-12)
    assert abs(((grid - sleep) * total / TIME_BINS).sum() - above) <= 1e-9 * above     # every event, in full
    assert busy.argmax() == max(range(len(busy)), key=lambda c: report.illusion.per_chip[c].active_s)
    report.save(tmp_path / "run")
    for name in ("power_timeline.png", "mapping.png", "energy_breakdown.png"):
        width, height = Image.open(tmp_path / "run" / name).size
        assert height < 1000 and width < 2000          # one screen, not a row or a box per chip
