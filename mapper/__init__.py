"""The mapper: how each Einsum is laid onto the hardware.

ranked() gives every candidate mapping of one Einsum in ascending order of a lower
bound on the objective, so the simulator can prove its pick (sim.simulate.best_mapping);
candidates() the best few by bound; map(cascade, arch, objective) -> {einsum name:
Mapping} the best by bound. Imports workloads and arch only.
"""

from __future__ import annotations

import itertools

from arch import Architecture
from workloads import Cascade, Einsum
from mapper import gemm, vector
from mapper.fusion import Fused
from mapper.gemm import GemmProblem
from mapper.mapping import (GemmMapping, Mapping, VectorMapping, load_mappings,
                            mapping_from_dict, save_mappings)
from mapper.search import (CACHE, CAPACITY_FREE_METHODS, LEAST_CYCLES_SETTLED, METHODS,
                           OBJECTIVE_BOUNDS, OBJECTIVE_SETTLED, Ranked, SearchOptions)
from mapper.vector import check_format

OBJECTIVES = ("latency", "energy", "edp")


def ranked(einsum: Einsum, arch: Architecture, objective: str = "latency",
           options: SearchOptions | None = None, array: tuple[int, int] | None = None,
           flow: tuple[str, str] | None = None) -> Ranked:
    """Every mapping of one Einsum the search method scores, in ascending order of a
    lower bound on the objective's key (`options`: method and budget; default grid;
    `array`: a contraction's folds on that sub-array of the 2D array; `flow`: only that
    (dataflow, rows group))."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective '{objective}' (known: {', '.join(OBJECTIVES)})")
    check_format(einsum, arch)
    if einsum.is_contraction:
        return gemm.search(einsum, arch, objective, options=options or SearchOptions(),
                           array=array, flow=flow)
    return vector.search(einsum, arch, objective)


def candidates(einsum: Einsum, arch: Architecture, objective: str = "latency",
               keep: int = 3, options: SearchOptions | None = None) -> tuple[list[Mapping], int]:
    """The best `keep` mappings of one Einsum by the mapper's bound, and how many
    mappings were scored to find them; identical searches are answered from a cache."""
    options = options or SearchOptions()
    check_format(einsum, arch)  # before the cache: its key holds widths, not format names
    key = CACHE.key(einsum, arch, objective, keep, options)
    found = CACHE.get(key)
    if found is None:
        found = ranked(einsum, arch, objective, options)
        found = [m for _, m in itertools.islice(found, keep)], found.scored
        CACHE.put(key, found)
    return list(found[0]), found[1]


def map(cascade: Cascade, arch: Architecture, objective: str = "latency",  # noqa: A001
        options: SearchOptions | None = None) -> dict[str, Mapping]:
    """The best mapping by bound of every Einsum (sim.simulate proves its pick by
    simulating, see best_mapping); identical Einsums share a search."""
    seen: dict[tuple, Mapping] = {}
    out = {}
    for e in cascade.einsums:
        key = e.signature()
        if key not in seen:
            seen[key] = candidates(e, arch, objective, keep=1, options=options)[0][0]
        out[e.name] = seen[key]
    return out


__all__ = ["CACHE", "CAPACITY_FREE_METHODS", "LEAST_CYCLES_SETTLED", "METHODS", "OBJECTIVES",
           "OBJECTIVE_BOUNDS", "OBJECTIVE_SETTLED", "Fused", "GemmMapping", "GemmProblem",
           "Mapping", "Ranked", "SearchOptions", "VectorMapping", "candidates", "ranked",
           "check_format", "load_mappings", "map", "mapping_from_dict", "save_mappings"]
