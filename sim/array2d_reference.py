"""Cycle-by-cycle reference of the systolic array in sim/array2d.py, moving real values.

Slow (a Python loop per cycle) and meant for tests and co-simulation: it checks that
the fixed schedule never collides (operands of different folds meeting in a PE, two
results on one column port, weights overwritten before use), that the outputs equal
the matrix products, and gives the cycle count the closed form must match.
"""

from __future__ import annotations

import numpy as np

from sim.array2d import Folds, fold_starts, need_events


class ScheduleConflict(AssertionError):
    """The schedule put two things in one place: the timing model is wrong."""


def _feeder(dataflow, R, folds, bits, bw_bits):
    sigma, need = need_events(dataflow, R, folds, bits)
    ready = -(-np.cumsum(need) // bw_bits)
    return dict(zip(sigma.tolist(), ready.tolist()))


def _active(starts, lens, t):
    """Fold streaming at relative step t and the index within it, or (-1, -1)."""
    f = int(np.searchsorted(starts, t, side="right")) - 1
    if f < 0 or t >= starts[f] + lens[f]:
        return -1, -1
    return f, int(t - starts[f])


def run_os(A: list[np.ndarray], B: list[np.ndarray], R: int, C: int, bits=(16, 16),
           bw_bits: int = 10**9):
    """Output-stationary folds: A[f] is r_f x L_f (rows), B[f] is L_f x c_f (columns).
    Returns (cycles, [A[f] @ B[f] as computed by the array])."""
    folds = Folds(np.array([a.shape[0] for a in A]), np.array([b.shape[1] for b in B]),
                  np.array([a.shape[1] for a in A]))
    starts, lens = fold_starts("os", R, folds.L), folds.L
    ready = _feeder("os", R, folds, bits, bw_bits)
    out = [np.zeros((a.shape[0], b.shape[1])) for a, b in zip(A, B)]
    a_val, b_val, acc = np.zeros((R, C)), np.zeros((R, C)), np.zeros((R, C))
    a_tag = np.full((R, C, 2), -1)
    b_tag = np.full((R, C, 2), -1)
    landed: list[tuple] = []
    remaining = folds.count * R * C
    cycle = step = 0
    while remaining:
        if step in ready and cycle < ready[step]:
            cycle += 1  # stalled: waiting for this step's vector
            continue
        ports: dict[int, tuple] = {}
        for j, item in landed:
            if j in ports:
                raise ScheduleConflict(f"two results on column port {j} at step {step}")
            ports[j] = item
        for f, i, j, value in ports.values():
            if i < out[f].shape[0] and j < out[f].shape[1]:
                out[f][i, j] = value
            remaining -= 1
        landed = []
        a_val[:, 1:], a_tag[:, 1:] = a_val[:, :-1], a_tag[:, :-1]
        b_val[1:, :], b_tag[1:, :] = b_val[:-1, :], b_tag[:-1, :]
        for i in range(R):
            f, k = _active(starts, lens, step - i)
            a_tag[i, 0] = (f, k)
            a_val[i, 0] = A[f][i, k] if f >= 0 and i < A[f].shape[0] else 0.0
        for j in range(C):
            f, k = _active(starts, lens, step - j)
            b_tag[0, j] = (f, k)
            b_val[0, j] = B[f][k, j] if f >= 0 and j < B[f].shape[1] else 0.0
        a_ok, b_ok = a_tag[..., 0] >= 0, b_tag[..., 0] >= 0
        if np.any(a_ok != b_ok) or np.any((a_tag != b_tag).any(-1) & a_ok):
            raise ScheduleConflict(f"operands of different steps meet at step {step}")
        k = a_tag[..., 1]
        prod = a_val * b_val
        acc = np.where(a_ok & (k == 0), prod, np.where(a_ok, acc + prod, acc))
        for i, j in zip(*np.nonzero(a_ok & (k == lens[np.maximum(a_tag[..., 0], 0)] - 1))):
            landed.append((int(j), (int(a_tag[i, j, 0]), int(i), int(j), acc[i, j])))
        step += 1
        cycle += 1
    return cycle, out


def run_ws(W: list[np.ndarray], X: list[np.ndarray], R: int, C: int, bits=(16, 16),
           bw_bits: int = 10**9):
    """Weight-stationary folds: W[f] is r_f x c_f (rows = reduction), X[f] is L_f x r_f
    (streamed vectors). Returns (cycles, [X[f] @ W[f] as computed by the array])."""
    folds = Folds(np.array([w.shape[0] for w in W]), np.array([w.shape[1] for w in W]),
                  np.array([x.shape[0] for x in X]))
    starts, lens = fold_starts("ws", R, folds.L), folds.L
    ready = _feeder("ws", R, folds, bits, bw_bits)
    out = [np.zeros((x.shape[0], w.shape[1])) for w, x in zip(W, X)]
    w_act, w_sh = np.zeros((R, C)), np.zeros((R, C))
    w_act_tag, w_sh_tag = np.full((R, C), -1), np.full((R, C), -1)
    a_val, a_tag = np.zeros((R, C)), np.full((R, C, 2), -1)
    p_val, p_tag = np.zeros((R, C)), np.full((R, C, 2), -1)
    remaining = int(np.sum(lens)) * C
    cycle = step = 0
    while remaining:
        if step in ready and cycle < ready[step]:
            cycle += 1
            continue
        for j in range(C):  # bottom psums of the previous step leave the column ports
            f, m = p_tag[R - 1, j]
            if f >= 0:
                if j < out[f].shape[1]:
                    out[f][m, j] = p_val[R - 1, j]
                remaining -= 1
        a_val[:, 1:], a_tag[:, 1:] = a_val[:, :-1], a_tag[:, :-1]
        for i in range(R):
            f, m = _active(starts, lens, step - i)
            a_tag[i, 0] = (f, m)
            a_val[i, 0] = X[f][m, i] if f >= 0 and i < X[f].shape[1] else 0.0
        swap = (a_tag[..., 0] >= 0) & (a_tag[..., 0] != w_act_tag)
        if np.any(swap & (w_sh_tag != a_tag[..., 0])):
            raise ScheduleConflict(f"weights not preloaded in time at step {step}")
        w_act, w_act_tag = np.where(swap, w_sh, w_act), np.where(swap, w_sh_tag, w_act_tag)
        for f in range(folds.count):  # preload row q of fold f reaches column j at S-R+q+j
            for i in range(R):
                for j in range(C):
                    if step == starts[f] - R + i + j:
                        if w_sh_tag[i, j] >= 0 and w_sh_tag[i, j] != w_act_tag[i, j]:
                            raise ScheduleConflict(f"weights overwritten before use at {step}")
                        w_sh[i, j] = W[f][i, j] if i < W[f].shape[0] and j < W[f].shape[1] else 0
                        w_sh_tag[i, j] = f
        valid = a_tag[..., 0] >= 0
        above_val = np.vstack((np.zeros((1, C)), p_val[:-1]))
        above_tag = np.concatenate((np.full((1, C, 2), -1), p_tag[:-1]), axis=0)
        rows_below = np.arange(R)[:, None] > 0
        if np.any(valid & rows_below & (above_tag != a_tag).any(-1)):
            raise ScheduleConflict(f"partial sums of different vectors meet at step {step}")
        p_val = np.where(valid, above_val * rows_below + a_val * w_act, 0.0)
        p_tag = np.where(valid[..., None], a_tag, -1)
        step += 1
        cycle += 1
    return cycle, out
