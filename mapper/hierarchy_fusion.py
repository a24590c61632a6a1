"""The map space of inter-Einsum fusion on a memory hierarchy (arch/hierarchy.py).

A chain: consecutive Einsums of a cascade, each but the first reading the output of the
one before it, which no other Einsum reads and which is not a cascade output. Fused, a
chain runs in `pieces` equal pieces along one rank that every Einsum of it keeps in its
output (none reduces it; the rank is followed from Einsum to Einsum through the
intermediate's dimensions): piece by piece, each Einsum runs its slice, and each
intermediate's slice is held whole in the top memory level from its producer to its
consumer (it is *resident*: it never crosses DRAM). Everything else crosses DRAM per
piece as the Einsum's own mapping counts it, so an operand not indexed by the rank (a
weight) is fetched again for every piece. This is the shared rank tiled above every
Einsum, as AccelForge's, TileFlow's and LoopTree's fused mappings tile it.

The space of one chain: every sub-chain of two or more Einsums, every rank that can be
followed through it, and every power-of-two number of pieces dividing that rank's size
(1: the whole intermediates resident). sim/hierarchy_fusion.py counts each candidate
exactly and chooses, per cascade, which sub-chains to fuse.
"""

from __future__ import annotations

from yamlspec import SpecError
from mapper.gemm import OPERANDS, GemmProblem
from mapper.hierarchy import held
from mapper.mapping import GROUPS, OPERAND_ROLE


def links(cascade) -> list[bool]:
    """links[i]: Einsum i+1 reads Einsum i's output, which nothing else reads."""
    readers: dict[str, int] = {}
    for e in cascade.einsums:
        for name in {r.tensor.name for r in e.inputs}:
            readers[name] = readers.get(name, 0) + 1
    out = []
    for a, b in zip(cascade.einsums, cascade.einsums[1:]):
        t = a.output.tensor.name
        out.append(readers.get(t) == 1 and sum(r.tensor.name == t for r in b.inputs) == 1)
    return out


def split_ranks(einsums) -> list[tuple[tuple[str, ...], int]]:
    """(one rank per Einsum, its size) for every rank of the first Einsum's output that
    every Einsum of the chain keeps in its output, followed through each intermediate
    (the consumer's rank at the intermediate's dimension the producer's rank indexes)."""
    out = []
    for rank in einsums[0].output.ranks:
        size = einsums[0].rank_sizes[rank]
        chain = [rank]
        for a, b in zip(einsums, einsums[1:]):
            dim = a.output.ranks.index(chain[-1])
            ref = next(r for r in b.inputs if r.tensor.name == a.output.tensor.name)
            chain.append(ref.ranks[dim])
            if chain[-1] not in b.output.ranks:
                break
        else:
            if size > 1:
                out.append((tuple(chain), size))
    return out


def piece_counts(size: int) -> list[int]:
    """Powers of two dividing `size`, from 1."""
    out = [1]
    while size % (out[-1] * 2) == 0:
        out.append(out[-1] * 2)
    return out


def piece_problem(einsum, rank: str, pieces: int) -> GemmProblem:
    """The contraction `einsum` restricted to one of `pieces` equal slices of `rank`."""
    p = GemmProblem.of(einsum)
    group = next(g for g, ranks in einsum.gemm_groups().items() if rank in ranks)
    sizes = {g: s // pieces if g == group else s for g, s in p.shape}
    return GemmProblem(tuple((g, sizes[g]) for g in GROUPS), p.bits, p.fmt)


def resident_operands(einsum, reads: str | None, keeps_output: bool) -> frozenset:
    """The operands (A, W, O) of a contraction in a fused chain held whole in the top
    level: the intermediate it reads (tensor `reads`), and its output if the chain goes on."""
    out = {"AW"[i] for i, r in enumerate(einsum.inputs) if r.tensor.name == reads}
    return frozenset(out | ({"O"} if keeps_output else set()))


def holds_whole(top, p: GemmProblem, resident: frozenset) -> bool:
    """The top level's mapping `top` keeps every resident operand, all of it."""
    inner = tuple(p.size(g) for g in GROUPS)
    tiles = dict(zip(top.keep, held(top, inner)))
    return top.spatial is None and all(
        o in tiles and all(tiles[o][GROUPS.index(g)] == p.size(g) for g in OPERANDS[o])
        for o in resident)


def check_resident(m, p: GemmProblem, resident: frozenset, where):
    if not holds_whole(m.levels[0], p, resident):
        roles = ", ".join(OPERAND_ROLE[o] for o in sorted(resident))
        raise SpecError(f"in a fused chain the top level '{m.levels[0].memory}' holds the "
                        f"{roles} whole (each piece's slice): its mapping must keep them, "
                        f"stored above every loop over their ranks, and split nothing over "
                        f"copies", *where)
