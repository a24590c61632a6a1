"""Memory hierarchies (arch/hierarchy.py): DRAM -> memory levels (each possibly fanned
out into several copies) -> one 2D array per copy of the lowest level.

Counting (per Einsum, under a mapper.mapping.HierarchyMapping), as in Timeloop's and
AccelForge's analytical models:
- A level keeping an operand holds one tile of it per copy; the tile is refetched from
  the nearest level above that keeps the operand (DRAM at the top) each time a loop at
  or above the level that the operand depends on steps: counting outward from the
  innermost loop, loops the operand does not depend on reuse the tile until the first
  one it does. Fan-out copies each fetch their own tiles (no multicast).
- Outputs: every residency of an output tile ends with a write to the level above;
  every residency but the first of each element reads the partial sums back.
- The array reads its operands from the lowest level keeping each: weight-stationary
  loads each weight once per tile and streams inputs once per column fold; outputs
  take one update per row fold (os: one per tile).
- Time: the levels are double-buffered and overlap, so an Einsum takes the longest of
  the array's own cycles (sim/array2d.py's fold schedule) and every port's busy time
  (each copy's read and write ports, or its one port if shared; DRAM's one port).
Einsums that are not contractions run on the vector unit streaming from DRAM.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from yamlspec import SpecError
from arch import Architecture, Array1D, Array2D, DRAM
from arch.hierarchy import Memory
import mapper
from mapper.gemm import OPERANDS, GemmProblem
from mapper.hierarchy import (ARRAY_DIMS, by_top_level, fits, held, level_choices,
                              level_loops, tile_bytes, visits)
from mapper.hierarchy_fusion import check_resident, holds_whole, slice_bytes
from mapper.mapping import (GROUPS, OPERAND_ROLE, ROLE_OPERAND, FusedStep, HierarchyMapping,
                            VectorMapping)
from sim.array2d import fold_starts
from sim.energy import Actions
from sim.result import EinsumResult, Result
from workloads import Cascade, Einsum


@dataclass(frozen=True)
class Hierarchy:
    """An architecture seen as levels: DRAM, memories top-down, the array (and maybe a
    vector unit)."""

    arch: Architecture
    dram: DRAM
    memories: tuple[Memory, ...]
    array: Array2D
    vector: Array1D | None

    @classmethod
    def of(cls, arch: Architecture) -> "Hierarchy":
        def only(kind, needed=True):
            found = [c for c in arch.components if isinstance(c, kind)]
            if len(found) > 1 or (needed and not found):
                raise SpecError(f"a memory hierarchy needs exactly one '{kind.class_name}' "
                                f"component, found {len(found)}", arch.file or None,
                                "architecture.components")
            return found[0] if found else None
        memories = tuple(c for c in arch.components if isinstance(c, Memory))
        return cls(arch, only(DRAM), memories, only(Array2D), only(Array1D, needed=False))

    @cached_property
    def copies(self) -> list[int]:
        """Copies of each memory level (and, last, of the array)."""
        out, n = [], 1
        for m in self.memories:
            n *= m.instances
            out.append(n)
        return out + [n]

    @cached_property
    def names(self) -> list[str]:
        """'DRAM' and each memory level's name, top-down (the keys of Counts)."""
        return ["DRAM"] + [mem.name for mem in self.memories]

    @cached_property
    def dram_bytes_per_cycle(self) -> float:
        return self.arch.dram_bytes_per_cycle


def _check(m: HierarchyMapping, h: Hierarchy, p: GemmProblem, where):
    if len(m.levels) != len(h.memories) or any(
            lv.memory != mem.name for lv, mem in zip(m.levels, h.memories)):
        raise SpecError(f"the mapping's levels {[lv.memory for lv in m.levels]} are not the "
                        f"architecture's memories {[mem.name for mem in h.memories]}", *where)
    if m.dataflow not in h.array.dataflows:
        raise SpecError(f"dataflow '{m.dataflow}' is not one of the array's "
                        f"{h.array.dataflows}", *where)
    for lv, mem in zip(m.levels, h.memories):
        if lv.spatial == "K":  # copies would need a reduction between them
            raise SpecError(f"level '{mem.name}' cannot split K over its copies", *where)
        if not ({ROLE_OPERAND[r] for r in mem.keep} <= set(lv.keep)
                <= {ROLE_OPERAND[r] for r in mem.may_keep}):
            raise SpecError(f"level '{mem.name}' must keep {mem.keep} and may keep only "
                            f"{mem.may_keep}; the mapping keeps "
                            f"{[OPERAND_ROLE[o] for o in lv.keep]}", *where)


def _check_loops(lv, mem: Memory, inner, loops, where):
    """Each group's loops step ever smaller tiles, from at most what a copy is given down
    to the level's tile of it."""
    for g in GROUPS:
        sizes = [inner[GROUPS.index(g)]] + [t for gg, _, t in loops if gg == g]
        if sizes[-1] != lv.tile(g) or any(a < b for a, b in zip(sizes, sizes[1:])):
            raise SpecError(f"the loops over {g} at '{mem.name}' step tiles {sizes[1:]}: "
                            f"they must shrink from the {sizes[0]} each copy is given to "
                            f"the level's tile {lv.tile(g)}", *where)


def _array_cycles(df: str, R: int, C: int, tile: tuple, tiles_run: int) -> int:
    """Cycles of one array copy stepping through `tiles_run` equal tiles: the fold schedule
    of sim/array2d.py (fold gaps, weight preloads) repeated, plus one fill and drain."""
    first, per_tile = _tile_steps(df, R, C, tile)
    return first + tiles_run * per_tile + R + C - 1


@lru_cache(maxsize=4096)
def _tile_steps(df: str, R: int, C: int, tile: tuple) -> tuple[int, int]:
    """(steps before the first fold starts, steps from one tile's start to the next's)."""
    t = dict(zip(GROUPS, tile))
    rg, cg, tg = ARRAY_DIMS[df]
    folds = math.ceil(t[rg] / R) * math.ceil(t[cg] / C) * t["B"]  # Folds.grid's
    L = t[tg]  # every fold streams as long, so the gaps between folds are equal
    starts = fold_starts("os" if df == "os" else "ws", R, np.array([L, L]))
    last_gap = L if df == "os" else max(L, R)
    return int(starts[0]), (folds - 1) * int(starts[1] - starts[0]) + last_gap


def _array_reads(df: str, R: int, C: int, tile: tuple) -> dict[str, int]:
    """Elements the array reads per innermost tile (O: updates written)."""
    b, m, n, k = tile
    if df == "ws":
        return {"W": b * k * n, "A": b * m * k * math.ceil(n / C), "O": b * m * n * math.ceil(k / R)}
    if df == "is":
        return {"A": b * k * m, "W": b * k * n * math.ceil(m / C), "O": b * m * n * math.ceil(k / R)}
    return {"A": b * m * k * math.ceil(n / C), "W": b * k * n * math.ceil(m / R), "O": b * m * n}


@dataclass(frozen=True)
class Counts:
    """Bytes read from and written to each level ('DRAM' and the memories' names), the
    array's own cycles and the Einsum's cycles."""

    reads: dict[str, float]
    writes: dict[str, float]
    compute: int
    cycles: int


@dataclass(frozen=True)
class _Partial:
    """The counts of the levels above some level: what their fills and drains move (every
    level below only adds), the loops they step (outermost first), the tile they leave
    one copy, and the nearest level keeping each operand (index into names)."""

    reads: dict[str, float]
    writes: dict[str, float]
    loops: tuple[tuple[str, int], ...]
    parent: tuple[int, ...]
    holder: dict[str, int]

    @classmethod
    def start(cls, p: GemmProblem, h: Hierarchy) -> "_Partial":
        return cls(dict.fromkeys(h.names, 0.0), dict.fromkeys(h.names, 0.0), (),
                   tuple(p.size(g) for g in GROUPS), {o: 0 for o in OPERANDS})


def _add_level(p: GemmProblem, h: Hierarchy, state: _Partial, i: int, lv, where,
               checked: bool, resident: frozenset = frozenset()) -> _Partial:
    """`state` with level i's fills and drains under its LevelMapping `lv`; `resident`:
    operands a fused block keeps whole in the top level (count()), moved by none."""
    mem = h.memories[i]
    copies = h.copies[i]
    names = h.names
    reads, writes, holder = dict(state.reads), dict(state.writes), dict(state.holder)
    inner = list(state.parent)
    if lv.spatial:
        gi = GROUPS.index(lv.spatial)
        inner[gi] = math.ceil(inner[gi] / mem.instances)
    if not checked and any(t > e for t, e in zip(lv.tiles, inner)):
        raise SpecError(f"the tiles {lv.tiles} at '{mem.name}' exceed the {tuple(inner)} "
                        f"each copy is given", *where)
    loops_here = level_loops(lv, inner)
    if not checked:
        _check_loops(lv, mem, inner, loops_here, where)
    if not checked and not fits(lv, inner, p, mem):
        raise SpecError(f"the tiles {lv.tiles} kept at '{mem.name}' do not fit its "
                        f"{mem.capacity_bytes:,.0f} bytes"
                        + (" double-buffered" if mem.double_buffered else ""), *where)
    steps = [(g, n) for g, n, _ in loops_here]
    depths = lv.depths or (len(steps),) * len(lv.keep)
    for o, depth, tile in zip(lv.keep, depths, held(lv, inner, loops_here)):
        if i == 0 and o in resident:  # already there, or stays there
            holder[o] = 1
            continue
        moved = visits([*state.loops, *steps[:depth]], o) * tile_bytes(tile, o, p.bit(o)) * copies
        up = names[holder[o]]
        if o == "O":  # drains, and refills of partial sums (not the first residency)
            refill = max(0.0, moved - p.operand_bytes("O"))
            reads[mem.name] += moved
            writes[up] += moved
            reads[up] += refill
            writes[mem.name] += refill
        else:
            reads[up] += moved
            writes[mem.name] += moved
        holder[o] = i + 1
    return _Partial(reads, writes, state.loops + tuple(steps), lv.tiles, holder)


def _finish(p: GemmProblem, h: Hierarchy, df: str, state: _Partial) -> Counts:
    """The counts once every level is in `state`: the array copies, each stepping through
    every innermost tile, and the time (the longest of the array and every port)."""
    names = h.names
    reads, writes = dict(state.reads), dict(state.writes)
    out_bytes = p.operand_bytes("O")
    R, C = h.array.rows, h.array.cols
    runs = math.prod(n for _, n in state.loops)
    copies = h.copies
    for o, n in _array_reads(df, R, C, state.parent).items():
        nbytes = n * runs * copies[-1] * p.bit(o) / 8
        at = names[state.holder[o]]
        if o == "O":
            writes[at] += nbytes
            reads[at] += max(0.0, nbytes - out_bytes)
        else:
            reads[at] += nbytes
    compute = _array_cycles(df, R, C, state.parent, runs)
    return Counts(reads, writes, compute, math.ceil(max(compute, _port_cycles(h, reads, writes))))


def _port_cycles(h: Hierarchy, reads: dict, writes: dict) -> float:
    """The busiest port's time moving `reads` and `writes` (DRAM's one port, each copy's
    read and write ports or its one shared port)."""
    busy = [(reads["DRAM"] + writes["DRAM"]) / h.dram_bytes_per_cycle]
    for n, mem in zip(h.copies, h.memories):
        ports = ([(reads[mem.name] + writes[mem.name], mem.read_bytes_per_cycle)]
                 if mem.shared_port else [(reads[mem.name], mem.read_bytes_per_cycle),
                                          (writes[mem.name], mem.write_bytes_per_cycle)])
        for moved, bw in ports:
            if bw:
                busy.append(moved / n / bw)
    return max(busy)


def count(p: GemmProblem, h: Hierarchy, m: HierarchyMapping, where,
          checked: bool = False, resident: frozenset = frozenset()) -> Counts:
    """Count and time one contraction under `m` (module docstring); `checked`: the
    mapping comes from the map space, which holds only valid ones. `resident`: operands
    a fused block keeps whole in the top memory level (sim/hierarchy_fusion.py), which
    never cross DRAM."""
    if not checked:
        _check(m, h, p, where)
    state = _Partial.start(p, h)
    for i, lv in enumerate(m.levels):
        state = _add_level(p, h, state, i, lv, where, checked, resident)
    return _finish(p, h, m.dataflow, state)


def _actions(p: GemmProblem, h: Hierarchy, c: Counts) -> Actions:
    actions = Actions().add(h.array, "mac", p.macs, p.fmt)
    for mem in h.memories:
        actions.add(mem, "read_byte", c.reads[mem.name], key=f"{mem.name}.read")
        actions.add(mem, "write_byte", c.writes[mem.name], key=f"{mem.name}.write")
    actions.add(h.dram, "read_byte", c.reads["DRAM"], key=f"{h.dram.name}.read")
    actions.add(h.dram, "write_byte", c.writes["DRAM"], key=f"{h.dram.name}.write")
    return actions.leakage(h.arch, c.cycles)


def _where(einsum: Einsum, h: Hierarchy, m: HierarchyMapping):
    return ((m.source, f"mappings.{einsum.name}") if m.source
            else (h.arch.file or None, einsum.where or einsum.name))


def evaluate(einsum: Einsum, h: Hierarchy, m: HierarchyMapping, problem: GemmProblem | None = None,
             resident: frozenset = frozenset()) -> EinsumResult:
    """One contraction under `m`, counted, timed and priced; `problem`: a piece of it
    (a fused block's, sim/hierarchy_fusion.py), with `resident` operands (count())."""
    p = problem or GemmProblem.of(einsum)
    if resident:
        check_resident(m, p, resident, _where(einsum, h, m))
    c = count(p, h, m, _where(einsum, h, m), resident=resident)
    top = h.memories[0].name
    return EinsumResult(
        name=einsum.name, kind="contraction", unit=h.array.name, cycles=c.cycles,
        compute_cycles=c.compute, macs=p.macs, ops=0, busy={h.array.name: float(p.macs)},
        dram_read_bytes=int(c.reads["DRAM"]), dram_write_bytes=int(c.writes["DRAM"]),
        glb_read_bytes=int(c.reads[top]), glb_write_bytes=int(c.writes[top]),
        energy_pj=_actions(p, h, c).pj, mapping=m)


def vector_einsum(einsum: Einsum, h: Hierarchy, rank: str | None = None, pieces: int = 1,
                  reads: frozenset = frozenset(), keeps_output: bool = False
                  ) -> EinsumResult | None:
    """A non-contraction on the vector unit, operands streamed from and to DRAM; in a
    fused block (sim/hierarchy_fusion.py), one of `pieces` slices along `rank`, reading
    the tensors `reads` from the top level and keeping its output there if
    `keeps_output` (None if those slices, held whole, do not fit the top level)."""
    if h.vector is None:
        raise SpecError(f"Einsum '{einsum.name}' is not a contraction and architecture "
                        f"'{h.arch.name}' has no array1d to run it", h.arch.file or None,
                        "architecture.components")
    mapper.check_format(einsum, h.arch)
    points = einsum.output.tensor.elements // pieces
    lane_cycles = max(sum(einsum.vector_ops.values()) // pieces,
                      points * h.vector.expr_cycles(einsum.expr))
    compute = math.ceil(lane_cycles / h.vector.lanes)

    def piece_bytes(ref):  # a slice if the tensor is indexed by the split rank
        return slice_bytes(ref.tensor, pieces) if rank in ref.ranks else ref.tensor.bytes
    top = h.memories[0].name
    reads_ = dict.fromkeys(h.names, 0)
    writes = dict(reads_)
    for ref in einsum.inputs:
        reads_[top if ref.tensor.name in reads else "DRAM"] += piece_bytes(ref)
    writes[top if keeps_output else "DRAM"] += piece_bytes(einsum.output)
    on_chip = reads_[top] + writes[top]
    if on_chip * (2 if h.memories[0].double_buffered else 1) > h.memories[0].capacity_bytes:
        return None
    cycles = math.ceil(max(compute, _port_cycles(h, reads_, writes)))
    actions = Actions()
    for op, n in einsum.vector_ops.items():
        actions.add(h.vector, op, n // pieces)
    if on_chip:
        actions.add(h.memories[0], "read_byte", reads_[top], key=f"{top}.read")
        actions.add(h.memories[0], "write_byte", writes[top], key=f"{top}.write")
    actions.add(h.dram, "read_byte", reads_["DRAM"], key=f"{h.dram.name}.read")
    actions.add(h.dram, "write_byte", writes["DRAM"], key=f"{h.dram.name}.write")
    return EinsumResult(einsum.name, "vector", h.vector.name, cycles, compute, 0,
                        sum(einsum.vector_ops.values()) // pieces, {h.vector.name: float(points)},
                        reads_["DRAM"], writes["DRAM"], reads_[top], writes[top],
                        actions.leakage(h.arch, cycles).pj, VectorMapping(points))


@dataclass(frozen=True)
class Searched:
    result: EinsumResult
    scored: int


@dataclass(frozen=True)
class _Prices:
    """What one contraction's energy and time cost on a hierarchy, for the search."""

    h: Hierarchy
    pj: dict[str, tuple[float, float]]  # per level ('DRAM' too): pJ per byte read, written
    mac_pj: float                         # all the MACs
    leak_pj_per_cycle: float
    compute_floor: float                  # every array copy's share of the MACs, R x C a cycle

    @classmethod
    def of(cls, p: GemmProblem, h: Hierarchy) -> "_Prices":
        # energy = sum of count x pJ (linear), so price one byte per level once
        pj = {"DRAM": (h.dram.energy_pj("read_byte"), h.dram.energy_pj("write_byte")),
              **{mem.name: (mem.read_pj_per_byte, mem.write_pj_per_byte) for mem in h.memories}}
        leak = (sum(c.leak_mw for c in h.arch.components) / h.arch.clock_ghz
                if h.arch.leakage else 0.0)
        return cls(h, pj, p.macs * h.array.energy_pj("mac", p.fmt), leak,
                   p.macs / (h.array.rows * h.array.cols * h.copies[-1]))

    def energy_j(self, reads: dict, writes: dict, cycles: float) -> float:
        return 1e-12 * (self.mac_pj + cycles * self.leak_pj_per_cycle + sum(
            reads[k] * r + writes[k] * w for k, (r, w) in self.pj.items()))

    def floor(self, state: _Partial, dram_floor: float, df: str) -> "_Cost":
        """At most the cycles and energy of every mapping completing `state` on dataflow
        `df`: the levels below only add to its counts, DRAM moves at least `dram_floor`
        bytes, and the array takes compute_floor, one fill and drain and (ws, is) the
        first weight preload (_array_cycles); slack for float sums' order."""
        h = self.h
        R, C = h.array.rows, h.array.cols
        compute = self.compute_floor + R + C - 1 + (0 if df == "os" else R)
        cycles = math.ceil(max(compute, dram_floor / h.dram_bytes_per_cycle,
                               _port_cycles(h, state.reads, state.writes)) * (1 - 1e-9))
        dram = state.reads["DRAM"] + state.writes["DRAM"]
        unmoved = max(0.0, dram_floor - dram) * min(self.pj["DRAM"]) * 1e-12
        return _Cost(cycles, (self.energy_j(state.reads, state.writes, cycles) + unmoved)
                     * (1 - 1e-9))


def best(einsum: Einsum, h: Hierarchy, objective: str, problem: GemmProblem | None = None,
         resident: frozenset = frozenset()) -> Searched:
    """The best mapping of the map space (mapper/hierarchy.py) on `objective`: every
    candidate is counted exactly (closed form), so the search is exact over it. For
    latency, top levels are built and tried in order of their DRAM floor (the bytes
    mapper.hierarchy.dram_floor_bytes counts over DRAM's bandwidth), stopping at the first
    floor above the best cycles found. Below the top, levels are chosen one after
    another, and a choice of the levels above is left when its floor (_Prices.floor) on
    every completion's cycles and energy ranks no better than the best found: no mapping
    left is strictly better, so the result is the exhaustive one. `problem` and
    `resident`: a piece of a fused block (evaluate()); only top levels holding the
    resident operands whole are in its space, and every floor drops their bytes."""
    from sim.simulate import OBJECTIVE_KEYS
    rank = OBJECTIVE_KEYS[objective]
    mapper.check_format(einsum, h.arch)
    p = problem or GemmProblem.of(einsum)
    where = (h.arch.file or None, einsum.where or einsum.name)
    prices = _Prices.of(p, h)
    on_chip = sum(p.operand_bytes(o) for o in resident)
    latency = objective == "latency"
    R, C = h.array.rows, h.array.cols
    top, top_key, scored = None, None, 0

    def search(i: int, state: _Partial, chosen: list, df: str, dram_floor: float):
        """Every completion of `chosen` (the levels above level i, counted in `state`)."""
        nonlocal top, top_key, scored
        if i == len(h.memories):
            c = _finish(p, h, df, state)
            scored += 1
            key = rank(_Cost(c.cycles, prices.energy_j(c.reads, c.writes, c.cycles)))
            if top_key is None or key < top_key:
                top, top_key = HierarchyMapping(df, tuple(chosen)), key
            return
        if top_key is not None and rank(prices.floor(state, dram_floor, df)) >= top_key:
            return  # no completion is strictly better
        for lv in level_choices(p, h.memories, i, df, R, C, state.parent):
            search(i + 1, _add_level(p, h, state, i, lv, where, True), chosen + [lv], df,
                   dram_floor)

    for floor, df, level, _ in by_top_level(p, h.memories, h.array.dataflows, R, C,
                                            by_floor=latency):
        if resident and not holds_whole(level, p, resident):
            continue
        # held whole, a resident would cross DRAM exactly once (dram_floor_bytes); the
        # same for every top level left, so the floors keep their order
        floor -= on_chip
        # slack: float sums' order
        if latency and top_key is not None and math.ceil(
                floor / h.dram_bytes_per_cycle * (1 - 1e-9)) > top_key[0]:
            break  # this top level and every later one cost more cycles
        search(1, _add_level(p, h, _Partial.start(p, h), 0, level, where, True, resident),
               [level], df, floor)
    if top is None:
        raise SpecError(f"no mapping of Einsum '{einsum.name}' fits the memories of "
                        f"architecture '{h.arch.name}' (the tiles the array needs exceed a "
                        f"level that must keep them)", *where)
    return Searched(evaluate(einsum, h, top, problem, resident), scored)


@dataclass(frozen=True)
class _Cost:  # what OBJECTIVE_KEYS reads of a result
    cycles: int
    energy_j: float


class Searches:
    """best() once per distinct search of one cascade on `h`: Einsums differing only in
    names, and alike pieces of fused blocks, share it. The key holds everything a search
    depends on besides `h` and the objective: the problem, the resident operands, and the
    top level's capacity (a fused piece's is narrowed), so a fused piece never takes an
    unfused search's result, nor the reverse."""

    def __init__(self, h: Hierarchy, objective: str):
        self.h, self.objective = h, objective
        self.found: dict = {}
        self.scored = 0

    def best(self, einsum: Einsum, h: Hierarchy | None = None,
             problem: GemmProblem | None = None,
             resident: frozenset = frozenset()) -> EinsumResult:
        """best(einsum, h or the cascade's, ...)'s result, named after the first Einsum
        searched (callers rename it)."""
        h = h or self.h
        p = problem or GemmProblem.of(einsum)
        key = (p, resident, h.memories[0].capacity_bytes)
        if key in self.found:
            mapper.check_format(einsum, h.arch)
        else:
            found = best(einsum, h, self.objective, p, resident)
            self.found[key] = found.result
            self.scored += found.scored
        return self.found[key]


def simulate_hierarchy(cascade: Cascade, arch: Architecture, mapping=None,
                       objective: str = "latency",
                       progress: Callable[[int, int], None] | None = None,
                       fuse: Callable | None = None) -> Result:
    """Every Einsum one after another (unfused): a given HierarchyMapping, else the best;
    then `fuse(cascade, h, objective, rows, given, searches)` (sim/hierarchy_fusion.py,
    the engine registered for `memory`) may replace them with fused blocks (rows of
    Einsums given a FusedStep are None until then)."""
    h = Hierarchy.of(arch)
    given = dict(mapping or {})
    unknown = sorted(set(given) - {e.name for e in cascade.einsums})
    if unknown:
        raise SpecError(f"the mapping names Einsums {unknown[:5]} that are not in workload "
                        f"'{cascade.name}'", getattr(given[unknown[0]], "source", "") or None,
                        f"mappings.{unknown[0]}")
    cache: dict = {}
    searches = Searches(h, objective)
    rows = []
    ids = cascade.signature_ids
    for i, e in enumerate(cascade.einsums):
        m = given.get(e.name)
        if isinstance(m, FusedStep):  # run by `fuse`
            rows.append(None)
            if progress:
                progress(i + 1, len(cascade.einsums))
            continue
        key = (ids[i], m)
        if key not in cache:
            if not e.is_contraction:
                cache[key] = vector_einsum(e, h)
            elif m is not None:
                if not isinstance(m, HierarchyMapping):
                    raise SpecError(f"Einsum '{e.name}' runs on a memory hierarchy: its "
                                    f"mapping needs role 'hierarchy'", m.source or None,
                                    f"mappings.{e.name}")
                cache[key] = evaluate(e, h, m)
            else:
                cache[key] = searches.best(e)
        rows.append(cache[key].renamed(e.name))
        if progress:
            progress(i + 1, len(cascade.einsums))
    if fuse:
        rows = fuse(cascade, h, objective, rows, given, searches)
    copies = h.copies
    area = {c.name: c.area_mm2() for c in arch.components}
    area[h.array.name] = h.array.area_mm2() * copies[-1]
    for mem, n in zip(h.memories, copies):
        area[mem.name] = mem.area_mm2_each * n
    units = {h.array.name: h.array.pes * copies[-1]}
    if h.vector:
        units[h.vector.name] = h.vector.lanes
    meta = {**cascade.meta, "objective": objective, "mappings_scored": searches.scored,
            "distinct_einsums": len(cache), "engine": "hierarchy",
            "fused_einsums": sum(isinstance(r.mapping, FusedStep) for r in rows)}
    return Result(cascade.name, arch.name, arch.clock_ghz, rows, area, units,
                  cascade.compulsory_dram_bytes, meta)
