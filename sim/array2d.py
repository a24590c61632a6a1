"""Timing of a rows x cols systolic array running a sequence of folds (native model).

The microarchitecture (sim/array2d_reference.py simulates it cycle by cycle and
tests/test_array2d.py shows the two agree on randomized cases):

- Fixed schedule: operands enter through skew buffers, row i delayed i steps and
  column j delayed j steps; unused rows/columns of a partial fold carry zeros, so a
  fold's timing does not depend on how much of the array it uses.
- Output-stationary (os): fold f streams L_f reduction steps; PE(i,j) does its k-th
  MAC at step S_f + k + i + j, then hands the sum to a one-entry output register;
  each column has one output port that emits a value per step, so a fold's R results
  per column leave over R consecutive steps. Folds overlap: the next fold may start
  when the PEs are free (L_f steps later) and its outputs do not collide with this
  fold's on the column ports.
- Weight-stationary (ws): a fold's R x C stationary tile is preloaded a row per step
  into shadow registers (R steps) while the previous fold streams, and swapped in
  with the first streamed vector; partial sums flow down and leave a column port per
  step. Input-stationary (is) is ws with the roles of the operands exchanged.
- Feeding: every step that injects data needs one vector of operands (os: r values of
  the row operand and c of the column operand; ws: a streamed vector of r values, or a
  preload row of c weights). The buffer delivers `bw` bits per cycle into an unbounded
  prefetch queue; a vector can be injected from the cycle after its last bit arrives
  (so one cycle of read latency). Without its vector, the whole array stalls a cycle.

- Sub-array (a mapping's `array: [r, c]`): the folds use r <= R rows and c <= C
  columns and the controller schedules them as on an r x c array, so they pay r + c
  fill and drain, not R + C. Where it sits matters, and is chosen so nothing else
  does: os at the corner where both operands enter (rows 0..r-1, columns 0..c-1): a
  PE's operands reach it through the used rows and columns only, and its result goes
  to its column's output port, which takes one value a step wherever the PE sits.
  ws/is at the corner of the streamed operand's edge and the output edge (the last r
  rows, columns 0..c-1): partial sums leave the used rows straight into the output
  ports; the rows above carry zero inputs, so the sums enter the sub-array as zeros
  (as in any partial fold); stationary operands are written a row per step into the
  addressed row's shadow registers, so r rows take r steps. With these, a sub-array's
  timing, feeding and energy are those of an r x c array (its leak stays the whole
  array's), so a larger array can run every mapping a smaller one can.

Steps are array clock cycles when nothing stalls. With need events n at steps
sigma_n and cumulative bits B_n, vector n is ready at cycle ceil(B_n / bw); a global
stall shifts every later step, so the final cycle count is
    steps + max(0, max_n(ceil(B_n / bw) - sigma_n)),
which is what array_cycles computes (vectorized; O(1) when bandwidth is ample).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Folds:
    """A run of folds on an R x C array: per fold, rows used r, columns used c and
    temporal length L (os: reduction steps; ws/is: streamed vectors)."""

    r: np.ndarray
    c: np.ndarray
    L: np.ndarray

    @classmethod
    def grid(cls, rows_extent: int, cols_extent: int, L: int, R: int, C: int,
             repeat: int = 1) -> "Folds":
        """The folds that cover a rows_extent x cols_extent spatial tile (row folds outer),
        repeated `repeat` times (e.g. over a batch)."""
        r = np.minimum(R, rows_extent - np.arange(0, rows_extent, R))
        c = np.minimum(C, cols_extent - np.arange(0, cols_extent, C))
        rr, cc = np.meshgrid(r, c, indexing="ij")
        rr, cc = np.tile(rr.ravel(), repeat), np.tile(cc.ravel(), repeat)
        return cls(rr, cc, np.full(rr.size, L, dtype=np.int64))

    @property
    def count(self) -> int:
        return int(self.L.size)

    @property
    def macs(self) -> int:
        return int(np.sum(self.r * self.c * self.L))


def fold_starts(dataflow: str, R: int, L: np.ndarray) -> np.ndarray:
    """Step at which each fold injects its first vector."""
    L = np.asarray(L, dtype=np.int64)
    if dataflow == "os":
        # PEs free after L_f; column ports: S_{f+1} + L_{f+1} >= S_f + L_f + R.
        gaps = np.maximum(L[:-1], L[:-1] + R - L[1:])
        first = 0
    else:
        # Weight swap after the last vector passes; preload of R rows between swaps.
        gaps = np.maximum(L[:-1], R)
        first = R
    return first + np.concatenate(([0], np.cumsum(gaps)))


def schedule_steps(dataflow: str, R: int, C: int, L: np.ndarray) -> int:
    """Steps from the first injection to the last output leaving, with no stalls."""
    starts = fold_starts(dataflow, R, L)
    return int(starts[-1] + L[-1] + R + C - 1)


def need_events(dataflow: str, R: int, folds: Folds, bits: tuple[int, int]):
    """(sigma, bits) of every step that needs a vector from the buffer, sorted by step.

    bits = (row operand, column operand) for os; (streamed, stationary) for ws/is.
    """
    starts = fold_starts(dataflow, R, folds.L)
    lens = folds.L
    idx = np.repeat(np.arange(folds.count), lens)
    offsets = np.arange(idx.size) - np.repeat(np.cumsum(lens) - lens, lens)
    sigma = starts[idx] + offsets
    if dataflow == "os":
        need = folds.r[idx] * bits[0] + folds.c[idx] * bits[1]
        return sigma, need
    stream = folds.r[idx] * bits[0]
    pre_idx = np.repeat(np.arange(folds.count), folds.r)
    pre_off = np.arange(pre_idx.size) - np.repeat(np.cumsum(folds.r) - folds.r, folds.r)
    pre_sigma = starts[pre_idx] - R + pre_off
    pre_need = folds.c[pre_idx] * bits[1]
    sigma = np.concatenate((sigma, pre_sigma))
    need = np.concatenate((stream, pre_need))
    order = np.argsort(sigma, kind="stable")
    sigma, need = sigma[order], need[order]
    # A preload row and a streamed vector on the same step are one fetch.
    uniq, first = np.unique(sigma, return_index=True)
    return uniq, np.add.reduceat(need, first)


@dataclass(frozen=True)
class ArrayTiming:
    cycles: int        # first cycle to last output leaving, stalls included
    ideal_cycles: int  # the same with an unlimited buffer port (steps + 1 read cycle)
    macs: int

    @property
    def stall_cycles(self) -> int:
        return self.cycles - self.ideal_cycles


def array_cycles(dataflow: str, R: int, C: int, folds: Folds, bits: tuple[int, int],
                 bw_bits: int) -> ArrayTiming:
    """Cycles to run `folds` (see the module docstring for the model)."""
    if dataflow == "is":
        dataflow = "ws"  # same machine, operands exchanged by the caller
    steps = schedule_steps(dataflow, R, C, folds.L)
    ideal = steps + 1
    # os: one vector of each operand; ws: a streamed vector and a preload row at most.
    worst_need = int(np.max(folds.r * bits[0] + folds.c * bits[1]))
    if worst_need <= bw_bits:
        # Each ready time is at most one cycle past its step; the first step (sigma 0)
        # is exactly one late.
        return ArrayTiming(ideal, ideal, folds.macs)
    sigma, need = need_events(dataflow, R, folds, bits)
    ready = -(-np.cumsum(need) // bw_bits)
    delay = max(0, int(np.max(ready - sigma)))
    return ArrayTiming(steps + delay, ideal, folds.macs)
