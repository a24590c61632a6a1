"""The map space of inter-Einsum fusion on a memory hierarchy (arch/hierarchy.py).

A fused block: consecutive Einsums of a cascade whose *resident* tensors (produced in the
block and read only by later Einsums of it) stay in the top memory level and never cross
DRAM; every Einsum of the block but the first reads at least one of them. The block runs
whole, or with a run of its Einsums in `pieces` equal pieces along one rank that each of
them keeps in its output (none reduces it; the rank is followed from producer to
consumer through each resident tensor's dimensions, and must agree where an Einsum
reads several), the Einsums before the run whole, then the run piece by piece (each
Einsum its slice), then the Einsums after it whole. A resident is held in the top level
from its producer to its last reader (steps()), taking room from the Einsums between.
Everything else crosses DRAM per piece as the Einsum's own mapping counts it, so an
operand not indexed by the rank (a weight) is fetched again for every piece. This is
the shared rank tiled above the Einsums, as AccelForge's, TileFlow's and LoopTree's
fused mappings tile it.

The space of a cascade: every block of two to MAX_BLOCK free Einsums, whole or with
every run split along every rank that can be followed through it, in every power of two
of pieces dividing its size. sim/hierarchy_fusion.py counts each exactly and chooses.
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
    then, for every run of Einsums s..t-1, those before and after it whole and the run
    split along a rank followed from s, in every power of two of pieces."""
    out = [((None,) * len(block), (1,) * len(block))]
    for s in range(len(block)):
        for t in range(s + 1, len(block) + 1):
            for ranks, size in split_ranks(block[s:t], resident):
                after = len(block) - t
                out += [((None,) * s + ranks + (None,) * after,
                         (1,) * s + (n,) * len(ranks) + (1,) * after)
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
    """What steps() needs of a block whatever its split: per resident tensor its
    producer, last reader, readers, bytes and the tensor; per Einsum the resident
    tensors it reads, with the ranks it reads each by."""
    reads = [{r.tensor.name: r.ranks for r in e.inputs if r.tensor.name in resident}
             for e in block]
    made = {e.output.tensor.name: i for i, e in enumerate(block)}
    tensors = []
    for t in sorted(resident):
        read_at = {i for i, names in enumerate(reads) if t in names}
        tensor = block[made[t]].output.tensor
        tensors.append((t, made[t], max(read_at), read_at, tensor.bytes, tensor))
    return tensors, reads


def steps(block, resident: frozenset, ranks, pieces, shape: tuple | None = None) -> list[Step]:
    """Each Einsum's Step in the block split along `ranks` into `pieces` (per Einsum, as
    splits() gives them; `shape`: its layout(), if made already). The Einsums before the
    split ones run whole, then the split ones piece by piece, then the rest whole. A
    resident is held from its producer to its last reader: a slice if made and read only
    by the split Einsums; whole if made whole and read by them (through every piece), or
    made by them and read after them (its slices gathering piece by piece). An Einsum
    counts what it reads and writes of them itself; the rest takes its room."""
    tensors, reads = shape or layout(block, resident)
    n = max(pieces)
    split = [p > 1 for p in pieces]
    first = split.index(True) if n > 1 else len(block)
    passing = [0] * len(block)
    for t, made, last, readers, whole, tensor in tensors:
        piece = slice_bytes(tensor, n) if n > 1 else whole
        gathered = split[made] and not split[last]
        across = not split[made] and any(split[i] for i in readers)
        for i in range(min(made, first), len(block)):
            if split[i] and (across or (gathered and i < made)):
                held = whole - piece if gathered else whole
            elif made <= i <= last:
                held = piece if split[made] and not gathered else whole
            else:
                continue
            if i == made:
                own = piece if split[i] else whole
            elif t in reads[i]:
                own = piece if split[i] and ranks[i] in reads[i][t] else whole
            else:
                own = 0
            passing[i] += max(0, held - own)
    return [Step(block[0].name, ranks[i], pieces[i], frozenset(reads[i]),
                 e.output.tensor.name in resident, passing[i]) for i, e in enumerate(block)]


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
