"""The map space of a contraction on a memory hierarchy (arch/hierarchy.py).

A HierarchyMapping (mapper/mapping.py) gives the array's dataflow and, for every memory level from the top:
the operands it keeps (the others bypass it), the GEMM group split over its instances,
the tile of each group (B, M, N, K) one copy holds, and the order of the loops that step
through those tiles inside the tile of the level above (outermost first).

The map space (candidates): every dataflow of the array; for each fanned-out level,
every group (B, M, N) large enough to split; every set of operands between the level's
`keep` and `may_keep`; and tiles: a level whose kept tiles fit whole
holds the whole tile of the level above (larger tiles never refetch more), otherwise
each of M, N, K is halved from there down to the array's side, keeping the largest
tiles that fit (no other fitting tile is at least as large in every group: a larger
tile never refetches more from the level above, up to rounding, and leaves the levels
below more room), with each stepped group as the innermost loop. B is stepped outermost with tile 1 below DRAM (every operand
depends on B, so no reuse is lost).
"""

from __future__ import annotations

import itertools
import math

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


def fits(keep, tiles, p: GemmProblem, memory) -> bool:
    """Kept tiles fit the memory (twice, if it is double-buffered)."""
    if memory.capacity_bytes == math.inf:
        return True
    bits = dict(p.bits)
    copies = 2 if memory.double_buffered else 1
    return copies * sum(tile_bytes(tiles, o, bits[o]) for o in keep) <= memory.capacity_bytes


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


def _level_choices(memory, parent: tuple[int, ...], p: GemmProblem, align: dict):
    """(spatial, keep, tiles, order) choices of one level given its parent's tile."""
    key = (id(memory), parent, p.bits, tuple(sorted(align.items())))
    if key not in _CHOICES or _CHOICES[key][0] is not memory:
        _CHOICES[key] = (memory, tuple(_choices(memory, parent, p, align)))
    return _CHOICES[key][1]


_CHOICES: dict = {}  # one search's levels x parent tiles (cleared by candidates)


def _choices(memory, parent, p, align):
    splits = [None]
    if memory.instances > 1:
        splits = [g for g in ("B", "M", "N") if parent[GROUPS.index(g)] > 1] or [None]
    for split in splits:
        inner = list(parent)
        if split:
            i = GROUPS.index(split)
            inner[i] = math.ceil(inner[i] / memory.instances)
        whole = (1, *inner[1:])
        for keep in _keep_choices(memory):
            if fits(keep, whole, p, memory):
                yield split, keep, whole, "BMNK"
                continue
            sizes = [_halvings(inner[GROUPS.index(g)], align[g]) for g in ("M", "N", "K")]
            fitting = [(1, m, n, k) for m, n, k in itertools.product(*sizes)
                       if fits(keep, (1, m, n, k), p, memory)]
            for tiles in _maximal(fitting):
                stepped = [g for g in ("M", "N", "K") if tiles[GROUPS.index(g)] < inner[GROUPS.index(g)]]
                for last in stepped[1:] and stepped or ["K"]:
                    yield split, keep, tiles, "B" + "".join(g for g in "MNK" if g != last) + last


def _maximal(tiles: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The tiles no other tile covers in every group (a larger tile never refetches more
    from the level above, up to rounding, and leaves the levels below more room)."""
    kept: list[tuple[int, ...]] = []
    for t in sorted(tiles, reverse=True):  # a cover sorts before what it covers
        if not any(all(a >= b for a, b in zip(u, t)) for u in kept):
            kept.append(t)
    return kept


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
            for split, keep, tiles, order in _level_choices(memories[i], parent, p, align):
                yield from below(i + 1, tiles, chosen + [LevelMapping(memories[i].name, keep,
                                                                      tiles, order, split)])
        yield from below(0, top, [])
