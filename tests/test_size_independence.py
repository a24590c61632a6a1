"""Engines cost the distinct tiles, not the rank sizes (issue 18).

The 2D-array, vector and bit-serial engines write their schedules as nested runs that
sim.pipeline.run_tiles skips ahead; sim.pipeline.STEPS counts the tiles it stepped
through. Nothing here is timed: at two sizes 10^6 apart the counted work is the same
bound, and the loop nest equals the tile-by-tile walk it replaced.
"""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

import arch
from mapper import GemmMapping, VectorMapping
from mapper.gemm import OPERANDS
from sim import simulate_einsum
from sim.gemm_engine import loop_nest
from sim.pipeline import STEPS
from workloads import CascadeBuilder

SIZES = ("B", "M", "N", "K")


def _gemm(b, m, k, n):
    builder = CascadeBuilder("g", {"b": b, "m": m, "k": k, "n": n})
    builder.add("C[b,m,n] = A[b,m,k] * W[b,k,n]")
    builder.add("S[b,m,n] = exp(C[b,m,n])")
    return builder.build().einsums


def _work(einsum, machine, mapping):
    STEPS[0] = 0
    result = simulate_einsum(einsum, machine, mapping)
    return STEPS[0], result


def _flat(seq):
    out = []
    for item, count in seq:
        out += ([item] if isinstance(item, tuple) else _flat(item)) * count
    return out


def _by_stepping(order, size, tile, counts):
    """The tile keys loop_nest encodes, walked one tile at a time (the engine's former
    loop): extents, K index > 0, operands whose tile changed, starts an output visit."""
    out, prev = [], {op: None for op in OPERANDS}
    for idx in itertools.product(*(range(counts[g]) for g in order)):
        at = dict(zip(order, idx))
        ext = tuple(min(tile[g], size[g] - at[g] * tile[g]) for g in SIZES)
        changed = set()
        for op in OPERANDS:
            key = tuple(at[g] for g in OPERANDS[op])
            if key != prev[op]:
                changed.add(op)
                prev[op] = key
        out.append((ext, int(at["K"] > 0), frozenset(changed - {"O"}), "O" in changed))
    return out


@settings(max_examples=150, deadline=None)
@given(st.permutations(SIZES), st.lists(st.integers(1, 9), min_size=4, max_size=4),
       st.lists(st.integers(1, 4), min_size=4, max_size=4))
def test_loop_nest_is_the_tile_walk(order, sizes, tiles):
    size = dict(zip(SIZES, sizes))
    tile = {g: min(t, size[g]) for g, t in zip(SIZES, tiles)}
    counts = {g: -(-size[g] // tile[g]) for g in SIZES}
    assert _flat(loop_nest(tuple(order), size, tile, counts)) == \
        _by_stepping(tuple(order), size, tile, counts)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 40), st.integers(1, 40), st.integers(1, 40),
       st.sampled_from(["ws", "os"]), st.permutations(["M", "N", "K"]))
def test_gemm_and_vector_work_is_the_same_at_sizes_a_million_apart(b, m, k, n, dataflow, inner):
    machine = arch.load()
    rows = "K" if dataflow == "ws" else "M"
    results = []
    for scale in (1, 10**6):
        gemm, vec = _gemm(b, m * scale, k, n)
        mapping = GemmMapping(dataflow, rows, (("B", 1), ("M", m), ("N", n), ("K", k)),
                              ("B", *inner))
        steps, r = _work(gemm, machine, mapping)
        vsteps, v = _work(vec, machine, VectorMapping(m))
        results.append((steps, r, vsteps, v))
    (s1, r1, v1, rv1), (s2, r2, v2, rv2) = results
    assert s2 <= s1 + 20 and s2 <= 200          # the work does not grow with M
    assert v2 <= v1 + 20 and v2 <= 200
    assert r2.macs == b * m * 10**6 * n * k     # and every MAC is accounted for
    assert r2.macs == 10**6 * r1.macs
    peak = machine.array2d.rows * machine.array2d.cols
    assert r2.cycles >= r2.macs / peak
    assert r2.cycles >= 10**6 * r1.compute_cycles * 0.99  # a million tiles, each at least as long
    assert rv2.ops == 10**6 * rv1.ops and rv2.cycles >= 10**6 * (rv1.cycles - 100)


def test_a_rank_of_10_to_the_12_simulates_whole():
    from sim import simulate
    builder = CascadeBuilder("big", {"m": 10**12, "k": 768, "n": 768})
    builder.add("C[m,n] = A[m,k] * W[k,n]")
    builder.add("S[m,n] = exp(C[m,n])")
    STEPS[0] = 0
    r = simulate(builder.build(), arch.load())
    assert STEPS[0] < 10_000
    assert r.einsums[0].macs == 10**12 * 768 * 768
    assert r.cycles >= 10**12 * 768 * 768 / arch.load().array2d.pes


def test_bitserial_work_is_the_same_at_sizes_a_million_apart():
    machine = arch.load("bitmod")
    steps = []
    for scale in (1, 10**6):
        gemm, _ = _gemm(3, 100 * scale, 256, 300)
        s, r = _work(gemm, machine, GemmMapping("os", "N", (("B", 1), ("M", 1), ("N", 1),
                                                            ("K", 1)), SIZES))
        steps.append(s)
        assert r.macs == 3 * 100 * scale * 256 * 300
    assert steps[1] <= steps[0] + 50
