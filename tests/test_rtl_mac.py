"""The MAC PE: exact integer and FP16 dot products, and its timing as sim sees it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
from rtl.cosim import check_pe
from rtl.mac import MacPE
from rtl.numerics import UnsupportedFormat, golden_dot, mac_format, random_operands


@settings(max_examples=8, deadline=None)
@given(fmt_name=st.sampled_from(["int8", "int4", "fp16"]),
       lengths=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       seed=st.integers(0, 2**31))
def test_pe_dot_products_match_golden_and_cycles(fmt_name, lengths, seed):
    rng = np.random.default_rng(seed)
    fmt = mac_format(fmt_name)
    pairs = [(random_operands(fmt, rng, n), random_operands(fmt, rng, n)) for n in lengths]
    assert check_pe(MacPE(fmt), pairs) == sum(lengths) + 1


def test_fp16_corner_values_are_exact():
    fmt = mac_format("fp16")
    a = np.array([65504, -65504, 2**-24, -(2**-14), 1.0, 0.0, -0.0, 3.140625], dtype=np.float16)
    b = np.array([65504, 65504, 2**-24, 2**-24, -1.0, 5.0, 7.0, 0.333251953125], dtype=np.float16)
    check_pe(MacPE(fmt), [(a, b), (a[:1], b[:1]), (a[2:3], b[2:3])])
    # The golden accumulator is the exact real sum, scaled by 2**48.
    exact = sum(float(x) * float(y) for x, y in zip(a, b))
    assert golden_dot(fmt, a, b) == exact * 2**48


def test_integer_accumulator_wraps_like_the_golden_model():
    fmt = mac_format("int8", acc_bits=16)
    a = np.full(4, -128)
    check_pe(MacPE(fmt), [(a, a)])  # 4 * 16384 wraps to 0 in 16 bits
    assert golden_dot(fmt, a, a) == 0


def test_pe_comes_from_the_arch_array():
    pe = MacPE.for_array(arch.load("default").array2d)
    assert pe.fmt.name == "fp16" and pe.fmt.bits == 16
    check_pe(pe, [(np.ones(2, np.float16), np.ones(2, np.float16))])


def test_unsupported_format_is_a_clear_error():
    with pytest.raises(UnsupportedFormat, match="bf16"):
        mac_format("bf16")
