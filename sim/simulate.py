"""sim.simulate: the one door from (workload, architecture, mapping) to a Result.

How the cascade runs is chosen through sim.registry: a fused-group mapping (mapper.Fused)
goes to its registered group strategy; an architecture holding a component whose class
has a cascade engine (PIM, roofline) goes to that engine; otherwise every Einsum runs on
the unit engine registered for its unit's component class, one after another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from yamlspec import SpecError
from arch import Architecture
import mapper
from mapper import Fused, GemmMapping, Mapping
from sim.energy import Actions
from sim.registry import CASCADE_ENGINES, GROUP_STRATEGIES, UNIT_ENGINES
from sim.result import EinsumResult, Result
from workloads import Cascade, Einsum

OBJECTIVE_KEYS = {
    "latency": lambda r: (r.cycles, r.energy_j),
    "energy": lambda r: (r.energy_j, r.cycles),
    "edp": lambda r: (r.cycles * r.energy_j,),
}


def _unit_of(arch: Architecture, mapping: Mapping):
    """The component an Einsum under `mapping` runs on (its role: array2d or array1d)."""
    return arch.array2d if isinstance(mapping, GemmMapping) else arch.array1d


def _engine(arch: Architecture, unit):
    index = arch.components.index(unit)
    return UNIT_ENGINES.get(unit.class_name, arch.file or None,
                            f"architecture.components[{index}].class")


def simulate_einsum(einsum: Einsum, arch: Architecture, mapping: Mapping) -> EinsumResult:
    # a mapping from a --mapping file is that file's error; one the mapper made, the arch's
    where = ((mapping.source, f"mappings.{einsum.name}") if mapping.source
             else (arch.file or None, einsum.where or einsum.name))
    if isinstance(mapping, GemmMapping) and not einsum.is_contraction:
        raise SpecError(f"Einsum '{einsum.name}' is not a contraction, so it cannot run on the "
                        f"2D array; give it role array1d", *where)
    if not isinstance(mapping, GemmMapping) and einsum.is_contraction:
        raise SpecError(f"Einsum '{einsum.name}' is a contraction; give it role array2d",
                        *where)
    mapper.check_format(einsum, arch)
    r = _engine(arch, _unit_of(arch, mapping)).run(einsum, arch, mapping)
    return replace(r, energy_pj=Actions().merge(r.energy_pj).leakage(arch, r.cycles).pj)


def best_mapping(einsum: Einsum, arch: Architecture, objective: str,
                 keep: int = 3, search: "mapper.SearchOptions | None" = None
                 ) -> tuple[EinsumResult, int]:
    """Simulate the mapper's best few candidates exactly and keep the best."""
    cands, scored = mapper.candidates(einsum, arch, objective, keep, options=search)
    results = [simulate_einsum(einsum, arch, m) for m in cands]
    return min(results, key=OBJECTIVE_KEYS[objective]), scored


def simulate(cascade: Cascade, arch: Architecture,
             mapping: "dict[str, Mapping] | Fused | None" = None, objective: str = "latency",
             progress: Callable[[int, int], None] | None = None,
             search: "mapper.SearchOptions | None" = None) -> Result:
    """Simulate `cascade` on `arch`.

    `mapping`: None (the mapper chooses every Einsum's mapping for `objective`), a dict
    fixing some Einsums' mappings by name (the mapper chooses the rest; `search`: method
    and budget, see mapper.SearchOptions), or mapper.Fused(strategy, mapping) running the
    whole cascade as one fused group. Per-Einsum runs are unfused: each Einsum reads its
    inputs from DRAM and writes its output back; identical Einsums are simulated once.
    """
    if objective not in OBJECTIVE_KEYS:
        raise SpecError(f"unknown objective '{objective}' (known: {', '.join(OBJECTIVE_KEYS)})")
    if isinstance(mapping, Fused):
        return GROUP_STRATEGIES.get(mapping.strategy)(cascade, arch, mapping.mapping)
    for comp in arch.components:
        if comp.class_name in CASCADE_ENGINES:
            return CASCADE_ENGINES.get(comp.class_name)(cascade, arch, mapping, objective,
                                                        progress)
    return _per_einsum(cascade, arch, dict(mapping or {}), objective, progress, search)


def _per_einsum(cascade, arch, mapping, objective, progress, search) -> Result:
    names = {e.name for e in cascade.einsums}
    unknown = sorted(set(mapping) - names)
    if unknown:
        source = getattr(mapping[unknown[0]], "source", "") or None
        raise SpecError(f"the mapping names Einsums {unknown[:5]} that are not in workload "
                        f"'{cascade.name}'", source, f"mappings.{unknown[0]}")
    cache: dict[tuple, EinsumResult] = {}
    rows: list[EinsumResult] = []
    scored = 0
    for i, e in enumerate(cascade.einsums):
        given = mapping.get(e.name)
        key = (e.signature(), given)
        if key not in cache:
            if given is not None:
                cache[key] = simulate_einsum(e, arch, given)
            else:
                cache[key], n = best_mapping(e, arch, objective, search=search)
                scored += n
        rows.append(cache[key].renamed(e.name))
        if progress:
            progress(i + 1, len(cascade.einsums))
    units = {arch.array2d.name: arch.array2d.pes, arch.array1d.name: arch.array1d.lanes}
    meta = {**cascade.meta, "objective": objective, "mappings_scored": scored,
            "distinct_einsums": len(cache)}
    compulsory = _engine(arch, arch.array2d).compulsory_dram_bytes
    return Result(cascade.name, arch.name, arch.clock_ghz, rows, arch.area_breakdown_mm2(),
                  units, compulsory(cascade, arch) if compulsory else cascade.compulsory_dram_bytes,
                  meta)
