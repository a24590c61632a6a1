"""The systolic array RTL against the exact golden model and sim.array2d's cycles."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
from rtl.array2d import SystolicArray
from rtl.cosim import CosimMismatch, check_array, check_array_outputs, run_array
from rtl.numerics import mac_format, random_operands
from sim.array2d import fold_starts


def operands(fmt, dataflow, R, C, folds, rng):
    """(first, second) operand lists of random folds [(r, c, L), ...]."""
    if dataflow == "os":
        return ([random_operands(fmt, rng, (r, L)) for r, c, L in folds],
                [random_operands(fmt, rng, (L, c)) for r, c, L in folds])
    return ([random_operands(fmt, rng, (r, c)) for r, c, L in folds],
            [random_operands(fmt, rng, (L, r)) for r, c, L in folds])


@st.composite
def cases(draw, max_dim=4, max_folds=3, max_len=6):
    R, C = draw(st.integers(1, max_dim)), draw(st.integers(1, max_dim))
    folds = [(draw(st.integers(1, R)), draw(st.integers(1, C)), draw(st.integers(1, max_len)))
             for _ in range(draw(st.integers(1, max_folds)))]
    return (R, C, folds, draw(st.sampled_from(["int8", "fp16"])),
            draw(st.one_of(st.just(10**9), st.integers(8, 100))), draw(st.integers(0, 2**31)))


@pytest.mark.parametrize("dataflow", ["os", "ws"])
@settings(max_examples=6, deadline=None)
@given(case=cases())
def test_array_matches_golden_and_sim_cycles(dataflow, case):
    R, C, folds, fmt_name, bw, seed = case
    fmt = mac_format(fmt_name)
    first, second = operands(fmt, dataflow, R, C, folds, np.random.default_rng(seed))
    check_array(SystolicArray(R, C, fmt, dataflow), first, second, bw_bits=bw)


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["os", "ws"])
@settings(max_examples=40, deadline=None)
@given(case=cases(max_dim=8, max_folds=5, max_len=12))
def test_array_larger_randomized(dataflow, case):
    R, C, folds, fmt_name, bw, seed = case
    fmt = mac_format(fmt_name)
    first, second = operands(fmt, dataflow, R, C, folds, np.random.default_rng(seed))
    check_array(SystolicArray(R, C, fmt, dataflow), first, second, bw_bits=bw)


@pytest.mark.parametrize("dataflow, folds", [
    ("os", [(3, 3, 2), (3, 3, 2)]),   # second fold waits for the column ports (R > L)
    ("os", [(3, 3, 4), (3, 3, 4)]),   # second fold waits for the PEs (L >= R)
    ("ws", [(3, 3, 2), (3, 3, 2)]),   # second fold waits for its preload (R > L)
])
def test_sim_schedule_is_tight(dataflow, folds):
    """Starting the second fold one step earlier than sim's schedule breaks the RTL
    (lost or merged outputs, or a step that needs two vectors): the gaps are minimal."""
    R = C = 3
    fmt = mac_format("int8")
    first, second = operands(fmt, dataflow, R, C, folds, np.random.default_rng(0))
    dut = SystolicArray(R, C, fmt, dataflow)
    check_array(dut, first, second)
    L = np.array([f[2] for f in folds])
    early = fold_starts(dataflow, R, L)
    early[1] -= 1
    with pytest.raises(CosimMismatch):
        check_array_outputs(dut, first, second, run_array(dut, first, second, starts=early))


def test_array_is_parameterized_by_arch():
    spec = arch.load("default").with_changes(**{"PE2D.rows": 2, "PE2D.cols": 3}).array2d
    dut = SystolicArray.from_arch(spec, "ws", "int8")
    assert (dut.rows, dut.cols, dut.fmt.name) == (2, 3, "int8")
    first, second = operands(dut.fmt, "ws", 2, 3, [(2, 3, 4)], np.random.default_rng(1))
    check_array(dut, first, second)
