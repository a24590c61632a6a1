"""The tile pipeline: DRAM transfers overlapped with compute through double buffers.

Tiles run in order. Before tile i computes, its changed operands are fetched (into
the input slot freed when tile i-2 finished); when tile i ends a visit to an output
tile, that output is written back (its slot is reused two visits later). DRAM serves
one transfer at a time, first come first served; with prefetch ahead of writeback
that order is fixed: load 0, load 1, write 0, load 2, write 1, ...
Every time is an integer cycle; nothing is averaged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineTiming:
    cycles: int
    dram_busy_cycles: int


def run_pipeline(loads: Sequence[int], computes: Sequence[int], writebacks: Sequence[int],
                 visits: Sequence[int], dram_bytes_per_cycle: float) -> PipelineTiming:
    """loads[i]: bytes fetched for tile i; computes[i]: its cycles; writebacks[i]: bytes
    written after it (0 unless it ends an output visit); visits[i]: the output visit
    (0, 1, 2, ...) it accumulates into."""

    def transfer(nbytes: float) -> int:
        return math.ceil(nbytes / dram_bytes_per_cycle) if nbytes else 0

    dram_free = busy = 0
    comp_end: list[int] = []
    load_end = 0
    written: dict[int, int] = {}  # output visit -> cycle its writeback finished

    def write_back(i: int):
        nonlocal dram_free, busy
        start = max(dram_free, comp_end[i])
        dram_free = start + transfer(writebacks[i])
        busy += transfer(writebacks[i])
        written[visits[i]] = dram_free

    for i, nbytes in enumerate(loads):
        issue = max(load_end, comp_end[i - 2] if i >= 2 else 0)
        load_end = max(dram_free, issue) + transfer(nbytes)
        busy += transfer(nbytes)
        dram_free = load_end
        if i >= 1 and writebacks[i - 1]:
            write_back(i - 1)
        slot_free = written.get(visits[i] - 2, 0)
        start = max(load_end, comp_end[i - 1] if i else 0, slot_free)
        comp_end.append(start + computes[i])
    end = comp_end[-1]
    if writebacks[-1]:
        write_back(len(loads) - 1)
        end = max(end, dram_free)
    return PipelineTiming(max(end, dram_free), busy)
