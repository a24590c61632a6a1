"""Fused Einsum chains on memory hierarchies (mapper/hierarchy_fusion.py,
sim/hierarchy_fusion.py): the counts a resident intermediate saves, worked out by hand;
the cascade's choice against every split of its map space; never worse than unfused;
the invariants; and fused mappings saved, given back and refused when wrong."""

import itertools
import json
import math

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arch
import mapper
import workloads
from arch.hierarchy import without_fusion
from mapper.gemm import GemmProblem
from mapper.hierarchy import candidates, fits, held as held_tiles_of, tile_bytes
from mapper.hierarchy_fusion import (holds_whole, piece_counts, piece_problem, readers,
                                     resident_operands, residents, split_ranks, splits)
from mapper.mapping import FusedStep, HierarchyMapping, LevelMapping
from sim import simulate
from sim.hierarchy import Hierarchy, count, evaluate, vector_einsum
from mapper.hierarchy_fusion import steps
from sim.hierarchy_fusion import ADDITIVE, narrowed
from sim.simulate import OBJECTIVE_KEYS
from yamlspec import SpecError

ARCH = """architecture:
  name: small-fused
  clock_ghz: 1.0
  technology_nm: 7
  leakage: false
  components:
    - {{name: DRAM, class: dram, bandwidth_gb_s: {dram_bw}, energy_pj_per_bit: 7.03, source: test}}
    - {{name: GLB, class: memory, capacity_kib: {glb_kib}, read_bytes_per_cycle: 64,
       write_bytes_per_cycle: 32, read_pj_per_byte: 1.5, write_pj_per_byte: 1.9,
       double_buffered: false, source: test}}
    - {{name: LB, class: memory, instances: 2, capacity_kib: 1, read_pj_per_byte: 0.2,
       write_pj_per_byte: 0.25, keep: [input, output], may_keep: [input, output], source: test}}
    - {{name: PE, class: array2d, rows: 4, cols: 4, formats: [int8], dataflows: [ws],
       mac_pj: {{int8: 0.084}}, pe_area_um2: 850, source: test}}
    - {{name: VEC, class: array1d, lanes: 4, formats: [int8], op_pj: {{default: 0.5}},
       lane_area_um2: 100, source: test}}
"""
# int8 workloads over ranks m, k, n, j, reading A[m,k] and weights W1[k,n], W2, W3[n,j]
WORKLOAD = """workload:
  name: test
  format: int8
  ranks: {{m: {M}, k: {K}, n: {N}, j: {J}}}
  inputs:
    A: {{ranks: [m, k]}}
    W1: {{ranks: [k, n]}}
    W2: {{ranks: [n, j]}}
    W3: {{ranks: [n, j]}}
  einsums:
"""


def workload(*einsums: str) -> str:
    return WORKLOAD + "".join(f"    - {e}\n" for e in einsums)


# a GEMM, an element-wise step on the vector unit, another GEMM: one chain
CHAIN = workload("T[m,n] = A[m,k] * W1[k,n]", "S[m,n] = exp(T[m,n])",
                 "O[m,j] = S[m,n] * W2[n,j]")
# one intermediate read by two GEMMs (as a layer's input feeds its V, K and Q projections)
FORK = workload("X[m,n] = A[m,k] * W1[k,n]", "P[m,j] = X[m,n] * W2[n,j]",
                "Q[m,j] = X[m,n] * W3[n,j]")
# T read again after two vector steps: held across the second
SKIP = workload("T[m,n] = A[m,k] * W1[k,n]", "S[m,n] = exp(T[m,n])", "U[m,n] = exp(S[m,n])",
                "O[m,n] = U[m,n] * T[m,n]")
PAIR = workload("T[m,n] = A[m,k] * W1[k,n]", "O[m,j] = T[m,n] * W2[n,j]")


def machine(write_yaml, glb_kib=64, dram_bw=16):
    return arch.load(write_yaml(ARCH.format(glb_kib=glb_kib, dram_bw=dram_bw), "arch.yaml"))


def load(write_yaml, text=CHAIN, M=16, K=8, N=12, J=8):
    return workloads.load(write_yaml(text.format(M=M, K=K, N=N, J=J), "chain.yaml"))


def whole(glb_keep, tiles, lb_tiles):
    return HierarchyMapping("ws", (LevelMapping("GLB", glb_keep, tiles, "BMNK"),
                                   LevelMapping("LB", ("A", "O"), lb_tiles, "BMNK", spatial="N")))


def test_a_resident_intermediate_saves_exactly_its_dram_round_trip(write_yaml):
    """Same mappings, fused or not: the producer no longer drains T from GLB to DRAM and
    the consumer no longer fills GLB with T from DRAM; nothing else moves."""
    h = Hierarchy.of(machine(write_yaml))
    t, o = load(write_yaml, PAIR, M=16, K=8, N=12, J=8).einsums
    pt, po = GemmProblem.of(t), GemmProblem.of(o)
    mt = whole(("A", "W", "O"), (1, 16, 12, 8), (1, 16, 6, 8))
    mo = whole(("A", "W", "O"), (1, 16, 8, 12), (1, 16, 4, 12))
    tb = 16 * 12  # T, int8
    for p, m, resident in ((pt, mt, frozenset("O")), (po, mo, frozenset("A"))):
        plain = count(p, h, m, ("test", ""))
        fused = count(p, h, m, ("test", ""), resident=resident)
        saved = {k: plain.reads[k] - fused.reads[k] for k in plain.reads}
        saved_w = {k: plain.writes[k] - fused.writes[k] for k in plain.writes}
        if resident == {"O"}:
            assert saved == {"DRAM": 0, "GLB": tb, "LB": 0}
            assert saved_w == {"DRAM": tb, "GLB": 0, "LB": 0}
        else:
            assert saved == {"DRAM": tb, "GLB": 0, "LB": 0}
            assert saved_w == {"DRAM": 0, "GLB": tb, "LB": 0}
    # a mapping that does not hold T whole in GLB cannot run fused
    tiled = whole(("A", "W", "O"), (1, 8, 12, 8), (1, 8, 6, 8))
    assert not holds_whole(tiled.levels[0], pt, frozenset("O"))
    with pytest.raises(SpecError, match="holds the output whole"):
        evaluate(t, h, tiled, pt, frozenset("O"))


def test_the_space_follows_ranks_through_the_block(write_yaml):
    c = load(write_yaml)
    es, read_by = c.einsums, readers(c)
    assert residents(es, read_by, 0, 2) == {"T"} and residents(es, read_by, 0, 3) == {"T", "S"}
    # m and n survive T -> S; n is reduced by the second GEMM, so only m splits all three
    assert split_ranks(es[:2], {"T"}) == [(("m", "m"), 16), (("n", "n"), 12)]
    assert split_ranks(es, {"T", "S"}) == [(("m", "m", "m"), 16)]
    assert piece_counts(16) == [1, 2, 4, 8, 16] and piece_counts(12) == [1, 2, 4]
    space = splits(es, {"T", "S"})
    assert space[0] == ((None, None, None), (1, 1, 1))  # all whole
    assert (("m", "m", "m"), (16, 16, 16)) in space  # all split
    assert ((None, "m", "m"), (1, 2, 2)) in space  # T whole, then S and O in pieces
    assert ((None, "n", "n"), (1, 2, 2)) not in space  # O reduces n
    assert piece_problem(es[2], "m", 4).shape == (("B", 1), ("M", 4), ("N", 8), ("K", 12))
    fork = load(write_yaml, FORK).einsums
    read_by = readers(load(write_yaml, FORK))
    assert residents(fork, read_by, 0, 2) is None  # Q reads X too: X must reach DRAM
    assert residents(fork, read_by, 0, 3) == {"X"}
    # X is read by P, and held across P for Q: P's step knows it reads it
    s = steps(fork, frozenset({"X"}), ("m", "m", "m"), (2, 2, 2))
    assert [x.reads for x in s] == [frozenset(), {"X"}, {"X"}]
    assert [x.keeps_output for x in s] == [True, False, False]
    assert [x.passing for x in s] == [0, 0, 0]
    # X made whole, P and Q in two pieces: each piece reads half of X, all of it is held
    s = steps(fork, frozenset({"X"}), (None, "m", "m"), (1, 2, 2))
    assert [x.passing for x in s] == [0, 16 * 12 // 2, 16 * 12 // 2]


def test_a_resident_held_across_an_einsum_takes_its_room(write_yaml):
    """T is held while U runs (O reads it after U): U's step has T's slice less room."""
    c = load(write_yaml, SKIP)
    es = c.einsums
    resident = residents(es, readers(c), 0, 4)
    assert resident == {"T", "S", "U"}
    s = steps(es, resident, ("m",) * 4, (4,) * 4)
    assert [x.passing for x in s] == [0, 0, 4 * 12, 0]  # a 4 x 12 slice of T at U
    h = Hierarchy.of(machine(write_yaml, glb_kib=0.25))
    assert narrowed(h, 100).memories[0].capacity_bytes == 256 - 100
    assert narrowed(h, 256) is None


def _exhaustive_piece(e, h, step, objective):
    """The best of every candidate of one Einsum's piece (no search shortcut)."""
    h = narrowed(h, step.passing)
    if h is None:
        return None
    if not e.is_contraction:
        return vector_einsum(e, h, step.rank, step.pieces, step.reads, step.keeps_output)
    p = piece_problem(e, step.rank, step.pieces)
    resident = resident_operands(e, step)
    found = [evaluate(e, h, m, p, resident) for m in candidates(
        p, h.memories, h.array.dataflows, h.array.rows, h.array.cols)
        if holds_whole(m.levels[0], p, resident)]
    return min(found, key=OBJECTIVE_KEYS[objective], default=None)


def _exhaustive_alone(e, h, objective):
    if not e.is_contraction:
        return vector_einsum(e, h)
    p = GemmProblem.of(e)
    return min((evaluate(e, h, m) for m in candidates(p, h.memories, h.array.dataflows,
                                                      h.array.rows, h.array.cols)),
               key=OBJECTIVE_KEYS[objective])


def _exhaustive_cascade(cascade, h, objective):
    """The least additive key over every split of the chain into blocks, every rank and
    piece count of each fused block, every mapping of each piece."""
    key = ADDITIVE[objective]
    es, read_by = cascade.einsums, readers(cascade)
    best = None
    for cuts in itertools.product([False, True], repeat=len(es) - 1):
        bounds = [0] + [i + 1 for i, cut in enumerate(cuts) if cut] + [len(es)]
        blocks = []
        for a, b in zip(bounds, bounds[1:]):
            chain = es[a:b]
            if len(chain) == 1:
                r = _exhaustive_alone(chain[0], h, objective)
                blocks.append([key(r.cycles, r.energy_j)])
                continue
            options = []
            resident = residents(es, read_by, a, b)
            for ranks, n in splits(chain, resident) if resident else []:
                got = [_exhaustive_piece(e, h, s, objective)
                       for e, s in zip(chain, steps(chain, resident, ranks, n))]
                if None not in got:
                    options.append(tuple(map(sum, zip(*(key(k * r.cycles, k * r.energy_j)
                                                        for k, r in zip(n, got))))))
            if not options:
                break
            blocks.append(options)
        else:
            for choice in itertools.product(*blocks):
                total = tuple(map(sum, zip(*choice)))
                best = total if best is None or total < best else best
    return best


@pytest.mark.parametrize("objective", ["latency", "energy"])
@pytest.mark.parametrize("text, M, glb_kib", [(CHAIN, 16, 64), (CHAIN, 16, 0.2),
                                              (CHAIN, 64, 0.5), (FORK, 64, 0.5),
                                              (SKIP, 64, 0.25)])
def test_the_cascade_choice_is_the_best_of_its_space(write_yaml, objective, text, M, glb_kib):
    a = machine(write_yaml, glb_kib=glb_kib)
    c = load(write_yaml, text, M=M)
    got = simulate(c, a, objective=objective)
    want = _exhaustive_cascade(c, Hierarchy.of(a), objective)
    mine = ADDITIVE[objective](got.cycles, got.energy_j)
    assert mine[0] == pytest.approx(want[0], rel=1e-12)
    assert mine[1] == pytest.approx(want[1], rel=1e-9)


def test_small_glb_fuses_in_pieces_and_capacities_hold(write_yaml):
    """In 512 bytes the 768-byte T and S fit only in slices: for energy, the whole chain
    runs in 4 pieces of 16 rows (W1 and W2 fetched 4 times: 384 + 384 bytes more, T and
    S never written: 4 x 768 bytes less)."""
    a = machine(write_yaml, glb_kib=0.5)
    c = load(write_yaml, M=64)
    r = simulate(c, a, objective="energy")
    plain = simulate(c, without_fusion(a), objective="energy")
    assert r.meta["fused_einsums"] == 3
    assert {x.mapping.pieces for x in r.einsums} == {4}
    assert plain.dram_bytes - r.dram_bytes == 4 * 768 - 3 * (96 + 96)
    _check_capacities(r, c, Hierarchy.of(a))


def _check_capacities(result, cascade, h):
    """Every level below the top fits each piece's tiles; and the top level, replayed
    Einsum by Einsum and piece by piece, holds each Einsum's own tiles plus every other
    resident data still to be read (independently of steps())."""
    by_name = {r.name: r for r in result.einsums}
    es = cascade.einsums
    blocks: dict[str, list[int]] = {}
    for i, e in enumerate(es):
        m = by_name[e.name].mapping
        if isinstance(m, FusedStep):
            blocks.setdefault(m.block, []).append(i)
    for idx in blocks.values():
        _replay_block([es[i] for i in idx], [by_name[es[i].name].mapping for i in idx],
                      readers(cascade), idx, h)


def _replay_block(block, maps, read_by, idx, h):
    n = max(m.pieces for m in maps)
    split = [i for i, m in enumerate(maps) if m.pieces > 1]
    order = ([(i, None) for i in range(len(block)) if not split or i < split[0]]
             + [(i, p) for p in range(n) for i in split]
             + [(i, None) for i in range(len(block)) if split and i > split[-1]])
    made_at = {e.output.tensor.name: i for i, e in enumerate(block)}
    resident = {t for t, i in made_at.items() if read_by.get(t)
                and all(r in idx[i + 1:] for r in read_by[t])}

    def chunk(t, p):  # a split Einsum's output is made and read per piece
        return (t, p if maps[made_at[t]].pieces > 1 else None)

    reads_of = {}  # chunk -> the steps of `order` that read it
    for step, (i, p) in enumerate(order):
        for r in block[i].inputs:
            if r.tensor.name in resident:
                pieces = [p] if p is not None else (range(n) if maps[made_at[r.tensor.name]]
                                                    .pieces > 1 else [None])
                for q in pieces:
                    reads_of.setdefault(chunk(r.tensor.name, q), set()).add(step)
    held: dict = {}
    cap = h.memories[0].capacity_bytes
    for step, (i, p) in enumerate(order):
        e, m = block[i], maps[i]
        own = {}  # what the Einsum's own footprint counts of each resident
        if e.is_contraction:
            prob = piece_problem(e, m.rank, m.pieces)
            top = m.mapping.levels[0]
            parent = top.tiles
            for lv, mem in zip(m.mapping.levels[1:], h.memories[1:]):  # below the top
                inner = list(parent)
                if lv.spatial:
                    g = "BMNK".index(lv.spatial)
                    inner[g] = math.ceil(inner[g] / mem.instances)
                assert fits(lv, tuple(inner), prob, mem)
                parent = lv.tiles
            bits = dict(prob.bits)
            sizes = dict(zip(top.keep, held_tiles_of(top, tuple(prob.size(g) for g in "BMNK"))))
            footprint = sum(tile_bytes(sizes[o], o, bits[o]) for o in top.keep)
            roles = dict(zip("AWO", [*(r.tensor.name for r in e.inputs), e.output.tensor.name]))
            for o in top.keep:
                own[roles[o]] = own.get(roles[o], 0) + tile_bytes(sizes[o], o, bits[o])
        else:
            footprint = 0
            for r in (*e.inputs, e.output):
                if r.tensor.name in resident:
                    b = (r.tensor.bytes // m.pieces if m.rank in r.ranks else r.tensor.bytes)
                    own[r.tensor.name] = b
                    footprint += b
        out = e.output.tensor.name
        if out in resident:
            held[chunk(out, p)] = e.output.tensor.bytes // m.pieces
        others = sum(b for c, b in held.items()) - sum(
            min(own.get(t, 0), sum(b for c, b in held.items() if c[0] == t)) for t in own)
        assert footprint + others <= cap, (e.name, p, footprint, others, cap)
        for c in [c for c in held if not any(x > step for x in reads_of.get(c, ()))]:
            del held[c]  # read for the last time


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from([CHAIN, FORK, SKIP]), M=st.sampled_from([1, 4, 6, 16, 24]),
       K=st.integers(1, 20), N=st.integers(1, 20), J=st.integers(1, 20),
       glb_kib=st.sampled_from([0.25, 0.5, 1, 64]), dram_bw=st.sampled_from([2, 16, 256]),
       objective=st.sampled_from(["latency", "energy"]))
def test_fusing_is_never_worse_and_keeps_the_invariants(write_yaml, text, M, K, N, J, glb_kib,
                                                        dram_bw, objective):
    a = machine(write_yaml, glb_kib=glb_kib, dram_bw=dram_bw)
    c = load(write_yaml, text, M=M, K=K, N=N, J=J)
    try:
        plain = simulate(c, without_fusion(a), objective=objective)
    except SpecError:  # nothing fits this GLB at all
        return
    fused = simulate(c, a, objective=objective)
    key = ADDITIVE[objective]
    assert key(fused.cycles, fused.energy_j) <= key(plain.cycles, plain.energy_j)
    assert sum(e.macs for e in fused.einsums) == c.macs  # MAC conservation
    for e in fused.einsums:  # energy is the sum of its breakdown
        assert e.energy_j == pytest.approx(sum(e.energy_pj.values()) * 1e-12)
    assert fused.energy_j == pytest.approx(sum(e.energy_j for e in fused.einsums))
    # weights once, the cascade's input once, its output once, at least
    assert fused.dram_bytes >= c.compulsory_dram_bytes
    _check_capacities(fused, c, Hierarchy.of(a))


def test_no_fusion_is_the_unfused_run(write_yaml):
    a = machine(write_yaml)
    c = load(write_yaml)
    plain = simulate(c, without_fusion(a))
    assert plain.meta["fused_einsums"] == 0
    assert simulate(c, a).dram_bytes < plain.dram_bytes
    # the intermediates' two round trips: T (16 x 12) and S, each written and read back
    assert plain.dram_bytes - simulate(c, a).dram_bytes == 4 * 16 * 12


def test_fused_mappings_round_trip_through_the_cli(write_yaml, tmp_path):
    from sim.cli import main
    a = write_yaml(ARCH.format(glb_kib=0.5, dram_bw=16), "arch.yaml")
    w = write_yaml(CHAIN.format(M=16, K=8, N=12, J=8), "chain.yaml")
    saved = tmp_path / "m.yaml"
    runner = CliRunner()
    out = runner.invoke(main, ["run", str(w), "--arch", str(a), "--json", "--save-mapping",
                               str(saved)])
    assert out.exit_code == 0, out.output
    loaded = mapper.load_mappings(saved)
    assert all(isinstance(m, FusedStep) for m in loaded.values())
    again = runner.invoke(main, ["run", str(w), "--arch", str(a), "--json", "--mapping",
                                 str(saved)])
    assert again.exit_code == 0, again.output
    first, second = json.loads(out.output), json.loads(again.output)
    assert first["einsums"] == second["einsums"]  # not the meta: nothing was searched
    unfused = runner.invoke(main, ["run", str(w), "--arch", str(a), "--json", "--no-fusion"])
    assert unfused.exit_code == 0
    assert json.loads(unfused.output)["einsums"] != first["einsums"]
    # blocks that are not in the space, named by file and key
    text = saved.read_text().replace("pieces: 1", "pieces: 3", 1)
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    out = runner.invoke(main, ["run", str(w), "--arch", str(a), "--mapping", str(bad)])
    assert out.exit_code == 2 and str(bad) in out.output and "mappings.T.fused" in out.output
    bad.write_text(saved.read_text().replace("block: T", "block: S", 1))
    out = runner.invoke(main, ["run", str(w), "--arch", str(a), "--mapping", str(bad)])
    assert out.exit_code == 2 and "consecutive" in out.output, out.output
