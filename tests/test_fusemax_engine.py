"""The fused 2D+1D pipeline engine: exact schedule == cycle-by-cycle machine, the
bilinear extrapolation == exact schedule, FuseMax/FLAT invariants (buffers,
utilization, MAC conservation, lower bounds)."""

import pytest
from hypothesis import given, settings, strategies as st

import arch
from mapper.fusion import AttentionShape, fusemax_buffer_bytes, map_fusemax
from sim.fused import simulate_flat, simulate_fusemax
from sim.stream import Op, makespan, run_cycles, run_events


def _random_stream(c, G):
    """FuseMax-shaped stream with random stage cycles: c = (ld, a, c, b, d, wb, extra)."""
    def seg_ops(s, step, steps):
        m1, g = divmod(step, G)
        last = (m1 + 1) * G >= steps
        return [
            Op("LD", "DRAM", c[0] if g == 0 else 0, 1, (("B", 2 * G),)),
            Op("A", "2D", c[1], 1, (("LD", 0),)),
            Op("C", "1D", c[2], 1, (("A", 0), ("C", G))),
            Op("B", "2D", c[3], 1, (("C", 0),), stage=1),
            Op("D", "1D", c[4] + (c[6] if last else 0), 1, (("B", 0), ("D", G)), stage=2),
            Op("WB", "DRAM", c[5] if last else 0, 1, (("D", 0),), stage=3 + 2 * G),
        ]
    return seg_ops


costs = st.tuples(*[st.integers(0, 12)] * 7)


@settings(max_examples=30, deadline=None)
@given(c=costs, G=st.integers(1, 3), n=st.integers(1, 3), j=st.integers(1, 3))
def test_event_schedule_equals_cycle_machine(c, G, n, j):
    seg = _random_stream(c, G)
    steps = j * G
    ops = lambda t: seg(t // steps, t % steps, steps)  # noqa: E731
    span, _ = run_events(ops, n * steps)
    span_c, busy = run_cycles(ops, n * steps)
    assert span == span_c
    # the cycle machine's busy record adds up to every op's work
    assert sum(b.sum() for b in busy.values()) == pytest.approx(
        sum(1 for t in range(n * steps) for op in ops(t) if op.cycles))


@settings(max_examples=30, deadline=None)
@given(c=costs, G=st.integers(1, 3), n=st.integers(1, 9), j=st.integers(1, 9))
def test_extrapolation_equals_exact_schedule(c, G, n, j):
    seg = _random_stream(c, G)
    assert makespan(seg, n, j, period=G, exact_limit=0) == makespan(seg, n, j, period=G,
                                                                    exact_limit=10**9)


@pytest.mark.parametrize("e,heads,seq", [
    (64, 2, 1024), (128, 1, 2048), (64, 1, 3072), (64, 1, 4096),
    pytest.param(64, 2, 16384, marks=pytest.mark.slow),
    pytest.param(128, 3, 8192, marks=pytest.mark.slow)])
def test_fusemax_and_flat_extrapolation_equal_exact(e, heads, seq):
    shape = AttentionShape(1, heads, seq, seq, e)
    for run, a in ((simulate_fusemax, arch.load("fusemax")), (simulate_flat, arch.load("flat"))):
        assert run(shape, a, exact_limit=0).cycles == run(shape, a, exact_limit=10**9).cycles


@pytest.mark.parametrize("strategy", ["fusemax", "flat"])
def test_the_door_runs_a_fused_group_as_the_engine_does(strategy):
    """sim.simulate with a Fused mapping: the attention cascade's shape is read from its
    tensors and the same Result comes back as from the engine itself."""
    import sim
    from mapper import Fused
    from workloads import attention
    a = arch.load(strategy)
    build = attention.one_pass if strategy == "fusemax" else attention.three_pass
    cascade = build(b=2, h=3, p=2048, m=4096, e=64)
    direct = (simulate_fusemax if strategy == "fusemax" else simulate_flat)(
        AttentionShape(2, 3, 2048, 4096, 64), a)
    r = sim.simulate(cascade, a, Fused(strategy))
    assert (r.cycles, r.energy_j, r.macs, r.dram_bytes) == (
        direct.cycles, direct.energy_j, direct.macs, direct.dram_bytes)
    assert r.macs == cascade.macs  # MACs conserved
    assert r.energy_j == pytest.approx(sum(r.energy_breakdown_j.values()), rel=1e-12)
    assert set(r.utilization) == {a.array2d.name, a.array1d.name}
    assert r.workload == cascade.name and r.einsums[0].kind == "fused"
    assert r.to_dict()["einsums"][0]["mapping"]["strategy"] == strategy


def test_a_fused_group_needs_an_attention_cascade():
    import sim
    from mapper import Fused
    from workloads import CascadeBuilder
    from yamlspec import SpecError
    c = CascadeBuilder("gemm", {"m": 4, "k": 4, "n": 4})
    c.add("Z[m,n] = A[m,k] * B[k,n]")
    with pytest.raises(SpecError, match="needs Q"):
        sim.simulate(c.build(), arch.load("fusemax"), Fused("fusemax"))
    with pytest.raises(SpecError, match="no fused-group strategy 'nope'"):
        sim.simulate(c.build(), arch.load("fusemax"), Fused("nope"))


def test_fusemax_buffer_independent_of_sequence_length():
    a = arch.load("fusemax")
    for e in (64, 128):
        needs = {n: map_fusemax(AttentionShape(64, 16, n, n, e), a).buffer_bytes
                 for n in (2**k for k in range(10, 21, 2))}
        assert max(needs.values()) <= a.buffer.capacity_bytes
        # the requirement stops growing once the P tile reaches its cap
        assert needs[2**18] == needs[2**20]
        # and no term of it depends on M
        assert fusemax_buffer_bytes(256, 256, e) == fusemax_buffer_bytes(256, 256, e)


def test_flat_buffer_grows_and_spills():
    from mapper.fusion import flat_candidates
    a = arch.load("flat")
    short = flat_candidates(AttentionShape(1, 1, 4096, 4096, 64), a)
    long = flat_candidates(AttentionShape(1, 1, 2**20, 2**20, 64), a)
    at = lambda cands, r: next(c for c in cands if c.rows == r and not c.kv_resident)  # noqa
    assert at(long, 256).buffer_bytes > at(short, 256).buffer_bytes
    assert at(short, 256).spill_fraction == 0 and at(long, 256).spill_fraction > 0.9


def test_utilization_fusemax_high_flat_low():
    fm, fl = arch.load("fusemax"), arch.load("flat")
    util = {n: simulate_fusemax(AttentionShape(64, 12, n, n, 64), fm).utilization
            for n in (1024, 2**16, 2**20)}
    assert util[2**20]["PE2D"] > 0.97 and util[2**20]["VEC"] > 0.99
    assert util[1024]["PE2D"] < util[2**16]["PE2D"] < util[2**20]["PE2D"] + 1e-9
    flat = {n: simulate_flat(AttentionShape(64, 12, n, n, 64), fl).utilization["PE2D"]
            for n in (1024, 2**20)}
    assert flat[2**20] <= flat[1024] * 1.001 and flat[1024] < 0.2  # never rises; 1D-bound


@pytest.mark.parametrize("seq", [1024, 2**20])
def test_macs_conserved_and_lower_bounds(seq):
    for e, heads in ((64, 12), (128, 16)):
        shape = AttentionShape(64, heads, seq, seq, e)
        for run, name in ((simulate_fusemax, "fusemax"), (simulate_flat, "flat")):
            a = arch.load(name)
            r = run(shape, a)
            assert r.macs == 2 * 64 * heads * seq * seq * e
            assert r.cycles >= r.macs / a.array2d.pes
            compulsory = 4 * 64 * heads * seq * e * 2  # Q, K, V in, output out (fp16)
            assert r.dram_bytes >= compulsory
            assert r.cycles >= r.dram_bytes / a.dram_bytes_per_cycle
            assert all(0 < u <= 1 + 1e-12 for u in r.utilization.values())


@pytest.mark.slow
def test_quick_experiment_runs(tmp_path):
    from experiments.fusemax import run
    headline = run.run(tmp_path, quick=True)
    assert set(headline) == {"attention_speedup_vs_flat", "attention_energy_ratio_vs_flat",
                             "e2e_speedup_vs_flat", "e2e_energy_ratio_vs_flat"}
    assert all(v["ours"] > 0 for v in headline.values())
    for name in ("results.csv", "headline_table.md", "fig6_utilization.png",
                 "utilization_over_time.svg"):
        assert (tmp_path / name).exists()


# ------------------------------------------------------- PE-local energy (sim/pe_energy.py)

def _pe_counts(result, arch_, unit):
    """RF reads / writes and network words on `unit`, recovered from the energy keys."""
    from sim.pe_energy import storage
    st = storage(arch_)
    e = result.einsums[0].energy_pj
    return (e.get(f"{unit}_RF.read", 0) / st.rf_read_pj, e.get(f"{unit}_RF.write", 0) / st.rf_write_pj,
            e.get(f"{unit}_NoC.word", 0) / st.noc_pj_per_word)


def test_pe_rules_on_an_output_stationary_gemm():
    """A MAC reads 2 operands + its accumulator and writes it back; both operands arrive
    from a neighbour (RF write + delivery); each output is read once and delivered out."""
    from sim.pe_energy import PECounter
    from workloads import attention
    a = arch.load("flat")
    qk = attention.three_pass(p=8, m=16, e=4).einsums[0]
    pc = PECounter(a)
    pc.gemm_os("PE2D", qk)
    macs, outs = 8 * 16 * 4, 8 * 16
    assert pc.counts["PE2D"] == {"rf_read": 3 * macs + outs, "rf_write": macs + 2 * macs,
                                 "noc": 2 * macs + outs}
    assert pc.energy_pj()["PE2D_NoC.word"] == (2 * macs + outs) * 3.0


@pytest.mark.parametrize("e,seq", [(64, 1024), (128, 2048)])
def test_fusemax_pe_counts_per_tile(e, seq):
    """FuseMax's 2D array: 2 deliveries per MAC (BQK's Q and K; SLNV's BV and partial
    sum) plus, per score element, one partial max (LM), one broadcast RM (SLN) and one
    partial sum (SLD), less the row starts of the two reductions."""
    a = arch.load("fusemax")
    shape = AttentionShape(1, 1, seq, seq, e)
    r = simulate_fusemax(shape, a)
    tiles = r.meta["m1"] * (seq // r.meta["p_tile"]) * r.meta["groups_per_tile"]
    pg, m0 = 256, 256
    scores = pg * m0
    _, _, noc = _pe_counts(r, a, "PE2D")
    assert noc == tiles * (2 * 2 * scores * e + 3 * scores - 2 * pg)
    assert noc == 2 * r.macs + tiles * (3 * scores - 2 * pg)


def test_flat_pe_local_equals_unfused_rules_on_the_same_cascade():
    """FLAT and Unfused run the same 3-pass Einsums with every operand from the buffer, so
    the shared rules give them the same register and network counts for one head."""
    from sim.pe_energy import unfused_energy_pj
    from workloads import attention
    a = arch.load("flat")
    shape = AttentionShape(1, 1, 2048, 2048, 64)
    r = simulate_flat(shape, a)
    flat = {k: v for k, v in r.einsums[0].energy_pj.items() if "_RF." in k or "_NoC." in k}
    unf = unfused_energy_pj(attention.three_pass(p=2048, m=2048, e=64), a)
    assert flat.keys() == unf.keys()
    for k in flat:
        assert flat[k] == pytest.approx(unf[k], rel=1e-12)


def test_fusemax_moves_fewer_words_per_score_than_flat():
    """FuseMax keeps scores in the 2D PEs; FLAT drains them and its softmax reads each
    score 4 times and writes 2 intermediates through the lanes: fewer deliveries for
    FuseMax with the same MACs."""
    shape = AttentionShape(1, 1, 4096, 4096, 64)
    fm, fl = simulate_fusemax(shape, arch.load("fusemax")), simulate_flat(shape, arch.load("flat"))
    assert fm.macs == fl.macs
    noc = {n: sum(v for k, v in r.einsums[0].energy_pj.items() if "_NoC." in k) / 3.0
           for n, r in (("fm", fm), ("fl", fl))}
    scores = 4096 * 4096
    assert noc["fl"] - 2 * fl.macs == pytest.approx(7 * scores, rel=0.01)  # drain + 4 in + 2 out
    # 2D: 3 per score; 1D: RNV_in in, SLNV in, RNV out (P x E each per tile of M0 = 256
    # keys, 3 E / M0 per score) plus the per-row running max and sum (< 1%)
    assert noc["fm"] - 2 * fm.macs == pytest.approx((3 + 3 * 64 / 256) * scores, rel=0.01)
    assert noc["fm"] < noc["fl"]


def test_no_pe_storage_component_charges_nothing():
    a = arch.load("fusemax")
    bare = arch.from_dict({**a.to_dict(), "components": [
        c for c in a.to_dict()["components"] if c["class"] != "pe_storage"]})
    r = simulate_fusemax(AttentionShape(1, 1, 1024, 1024, 64), bare)
    assert not any("_RF." in k or "_NoC." in k for k in r.einsums[0].energy_pj)
    full = simulate_fusemax(AttentionShape(1, 1, 1024, 1024, 64), a)
    assert full.energy_j > r.energy_j and full.cycles == r.cycles


def test_flat_spill_crosses_dram_once_each_way_per_pass_boundary():
    """A spilled score goes out and back at the two pass boundaries of the 3-pass
    cascade (4 DRAM touches, 8 bytes); Q, K/V and the output are the rest."""
    from mapper.fusion import FlatMapping
    a = arch.load("flat")
    shape = AttentionShape(1, 2, 1024, 4096, 64)
    rows, frac = 256, 0.25
    r = simulate_flat(shape, a, FlatMapping(rows, False, frac, 0))
    blocks = 2 * 1024 // rows
    base = blocks * 2 * rows * 64 * 2 + blocks * 2 * 4096 * 64 * 2  # Q + O, K/V per block
    assert r.dram_bytes == pytest.approx(base + blocks * frac * rows * 4096 * 2 * 4)


@pytest.mark.parametrize("seq", [1024, 8192])
def test_flat_mapping_choice_costs_no_latency(seq):
    """FLAT's mapping is chosen by energy x delay: slower than the fastest candidate by
    less than one row block of softmax (pipeline fill), and no more energy."""
    from mapper.fusion import flat_candidates
    a = arch.load("flat")
    shape = AttentionShape(2, 2, seq, seq, 64)
    every = [simulate_flat(shape, a, c) for c in flat_candidates(shape, a)]
    fastest = min(every, key=lambda r: (r.cycles, r.energy_j))
    chosen = simulate_flat(shape, a)
    assert chosen.cycles - fastest.cycles < chosen.meta["block_cycles"]["SM"]
    assert chosen.cycles <= fastest.cycles * 1.005  # fill: 0.16% at 4 heads of 1K
    assert chosen.energy_j <= fastest.energy_j
    assert chosen.cycles * chosen.energy_j == min(r.cycles * r.energy_j for r in every)
