"""BitMoD's bit-serial PE/array RTL against the exact golden model and sim.bitserial."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
from rtl.bitserial import BitSerialPEArray, decode_table
from rtl.cosim import check_bitserial, weight_value
from rtl.numerics import mac_format, random_operands

FP16 = mac_format("fp16")


def random_gemm(dut, m, n, k, rng):
    groups = -(-k // dut.group_size)
    return (random_operands(FP16, rng, (m, k)), rng.integers(0, 1 << dut.code_bits, (n, k)),
            rng.integers(0, 2, (n, groups)), rng.integers(0, 1 << max(1, dut.dequant_cycles), (n, groups)))


@st.composite
def configs(draw, max_dim=2):
    code_bits = draw(st.integers(3, 5))
    dut = BitSerialPEArray(
        rows=draw(st.integers(1, max_dim)), cols=draw(st.integers(1, max_dim)),
        lanes=draw(st.integers(1, 4)), code_bits=code_bits,
        bits_per_cycle=draw(st.integers(1, code_bits)), group_size=draw(st.integers(1, 8)),
        dequant_cycles=draw(st.integers(0, 6)), pipeline_depth=draw(st.integers(0, 3)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 12)))
    return dut, shape, draw(st.integers(0, 2**31))


@settings(max_examples=6, deadline=None)
@given(case=configs())
def test_bitserial_matches_golden_and_sim_cycles(case):
    dut, (m, n, k), seed = case
    check_bitserial(dut, *random_gemm(dut, m, n, k, np.random.default_rng(seed)))


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(case=configs(max_dim=4))
def test_bitserial_larger_randomized(case):
    dut, (m, n, k), seed = case
    check_bitserial(dut, *random_gemm(dut, m, n, k, np.random.default_rng(seed)))


def test_bitmod_preset_pe_two_groups():
    """The PE of the shipped BitMoD preset (4 lanes, 4-bit codes, 2 bits/cycle, groups
    of 128, 8-cycle dequantizer, depth 4) on one output of two groups."""
    spec = arch.load("bitmod").array2d
    dut = BitSerialPEArray.from_arch(spec, rows=1, cols=1)
    assert (dut.lanes, dut.code_bits, dut.cycles_per_weight, dut.group_size) == (4, 4, 2, 128)
    cycles = check_bitserial(dut, *random_gemm(dut, 1, 1, 200, np.random.default_rng(3)))
    assert cycles == 32 * 2 + 18 * 2 + 8 + 4  # A0 + max(A1, D) + D + P, A = ceil(g/4) * 2


def test_decode_tables_are_the_unified_representation():
    for dtype in ("int", "fp"):
        for code, (sign, mag, shift) in enumerate(decode_table(dtype, 4)):
            assert (-1) ** sign * (mag << shift) == weight_value(code, dtype, 4) or mag == 0
