"""Searches are shared by architectures equal in what an engine reads (issue 18): a
sweep over the 2D array reuses the vector unit's searches and the other way round.
Sharing must change nothing: a warm cache from another architecture gives the same
result, leak breakdown included, as a cold one."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
import mapper
from mapper import search
from sim import gemm_engine, simulate, simulate_einsum
from sim.simulate import best_mapping
from workloads import CascadeBuilder
from yamlspec import SpecError


def _cascade(m, k, n):
    b = CascadeBuilder("w", {"m": m, "k": k, "n": n})
    b.add("C[m,n] = A[m,k] * W[k,n]")
    b.add("S[m,n] = exp(C[m,n])")
    b.add("T[m] = S[m,n]")
    return b.build()


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300),
       st.sampled_from([("PE2D.rows", (8, 64)), ("PE2D.cols", (16, 32)), ("VEC.lanes", (8, 64)),
                        ("GLB.capacity_kib", (128, 512)), ("DRAM.bandwidth_gb_s", (64, 256))]),
       st.sampled_from(["latency", "energy", "edp"]))
def test_a_warm_cache_from_another_architecture_changes_nothing(m, k, n, change, objective):
    field, values = change
    cascade = _cascade(m, k, n)
    a, b = (arch.load().with_changes(**{field: v}) for v in values)
    mapper.CACHE.clear()
    cold = simulate(cascade, b, objective=objective)
    mapper.CACHE.clear()
    simulate(cascade, a, objective=objective)
    warm = simulate(cascade, b, objective=objective)
    assert warm.einsums == cold.einsums
    if field.startswith("PE2D"):  # the vector unit's searches were shared
        assert mapper.CACHE.hits >= 2


def test_a_sweep_over_the_array_shares_the_vector_searches():
    cascade = _cascade(64, 96, 128)
    mapper.CACHE.clear()
    for rows in (8, 16, 32, 64):
        simulate(cascade, arch.load().with_changes(**{"PE2D.rows": rows}))
    assert mapper.CACHE.info()["entries"] == 4 + 2  # a GEMM search per array, vector ones once


def test_a_component_filling_no_role_is_never_shared_across():
    """The door prices PE register files (a pe_storage component) into each result, so
    architectures that differ only there must not share a search."""
    cascade = _cascade(64, 96, 128)
    base = arch.load("fusemax")
    storage = next(c.name for c in base.components if c.class_name == "pe_storage")
    dearer = base.with_changes(**{f"{storage}.rf_read_pj": 15.0})
    mapper.CACHE.clear()
    warm = simulate(cascade, base), simulate(cascade, dearer)
    mapper.CACHE.clear()
    cold = simulate(cascade, dearer)
    assert warm[1].einsums == cold.einsums
    assert cold.energy_j > warm[0].energy_j


def _forget_everything():
    mapper.CACHE.clear()
    for remembered in (gemm_engine._schedule, gemm_engine._timing, mapper.gemm.buffer_need,
                       gemm_engine._tile_cost):
        remembered.cache_clear()


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300),
       st.sampled_from([("GLB.capacity_kib", (512, 128)), ("DRAM.bandwidth_gb_s", (4096, 64)),
                        ("GLB.read_bytes_per_cycle", (64, 8)), ("PE2D.rows", (32, 16))]))
def test_the_engine_remembering_schedules_and_timings_changes_nothing(m, k, n, change):
    """The GEMM engine remembers what neither DRAM nor the buffer's capacity enters, and
    the pipeline's timing per DRAM bandwidth; an architecture differing in any of them,
    run first, must leave another's results as a cold run gives them (cycles, bytes and
    energy priced at its own buffer)."""
    field, values = change
    cascade = _cascade(m, k, n)
    a, b = (arch.load().with_changes(**{field: v}) for v in values)
    _forget_everything()
    cold = simulate(cascade, b)
    _forget_everything()
    simulate(cascade, a)
    mapper.CACHE.clear()  # the searches again, the engine's memory warm
    assert simulate(cascade, b).einsums == cold.einsums
    gemm, mapping = cascade.einsums[0], cold.einsums[0].mapping  # fits a's buffer too
    _forget_everything()
    simulate_einsum(gemm, a, mapping)  # the same mapping: the engine's memory is used
    assert simulate_einsum(gemm, b, mapping) == cold.einsums[0]


def test_shared_search_parts_evict_the_least_recently_used(monkeypatch):
    monkeypatch.setattr(search, "SHARED_LIMIT", 3)
    cache, computed = search.SearchCache(), []

    def part(key):
        return cache.shared(key, lambda: computed.append(key) or key)

    for key in ("a", "b", "c", "a", "d", "a", "b"):  # d evicts b (a was used since)
        assert part(key) == key
    assert computed == ["a", "b", "c", "d", "b"]
    assert list(cache.parts) == ["d", "a", "b"]


def _gemm(m, k, n):
    b = CascadeBuilder("g", {"m": m, "k": k, "n": n})
    b.add("C[m,n] = A[m,k] * W[k,n]")
    return b.build().einsums[0]


def _key(result):
    return result.cycles, result.energy_j


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 1500), st.integers(1, 1500), st.integers(1, 1500),
       st.sampled_from([8, 16, 32]), st.sampled_from([64, 256, 4096]),
       st.integers(4, 12), st.integers(0, 6))
def test_a_search_at_a_larger_buffer_answers_a_smaller_one(m, k, n, side, bandwidth, big,
                                                           smaller):
    """A latency search at a buffer of 2^big KiB answers one 2^smaller KiB less (its
    mappings of least cycles that fit; other prices): the same cycles and energy as a
    search of the smaller buffer alone (the mapping may differ among exact ties)."""
    gemm = _gemm(m, k, n)
    small_kib = 2 ** max(big - smaller, 2)
    machine = arch.load().with_changes(**{"PE2D.rows": side, "PE2D.cols": side,
                                          "DRAM.bandwidth_gb_s": bandwidth})
    large, small = (machine.with_changes(**{"GLB.capacity_kib": kib})
                    for kib in (2 ** big, small_kib))
    mapper.CACHE.clear()
    try:
        cold = best_mapping(gemm, small, "latency")
    except SpecError:  # nothing fits the smaller buffer
        return
    mapper.CACHE.clear()
    best_mapping(gemm, large, "latency")
    warm = best_mapping(gemm, small, "latency")
    assert _key(warm.result) == _key(cold.result)
    assert warm.shared in (None, large.buffer.capacity_bytes)


def test_a_sweep_of_buffers_shares_a_search_and_falls_back_where_it_does_not_fit():
    """GPT-2's FFN GEMM at 64 GB/s: its mappings of least cycles at 32 MiB need 3.9 MiB,
    so they answer 4 MiB, not 2 MiB; there a search of its own runs. Each gives what a
    cold search gives."""
    gemm = _gemm(1024, 768, 3072)
    machine = arch.load().with_changes(**{"DRAM.bandwidth_gb_s": 64})
    mapper.CACHE.clear()
    found = {kib: best_mapping(gemm, machine.with_changes(**{"GLB.capacity_kib": kib}),
                               "latency") for kib in (32768, 4096, 2048)}
    assert found[32768].shared is None and found[4096].shared == 32768 * 1024
    assert found[2048].shared is None
    for kib, warm in found.items():
        mapper.CACHE.clear()
        cold = best_mapping(gemm, machine.with_changes(**{"GLB.capacity_kib": kib}), "latency")
        assert _key(warm.result) == _key(cold.result)


def check_least_cycles_sets(examples: int):
    @settings(max_examples=examples, deadline=None)
    @given(st.integers(1, 10), st.integers(1, 10), st.integers(1, 10), st.sampled_from([2, 4]),
           st.sampled_from([1, 4, 64]), st.sampled_from([1, 4, 64]))
    def check(m, k, n, side, kib, bandwidth):
        least_cycles_set_is_every_mapping_of_least_cycles(m, k, n, side, kib, bandwidth)

    check()


def test_the_least_cycles_set_is_every_mapping_of_least_cycles():
    check_least_cycles_sets(8)


@pytest.mark.slow
def test_the_least_cycles_set_is_every_mapping_of_least_cycles_many():
    check_least_cycles_sets(100)


def least_cycles_set_is_every_mapping_of_least_cycles(m, k, n, side, kib, bandwidth):
    """What a search keeps for smaller buffers is exactly the mappings of least cycles
    in its whole map space (the array's and every sub-array's), found by simulating
    all of them (output-stationary only, to keep them few)."""
    gemm = _gemm(m, k, n)
    machine = arch.load().with_changes(**{"PE2D.rows": side, "PE2D.cols": side,
                                          "PE2D.dataflows": ["os"], "GLB.capacity_kib": kib,
                                          "DRAM.bandwidth_gb_s": bandwidth})
    spaces = [()] + [(array, flow) for array, flow, *_ in
                     mapper.gemm.subarray_bounds(gemm, machine)]
    every = []
    for space in spaces:
        try:
            every += [mapping for _, mapping in
                      mapper.ranked(gemm, machine, "latency", None, *space)]
        except SpecError:
            pass
    if not every:
        return
    cycles = {mapping: simulate_einsum(gemm, machine, mapping).cycles for mapping in every}
    least = min(cycles.values())
    mapper.CACHE.clear()
    found = best_mapping(gemm, machine, "latency")
    [kept] = mapper.CACHE.least_cycles.values()
    assert found.result.cycles == least
    assert ({mapping for _, _, mapping in kept[0].mappings}
            == {mapping for mapping, c in cycles.items() if c == least})
