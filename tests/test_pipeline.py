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
