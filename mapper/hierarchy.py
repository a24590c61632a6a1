"""The map space of a contraction on a memory hierarchy (arch/hierarchy.py).

A HierarchyMapping (mapper/mapping.py) gives the array's dataflow and, for every memory
level from the top: the operands it keeps (the others bypass it), the GEMM group split
over its instances, the tile of each group (B, M, N, K) one copy holds, the order of the
loops that step through those tiles inside the tile of the level above (outermost
first; a group may have two loops, each with its tile), and how many of those loops lie
above each kept operand's storage.

The map space (candidates): every dataflow of the array; for each fanned-out level,
every group (B, M, N) large enough to split; every set of operands between the level's
`keep` and `may_keep`; and tiles: a level whose kept tiles fit whole holds the whole
tile of the level above (larger tiles never refetch more), otherwise each of M, N, K is
halved from there down to the array's side (and once below it if the side is not a
halving), keeping the largest tiles that fit (no other fitting tile is at least as
large in every group: a larger tile never refetches more from the level above, up to
rounding, and leaves the levels below more room), with each stepped group as the
innermost loop, each operand stored below every loop or just above one it depends on,
and one group may be stepped twice (_orders), at every level. B is stepped
outermost with tile 1 below DRAM (every operand depends on B, so no reuse is lost).
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from mapper.gemm import OPERANDS, GemmProblem
from mapper.mapping import GROUPS, ROLE_OPERAND, HierarchyMapping, LevelMapping

# (rows group, cols group, temporal group) on the array per dataflow
ARRAY_DIMS = {"ws": ("K", "N", "M"), "is": ("K", "M", "N"), "os": ("M", "N", "K")}


# positions in a (B, M, N, K) tile of the groups each operand depends on
_AXES = {o: tuple(GROUPS.index(g) for g in groups) for o, groups in OPERANDS.items()}


def tile_bytes(tiles, operand: str, bits: int) -> float:
    n = 1
    for i in _AXES[operand]:
        n *= tiles[i]
    return n * bits / 8


def level_loops(level, inner) -> list[tuple[str, int, int]]:
    """The loops of `level` (a LevelMapping) inside the tile `inner` one copy is given,
    outermost first: (group, steps, the tile it steps in)."""
    extent = dict(zip(GROUPS, inner))
    sizes = level.loop_tiles or tuple(level.tile(g) for g in level.order)
    out = []
    for g, t in zip(level.order, sizes):
        out.append((g, math.ceil(extent[g] / t), t))
        extent[g] = t
    return out


def held(level, inner, loops=None) -> list[tuple[int, ...]]:
    """The tile each operand kept at `level` holds: per group, the tile of the innermost
    loop over it above the operand's storage, or all of `inner` if none is above.
    `loops`: level_loops(level, inner), if already made."""
    loops = level_loops(level, inner) if loops is None else loops
    out = []
    for d in level.depths or (len(loops),) * len(level.keep):
        extent = dict(zip(GROUPS, inner))
        for g, _, t in loops[:d]:
            extent[g] = t
        out.append(tuple(extent[g] for g in GROUPS))
    return out


def fits(level, inner, p: GemmProblem, memory) -> bool:
    """The level's kept tiles fit the memory (twice, if it is double-buffered)."""
    if memory.capacity_bytes == math.inf:
        return True
    bits = dict(p.bits)
    copies = 2 if memory.double_buffered else 1
    return copies * sum(tile_bytes(t, o, bits[o]) for o, t in zip(level.keep, held(level, inner))
                        ) <= memory.capacity_bytes


def visits(loops: list[tuple[str, int]], operand: str) -> int:
    """Tile residencies of `operand` under `loops` (outermost first): the loops inside the
    innermost one it depends on reuse its tile."""
    relevant = OPERANDS[operand]
    end = len(loops)
    while end and (loops[end - 1][0] not in relevant or loops[end - 1][1] == 1):
        end -= 1
    return math.prod(n for _, n in loops[:end])


def dram_floor_bytes(keep, moved: dict, copies: int, whole: dict):
    """Bytes DRAM's port moves at least under a top level keeping `keep` whose copies each
    move `moved[o]` bytes of a kept operand from DRAM (as sim/hierarchy.py counts them,
    with refills of partial sums): the others (`whole`: operand -> bytes) at least once.
    Numbers or numpy arrays."""
    out = sum(copies * moved[o] if o in keep else whole[o] for o in OPERANDS)
    if "O" in keep:
        out = out + np.maximum(0.0, copies * moved["O"] - whole["O"])
    return out


def _keep_choices(memory) -> list[tuple[str, ...]]:
    must = [ROLE_OPERAND[r] for r in memory.keep]
    free = [ROLE_OPERAND[r] for r in memory.may_keep if r not in memory.keep]
    out = []
    for n in range(len(free) + 1):
        for extra in itertools.combinations(free, n):
            out.append(tuple(o for o in ("A", "W", "O") if o in must or o in extra))
    return out


def _halvings(extent: int, floor: int) -> list[int]:
    """`extent` halved down to `floor` (the array's side), and the first halving below it
    (when the side is not a halving, e.g. 128 of 1024 on 192 rows: fewer rows busy, but
    smaller tiles may share a buffer better)."""
    out = {extent, min(extent, floor)}
    while extent > floor:
        extent = math.ceil(extent / 2)
        out.add(extent)
    return sorted(out, reverse=True)


def _level_choices(memory, parent: tuple[int, ...], p: GemmProblem, align: dict):
    """LevelMappings of one level below the top given its parent's tile (cached over one
    search)."""
    key = (id(memory), parent, p.bits, tuple(sorted(align.items())))
    if key not in _CHOICES or _CHOICES[key][0] is not memory:
        levels = dict.fromkeys(make(j) for _, n, make in _choices(memory, parent, p, align,
                                                                  False) for j in range(n))
        _CHOICES[key] = (memory, tuple(levels))
    return _CHOICES[key][1]


_CHOICES: dict = {}  # one search's levels x parent tiles (cleared by by_top_level)


def _orders():
    """(loop order, the group it steps twice or None): each stepped group innermost; also
    each group stepped outermost and again innermost, the other two between
    (AccelForge's nvdla GEMM: M in 256s, N, K, then M in 128s)."""
    for last in "MNK":
        yield "B" + "".join(g for g in "MNK" if g != last) + last, None
    for g in "MNK":
        for others in itertools.permutations([x for x in "MNK" if x != g]):
            yield "B" + g + "".join(others) + g, g


def _choices(memory, parent, p, align, top: bool):
    """Groups of choices of one level: (at the top level, the DRAM floor in bytes of every
    mapping under each choice, an array, else None; how many; a function building the
    j-th choice's LevelMapping): building is left to the caller, so a search can stop
    before most are built. Choices may repeat."""
    splits = [None]
    if memory.instances > 1:
        splits = [g for g in ("B", "M", "N") if parent[GROUPS.index(g)] > 1] or [None]
    cap = memory.capacity_bytes / (2 if memory.double_buffered else 1)
    bits = dict(p.bits)
    dram = (memory.instances, {o: p.operand_bytes(o) for o in OPERANDS}) if top else None
    for split in splits:
        inner = list(parent)
        if split:
            i = GROUPS.index(split)
            inner[i] = math.ceil(inner[i] / memory.instances)
        whole = (1, *inner[1:])
        halvings = {g: _halvings(inner[GROUPS.index(g)], align[g]) for g in "MNK"}
        for keep in _keep_choices(memory):
            level = LevelMapping(memory.name, keep, whole, "BMNK", split)
            if fits(level, inner, p, memory):
                floor = None
                if top:
                    loops = level_loops(level, inner)
                    steps = [(g, n) for g, n, _ in loops]
                    moved = {o: visits(steps, o) * tile_bytes(t, o, bits[o])
                             for o, t in zip(keep, held(level, inner, loops))}
                    floor = np.array([dram_floor_bytes(keep, moved, *dram)], dtype=float)
                yield floor, 1, functools.partial(_same, level)
                continue
            for order, twice in _orders():
                grid = _Grid(order, twice, keep, halvings, inner, bits, cap, dram)
                if len(grid.points):
                    yield grid.floors, len(grid.points), functools.partial(
                        grid.level, memory.name, split)


def _same(level, _=0):
    return level


@functools.lru_cache(maxsize=64)
def _neighbours(shape: tuple[int, ...]) -> list[tuple[int, np.ndarray]]:
    """Per axis of a grid of `shape` flattened in C order: how far the next point along
    the axis lies, and which points (all but the last `stride`) have one."""
    index = np.arange(math.prod(shape))
    out, stride = [], len(index)
    for n in shape:
        stride //= n
        out.append((stride, (index // stride % n < n - 1)[:len(index) - stride]))
    return out


class _Grid:
    """The choices of one loop order: every storage depth of each kept operand (below
    every loop, or just above one it depends on) with the tiles (from
    `halvings`; and the outer loop's tile of the group stepped `twice`) that fit `cap`
    and that no other fitting tile covers in every group (a larger tile never refetches
    more from the level above, up to rounding, and leaves the levels below more room).
    All depth choices and tiles at once, on a dense grid: axes (depth of each kept
    operand..., M, N, K[, outer tile]), the tile axes flattened into one (numpy's inner
    loops then run over many tiles). `points`: the chosen points (depth indices, then
    tile indices) in the grid's order. `dram` (the top level's copies and each operand's
    bytes; None below it): `floors`, each point's floor of dram_floor_bytes."""

    def __init__(self, order, twice, keep, halvings, inner, bits, cap, dram):
        self.order, self.twice, self.keep, self.inner = order, twice, keep, inner
        self.floors = None
        top = dram is not None
        axes = [np.array(sorted(halvings[g]), dtype=float) for g in "MNK"]  # ascending
        if twice:  # inner tile < outer tile < all of it: the grid leaves out what never is
            ranks = sorted(halvings[twice])
            if len(ranks) < 3:
                self.points = np.empty((0, 0), dtype=int)
                return
            axes["MNK".index(twice)] = np.array(ranks[:-2], dtype=float)
            axes.append(np.array(ranks[1:-1], dtype=float))
        self.axes = axes
        nt, nc = len(axes), len(keep)
        shape = tuple(len(a) for a in axes)
        tiles = math.prod(shape)
        # each axis's values, broadcastable over the tile axes
        value = [a.reshape([-1 if i == j else 1 for j in range(nt)]) for i, a in enumerate(axes)]
        # the tile each loop steps in (B: 1)
        step = [1.0 if g == "B" else value[3] if twice and i == 1 else value["MNK".index(g)]
                for i, g in enumerate(order)]
        # storage depths; not above a B loop of one step (the same as just below it)
        self.options = options = [
            sorted({len(order)} | {i for i, g in enumerate(order) if g in OPERANDS[o]
                                   and (g != "B" or inner[0] > 1)}) for o in keep]
        if top:  # each loop's steps, and the steps of it and every loop outside it
            extent = {g: inner[GROUPS.index(g)] for g in GROUPS}
            steps, outside = [], []
            for g, t in zip(order, step):
                steps.append(np.ceil(extent[g] / t))
                outside.append(steps[-1] * (outside[-1] if outside else 1.0))
                extent[g] = t

        def on_grid(j, a):  # operand j's array (its depth options, tiles) on the grid
            return a.reshape((1,) * j + (-1,) + (1,) * (nc - j - 1) + a.shape[1:])

        sizes, moved = [], {}  # per kept operand: (its depth options, tiles)
        for o, opts in zip(keep, options):
            size_at = np.empty((len(opts),) + shape)
            residencies = np.empty_like(size_at) if top else None
            n, done = 1.0, 0  # visits(): up to the innermost loop above storage it depends on
            for k, d in enumerate(opts):
                size = bits[o] / 8
                for g in OPERANDS[o]:
                    above = [i for i in range(d) if order[i] == g]
                    size = size * (step[above[-1]] if above else inner[GROUPS.index(g)])
                size_at[k] = size
                if top:  # depths ascend: the loops above the last one's are done
                    for i in range(done, d):
                        if order[i] in OPERANDS[o]:
                            n = np.where(steps[i] > 1, outside[i], n)
                    residencies[k], done = n, d
            sizes.append(size_at.reshape(len(opts), tiles))
            if top:
                moved[o] = (residencies * size_at).reshape(len(opts), tiles)
        # the room the other operands leave, compared with the last one's size: the sum
        # of all sizes is never made on the whole grid
        room = np.full(tiles, float(cap))
        if twice:  # the outer loop's tile lies strictly between the inner one's and all
            valid = (value["MNK".index(twice)] < value[3]) & (value[3] < inner[GROUPS.index(twice)])
            room[~np.broadcast_to(valid, shape).reshape(-1)] = -np.inf
        for j in range(nc - 1):
            room = room - on_grid(j, sizes[j])
        fit = on_grid(nc - 1, sizes[-1]) <= room if nc else room >= 0
        if twice:  # some operand depending on the group holds the outer loop's tile, else
            held_mid = np.zeros((1,) * nc, dtype=bool)  # one loop would do
            for j, (o, opts) in enumerate(zip(keep, options)):
                between = np.array([1 < d < len(order) and twice in OPERANDS[o] for d in opts])
                held_mid = held_mid | on_grid(j, between)
            fit &= held_mid[..., None]
        # A fitting tile covered by another fitting one is covered by a fitting neighbour
        # one step larger in some axis (what a tile needs grows with each axis; the outer
        # tile can grow first), so the neighbours decide.
        chosen = fit.copy()
        for stride, has_next in _neighbours(shape):
            here = chosen[..., :tiles - stride]
            np.greater(here, fit[..., stride:] & has_next, out=here)  # and not
        at = np.flatnonzero(chosen)
        combo, flat = np.divmod(at, tiles)
        self.points = np.stack(np.unravel_index(combo, fit.shape[:-1])
                               + np.unravel_index(flat, shape), axis=1)
        if top:  # the floors of these points only
            floors = dram_floor_bytes(keep, {o: moved[o][self.points[:, j], flat]
                                             for j, o in enumerate(keep)}, *dram)
            self.floors = floors + np.zeros(len(self.points))  # a number if nothing is kept

    def level(self, name, split, n) -> LevelMapping:
        """The LevelMapping of the n-th point."""
        at = self.points[n]
        nc, order, twice = len(self.keep), self.order, self.twice
        depths = tuple(opts[d] for opts, d in zip(self.options, at[:nc]))
        tile = [int(self.axes[i][t]) for i, t in enumerate(at[nc:])]
        loops = [(g, 1 if g == "B" else tile[3] if twice and i == 1 else tile["MNK".index(g)])
                 for i, g in enumerate(order)]
        return _canonical(name, self.keep, self.inner, loops, depths, split)


def _canonical(name, keep, inner, loops, depths, split) -> LevelMapping:
    """One LevelMapping per distinct behaviour: loops (group, tile) that step once are
    dropped from the order's meaning (their groups moved outermost) and the depths
    counted over the loops that step; an operand stored above only loops it does not
    depend on is stored below them (it holds the same tile, and visits() reuses it across
    them either way)."""
    extent = dict(zip(GROUPS, inner))
    stepping = []
    for g, t in loops:
        stepping.append(extent[g] > t)
        extent[g] = t
    steps = [gt for gt, s in zip(loops, stepping) if s]
    still = list(dict.fromkeys(g for g, _ in loops if g not in {g for g, _ in steps}))
    order = "".join(still) + "".join(g for g, _ in steps)
    full = len(order)
    eff = tuple(full if all(g not in OPERANDS[o] for g in order[d:]) else d
                for o, d in zip(keep, (len(still) + sum(stepping[:d]) for d in depths)))
    twice = len(set(order)) < full
    return LevelMapping(name, keep, tuple(extent[g] for g in GROUPS), order, split,
                        None if all(d == full for d in eff) else eff,
                        tuple([extent[g] for g in still] + [t for _, t in steps]) if twice
                        else None)


def by_top_level(p: GemmProblem, memories, dataflows, rows: int, cols: int,
                 by_floor: bool = False):
    """The map space grouped by its top level: (the DRAM floor in bytes of every mapping
    under it (dram_floor_bytes), dataflow, the top level's LevelMapping, a function
    yielding every HierarchyMapping that starts with both). `by_floor`: in ascending
    floor order, each top level built only when reached."""
    top = tuple(p.size(g) for g in GROUPS)
    _CHOICES.clear()
    groups = []  # (dataflow, align, floors, make): each group's choices, in the space's order
    for df in dataflows:
        align = _align(df, rows, cols)
        groups += [(df, align, floors, make)
                   for floors, _, make in _choices(memories[0], top, p, align, True)]
    if not groups:
        return
    floors = np.concatenate([g[2] for g in groups])
    owner = np.repeat(np.arange(len(groups)), [len(g[2]) for g in groups])
    first = np.concatenate([[0], np.cumsum([len(g[2]) for g in groups])[:-1]])
    # stable: ties keep the space's order
    picks = np.argsort(floors, kind="stable") if by_floor else range(len(floors))
    seen = set()
    for k in picks:
        df, align, _, make = groups[owner[k]]
        level = make(int(k - first[owner[k]]))
        if (df, level) not in seen:
            seen.add((df, level))
            yield float(floors[k]), df, level, functools.partial(
                _below, p, memories, df, align, 1, level.tiles, [level])


@functools.lru_cache(maxsize=64)  # asked at every node of a search (level_choices)
def _align(df: str, rows: int, cols: int) -> dict[str, int]:
    """The size each group's tiles are halved down to: the array's side along it."""
    r, c, _ = ARRAY_DIMS[df]
    return {"M": 1, "N": 1, "K": 1, r: rows, c: cols}


def level_choices(p: GemmProblem, memories, i: int, df: str, rows: int, cols: int,
                  parent: tuple[int, ...]) -> tuple[LevelMapping, ...]:
    """The choices of level i > 0 (the space's order) under the tile `parent` of the level
    above, for dataflow `df`; cached until by_top_level starts the next search."""
    return _level_choices(memories[i], parent, p, _align(df, rows, cols))


def _below(p, memories, df, align, i, parent, chosen):
    """Every HierarchyMapping completing `chosen` (the levels above level i)."""
    if i == len(memories):
        yield HierarchyMapping(df, tuple(chosen))
        return
    for level in _level_choices(memories[i], parent, p, align):
        yield from _below(p, memories, df, align, i + 1, level.tiles, chosen + [level])


def candidates(p: GemmProblem, memories, dataflows, rows: int, cols: int):
    """Every HierarchyMapping of the map space (module docstring)."""
    for *_, below in by_top_level(p, memories, dataflows, rows, cols):
        yield from below()
