"""The mapper: how each Einsum is laid onto the hardware.

map(cascade, arch, objective) -> {einsum name: Mapping}; candidates() gives the best
few for one Einsum so the simulator can pick among them exactly.
Imports workloads and arch only.
"""

from __future__ import annotations

from arch import Architecture
from workloads import Cascade, Einsum
from mapper import gemm, vector
from mapper.gemm import GemmProblem
from mapper.mapping import (GemmMapping, Mapping, VectorMapping, load_mappings,
                            mapping_from_dict, save_mappings)

OBJECTIVES = ("latency", "energy", "edp")


def candidates(einsum: Einsum, arch: Architecture, objective: str = "latency",
               keep: int = 3) -> tuple[list[Mapping], int]:
    """The best `keep` mappings of one Einsum by the mapper's estimate, and how many
    mappings were scored to find them."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective '{objective}' (known: {', '.join(OBJECTIVES)})")
    if einsum.is_contraction:
        return gemm.search(einsum, arch, objective, keep)
    return [vector.search(einsum, arch)], 1


def map(cascade: Cascade, arch: Architecture, objective: str = "latency") -> dict[str, Mapping]:  # noqa: A001
    """The best mapping (by estimate) of every Einsum; identical Einsums share a search."""
    seen: dict[tuple, Mapping] = {}
    out = {}
    for e in cascade.einsums:
        key = e.signature()
        if key not in seen:
            seen[key] = candidates(e, arch, objective, keep=1)[0][0]
        out[e.name] = seen[key]
    return out


__all__ = ["OBJECTIVES", "GemmMapping", "GemmProblem", "Mapping", "VectorMapping", "candidates",
           "load_mappings", "map", "mapping_from_dict", "save_mappings"]
