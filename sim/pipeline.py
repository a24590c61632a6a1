"""The tile pipeline: DRAM transfers overlapped with compute through double buffers.

Tiles run in order. Before tile i computes, its changed operands are fetched (into
the input slot freed when tile i-2 finished); when tile i ends a visit to an output
tile, that output is written back (its slot is reused two visits later). DRAM serves
one transfer at a time, first come first served; with prefetch ahead of writeback
that order is fixed: load 0, load 1, write 0, load 2, write 1, ...
Every time is an integer cycle; nothing is averaged.

A run of identical tiles that each end their own visit (the vector unit's chunks) is a
time-invariant max-plus recurrence: once its state relative to the last compute end
repeats, every later period adds the same cycles, so the run is skipped ahead exactly
(`fast=False` steps through every tile; tests check the two agree).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PipelineTiming:
    cycles: int
    dram_busy_cycles: int


def run_pipeline(loads: Sequence[int], computes: Sequence[int], writebacks: Sequence[int],
                 visits: Sequence[int], dram_bytes_per_cycle: float,
                 fast: bool = True) -> PipelineTiming:
    """loads[i]: bytes fetched for tile i; computes[i]: its cycles; writebacks[i]: bytes
    written after it (0 unless it ends an output visit); visits[i]: the output visit
    (0, 1, 2, ...) it accumulates into."""

    def transfer(nbytes: float) -> int:
        return math.ceil(nbytes / dram_bytes_per_cycle) if nbytes else 0

    n = len(loads)
    steady_end = _steady_runs(loads, computes, writebacks, visits) if fast else None
    dram_free = busy = load_end = 0
    c1 = c2 = 0  # compute end of tiles i-1 and i-2
    written: dict[int, int] = {}  # output visit -> cycle its writeback finished
    seen: dict[tuple, tuple[int, int, int]] = {}  # relative state -> (tile, c1, busy)
    i = 0
    while i < n:
        if steady_end is not None and steady_end[i] > i:
            w2 = written.get(visits[i] - 2, 0)
            state = (load_end - c1, dram_free - c1, c2 - c1, w2 - c1, steady_end[i])
            if state in seen:
                j, c1_then, busy_then = seen.pop(state)
                periods = (steady_end[i] - i) // (i - j)
                if periods:
                    shift = periods * (c1 - c1_then)
                    load_end, dram_free, c1, c2 = (load_end + shift, dram_free + shift,
                                                   c1 + shift, c2 + shift)
                    busy += periods * (busy - busy_then)
                    i += periods * (i - j)
                    if i < n:
                        written[visits[i] - 2] = w2 + shift
                    continue
            seen[state] = (i, c1, busy)
        issue = max(load_end, c2 if i >= 2 else 0)
        load_end = max(dram_free, issue) + transfer(loads[i])
        busy += transfer(loads[i])
        dram_free = load_end
        if i >= 1 and writebacks[i - 1]:
            start = max(dram_free, c1)
            dram_free = start + transfer(writebacks[i - 1])
            busy += transfer(writebacks[i - 1])
            written[visits[i - 1]] = dram_free
        start = max(load_end, c1 if i else 0, written.get(visits[i] - 2, 0))
        c1, c2 = start + computes[i], c1
        i += 1
    end = c1
    if writebacks[-1]:
        start = max(dram_free, c1)
        dram_free = start + transfer(writebacks[-1])
        busy += transfer(writebacks[-1])
        end = max(end, dram_free)
    return PipelineTiming(int(max(end, dram_free)), int(busy))


def _steady_runs(loads, computes, writebacks, visits) -> list[int] | None:
    """steady_end[i]: where the run of steps identical to step i ends (exclusive), or i
    when step i differs from step i-1. Step i loads tile i, writes back tile i-1 and
    computes tile i; it repeats step i-1 when those inputs are equal and each tile ends
    its own visit (visits 0, 1, 2, ...)."""
    n = len(loads)
    if n < 8 or visits[-1] - visits[0] != n - 1:  # not one visit per tile
        return None
    ld, cp, wb, v = (np.asarray(x) for x in (loads, computes, writebacks, visits))
    same = np.zeros(n, dtype=bool)
    same[2:] = ((ld[2:] == ld[1:-1]) & (cp[2:] == cp[1:-1]) & (wb[1:-1] == wb[:-2])
                & (wb[1:-1] != 0) & (v[2:] - v[1:-1] == 1) & (v[1:-1] - v[:-2] == 1))
    if not same.any():
        return None
    # the end of each run of `same`: the next index where `same` is False
    idx = np.arange(n)
    breaks = np.append(np.flatnonzero(~same), n)
    run_end = breaks[np.searchsorted(breaks, idx)]
    return np.where(same, run_end, idx).tolist()
