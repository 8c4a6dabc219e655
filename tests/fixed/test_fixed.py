import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from illusion_torch import fixed
from illusion_torch.fixed import FixedPoint, quantize


@st.composite
def format_and_values(draw):
    wl = draw(st.integers(2, 16))
    fl = draw(st.integers(0, wl - 1))
    step = 2.0 ** -fl
    span = 2.0 ** (wl - fl - 1)
    # exact ties (odd multiples of half a step), values near ties, far out of range, and anything
    ties = st.integers(-(2 ** (wl + 1)), 2 ** (wl + 1)).map(lambda k: (k + 0.5) * step)
    near = ties.flatmap(lambda t: st.sampled_from([t, float(torch.nextafter(torch.tensor(t), torch.tensor(1e9))),
                                                   float(torch.nextafter(torch.tensor(t), torch.tensor(-1e9)))]))
    wide = st.floats(-4 * span, 4 * span, allow_nan=False, width=32)
    anything = st.floats(allow_nan=False, allow_infinity=True, width=32)
    values = draw(st.lists(st.one_of(ties, near, wide, anything), min_size=1, max_size=64))
    return wl, fl, values


@pytest.mark.slow                  # imports qtorch (compiles its extension once)
@settings(max_examples=400, deadline=None)
@given(format_and_values())
def test_nearest_is_bit_exact_with_qtorch(case):
    from qtorch.quant import fixed_point_quantize

    wl, fl, values = case
    x = torch.tensor(values, dtype=torch.float32)
    ours = quantize(x, wl, fl, rounding="nearest")
    theirs = fixed_point_quantize(x, wl, fl, rounding="nearest")
    assert torch.equal(ours.view(torch.int32), theirs.view(torch.int32)), (wl, fl, x, ours, theirs)


@pytest.mark.slow
def test_every_format_matches_qtorch_on_a_dense_grid():
    from qtorch.quant import fixed_point_quantize

    for wl in range(2, 17):
        for fl in range(wl):
            span = 2.0 ** (wl - fl - 1)
            x = torch.linspace(-1.5 * span, 1.5 * span, 4099, dtype=torch.float32)
            x = torch.cat([x, (torch.arange(-50, 50) + 0.5) * 2.0 ** -fl])
            assert torch.equal(quantize(x, wl, fl), fixed_point_quantize(x, wl, fl, rounding="nearest")), (wl, fl)


def test_ties_round_to_even_and_range_clamps():
    x = torch.tensor([0.03125, -0.03125, 0.09375, 0.15625, 100.0, -100.0])
    assert quantize(x, 8, 4).tolist() == [0.0, 0.0, 0.125, 0.125, 7.9375, -8.0]


@settings(deadline=None)           # a 16-bit format enumerates 65,536 codes: no wall-clock deadline under load
@given(st.integers(2, 16).flatmap(lambda wl: st.tuples(st.just(wl), st.integers(0, wl - 1))))
def test_codes_round_trip(fmt_tuple):
    fmt = FixedPoint(*fmt_tuple)
    codes = torch.arange(fmt.code_min, fmt.code_max + 1)
    values = fmt.from_codes(codes)
    assert torch.equal(fmt.quantize(values), values)
    assert torch.equal(fmt.to_codes(values), codes)


def test_stochastic_rounding_is_unbiased_and_stays_on_neighbours():
    g = torch.Generator().manual_seed(0)
    x = torch.full((200_000,), 0.3)
    y = quantize(x, 8, 2, rounding="stochastic", generator=g)
    assert set(y.unique().tolist()) == {0.25, 0.5}
    assert abs(float(y.mean()) - 0.3) < 0.002


def test_to_codes_refuses_values_off_the_grid():
    with pytest.raises(ValueError, match="not on the FixedPoint"):
        fixed.to_codes(torch.tensor([0.01]), 8, 4)
    with pytest.raises(ValueError, match="range"):
        fixed.to_codes(torch.tensor([8.0]), 8, 4)


@pytest.mark.parametrize("wl, fl", [(1, 0), (8, 8), (8, -1), (40, 2), (8.0, 4)])
def test_bad_formats_raise_one_clear_message(wl, fl):
    with pytest.raises(ValueError, match="fixed-point|word length|fractional"):
        quantize(torch.zeros(1), wl, fl)


def test_bad_rounding_and_dtype():
    with pytest.raises(ValueError, match="nearest, stochastic"):
        quantize(torch.zeros(1), 8, 4, rounding="up")
    with pytest.raises(TypeError, match="floating-point"):
        quantize(torch.zeros(1, dtype=torch.int64), 8, 4)


def test_formats_describe_themselves():
    f = FixedPoint(8, 4)
    assert (f.min, f.max, f.step, f.bytes, f.code_min, f.code_max) == (-8.0, 7.9375, 0.0625, 1, -128, 127)
    assert FixedPoint(16, 11).bytes == 2


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(format_and_values(), st.booleans(), st.booleans())
def test_drop_in_matches_qtorch_with_its_options(case, clamp, symmetric):
    from qtorch.quant import fixed_point_quantize as qtorch_quantize

    wl, fl, values = case
    x = torch.tensor(values, dtype=torch.float32)
    ours = fixed.fixed_point_quantize(x, wl, fl, clamp, symmetric, "nearest")
    theirs = qtorch_quantize(x, wl, fl, clamp=clamp, symmetric=symmetric, rounding="nearest")
    assert torch.equal(ours.view(torch.int32), theirs.view(torch.int32)), (wl, fl, clamp, symmetric, x)


def test_drop_in_keeps_qtorchs_signature_and_stochastic_default():
    import inspect

    params = inspect.signature(fixed.fixed_point_quantize).parameters
    assert list(params) == ["x", "wl", "fl", "clamp", "symmetric", "rounding"]
    assert params["rounding"].default == "stochastic" and params["clamp"].default is True
    x = torch.full((4000,), 0.25)
    torch.manual_seed(0)
    y = fixed.fixed_point_quantize(x, 8, 1)          # stochastic: 0 or 0.5, each half of the time
    assert set(y.tolist()) == {0.0, 0.5} and abs(float((y == 0.5).double().mean()) - 0.5) < 0.05


def test_symmetric_leaves_out_the_most_negative_code():
    assert quantize(torch.tensor([-100.0]), 8, 4, symmetric=True).item() == -7.9375
    assert quantize(torch.tensor([-100.0]), 8, 4).item() == -8.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_are_rounded_in_float32_and_cast_back(dtype):
    x = torch.tensor([1025.0, -3.3, 0.1], dtype=dtype)
    y = quantize(x, 16, 0)                            # 1025 in float16 is 1024; no overflow for wl - fl > 16
    assert y.dtype == dtype
    assert torch.equal(y, quantize(x.float(), 16, 0).to(dtype))
    assert quantize(torch.tensor([1e4], dtype=dtype), 24, 0).item() == torch.tensor(1e4, dtype=dtype).item()
