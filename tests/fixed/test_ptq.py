"""Post-training quantization: per-tensor formats from the tensors and calibration statistics, folded batch
norms, the formats record, and bit-identical chip-by-chip runs of the result (fast tier: tiny models,
SYNTHETIC random calibration inputs)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import illusion_torch as il
from illusion_torch import partitioning
from illusion_torch.fixed import FixedPoint, grid_fl, quantize
from illusion_torch.fixed.layers import QuantPoint
from illusion_torch.fixed.ptq import Formats, fitting_format, outlier_format, post_training_quantize
from illusion_torch.models.gpt import GPT
from illusion_torch.models.minilm import MiniLM
from illusion_torch.runtime import Runtime


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU6(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    for m in model.modules():            # non-trivial running statistics, as a trained network has
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.05, 0.5)
            m.weight.data.uniform_(2.0, 8.0)
    return model.eval()


@given(st.floats(min_value=1e-6, max_value=1e6, allow_nan=False), st.sampled_from([8, 12, 16]))
def test_the_fitting_format_holds_the_largest_magnitude_with_the_most_fractional_bits(max_abs, wl):
    f = fitting_format(max_abs, wl)
    if f.fl > 0 and max_abs <= 2.0 ** (wl - 1):
        assert f.max + f.step > max_abs                     # no overflow (beyond half a step of rounding)
    if f.fl < wl - 1:
        finer = FixedPoint(wl, f.fl + 1)
        assert finer.max + finer.step <= max_abs            # one more fractional bit would not hold it


def test_fitting_format_refuses_a_non_finite_statistic():
    with pytest.raises(il.IllusionError, match="inf or nan"):
        fitting_format(float("inf"), 16)


def test_outliers_get_a_wide_word_only_where_they_need_it():
    assert outlier_format(4.0, 1.0, 16, 32) == fitting_format(4.0, 16)          # fits, enough resolution
    assert outlier_format(7e5, 3e4, 16, 32) == fitting_format(7e5, 32)          # does not fit 16 bits at all
    assert outlier_format(3000.0, 1.0, 16, 32) == FixedPoint(32, 19)           # a few huge values: RMS starves
    assert outlier_format(3000.0, 1.0, 16, None) == fitting_format(3000.0, 16)  # wide words not allowed
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    x[:, 3] *= 4e4                                                      # one massive channel: beyond 16 bits
    model = nn.Sequential(nn.Linear(8, 8)).eval()
    with torch.no_grad():
        model[0].weight[:, 3] = 0                                               # its output stays small
    fixed = post_training_quantize(model, x, wide_bits=32)
    assert {f.wl for f in fixed.formats.activations.values()} == {16, 32}
    assert fixed.formats.activations[next(iter(fixed.formats.activations))].wl == 32    # the input itself


def test_ptq_folds_batch_norms_and_rounds_each_tensor_to_its_own_format():
    model = _cnn()
    x = torch.randn(16, 3, 8, 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fixed = post_training_quantize(model, x, weight_bits=16, activation_bits=16)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())     # the model given: untouched
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fixed.modules())
    cfg = il.models.config_of(fixed)
    assert cfg.per_tensor_formats and cfg.weight_format.wl == 16
    fls = set()
    for name, t in fixed.named_parameters():
        fmt = fixed.formats.weights[name]
        assert torch.equal(quantize(t, fmt.wl, fmt.fl), t) and grid_fl(t, 16) <= fmt.fl
        fls.add(fmt.fl)
    assert len(fls) > 1                                     # formats differ between tensors
    points = [m for m in fixed.modules() if isinstance(m, QuantPoint)]
    assert len(points) == len(fixed.formats.activations) and len({p.format for p in points}) > 1
    with torch.no_grad():
        want, got = model(x), fixed(x)
    assert (got - want).abs().max() < 0.02 * want.abs().max()


def test_a_formats_record_rebuilds_the_same_model_and_a_foreign_one_is_refused():
    model = _cnn()
    x = torch.randn(8, 3, 8, 8)
    fixed = post_training_quantize(model, x)
    again = post_training_quantize(model, x[:1], formats=Formats.from_dict(fixed.formats.as_dict()))
    assert torch.equal(again(x), fixed(x))
    other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()).eval()
    with pytest.raises(il.IllusionError, match="does not match this model's traced graph"):
        post_training_quantize(other, x[:1], formats=fixed.formats)
    with pytest.raises(il.IllusionError, match="at least one input"):
        post_training_quantize(model, x[:0])


@pytest.mark.parametrize("chips", [3, 7])
def test_a_ptq_cnn_runs_bit_identically_from_per_tensor_codes(chips):
    fixed = post_training_quantize(_cnn(), torch.randn(16, 3, 8, 8))
    x = torch.randn(6, 3, 8, 8)
    g = partitioning.trace(fixed, x[:1])
    cap = -(-g.weight_bytes * 5 // (4 * chips))
    system = il.IllusionSystem(fixed, g, partitioning.solve(g, cap, solver="first-fit"))
    rt = Runtime(system)
    regions = [r for img in rt.images for r in img.space("nvm")]
    assert len({r.fmt for r in regions}) > 1                 # codes at each tensor's own format
    assert all(torch.equal(r.values().float().flatten(), r.codes.double().mul(2.0 ** -r.fmt.fl).float())
               for r in regions)
    ref = system.reference(x)
    assert ref.abs().max() > 0 and torch.equal(rt.run(x).logits, ref)


def _tiny_gpt() -> GPT:
    torch.manual_seed(1)
    return GPT(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16).eval()


def test_the_gpt_is_causal():
    model = _tiny_gpt()
    ids = torch.randint(0, 11, (2, 8))
    later = ids.clone()
    later[:, 5:] = (later[:, 5:] + 1) % 11
    with torch.no_grad():
        a, b = model(ids), model(later)
    assert torch.equal(a[:, :5], b[:, :5]) and not torch.equal(a[:, 5:], b[:, 5:])


def test_minilm_ignores_padding():
    torch.manual_seed(2)
    short = MiniLM(vocab_size=50, hidden=16, layers=2, heads=2, intermediate=32, max_positions=16, seq_len=5).eval()
    long = MiniLM(vocab_size=50, hidden=16, layers=2, heads=2, intermediate=32, max_positions=16, seq_len=9).eval()
    long.load_state_dict(short.state_dict())
    ids = torch.tensor([[3, 7, 9, 4, 2]])
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    with torch.no_grad():
        e1, e2 = short(ids), long(padded)
    assert torch.allclose(e1, e2, atol=1e-6) and torch.allclose(e1.norm(dim=1), torch.ones(1))


@pytest.mark.slow
@settings(max_examples=4, deadline=None)
@given(st.integers(min_value=2, max_value=12), st.integers(min_value=0, max_value=2**31 - 1))
def test_ptq_transformers_are_bit_identical_on_any_split(chips, seed):
    torch.manual_seed(seed)
    for model, vocab in ((_tiny_gpt(), 11),
                         (MiniLM(vocab_size=40, hidden=16, layers=1, heads=2, intermediate=32, max_positions=8,
                                 seq_len=8).eval(), 40)):
        ids = torch.randint(1, vocab, (5, 8))
        ids[1, 5:] = 0                                      # padding (MiniLM masks it; the GPT reads id 0)
        fixed = post_training_quantize(model, ids)
        g = partitioning.trace(fixed, ids[:1])
        cap = -(-g.weight_bytes * 5 // (4 * chips))
        system = il.IllusionSystem(fixed, g, partitioning.solve(g, cap, solver="first-fit"))
        ref = system.reference(ids)
        assert torch.isfinite(ref).all() and torch.equal(Runtime(system).run(ids).logits, ref)


def test_a_checkpoint_stores_8_bit_weights_as_codes_and_reads_them_back(tmp_path):
    model = il.models.get_model("mnist")
    il.fixed.layers.quantize_weights(model)
    meta = {"name": "mnist", "model": "mnist", "dataset": "mnist", "synthetic": False, "source": "test",
            "test_accuracy": 0.1, "weight_bytes": 3648, "recipe": {"dataset": "mnist"}}
    il.checkpoint.save_checkpoint(model, meta, tmp_path)
    blob = torch.load(tmp_path / "mnist.pt", weights_only=True)
    assert blob["codes"] and all(c.dtype == torch.int8 for c in blob["codes"].values())
    loaded = il.checkpoint.load("mnist", tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values(),
                                                 strict=True))


def test_a_gpt_recipe_refuses_no_steps_and_a_missing_gpu():
    from illusion_torch.train.gpt import GptRecipe, train_gpt

    with pytest.raises(il.IllusionError, match="at least 1"):
        GptRecipe(steps=0)
    with pytest.raises(il.IllusionError, match="0 < min_lr"):
        GptRecipe(lr=float("nan"))
    if not torch.cuda.is_available():
        with pytest.raises(il.IllusionError, match="no CUDA GPU"):
            train_gpt(GptRecipe(steps=1), device="cuda")
