"""Map-space search for a contraction (batched GEMM) on the 2D array.

Every candidate (dataflow, tile sizes, loop order) is scored at once with numpy:
exact DRAM traffic (each operand tile is re-fetched once per iteration of a loop
that does not index it, outside its innermost indexing loop) and lower bounds on the
exact engine's cycles and energy (sim/gemm_engine.py on sim/array2d.py and the tile
pipeline of sim/pipeline.py; see _bounds, _fold_terms, _order_terms, _carry_stalls).
sim.simulate then runs candidates in order of their bound until the best is at most
the next bound. Which tilings are scored depends on the search method
(mapper/search.py: grid, heuristic, random, exhaustive).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from yamlspec import SpecError
from arch import Architecture
from workloads import Einsum
from mapper.mapping import DATAFLOW_DIMS, FEED_OPERANDS, GROUPS, GemmMapping
from mapper.search import (BOUND_SLACK, CACHE, OBJECTIVE_BOUNDS, Ranked, SearchOptions,
                           leak_pj_per_cycle)

OPERANDS = {"A": ("B", "M", "K"), "W": ("B", "K", "N"), "O": ("B", "M", "N")}
MAX_CANDIDATES_PER_GROUP = 12
SPLITS = 4  # balanced splits into 2..SPLITS tiles join the grid


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

    @cached_property
    def _sizes(self) -> dict[str, int]:
        return dict(self.shape)

    @cached_property
    def _bits(self) -> dict[str, int]:
        return dict(self.bits)

    def size(self, group: str) -> int:
        return self._sizes[group]

    def bit(self, operand: str) -> int:
        return self._bits[operand]

    def operand_bytes(self, operand: str) -> int:
        return math.ceil(math.prod(self.size(g) for g in OPERANDS[operand]) * self.bit(operand) / 8)

    @property
    def macs(self) -> int:
        return math.prod(s for _, s in self.shape)


@functools.lru_cache(maxsize=1 << 13)
def buffer_need(p: GemmProblem, m: GemmMapping) -> int:
    """Buffer bytes the mapping's tiles need, every operand double-buffered (the `need`
    the search filters by, _tiling_terms)."""
    return 2 * sum(math.ceil(math.prod(min(m.tile(g), p.size(g)) for g in OPERANDS[op])
                             * p.bit(op) / 8) for op in OPERANDS)


def tile_candidates(size: int, align: int, limit: int = MAX_CANDIDATES_PER_GROUP,
                    splits: int = SPLITS) -> list[int]:
    """Divisors, multiples of the array dimension by powers of two, and the full size
    (at most `limit`, log-spaced); then balanced splits into 2 to `splits` tiles, as
    they come and rounded up to whole folds. Below the array dimension only the full
    size (smaller tiles idle PEs). Of tiles giving the same tile count, the smallest
    and the smallest whole number of folds (prune_dominated)."""
    cands = {size}
    cands.update(d for d in range(1, math.isqrt(size) + 1) if size % d == 0)
    cands.update(size // d for d in list(cands) if size % d == 0)
    m = align
    while m < size:
        cands.add(m)
        m *= 2
    cands = sorted(c for c in cands if c >= min(align, size))
    if len(cands) > limit:  # keep a log-spaced subset, always the ends
        # sorted(set()): np.unique of a plain array imports numpy.ma (10 ms of a process)
        pick = sorted(set(np.round(np.geomspace(1, len(cands), limit)).astype(int) - 1))
        cands = [cands[int(i)] for i in pick]
    for n in range(2, splits + 1):
        cands += [c for c in (-(-size // n), -(-size // (n * align)) * align) if align <= c < size]
    return prune_dominated(size, cands, align)


@functools.lru_cache(maxsize=4096)
def _grid_tiles(size: int, align: int, limit: int, splits: int) -> tuple[int, ...]:
    """tile_candidates, remembered: a sweep asks for the same groups at every point."""
    return tuple(tile_candidates(size, align, limit, splits))


def reload_factor(order: tuple[str, ...], counts: dict[str, np.ndarray], relevant) -> np.ndarray:
    """How many times each tile of an operand is fetched under a loop order."""
    n = counts["K"].shape
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
    read = np.zeros(counts["K"].shape)
    for op in ("A", "W"):
        read = read + reload_factor(order, counts, OPERANDS[op]) * problem.operand_bytes(op)
    visits = reload_factor(order, counts, OPERANDS["O"])
    o_bytes = problem.operand_bytes("O")
    return {"read": read + (visits - 1) * o_bytes, "write": visits * o_bytes}


def search(einsum: Einsum, arch: Architecture, objective: str = "latency",
           keep: int = 3, options: SearchOptions | None = None,
           array: tuple[int, int] | None = None, flow: tuple[str, str] | None = None) -> Ranked:
    """Every mapping the method scores, ranked by a lower bound on the objective (the
    heuristic steers by the bound of its `keep` best); `array`: on that sub-array
    (rows, cols), the search as for an array of its size; `flow`: only that (dataflow,
    rows group)."""
    options = options or SearchOptions()
    scorer = _Scorer(einsum, arch, objective, lazy=options.method in ("grid", "exhaustive"),
                     array=array)
    p, R, C = scorer.p, scorer.R, scorer.C
    spaces = []  # (dataflow, rows, align per group) of each allowed dataflow
    for (dataflow, rows), (temporal, rdim, cdim) in DATAFLOW_DIMS.items():
        if dataflow in arch.array2d.dataflows and flow in (None, (dataflow, rows)):
            spaces.append((dataflow, rows, {"B": 1, temporal: 1, rdim: R, cdim: C}))
    best: list[tuple[float, GemmMapping]] = []
    if options.method in ("grid", "heuristic"):
        limit, splits = _grid_limit(p, spaces, options.budget if options.method == "grid" else None)
        for dataflow, rows, align in spaces:
            lists = [_grid_tiles(p.size(g), align[g], limit, splits) for g in GROUPS]
            best += scorer.score_grid(dataflow, rows, lists, keep)
        if options.method == "heuristic":
            best = _zoom(scorer, best, keep, limit)
            best = _refine(scorer, best, keep, options.budget)
    elif options.method == "exhaustive":
        for dataflow, rows, _ in spaces:
            best += scorer.score_grid(dataflow, rows,
                                      [space_tiles(p.size(g), R, C) for g in GROUPS], keep)
    else:  # random
        rng = np.random.default_rng(options.seed)
        per_space = max(1, (options.budget or 2000) // (len(spaces) * len(LOOP_ORDERS)))
        for dataflow, rows, _ in spaces:
            full = [space_tiles(p.size(g), R, C) for g in GROUPS]
            t = {g: f[rng.integers(0, len(f), per_space)] for g, f in zip(GROUPS, full)}
            best += scorer.score(dataflow, rows, t, keep)
    if scorer.empty and array is None and flow is None:  # a sub-array's space may be empty
        glb = arch.buffer
        raise SpecError(
            f"mapping cannot fit: Einsum '{einsum.name}' needs at least "
            f"{int(scorer.smallest_need):,} bytes of buffer for its smallest double-buffered "
            f"tiles, but '{glb.name}' holds {glb.capacity_bytes:,} bytes; enlarge the buffer "
            f"or use smaller tensors", arch.file or None, einsum.where or einsum.name)
    return scorer.ranked()


LOOP_ORDERS = [("B", *inner) for inner in itertools.permutations(("M", "N", "K"))]
CHUNK = 1 << 16  # candidates scored per numpy pass (bounds memory in exhaustive search)


def full_tiles(size: int) -> np.ndarray:
    """Every tile size not dominated by a smaller one with the same tile count:
    ceil(size / n) for every count n (about 2 sqrt(size) values), ascending."""
    return np.unique(-(-size // np.arange(1, size + 1)))


def space_tiles(size: int, rows: int, cols: int) -> np.ndarray:
    """The tile sizes of one group in the full map space (exhaustive and random search):
    every tile count's smallest tile (full_tiles), every multiple of either array side
    (whole folds) and every power of two, so it holds every tile the grid and the
    heuristic try."""
    aligned = np.concatenate((np.arange(rows, size + 1, rows), np.arange(cols, size + 1, cols),
                              1 << np.arange(int(size).bit_length())))
    return np.union1d(full_tiles(size), aligned)


def prune_dominated(size: int, tiles: list[int], align: int = 1) -> list[int]:
    """Of tile sizes giving the same tile count, keep the smallest, and the smallest
    whole number of folds (a multiple of `align`): a larger one moves the same DRAM
    traffic with more buffer and no fewer folds; the grid's own pruning, so its map
    space is this list."""
    smallest: dict[tuple[int, bool], int] = {}
    for t in tiles:
        for key in {(-(-size // t), False), (-(-size // t), t % align == 0)}:
            smallest[key] = min(t, smallest.get(key, t))
    return sorted(set(smallest.values()))


def _grid_limit(p: GemmProblem, spaces, budget: int | None) -> tuple[int, int]:
    """The most tile sizes per group (log-spaced, then balanced splits) whose grid fits
    the budget."""
    if budget is None:
        return MAX_CANDIDATES_PER_GROUP, SPLITS
    for splits in (SPLITS, 1):
        for limit in range(MAX_CANDIDATES_PER_GROUP, 0, -1):
            total = sum(math.prod(len(tile_candidates(p.size(g), align[g], limit, splits))
                                  for g in GROUPS) for _, _, align in spaces) * len(LOOP_ORDERS)
            if total <= budget:
                return limit, splits
    return 1, 1


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
            full = space_tiles(p.size(g), scorer.R, scorer.C)
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
    full = {g: space_tiles(p.size(g), scorer.R, scorer.C) for g in GROUPS}
    seeds = _seeds(best, keep)
    steps = [(g, d) for g in GROUPS for d in (1, 2, 4, 8, -1, -2, -4, -8)]
    pairs = [((g, d), (h, e)) for i, g in enumerate(GROUPS) for h in GROUPS[i + 1:]
             for d in (1, 2, -1, -2) for e in (1, 2, -1, -2)]
    moves = [[s] for s in steps] + [list(pair) for pair in pairs]
    for start, current_score in seeds.items():
        current = tuple(int(np.searchsorted(full[g], start.tile(g))) for g in GROUPS)
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
    """Scores batches of tilings of one GEMM under every loop order: lower bounds on the
    exact engine's cycles and energy (see _bounds), kept for the final ranking. Lazy
    (grid and exhaustive search): a tiling first gets bounds that hold under every
    loop order (_tiling_bounds); its orders are bounded only if that comes up in the
    ranking (Ranked's refine)."""

    def __init__(self, einsum: Einsum, arch: Architecture, objective: str, lazy: bool = False,
                 array: tuple[int, int] | None = None):
        self.p = p = GemmProblem.of(einsum)
        pe, glb, dram = arch.array2d, arch.buffer, arch.dram
        self.array = array if array != (pe.rows, pe.cols) else None  # None: the whole array
        self.R, self.C = array or (pe.rows, pe.cols)
        self.capacity = glb.capacity_bytes
        self.bw_bits = glb.read_bytes_per_cycle * 8
        self.dram_bpc = arch.dram_bytes_per_cycle
        self.prices = {"dram_read": dram.energy_pj("read_byte"),
                       "dram_write": dram.energy_pj("write_byte"),
                       "glb_read": glb.energy_pj("read_byte"),
                       "glb_write": glb.energy_pj("write_byte"),
                       "mac": _price(pe, "mac", p.fmt)}
        self.leak = leak_pj_per_cycle(arch)
        self.objective = objective
        self.lazy = lazy
        self.scored = 0
        self.smallest_need = math.inf
        self.batches: list[tuple] = []  # (dataflow, rows, tiles, order index, cycles, pJ)
        # lazy: (dataflow, rows, prepared, cycles, pJ, the _tiling_terms they come from)
        self.tilings: list[tuple] = []

    def score_grid(self, dataflow, rows, lists, keep):
        """Every combination of the per-group tile lists, in chunks."""
        lens = [len(v) for v in lists]
        total = math.prod(lens)
        out = []
        if self.lazy:  # the grid's order-free terms, shared with every search like this one
            grid = tuple(tuple(int(x) for x in v) for v in lists)
            key = ("gemm grid", self.p, dataflow, rows, grid, self.R, self.C, self.bw_bits)
            for terms in CACHE.shared(key, lambda: _grid_terms(self.p, dataflow, rows, grid,
                                                                self.R, self.C, self.bw_bits)):
                self._add_tilings(dataflow, rows, terms)
            return out
        for lo in range(0, total, CHUNK):
            out += self.score(dataflow, rows, _grid_chunk(lists, lens, lo), keep)
        return out

    @property
    def empty(self) -> bool:
        return not (self.batches or self.tilings)

    def _prepare(self, dataflow, rows, terms):
        """The tilings that fit, with their tile counts and order-free terms; `terms`:
        _tiling_terms of some tilings, or the tilings (arrays per group)."""
        if "need" not in terms:
            terms = _tiling_terms(self.p, dataflow, rows, terms, self.R, self.C, self.bw_bits)
        need = terms["need"]
        self.smallest_need = min(self.smallest_need, float(need.min()))
        fits = np.flatnonzero(need <= self.capacity)
        if not fits.size:
            return None
        if fits.size == need.size:  # all fit: the shared terms as they are, no copies
            t, counts, b = terms["t"], terms["counts"], terms["b"]
        else:
            t, counts, b = (_take(terms[k], fits) for k in ("t", "counts", "b"))
        bpc = self.dram_bpc
        three = np.prod([counts[g] for g in GROUPS], axis=0) >= 3
        return {"fits": fits, "t": t, "counts": counts, "b": b, "three": three,
                "start_idle": _start_idle(three, b, b["first_load"], bpc)}

    def _cost(self, prep, read, write, start_idle, end_idle, carries):
        """Bounds (cycles, J) from DRAM bytes, the idle span at the end and the stalls
        where an outer loop advances: DRAM serves one transfer at a time (with the idle
        spans); compute runs tile after tile between the first load and the last
        write-back; the last tile computes after every load."""
        p, b, bpc, pr = self.p, prep["b"], self.dram_bpc, self.prices
        cycles = np.maximum.reduce([
            np.ceil((read + write) / bpc) + start_idle + end_idle,
            np.ceil(b["first_load"] / bpc) + b["compute"] + carries + np.ceil(b["last_write"] / bpc),
            np.ceil(read / bpc) + b["last_compute"] + np.ceil(b["last_write"] / bpc)])
        energy = (p.macs * pr["mac"] + read * pr["dram_read"] + write * pr["dram_write"]
                  + (b["glb_read"] + write) * pr["glb_read"]
                  + (b["glb_write"] + read) * pr["glb_write"]
                  + self.leak * cycles)
        return cycles, energy * (1 - BOUND_SLACK) * 1e-12  # J, below the engine's float sum

    def _order_bounds(self, prep, terms):
        """Bounds (cycles, J) under each order of `terms` (_order_terms of the tilings
        `prep`; axis 0: the orders): only the DRAM transfers' cycles are computed here."""
        b, bpc = prep["b"], self.dram_bpc
        # DRAM idles after the last load but one write-back until the last tile computes
        one_before_last = np.where(terms["innermost_k"], 0, np.ceil(b["out_bytes"] / bpc))
        end_idle = np.maximum(0, b["last_compute"] - one_before_last)
        middle = np.maximum(0, terms["middle_compute"] - np.ceil(terms["middle_write"] / bpc)
                            - np.ceil(terms["middle_load"] / bpc))  # _middle_spans
        start_idle = (_start_idle(prep["three"], b, terms["second_load"], bpc)
                      + terms["middle_spans"] * middle)
        return self._cost(prep, terms["read"], terms["write"], start_idle, end_idle,
                          _carry_stalls(terms, b, bpc))

    def _tiling_bounds(self, prep):
        """Bounds that hold under every loop order: each operand read and the output
        written once at least, the shortest end idle span, no stalls."""
        p, b, bpc = self.p, prep["b"], self.dram_bpc
        read = np.full(prep["fits"].shape, float(p.operand_bytes("A") + p.operand_bytes("W")))
        write = np.full(read.shape, float(p.operand_bytes("O")))
        end_idle = np.maximum(0, b["last_compute"] - np.ceil(b["out_bytes"] / bpc))
        return self._cost(prep, read, write, prep["start_idle"], end_idle, 0)

    def _add_tilings(self, dataflow, rows, terms):
        prep = self._prepare(dataflow, rows, terms)
        if prep is None:
            return
        self.scored += prep["fits"].size * len(LOOP_ORDERS)
        self.tilings.append((dataflow, rows, prep, *self._tiling_bounds(prep), terms))

    def _refine(self, indices: np.ndarray):
        """Every canonical loop order of the lazy tilings `indices`: (cycles, J, the
        mapping of each)."""
        starts = np.cumsum([0] + [tl[3].size for tl in self.tilings])
        which = np.searchsorted(starts, indices, side="right") - 1
        cycles, energy, found = [], [], []  # found: (dataflow, rows, tiles, order #) per part
        for k in sorted(set(which.tolist())):  # not np.unique: see tile_candidates
            dataflow, rows, prep, _, _, grid = self.tilings[k]
            local = indices[which == k] - starts[k]
            sub = _take(prep, local)
            terms = _take(_orders_of(grid, self.p), prep["fits"][local])
            c, e = self._order_bounds(sub, terms)
            o, idx = np.nonzero(terms["canonical"])  # by order, then tiling
            cycles.append(c[o, idx])
            energy.append(e[o, idx])
            found.append((dataflow, rows, sub["t"].matrix[:, idx], o))
        starts = np.cumsum([0] + [c.size for c in cycles])

        def mapping(i: int) -> GemmMapping:
            part = int(np.searchsorted(starts, i, side="right")) - 1
            dataflow, rows, tiles, o = found[part]
            j = i - starts[part]
            return GemmMapping(dataflow, rows, tuple(zip(GROUPS, tiles[:, j].tolist())),
                               LOOP_ORDERS[o[j]], self.array)

        return np.concatenate(cycles), np.concatenate(energy), mapping

    def score(self, dataflow, rows, t, keep, return_index=False, orders=None):
        """The best `keep` (score, mapping) per loop order among tilings `t` (arrays
        per group), best first, by the objective's bound; with return_index also each
        one's index in `t`. Every candidate scored is kept for ranked()."""
        prep = self._prepare(dataflow, rows, t)
        if prep is None:
            return []
        fits, t, counts = prep["fits"], prep["t"], prep["counts"]
        key = OBJECTIVE_BOUNDS[self.objective]
        terms = _order_terms(self.p, counts, prep["b"])
        all_cycles, all_energy = self._order_bounds(prep, terms)
        out = []
        for o, order in enumerate(LOOP_ORDERS):
            if orders is not None and order not in orders:
                continue
            keep_mask = terms["canonical"][o] if orders is None else np.ones(counts["K"].shape, bool)
            self.scored += keep_mask.size  # scored, though only one of equivalent orders is kept
            if not keep_mask.any():
                continue
            cycles, energy = all_cycles[o], all_energy[o]
            idx = np.flatnonzero(keep_mask)
            self.batches.append((dataflow, rows, {g: t[g][idx] for g in GROUPS},
                                 np.full(idx.size, o, dtype=np.int8), cycles[idx], energy[idx]))
            score = key(cycles[idx], energy[idx])[0]
            for i in idx[np.argsort(score, kind="stable")[:keep]]:
                m = GemmMapping(dataflow, rows, tuple((g, int(t[g][i])) for g in GROUPS), order,
                                self.array)
                out.append((float(key(cycles[i], energy[i])[0]), m, int(fits[i])))
        out.sort(key=lambda smi: smi[0])
        return out if return_index else [(s, m) for s, m, _ in out]

    def ranked(self) -> Ranked:
        """Every candidate scored, in ascending order of the objective's bound."""
        key = OBJECTIVE_BOUNDS[self.objective]
        if self.tilings:
            return Ranked(np.concatenate([tl[3] for tl in self.tilings]),
                          np.concatenate([tl[4] for tl in self.tilings]), None, self.scored,
                          key, self._refine)
        if not self.batches:
            return Ranked([], [], lambda i: None, self.scored, key)
        cycles = np.concatenate([b[4] for b in self.batches])
        energy = np.concatenate([b[5] for b in self.batches])
        orders = np.concatenate([b[3] for b in self.batches])
        tiles = {g: np.concatenate([b[2][g] for b in self.batches]) for g in GROUPS}
        starts = np.cumsum([0] + [b[4].size for b in self.batches])

        def mapping(i: int) -> GemmMapping:
            b = self.batches[int(np.searchsorted(starts, i, side="right")) - 1]
            return GemmMapping(b[0], b[1], tuple((g, int(tiles[g][i])) for g in GROUPS),
                               LOOP_ORDERS[int(orders[i])], self.array)

        return Ranked(cycles, energy, mapping, self.scored, key)


def _start_idle(three, b, second_load, bpc):
    """DRAM idles after the second load until the first tile computes: the next
    transfer (tile 0's write-back or tile 2's load) waits for it (sim/pipeline.py).
    `second_load`: at least the bytes tile 1 loads (its changed inputs; never partial
    sums, as tile 1 either starts a visit at K index 0 or stays in tile 0's)."""
    return np.where(three, np.maximum(0, b["first_compute"] - np.ceil(second_load / bpc)), 0)


def _grid_chunk(lists, lens, lo: int) -> dict[str, np.ndarray]:
    """The tilings lo.. lo+CHUNK of the grid of per-group tile lists (arrays per group)."""
    idx = np.unravel_index(np.arange(lo, min(math.prod(lens), lo + CHUNK)), lens)
    return {g: np.asarray(v)[i] for g, v, i in zip(GROUPS, lists, idx)}


def _grid_terms(p: GemmProblem, dataflow, rows, grid, R, C, bw_bits) -> tuple[dict, ...]:
    """_tiling_terms of every tiling of the grid (per-group tile tuples), chunk by chunk.
    None of them depends on the buffer's capacity (it only filters, in _prepare) or on
    DRAM, so the points of a sweep that differ only there share them."""
    lens = [len(v) for v in grid]
    return tuple(_tiling_terms(p, dataflow, rows, _grid_chunk(grid, lens, lo), R, C, bw_bits)
                 for lo in range(0, math.prod(lens), CHUNK))


def _tiling_terms(p: GemmProblem, dataflow, rows, t, R, C, bw_bits) -> dict:
    """Of tilings `t`: the buffer bytes each needs (all operands double-buffered), its
    tiles, tile counts and order-free terms (_bounds)."""
    t = {g: np.asarray(t[g]).astype(np.int64) for g in GROUPS}  # rows in GROUPS order
    return {"need": 2 * sum(_tile_bytes(p, op, t) for op in OPERANDS), "t": _Rows.of(t),
            "counts": _Rows.of({g: -(-p.size(g) // t[g]) for g in GROUPS}),
            "b": _Rows.of(_bounds(p, dataflow, rows, t, R, C, bw_bits), float)}


class _Rows:
    """Arrays over the same tilings, by name, kept as the rows of one matrix so that
    taking some tilings (_take) is one numpy call, not one per array."""

    def __init__(self, index: dict[str, int], matrix: np.ndarray):
        self.index, self.matrix = index, matrix

    @classmethod
    def of(cls, arrays: dict, dtype=None) -> "_Rows":
        """`dtype` float: every value an integer below 2**53 or a float, so exact."""
        return cls({name: i for i, name in enumerate(arrays)},
                   np.array(list(arrays.values()), dtype=dtype))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.matrix[self.index[name]]


def _take(prep: dict, idx: np.ndarray) -> dict:
    """The prepared tilings `idx` (every array in the nest indexed on its last axis,
    the tilings')."""
    if isinstance(prep, _Rows):
        return _Rows(prep.index, prep.matrix[..., idx])
    if isinstance(prep, dict):
        return {k: _take(v, idx) for k, v in prep.items()}
    return prep[..., idx] if isinstance(prep, np.ndarray) and prep.ndim else prep


def bounds_of(einsum: Einsum, arch: Architecture, m: GemmMapping) -> tuple[float, float]:
    """The mapper's lower bounds (cycles, joules) on one mapping's exact cost."""
    scorer = _Scorer(einsum, arch, "latency", array=m.array)
    t = {g: np.array([min(m.tile(g), scorer.p.size(g))]) for g in GROUPS}
    scorer.score(m.dataflow, m.rows, t, 1, orders=[m.loop_order])
    return float(scorer.batches[0][4][0]), float(scorer.batches[0][5][0])


def subarrays(arch: Architecture) -> list[tuple[int, int]]:
    """The sub-arrays searched besides the whole array: its sides halved (rounding down)
    any number of times each, largest first. So every array a halving smaller is one of
    them, and a larger array's map space holds a smaller one's."""
    R, C = arch.array2d.rows, arch.array2d.cols
    rows = [R >> k for k in range(R.bit_length())]
    cols = [C >> k for k in range(C.bit_length())]
    return sorted(((r, c) for r in rows for c in cols if (r, c) != (R, C)),
                  key=lambda rc: -rc[0] * rc[1])


def subarray_bounds(einsum: Einsum, arch: Architecture
                    ) -> list[tuple[tuple[int, int], tuple[str, str], float, float]]:
    """(sub-array, (dataflow, rows group), cycles, J): lower bounds on every mapping of
    that dataflow on that sub-array, without scoring one, for each pair worth a search.

    A sub-array wider than needed is not: when a dataflow's column group (rows group)
    is at most a smaller sub-array side, every fold fits that side with the same folds,
    feeding and traffic, and fewer fill, drain and preload steps, so the smaller side's
    mappings are at least as good on cycles and energy alike.

    Cycles: B x ceil(rows group / r) x ceil(cols group / c) folds at least, of the whole
    temporal group in all, each L steps and folds r steps apart at least (os: a fold's
    r results per column port; ws/is: r preload rows); and the compulsory DRAM traffic
    (each operand read, the output written once). Energy: the MACs, those DRAM bytes
    and the buffer's side of them, the operands the array reads (a row operand is fed
    once per column fold, so ceil(cols group / c) times at least) and leak over the
    cycles."""
    p = GemmProblem.of(einsum)
    pe, glb, dram = arch.array2d, arch.buffer, arch.dram
    ab, wb, ob = (p.operand_bytes(op) for op in ("A", "W", "O"))
    dram_cycles = math.ceil((ab + wb + ob) / arch.dram_bytes_per_cycle)
    exact = {op: math.prod(p.size(g) for g in OPERANDS[op]) * p.bit(op) / 8 for op in OPERANDS}
    rd, wr = glb.energy_pj("read_byte"), glb.energy_pj("write_byte")
    fixed = (p.macs * _price(pe, "mac", p.fmt) + (ab + wb) * dram.energy_pj("read_byte")
             + ob * dram.energy_pj("write_byte") + ob * rd + (ab + wb) * wr)
    leak = leak_pj_per_cycle(arch)
    arrays = subarrays(arch)
    sides = (sorted({r for r, _ in arrays} | {pe.rows}), sorted({c for _, c in arrays} | {pe.cols}))
    out = []
    for (dataflow, rows), (temporal, rdim, cdim) in DATAFLOW_DIMS.items():
        if dataflow not in pe.dataflows:
            continue
        b, t, s_r, s_c = (p.size(g) for g in ("B", temporal, rdim, cdim))
        f0, f1 = (exact[op] for op in FEED_OPERANDS[(dataflow, rows)])
        # the narrowest side each group fits: wider ones are not worth a search
        r_max = next((h for h in sides[0] if h >= s_r), pe.rows)
        c_max = next((h for h in sides[1] if h >= s_c), pe.cols)
        for r, c in arrays:
            if r > r_max or c > c_max:
                continue
            across, down = -(-s_c // c), -(-s_r // r)
            cycles = max(b * down * across * max(t, r), dram_cycles)
            if dataflow == "os":  # each operand once per fold across the other; results once
                feed = (f0 * across + f1 * down) * rd + exact["O"] * wr
            else:  # streamed once per column fold, stationary once; sums once per row fold
                feed = (f0 * across + f1) * rd + exact["O"] * down * wr
            out.append(((r, c), (dataflow, rows), float(cycles),
                        (fixed + feed + leak * cycles) * (1 - BOUND_SLACK) * 1e-12))
    return out


def _price(component, action: str, fmt: str) -> float:
    """A component's energy per action; 0 for a unit without that action (a bit-serial
    array prices cycles, not MACs: its engine does not take the mapper's bounds)."""
    try:
        return component.energy_pj(action, fmt)
    except KeyError:
        return 0.0


def _fold_terms(p: GemmProblem, dataflow, rows, ext, R, C, bw_bits):
    """Per tile of extents `ext` (arrays per group), as sim/gemm_engine.py runs it on
    sim/array2d.py: a lower bound on its cycles (exact while the buffer port keeps up)
    and the bits the array reads (fed operands; partial sums read back when the tile
    is not the first of its K loop, or within it) and writes.

    All folds of a tile have the same length L, so they start max(L, R) steps apart;
    the stall is at least the lateness of the last vector fed (all the tile's bits
    through the port) and at least the one cycle of read latency.
    """
    temporal, rdim, cdim = DATAFLOW_DIMS[(dataflow, rows)]
    b0, b1 = (p.bit(op) for op in FEED_OPERANDS[(dataflow, rows)])
    o = p.bit("O")
    e_b, e_r, e_c, L = (np.maximum(ext[g], 1) for g in ("B", rdim, cdim, temporal))
    n_r, n_c = -(-e_r // R), -(-e_c // C)
    F = e_b * n_r * n_c
    gap = np.maximum(L, R)
    first = 0 if dataflow == "os" else R
    steps = first + (F - 1) * gap + L + R + C - 1
    sum_r, sum_c = e_b * n_c * e_r, e_b * n_r * e_c
    if dataflow == "os":
        fed = L * (b0 * sum_r + b1 * sum_c)
        out_w = e_b * e_r * e_c * o
        partial_first = np.zeros_like(out_w)
    else:
        fed = L * b0 * sum_r + b1 * e_b * e_r * e_c
        out_w = L * o * sum_c
        partial_first = L * o * e_b * (n_r - 1) * e_c
    sigma_last = first + (F - 1) * gap + L - 1
    cycles = steps + np.maximum(1, -(-fed // bw_bits) - sigma_last)
    return cycles, fed, out_w, partial_first


def _bounds(p: GemmProblem, dataflow, rows, t, R, C, bw_bits) -> dict[str, np.ndarray]:
    """Summed over the tiles (each group's full tiles and its remainder tile): compute
    cycles (lower bound) and the buffer bytes the array reads and writes (exact); the
    first and the last tile's compute cycles (lower bounds); the bytes of the first
    load and the last write-back (exact), of any load (at most) and any write-back."""
    size = {g: p.size(g) for g in GROUPS}
    full = {g: size[g] // t[g] for g in GROUPS}
    rem = {g: size[g] % t[g] for g in GROUPS}
    # the 16 classes at once (axis 0): each group at its full tile or its remainder
    choice = np.array(list(itertools.product((False, True), repeat=len(GROUPS))))[:, :, None]
    ext = {g: np.where(choice[:, k], rem[g], t[g]) for k, g in enumerate(GROUPS)}
    count = np.prod([np.where(choice[:, k], rem[g] > 0, full[g]) for k, g in enumerate(GROUPS)],
                    axis=0)
    k_first = np.where(choice[:, GROUPS.index("K")], 0, count // np.maximum(full["K"], 1))
    cycles, fed, out_w, partial_first = _fold_terms(p, dataflow, rows, ext, R, C, bw_bits)
    compute = np.sum(count * cycles, axis=0)
    glb_read = np.sum(count * fed + k_first * partial_first + (count - k_first) * out_w,
                      axis=0) / 8
    glb_write = np.sum(count * out_w, axis=0) / 8
    last = {g: np.where(rem[g] > 0, rem[g], t[g]) for g in GROUPS}
    out_bytes = _tile_bytes(p, "O", t)
    full_cycles = cycles[0]  # the class of every group at its full tile
    last_class = sum((rem[g] > 0) << (len(GROUPS) - 1 - k) for k, g in enumerate(GROUPS))
    last_compute = np.take_along_axis(cycles, last_class[None], axis=0)[0]
    # per group g, for a tile before the last of g's loop (as the innermost of 1+ tiles):
    # its least compute (g at its full tile, the other groups at any tile that occurs),
    # and the most the next tile (g at its last tile) loads: the inputs and the partial
    # sums g indexes
    full_g = {g: np.where(~choice[:, k] & (count > 0), cycles, np.inf).min(axis=0)
              for k, g in enumerate(GROUPS)}
    next_tile = {g: {**t, g: last[g]} for g in GROUPS}
    middle = {**{f"compute before last {g}": full_g[g] for g in GROUPS},
              **{f"{op} of last {g}": _tile_bytes(p, op, next_tile[g]) if g in OPERANDS[op]
                 else np.zeros(full_g[g].shape) for g in GROUPS for op in OPERANDS}}
    b0, b1 = (p.bit(op) for op in FEED_OPERANDS[(dataflow, rows)])
    _, rdim, cdim = DATAFLOW_DIMS[(dataflow, rows)]
    port_keeps_up = (np.minimum(t[rdim], R) * b0 + np.minimum(t[cdim], C) * b1) <= bw_bits
    return {**{f"smallest {op}": _tile_bytes(p, op, last) for op in OPERANDS},
            # the most a tile computes: the full tile's cycles are exact when the buffer
            # port keeps up (sim/array2d.py) and grow with the extents
            "tile_max": np.where(port_keeps_up, full_cycles, np.inf),  # inf: no bound
            "first_compute": full_cycles, "compute": compute, "glb_read": glb_read, "glb_write": glb_write,
            "last_compute": last_compute,
            "full A": _tile_bytes(p, "A", t), "full W": _tile_bytes(p, "W", t),
            "first_load": _tile_bytes(p, "A", t) + _tile_bytes(p, "W", t),
            "out_bytes": out_bytes, "last_write": _tile_bytes(p, "O", last), **middle}


def _orders_of(terms: dict, p: GemmProblem) -> "_Rows":
    """_order_terms of the tilings of `terms` (_tiling_terms), computed when first
    refined and kept with them: a grid's terms are shared by the sweep points differing
    only in the buffer's capacity or DRAM (mapper.CACHE), and these are free of both."""
    if "orders" not in terms:
        terms["orders"] = _order_terms(p, terms["counts"], terms["b"])
    return terms["orders"]


def _order_terms(p: GemmProblem, counts, b) -> "_Rows":
    """What each loop order (axis 0: LOOP_ORDERS) means for tilings of tile `counts` and
    order-free terms `b` (_bounds), free of DRAM's bandwidth: whether the order is
    canonical (an order whose loops of more than one tile come in the same relative
    order as in an earlier order runs identically to it), the DRAM bytes read and
    written, whether K is the innermost loop of 1+ tiles, and per loop position the
    carry steps, the bytes loaded at such a step and the bytes written back before it
    (see _carry_stalls)."""
    multi = {g: counts[g] > 1 for g in GROUPS}
    shape = counts["K"].shape
    codes, out = [], {k: [] for k in ("read", "write", "innermost_k", "second_load", "steps",
                                      "load", "write_back", "middle_spans", "middle_compute",
                                      "middle_write", "middle_load")}
    tiles = np.prod([counts[g] for g in GROUPS], axis=0)
    # what tile 1 loads when loop g is the innermost of 1+ tiles: A and W at most
    advance = {g: sum(b[f"full {op}"] for op in ("A", "W") if g in OPERANDS[op])
               for g in GROUPS}
    for order in LOOP_ORDERS:
        code = np.zeros(shape, dtype=np.int64)  # its sequence of loops of 1+ tiles
        g_in = np.full(shape, "", dtype="<U1")  # the innermost of them ("": none)
        second_load = b["first_load"]
        for g in order:
            code = np.where(multi[g], code * 5 + GROUPS.index(g) + 1, code)
            g_in = np.where(multi[g], g, g_in)
            second_load = np.where(multi[g], advance[g], second_load)
        innermost_k = g_in == "K"
        codes.append(code)
        traffic = dram_traffic(p, order, counts)
        out["read"].append(traffic["read"])
        out["write"].append(traffic["write"])
        out["innermost_k"].append(innermost_k)
        out["second_load"].append(second_load)
        _middle_spans(out, g_in, multi, counts, tiles, b)
        # a write-back after tile j-2 unless the innermost loop is K (j-2 and j-1 share O)
        out["write_back"].append(np.where(innermost_k, 0, b["smallest O"]))
        steps, loads = [], []
        outer = np.ones(shape, dtype=np.int64)
        for pos, g in enumerate(order):
            inner = order[pos:]
            later = np.zeros_like(multi[g])  # some loop inside this one runs 1+ tiles
            for h in order[pos + 1:]:
                later = later | multi[h]
            steps.append(np.where(later & multi[g], outer * counts[g] - outer, 0))
            # operands indexed by a loop that changes at the step: this one and every inner
            loads.append(sum(np.where(np.logical_or.reduce(
                [multi[h] for h in inner if h in OPERANDS[op]] or [np.zeros_like(multi[g])]),
                b[f"smallest {op}"], 0) for op in ("A", "W")))
            outer = outer * counts[g]
        out["steps"].append(steps)
        out["load"].append(loads)
    canonical = np.ones((len(LOOP_ORDERS), *shape), dtype=bool)
    for o in range(1, len(LOOP_ORDERS)):
        for earlier in range(o):
            canonical[o] &= codes[o] != codes[earlier]
    rows = {"canonical": canonical, **{k: np.array(out[k]) for k in
                                       ("read", "write", "innermost_k", "second_load",
                                        "write_back", "middle_spans", "middle_compute",
                                        "middle_write", "middle_load")}}
    steps, loads = np.array(out["steps"]), np.array(out["load"])  # (order, position, tiling)
    for pos in range(len(GROUPS)):
        rows.update({f"steps {pos}": steps[:, pos], f"load {pos}": loads[:, pos]})
    return _Rows.of(rows, float)


def _middle_spans(out: dict, g_in, multi, counts, tiles, b):
    """DRAM idles (sim/pipeline.py) after the load of tile j, the last but one of a run
    of the innermost loop of 1+ tiles (g), until tile j computes, but for the two
    transfers between: tile j-1's write-back (if j starts a visit) and tile j+1's load.
    The next transfer (j's write-back or j+2's load) waits for tile j. These spans are
    disjoint (runs are 2+ tiles apart) and miss the start idle span when j > 1 and the
    end one unless g is K, so those j are left out. Appends to `out` the spans' count
    and per span the least compute and the most bytes written and loaded. `g_in`: g
    per tiling ("": no loop of 1+ tiles)."""
    n_g = np.ones(tiles.shape, dtype=np.int64)
    compute, load, write = (np.zeros(tiles.shape) for _ in range(3))
    k_outer = multi["K"] & (g_in != "K")  # tile j+1 starts a visit past K's first tile
    for g in GROUPS:
        here = g_in == g
        n_g = np.where(here, counts[g], n_g)
        compute = np.where(here, b[f"compute before last {g}"], compute)
        load = np.where(here, b[f"A of last {g}"] + b[f"W of last {g}"]
                        + k_outer * b[f"O of last {g}"], load)
        # tile j starts a visit (so j-1's write-back comes first) unless g is K and j is
        # not the first of its run
        write = np.where(here & ((g != "K") | (counts[g] == 2)), b["out_bytes"], write)
    spans = tiles // n_g - (g_in == "K") - (n_g <= 3)
    out["middle_spans"].append(np.where(g_in == "", 0, np.maximum(spans, 0)))
    out["middle_compute"].append(np.where(np.isfinite(compute), compute, 0))
    out["middle_write"].append(write)
    out["middle_load"].append(load)


def _carry_stalls(terms, b, bpc) -> np.ndarray:
    """Cycles the compute chain must wait at the steps where a loop other than the
    innermost one (of those over 1+ tiles) advances: tile j computes only after tile
    j-2's write-back and then tile j's load, both on DRAM after tile j-2 computed, so
    the pair j-1, j takes at least wb(j-2) + load(j) + compute(j) instead of the two
    computes (sim/pipeline.py). Such steps are at least two apart, so their waits add.
    Loads and writes are taken at their smallest tile, tile j-1's compute at its most.
    `terms`: _order_terms (axis 0: orders)."""
    write = np.ceil(terms["write_back"] / bpc)
    total = np.zeros(terms["write_back"].shape)
    for pos in range(len(GROUPS)):
        wait = write + np.ceil(terms[f"load {pos}"] / bpc) - b["tile_max"]
        total = total + terms[f"steps {pos}"] * np.maximum(0, wait)
    return total


def _tile_bytes(p: GemmProblem, op: str, t: dict) -> np.ndarray:
    return np.ceil(np.prod([t[g] for g in OPERANDS[op]], axis=0) * p.bit(op) / 8)
