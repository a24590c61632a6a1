"""DESIGN.md's invariants on simulated results: MAC conservation, lower bounds,
energy = sum of its breakdown, and bigger arrays never slow a compute-bound GEMM."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
import workloads
from conftest import REPO
from sim import simulate
from workloads import CascadeBuilder

SHIPPED = ["gpt2", "gpt2-decode", "bert-base", "attention"]


@pytest.fixture(scope="module")
def results():
    a = arch.load()
    return {name: (workloads.load(REPO / "workloads" / f"{name}.yaml"), a)
            for name in SHIPPED} | {}


@pytest.fixture(scope="module")
def simulated(results):
    return {name: (c, a, simulate(c, a)) for name, (c, a) in results.items()}


@pytest.mark.parametrize("name", SHIPPED)
def test_macs_conserved(simulated, name):
    cascade, _, result = simulated[name]
    assert result.macs == cascade.macs
    for e, r in zip(cascade.einsums, result.einsums):
        assert r.macs == e.macs, e.name


@pytest.mark.parametrize("name", SHIPPED)
def test_lower_bounds(simulated, name):
    cascade, a, result = simulated[name]
    assert result.cycles >= cascade.macs / a.array2d.pes
    assert result.cycles >= cascade.compulsory_dram_bytes / a.dram_bytes_per_cycle
    for e, r in zip(cascade.einsums, result.einsums):
        own = sum(t.tensor.bytes for t in e.inputs) + e.output.tensor.bytes
        assert r.cycles >= e.macs / a.array2d.pes, e.name
        assert r.cycles >= own / a.dram_bytes_per_cycle, e.name
        assert r.dram_read_bytes + r.dram_write_bytes >= own, e.name


@pytest.mark.parametrize("name", SHIPPED)
def test_energy_is_the_sum_of_its_breakdown(simulated, name):
    _, _, result = simulated[name]
    d = result.to_dict()
    assert math.isclose(d["energy_j"], sum(d["energy_breakdown"].values()), rel_tol=1e-12)
    assert math.isclose(d["energy_j"], sum(d["energy_by_action"].values()), rel_tol=1e-12)
    assert math.isclose(d["energy_j"], sum(e["energy_j"] for e in d["einsums"]), rel_tol=1e-9)
    assert all(v > 0 for v in d["energy_breakdown"].values())


@pytest.mark.parametrize("name", SHIPPED)
def test_utilization_is_a_fraction(simulated, name):
    _, _, result = simulated[name]
    assert all(0 < u <= 1 for u in result.utilization.values())


def test_dram_bound_einsum_is_at_its_bound():
    """A GEMV on a slow DRAM streams its weights once, overlapped with compute: within
    2% of the DRAM-bandwidth lower bound. (On the default 256 GB/s preset a GEMV is
    also compute-bound: an array edge takes 128 weights per cycle, as fast as DRAM.)"""
    a = arch.load().with_changes(**{"DRAM.bandwidth_gb_s": 64})
    builder = CascadeBuilder("gemv", {"m": 1, "k": 4096, "n": 4096})
    builder.add("Y[m,n] = X[m,k] * W[k,n]")
    r = simulate(builder.build(), a)
    bound = (4096 * 4096 * 2) / a.dram_bytes_per_cycle
    assert bound <= r.cycles <= 1.02 * bound


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(2, 16))
def test_bigger_array_never_slows_compute_bound_gemm(mi, ni, ki):
    """GEMMs whose sizes fill the arrays, with a buffer and DRAM generous enough that
    compute bounds them."""
    m, n, k = 128 * mi, 128 * ni, 64 * ki
    builder = CascadeBuilder("g", {"m": m, "k": k, "n": n})
    builder.add("C[m,n] = A[m,k] * B[k,n]")
    cascade = builder.build()
    base = arch.load().with_changes(**{"DRAM.bandwidth_gb_s": 1e5, "GLB.capacity_kib": 1 << 16,
                                       "GLB.read_bytes_per_cycle": 1 << 14})
    cycles = [simulate(cascade, base.with_changes(**{"PE2D.rows": s, "PE2D.cols": s})).cycles
              for s in (16, 32, 64, 128)]
    assert cycles == sorted(cycles, reverse=True), cycles
