"""sim.simulate: the one door from (workload, architecture, mapping) to a Result.

How the cascade runs is chosen through sim.registry: a fused-group mapping (mapper.Fused)
goes to its registered group strategy; an architecture holding a component whose class
has a cascade engine (PIM, roofline) goes to that engine; otherwise every Einsum runs on
the unit engine registered for its unit's component class, one after another.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, replace

from yamlspec import SpecError
from arch import Architecture
import mapper
from mapper import Fused, GemmMapping, Mapping
from sim.energy import Actions
from sim.pe_energy import einsum_energy_pj
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
    # PE register files and on-array network (an arch with a pe_storage component)
    local = einsum_energy_pj(einsum, arch)
    return replace(r, energy_pj=Actions().merge(r.energy_pj).merge(local)
                   .leakage(arch, r.cycles).pj)


@dataclass(frozen=True)
class Search:
    """How best_mapping chose one Einsum's mapping: the best exact result, how many
    mappings the mapper scored, every candidate simulated with its bound (in bound
    order), and the next candidate's bound that stopped the search (None: no candidate
    was left, or the unit's engine takes no bounds and only the best `keep` ran)."""

    result: EinsumResult
    scored: int
    tried: tuple[tuple[tuple[float, ...], EinsumResult], ...]
    stop: tuple[float, ...] | None
    bounded: bool  # the engine takes the bounds, so `result` is the best of the space
    own_schedule: bool = False  # the engine schedules on its own: one run, any objective


def best_mapping(einsum: Einsum, arch: Architecture, objective: str,
                 keep: int = 3, search: "mapper.SearchOptions | None" = None) -> Search:
    """Simulate the mapper's candidates in order of their lower bound until the best
    exact key is at most the next bound (no later candidate can beat it): the best of
    the map space searched. For an engine the bounds do not hold for, the best `keep`.
    A contraction's map space holds the sub-arrays of mapper.gemm.subarrays when the
    engine runs them: each joins the bound order at a bound on all its mappings
    (subarray_bound) and is searched only if that comes up."""
    options = search or mapper.SearchOptions()
    mapper.check_format(einsum, arch)  # before the cache: its key holds widths, not formats
    unit = arch.array2d if einsum.is_contraction else arch.array1d
    engine = _engine(arch, unit)
    if engine.own_schedule:  # one run, whatever the objective: nothing to search
        objective, options = "any", mapper.SearchOptions()
    cache_key = mapper.CACHE.key(einsum, arch, objective, "exact", options, engine.reads)
    found = mapper.CACHE.get(cache_key)
    if found is not None:  # maybe from another architecture: this one's leak breakdown
        return _leaking(found, arch) if engine.reads is not None else found
    if engine.own_schedule:
        result = simulate_einsum(einsum, arch, _nominal(einsum))
        found = Search(result, 0, ((OBJECTIVE_KEYS["latency"](result), result),), None, False,
                       True)
        mapper.CACHE.put(cache_key, found)
        return found
    rank = OBJECTIVE_KEYS[objective]
    bounded = engine.bounded
    whole = mapper.ranked(einsum, arch, objective, options)
    heap = [(next_bound, 0, space, item) for next_bound, space, item in _first(whole)]
    if bounded and engine.subarrays and einsum.is_contraction:
        # each sub-array's space joins at a bound on all its mappings, searched if reached
        for i, array in enumerate(mapper.gemm.subarrays(arch), 1):
            cheap = mapper.OBJECTIVE_BOUNDS[objective](
                *mapper.gemm.subarray_bound(einsum, arch, array))
            heap.append((tuple(float(v) for v in cheap), i, array, None))
    heapq.heapify(heap)
    best, tried, stop, scored = None, [], None, whole.scored
    while heap:
        bound, i, space, item = heapq.heappop(heap)
        if best is not None and (rank(best) <= bound if bounded else len(tried) >= keep):
            stop = bound if bounded else None
            break
        if item is None:  # a sub-array's space: search it
            space = mapper.ranked(einsum, arch, objective, options, space)
            scored += space.scored
        else:
            result = simulate_einsum(einsum, arch, item)
            tried.append((bound, result))
            if best is None or rank(result) < rank(best):
                best = result
        for next_bound, space, item in _first(space):
            heapq.heappush(heap, (next_bound, i, space, item))
    found = Search(best, scored, tuple(tried), stop, bounded)
    mapper.CACHE.put(cache_key, found)
    return found


def _first(space):
    """[(bound, rest of the space, mapping)] of the space's next candidate; [] if none."""
    space = iter(space)
    for bound, m in space:
        return [(bound, space, m)]
    return []


def _leaking(found: Search, arch: Architecture) -> Search:
    """A search shared by architectures equal in what the engine reads and in total leak
    power, with each result's leakage split over this architecture's components."""
    def rebase(r: EinsumResult) -> EinsumResult:
        pj = {k: v for k, v in r.energy_pj.items() if not k.endswith(".leak")}
        return replace(r, energy_pj=Actions().merge(pj).leakage(arch, r.cycles).pj)

    if not arch.leakage:
        return found
    tried = tuple((b, rebase(r)) for b, r in found.tried)
    best = next((r for (_, old), (_, r) in zip(found.tried, tried) if old is found.result),
                None) or rebase(found.result)
    return replace(found, result=best, tried=tried)


def _nominal(einsum: Einsum) -> GemmMapping:
    """A mapping for an engine that chooses its own schedule (it records the one it ran)."""
    shape = einsum.gemm_shape()
    return GemmMapping("os", "N", tuple((g, shape[g]) for g in ("B", "M", "N", "K")),
                       ("B", "N", "M", "K"))


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
    result = _per_einsum(cascade, arch, dict(mapping or {}), objective, progress, search)
    if arch.fusion:
        from sim import fusion_choice  # needs the group strategies registered by sim.fused
        result = fusion_choice.choose(result, cascade, arch, objective, set(mapping or {}))
    return result


def _cascade_edp(searched, cache, uses, arch, search) -> dict[tuple, EinsumResult]:
    """The cascade's cycles x energy is not a sum over Einsums, so the best EDP of each
    alone need not give the best product. Choose among every result the latency, energy
    and EDP searches simulated for each Einsum: the choice minimizing cycles + w x energy
    for each, with w = total cycles / total energy (where the product's gradient points)
    iterated from the per-Einsum EDP choice, and the all-latency and all-energy choices
    (lambda -> 0 and -> infinity); keep the least product. So `edp` never ends above the
    EDP of `latency` or `energy`."""
    options = {}
    for key, e in searched.items():
        found = [best_mapping(e, arch, obj, search=search) for obj in ("latency", "energy")]
        tried = [r for f in found for _, r in f.tried]
        tried += [r for _, r in best_mapping(e, arch, "edp", search=search).tried]
        options[key] = (tried, found[0].result, found[1].result)
    fixed_c = sum(n * cache[k].cycles for k, n in uses.items() if k not in searched)
    fixed_e = sum(n * cache[k].energy_j for k, n in uses.items() if k not in searched)

    def product(choice):
        c = fixed_c + sum(uses[k] * r.cycles for k, r in choice.items())
        e = fixed_e + sum(uses[k] * r.energy_j for k, r in choice.items())
        return c * e, c, e

    choices = [{k: cache[k] for k in searched},
               {k: o[1] for k, o in options.items()}, {k: o[2] for k, o in options.items()}]
    _, c, e = product(choices[0])
    for _ in range(8):
        w = c / e if e else 0.0
        choice = {k: min(o[0], key=lambda r: (r.cycles + w * r.energy_j, r.energy_j))
                  for k, o in options.items()}
        if choice in choices:
            break
        choices.append(choice)
        _, c, e = product(choice)
    return min(choices, key=lambda ch: product(ch)[0])


def _per_einsum(cascade, arch, mapping, objective, progress, search) -> Result:
    names = {e.name for e in cascade.einsums}
    unknown = sorted(set(mapping) - names)
    if unknown:
        source = getattr(mapping[unknown[0]], "source", "") or None
        raise SpecError(f"the mapping names Einsums {unknown[:5]} that are not in workload "
                        f"'{cascade.name}'", source, f"mappings.{unknown[0]}")
    cache: dict[tuple, EinsumResult] = {}
    searched: dict[tuple, Einsum] = {}  # the Einsums the mapper chose for
    uses: dict[tuple, int] = {}
    scored = 0
    ids = cascade.signature_ids
    for i, e in enumerate(cascade.einsums):
        given = mapping.get(e.name) if mapping else None
        key = (ids[i], given)
        uses[key] = uses.get(key, 0) + 1
        if key not in cache:
            if given is not None:
                cache[key] = simulate_einsum(e, arch, given)
            else:
                found = best_mapping(e, arch, objective, search=search)
                cache[key] = found.result
                searched[key] = e
                scored += found.scored
        if progress:
            progress(i + 1, len(cascade.einsums))
    if objective == "edp" and searched:
        cache.update(_cascade_edp(searched, cache, uses, arch, search))
    rows = [cache[(ids[i], mapping.get(e.name) if mapping else None)].renamed(e.name)
            for i, e in enumerate(cascade.einsums)]
    units = {arch.array2d.name: arch.array2d.pes, arch.array1d.name: arch.array1d.lanes}
    meta = {**cascade.meta, "objective": objective, "mappings_scored": scored,
            "distinct_einsums": len(cache)}
    compulsory = _engine(arch, arch.array2d).compulsory_dram_bytes
    return Result(cascade.name, arch.name, arch.clock_ghz, rows, arch.area_breakdown_mm2(),
                  units, compulsory(cascade, arch) if compulsory else cascade.compulsory_dram_bytes,
                  meta)
