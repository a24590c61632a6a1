"""Searches are shared by architectures equal in what an engine reads (issue 18): a
sweep over the 2D array reuses the vector unit's searches and the other way round.
Sharing must change nothing: a warm cache from another architecture gives the same
result, leak breakdown included, as a cold one."""

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
import mapper
from mapper import search
from sim import gemm_engine, simulate, simulate_einsum
from sim.simulate import OBJECTIVE_KEYS, best_mapping
from workloads import CascadeBuilder
from yamlspec import SpecError

simulate_module = sys.modules["sim.simulate"]  # `sim.simulate` is also the function


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
       st.sampled_from([8, 16, 32]), st.sampled_from([64, 256, 4096]), st.integers(4, 12))
def test_a_search_at_a_larger_buffer_answers_a_smaller_one(m, k, n, side, bandwidth, big):
    """A latency search at a buffer of 2^big KiB keeps its mappings of least cycles. A
    buffer just big enough for the smallest of them, with other prices, is answered from
    them; one a byte smaller is searched on its own. Either gives the cycles and energy
    of a search of that buffer alone, and of the search that stops at the first settled
    bound (mapper.OBJECTIVE_SETTLED, the rule before; its energy to float rounding)."""
    gemm = _gemm(m, k, n)
    machine = arch.load().with_changes(**{"PE2D.rows": side, "PE2D.cols": side,
                                          "DRAM.bandwidth_gb_s": bandwidth})
    large = machine.with_changes(**{"GLB.capacity_kib": 2 ** big})
    mapper.CACHE.clear()
    best_mapping(gemm, large, "latency")
    [[kept]] = mapper.CACHE.least_cycles.values()
    need = min(need for need, _, _ in kept.mappings)
    for capacity, shared in ((need, large.buffer.capacity_bytes), (need - 1, None)):
        small = large.with_changes(**{"GLB.capacity_kib": capacity / 1024,
                                      "GLB.read_pj_per_byte": 7.0, "GLB.source": "a test"})
        try:
            warm = best_mapping(gemm, small, "latency")
        except SpecError:  # nothing fits a byte less
            assert shared is None
            continue
        assert warm.shared == shared
        mapper.CACHE.clear()
        cold = best_mapping(gemm, small, "latency")
        assert _key(warm.result) == _key(cold.result)
        engine = simulate_module._engine(small, small.array2d)
        before = simulate_module._search(
            gemm, small, engine, mapper.SearchOptions(), "latency", OBJECTIVE_KEYS["latency"],
            mapper.OBJECTIVE_BOUNDS["latency"], 1, mapper.OBJECTIVE_SETTLED["latency"])
        assert before.result.cycles == cold.result.cycles
        assert before.result.energy_j == pytest.approx(cold.result.energy_j, rel=1e-9)
        mapper.CACHE.clear()
        best_mapping(gemm, large, "latency")


def test_a_search_is_shared_only_by_buffers_equal_in_what_times_it():
    """Prices and the capacity aside, the architectures must agree: another DRAM
    bandwidth, buffer port or clock is searched on its own."""
    gemm = _gemm(512, 768, 768)
    base = arch.load().with_changes(**{"GLB.capacity_kib": 32768})
    mapper.CACHE.clear()
    best_mapping(gemm, base, "latency")
    smaller = {"GLB.capacity_kib": 16384}
    for change, shared in (({}, True), ({"GLB.write_pj_per_byte": 50.0, "GLB.source": "a test"}, True),
                           ({"DRAM.energy_pj_per_bit": 1.0}, True),
                           ({"DRAM.bandwidth_gb_s": 512}, False),
                           ({"GLB.read_bytes_per_cycle": 512}, False),
                           ({"clock_ghz": 2.0}, False)):
        other = base.with_changes(**smaller, **change)
        assert (best_mapping(gemm, other, "latency").shared is not None) == shared, change


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
