"""Benchmark the mapper's search methods: mappings scored per second, and the quality
of the best mapping each finds against an exhaustive search on small Einsums.

    python benchmarks/bench_mapper.py

Speeds are also given as ratios to a fixed numpy job timed in the same process (see
bench_run.py), so runs on a busy or different machine compare.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import arch  # noqa: E402
import mapper  # noqa: E402
import workloads  # noqa: E402
from benchmarks.bench_run import median_seconds, reference_job  # noqa: E402
from sim import simulate, simulate_einsum  # noqa: E402
from workloads import CascadeBuilder  # noqa: E402

METHODS = [("grid", None), ("heuristic", None), ("random", 2000), ("exhaustive", None)]


def gemm(m, k, n, b=1):
    builder = CascadeBuilder("g", {"b": b, "m": m, "k": k, "n": n})
    builder.add("C[b,m,n] = A[b,m,k] * W[b,k,n]")
    return builder.build().einsums[0]


def speed(contractions, architecture, method, budget):
    options = mapper.SearchOptions(method, budget)
    mapper.CACHE.clear()
    start = time.perf_counter()
    scored = sum(mapper.candidates(e, architecture, "latency", options=options)[1]
                 for e in contractions)
    return scored, time.perf_counter() - start


def quality(cases, architecture):
    """Per method: exact cycles of the best of its top 3 over the exhaustive search's."""
    ratios = {m: [] for m, _ in METHODS}
    for e in cases:
        cycles = {}
        for method, budget in METHODS:
            mapper.CACHE.clear()
            cands, _ = mapper.candidates(e, architecture, "latency",
                                         options=mapper.SearchOptions(method, budget, seed=1))
            cycles[method] = min(simulate_einsum(e, architecture, c).cycles for c in cands)
        for method in ratios:
            ratios[method].append(cycles[method] / cycles["exhaustive"])
    return ratios


def main():
    ref = median_seconds(reference_job)
    print(f"reference numpy job {ref:.3f} s\n")
    default = arch.load()
    gpt2 = workloads.load(REPO / "workloads" / "gpt2.yaml")
    decode = workloads.load(REPO / "workloads" / "gpt2-decode.yaml")
    distinct = list({e.signature(): e for c in (gpt2, decode) for e in c.einsums
                     if e.is_contraction}.values())
    print(f"search speed on the {len(distinct)} distinct contractions of GPT-2 prefill + "
          f"decode (default preset, cold cache)")
    for method, budget in METHODS:
        scored, wall = speed(distinct, default, method, budget)
        print(f"  {method:<10} {scored:>12,} mappings in {wall:7.3f} s = "
              f"{scored / wall:>12,.0f}/s  ({wall / ref:6.2f} x ref)")

    rng = np.random.default_rng(0)
    small = default.with_changes(**{"PE2D.rows": 16, "PE2D.cols": 16, "GLB.capacity_kib": 48})
    cases = [gemm(*map(int, rng.integers(16, 384, 3))) for _ in range(25)]
    ratios = quality(cases, small)
    print(f"\nquality on {len(cases)} random small GEMMs (M,K,N in 16..383; 16x16 array, "
          f"48 KiB buffer): exact cycles of the best found / exhaustive best")
    for method, values in ratios.items():
        print(f"  {method:<10} mean {statistics.mean(values):.4f}  worst {max(values):.4f}  "
              f"equal to exhaustive in {sum(v <= 1.0 for v in values)}/{len(values)}")

    mapper.CACHE.clear()
    start = time.perf_counter()
    simulate(gpt2, default)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    simulate(gpt2, default)
    warm = time.perf_counter() - start
    info = mapper.CACHE.info()
    print(f"\ncache: simulate GPT-2 prefill cold {cold:.3f} s, again (searches cached) "
          f"{warm:.3f} s; {info['hits']} hits, {info['misses']} misses")


if __name__ == "__main__":
    main()
