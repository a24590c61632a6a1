"""The 1D unit's closed form equals its cycle-by-cycle reference."""

from hypothesis import given, settings
from hypothesis import strategies as st

import arch
import workloads
from conftest import REPO
from sim.vector_engine import cycles_per_point, lane_cycles
from sim.vector_reference import run_lanes


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.integers(1, 20), st.integers(1, 9), st.integers(1, 16),
       st.integers(1, 6))
def test_closed_form_equals_reference(out_points, reduce_len, cpp, lanes, depth):
    expected = lane_cycles(out_points, reduce_len, cpp, lanes) + depth
    assert run_lanes(out_points, reduce_len, cpp, lanes, depth) == expected


def test_cycles_per_point_counts_each_operation():
    a = arch.load()
    by = {e.name: e for e in workloads.load(REPO / "workloads" / "attention.yaml").einsums}
    assert cycles_per_point(by["SN"], a) == 1 + 7           # subtract, exp
    assert cycles_per_point(by["GM"], a) == 1                # the max reduction
    assert cycles_per_point(by["A"], a) == 7                 # divide, costed like exp
