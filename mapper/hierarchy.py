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
innermost loop and, at the top level, each operand stored below every loop or just
above one it depends on, and one group may be stepped twice (_orders). B is stepped
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


def held(level, inner) -> list[tuple[int, ...]]:
    """The tile each operand kept at `level` holds: per group, the tile of the innermost
    loop over it above the operand's storage, or all of `inner` if none is above."""
    loops = level_loops(level, inner)
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
        levels = dict.fromkeys(make() for _, make in _choices(memory, parent, p, align, False))
        _CHOICES[key] = (memory, tuple(levels))
    return _CHOICES[key][1]


_CHOICES: dict = {}  # one search's levels x parent tiles (cleared by by_top_level)


def _orders(top: bool):
    """(loop order, the group it steps twice or None): each stepped group innermost; at
    the top level also each group stepped outermost and again innermost, the other two
    between (AccelForge's nvdla GEMM: M in 256s, N, K, then M in 128s)."""
    for last in "MNK":
        yield "B" + "".join(g for g in "MNK" if g != last) + last, None
    if top:
        for g in "MNK":
            for others in itertools.permutations([x for x in "MNK" if x != g]):
                yield "B" + g + "".join(others) + g, g


def _choices(memory, parent, p, align, top: bool):
    """(at the top level, the DRAM floor in bytes of every mapping under the choice, else
    None; a function building its LevelMapping): building is left to the caller, so a
    search can stop before most are built. Choices may repeat."""
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
                    steps = [(g, n) for g, n, _ in level_loops(level, inner)]
                    moved = {o: visits(steps, o) * tile_bytes(t, o, bits[o])
                             for o, t in zip(keep, held(level, inner))}
                    floor = dram_floor_bytes(keep, moved, *dram)
                yield floor, functools.partial(_same, level)
                continue
            for order, twice in _orders(top):
                for loops, depths, floor in _largest_fitting(order, twice, keep, halvings,
                                                             inner, bits, cap, dram):
                    yield floor, functools.partial(_canonical, memory.name, keep, inner,
                                                   loops, depths, split)


def _same(level):
    return level


def _largest_fitting(order, twice, keep, halvings, inner, bits, cap, dram):
    """(loops, depths, DRAM floor in bytes) of one loop order: every storage depth of each
    kept operand (below every loop, or at the top level just above one it depends on)
    with the tiles (from
    `halvings`; and the outer loop's tile of the group stepped `twice`) that fit `cap`
    and that no other fitting tile covers in every group (a larger tile never refetches
    more from the level above, up to rounding, and leaves the levels below more room).
    All depth choices and tiles at once, on a dense grid: axes (depth of each kept
    operand..., M, N, K[, outer tile]). `dram` (the top level's copies and each
    operand's bytes; None below it): the floor of dram_floor_bytes on the same grid."""
    top = dram is not None
    axes = [np.array(sorted(halvings[g]), dtype=float) for g in "MNK"]  # ascending
    if twice:  # inner tile < outer tile < all of it: the grid leaves out what never is
        ranks = sorted(halvings[twice])
        if len(ranks) < 3:
            return
        axes["MNK".index(twice)] = np.array(ranks[:-2], dtype=float)
        axes.append(np.array(ranks[1:-1], dtype=float))
    nt = len(axes)
    shape = tuple(len(a) for a in axes)
    value = [a.reshape([-1 if i == j else 1 for j in range(nt)]) for i, a in enumerate(axes)]
    # the tile each loop steps in, as an array over the tile axes (B: 1)
    step = [1.0 if g == "B" else value[3] if twice and i == 1 else value["MNK".index(g)]
            for i, g in enumerate(order)]
    valid = np.ones(shape, dtype=bool)
    if twice:  # the outer loop's tile lies strictly between the inner one's and all
        valid = (value["MNK".index(twice)] < value[3]) & (value[3] < inner[GROUPS.index(twice)])
    # storage depths; not above a B loop of one step (the same as just below it)
    options = [sorted({len(order)} | {i for i, g in enumerate(order) if top and g in OPERANDS[o]
                                      and (g != "B" or inner[0] > 1)}) for o in keep]
    nc = len(keep)
    if top:  # each loop's steps, and the steps of it and every loop outside it
        extent = {g: inner[GROUPS.index(g)] for g in GROUPS}
        steps, outside = [], []
        for g, t in zip(order, step):
            steps.append(np.ceil(extent[g] / t) * np.ones(shape))
            outside.append(steps[-1] * (outside[-1] if outside else 1.0))
            extent[g] = t
    need = np.zeros((1,) * nc + shape)
    moved = {}
    for j, (o, opts) in enumerate(zip(keep, options)):
        sizes, residencies = [], []
        for d in opts:
            size = np.full(shape, bits[o] / 8)
            for g in OPERANDS[o]:
                above = [i for i in range(d) if order[i] == g]
                size = size * (step[above[-1]] if above else inner[GROUPS.index(g)])
            sizes.append(size)
            if top:  # visits(): up to the innermost loop above storage it depends on
                n = np.ones(shape)
                for i in range(d):
                    if order[i] in OPERANDS[o]:
                        n = np.where(steps[i] > 1, outside[i], n)
                residencies.append(n)
        at = (1,) * j + (len(opts),) + (1,) * (nc - j - 1) + shape
        need = need + np.stack(sizes).reshape(at)
        if top:
            moved[o] = np.stack(residencies) * np.stack(sizes)
    fit = (need <= cap) & valid
    if twice:  # some operand depending on the group holds the outer loop's tile, else
        held_mid = np.zeros((1,) * nc, dtype=bool)  # one loop would do
        for j, (o, opts) in enumerate(zip(keep, options)):
            between = np.array([1 < d < len(order) and twice in OPERANDS[o] for d in opts])
            held_mid = held_mid | between.reshape((1,) * j + (-1,) + (1,) * (nc - j - 1))
        fit &= held_mid.reshape(held_mid.shape + (1,) * nt)
    # A fitting tile covered by another fitting one is covered by a fitting neighbour one
    # step larger in some axis (what a tile needs grows with each axis; the outer tile
    # can grow first), so the neighbours decide.
    larger = np.pad(fit, [(0, 0)] * nc + [(0, 1)] * nt)
    dominated = np.zeros(fit.shape, dtype=bool)
    for axis in range(nt):
        cut = [slice(None)] * nc + [slice(0, n) for n in shape]
        cut[nc + axis] = slice(1, shape[axis] + 1)
        dominated |= larger[tuple(cut)]
    points = np.argwhere(fit & ~dominated)
    if top:  # the floors of these points only
        tile_at = tuple(points[:, nc:].T)
        floors = dram_floor_bytes(keep, {o: moved[o].reshape(-1, *shape)[(points[:, j], *tile_at)]
                                         for j, o in enumerate(keep)}, *dram)
        floors = np.broadcast_to(floors, len(points))
    for n, at in enumerate(points):
        floor = float(floors[n]) if top else None
        depths = tuple(opts[d] for opts, d in zip(options, at[:nc]))
        tile = [float(axes[i][t]) for i, t in enumerate(at[nc:])]
        loops = [(g, 1 if g == "B" else int(tile[3] if twice and i == 1 else
                                             tile["MNK".index(g)]))
                 for i, g in enumerate(order)]
        yield loops, depths, floor


def _canonical(name, keep, inner, loops, depths, split) -> LevelMapping:
    """One LevelMapping per distinct behaviour: loops (group, tile) that step once are
    dropped from the order's meaning (their groups moved outermost) and the depths
    counted over the loops that step."""
    extent = dict(zip(GROUPS, inner))
    stepping = []
    for g, t in loops:
        stepping.append(extent[g] > t)
        extent[g] = t
    steps = [gt for gt, s in zip(loops, stepping) if s]
    still = list(dict.fromkeys(g for g, _ in loops if g not in {g for g, _ in steps}))
    eff = tuple(len(still) + sum(stepping[:d]) for d in depths)
    order = "".join(still) + "".join(g for g, _ in steps)
    full = len(order)
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
    pending = []
    for df in dataflows:
        r, c, _ = ARRAY_DIMS[df]
        align = {"M": 1, "N": 1, "K": 1, r: rows, c: cols}
        pending += [(floor, df, align, make)
                    for floor, make in _choices(memories[0], top, p, align, True)]
    if by_floor:
        pending.sort(key=lambda choice: choice[0])  # stable: ties keep the space's order
    seen = set()
    for floor, df, align, make in pending:
        level = make()
        if (df, level) not in seen:
            seen.add((df, level))
            yield floor, df, level, functools.partial(_below, p, memories, df, align, 1,
                                                      level.tiles, [level])


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
