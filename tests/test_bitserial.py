"""The BitMoD bit-serial PE/array cycle model: scaling with weight bits, closed form ==
per-cycle reference, MAC conservation and lower bounds."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.bitserial import (PEConfig, array_cycles, group_cycles, groups_of, one_group_cycles,
                           pe_stream_cycles)
from sim.bitserial_reference import simulate_array, simulate_pe

BITMOD_PE = dict(lanes=4, bits_per_cycle=2, group_size=128, dequant_cycles=8, pipeline_depth=4)


@pytest.mark.parametrize("bits, cycles", [(2, 32), (3, 64), (4, 64), (5, 96), (6, 96),
                                          (8, 128), (16, 256)])
def test_group_cycles_scale_with_weight_bits_two_per_cycle(bits, cycles):
    # 128 weights / 4 lanes = 32 steps of ceil(bits / 2) cycles each (radix-4 Booth).
    assert group_cycles(PEConfig(weight_bits=bits, **BITMOD_PE)) == cycles


def test_group_cycles_never_fall_as_bits_grow():
    cycles = [group_cycles(PEConfig(weight_bits=b, **BITMOD_PE)) for b in range(1, 17)]
    assert cycles == sorted(cycles)


def test_bit_parallel_pe_takes_one_cycle_per_step():
    pe = PEConfig(lanes=1, bits_per_cycle=16, weight_bits=5, group_size=128)
    assert pe.cycles_per_weight == 1 and group_cycles(pe) == 128


def test_one_group_is_accumulate_plus_dequantize_plus_fill():
    pe = PEConfig(weight_bits=3, **BITMOD_PE)
    assert one_group_cycles(pe) == 64 + 8 + 4
    assert simulate_pe(pe, [[128]]).cycles == 64 + 8 + 4


def test_slow_dequantizer_paces_the_stream():
    # D > A: every group after the first waits for the dequantizer.
    pe = PEConfig(lanes=4, bits_per_cycle=2, weight_bits=2, group_size=8, dequant_cycles=5)
    assert group_cycles(pe) == 2
    assert pe_stream_cycles(pe, [8, 8, 8]) == 2 + 5 + 5 + 5
    assert simulate_pe(pe, [[8, 8, 8]]).cycles == 17


def test_bad_config_is_a_value_error():
    with pytest.raises(ValueError, match="lanes"):
        PEConfig(lanes=0)
    with pytest.raises(ValueError, match="dequant_cycles"):
        PEConfig(dequant_cycles=-1)


pe_configs = st.builds(PEConfig, lanes=st.integers(1, 6), bits_per_cycle=st.integers(1, 4),
                       weight_bits=st.integers(1, 10), group_size=st.integers(1, 24),
                       dequant_cycles=st.integers(0, 20), pipeline_depth=st.integers(0, 5))


@settings(max_examples=150, deadline=None)
@given(pe=pe_configs, data=st.data())
def test_pe_stream_closed_form_equals_per_cycle_reference(pe, data):
    outputs = data.draw(st.lists(st.lists(st.integers(1, pe.group_size), min_size=1,
                                          max_size=4), min_size=1, max_size=4))
    trace = simulate_pe(pe, outputs)
    assert trace.cycles == pe_stream_cycles(pe, [g for out in outputs for g in out])
    assert trace.macs == [sum(out) for out in outputs]  # every weight meets its activation


@settings(max_examples=120, deadline=None)
@given(pe=pe_configs, rows=st.integers(1, 3), cols=st.integers(1, 3), m=st.integers(1, 5),
       n=st.integers(1, 5), k=st.integers(1, 40), batch=st.integers(1, 2))
def test_array_closed_form_equals_per_cycle_reference(pe, rows, cols, m, n, k, batch):
    closed = array_cycles(rows, cols, pe, m, n, k, batch)
    ref = simulate_array(rows, cols, pe, m, n, k, batch)
    assert closed.cycles == ref.cycles
    assert closed.macs == ref.macs == batch * m * n * k  # MAC conservation
    assert ref.outputs == batch * m * n


@settings(max_examples=200, deadline=None)
@given(pe=pe_configs, rows=st.integers(1, 64), cols=st.integers(1, 64),
       m=st.integers(1, 300), n=st.integers(1, 300), k=st.integers(1, 600))
def test_array_lower_bounds(pe, rows, cols, m, n, k):
    t = array_cycles(rows, cols, pe, m, n, k)
    peak = rows * cols * pe.peak_macs_per_cycle
    assert t.cycles >= t.macs / peak
    assert t.pe_busy <= t.cycles * rows * cols
    # one output's own work bounds the time from below too
    assert t.cycles >= sum(group_cycles(pe, g) for g in groups_of(k, pe.group_size))


def test_groups_of_keeps_every_weight():
    assert groups_of(300, 128) == [128, 128, 44]
    assert groups_of(256, 128) == [128, 128]
    assert sum(groups_of(1001, 7)) == 1001


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(pe=pe_configs, rows=st.integers(1, 6), cols=st.integers(1, 6), m=st.integers(1, 12),
       n=st.integers(1, 12), k=st.integers(1, 200))
def test_array_closed_form_equals_reference_larger(pe, rows, cols, m, n, k):
    assert (array_cycles(rows, cols, pe, m, n, k).cycles
            == simulate_array(rows, cols, pe, m, n, k).cycles)


def test_bitmod_paper_shape_in_closed_form():
    # 4096x4096 linear layer, 256 tokens, on 32x32 BitMoD PEs with 3-bit weights:
    # 128*8 folds x 32 groups x 64 cycles, + one dequantization + fill.
    pe = PEConfig(weight_bits=3, **BITMOD_PE)
    t = array_cycles(32, 32, pe, 256, 4096, 4096)
    assert t.cycles == 128 * 8 * 32 * 64 + 8 + 4
    assert math.isclose(t.macs / t.cycles, 2048, rel_tol=1e-5)  # 1024 PEs x 4 lanes / 2
