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
    # answered from a search at a larger buffer (its capacity in bytes): its mappings of
    # least cycles that fit this one were simulated (_least_cycles); `tried` holds them
    shared: int | None = None


def best_mapping(einsum: Einsum, arch: Architecture, objective: str,
                 keep: int = 3, search: "mapper.SearchOptions | None" = None) -> Search:
    """Simulate the mapper's candidates in order of their lower bound until the best
    exact key is at most the next bound (no later candidate can beat it): the best of
    the map space searched. For an engine the bounds do not hold for, the best `keep`.
    A contraction's map space holds the sub-arrays of mapper.gemm.subarrays when the
    engine runs them: each (with one dataflow) joins the bound order at a bound on all
    its mappings (subarray_bounds) and is searched only if that comes up."""
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
    if (objective == "latency" and engine.bounded and engine.buffer_need is not None
            and options.method in mapper.CAPACITY_FREE_METHODS):
        found = _least_cycles(einsum, arch, engine, options)
        mapper.CACHE.put(cache_key, found, scoped=True)
        return found
    found = _search(einsum, arch, engine, options, objective, OBJECTIVE_KEYS[objective],
                    mapper.OBJECTIVE_BOUNDS[objective], keep,
                    mapper.OBJECTIVE_SETTLED.get(objective, lambda bound: bound))
    mapper.CACHE.put(cache_key, found)
    return found


def _least_cycles(einsum, arch, engine, options) -> Search:
    """The latency search, through the mappings of least cycles, shared by architectures
    that differ only in the buffer's capacity and in prices (mapper.CACHE.timing_key).

    Every mapping's cycles depend on neither (engine.buffer_need), and a smaller buffer's
    map space is a larger one's less the mappings that no longer fit. So if a search at
    capacity S >= C found the least cycles c and every mapping reaching them, and one of
    those fits C, then c is also C's least, reached by exactly those that fit, and the
    best at C is the one of them of least energy at C's prices. A search at C is run
    otherwise, on until its next bound has more cycles than its best (so every mapping
    of the least cycles is simulated), and kept for smaller buffers."""
    capacity = arch.buffer.capacity_bytes
    key = mapper.CACHE.timing_key(einsum, arch, options, engine.reads)
    for found in mapper.CACHE.least_cycles_of(key):
        if found.capacity >= capacity:
            fit = [(bound, m) for need, bound, m in found.mappings if need <= capacity]
            if fit:
                tried = tuple(((bound, 0.0), simulate_einsum(einsum, arch, m))
                              for bound, m in fit)  # 0 J: a lower bound at any prices
                best = min((r for _, r in tried), key=OBJECTIVE_KEYS["latency"])
                return Search(best, found.scored, tried, None, True, shared=found.capacity)
    found = _search(einsum, arch, engine, options, "latency", OBJECTIVE_KEYS["latency"],
                    mapper.OBJECTIVE_BOUNDS["latency"], 1, mapper.LEAST_CYCLES_SETTLED)
    least = found.result.cycles
    mappings = tuple((engine.buffer_need(einsum, r.mapping), bound[0], r.mapping)
                     for bound, r in found.tried if r.cycles == least)
    mapper.CACHE.remember_least_cycles(key, _LeastCycles(capacity, mappings, found.scored))
    return found


@dataclass(frozen=True)
class _LeastCycles:
    capacity: int  # the buffer's, in bytes
    mappings: tuple  # (buffer bytes needed, cycle bound, mapping) of each of least cycles
    scored: int


def _search(einsum, arch, engine, options, steer: str, rank, bound_key, keep: int,
            settled=lambda bound: bound) -> Search:
    """best_mapping's search under any key: `rank` of an exact result, `bound_key` of
    lower bounds on (cycles, J) (a lower bound on `rank` of every result above them);
    `steer`: the objective a heuristic search steers by; it stops at a bound whose
    `settled` key (mapper.OBJECTIVE_SETTLED) the best result reaches."""
    bounded = engine.bounded
    subarrays = bounded and engine.subarrays and einsum.is_contraction
    try:
        whole = mapper.ranked(einsum, arch, steer, options).keyed(bound_key)
    except SpecError as error:  # no tiling of the whole array fits: a sub-array's may
        if not subarrays:
            raise
        whole, unfit = mapper.Ranked([], [], None, 0), error
    else:
        unfit = None
    heap = [(next_bound, 0, space, item) for next_bound, space, item in _first(whole)]
    if subarrays:
        # each sub-array's space joins at a bound on all its mappings, searched if reached
        for i, (array, flow, *cheap) in enumerate(mapper.gemm.subarray_bounds(einsum, arch), 1):
            heap.append((tuple(float(v) for v in bound_key(*cheap)), i, (array, flow), None))
    heapq.heapify(heap)
    best, tried, stop, scored = None, [], None, whole.scored
    while heap:
        bound, i, space, item = heapq.heappop(heap)
        if best is not None and (rank(best) <= settled(bound) if bounded
                                 else len(tried) >= keep):
            stop = bound if bounded else None
            break
        if item is None:  # a sub-array's space (one dataflow): open it, and rank its
            # candidates only if the least bound of all of them comes up
            space = mapper.ranked(einsum, arch, steer, options, *space).keyed(bound_key)
            scored += space.scored
            least = space.least()
            if least is not None:
                heapq.heappush(heap, (least, i, space, OPENED))
            continue
        if item is not OPENED:
            result = simulate_einsum(einsum, arch, item)
            tried.append((bound, result))
            if best is None or rank(result) < rank(best):
                best = result
        for next_bound, space, item in _first(space):
            heapq.heappush(heap, (next_bound, i, space, item))
    if best is None and unfit is not None:
        raise unfit
    return Search(best, scored, tuple(tried), stop, bounded)


OPENED = "opened"  # a heap entry of a sub-array's space opened but not yet ranked


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
    """The mappings minimizing the cascade's cycles x energy (exact over the map space).

    The cascade's (cycles, energy) is the fixed Einsums' plus a sum of one point per
    searched Einsum (times its uses; leakage is per Einsum, so still a sum). The product
    D x E is quasi-concave on the positive quadrant, so over the convex hull of the
    achievable sums its minimum is at a vertex, on the lower-left chain (a point below
    and left of another has the smaller product). Each such vertex is the unique
    minimizer of D + lam x E for some lam > 0, and the minimizer of a linear key over a
    sum of sets is the sum of each set's minimizer. Between consecutive breakpoints of
    the Einsums' lower hulls every Einsum's minimizer stays put; so the choices to
    compare are: every Einsum at its least-cycles hull vertex, then one hull step at a
    time in ascending order of the step's lam."""
    fixed_c = sum(n * cache[k].cycles for k, n in uses.items() if k not in searched)
    fixed_e = sum(n * cache[k].energy_j for k, n in uses.items() if k not in searched)
    hulls = {k: lower_hull(e, arch, search) for k, e in searched.items()}
    return least_product(hulls, uses, fixed_c, fixed_e)


def least_product(hulls: dict, uses: dict, fixed_c: float = 0.0, fixed_e: float = 0.0) -> dict:
    """Of one result per key from its lower hull (results with .cycles and .energy_j,
    ascending cycles), the choice with the least (fixed + sum of uses x result) cycles
    x energy product: the sweep of _cascade_edp."""
    steps = sorted((_slope(h[j], h[j + 1]), k, j + 1) for k, h in hulls.items()
                   for j in range(len(h) - 1))
    choice = {k: h[0] for k, h in hulls.items()}

    def product(choice):
        c = fixed_c + sum(uses[k] * r.cycles for k, r in choice.items())
        e = fixed_e + sum(uses[k] * r.energy_j for k, r in choice.items())
        return c * e

    best, best_product = dict(choice), product(choice)
    for _, k, j in steps:
        choice[k] = hulls[k][j]
        if product(choice) < best_product:
            best, best_product = dict(choice), product(choice)
    return best


def _slope(a: EinsumResult, b: EinsumResult) -> float:
    """The lam at which D + lam x E ties for hull vertices a (fewer cycles) and b."""
    return (b.cycles - a.cycles) / (a.energy_j - b.energy_j)


def lower_hull(einsum: Einsum, arch: Architecture, search=None) -> list[EinsumResult]:
    """The vertices of the lower-left convex hull of (cycles, energy) over one Einsum's
    map space, in ascending cycles: the least-cycles and least-energy results, and
    between two vertices a, b the exact minimizer of D + lam x E at the lam where a and
    b tie, if it lies below their edge (a search with that key, proven like
    best_mapping's). For an engine the bounds do not hold for (or that schedules on its
    own), the hull of the results its searches simulated."""
    engine = _engine(arch, arch.array2d if einsum.is_contraction else arch.array1d)
    ends = [best_mapping(einsum, arch, o, search=search) for o in ("latency", "energy")]
    if not engine.bounded or engine.own_schedule:
        found = ends + [best_mapping(einsum, arch, "edp", search=search)]
        return _hull_of([r for f in found for _, r in f.tried])
    a, b = ends[0].result, ends[1].result

    def between(a, b) -> list[EinsumResult]:
        if (a.cycles, a.energy_j) == (b.cycles, b.energy_j):
            return [a]
        lam = _slope(a, b)
        x = weighted_best(einsum, arch, lam, search)
        tie = a.cycles + lam * a.energy_j
        if x.cycles + lam * x.energy_j >= tie - 1e-12 * abs(tie):  # on the edge or above
            return [a, b]
        return between(a, x)[:-1] + between(x, b)

    return between(a, b)


def weighted_best(einsum: Einsum, arch: Architecture, lam: float, search=None) -> EinsumResult:
    """The exact minimizer of cycles + lam x joules over the map space."""
    options = search or mapper.SearchOptions()
    engine = _engine(arch, arch.array2d if einsum.is_contraction else arch.array1d)
    cache_key = mapper.CACHE.key(einsum, arch, ("cycles+lam*J", lam), "exact", options,
                                 engine.reads)
    found = mapper.CACHE.get(cache_key)
    if found is None:
        found = _search(einsum, arch, engine, options, "edp",
                        lambda r: (r.cycles + lam * r.energy_j,),
                        lambda cycles, energy: (cycles + lam * energy,), 3)
        mapper.CACHE.put(cache_key, found)
    elif engine.reads is not None:
        found = _leaking(found, arch)
    return found.result


def _hull_of(results: list[EinsumResult]) -> list[EinsumResult]:
    """The lower-left convex hull's vertices of a finite set of results, ascending cycles."""
    hull: list[EinsumResult] = []
    for r in sorted(results, key=lambda r: (r.cycles, r.energy_j)):
        if hull and r.energy_j >= hull[-1].energy_j:
            continue  # dominated by the last vertex
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], r) <= 0:
            hull.pop()
        hull.append(r)
    return hull


def _cross(o: EinsumResult, a: EinsumResult, b: EinsumResult) -> float:
    return ((a.cycles - o.cycles) * (b.energy_j - o.energy_j)
            - (a.energy_j - o.energy_j) * (b.cycles - o.cycles))


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
