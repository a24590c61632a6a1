"""sim.simulate: the one door from (workload, architecture, mapping) to a Result."""

from __future__ import annotations

from collections.abc import Callable

from yamlspec import SpecError
from arch import Architecture
import mapper
from mapper import GemmMapping, Mapping
from sim.bitserial_engine import compulsory_dram_bytes as bitserial_compulsory
from sim.bitserial_engine import run_bitserial
from sim.gemm_engine import run_gemm
from sim.result import EinsumResult, Result
from sim.vector_engine import run_vector
from workloads import Cascade, Einsum

# Timing/cost model of each unit, keyed by the component class it runs on.
ENGINES: dict[str, Callable[[Einsum, Architecture, Mapping], EinsumResult]] = {
    "array2d": run_gemm,
    "array1d": run_vector,
    "bitserial_array": run_bitserial,
}
# Compulsory DRAM bytes where the 2D array stores weights in its own format (default:
# every tensor at its workload format, Cascade.compulsory_dram_bytes).
COMPULSORY_BYTES: dict[str, Callable[[Cascade, Architecture], int]] = {
    "bitserial_array": bitserial_compulsory,
}
# Architectures that run a whole cascade their own way, keyed by a component class they
# hold (PIM-GPT's channels + ASIC; GPU/CPU roofline baselines). Still entered here only.
WHOLE_CASCADE_ENGINES: dict[str, str] = {
    "pim_dram": "sim.pim.run:simulate_pim",
    "roofline_device": "sim.roofline:simulate_roofline",
}
OBJECTIVE_KEYS = {
    "latency": lambda r: (r.cycles, r.energy_j),
    "energy": lambda r: (r.energy_j, r.cycles),
    "edp": lambda r: (r.cycles * r.energy_j,),
}


def simulate_einsum(einsum: Einsum, arch: Architecture, mapping: Mapping) -> EinsumResult:
    if isinstance(mapping, GemmMapping) and not einsum.is_contraction:
        raise SpecError(f"Einsum '{einsum.name}' is not a contraction, so it cannot run on the "
                        f"2D array; map it to unit array1d", arch.file or None,
                        einsum.where or einsum.name)
    if not isinstance(mapping, GemmMapping) and einsum.is_contraction:
        raise SpecError(f"Einsum '{einsum.name}' is a contraction; map it to unit array2d",
                        arch.file or None, einsum.where or einsum.name)
    # A contraction runs on whatever class the arch's 2D array is (array2d, bitserial_array).
    unit = arch.array2d.class_name if isinstance(mapping, GemmMapping) else mapping.unit
    return ENGINES[unit](einsum, arch, mapping)


def best_mapping(einsum: Einsum, arch: Architecture, objective: str,
                 keep: int = 3, search: "mapper.SearchOptions | None" = None
                 ) -> tuple[EinsumResult, int]:
    """Simulate the mapper's best few candidates exactly and keep the best."""
    cands, scored = mapper.candidates(einsum, arch, objective, keep, options=search)
    results = [simulate_einsum(einsum, arch, m) for m in cands]
    return min(results, key=OBJECTIVE_KEYS[objective]), scored


def simulate(cascade: Cascade, arch: Architecture, mapping: dict[str, Mapping] | None = None,
             objective: str = "latency", progress: Callable[[int, int], None] | None = None,
             search: "mapper.SearchOptions | None" = None) -> Result:
    """Simulate every Einsum of `cascade` on `arch`, one after another (unfused: each
    reads its inputs from DRAM and writes its output back).

    `mapping` fixes the mapping of some Einsums by name; the mapper chooses the rest
    for `objective` (`search`: method and budget, see mapper.SearchOptions). Einsums
    with identical shapes and mappings are simulated once.
    """
    if objective not in OBJECTIVE_KEYS:
        raise SpecError(f"unknown objective '{objective}' (known: {', '.join(OBJECTIVE_KEYS)})")
    for comp in arch.components:
        if comp.class_name in WHOLE_CASCADE_ENGINES:
            import importlib

            module, func = WHOLE_CASCADE_ENGINES[comp.class_name].split(":")
            engine = getattr(importlib.import_module(module), func)
            return engine(cascade, arch, mapping, objective, progress)
    mapping = dict(mapping or {})
    names = {e.name for e in cascade.einsums}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise SpecError(f"the mapping names Einsums {unknown[:5]} that are not in workload "
                        f"'{cascade.name}'")
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
    compulsory = COMPULSORY_BYTES.get(arch.array2d.class_name)
    return Result(cascade.name, arch.name, arch.clock_ghz, rows, arch.area_breakdown_mm2(),
                  units, compulsory(cascade, arch) if compulsory else cascade.compulsory_dram_bytes,
                  meta)
