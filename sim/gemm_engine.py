"""Exact simulation of a contraction on the 2D array under a GemmMapping.

Walks the buffer tiles in loop order, times each tile's folds with sim/array2d.py,
counts every byte moved (DRAM, buffer) and runs the tile pipeline of sim/pipeline.py.
The tiles are the loop nest written as nested runs (loop_nest): equal tiles are timed
once and repeats are skipped, so the work depends on the distinct tiles, not on the
rank sizes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from yamlspec import SpecError
from arch import Architecture
from mapper import GemmMapping, GemmProblem
from mapper.gemm import OPERANDS, buffer_need
from mapper.mapping import FEED_OPERANDS
from sim.array2d import Folds, array_cycles
from sim.energy import Actions
from sim.pipeline import run_tiles, walk_runs
from sim.registry import unit_engine
from sim.result import EinsumResult
from workloads import Einsum


def check_fits(einsum: Einsum, arch: Architecture, m: GemmMapping, p: GemmProblem):
    # A mapping from a --mapping file names that file and its key; the mapper's own, the arch.
    file, where = ((m.source, f"mappings.{einsum.name}") if m.source
                   else (arch.file or None, einsum.where or einsum.name))
    need = buffer_need(p, m)
    if need > arch.buffer.capacity_bytes:
        raise SpecError(
            f"mapping cannot fit: tiles {dict(m.tiles)} of Einsum '{einsum.name}' need "
            f"{need:,} bytes double-buffered, but '{arch.buffer.name}' of architecture "
            f"'{arch.name}' holds {arch.buffer.capacity_bytes:,} bytes; use smaller tiles",
            file, where)
    pe = arch.array2d
    if m.array and (m.array[0] > pe.rows or m.array[1] > pe.cols):
        raise SpecError(f"the mapping of Einsum '{einsum.name}' runs its folds on a "
                        f"{m.array[0]}x{m.array[1]} sub-array, but array '{pe.name}' of "
                        f"architecture '{arch.name}' is {pe.rows}x{pe.cols}; give at most its "
                        f"rows and columns", file, where)
    if m.dataflow not in arch.array2d.dataflows:
        raise SpecError(f"array '{arch.array2d.name}' does not support dataflow "
                        f"'{m.dataflow}' (it has {arch.array2d.dataflows})", file, where)


def _need(einsum: Einsum, m: GemmMapping) -> int:
    return buffer_need(GemmProblem.of(einsum), m)


@unit_engine("array2d", bounded=True, reads=("array2d", "buffer", "dram"), subarrays=True,
             buffer_need=_need)
def run_gemm(einsum: Einsum, arch: Architecture, m: GemmMapping) -> EinsumResult:
    p = GemmProblem.of(einsum)
    check_fits(einsum, arch, m, p)
    pe = arch.array2d
    R, C = m.array or (pe.rows, pe.cols)  # a sub-array runs as an array of its size
    bw_bits = arch.buffer.read_bytes_per_cycle * 8
    _, macs, dram_read, glb_read, glb_write, ideal_total = _schedule(p, m, R, C, bw_bits)
    timing = _timing(p, m, R, C, bw_bits, arch.dram_bytes_per_cycle)
    dram_write = timing.written_bytes
    glb_write = float(glb_write + dram_read)  # fills from DRAM
    glb_read = float(glb_read + dram_write)   # drains to DRAM
    energy = (Actions().add(pe, "mac", macs, p.fmt)
              .memory(arch, glb_read, glb_write, dram_read, dram_write).pj)
    return EinsumResult(
        name=einsum.name, kind="contraction", unit=pe.name, cycles=timing.cycles,
        compute_cycles=int(ideal_total), macs=macs, ops=0, busy={pe.name: float(macs)},
        dram_read_bytes=int(dram_read), dram_write_bytes=int(dram_write),
        glb_read_bytes=int(glb_read), glb_write_bytes=int(glb_write), energy_pj=energy,
        mapping=m)


# A sweep simulates the same candidates at many points: what neither DRAM nor the
# buffer's capacity enters is remembered per (problem, mapping, array, buffer port), the
# pipeline's timing per DRAM bandwidth too; the energy is priced per architecture.
@lru_cache(maxsize=1 << 12)
def _schedule(p: GemmProblem, m: GemmMapping, R: int, C: int, bw_bits: int):
    """(the tile pipeline's nest, MACs, DRAM bytes read, buffer bytes the array reads
    and writes, ideal cycles) of mapping `m` on an R x C array."""
    feed = FEED_OPERANDS[(m.dataflow, m.rows)]
    feed_bits = (p.bit(feed[0]), p.bit(feed[1]))
    size = {g: p.size(g) for g in ("B", "M", "N", "K")}
    tile = {g: min(m.tile(g), size[g]) for g in size}
    counts = {g: -(-size[g] // tile[g]) for g in size}

    def tile_cost(ext: tuple[int, int, int, int], k_index: int):
        return _tile_cost(m.dataflow, m.dims, R, C, feed_bits, p.bit("O"), bw_bits, ext,
                          k_index > 0)

    def op_bytes(op, e):
        return math.ceil(math.prod(e[g] for g in OPERANDS[op]) * p.bit(op) / 8)

    tiles = loop_nest(m.loop_order, size, tile, counts)
    timed = {}
    for key in set(t for t, _ in walk_runs(tiles)):
        ext, k_index, changed, new_visit = key
        e = dict(zip(("B", "M", "N", "K"), ext))
        load = sum(op_bytes(op, e) for op in ("A", "W") if op in changed)
        if new_visit and k_index:
            load += op_bytes("O", e)  # partial sums come back from DRAM
        timed[key] = (load, tile_cost(ext, k_index)[0], op_bytes("O", e), new_visit)
    glb_read = glb_write = ideal_total = 0.0
    macs = dram_read = 0  # MACs counted from the folds run, so tests can check conservation
    for key, n in walk_runs(tiles):
        _, ideal, tile_macs, rd, wr = tile_cost(key[0], key[1])
        dram_read += n * timed[key][0]
        glb_read += n * rd
        glb_write += n * wr
        ideal_total += n * ideal
        macs += n * tile_macs
    return _map_nest(tiles, timed), macs, dram_read, glb_read, glb_write, ideal_total


@lru_cache(maxsize=1 << 12)
def _timing(p: GemmProblem, m: GemmMapping, R: int, C: int, bw_bits: int, dram_bpc: float):
    return run_tiles(_schedule(p, m, R, C, bw_bits)[0], dram_bpc)


@lru_cache(maxsize=1 << 14)  # shared by the mappings a search simulates (same tiles)
def _tile_cost(dataflow: str, dims: tuple[str, str, str], R: int, C: int,
               feed_bits: tuple[int, int], o: int, bw_bits: int, ext: tuple[int, int, int, int],
               accumulates: bool):
    """(cycles, ideal cycles, MACs, buffer bytes read, buffer bytes written) of a tile of
    extents `ext` (B, M, N, K); `accumulates`: not the first tile of its K loop."""
    temporal, rdim, cdim = dims
    e = dict(zip(("B", "M", "N", "K"), ext))
    folds = Folds.grid(e[rdim], e[cdim], e[temporal], R, C, repeat=e["B"])
    timing = array_cycles(dataflow, R, C, folds, feed_bits, bw_bits)
    if dataflow == "os":
        fed = np.sum(folds.L * (folds.r * feed_bits[0] + folds.c * feed_bits[1]))
        out_w = np.sum(folds.r * folds.c) * o
        out_r = out_w if accumulates else 0  # preload the partial sums
    else:
        fed = np.sum(folds.r * folds.c * feed_bits[1] + folds.L * folds.r * feed_bits[0])
        row_fold = np.tile(np.repeat(np.arange(-(-e[rdim] // R)), -(-e[cdim] // C)), e["B"])
        out_w = np.sum(folds.L * folds.c) * o
        accum = (row_fold > 0) | accumulates  # add onto earlier partial sums
        out_r = np.sum(folds.L * folds.c * accum) * o
    return timing.cycles, timing.ideal_cycles, timing.macs, (fed + out_r) / 8, out_w / 8


def loop_nest(order: tuple[str, ...], size: dict, tile: dict, counts: dict):
    """The buffer tiles in loop order as nested runs (see sim.pipeline.run_tiles) of
    tile keys (extents B, M, N, K; K index > 0; operands whose tile changed from the
    previous tile's; starts an output visit). Each loop's iterations fall in at most
    three classes (first, middle, last), so the nest's size does not depend on the
    rank sizes."""
    def classes(g):
        n = counts[g]
        last = size[g] - (n - 1) * tile[g]
        out = [(True, tile[g] if n > 1 else last, 1)]
        if n > 2:
            out.append((False, tile[g], n - 2))
        if n > 1:
            out.append((False, last, 1))
        return out

    def changes(depth: int):
        """(operands but O whose tile changes, whether O's does) after a change of loop
        `depth` (-1: the very first tile)."""
        if depth < 0:
            changed_levels = range(len(order))
        else:
            changed_levels = [depth] + [L for L in range(depth + 1, len(order))
                                        if counts[order[L]] > 1]
        groups = {order[L] for L in changed_levels}
        changed = frozenset(op for op in OPERANDS if groups & set(OPERANDS[op]))
        return changed - {"O"}, "O" in changed

    changed_at = {depth: changes(depth) for depth in range(-1, len(order))}

    def build(level: int, depth: int, ext: dict, k_first: bool):
        """Iterations of loops level.. when the first of them follows a change of loop
        `depth` (-1: the very first tile)."""
        if level == len(order):
            return (tuple(ext[g] for g in ("B", "M", "N", "K")), int(not k_first),
                    *changed_at[depth])
        g = order[level]
        out = []
        for first, length, reps in classes(g):
            sub = build(level + 1, depth if first else level, {**ext, g: length},
                        k_first and first if g == "K" else k_first)
            out.append((sub, reps))
        return out

    return [(build(0, -1, {}, True), 1)]


def _map_nest(seq, table: dict):
    return [(table[item] if isinstance(item, tuple) else _map_nest(item, table), count)
            for item, count in seq]
