"""The closed-form systolic timing equals the cycle-by-cycle reference, which also
computes the right products (so the schedule it proves is a working one)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.array2d import Folds, array_cycles, schedule_steps
from sim.array2d_reference import run_os, run_ws


@st.composite
def fold_runs(draw):
    R, C = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    n = draw(st.integers(1, 4))
    r = [draw(st.integers(1, R)) for _ in range(n)]
    c = [draw(st.integers(1, C)) for _ in range(n)]
    L = [draw(st.integers(1, 10)) for _ in range(n)]
    bits = (draw(st.integers(1, 16)), draw(st.integers(1, 16)))
    bw = draw(st.one_of(st.just(10**9), st.integers(1, 80)))
    seed = draw(st.integers(0, 2**31))
    return R, C, np.array(r), np.array(c), np.array(L), bits, bw, seed


@settings(max_examples=150, deadline=None)
@given(fold_runs())
def test_output_stationary_matches_reference(case):
    R, C, r, c, L, bits, bw, seed = case
    rng = np.random.default_rng(seed)
    A = [rng.standard_normal((r[f], L[f])) for f in range(len(L))]
    B = [rng.standard_normal((L[f], c[f])) for f in range(len(L))]
    cycles, out = run_os(A, B, R, C, bits, bw)
    for o, a, b in zip(out, A, B):
        np.testing.assert_allclose(o, a @ b, atol=1e-9)
    assert array_cycles("os", R, C, Folds(r, c, L), bits, bw).cycles == cycles


@settings(max_examples=150, deadline=None)
@given(fold_runs())
def test_weight_stationary_matches_reference(case):
    R, C, r, c, L, bits, bw, seed = case
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((r[f], c[f])) for f in range(len(L))]
    X = [rng.standard_normal((L[f], r[f])) for f in range(len(L))]
    cycles, out = run_ws(W, X, R, C, bits, bw)
    for o, w, x in zip(out, W, X):
        np.testing.assert_allclose(o, x @ w, atol=1e-9)
    assert array_cycles("ws", R, C, Folds(r, c, L), bits, bw).cycles == cycles


def test_one_fold_latency_by_hand():
    # 4x4 OS, L=8: last MAC at step 7+3+3=13, leaves at step 14 -> 15 steps, +1 read cycle.
    assert schedule_steps("os", 4, 4, np.array([8])) == 15
    timing = array_cycles("os", 4, 4, Folds.grid(4, 4, 8, 4, 4), (16, 16), 10**6)
    assert timing.cycles == 16 and timing.macs == 4 * 4 * 8


def test_folds_overlap_in_steady_state():
    """Back-to-back folds cost max(L, R) each, not a full fill and drain."""
    one = schedule_steps("os", 8, 8, np.array([64]))
    ten = schedule_steps("os", 8, 8, np.full(10, 64))
    assert ten - one == 9 * 64


def test_starved_port_stretches_the_fold():
    fast = array_cycles("os", 8, 8, Folds.grid(8, 8, 100, 8, 8), (16, 16), 256)
    slow = array_cycles("os", 8, 8, Folds.grid(8, 8, 100, 8, 8), (16, 16), 128)
    assert fast.stall_cycles == 0 and slow.stall_cycles >= 100 - 1
