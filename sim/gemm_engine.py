"""Exact simulation of a contraction on the 2D array under a GemmMapping.

Walks the buffer tiles in loop order, times each tile's folds with sim/array2d.py,
counts every byte moved (DRAM, buffer) and runs the tile pipeline of sim/pipeline.py.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np

from yamlspec import SpecError
from yamlspec.limits import MAX_TILE_STEPS
from arch import Architecture
from mapper import GemmMapping, GemmProblem
from mapper.gemm import OPERANDS
from mapper.mapping import FEED_OPERANDS, GROUPS
from sim.array2d import Folds, array_cycles
from sim.energy import Actions
from sim.pipeline import run_pipeline
from sim.registry import unit_engine
from sim.result import EinsumResult
from workloads import Einsum


def check_fits(einsum: Einsum, arch: Architecture, m: GemmMapping, p: GemmProblem):
    # A mapping from a --mapping file names that file and its key; the mapper's own, the arch.
    file, where = ((m.source, f"mappings.{einsum.name}") if m.source
                   else (arch.file or None, einsum.where or einsum.name))
    need = 2 * sum(math.ceil(math.prod(min(m.tile(g), p.size(g)) for g in OPERANDS[op])
                             * p.bit(op) / 8) for op in OPERANDS)
    if need > arch.buffer.capacity_bytes:
        raise SpecError(
            f"mapping cannot fit: tiles {dict(m.tiles)} of Einsum '{einsum.name}' need "
            f"{need:,} bytes double-buffered, but '{arch.buffer.name}' of architecture "
            f"'{arch.name}' holds {arch.buffer.capacity_bytes:,} bytes; use smaller tiles",
            file, where)
    if m.dataflow not in arch.array2d.dataflows:
        raise SpecError(f"array '{arch.array2d.name}' does not support dataflow "
                        f"'{m.dataflow}' (it has {arch.array2d.dataflows})", file, where)
    steps = math.prod(-(-p.size(g) // min(m.tile(g), p.size(g))) for g in GROUPS)
    if steps > MAX_TILE_STEPS:  # the engine times tile by tile: bound the run
        raise SpecError(f"tiles {dict(m.tiles)} of Einsum '{einsum.name}' make {steps:,} "
                        f"buffer tiles, over the limit {MAX_TILE_STEPS:,} the simulator steps "
                        f"through; use larger tiles or smaller ranks",
                        file if m.source else einsum.source or file, where)


@unit_engine("array2d", bounded=True)
def run_gemm(einsum: Einsum, arch: Architecture, m: GemmMapping) -> EinsumResult:
    p = GemmProblem.of(einsum)
    check_fits(einsum, arch, m, p)
    pe, glb = arch.array2d, arch.buffer
    R, C = pe.rows, pe.cols
    temporal, rdim, cdim = m.dims
    feed = FEED_OPERANDS[(m.dataflow, m.rows)]
    feed_bits = (p.bit(feed[0]), p.bit(feed[1]))
    bw_bits = glb.read_bytes_per_cycle * 8
    size = {g: p.size(g) for g in ("B", "M", "N", "K")}
    tile = {g: min(m.tile(g), size[g]) for g in size}
    counts = {g: -(-size[g] // tile[g]) for g in size}

    @lru_cache(maxsize=None)
    def tile_cost(ext: tuple[int, int, int, int], k_index: int):
        """(cycles, ideal cycles, MACs, buffer bytes read, buffer bytes written) of a tile."""
        e = dict(zip(("B", "M", "N", "K"), ext))
        folds = Folds.grid(e[rdim], e[cdim], e[temporal], R, C, repeat=e["B"])
        timing = array_cycles(m.dataflow, R, C, folds, feed_bits, bw_bits)
        o = p.bit("O")
        if m.dataflow == "os":
            fed = np.sum(folds.L * (folds.r * feed_bits[0] + folds.c * feed_bits[1]))
            out_w = np.sum(folds.r * folds.c) * o
            out_r = out_w if k_index > 0 else 0  # preload the partial sums
        else:
            fed = np.sum(folds.r * folds.c * feed_bits[1] + folds.L * folds.r * feed_bits[0])
            row_fold = np.tile(np.repeat(np.arange(-(-e[rdim] // R)), -(-e[cdim] // C)), e["B"])
            out_w = np.sum(folds.L * folds.c) * o
            accum = (row_fold > 0) | (k_index > 0)  # add onto earlier partial sums
            out_r = np.sum(folds.L * folds.c * accum) * o
        return timing.cycles, timing.ideal_cycles, timing.macs, (fed + out_r) / 8, out_w / 8

    def op_bytes(op, e):
        return math.ceil(math.prod(e[g] for g in OPERANDS[op]) * p.bit(op) / 8)

    loads, computes, writebacks, visits = [], [], [], []
    glb_read = glb_write = ideal_total = 0.0
    macs = 0  # counted from the folds run, so tests can check conservation
    dram_read = dram_write = 0
    prev = {op: None for op in OPERANDS}
    visit = -1
    for idx in itertools.product(*(range(counts[g]) for g in m.loop_order)):
        at = dict(zip(m.loop_order, idx))
        ext = {g: min(tile[g], size[g] - at[g] * tile[g]) for g in size}
        load = 0
        for op in ("A", "W"):
            key = tuple(at[g] for g in OPERANDS[op])
            if key != prev[op]:
                load += op_bytes(op, ext)
                prev[op] = key
        okey = tuple(at[g] for g in OPERANDS["O"])
        if okey != prev["O"]:
            if visits:
                writebacks[-1] = op_bytes("O", last_ext)
            visit += 1
            prev["O"] = okey
            if at["K"] > 0:
                load += op_bytes("O", ext)  # partial sums come back from DRAM
        cycles, ideal, tile_macs, rd, wr = tile_cost(tuple(ext[g] for g in ("B", "M", "N", "K")),
                                          int(at["K"] > 0))
        loads.append(load)
        computes.append(cycles)
        writebacks.append(0)
        visits.append(visit)
        dram_read += load
        glb_read += rd
        glb_write += wr
        ideal_total += ideal
        macs += tile_macs
        last_ext = ext
    writebacks[-1] = op_bytes("O", last_ext)
    dram_write = sum(writebacks)
    timing = run_pipeline(loads, computes, writebacks, visits, arch.dram_bytes_per_cycle)
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
