"""The map space of inter-Einsum fusion on a memory hierarchy (arch/hierarchy.py).

A fused block: consecutive Einsums of a cascade whose *resident* tensors (produced in the
block and read only by later Einsums of it) stay in the top memory level and never cross
DRAM; every Einsum of the block but the first reads at least one of them. The block runs
in `pieces` equal pieces along one rank that every Einsum of it keeps in its output (none
reduces it; the rank is followed from producer to consumer through each resident
tensor's dimensions, and must agree where an Einsum reads several): piece by piece, each
Einsum runs its slice, and each resident tensor's slice is held whole in the top level
from its producer to its last reader, taking room from the Einsums between. Everything
else crosses DRAM per piece as the Einsum's own mapping counts it, so an operand not
indexed by the rank (a weight) is fetched again for every piece. This is the shared rank
tiled above every Einsum, as AccelForge's, TileFlow's and LoopTree's fused mappings tile
it. With one piece no rank is split and whole tensors are resident.

The space of a cascade: every block of two to MAX_BLOCK free Einsums, one piece (whole) or
every rank that can be followed through it with every power-of-two number of pieces
dividing its size. sim/hierarchy_fusion.py counts each exactly and chooses the blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from yamlspec import SpecError
from mapper.gemm import OPERANDS, GemmProblem
from mapper.hierarchy import held
from mapper.mapping import GROUPS, OPERAND_ROLE

MAX_BLOCK = 16  # Einsums in a fused block at most (a transformer layer has about a dozen)


def readers(cascade) -> dict[str, list[int]]:
    """Tensor name -> the indices of the Einsums reading it."""
    out: dict[str, list[int]] = {}
    for i, e in enumerate(cascade.einsums):
        for name in dict.fromkeys(r.tensor.name for r in e.inputs):
            out.setdefault(name, []).append(i)
    return out


def residents(einsums, read_by: dict, j: int, k: int) -> frozenset | None:
    """The resident tensors of the block of Einsums j..k-1 (module docstring), or None
    if it is not a block (none, or an Einsum after the first reads none of them)."""
    out = frozenset(einsums[i].output.tensor.name for i in range(j, k)
                    if read_by.get(einsums[i].output.tensor.name)
                    and all(i < r < k for r in read_by[einsums[i].output.tensor.name]))
    if not out or any(not any(r.tensor.name in out for r in einsums[i].inputs)
                      for i in range(j + 1, k)):
        return None
    return out


def split_ranks(block, resident: frozenset) -> list[tuple[tuple[str, ...], int]]:
    """(one rank per Einsum, its size) for every rank of the first Einsum's output that
    every Einsum keeps in its output, followed through the resident tensors made in
    `block` (every Einsum after the first must read one)."""
    out = []
    first = block[0]
    for rank in first.output.ranks:
        ranks = [rank]
        dim = {first.output.tensor.name: first.output.ranks.index(rank)}
        for e in block[1:]:
            implied = {ref.ranks[dim[ref.tensor.name]] for ref in e.inputs
                       if ref.tensor.name in resident and ref.tensor.name in dim}
            if len(implied) != 1 or not implied <= set(e.output.ranks):
                break
            ranks.append(implied.pop())
            dim[e.output.tensor.name] = e.output.ranks.index(ranks[-1])
        else:
            if first.rank_sizes[rank] > 1:
                out.append((tuple(ranks), first.rank_sizes[rank]))
    return out


def piece_counts(size: int) -> list[int]:
    """Powers of two dividing `size`, from 1."""
    out = [1]
    while size % (out[-1] * 2) == 0:
        out.append(out[-1] * 2)
    return out


def splits(block, resident: frozenset) -> list[tuple[tuple, tuple]]:
    """(each Einsum's split rank, each Einsum's pieces) of the block's space: all whole;
    then, for every Einsum s, the Einsums before it whole and it and those after it split
    along a rank followed from s, in every power of two of pieces."""
    out = [((None,) * len(block), (1,) * len(block))]
    for s in range(len(block)):
        for ranks, size in split_ranks(block[s:], resident):
            out += [((None,) * s + ranks, (1,) * s + (n,) * len(ranks))
                    for n in piece_counts(size)[1:]]
    return out


@dataclass(frozen=True)
class Step:
    """One Einsum's place in a fused block."""
    block: str              # the block's first Einsum
    rank: str | None        # this Einsum's letter for the split rank (None: one piece)
    pieces: int
    reads: frozenset        # the resident tensors it reads from the top level
    keeps_output: bool      # its output is resident
    passing: int            # bytes of resident tensors held across it beyond its operands


def slice_bytes(tensor, pieces: int) -> int:
    return math.ceil(tensor.elements // pieces * tensor.bits / 8)


def layout(block, resident: frozenset) -> tuple:
    """What steps() needs of a block whatever its split: each resident tensor's producer,
    its readers, and its tensor; each Einsum's input names."""
    inputs = [frozenset(r.tensor.name for r in e.inputs) for e in block]
    made = {e.output.tensor.name: i for i, e in enumerate(block)}
    return ([(t, made[t], max(i for i, names in enumerate(inputs) if t in names),
              {i for i, names in enumerate(inputs) if t in names}, block[made[t]].output.tensor)
             for t in sorted(resident)], inputs)


def steps(block, resident: frozenset, ranks, pieces, shape: tuple | None = None) -> list[Step]:
    """Each Einsum's Step in the block split along `ranks` into `pieces` (per Einsum, as
    splits() gives them; `shape`: its layout(), if made already). The whole Einsums run
    first, then the split ones piece by piece: a resident tensor is held from its
    producer to its last reader, and one made whole and read by the split Einsums
    through every piece of them."""
    tensors, inputs = shape or layout(block, resident)
    n = max(pieces)
    split = {i for i, p in enumerate(pieces) if p > 1}
    out = []
    for i, e in enumerate(block):
        reads = inputs[i] & resident
        passing = 0
        for t, made, last, read, tensor in tensors:
            if made in split:  # a slice, within one piece
                if made < i < last and t not in reads:
                    passing += slice_bytes(tensor, n)
            elif i in split and read & split:  # whole, through every piece
                ref = next((r for r in e.inputs if r.tensor.name == t), None)
                seen = 0 if ref is None else (slice_bytes(tensor, n) if ranks[i] in ref.ranks
                                              else tensor.bytes)
                passing += tensor.bytes - seen
            elif made < i < last and t not in reads:
                passing += tensor.bytes
        out.append(Step(block[0].name, ranks[i], pieces[i], reads,
                        block[i].output.tensor.name in resident, passing))
    return out


def piece_problem(einsum, rank: str | None, pieces: int) -> GemmProblem:
    """The contraction `einsum` restricted to one of `pieces` equal slices of `rank`."""
    p = GemmProblem.of(einsum)
    if rank is None:
        return p
    group = next(g for g, ranks in einsum.gemm_groups().items() if rank in ranks)
    sizes = {g: s // pieces if g == group else s for g, s in p.shape}
    return GemmProblem(tuple((g, sizes[g]) for g in GROUPS), p.bits, p.fmt)


def resident_operands(einsum, step: Step) -> frozenset:
    """The operands (A, W, O) of a contraction held whole in the top level as `step`."""
    out = {"AW"[i] for i, r in enumerate(einsum.inputs) if r.tensor.name in step.reads}
    return frozenset(out | ({"O"} if step.keeps_output else set()))


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
        raise SpecError(f"in a fused block the top level '{m.levels[0].memory}' holds the "
                        f"{roles} whole (each piece's slice): its mapping must keep them, "
                        f"stored above every loop over their ranks, and split nothing over "
                        f"copies", *where)
