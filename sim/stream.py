"""A stream of identical tiles on several units (2D array, 1D array, DRAM), scheduled
exactly, with a per-cycle reference and a tested extrapolation for long streams.

Each tile has the same named ops; an op runs on one unit for a whole number of cycles
and may wait for ops of the same tile or of earlier tiles (deps: (op name, tiles
back)). Every unit runs its ops in a fixed program order: ops are issued by slot
`tile + stage` (then by their order in the tile), so an op with stage 1 runs one tile
behind (software pipelining: e.g. the 2D array computes QK of tile t+1 before the
exponentials of tile t, which wait for the 1D array's running max).

- run_events: exact start/finish of every op (op starts at max(unit free, deps done)).
- run_cycles: the same machine stepped cycle by cycle, recording each unit's busy
  work per cycle (utilization over time); tests show both agree.
- makespan: for streams of n segments x J steps, the finish time is exactly
  bilinear, T = a + b*n + c*J + d*n*J, once past the start-up transient; it is
  measured from four short exact runs and tests check it on randomized streams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Op:
    name: str
    unit: str
    cycles: int
    busy: float = 0.0                        # useful PE- (lane-, byte-) work in the op
    deps: tuple[tuple[str, int], ...] = ()   # (op name, tiles back)
    stage: int = 0


TileOps = Callable[[int], list[Op]]  # tile index -> its ops (same names every tile)


def program(tile_ops: TileOps, n: int) -> tuple[list[list[Op]], dict[str, list[tuple[int, int]]]]:
    tiles = [tile_ops(t) for t in range(n)]
    order: dict[str, list[tuple[int, int, int, int]]] = {}
    for t, ops in enumerate(tiles):
        for i, op in enumerate(ops):
            order.setdefault(op.unit, []).append((t + op.stage, i, t, i))
    return tiles, {u: [(t, i) for _, _, t, i in sorted(v)] for u, v in order.items()}


def _index(ops: list[Op]) -> dict[str, int]:
    return {op.name: i for i, op in enumerate(ops)}


def _schedule(tiles: list[list[Op]], order: dict[str, list[tuple[int, int]]]
              ) -> tuple[list[int], list[int], list[int]]:
    """List scheduling of `program`'s output: (first op index of each tile, start and
    finish of every op by its index). Ops are numbered tile by tile; each op's
    dependencies are resolved to those numbers once (tiles sharing one op list share
    its name index)."""
    base, total = [], 0
    for ops in tiles:
        base.append(total)
        total += len(ops)
    index: dict[int, dict[str, int]] = {}
    for ops in tiles:
        if id(ops) not in index:
            index[id(ops)] = _index(ops)
    start, finish = [0] * total, [-1] * total
    queues = []
    for u, seq in order.items():
        q = []
        for t, i in seq:
            op = tiles[t][i]
            deps = tuple(base[t - back] + index[id(tiles[t - back])][dep]
                         for dep, back in op.deps if t - back >= 0)
            q.append((base[t] + i, op.cycles, deps))
        queues.append(q)
    ptr = [0] * len(queues)
    free = [0] * len(queues)
    remaining = total
    while remaining:
        progressed = False
        for u, q in enumerate(queues):
            p, ready0, n = ptr[u], free[u], len(q)
            while p < n:
                g, cycles, deps = q[p]
                ready = ready0
                for d in deps:
                    f = finish[d]
                    if f < 0:
                        break
                    if f > ready:
                        ready = f
                else:
                    start[g] = ready
                    ready0 = finish[g] = ready + cycles
                    p += 1
                    continue
                break
            if p != ptr[u]:
                remaining -= p - ptr[u]
                ptr[u], free[u] = p, ready0
                progressed = True
        if not progressed:
            raise RuntimeError("the program orders deadlock against the dependencies")
    return base, start, finish


def run_events(tile_ops: TileOps, n: int) -> tuple[int, dict]:
    """(makespan, {(tile, op name): (start, finish)}) by exact list scheduling."""
    tiles, order = program(tile_ops, n)
    base, start, finish = _schedule(tiles, order)
    return max(finish), {(t, op.name): (start[base[t] + i], finish[base[t] + i])
                         for t, ops in enumerate(tiles) for i, op in enumerate(ops)}


def run_cycles(tile_ops: TileOps, n: int) -> tuple[int, dict[str, np.ndarray]]:
    """(makespan, {unit: busy work in each cycle}) stepping the machine cycle by cycle."""
    tiles, order = program(tile_ops, n)
    names = [_index(ops) for ops in tiles]
    finish: dict[tuple[int, int], int] = {}
    ptr = {u: 0 for u in order}
    running: dict[str, list] = {}  # unit -> [tile, index, cycles left]
    busy: dict[str, list[float]] = {u: [] for u in order}
    total = sum(len(v) for v in order.values())
    cycle = 0
    while len(finish) < total:
        changed = True
        while changed:  # start every op whose deps are done by this cycle
            changed = False
            for u, seq in order.items():
                if u in running or ptr[u] == len(seq):
                    continue
                t, i = seq[ptr[u]]
                op = tiles[t][i]
                ok = all(t - b < 0 or finish.get((t - b, names[t - b][d]), cycle + 1) <= cycle
                         for d, b in op.deps)
                if not ok:
                    continue
                ptr[u] += 1
                changed = True
                if op.cycles == 0:
                    finish[(t, i)] = cycle
                else:
                    running[u] = [t, i, op.cycles]
        for u in order:
            busy[u].append(0.0)
        for u, slot in list(running.items()):
            t, i, left = slot
            op = tiles[t][i]
            busy[u][cycle] += op.busy / op.cycles
            slot[2] -= 1
            if slot[2] == 0:
                finish[(t, i)] = cycle + 1
                del running[u]
        cycle += 1
        if cycle > 10_000_000:
            raise RuntimeError("reference run too long")
    span = max(finish.values())
    return span, {u: np.array(v[:span]) for u, v in busy.items()}


def makespan(segment_ops: Callable[[int, int, int], list[Op]], n: int, j: int,
             period: int = 1, n0: int = 3, j0: int = 3, exact_limit: int = 4000) -> int:
    """Finish time of n segments of j*period steps (tile t = segment s, step t mod
    (j*period)); ops come from segment_ops(s, step, steps per segment). Exact when the
    stream has at most exact_limit tiles, otherwise the bilinear form in (n, j) measured
    at (n0|n0+1) x (j0|j0+1)."""

    def exact(nn, jj):
        steps = jj * period
        return max(_schedule(*program(lambda t: segment_ops(t // steps, t % steps, steps),
                                      nn * steps))[2])

    if n * j * period <= exact_limit or (n <= n0 + 1 and j <= j0 + 1):
        return exact(n, j)
    # Fit beyond the start-up transient: it lasts about as many tiles as the deepest
    # software-pipeline stage plus the longest dependency reach.
    first = segment_ops(0, 0, max(1, j) * period)
    depth = max(op.stage for op in first) + max((b for op in first for _, b in op.deps),
                                                default=0)
    j0 = min(j, max(j0, -(-2 * depth // period)))
    n0 = min(n, max(n0, -(-2 * depth // (j0 * period))))
    t00, t10 = exact(n0, j0), exact(n0 + 1, j0)
    t01, t11 = exact(n0, j0 + 1), exact(n0 + 1, j0 + 1)
    d = t11 - t10 - t01 + t00
    b = t10 - t00 - d * j0
    c = t01 - t00 - d * n0
    a = t00 - b * n0 - c * j0 - d * n0 * j0
    return a + b * n + c * j + d * n * j
