"""Per-cycle reference of the BitMoD bit-serial PE and array (slow; for tests and RTL).

Steps a small state machine one clock at a time, exactly as sim/bitserial.py's module
docstring describes; sim/bitserial.py is its closed form and the tests hold them equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.bitserial import PEConfig, groups_of


@dataclass
class PETrace:
    cycles: int                                          # start to last output
    output_cycles: list[int] = field(default_factory=list)  # cycle each output became final
    macs: list[int] = field(default_factory=list)           # MACs done for each output


def simulate_pe(pe: PEConfig, group_sizes_per_output: list[list[int]]) -> PETrace:
    """Run one PE over a stream of outputs, each the list of its groups' sizes.

    Per clock: the pipeline fills for `pipeline_depth` clocks; then the group
    accumulator advances one cycle of the current step (a step = `lanes` weights,
    cycles_per_weight clocks; its MACs count when its last bit-slice is done), and the
    dequantizer counts down. At the end of a clock, a finished group's partial sum moves
    to the dequantizer if that is free, and the accumulator starts the next group on the
    following clock.
    """
    cpw = pe.cycles_per_weight
    stream = [(out, g) for out, groups in enumerate(group_sizes_per_output) for g in groups]
    last_of_output = {}
    for idx, (out, _) in enumerate(stream):
        last_of_output[out] = idx
    trace = PETrace(0, [0] * len(group_sizes_per_output), [0] * len(group_sizes_per_output))
    if not stream:
        return trace
    t = 0
    gi = 0             # group the accumulator works on (len(stream): none left)
    acc_clock = 0      # clocks spent on group gi
    holding = False    # accumulator holds gi's finished partial sum
    deq_left = 0       # clocks the dequantizer still needs
    deq_group = -1
    done_groups = 0
    while done_groups < len(stream):
        if t >= pe.pipeline_depth:
            if gi < len(stream) and not holding:
                out, size = stream[gi]
                acc_clock += 1
                if acc_clock % cpw == 0:  # a step's last bit-slice: its lanes' MACs land
                    step = acc_clock // cpw - 1
                    trace.macs[out] += min(pe.lanes, size - step * pe.lanes)
                if acc_clock == math.ceil(size / pe.lanes) * cpw:
                    holding = True
            if deq_left > 0:
                deq_left -= 1
                if deq_left == 0:
                    _finish(trace, stream, last_of_output, deq_group, t + 1)
                    done_groups += 1
            if holding and deq_left == 0:  # handover at the end of this clock
                deq_group, holding = gi, False
                gi, acc_clock = gi + 1, 0
                deq_left = pe.dequant_cycles
                if deq_left == 0:
                    _finish(trace, stream, last_of_output, deq_group, t + 1)
                    done_groups += 1
        t += 1
    trace.cycles = max(trace.output_cycles)
    return trace


def _finish(trace: PETrace, stream, last_of_output, group: int, when: int):
    out = stream[group][0]
    if last_of_output[out] == group:
        trace.output_cycles[out] = when


@dataclass
class ArrayTrace:
    cycles: int
    macs: int
    outputs: int


def simulate_array(rows: int, cols: int, pe: PEConfig, m: int, n: int, k: int,
                   batch: int = 1) -> ArrayTrace:
    """Every PE of a rows x cols array, clock by clock, on `batch` [m x k] x [k x n] GEMMs.

    Folds run batch outermost, then row fold, column fold inner; in each fold PE (r, c) computes output
    (token c + fold_col * cols, channel r + fold_row * rows) if it exists, and otherwise
    runs the same clocks on padding (lockstep broadcast) without counting MACs.
    """
    groups = groups_of(k, pe.group_size)
    row_folds, col_folds = math.ceil(n / rows), math.ceil(m / cols)
    last, macs, outputs = 0, 0, 0
    for r in range(rows):
        for c in range(cols):
            real = [fr * rows + r < n and fc * cols + c < m
                    for _ in range(batch) for fr in range(row_folds) for fc in range(col_folds)]
            trace = simulate_pe(pe, [groups] * len(real))
            for is_real, when, done in zip(real, trace.output_cycles, trace.macs):
                if is_real:
                    last = max(last, when)
                    macs += done
                    outputs += 1
    return ArrayTrace(last, macs, outputs)
