"""Simulation of a non-contraction Einsum on the 1D unit under a VectorMapping.

Each lane owns output points and evaluates the map expression at every point of its
reduction, one operation after another (op_cycles each), folding the reduction in
as it goes; chunks of output points are staged through the buffer by the tile
pipeline, so DRAM transfers overlap compute. lane_cycles() is the closed form of
sim/vector_reference.py, tested equal on randomized shapes.
"""

from __future__ import annotations

from yamlspec import SpecError
from arch import Architecture
from mapper import VectorMapping
# cycles_per_point and lane_cycles: the lane model, shared with the mapper's bounds and
# re-exported here for sim's users (rtl/cosim may import sim, not mapper)
from mapper.vector import chunk_plan, cycles_per_point, fits, lane_cycles  # noqa: F401
from sim.energy import Actions
from sim.pipeline import run_tiles
from sim.registry import unit_engine
from sim.result import EinsumResult
from workloads import Einsum

@unit_engine("array1d", bounded=True, reads=("array1d", "buffer", "dram"))
def run_vector(einsum: Einsum, arch: Architecture, m: VectorMapping) -> EinsumResult:
    unit, glb = arch.array1d, arch.buffer
    if not fits(einsum, arch, m):  # a --mapping file's mapping names that file and key
        raise SpecError(f"mapping cannot fit: chunks of {m.chunk_points:,} output points of "
                        f"Einsum '{einsum.name}' overflow '{glb.name}' of architecture "
                        f"'{arch.name}' when double-buffered",
                        m.source or arch.file or None,
                        f"mappings.{einsum.name}" if m.source else einsum.where or einsum.name)
    cpp = cycles_per_point(einsum, arch)
    out_bytes = einsum.output.tensor.bytes
    n, full, last = chunk_plan(einsum, arch, m.chunk_points)
    n, full, last = int(n), tuple(int(x) for x in full), tuple(int(x) for x in last)
    # n - 1 equal chunks and the last: the pipeline's work does not grow with n
    timing = run_tiles([(full, n - 1), (last, 1)], arch.dram_bytes_per_cycle)
    dram_read = (n - 1) * full[0] + last[0]
    dram_write = (n - 1) * full[2] + last[2]
    compute = (n - 1) * full[1] + last[1]
    operand_reads = einsum.points * sum(r.tensor.bits for r in einsum.inputs) / 8
    ops = einsum.vector_ops
    acts = Actions()
    for op, n in ops.items():
        acts.add(unit, op, n)
    energy = acts.memory(arch, operand_reads + dram_write, dram_read + out_bytes, dram_read,
                         dram_write).pj
    return EinsumResult(
        name=einsum.name, kind="vector", unit=unit.name, cycles=timing.cycles,
        compute_cycles=compute, macs=0, ops=sum(ops.values()),
        busy={unit.name: float(einsum.points * cpp)}, dram_read_bytes=dram_read, dram_write_bytes=dram_write,
        glb_read_bytes=int(operand_reads + dram_write), glb_write_bytes=int(dram_read + out_bytes),
        energy_pj=energy, mapping=m)
