"""Simulation of a non-contraction Einsum on the 1D unit under a VectorMapping.

Each lane owns output points and evaluates the map expression at every point of its
reduction, one operation after another (op_cycles each), folding the reduction in
as it goes; chunks of output points are staged through the buffer by the tile
pipeline, so DRAM transfers overlap compute. lane_cycles() is the closed form of
sim/vector_reference.py, tested equal on randomized shapes.
"""

from __future__ import annotations

import math

from yamlspec import SpecError
from arch import Architecture
from mapper import VectorMapping
from mapper.vector import fits
from sim.energy import Actions
from sim.pipeline import run_pipeline
from sim.registry import unit_engine
from sim.result import EinsumResult
from workloads import Einsum


def cycles_per_point(einsum: Einsum, arch: Architecture) -> int:
    unit = arch.array1d
    cycles = sum(n * unit.cycles_per(op) for op, n in einsum.expr.count_ops().items())
    if einsum.reduce != "none":
        cycles += unit.cycles_per(einsum.reduce)
    return max(1, cycles)


def lane_cycles(out_points: int, reduce_len: int, cpp: int, lanes: int) -> int:
    """Cycles the lanes spend on `out_points` outputs (before the pipeline drains)."""
    return -(-out_points // lanes) * reduce_len * cpp


@unit_engine("array1d")
def run_vector(einsum: Einsum, arch: Architecture, m: VectorMapping) -> EinsumResult:
    unit, glb = arch.array1d, arch.buffer
    if not fits(einsum, arch, m):  # a --mapping file's mapping names that file and key
        raise SpecError(f"mapping cannot fit: chunks of {m.chunk_points:,} output points of "
                        f"Einsum '{einsum.name}' overflow '{glb.name}' of architecture "
                        f"'{arch.name}' when double-buffered",
                        m.source or arch.file or None,
                        f"mappings.{einsum.name}" if m.source else einsum.where or einsum.name)
    out_points = einsum.output_points
    reduce_len = einsum.points // out_points
    cpp = cycles_per_point(einsum, arch)
    in_bytes = sum(r.tensor.bytes for r in einsum.inputs)
    out_bytes = einsum.output.tensor.bytes
    n_chunks = -(-out_points // m.chunk_points)
    loads, computes, writebacks = [], [], []
    for c in range(n_chunks):
        points = min(m.chunk_points, out_points - c * m.chunk_points)
        share = points / out_points
        loads.append(math.ceil(in_bytes * share))
        computes.append(lane_cycles(points, reduce_len, cpp, unit.lanes))
        writebacks.append(math.ceil(out_bytes * share))
    computes[-1] += unit.pipeline_depth  # the last results drain out of the lane pipeline
    timing = run_pipeline(loads, computes, writebacks, list(range(n_chunks)),
                          arch.dram_bytes_per_cycle)
    dram_read, dram_write = sum(loads), sum(writebacks)
    operand_reads = einsum.points * sum(r.tensor.bits for r in einsum.inputs) / 8
    ops = einsum.vector_ops
    acts = Actions()
    for op, n in ops.items():
        acts.add(unit, op, n)
    energy = acts.memory(arch, operand_reads + dram_write, dram_read + out_bytes, dram_read,
                         dram_write).pj
    return EinsumResult(
        name=einsum.name, kind="vector", unit=unit.name, cycles=timing.cycles,
        compute_cycles=sum(computes), macs=0, ops=sum(ops.values()),
        busy={unit.name: float(einsum.points * cpp)}, dram_read_bytes=dram_read, dram_write_bytes=dram_write,
        glb_read_bytes=int(operand_reads + dram_write), glb_write_bytes=int(dram_read + out_bytes),
        energy_pj=energy, mapping=m)
