"""Mapping of a non-contraction Einsum onto the 1D unit: the chunk of output points
staged through the buffer, searched like a contraction's tiles: every chunk size of a
fixed set (independent of the buffer, the lanes and DRAM, so more of any never removes
a choice) that fits double-buffered, ranked by lower bounds on the exact engine's
cycles and energy (sim/vector_engine.py)."""

from __future__ import annotations

import math

import numpy as np

from yamlspec import SpecError
from arch import Architecture
from workloads import Einsum
from mapper.mapping import VectorMapping
from mapper.search import BOUND_SLACK, OBJECTIVE_BOUNDS, Ranked, leak_pj_per_cycle


def bytes_per_output_point(einsum: Einsum) -> float:
    """Buffer bytes one output point needs: its share of every input and its output."""
    n = einsum.output_points
    return sum(r.tensor.bytes for r in einsum.inputs) / n + einsum.output.tensor.bits / 8


def cycles_per_point(einsum: Einsum, arch: Architecture) -> int:
    unit = arch.array1d
    cycles = unit.expr_cycles(einsum.expr)
    if einsum.reduce != "none":
        cycles += unit.cycles_per(einsum.reduce)
    return max(1, cycles)


def lane_cycles(out_points, reduce_len: int, cpp: int, lanes: int):
    """Cycles the lanes spend on `out_points` outputs (before the pipeline drains)."""
    return -(-out_points // lanes) * reduce_len * cpp


DENSE_CHUNKS = 4096  # every chunk up to this many points: the partial rounds of any lane count


def chunk_sizes(out_points: int) -> np.ndarray:
    """The chunk sizes searched: every size up to DENSE_CHUNKS (so when few points fit,
    the most that fit is a choice), {1, 3, 5} x 2^k (whole rounds of any lane count of
    that form), the tensor split into 2^j near-equal chunks, and the whole tensor."""
    sizes = set(range(1, min(out_points, DENSE_CHUNKS) + 1)) | {out_points}
    k = 1
    while k < out_points:
        sizes.update(x for x in (k, 3 * k, 5 * k, -(-out_points // k)) if x < out_points)
        k *= 2
    return np.array(sorted(sizes), dtype=np.int64)


def chunk_plan(einsum: Einsum, arch: Architecture, chunk):
    """Per chunk size (scalar or array): the number of chunks and, for a full chunk and
    the last one, (bytes loaded, lane cycles, bytes written back); the last chunk's
    cycles include the lane pipeline draining. What sim/vector_engine.py runs."""
    out_points = einsum.output_points
    reduce_len = einsum.points // out_points
    cpp = cycles_per_point(einsum, arch)
    in_bytes = sum(r.tensor.bytes for r in einsum.inputs)
    out_bytes = einsum.output.tensor.bytes
    lanes, depth = arch.array1d.lanes, arch.array1d.pipeline_depth
    chunk = np.minimum(np.asarray(chunk, dtype=np.int64), out_points)
    n = -(-out_points // chunk)
    last = out_points - (n - 1) * chunk

    def terms(points):
        share = points / out_points  # the same float steps as the engine's, so equal
        return (np.ceil(in_bytes * share).astype(np.int64),
                lane_cycles(points, reduce_len, cpp, lanes),
                np.ceil(out_bytes * share).astype(np.int64))

    full, tail = terms(chunk), terms(last)
    return n, full, (tail[0], tail[1] + depth, tail[2])


def search(einsum: Einsum, arch: Architecture, objective: str = "latency") -> Ranked:
    per_point = bytes_per_output_point(einsum)
    capacity = arch.buffer.capacity_bytes
    fit = int(capacity // (2 * per_point))
    if fit < 1:
        raise SpecError(
            f"mapping cannot fit: one output point of Einsum '{einsum.name}' needs "
            f"{math.ceil(2 * per_point):,} bytes of double-buffered input, but "
            f"'{arch.buffer.name}' holds {capacity:,} bytes", arch.file or None,
            einsum.where or einsum.name)
    sizes = chunk_sizes(einsum.output_points)
    sizes = sizes[2 * sizes * per_point <= capacity]  # the engine's work is one per size
    cycles, energy = _bounds(einsum, arch, sizes)
    return Ranked(cycles, energy, lambda i: VectorMapping(int(sizes[i])), len(sizes),
                  OBJECTIVE_BOUNDS[objective])


def bounds_of(einsum: Einsum, arch: Architecture, m: VectorMapping) -> tuple[float, float]:
    """The mapper's lower bounds (cycles, joules) on one mapping's exact cost."""
    cycles, energy = _bounds(einsum, arch, np.array([m.chunk_points]))
    return float(cycles[0]), float(energy[0])


def _bounds(einsum: Einsum, arch: Architecture, sizes: np.ndarray):
    """Lower bounds on cycles (the pipeline's: DRAM serves one transfer at a time, with
    its idle spans at the start and the end; the chunks compute one after another
    between the first load and the last write-back; the last chunk computes after
    every load) and energy in joules (exact counts)."""
    n, (ld, cp, wb), (ld_last, cp_last, wb_last) = chunk_plan(einsum, arch, sizes)
    bpc = arch.dram_bytes_per_cycle

    def transfer(nbytes):
        return np.ceil(nbytes / bpc)

    loads = (n - 1) * transfer(ld) + transfer(ld_last)
    writes = (n - 1) * transfer(wb) + transfer(wb_last)
    first = np.where(n > 1, transfer(ld), transfer(ld_last))
    compute = (n - 1) * cp + cp_last
    # DRAM idles (sim/pipeline.py) from the second load's end until the first chunk
    # computes (the first write-back waits for it); from the load of chunk n-2 until
    # that chunk computes, but for the two transfers between (write-back n-3, load
    # n-1), as write-back n-2 waits for it; and from write-back n-2 until the last
    # chunk computes. The spans are disjoint but the first two with three chunks.
    second = np.where(n > 2, transfer(ld), transfer(ld_last))
    start = np.maximum(0, cp - second)
    middle = np.maximum(0, cp - transfer(wb) - transfer(ld_last))
    start = np.where(n >= 4, start + middle, np.where(n == 3, np.maximum(start, middle), start))
    idle = np.where(n > 1, start + np.maximum(0, cp_last - transfer(wb)), 0)
    cycles = np.maximum.reduce([loads + writes + idle, first + compute + transfer(wb_last),
                                loads + cp_last + transfer(wb_last)])
    dram_read, dram_write = (n - 1) * ld + ld_last, (n - 1) * wb + wb_last
    glb, dram, unit = arch.buffer, arch.dram, arch.array1d
    operand_reads = einsum.points * sum(r.tensor.bits for r in einsum.inputs) / 8
    pj = (sum(count * unit.energy_pj(op) for op, count in einsum.vector_ops.items())
          + (operand_reads + dram_write) * glb.energy_pj("read_byte")
          + (dram_read + einsum.output.tensor.bytes) * glb.energy_pj("write_byte")
          + dram_read * dram.energy_pj("read_byte") + dram_write * dram.energy_pj("write_byte")
          + leak_pj_per_cycle(arch) * cycles)
    return cycles, pj * (1 - BOUND_SLACK) * 1e-12  # J, below the engine's float sum


def check_format(einsum: Einsum, arch: Architecture):
    """The unit that runs the Einsum must compute in its format: the workload chose the
    format, so the error names the workload file."""
    if einsum.is_contraction:  # the array computes in its first operand's format (GemmProblem)
        unit, fmt, what = arch.array2d, einsum.inputs[0].tensor.format, "has operands in"
    else:
        unit, fmt, what = arch.array1d, einsum.output.tensor.format, "produces"
    if fmt not in unit.formats:
        raise SpecError(f"Einsum '{einsum.name}' {what} {fmt} but unit "
                        f"'{unit.name}' of architecture '{arch.name}' supports {unit.formats}",
                        einsum.source or arch.file or None, einsum.where or "format")


def fits(einsum: Einsum, arch: Architecture, mapping: VectorMapping) -> bool:
    return 2 * mapping.chunk_points * bytes_per_output_point(einsum) <= arch.buffer.capacity_bytes
