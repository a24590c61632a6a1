"""The mapper: how each Einsum is laid onto the hardware.

map(cascade, arch, objective) -> {einsum name: Mapping}; candidates() gives the best
few for one Einsum so the simulator can pick among them exactly.
Imports workloads and arch only.
"""

from __future__ import annotations

from arch import Architecture
from workloads import Cascade, Einsum
from mapper import gemm, vector
from mapper.fusion import Fused
from mapper.gemm import GemmProblem
from mapper.mapping import (GemmMapping, Mapping, VectorMapping, load_mappings,
                            mapping_from_dict, save_mappings)
from mapper.search import CACHE, METHODS, SearchOptions
from mapper.vector import check_format

OBJECTIVES = ("latency", "energy", "edp")


def candidates(einsum: Einsum, arch: Architecture, objective: str = "latency",
               keep: int = 3, options: SearchOptions | None = None) -> tuple[list[Mapping], int]:
    """The best `keep` mappings of one Einsum by the mapper's estimate, and how many
    mappings were scored to find them. `options` picks the search method and budget
    (default: the grid); identical searches are answered from a cache."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective '{objective}' (known: {', '.join(OBJECTIVES)})")
    options = options or SearchOptions()
    check_format(einsum, arch)  # before the cache: its key holds widths, not format names
    key = CACHE.key(einsum, arch, objective, keep, options)
    found = CACHE.get(key)
    if found is None:
        if einsum.is_contraction:
            found = gemm.search(einsum, arch, objective, keep, options)
        else:
            found = [vector.search(einsum, arch)], 1
        CACHE.put(key, found)
    return list(found[0]), found[1]


def map(cascade: Cascade, arch: Architecture, objective: str = "latency",  # noqa: A001
        options: SearchOptions | None = None) -> dict[str, Mapping]:
    """The best mapping (by estimate) of every Einsum; identical Einsums share a search."""
    seen: dict[tuple, Mapping] = {}
    out = {}
    for e in cascade.einsums:
        key = e.signature()
        if key not in seen:
            seen[key] = candidates(e, arch, objective, keep=1, options=options)[0][0]
        out[e.name] = seen[key]
    return out


__all__ = ["CACHE", "METHODS", "OBJECTIVES", "Fused", "GemmMapping", "GemmProblem", "Mapping",
           "SearchOptions", "VectorMapping", "candidates", "check_format", "load_mappings", "map",
           "mapping_from_dict", "save_mappings"]
