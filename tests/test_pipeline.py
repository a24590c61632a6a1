"""The tile pipeline overlaps DRAM with compute and never beats its bounds."""

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.pipeline import run_pipeline


def test_by_hand():
    # load 10, compute 5 (x2), output written once at the end (8 bytes at 1 B/cycle):
    # L0 0-10, L1 10-20, C0 10-15, C1 20-25, W 25-33.
    t = run_pipeline([10, 10], [5, 5], [0, 8], [0, 0], 1.0)
    assert t.cycles == 33 and t.dram_busy_cycles == 28


def test_compute_bound_hides_transfers():
    t = run_pipeline([4] * 10, [100] * 10, [4] * 10, list(range(10)), 1.0)
    assert t.cycles == 4 + 100 * 10 + 4


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 500), st.integers(0, 500),
                          st.booleans()), min_size=1, max_size=30),
       st.sampled_from([0.5, 1.0, 3.0, 64.0]))
def test_bounds(tiles, bw):
    loads = [t[0] for t in tiles]
    computes = [t[1] for t in tiles]
    visits, v = [], 0
    for i, t in enumerate(tiles):
        if i and t[3]:
            v += 1
        visits.append(v)
    # an output is written when its visit ends
    writebacks = [tiles[i][2] if i == len(tiles) - 1 or visits[i + 1] != visits[i] else 0
                  for i in range(len(tiles))]
    t = run_pipeline(loads, computes, writebacks, visits, bw)
    serial = sum(computes) + t.dram_busy_cycles
    assert max(sum(computes), t.dram_busy_cycles) <= t.cycles <= serial


# Nested runs (sim.pipeline.run_tiles): the same schedule as run_pipeline, skipped ahead.
_tile = st.tuples(st.sampled_from([0, 7, 100, 5000]), st.sampled_from([1, 3, 50, 300]),
                  st.sampled_from([0, 64, 4000]), st.booleans())
_runs = st.recursive(st.lists(st.tuples(_tile, st.integers(0, 40)), min_size=1, max_size=3),
                     lambda inner: st.lists(st.tuples(st.one_of(_tile, inner),
                                                      st.integers(0, 12)),
                                            min_size=1, max_size=3), max_leaves=6)


def _flat(seq):
    out = []
    for item, count in seq:
        out += ([item] if isinstance(item, tuple) else _flat(item)) * count
    return out


@settings(max_examples=300, deadline=None)
@given(_runs, st.sampled_from([0.5, 1.0, 8.0, 32.5]))
def test_nested_runs_equal_stepping_through_every_tile(seq, bw):
    from sim.pipeline import run_tiles
    tiles = _flat(seq)
    if not tiles:
        return
    visits, v = [], -1
    for i, t in enumerate(tiles):
        v += bool(t[3] or i == 0)
        visits.append(v)
    writebacks = [t[2] if i == len(tiles) - 1 or visits[i + 1] != visits[i] else 0
                  for i, t in enumerate(tiles)]
    slow = run_pipeline([t[0] for t in tiles], [t[1] for t in tiles], writebacks, visits, bw,
                        fast=False)
    assert run_tiles(seq, bw) == slow
    # a tile of three numbers ends its own visit
    own = [((t[0], t[1], t[2]), 1) for t in tiles]
    assert run_tiles(own, bw) == run_pipeline([t[0] for t in tiles], [t[1] for t in tiles],
                                              [t[2] for t in tiles], list(range(len(tiles))),
                                              bw, fast=False)


@given(st.integers(1, 10**6))
@settings(max_examples=30, deadline=None)
def test_nested_runs_work_does_not_grow_with_counts(n):
    """Repeats are skipped at every level: 10^6 times more tiles take no more steps."""
    from sim.pipeline import STEPS, run_tiles

    def steps(scale):
        seq = [([((100, 50, 64), n * scale), ((5000, 300, 0, False), 3)], 7 * scale),
               ((3, 9, 4000), scale)]
        STEPS[0] = 0
        timing = run_tiles(seq, 8.0)
        return STEPS[0], timing

    (small, t1), (large, t2) = steps(1), steps(10**6)
    assert large <= small + 40 and large < 400
    assert t2.cycles > t1.cycles * 10**5  # and it did account for every tile


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([0, 100, 16386]), st.sampled_from([0, 1, 193, 4000]),
       st.sampled_from([0, 64, 16384]), st.integers(100, 400), st.integers(1, 6),
       st.sampled_from([0.5, 8.0, 64.0]))
def test_a_run_within_one_output_visit_is_skipped_ahead(load, compute, out, n, outer, bw):
    """Tiles accumulating into one output (K innermost: no tile but the first starts a
    visit) repeat their state once the earlier writebacks can no longer delay a compute:
    skipped ahead, in a few steps whatever n, to what stepping every tile gives."""
    from sim.pipeline import STEPS, run_tiles
    visit = [((load, compute, out, True), 1), ((load, compute, out, False), n - 2),
             ((load, compute, out, False), 1)]
    STEPS[0] = 0
    timing = run_tiles([(visit, outer)], bw)
    assert STEPS[0] <= 40
    tiles = n * outer
    slow = run_pipeline([load] * tiles, [compute] * tiles,
                        [out if i % n == n - 1 else 0 for i in range(tiles)],
                        [i // n for i in range(tiles)], bw, fast=False)
    assert timing == slow
