"""Mapping of a non-contraction Einsum onto the 1D unit: the chunk of output points
staged through the buffer (as large as double-buffering allows)."""

from __future__ import annotations

import math

from yamlspec import SpecError
from yamlspec.limits import MAX_TILE_STEPS
from arch import Architecture
from workloads import Einsum
from mapper.mapping import VectorMapping


def bytes_per_output_point(einsum: Einsum) -> float:
    """Buffer bytes one output point needs: its share of every input and its output."""
    n = einsum.output_points
    return sum(r.tensor.bytes for r in einsum.inputs) / n + einsum.output.tensor.bits / 8


def search(einsum: Einsum, arch: Architecture) -> VectorMapping:
    per_point = bytes_per_output_point(einsum)
    capacity = arch.buffer.capacity_bytes
    fit = int(capacity // (2 * per_point))
    if fit < 1:
        raise SpecError(
            f"mapping cannot fit: one output point of Einsum '{einsum.name}' needs "
            f"{math.ceil(2 * per_point):,} bytes of double-buffered input, but "
            f"'{arch.buffer.name}' holds {capacity:,} bytes", arch.file or None,
            einsum.where or einsum.name)
    lanes = arch.array1d.lanes
    chunk = fit // lanes * lanes if fit >= lanes else fit  # whole rounds of lanes
    chunk = min(einsum.output_points, chunk)
    steps = -(-einsum.output_points // chunk)
    if steps > MAX_TILE_STEPS:
        raise SpecError(f"Einsum '{einsum.name}' needs {steps:,} buffer chunks, over the limit "
                        f"{MAX_TILE_STEPS:,} the simulator steps through; use smaller ranks or a "
                        f"larger buffer", einsum.source or arch.file or None,
                        einsum.where or einsum.name)
    return VectorMapping(chunk)


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
