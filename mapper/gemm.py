"""Map-space search for a contraction (batched GEMM) on the 2D array.

Every candidate (dataflow, tile sizes, loop order) is scored at once with numpy:
exact DRAM traffic (each operand tile is re-fetched once per iteration of a loop
that does not index it, outside its innermost indexing loop) and an estimate of
cycles and energy from the uniform-fold form of sim/array2d.py. sim.simulate then
runs the best few exactly. Which tilings are scored depends on the search method
(mapper/search.py: grid, heuristic, random, exhaustive).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from yamlspec import SpecError
from arch import Architecture
from workloads import Einsum
from mapper.mapping import DATAFLOW_DIMS, FEED_OPERANDS, GROUPS, GemmMapping
from mapper.search import SearchOptions

OPERANDS = {"A": ("B", "M", "K"), "W": ("B", "K", "N"), "O": ("B", "M", "N")}
MAX_CANDIDATES_PER_GROUP = 12


@dataclass(frozen=True)
class GemmProblem:
    """A contraction as a batched GEMM O[B,M,N] = A[B,M,K] x W[B,K,N] with element widths."""

    shape: tuple[tuple[str, int], ...]
    bits: tuple[tuple[str, int], ...]  # A, W, O
    fmt: str

    @classmethod
    def of(cls, einsum: Einsum) -> "GemmProblem":
        a, w = einsum.inputs
        shape = einsum.gemm_shape()
        bits = (("A", a.tensor.bits), ("W", w.tensor.bits), ("O", einsum.output.tensor.bits))
        return cls(tuple((g, shape[g]) for g in GROUPS), bits, a.tensor.format)

    def size(self, group: str) -> int:
        return dict(self.shape)[group]

    def bit(self, operand: str) -> int:
        return dict(self.bits)[operand]

    def operand_bytes(self, operand: str) -> int:
        return math.ceil(math.prod(self.size(g) for g in OPERANDS[operand]) * self.bit(operand) / 8)

    @property
    def macs(self) -> int:
        return math.prod(s for _, s in self.shape)


def tile_candidates(size: int, align: int, limit: int = MAX_CANDIDATES_PER_GROUP) -> list[int]:
    """Divisors, multiples of the array dimension by powers of two, and the full size;
    below the array dimension only the full size (smaller tiles idle PEs)."""
    cands = {size}
    cands.update(d for d in range(1, math.isqrt(size) + 1) if size % d == 0)
    cands.update(size // d for d in list(cands) if size % d == 0)
    m = align
    while m < size:
        cands.add(m)
        m *= 2
    cands = sorted(c for c in cands if c >= min(align, size))
    if len(cands) > limit:  # keep a log-spaced subset, always the ends
        pick = np.unique(np.round(np.geomspace(1, len(cands), limit)) - 1)
        cands = [cands[int(i)] for i in pick]
    return cands


def reload_factor(order: tuple[str, ...], counts: dict[str, np.ndarray], relevant) -> np.ndarray:
    """How many times each tile of an operand is fetched under a loop order."""
    n = next(iter(counts.values())).shape
    innermost = np.full(n, -1)
    for pos, g in enumerate(order):
        if g in relevant:
            innermost = np.where(counts[g] > 1, pos, innermost)
    factor = np.ones(n, dtype=np.int64)
    for pos, g in enumerate(order):
        if g not in relevant:
            factor = np.where(pos <= innermost, factor * counts[g], factor)
    return factor


def dram_traffic(problem: GemmProblem, order, counts) -> dict[str, np.ndarray]:
    """Exact DRAM bytes (read and written) for tile counts per group under `order`."""
    read = np.zeros(next(iter(counts.values())).shape)
    for op in ("A", "W"):
        read = read + reload_factor(order, counts, OPERANDS[op]) * problem.operand_bytes(op)
    visits = reload_factor(order, counts, OPERANDS["O"])
    o_bytes = problem.operand_bytes("O")
    return {"read": read + (visits - 1) * o_bytes, "write": visits * o_bytes}


def _fold_steps(dataflow, R, C, F, L):
    """Uniform-fold schedule length (sim/array2d.py), plus the read cycle."""
    steps = (F - 1) * np.maximum(L, R) + L + R + C - 1 + 1
    return steps + R if dataflow != "os" else steps


def search(einsum: Einsum, arch: Architecture, objective: str = "latency",
           keep: int = 3, options: SearchOptions | None = None) -> tuple[list[GemmMapping], int]:
    """The `keep` best mappings by estimated objective, and how many were scored."""
    options = options or SearchOptions()
    scorer = _Scorer(einsum, arch, objective)
    p, R, C = scorer.p, scorer.R, scorer.C
    spaces = []  # (dataflow, rows, align per group) of each allowed dataflow
    for (dataflow, rows), (temporal, rdim, cdim) in DATAFLOW_DIMS.items():
        if dataflow in arch.array2d.dataflows:
            spaces.append((dataflow, rows, {"B": 1, temporal: 1, rdim: R, cdim: C}))
    best: list[tuple[float, GemmMapping]] = []
    if options.method in ("grid", "heuristic"):
        limit = _grid_limit(p, spaces, options.budget if options.method == "grid" else None)
        for dataflow, rows, align in spaces:
            lists = [prune_dominated(p.size(g), tile_candidates(p.size(g), align[g], limit))
                     for g in GROUPS]
            best += scorer.score_grid(dataflow, rows, lists, keep)
        if options.method == "heuristic":
            best = _zoom(scorer, best, keep, limit)
            best = _refine(scorer, best, keep, options.budget)
    elif options.method == "exhaustive":
        for dataflow, rows, _ in spaces:
            best += scorer.score_grid(dataflow, rows, [full_tiles(p.size(g)) for g in GROUPS],
                                      keep)
    else:  # random
        rng = np.random.default_rng(options.seed)
        per_space = max(1, (options.budget or 2000) // (len(spaces) * len(LOOP_ORDERS)))
        for dataflow, rows, _ in spaces:
            full = [full_tiles(p.size(g)) for g in GROUPS]
            t = {g: f[rng.integers(0, len(f), per_space)] for g, f in zip(GROUPS, full)}
            best += scorer.score(dataflow, rows, t, keep)
    if not best:
        glb = arch.buffer
        raise SpecError(
            f"mapping cannot fit: Einsum '{einsum.name}' needs at least "
            f"{int(scorer.smallest_need):,} bytes of buffer for its smallest double-buffered "
            f"tiles, but '{glb.name}' holds {glb.capacity_bytes:,} bytes; enlarge the buffer "
            f"or use smaller tensors", arch.file or None, einsum.where or einsum.name)
    best.sort(key=lambda sm: sm[0])
    unique = list(dict.fromkeys(m for _, m in best))
    return unique[:keep], scorer.scored


LOOP_ORDERS = [("B", *inner) for inner in itertools.permutations(("M", "N", "K"))]
CHUNK = 1 << 16  # candidates scored per numpy pass (bounds memory in exhaustive search)


def full_tiles(size: int) -> np.ndarray:
    """Every tile size not dominated by a smaller one with the same tile count:
    ceil(size / n) for every count n (about 2 sqrt(size) values), ascending."""
    return np.unique(-(-size // np.arange(1, size + 1)))


def _dominating(size: int, tile: int) -> int:
    """The smallest tile size with the same tile count as `tile`."""
    return -(-size // -(-size // tile))


def prune_dominated(size: int, tiles: list[int]) -> list[int]:
    """Of tile sizes giving the same tile count, keep the smallest: a larger one moves the
    same DRAM traffic with more padded compute and more buffer."""
    smallest: dict[int, int] = {}
    for t in tiles:
        count = -(-size // t)
        smallest[count] = min(t, smallest.get(count, t))
    return sorted(smallest.values())


def _grid_limit(p: GemmProblem, spaces, budget: int | None) -> int:
    """The most tile sizes per group whose grid fits the budget."""
    limit = MAX_CANDIDATES_PER_GROUP
    if budget is None:
        return limit
    while limit > 1:
        total = sum(math.prod(len(tile_candidates(p.size(g), align[g], limit)) for g in GROUPS)
                    for _, _, align in spaces) * len(LOOP_ORDERS)
        if total <= budget:
            break
        limit -= 1
    return limit


def _seeds(best, keep: int) -> dict[GemmMapping, float]:
    """The best `keep` mappings and the best of every dataflow, with their scores."""
    seeds: dict[GemmMapping, float] = {}
    for score, m in sorted(best, key=lambda sm: sm[0]):
        if len(seeds) < keep or all(m.dataflow != s.dataflow or m.rows != s.rows for s in seeds):
            seeds.setdefault(m, score)
    return seeds


def _zoom(scorer: "_Scorer", best, keep: int, limit: int, points: int = 8):
    """A finer grid around each seed: per group, up to `points` sizes from the full tile
    list between the grid's neighbours of the seed's tile."""
    p = scorer.p
    for seed in _seeds(best, keep):
        lists = []
        for g in GROUPS:
            full = full_tiles(p.size(g))
            coarse = np.array(tile_candidates(p.size(g), 1, limit))
            i = int(np.searchsorted(coarse, seed.tile(g)))
            lo, hi = coarse[max(i - 1, 0)], coarse[min(i + 1, len(coarse) - 1)]
            near = full[(full >= lo) & (full <= hi)]
            if len(near) > points:
                near = near[np.unique(np.round(np.linspace(0, len(near) - 1, points)).astype(int))]
            lists.append(np.union1d(near, [seed.tile(g)]))
        best = best + scorer.score_grid(seed.dataflow, seed.rows, lists, keep)
    return best


def _refine(scorer: "_Scorer", best, keep: int, budget: int | None):
    """Local search over the full tile lists from the best mapping of each dataflow and
    the best `keep` overall: move one group's tile by 1, 2, 4 or 8 places, or two groups
    by 1 or 2 places each (to trade one tile dimension for another under the buffer
    size), while the estimate improves and the budget lasts."""
    limit = scorer.scored + (budget or 3 * scorer.scored)  # default: 3x the grid
    p = scorer.p
    full = {g: full_tiles(p.size(g)) for g in GROUPS}
    seeds = _seeds(best, keep)
    steps = [(g, d) for g in GROUPS for d in (1, 2, 4, 8, -1, -2, -4, -8)]
    pairs = [((g, d), (h, e)) for i, g in enumerate(GROUPS) for h in GROUPS[i + 1:]
             for d in (1, 2, -1, -2) for e in (1, 2, -1, -2)]
    moves = [[s] for s in steps] + [list(pair) for pair in pairs]
    for start, current_score in seeds.items():
        # each tile's index in the full list, as the smallest tile with its count
        current = tuple(int(np.searchsorted(full[g], _dominating(p.size(g), start.tile(g))))
                        for g in GROUPS)
        while scorer.scored < limit:
            nearby = set()
            for move in moves:
                idx = list(current)
                for g, d in move:
                    k = GROUPS.index(g)
                    idx[k] = min(max(idx[k] + d, 0), len(full[g]) - 1)
                nearby.add(tuple(idx))
            nearby.discard(current)
            idx = np.array(sorted(nearby))
            t = {g: full[g][idx[:, k]] for k, g in enumerate(GROUPS)}
            found = scorer.score(start.dataflow, start.rows, t, keep, return_index=True)
            best += [(s, m) for s, m, _ in found]
            if not found or found[0][0] >= current_score:
                break
            current_score, _, i = found[0]
            current = tuple(int(v) for v in idx[i])
    return best


class _Scorer:
    """Scores batches of tilings of one GEMM under every loop order (estimates)."""

    def __init__(self, einsum: Einsum, arch: Architecture, objective: str):
        self.p = p = GemmProblem.of(einsum)
        pe, glb, dram = arch.array2d, arch.buffer, arch.dram
        self.R, self.C = pe.rows, pe.cols
        self.capacity = glb.capacity_bytes
        self.bw_bits = glb.read_bytes_per_cycle * 8
        self.dram_bpc = arch.dram_bytes_per_cycle
        self.e_dram, self.e_rd, self.e_wr = (dram.energy_pj("read_byte"),
                                             glb.energy_pj("read_byte"),
                                             glb.energy_pj("write_byte"))
        self.objective = objective
        self.scored = 0
        self.smallest_need = math.inf

    def score_grid(self, dataflow, rows, lists, keep):
        """Every combination of the per-group tile lists, in chunks."""
        lens = [len(v) for v in lists]
        total = math.prod(lens)
        out = []
        for lo in range(0, total, CHUNK):
            idx = np.unravel_index(np.arange(lo, min(total, lo + CHUNK)), lens)
            t = {g: np.asarray(v)[i] for g, v, i in zip(GROUPS, lists, idx)}
            out += self.score(dataflow, rows, t, keep)
        return out

    def score(self, dataflow, rows, t, keep, return_index=False):
        """The best `keep` (score, mapping) per loop order among tilings `t` (arrays
        per group), best first; with return_index also each one's index in `t`."""
        p, R, C = self.p, self.R, self.C
        temporal, rdim, cdim = DATAFLOW_DIMS[(dataflow, rows)]
        need = 2 * sum(_tile_bytes(p, op, t) for op in OPERANDS)  # all double-buffered
        self.smallest_need = min(self.smallest_need, float(need.min()))
        fits = np.flatnonzero(need <= self.capacity)
        if not fits.size:
            return []
        t = {g: v[fits] for g, v in t.items()}
        first_load = (_tile_bytes(p, "A", t) + _tile_bytes(p, "W", t)) / self.dram_bpc
        counts = {g: -(-p.size(g) // t[g]) for g in GROUPS}
        tiles = np.prod([counts[g] for g in GROUPS], axis=0)
        F = t["B"] * -(-t[rdim] // R) * -(-t[cdim] // C)
        L = t[temporal]
        rows_op, cols_op = FEED_OPERANDS[(dataflow, rows)]
        step_need = (np.minimum(t[rdim], R) * p.bit(rows_op)
                     + np.minimum(t[cdim], C) * p.bit(cols_op))
        stretch = np.maximum(1.0, step_need / self.bw_bits)
        compute = tiles * (_fold_steps(dataflow, R, C, F, L) + F * L * (stretch - 1))
        glb_reads = _glb_reads(p, dataflow, rows, t, counts, R, C)
        out = []
        for order in LOOP_ORDERS:
            traffic = dram_traffic(p, order, counts)
            moved = traffic["read"] + traffic["write"]
            cycles = np.maximum(compute, moved / self.dram_bpc) + first_load
            energy = (moved * self.e_dram + traffic["read"] * self.e_wr
                      + traffic["write"] * self.e_rd + glb_reads * self.e_rd)
            score = {"latency": cycles, "energy": energy + cycles * 1e-9,
                     "edp": cycles * energy}[self.objective]
            self.scored += score.size
            for i in np.argsort(score, kind="stable")[:keep]:
                m = GemmMapping(dataflow, rows, tuple((g, int(t[g][i])) for g in GROUPS), order)
                out.append((float(score[i]), m, int(fits[i])))
        out.sort(key=lambda smi: smi[0])
        return out if return_index else [(s, m) for s, m, _ in out]


def _tile_bytes(p: GemmProblem, op: str, t: dict) -> np.ndarray:
    return np.ceil(np.prod([t[g] for g in OPERANDS[op]], axis=0) * p.bit(op) / 8)


def _glb_reads(p: GemmProblem, dataflow, rows, t, counts, R, C) -> np.ndarray:
    """Bytes the array reads from the buffer (estimate: full-tile folds).

    os: each operand is re-read once per fold of the group it does not carry;
    ws/is: the stationary operand once per tile of the streamed group, the streamed
    operand once per fold of the stationary one's other group; partial outputs are
    read back once per extra fold (or tile) of K.
    """
    _, rdim, _ = DATAFLOW_DIMS[(dataflow, rows)]

    def n_folds(g):
        return counts[g] * -(-t[g] // (R if g == rdim else C))

    size = {op: p.operand_bytes(op) for op in OPERANDS}
    if dataflow == "os":
        return size["A"] * n_folds("N") + size["W"] * n_folds("M") + size["O"] * (counts["K"] - 1)
    partial = size["O"] * (n_folds("K") - 1)
    if dataflow == "ws":
        return size["W"] * counts["M"] + size["A"] * n_folds("N") + partial
    return size["A"] * counts["N"] + size["W"] * n_folds("M") + partial
