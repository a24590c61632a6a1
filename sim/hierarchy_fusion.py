"""Fused Einsum chains on a memory hierarchy: each candidate of mapper/hierarchy_fusion.py
counted exactly, and the cascade's choice of which chains to fuse.

A fused chain runs piece by piece; within a piece its Einsums run one after another, and
so do the pieces (serialized: no Einsum overlaps another, as unfused Einsums do not), so
a fused Einsum's cycles, counts and energy are those of one piece (sim/hierarchy.py's
count() with the resident operands held whole in the top level and never crossing
DRAM; the vector unit reading and writing them there) times the number of pieces. Each
piece's mapping is the best of its map space with the residents held whole, so capacity
holds for every Einsum while it runs: its own tiles and the resident slices it reads
and writes.

The choice: every Einsum alone (unfused, as before) or in one fused sub-chain; the
cascade's objective key is a sum over those blocks, so a dynamic programme over the
cascade's order finds the best split exactly (latency: total cycles, then energy;
energy: the reverse; edp: the sum of each block's cycles x energy). Unfused is in the
space, so the choice is never worse than unfused.
"""

from __future__ import annotations

from dataclasses import dataclass

from yamlspec import SpecError
from mapper.hierarchy_fusion import (links, piece_counts, piece_problem, resident_operands,
                                     split_ranks)
from mapper.mapping import FusedStep, HierarchyMapping
from sim.hierarchy import Hierarchy, best, evaluate, simulate_hierarchy, vector_einsum
from sim.registry import cascade_engine
from sim.result import EinsumResult

# the additive part of each objective's key (sim.simulate.OBJECTIVE_KEYS)
ADDITIVE = {"latency": lambda c, e: (c, e), "energy": lambda c, e: (e, c),
            "edp": lambda c, e: (c * e,)}


def enabled(h: Hierarchy) -> bool:
    """Fusion holds intermediates in the top level, which must allow it and be one copy."""
    return h.memories[0].fuse and h.memories[0].instances == 1


@dataclass(frozen=True)
class Step:
    """One Einsum's place in a fused chain."""
    chain: str          # the chain's first Einsum
    rank: str           # this Einsum's letter for the split rank
    pieces: int
    reads: str | None   # the intermediate it reads from the top level
    keeps_output: bool  # its output stays in the top level for the next Einsum


def scaled(piece: EinsumResult, step: Step, name: str) -> EinsumResult:
    """A piece's result times the number of pieces, under its FusedStep mapping."""
    n = step.pieces
    return EinsumResult(
        name, piece.kind, piece.unit, piece.cycles * n, piece.compute_cycles * n,
        piece.macs * n, piece.ops * n, {k: v * n for k, v in piece.busy.items()},
        piece.dram_read_bytes * n, piece.dram_write_bytes * n, piece.glb_read_bytes * n,
        piece.glb_write_bytes * n, {k: v * n for k, v in piece.energy_pj.items()},
        FusedStep(step.chain, step.rank, n, piece.mapping))


class Pieces:
    """Each Einsum's best result in a fused chain, searched once per distinct piece."""

    def __init__(self, h: Hierarchy, objective: str):
        self.h, self.objective = h, objective
        self.cache: dict = {}
        self.scored = 0

    def best(self, e, step: Step) -> EinsumResult | None:
        """The best of `e`'s map space as `step` (None: no mapping fits)."""
        if not e.is_contraction:
            key = (e.signature(), step.rank, step.pieces, step.reads, step.keeps_output)
            if key not in self.cache:
                self.cache[key] = vector_einsum(e, self.h, step.rank, step.pieces, step.reads,
                                          step.keeps_output)
        else:
            p = piece_problem(e, step.rank, step.pieces)
            resident = resident_operands(e, step.reads, step.keeps_output)
            key = (p, resident, e.output.tensor.format)
            if key not in self.cache:
                try:
                    found = best(e, self.h, self.objective, p, resident)
                except SpecError:  # nothing fits with the residents held whole
                    self.cache[key] = None
                else:
                    self.cache[key] = found.result
                    self.scored += found.scored
        piece = self.cache[key]
        return None if piece is None else scaled(piece, step, e.name)


def steps(einsums, ranks, pieces) -> list[Step]:
    out = []
    for i, (e, r) in enumerate(zip(einsums, ranks)):
        out.append(Step(einsums[0].name, r, pieces,
                        einsums[i - 1].output.tensor.name if i else None, i < len(einsums) - 1))
    return out


def given_chains(cascade, given: dict) -> dict[int, tuple[int, list[Step]]]:
    """The chains fixed by FusedStep mappings: index of the last Einsum -> (index of the
    first, each Einsum's Step), checked against the cascade."""
    einsums = cascade.einsums
    index = {e.name: i for i, e in enumerate(einsums)}
    ok = links(cascade)
    out = {}
    members: dict[str, list[int]] = {}
    for name, m in given.items():
        if isinstance(m, FusedStep):
            members.setdefault(m.chain, []).append(index[name])
    for chain, idx in members.items():
        idx.sort()
        first = given[einsums[idx[0]].name]
        where = (first.source or None, f"mappings.{einsums[idx[0]].name}.fused")
        if chain not in index or idx[0] != index[chain] or idx != list(
                range(idx[0], idx[0] + len(idx))) or len(idx) < 2:
            raise SpecError(f"the fused chain '{chain}' must be two or more consecutive "
                            f"Einsums starting at '{chain}'; the mapping puts "
                            f"{[einsums[i].name for i in idx]} in it", *where)
        if not all(ok[idx[0]:idx[-1]]):
            raise SpecError(f"Einsums {[einsums[i].name for i in idx]} are not a chain (each "
                            f"reading the one before's output, which nothing else reads)",
                            *where)
        chain_einsums = [einsums[i] for i in idx]
        ranks = tuple(given[e.name].rank for e in chain_einsums)
        pieces = {given[e.name].pieces for e in chain_einsums}
        sizes = dict(split_ranks(chain_einsums))
        if ranks not in sizes or len(pieces) != 1 or sizes[ranks] % min(pieces):
            raise SpecError(f"the fused chain '{chain}' is split along ranks {list(ranks)} "
                            f"into {sorted(pieces)} pieces: it needs one rank every Einsum "
                            f"keeps in its output (followed through the intermediates: "
                            f"{[list(r) for r in sizes]}) and one number of pieces dividing "
                            f"its size", *where)
        out[idx[-1]] = (idx[0], steps(chain_einsums, ranks, pieces.pop()))
    return out


def fixed_piece(e, step: Step, m: FusedStep, h: Hierarchy) -> EinsumResult:
    """A given mapping of one piece, evaluated."""
    if not e.is_contraction:
        piece = vector_einsum(e, h, step.rank, step.pieces, step.reads, step.keeps_output)
        if piece is None:
            raise SpecError(f"the slices Einsum '{e.name}' holds in '{h.memories[0].name}' "
                            f"do not fit it", m.source or None, f"mappings.{e.name}")
    else:
        if not isinstance(m.mapping, HierarchyMapping):
            raise SpecError(f"Einsum '{e.name}' runs on a memory hierarchy: its mapping needs "
                            f"role 'hierarchy'", m.source or None, f"mappings.{e.name}")
        piece = evaluate(e, h, m.mapping, piece_problem(e, step.rank, step.pieces),
                         resident_operands(e, step.reads, step.keeps_output))
    return scaled(piece, step, e.name)


def choose(cascade, h: Hierarchy, objective: str, rows: list, given: dict) -> tuple[list, int]:
    """The rows of the best split of the cascade into unfused Einsums (`rows`, None where
    a FusedStep is given) and fused chains; and the mappings it scored."""
    einsums = cascade.einsums
    key = ADDITIVE[objective]
    fixed = given_chains(cascade, given)
    search = Pieces(h, objective)
    ok = links(cascade) if enabled(h) else [False] * (len(einsums) - 1)
    free = [e.name not in given for e in einsums]

    def total(block):
        return tuple(map(sum, zip(*(key(r.cycles, r.energy_j) for r in block))))

    # best[k]: (key, rows) of the best way to run the first k Einsums
    best_: list = [((0,) * len(key(0, 0)), [])] + [None] * len(einsums)
    for k in range(1, len(einsums) + 1):
        options = []
        if k - 1 in fixed:
            j, chain = fixed[k - 1]
            block = [fixed_piece(e, s, given[e.name], h) for e, s in zip(einsums[j:k], chain)]
            options.append((j, block))
        elif rows[k - 1] is not None:
            options.append((k - 1, [rows[k - 1]]))
            j = k - 1
            while j > 0 and ok[j - 1] and free[j - 1] and free[k - 1]:
                j -= 1
                chain = einsums[j:k]
                for ranks, size in split_ranks(chain):
                    for pieces in piece_counts(size):
                        block = [search.best(e, s) for e, s in zip(chain, steps(chain, ranks,
                                                                                 pieces))]
                        if None not in block:
                            options.append((j, block))
        for j, block in options:
            if best_[j] is None:
                continue
            cost = tuple(a + b for a, b in zip(best_[j][0], total(block)))
            if best_[k] is None or cost < best_[k][0]:
                best_[k] = (cost, best_[j][1] + block)
    return best_[-1][1], search.scored


@cascade_engine("memory")
def simulate_fused(cascade, arch, mapping=None, objective: str = "latency", progress=None):
    """A cascade on a memory hierarchy, fused chains chosen by the mapper (choose())."""
    return simulate_hierarchy(cascade, arch, mapping, objective, progress, fuse=choose)
