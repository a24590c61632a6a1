"""Map-space search for a contraction (batched GEMM) on the 2D array.

Every candidate (dataflow, tile sizes, loop order) is scored at once with numpy:
exact DRAM traffic (each operand tile is re-fetched once per iteration of a loop
that does not index it, outside its innermost indexing loop) and an estimate of
cycles and energy from the uniform-fold form of sim/array2d.py. sim.simulate then
runs the best few exactly.
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


def tile_candidates(size: int, align: int) -> list[int]:
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
    if len(cands) > MAX_CANDIDATES_PER_GROUP:  # keep a log-spaced subset, always the ends
        pick = np.unique(np.round(np.geomspace(1, len(cands), MAX_CANDIDATES_PER_GROUP)) - 1)
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
           keep: int = 3) -> tuple[list[GemmMapping], int]:
    """The `keep` best mappings by estimated objective, and how many were scored."""
    p = GemmProblem.of(einsum)
    pe, glb, dram = arch.array2d, arch.buffer, arch.dram
    if p.fmt not in pe.formats:
        raise SpecError(f"Einsum '{einsum.name}' has {p.fmt} operands but array "
                        f"'{pe.name}' supports {pe.formats}", arch.file or None,
                        einsum.where or einsum.name)
    R, C = pe.rows, pe.cols
    bw_bits = glb.read_bytes_per_cycle * 8
    dram_bpc = arch.dram_bytes_per_cycle
    e_dram, e_rd, e_wr = (dram.energy_pj("read_byte"), glb.energy_pj("read_byte"),
                          glb.energy_pj("write_byte"))
    best: list[tuple[float, GemmMapping]] = []
    scored = 0
    smallest_need = math.inf
    for (dataflow, rows), (temporal, rdim, cdim) in DATAFLOW_DIMS.items():
        if dataflow not in pe.dataflows:
            continue
        align = {"B": 1, temporal: 1, rdim: R, cdim: C}
        cand = [np.array(tile_candidates(p.size(g), align[g])) for g in GROUPS]
        grids = np.meshgrid(*cand, indexing="ij")
        t = {g: grid.ravel() for g, grid in zip(GROUPS, grids)}
        need = 2 * sum(_tile_bytes(p, op, t) for op in OPERANDS)  # all double-buffered
        smallest_need = min(smallest_need, float(need.min()))
        fits = need <= glb.capacity_bytes
        if not fits.any():
            continue
        t = {g: v[fits] for g, v in t.items()}
        first_load = (_tile_bytes(p, "A", t) + _tile_bytes(p, "W", t)) / dram_bpc
        counts = {g: -(-p.size(g) // t[g]) for g in GROUPS}
        tiles = np.prod([counts[g] for g in GROUPS], axis=0)
        F = t["B"] * -(-t[rdim] // R) * -(-t[cdim] // C)
        L = t[temporal]
        rows_op, cols_op = FEED_OPERANDS[(dataflow, rows)]
        step_need = np.minimum(t[rdim], R) * p.bit(rows_op) + np.minimum(t[cdim], C) * p.bit(cols_op)
        stretch = np.maximum(1.0, step_need / bw_bits)
        compute = tiles * (_fold_steps(dataflow, R, C, F, L) + F * L * (stretch - 1))
        glb_reads = _glb_reads(p, dataflow, rows, t, counts, R, C)
        for inner in itertools.permutations(("M", "N", "K")):
            order = ("B", *inner)
            traffic = dram_traffic(p, order, counts)
            moved = traffic["read"] + traffic["write"]
            cycles = np.maximum(compute, moved / dram_bpc) + first_load
            energy = (moved * e_dram + traffic["read"] * e_wr + traffic["write"] * e_rd
                      + glb_reads * e_rd)
            score = {"latency": cycles, "energy": energy + cycles * 1e-9,
                     "edp": cycles * energy}[objective]
            scored += score.size
            for i in np.argsort(score, kind="stable")[:keep]:
                m = GemmMapping(dataflow, rows, tuple((g, int(t[g][i])) for g in GROUPS), order)
                best.append((float(score[i]), m))
    if not best:
        raise SpecError(
            f"mapping cannot fit: Einsum '{einsum.name}' needs at least {int(smallest_need):,} "
            f"bytes of buffer for its smallest double-buffered tiles, but '{glb.name}' holds "
            f"{glb.capacity_bytes:,} bytes; enlarge the buffer or use smaller tensors",
            arch.file or None, einsum.where or einsum.name)
    best.sort(key=lambda sm: sm[0])
    unique = list(dict.fromkeys(m for _, m in best))
    return unique[:keep], scored


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
