"""Number formats: value sets, exact round trips, minimum-error choices, bit accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import arch.numformats as nf
from arch.numformats.schemes import MXBlock, PerGroupMixture, ScaledGrid, nearest

GRID_NAMES = [n for n in nf.available() if isinstance(nf.get_format(n), ScaledGrid)]
MX_NAMES = [n for n in nf.available() if isinstance(nf.get_format(n), MXBlock)]
MIXTURES = [n for n in nf.available() if isinstance(nf.get_format(n), PerGroupMixture)]


# ---------------------------------------------------------------- value sets

@pytest.mark.parametrize("name, size, values", [
    ("fp4_e2m1", 15, [-6, -4, -3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 4, 6]),
    ("fp3_e2m0", 7, [-4, -2, -1, 0, 1, 2, 4]),
    ("fp3_er_pos", 8, [-4, -2, -1, 0, 1, 2, 3, 4]),
    ("fp3_er_neg", 8, [-4, -3, -2, -1, 0, 1, 2, 4]),
    ("fp3_ea_pos", 8, [-4, -2, -1, 0, 1, 2, 4, 6]),
    ("fp3_ea_neg", 8, [-6, -4, -2, -1, 0, 1, 2, 4]),
    ("int3", 7, [-3, -2, -1, 0, 1, 2, 3]),
    ("flint4", 15, [-16, -8, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 8, 16]),
    ("pot4", 15, [-64, -32, -16, -8, -4, -2, -1, 0, 1, 2, 4, 8, 16, 32, 64]),
])
def test_small_value_sets_are_exactly_documented(name, size, values):
    got = nf.get_format(name).values
    assert len(got) == size
    assert got.tolist() == [float(v) for v in values]


@pytest.mark.parametrize("name, size, largest", [
    ("int4", 15, 7), ("int8", 255, 127), ("int4_asym", 16, 15),
    ("fp4_er_pos", 16, 6), ("fp4_ea_pos", 16, 8), ("fp4_e3m0", 15, 16), ("fp4_e1m2", 15, 3.5),
    ("fp6_e2m3", 63, 7.5), ("fp6_e3m2", 63, 28),
    ("fp8_e4m3", 253, 448), ("fp8_e5m2", 247, 57344),
    ("fp16", 63487, 65504), ("bf16", 65279, 3.3895313892515355e38),
    ("mxint8", 256, 127 / 64), ("olive4", 31, 96), ("olive3", 15, 12),
])
def test_value_set_sizes(name, size, largest):
    values = nf.get_format(name).values
    assert len(values) == size == len(np.unique(values))
    assert values.max() == largest
    assert np.all(np.isfinite(values))


def test_olive_outlier_magnitudes():
    assert nf.get_format("olive4").outlier[8:].tolist() == [8, 12, 16, 24, 32, 48, 64, 96]
    assert nf.get_format("olive3").outlier[4:].tolist() == [4, 6, 8, 12]
    assert nf.get_format("olive4").normal.tolist() == list(range(-7, 8))


def test_bitmod_special_values_replace_negative_zero_only():
    for bits, base, specials in ((3, "fp3_e2m0", (3, 6)), (4, "fp4_e2m1", (5, 8))):
        base_values = set(nf.get_format(base).values.tolist())
        for kind, value in zip(("er", "ea"), specials):
            for side, sign in (("pos", 1), ("neg", -1)):
                values = set(nf.get_format(f"fp{bits}_{kind}_{side}").values.tolist())
                assert values - base_values == {sign * value}
                assert len(values) == 2 ** bits  # every code is used: 2**b distinct values


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("name", [n for n in nf.available() if nf.get_format(n).values is not None])
def test_rounding_fixes_every_member_of_the_value_set(name):
    values = nf.get_format(name).values
    assert np.array_equal(nearest(values, values), values)


@st.composite
def grid_group(draw, values, group=st.integers(1, 24), top=None):
    """A group of grid values that contains `top` (default: a largest-magnitude value)
    and nothing larger in magnitude, times 2**k."""
    n = draw(group)
    top = values[np.argmax(np.abs(values))] if top is None else top
    values = values[np.abs(values) <= abs(top)]
    picks = draw(st.lists(st.sampled_from(values.tolist()), min_size=n, max_size=n))
    picks[draw(st.integers(0, n - 1))] = float(top)
    k = draw(st.integers(-8, 8))
    return np.array(picks) * 2.0 ** k


@pytest.mark.parametrize("name", GRID_NAMES + MX_NAMES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_scaled_round_trip_is_exact(name, data):
    scheme = nf.get_format(name)
    # MX's scale 2**(floor(log2 absmax) - emax) is recovered from the largest positive value
    top = scheme.values[-1] if isinstance(scheme, MXBlock) else None
    group = data.draw(grid_group(scheme.values, top=top))
    out = scheme.quantize(group[None, :], group_size=group.size).dequantized[0]
    assert np.array_equal(out, group)


@pytest.mark.parametrize("name", MIXTURES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_mixture_round_trip_is_exact_on_each_candidate_set(name, data):
    scheme = nf.get_format(name)
    candidate = data.draw(st.sampled_from(scheme.candidates))
    group = data.draw(grid_group(candidate.values))
    result = scheme.quantize(group[None, :], group_size=group.size)
    assert np.array_equal(result.dequantized[0], group)


@pytest.mark.parametrize("bits", [3, 4, 8])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_asymmetric_int_round_trip(bits, data):
    top = 2 ** bits - 1
    n = data.draw(st.integers(2, 24))
    codes = data.draw(st.lists(st.integers(0, top), min_size=n, max_size=n))
    codes[0], codes[-1] = 0, top  # min-max rule recovers the scale
    zero = data.draw(st.integers(0, top))
    scale = 2.0 ** data.draw(st.integers(-8, 4))
    group = (np.array(codes, dtype=float) - zero) * scale
    out = nf.quantize(group[None, :], f"int{bits}_asym", group_size=n).dequantized[0]
    assert np.array_equal(out, group)


@pytest.mark.parametrize("name", ["fp16", "bf16"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_wide_float_round_trip(name, data):
    values = nf.get_format(name).values
    picks = values[data.draw(st.lists(st.integers(0, len(values) - 1), min_size=1, max_size=32))]
    assert np.array_equal(nf.quantize(picks, name).dequantized, picks)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-7e4, 7e4, allow_nan=False), min_size=1, max_size=32))
def test_fp16_rounding_matches_numpy_half(xs):
    x = np.array(xs)
    expected = np.clip(x, -65504, 65504).astype(np.float16).astype(np.float64)
    assert np.array_equal(nf.quantize(x, "fp16").dequantized, expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-2.0**100, 2.0**100, allow_nan=False, width=32), min_size=1, max_size=32))
def test_bf16_rounding_matches_bit_level_round_half_even(xs):
    x = np.array(xs, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    expected = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    assert np.array_equal(nf.quantize(x.astype(np.float64), "bf16").dequantized, expected)


@pytest.mark.parametrize("name", ["olive3", "olive4", "olive3_threshold", "olive4_threshold"])
def test_olive_pairs_round_trip(name):
    olive = nf.get_format(name)
    normal, outlier = olive.normal, olive.outlier
    pairs = [(a, b) for a in normal for b in normal]
    pairs += [(o, 0.0) for o in outlier] + [(0.0, o) for o in outlier]
    pairs = np.array(pairs)
    assert np.array_equal(olive.encode_pairs(pairs)[0], pairs)
    # scaled: a group whose absmax is the largest outlier uses the last scale candidate
    group = np.concatenate([pairs[:15].ravel(), [olive.outlier.max(), 0.0]]) * 0.25
    out = olive.quantize(group[None, :], group_size=group.size).dequantized[0]
    assert np.array_equal(out, group)


# ---------------------------------------------------------------- minimum-error choices

def brute_grid(fmt: ScaledGrid, group: np.ndarray) -> np.ndarray:
    """Every scale the format may try, each weight to the value minimizing |x - v*s|;
    the scale with least total squared error."""
    from arch.numformats.schemes import absmax_scale
    best, best_err = None, np.inf
    for ratio in fmt.clip_ratios:
        scale = absmax_scale(group[None, :], float(np.abs(fmt.values).max()) / ratio)[0, 0]
        candidates = fmt.values * scale
        out = candidates[np.abs(group[:, None] - candidates[None, :]).argmin(axis=1)]
        err = ((out - group) ** 2).sum()
        if err < best_err:
            best, best_err = out, err
    return best


small_groups = st.integers(1, 12).flatmap(lambda g: st.tuples(
    st.just(g), st.lists(st.floats(-10, 10, allow_nan=False, allow_subnormal=False),
                         min_size=2 * g, max_size=6 * g).map(lambda v: v[: len(v) - len(v) % g])))


@pytest.mark.parametrize("name", MIXTURES)
@settings(max_examples=30, deadline=None)
@given(case=small_groups)
def test_every_group_takes_its_minimum_error_type(name, case):
    g, flat = case
    scheme = nf.get_format(name)
    w = np.array(flat).reshape(-1, g)
    result = scheme.quantize(w, group_size=g)
    for i, group in enumerate(w):
        errors = [((brute_grid(c, group) - group) ** 2).sum() for c in scheme.candidates]
        got = ((result.dequantized[i] - group) ** 2).sum()
        assert math.isclose(got, min(errors), rel_tol=1e-12, abs_tol=1e-300)
        assert math.isclose(errors[result.choice[i]], min(errors), rel_tol=1e-12, abs_tol=1e-300)


@pytest.mark.parametrize("name", ["ant4", "ant3", "ant4_search"])
@settings(max_examples=40, deadline=None)
@given(case=small_groups)
def test_ant_takes_the_minimum_error_type_per_tensor(name, case):
    g, flat = case
    scheme = nf.get_format(name)
    w = np.array(flat).reshape(-1, g)
    result = scheme.quantize(w, group_size=g)
    totals = [sum(((brute_grid(c, grp) - grp) ** 2).sum() for grp in w)
              for c in scheme.candidates]
    assert math.isclose(((result.dequantized - w) ** 2).sum(), min(totals), rel_tol=1e-12,
                        abs_tol=1e-300)


@pytest.mark.parametrize("name", GRID_NAMES)
@settings(max_examples=15, deadline=None)
@given(case=small_groups)
def test_scaled_grid_rounds_each_weight_to_its_nearest_value(name, case):
    g, flat = case
    scheme = nf.get_format(name)
    w = np.array(flat).reshape(-1, g)
    out = scheme.quantize(w, group_size=g).dequantized
    for i, group in enumerate(w):
        expected = brute_grid(scheme, group)
        if len(scheme.clip_ratios) == 1:  # one scale: each weight's own error is minimal
            assert np.allclose(np.abs(out[i] - group), np.abs(expected - group), rtol=0, atol=1e-12)
        assert math.isclose(((out[i] - group) ** 2).sum(), ((expected - group) ** 2).sum(),
                            rel_tol=1e-12, abs_tol=1e-300)


@pytest.mark.parametrize("name", ["olive3", "olive4"])
@settings(max_examples=30, deadline=None)
@given(case=st.integers(1, 4).flatmap(lambda p: st.lists(
    st.floats(-10, 10, allow_nan=False, allow_subnormal=False), min_size=2 * p, max_size=2 * p)))
def test_olive_pair_and_scale_choices_are_minimum_error(name, case):
    olive = nf.get_format(name)
    group = np.array(case)
    out = olive.quantize(group[None, :], group_size=group.size).dequantized[0]
    from arch.numformats.schemes import fp16_scale
    absmax = np.abs(group).max()
    codes = [(a, b) for a in olive.normal for b in olive.normal]
    codes += [(o, 0.0) for o in olive.outlier] + [(0.0, o) for o in olive.outlier]
    codes = np.array(codes)
    best = np.inf
    for ratio in olive.scale_candidates:
        scale = fp16_scale(np.array([absmax / ratio if absmax > 0 else 1.0]))[0]
        total = 0.0
        for pair in group.reshape(-1, 2):
            total += ((codes * scale - pair) ** 2).sum(axis=1).min()
        best = min(best, total)
    assert math.isclose(((out - group) ** 2).sum(), best, rel_tol=1e-9, abs_tol=1e-300)


@pytest.mark.parametrize("name", ["olive3_threshold", "olive4_threshold"])
@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(st.floats(-120, 120), st.floats(-120, 120)), min_size=1,
                      max_size=16))
def test_olive_threshold_rule(name, pairs):
    """Outlier iff beyond the normal range; the larger outlier keeps the pair."""
    olive = nf.get_format(name)
    pairs = np.array(pairs)
    out, encoding = olive.encode_pairs(pairs)
    limit = olive.normal.max() + 0.5
    for (a, b), (qa, qb), code in zip(pairs, out, encoding):
        if max(abs(a), abs(b)) <= limit:
            assert code == 0 and qa == nearest(olive.normal, a) and qb == nearest(olive.normal, b)
        elif abs(a) >= abs(b):
            assert code == 1 and qb == 0 and qa == nearest(olive.outlier, a)
        else:
            assert code == 2 and qa == 0 and qb == nearest(olive.outlier, b)


# ---------------------------------------------------------------- bits per weight

def test_bits_per_weight_examples():
    assert nf.bits_per_weight("bitmod_fp3", 128) == 3 + (16 + 2) / 128
    assert nf.bits_per_weight("bitmod_fp4") == 4 + 18 / 128
    assert nf.bits_per_weight("int4", 128) == 4 + 16 / 128
    assert nf.bits_per_weight("int4_asym", 64) == 4 + (16 + 4) / 64
    assert nf.bits_per_weight("ant4", 128) == 4 + 16 / 128  # per-tensor selector amortizes
    assert nf.bits_per_weight("ant4_group", 128) == 4 + 17 / 128
    assert nf.bits_per_weight("olive4", 128) == 4 + 16 / 128
    assert nf.bits_per_weight("olive3", 128) == 3 + 16 / 128
    assert nf.bits_per_weight("mxfp4") == 4 + 8 / 32
    assert nf.bits_per_weight("bitmod_fp3_search") == nf.bits_per_weight("bitmod_fp3")
    assert nf.bits_per_weight("mxint8") == 8.25
    assert nf.bits_per_weight("fp16") == 16 == nf.bits_per_weight("bf16", 7)


@pytest.mark.parametrize("name", nf.available())
@given(g=st.sampled_from([2, 4, 8, 16, 32, 64, 128, 256]))
@settings(max_examples=8, deadline=None)
def test_bits_per_weight_is_total_stored_bits_over_weights(name, g):
    scheme = nf.get_format(name)
    n_groups = 5
    if scheme.default_group_size is None:
        assert scheme.bits_per_weight(g) == scheme.element_bits
        return
    total = n_groups * (g * scheme.element_bits + scheme.overhead_bits_per_group())
    assert math.isclose(scheme.bits_per_weight(g) * g * n_groups, total)
    assert nf.quantize(np.zeros((1, g * n_groups)), name, g).bits_per_weight == scheme.bits_per_weight(g)


def test_all_zero_groups_stay_zero():
    for name in nf.available():
        out = nf.quantize(np.zeros((2, 128)), name, 128 if name != "fp16" else None)
        assert np.array_equal(out.dequantized, np.zeros((2, 128))), name


def test_unknown_format_and_bad_group_size():
    with pytest.raises(KeyError, match="known formats"):
        nf.get_format("fp5_nope")
    with pytest.raises(ValueError, match="does not divide"):
        nf.quantize(np.zeros((2, 100)), "int4", 128)
    with pytest.raises(ValueError, match="positive"):
        nf.quantize(np.zeros((2, 100)), "int4", -4)


def test_aliases_and_case():
    assert nf.get_format("FP4") is nf.get_format("fp4_e2m1")
    assert nf.get_format("fp3") is nf.get_format("fp3_e2m0")


def test_bitmod_never_worse_than_any_of_its_types():
    w = np.random.default_rng(5).standard_t(4, size=(16, 256))
    for name in ("bitmod_fp3", "bitmod_fp4"):
        scheme = nf.get_format(name)
        mix = ((scheme.quantize(w).dequantized - w) ** 2).sum()
        for c in scheme.candidates:
            assert mix <= ((c.quantize(w).dequantized - w) ** 2).sum() + 1e-12
