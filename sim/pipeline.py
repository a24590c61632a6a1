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

run_tiles takes the same schedule written as nested runs (tile, count) / (sequence,
count) when every tile ends its own visit, and skips repeats at every level the same
way, so its work depends on the number of distinct tiles and runs, not on the counts.
STEPS counts the tiles either function stepped through (tests bound it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


STEPS = [0]  # tiles stepped through by run_pipeline / run_tiles, for tests that bound work


@dataclass(frozen=True)
class PipelineTiming:
    cycles: int
    dram_busy_cycles: int
    written_bytes: int = 0  # output bytes written back (run_tiles counts them)


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
        STEPS[0] += 1
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
    return PipelineTiming(int(max(end, dram_free)), int(busy), int(sum(writebacks)))


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


def _nest(seq, bw: float, transfer: dict):
    """`seq` with each tile as (load cycles, compute cycles, output bytes, their write
    cycles, starts a visit): the transfers priced once per distinct byte count."""
    def cycles(nbytes):
        if nbytes not in transfer:
            transfer[nbytes] = math.ceil(nbytes / bw) if nbytes else 0
        return transfer[nbytes]

    out = []
    for item, count in seq:
        if isinstance(item, tuple):
            load, compute, out_bytes, *visit = item
            item = (cycles(load), compute, out_bytes, cycles(out_bytes),
                    visit[0] if visit else True)
        else:
            item = _nest(item, bw, transfer)
        out.append((item, count))
    return out


class _State:
    """The pipeline between two tiles: end of the last load, DRAM free, compute ends of
    the last two tiles, the writeback ends of the last two finished output visits, and
    the output bytes of the last tile (written back when the next tile starts a visit)
    with their write cycles."""

    __slots__ = ("load_end", "dram_free", "c1", "c2", "w1", "w2", "pending", "pending_t",
                 "busy", "written")

    def __init__(self):
        self.load_end = self.dram_free = self.c1 = self.c2 = self.w1 = self.w2 = 0
        self.pending = self.pending_t = self.busy = self.written = 0

    def step(self, load_t: int, compute: int, out_bytes: int, out_t: int, new_visit: bool):
        """run_pipeline's step: load this tile; if it starts an output visit, write back
        the last tile's (it ended the previous visit); compute once the operands are in
        and the output slot of the visit before last is written back."""
        STEPS[0] += 1
        c1 = self.c1
        load_end = max(self.dram_free, self.load_end, self.c2) + load_t
        self.busy += load_t
        dram_free = load_end
        if new_visit:
            done = c1  # nothing to write: the slot is free once the tile computed
            if self.pending:
                dram_free = max(dram_free, c1) + self.pending_t
                self.busy += self.pending_t
                self.written += self.pending
                done = dram_free
            self.w2, self.w1 = self.w1, done
        self.load_end, self.dram_free = load_end, dram_free
        self.c1, self.c2 = max(load_end, c1, self.w2) + compute, c1
        self.pending, self.pending_t = out_bytes, out_t

    def key(self) -> tuple:
        """The state relative to c1. A writeback end at or before c1 is given as 0: every
        later compute starts at c1 or after, so it can no longer delay one (without
        this, a run of tiles within one output visit would never repeat its state)."""
        c = self.c1
        return (self.load_end - c, self.dram_free - c, self.c2 - c, max(self.w1 - c, 0),
                max(self.w2 - c, 0), self.pending)

    def shift(self, periods: int, then: tuple[int, int, int]):
        """Skip `periods` repeats of what ran since the state was (c1, busy, written) =
        `then` and equal, relative to c1, to the state now: max-plus steps commute with
        a shift of every time."""
        dc = periods * (self.c1 - then[0])
        self.load_end += dc
        self.dram_free += dc
        self.c1 += dc
        self.c2 += dc
        self.w1 += dc
        self.w2 += dc
        self.busy += periods * (self.busy - then[1])
        self.written += periods * (self.written - then[2])

    def run(self, seq):
        for item, count in seq:
            once = (lambda: self.step(*item)) if isinstance(item, tuple) else (lambda: self.run(item))
            seen: dict[tuple, tuple[int, int, int, int]] = {}
            done = 0
            while done < count:
                key = self.key()
                if key in seen:
                    j, c1, busy, written = seen.pop(key)
                    periods = (count - done) // (done - j)
                    if periods:
                        self.shift(periods, (c1, busy, written))
                        done += periods * (done - j)
                        seen.clear()
                        continue
                seen[key] = (done, self.c1, self.busy, self.written)
                once()
                done += 1


def walk_runs(seq, times: int = 1):
    """(tile, how many times it runs) of a nested run list (the form run_tiles takes)."""
    for item, count in seq:
        if isinstance(item, tuple):
            yield item, times * count
        else:
            yield from walk_runs(item, times * count)


def run_tiles(seq, dram_bytes_per_cycle: float) -> PipelineTiming:
    """run_pipeline of the tiles `seq` lists. `seq`: [(item, count), ...] where item is a
    tile or another such sequence, run `count` times in a row. A tile is (load bytes,
    compute cycles, output bytes) and ends its own output visit, or (load, compute,
    output bytes, starts_visit): its output bytes are written back after it only if the
    next tile starts a visit (or it is the last)."""
    st = _State()
    st.run(_nest(seq, dram_bytes_per_cycle, {}))
    end = st.c1
    if st.pending:
        st.dram_free = max(st.dram_free, st.c1) + st.pending_t
        st.busy += st.pending_t
        st.written += st.pending
        end = max(end, st.dram_free)
    return PipelineTiming(int(max(end, st.dram_free)), int(st.busy), int(st.written))
