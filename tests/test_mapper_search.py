"""Search methods, dominated-tiling pruning and the search cache."""

import numpy as np
import pytest

import arch
import mapper
from mapper.gemm import GemmProblem, _Scorer, full_tiles, prune_dominated
from workloads import CascadeBuilder


def gemm(m, k, n):
    builder = CascadeBuilder("g", {"m": m, "k": k, "n": n})
    builder.add("C[m,n] = A[m,k] * W[k,n]")
    return builder.build().einsums[0]


def best_estimate(e, a, cands):
    scorer = _Scorer(e, a, "latency")
    scores = []
    for c in cands:
        t = {g: np.array([c.tile(g)]) for g in ("B", "M", "N", "K")}
        scores += [s for s, m in scorer.score(c.dataflow, c.rows, t, 6) if m == c]
    return min(scores)


def test_pruning_keeps_the_smallest_tile_per_count():
    assert prune_dominated(768, [128, 192, 256, 384, 512, 768]) == [128, 192, 256, 384, 768]
    tiles = full_tiles(100)
    counts = [-(-100 // t) for t in tiles]
    assert len(set(counts)) == len(tiles)  # one tile per count
    assert all(-(-100 // (t - 1)) != c for t, c in zip(tiles, counts) if t > 1)  # smallest


@pytest.mark.parametrize("shape", [(96, 80, 64), (200, 130, 70)])
def test_methods_against_exhaustive(shape):
    a = arch.load().with_changes(**{"PE2D.rows": 16, "PE2D.cols": 16, "GLB.capacity_kib": 32})
    e = gemm(*shape)
    found = {}
    for method in mapper.METHODS:
        cands, scored = mapper.candidates(e, a, options=mapper.SearchOptions(method, None))
        found[method] = (best_estimate(e, a, cands), scored)
    exhaustive = found["exhaustive"][0]
    assert all(score >= exhaustive for score, _ in found.values())
    assert found["heuristic"][0] <= found["grid"][0]
    assert found["exhaustive"][1] > found["heuristic"][1] > found["grid"][1]
    assert found["random"][1] <= 2000


def test_budget_bounds_the_grid_and_the_cache_answers_repeats():
    a = arch.load()
    e = gemm(1024, 768, 3072)
    mapper.CACHE.clear()
    small, n_small = mapper.candidates(e, a, options=mapper.SearchOptions("grid", budget=500))
    full, n_full = mapper.candidates(e, a)
    assert n_small <= 500 < n_full
    again, n_again = mapper.candidates(e, a)
    assert (again, n_again) == (full, n_full)
    assert mapper.CACHE.info()["hits"] == 1
    with pytest.raises(ValueError, match="unknown search method"):
        mapper.SearchOptions("annealing")
    assert GemmProblem.of(e).macs == 1024 * 768 * 3072
