"""The map space of a contraction on a memory hierarchy (arch/hierarchy.py).

A HierarchyMapping (mapper/mapping.py) gives the array's dataflow and, for every memory
level from the top: the operands it keeps (the others bypass it), the GEMM group split
over its instances, the tile of each group (B, M, N, K) one copy holds, the order of the
loops that step through those tiles inside the tile of the level above (outermost
first), and how many of those loops lie above each kept operand's storage.

The map space (candidates): every dataflow of the array; for each fanned-out level,
every group (B, M, N) large enough to split; every set of operands between the level's
`keep` and `may_keep`; and tiles: a level whose kept tiles fit whole holds the whole
tile of the level above (larger tiles never refetch more), otherwise each of M, N, K is
halved from there down to the array's side, keeping the largest tiles that fit (no
other fitting tile is at least as large in every group: a larger tile never refetches
more from the level above, up to rounding, and leaves the levels below more room), with
each stepped group as the innermost loop and, at the top level, each operand stored
below every loop or just above one it depends on. B is stepped outermost with tile 1
below DRAM (every operand depends on B, so no reuse is lost).
"""

from __future__ import annotations

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


def operand_tile(tiles, inner, below) -> tuple[int, ...]:
    """What an operand stored above the loops over the groups `below` holds: those groups
    whole (as much as one copy is given), the others one tile."""
    return tuple(e if g in below else t for g, t, e in zip(GROUPS, tiles, inner))


def held(level, inner) -> list[tuple[int, ...]]:
    """The tile each operand kept at `level` (a LevelMapping) holds."""
    depths = level.depths or (4,) * len(level.keep)
    return [operand_tile(level.tiles, inner, level.order[d:]) for d in depths]


def fits(level, inner, p: GemmProblem, memory) -> bool:
    """The level's kept tiles fit the memory (twice, if it is double-buffered)."""
    if memory.capacity_bytes == math.inf:
        return True
    bits = dict(p.bits)
    copies = 2 if memory.double_buffered else 1
    return copies * sum(tile_bytes(t, o, bits[o]) for o, t in zip(level.keep, held(level, inner))
                        ) <= memory.capacity_bytes


def _keep_choices(memory) -> list[tuple[str, ...]]:
    must = [ROLE_OPERAND[r] for r in memory.keep]
    free = [ROLE_OPERAND[r] for r in memory.may_keep if r not in memory.keep]
    out = []
    for n in range(len(free) + 1):
        for extra in itertools.combinations(free, n):
            out.append(tuple(o for o in ("A", "W", "O") if o in must or o in extra))
    return out


def _halvings(extent: int, floor: int) -> list[int]:
    out = [extent]
    while out[-1] > floor:
        out.append(max(floor, math.ceil(out[-1] / 2)))
    return sorted(set(out), reverse=True)


def _level_choices(memory, parent: tuple[int, ...], p: GemmProblem, align: dict, top: bool):
    """LevelMappings of one level given its parent's tile (cached over one search)."""
    key = (id(memory), parent, p.bits, tuple(sorted(align.items())), top)
    if key not in _CHOICES or _CHOICES[key][0] is not memory:
        _CHOICES[key] = (memory, tuple(_choices(memory, parent, p, align, top)))
    return _CHOICES[key][1]


_CHOICES: dict = {}  # one search's levels x parent tiles (cleared by candidates)


def _choices(memory, parent, p, align, top: bool):
    splits = [None]
    if memory.instances > 1:
        splits = [g for g in ("B", "M", "N") if parent[GROUPS.index(g)] > 1] or [None]
    bits = dict(p.bits)
    cap = memory.capacity_bytes / (2 if memory.double_buffered else 1)
    for split in splits:
        inner = list(parent)
        if split:
            i = GROUPS.index(split)
            inner[i] = math.ceil(inner[i] / memory.instances)
        whole = (1, *inner[1:])
        seen = set()
        for keep in _keep_choices(memory):
            level = LevelMapping(memory.name, keep, whole, "BMNK", split)
            if fits(level, inner, p, memory):
                yield level
                continue
            grid = np.array(list(itertools.product(
                *[_halvings(inner[GROUPS.index(g)], align[g]) for g in "MNK"])), dtype=float)
            for last in "MNK":
                order = "B" + "".join(g for g in "MNK" if g != last) + last
                # each operand stored below every loop (4), or (at the top level) just
                # above one it depends on
                options = [sorted({4} | {i for i, g in enumerate(order)
                                         if top and g in OPERANDS[o]}) for o in keep]
                for depths in itertools.product(*options):
                    need = np.zeros(len(grid))
                    for o, d in zip(keep, depths):
                        size = np.full(len(grid), bits[o] / 8)
                        for g in OPERANDS[o]:
                            if order.index(g) >= d:  # stored above this group's loop
                                size = size * inner[GROUPS.index(g)]
                            elif g != "B":  # B's tile is 1
                                size = size * grid[:, "MNK".index(g)]
                        need += size
                    for m, n, k in _maximal(grid[need <= cap]):
                        tiles = (1, int(m), int(n), int(k))
                        level = _canonical(memory.name, keep, tiles, inner, order, depths, split)
                        if level not in seen:
                            seen.add(level)
                            yield level


def _canonical(name, keep, tiles, inner, order, depths, split) -> LevelMapping:
    """One LevelMapping per distinct behaviour: loops that step once dropped from the
    order's meaning (moved outermost) and the depths counted over the loops that step."""
    steps = [g for g in order if tiles[GROUPS.index(g)] < inner[GROUPS.index(g)]]
    still = [g for g in order if g not in steps]
    eff = tuple(len(still) + sum(1 for g in order[:d] if g in steps) for d in depths)
    new_order = "".join(still + steps)
    full = len(order)
    return LevelMapping(name, keep, tiles, new_order, split,
                        None if all(d == full for d in eff) else eff)


def _maximal(tiles: np.ndarray) -> np.ndarray:
    """The tiles (rows) no other tile covers in every group (a larger tile never refetches
    more from the level above, up to rounding, and leaves the levels below more room)."""
    ge = np.all(tiles[None, :, :] >= tiles[:, None, :], axis=2)  # [i, j]: j covers i
    gt = np.any(tiles[None, :, :] > tiles[:, None, :], axis=2)
    return tiles[~np.any(ge & gt, axis=1)]


def candidates(p: GemmProblem, memories, dataflows, rows: int, cols: int):
    """Every HierarchyMapping of the map space (module docstring)."""
    top = tuple(p.size(g) for g in GROUPS)
    _CHOICES.clear()
    for df in dataflows:
        r, c, _ = ARRAY_DIMS[df]
        align = {"M": 1, "N": 1, "K": 1, r: rows, c: cols}

        def below(i, parent, chosen):
            if i == len(memories):
                yield HierarchyMapping(df, tuple(chosen))
                return
            for level in _level_choices(memories[i], parent, p, align, i == 0):
                yield from below(i + 1, level.tiles, chosen + [level])
        yield from below(0, top, [])
