"""Fused blocks of Einsums on a memory hierarchy: each candidate of
mapper/hierarchy_fusion.py counted exactly, and the cascade's choice of blocks.

A fused block's Einsums run one after another (its split run piece by piece): serialized,
no Einsum overlaps another, as unfused Einsums do not. So a fused Einsum's cycles,
counts and energy are those of one piece (sim/hierarchy.py's count() with the resident
operands held whole in the top level and never crossing DRAM; the vector unit reading
and writing them there) times its number of pieces. Each piece's mapping is the best of
its map space with the residents held whole and the top level's capacity less what
else is held while it runs (mapper.hierarchy_fusion.steps()), so capacity holds for
every Einsum.

The choice: every Einsum alone (unfused, as before) or in one fused block; the
cascade's objective key is a sum over those blocks, so a dynamic programme over the
cascade's order finds the best split exactly (latency: total cycles, then energy;
energy: the reverse; edp: the sum of each Einsum's cycles x energy). Unfused is in the
space, so the choice is never worse than unfused.
"""

from __future__ import annotations

from dataclasses import replace

from yamlspec import SpecError
from mapper.hierarchy_fusion import (MAX_BLOCK, Step, layout, piece_problem, readers,
                                     resident_operands, residents, splits, steps)
from mapper.mapping import FusedStep, HierarchyMapping
from sim.hierarchy import Hierarchy, Searches, evaluate, simulate_hierarchy, vector_einsum
from sim.registry import cascade_engine
from sim.result import EinsumResult

# the additive part of each objective's key (sim.simulate.OBJECTIVE_KEYS)
ADDITIVE = {"latency": lambda c, e: (c, e), "energy": lambda c, e: (e, c),
            "edp": lambda c, e: (c * e,)}


def enabled(h: Hierarchy) -> bool:
    """Fusion holds intermediates in the top level, which must allow it and be one copy."""
    return h.memories[0].fuse and h.memories[0].instances == 1


def scaled(piece: EinsumResult, step: Step, name: str) -> EinsumResult:
    """A piece's result times the number of pieces, under its FusedStep mapping."""
    n = step.pieces
    return EinsumResult(
        name, piece.kind, piece.unit, piece.cycles * n, piece.compute_cycles * n,
        piece.macs * n, piece.ops * n, {k: v * n for k, v in piece.busy.items()},
        piece.dram_read_bytes * n, piece.dram_write_bytes * n, piece.glb_read_bytes * n,
        piece.glb_write_bytes * n, {k: v * n for k, v in piece.energy_pj.items()},
        FusedStep(step.block, step.rank, n, piece.mapping))


def narrowed(h: Hierarchy, passing: int) -> Hierarchy | None:
    """`h` with `passing` bytes of the top level taken (None: nothing left)."""
    if not passing:
        return h
    top = h.memories[0]
    left = top.capacity_bytes - passing * (2 if top.double_buffered else 1)
    if left <= 0:
        return None
    if left == float("inf"):
        return h
    return replace(h, memories=(top.model_copy(update={"capacity_kib": left / 1024}),
                                *h.memories[1:]))


def piece_of(e, step: Step, h: Hierarchy, searches: Searches | None = None, m=None):
    """The result of one piece of `e` as `step`: under the given mapping `m`, else the
    best of its map space (searches.best()); None if nothing fits."""
    h = narrowed(h, step.passing)
    if h is None:
        return None
    if not e.is_contraction:
        return vector_einsum(e, h, step.rank, step.pieces, step.reads, step.keeps_output)
    p = piece_problem(e, step.rank, step.pieces)
    if m is not None:
        return evaluate(e, h, m, p, resident_operands(e, step))
    try:
        return searches.best(e, h, p, resident_operands(e, step))
    except SpecError:  # nothing fits with the residents held whole
        return None


class Pieces:
    """Each Einsum's best result in a fused block, made once per distinct piece."""

    def __init__(self, searches: Searches):
        self.searches = searches
        self.cache: dict = {}

    def best(self, e, sig: int, step: Step) -> tuple | None:
        """(one piece's result, its cycles, its joules), or None if nothing fits; `sig`:
        the number of `e`'s signature (Cascade.signature_ids)."""
        key = (sig, step.rank, step.pieces, step.keeps_output, step.passing,
               tuple(r.tensor.name in step.reads for r in e.inputs))  # alike in every layer
        if key not in self.cache:
            piece = piece_of(e, step, self.searches.h, self.searches)
            self.cache[key] = None if piece is None else (piece, piece.cycles, piece.energy_j)
        return self.cache[key]


def given_blocks(cascade, given: dict, h: Hierarchy) -> dict[int, tuple[int, list]]:
    """The blocks fixed by FusedStep mappings: index of the last Einsum -> (index of the
    first, each Einsum's result), checked against the cascade."""
    einsums = cascade.einsums
    index = {e.name: i for i, e in enumerate(einsums)}
    read_by = readers(cascade)
    members: dict[str, list[int]] = {}
    for name, m in given.items():
        if isinstance(m, FusedStep):
            members.setdefault(m.block, []).append(index[name])
    out = {}
    for first, idx in members.items():
        idx.sort()
        j, k = idx[0], idx[-1] + 1
        names = [einsums[i].name for i in idx]
        where = (given[names[0]].source or None, f"mappings.{names[0]}.fused")
        if first not in index or j != index[first] or idx != list(range(j, k)) or not (
                2 <= k - j <= MAX_BLOCK):
            raise SpecError(f"the fused block '{first}' must be 2 to {MAX_BLOCK} consecutive "
                            f"Einsums starting at '{first}'; the mapping puts {names} in it",
                            *where)
        resident = residents(einsums, read_by, j, k)
        if resident is None:
            raise SpecError(f"Einsums {names} are not a fused block (each after the first "
                            f"reading a tensor made in it that no later Einsum reads)", *where)
        block = einsums[j:k]
        ranks = tuple(given[n].rank for n in names)
        pieces = tuple(given[n].pieces for n in names)
        if (ranks, pieces) not in splits(block, resident):
            raise SpecError(f"the fused block '{first}' splits its Einsums along ranks "
                            f"{list(ranks)} into {list(pieces)} pieces, not a split of its "
                            f"space: the first Einsums whole (rank null, one piece), the rest "
                            f"along a rank each keeps in its output, followed through the "
                            f"resident tensors, in one power of two of pieces dividing its "
                            f"size", *where)
        results = []
        for e, step in zip(block, steps(block, resident, ranks, pieces)):
            m = given[e.name]
            if e.is_contraction and not isinstance(m.mapping, HierarchyMapping):
                raise SpecError(f"Einsum '{e.name}' runs on a memory hierarchy: its mapping "
                                f"needs role 'hierarchy'", m.source or None, f"mappings.{e.name}")
            piece = piece_of(e, step, h, m=m.mapping if e.is_contraction else None)
            if piece is None:
                raise SpecError(f"the slices Einsum '{e.name}' holds in '{h.memories[0].name}' "
                                f"do not fit it", m.source or None, f"mappings.{e.name}")
            results.append(scaled(piece, step, e.name))
        out[k - 1] = (j, results)
    return out


def choose(cascade, h: Hierarchy, objective: str, rows: list, given: dict,
           searches: Searches) -> list:
    """The rows of the best split of the cascade into unfused Einsums (`rows`, None where
    a FusedStep is given) and fused blocks, pieces searched by `searches`."""
    einsums = cascade.einsums
    key = ADDITIVE[objective]
    fixed = given_blocks(cascade, given, h)
    search = Pieces(searches)
    read_by = readers(cascade)
    ids = cascade.signature_ids
    free = [enabled(h) and e.name not in given for e in einsums]
    alike: dict = {}  # blocks alike (as in every layer) -> (key, ranks, pieces) of the best

    def total(pairs):  # the key of a block's (cycles, joules) per Einsum
        return tuple(map(sum, zip(*(key(c, e) for c, e in pairs))))

    def best_split(block, sigs, resident):
        found_best = None
        shape = layout(block, resident)
        for ranks, pieces in splits(block, resident):
            at = steps(block, resident, ranks, pieces, shape)
            found = []
            for e, sig, step in zip(block, sigs, at):
                found.append(search.best(e, sig, step))
                if found[-1] is None:
                    break
            else:
                cost = total((n * c, n * x) for n, (_, c, x) in zip(pieces, found))
                if found_best is None or cost < found_best[0]:
                    found_best = (cost, ranks, pieces)
        return found_best

    def rows_of(block, sigs, resident, ranks, pieces):
        return [scaled(search.best(e, sig, s)[0], s, e.name)
                for e, sig, s in zip(block, sigs, steps(block, resident, ranks, pieces))]

    # best_[k]: (key, first Einsum of the last block, making its rows) of the best way to
    # run the first k Einsums
    best_: list = [((0,) * len(key(0, 0)), 0, None)] + [None] * len(einsums)
    for k in range(1, len(einsums) + 1):
        options = []
        if k - 1 in fixed:
            j, done = fixed[k - 1]
            options.append((j, total((r.cycles, r.energy_j) for r in done), lambda d=done: d))
        elif rows[k - 1] is not None:
            r = rows[k - 1]
            options.append((k - 1, key(r.cycles, r.energy_j), lambda r=r: [r]))
            j = k - 1
            while j > max(0, k - MAX_BLOCK) and free[j - 1] and free[k - 1]:
                j -= 1
                resident = residents(einsums, read_by, j, k)
                if resident is None:
                    continue
                block = einsums[j:k]
                alike_key = (ids[j:k],  # what the block's cost depends on, wherever it is
                             tuple(tuple(x - j for x in read_by[e.output.tensor.name])
                                   if e.output.tensor.name in resident else () for e in block),
                             tuple(tuple(r.tensor.name in resident for r in e.inputs)
                                   for e in block))
                if alike_key not in alike:
                    alike[alike_key] = best_split(block, ids[j:k], resident)
                if alike[alike_key] is not None:
                    cost, ranks, pieces = alike[alike_key]
                    options.append((j, cost, lambda b=block, ss=ids[j:k], res=resident,
                                    r=ranks, p=pieces: rows_of(b, ss, res, r, p)))
        for j, cost, make in options:
            if best_[j] is None:
                continue
            cost = tuple(a + b for a, b in zip(best_[j][0], cost))
            if best_[k] is None or cost < best_[k][0]:
                best_[k] = (cost, j, make)
    out, k = [], len(einsums)
    while k:  # back from the last block
        _, j, make = best_[k]
        out[:0] = make()
        k = j
    return out


@cascade_engine("memory")
def simulate_fused(cascade, arch, mapping=None, objective: str = "latency", progress=None):
    """A cascade on a memory hierarchy, fused blocks chosen by the mapper (choose())."""
    return simulate_hierarchy(cascade, arch, mapping, objective, progress, fuse=choose)
