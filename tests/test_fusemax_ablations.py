"""The FLAT softmax as the paper's evaluation charged it (op_chains), the consistent-cost
FLAT (flat-exp6), and the paper's ablations +Cascade and +Architecture as fused-group
strategies: cycle counts derived by hand from the artifact's latency formulas, exact ==
extrapolated schedules, and the Result invariants."""

import pytest

import arch
import sim
from mapper import Fused
from mapper.fusion import AttentionShape
from mapper.vector import cycles_per_point
from sim.fused import simulate_fusemax
from workloads import CascadeBuilder, attention


def _softmax_cycles(name):
    a = arch.load(name)
    casc = attention.three_pass(b=1, h=1, p=4, m=4, e=2)
    return {e.name: cycles_per_point(e, a) for e in casc.einsums if not e.is_contraction}


def test_flat_softmax_costs_four_cycles_per_score_exp6_ten():
    assert _softmax_cycles("flat") == {"GM": 1, "SN": 1, "SD": 1, "A": 1}
    assert _softmax_cycles("unfused") == {"GM": 1, "SN": 1, "SD": 1, "A": 1}
    assert _softmax_cycles("flat-exp6") == {"GM": 1, "SN": 7, "SD": 1, "A": 1}
    assert _softmax_cycles("fusemax") == {"GM": 1, "SN": 7, "SD": 1, "A": 1}


def test_op_chain_frees_only_an_op_feeding_its_consumer():
    unit = arch.load("flat").array1d  # exp 1 cycle, subtract chained into exp
    c = CascadeBuilder("w", {"m": 4})
    for text in ("A[m] = exp(X[m] - Y[m])", "B[m] = exp(X[m]) - Y[m]", "C[m] = X[m] - Y[m]"):
        c.add(text)
    w = c.build()
    cycles = {e.name: unit.expr_cycles(e.expr) for e in w.einsums}
    assert cycles == {"A": 1, "B": 2, "C": 1}
    plain = unit.model_copy(update={"op_chains": {}})
    assert plain.expr_cycles(w.einsums[0].expr) == 2


def _tile_period(variant, e, cols=256):
    """Cycles per (256 queries x 256 keys) tile at long sequences, from the artifact's
    formulas (reference/fusemax.md; flat_pe_proposal.py, stall_proposal.py): 2D and 1D
    cycles of each Einsum per tile, exp = subtract 1 + exp."""
    f = e
    if variant == "architecture":  # FuseMax exp 7; stall LM x columns; no overlap
        return max(e + 1, 1) + cols * 1 + 1 + max(7 + 1, 7 + 1) + max(f, f + f)
    if variant == "cascade":  # 1D: LM, SLN (2), SLD per score; RM, PRM (2), SPD, RD, SPNV, RNV
        return max(e + f, 256 * (1 + 2 + 1) + 1 + 2 + 1 + 1 + f + f)
    return max(e + 1, 1 + f) + 1 + max(8, 8) + max(f, f)  # binding


@pytest.mark.parametrize("variant,name", [("binding", "fusemax"), ("architecture", "fusemax"),
                                          ("cascade", "flat")])
@pytest.mark.parametrize("e", [64, 128])
def test_ablation_tile_period_matches_artifact_formula(variant, name, e):
    a = arch.load(name)
    if variant == "cascade":
        a = a.with_changes(**{"VEC.op_chains": {}})
    seq = 65536
    r = simulate_fusemax(AttentionShape(1, 1, seq, seq, e), a, variant=variant)
    tiles = (seq // 256) ** 2
    assert r.cycles / tiles == pytest.approx(_tile_period(variant, e), rel=0.01)
    two_d = (2 * e + 9) if variant != "cascade" else 2 * e
    assert r.utilization[a.array2d.name] == pytest.approx(two_d / _tile_period(variant, e),
                                                          rel=0.01)


@pytest.mark.parametrize("variant", ["architecture", "cascade"])
@pytest.mark.parametrize("heads,seq", [(2, 1024), (1, 3072)])
def test_ablation_extrapolation_equals_exact(variant, heads, seq):
    a = arch.load("fusemax")
    shape = AttentionShape(1, heads, seq, seq, 64)
    fast = simulate_fusemax(shape, a, exact_limit=0, variant=variant)
    exact = simulate_fusemax(shape, a, exact_limit=10**9, variant=variant)
    assert fast.cycles == exact.cycles


@pytest.mark.parametrize("strategy,name", [("fusemax-cascade", "flat"),
                                           ("fusemax-architecture", "fusemax")])
def test_ablations_through_the_door_keep_invariants(strategy, name):
    a = arch.load(name)
    b, h, s, e = 2, 3, 2048, 64
    r = sim.simulate(attention.one_pass(b=b, h=h, p=s, m=s, e=e), a, Fused(strategy))
    assert r.macs == 2 * b * h * s * s * e  # BQK and SLNV
    assert r.cycles >= r.macs / a.array2d.pes
    assert r.cycles >= r.compulsory_dram_bytes / a.dram_bytes_per_cycle
    assert r.energy_j == pytest.approx(sum(r.energy_breakdown_j.values()))
    assert all(0 < u <= 1 for u in r.utilization.values())
    fm = sim.simulate(attention.one_pass(b=b, h=h, p=s, m=s, e=e), arch.load("fusemax"),
                      Fused("fusemax"))
    assert r.cycles > fm.cycles  # each ablation lacks part of FuseMax


def test_unfused_softmax_rows_is_bound_by_its_parts():
    """The paper's Unfused: QK and AV alone through DRAM (each at least its 2 bytes per
    score over DRAM), then the softmax on the lanes (4 cycles per score on the 'unfused'
    preset) with QK read and A written once; the three one after another."""
    a = arch.load("unfused")
    s, e = 4096, 64
    r = sim.simulate(attention.three_pass(b=1, h=1, p=s, m=s, e=e), a, Fused("softmax-rows"))
    names = [x.name for x in r.einsums]
    assert names == ["QK", "softmax(GM,SN,SD,A)", "AV"]
    scores = s * s
    per_gemm = 2 * scores / a.dram_bytes_per_cycle
    soft = r.einsums[1]
    assert soft.compute_cycles == scores // a.array1d.lanes * 4 + a.array1d.pipeline_depth
    assert soft.dram_read_bytes == soft.dram_write_bytes == 2 * scores
    assert all(x.cycles >= per_gemm for x in (r.einsums[0], r.einsums[2]))
    # at most the long-sequence limit, 1D busy / (softmax + two GEMMs at their DRAM
    # bound), and near it (Q, K, V reads and the GEMM engine's fill are the rest)
    limit = (4 / 256) / (4 / 256 + 2 * 2 / a.dram_bytes_per_cycle)
    assert 0.9 * limit <= r.utilization[a.array1d.name] <= limit
    assert r.energy_j == pytest.approx(sum(r.energy_breakdown_j.values()))
    assert r.macs == 2 * scores * e
