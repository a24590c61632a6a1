"""Searches are shared by architectures equal in what an engine reads (issue 18): a
sweep over the 2D array reuses the vector unit's searches and the other way round.
Sharing must change nothing: a warm cache from another architecture gives the same
result, leak breakdown included, as a cold one."""

from hypothesis import given, settings
from hypothesis import strategies as st

import arch
import mapper
from mapper import search
from sim import gemm_engine, simulate, simulate_einsum
from workloads import CascadeBuilder


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
    for remembered in (gemm_engine._schedule, gemm_engine._timing, gemm_engine._buffer_need,
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
