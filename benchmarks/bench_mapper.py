"""Benchmark the mapper: the best mapping each search method finds against the full map
space (exhaustive search), on random GEMMs and vector Einsums; mappings scored per
second; and GPT-2 prefill's simulation time.

    python benchmarks/bench_mapper.py [--cases 50] [--seed 0]

Every method's result is exact and proven best of its own map space (the simulator runs
candidates in order of the mapper's lower bounds until the best is at most the next
bound, sim.simulate.best_mapping), so a ratio above 1 is the price of a smaller map
space, not of a wrong estimate. Vector Einsums: our chunk search against simulating
every chunk size that fits. Speeds are also given as ratios to a fixed numpy job timed
in the same process (bench_run.py), so runs on a busy or different machine compare.
"""

from __future__ import annotations

import argparse
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
from sim.simulate import best_mapping  # noqa: E402
from workloads import CascadeBuilder  # noqa: E402
from yamlspec import SpecError  # noqa: E402

METHODS = [("grid", None), ("heuristic", None), ("random", 2000), ("exhaustive", None)]
VECTOR_OPS = ["S[m,n] = exp(X[m,n])", "S[m] = X[m,n]", "S[m,n] = X[m,n] * X[m,n] + X[m,n]"]


def gemm(m, k, n, b=1):
    builder = CascadeBuilder("g", {"b": b, "m": m, "k": k, "n": n})
    builder.add("C[b,m,n] = A[b,m,k] * W[b,k,n]")
    return builder.build().einsums[0]


def vector(text, m, n):
    builder = CascadeBuilder("v", {"m": m, "n": n})
    builder.add(text)
    return builder.build().einsums[0]


def speed(contractions, architecture, method, budget):
    """Mappings bounded, and the seconds to find and prove each contraction's best
    (the grid and exhaustive searches bound a tiling's loop orders only when the
    tiling's own bound comes up, so ranking alone would not time the work)."""
    options = mapper.SearchOptions(method, budget)
    mapper.CACHE.clear()
    start = time.perf_counter()
    scored = sum(best_mapping(e, architecture, "latency", search=options).scored
                 for e in contractions)
    return scored, time.perf_counter() - start


def gemm_quality(cases, architecture):
    """Per method: exact cycles of its proven best / the exhaustive search's."""
    ratios = {m: [] for m, _ in METHODS}
    sims = {m: [] for m, _ in METHODS}
    for e in cases:
        cycles = {}
        for method, budget in METHODS:
            mapper.CACHE.clear()
            found = best_mapping(e, architecture, "latency",
                                 search=mapper.SearchOptions(method, budget, seed=1))
            cycles[method] = found.result.cycles
            sims[method].append(len(found.tried))
        for method in ratios:
            ratios[method].append(cycles[method] / cycles["exhaustive"])
    return ratios, sims


def vector_quality(cases, architecture):
    """Our chunk search's exact cycles / the best of every chunk size that fits."""
    ratios = []
    for e in cases:
        found = best_mapping(e, architecture, "latency").result.cycles
        every = []
        for chunk in range(1, e.output_points + 1):
            try:
                every.append(simulate_einsum(e, architecture, mapper.VectorMapping(chunk)).cycles)
            except SpecError:  # does not fit
                break
        ratios.append(found / min(every))
    return ratios


def summary(values) -> str:
    return (f"mean {statistics.mean(values):.4f}  worst {max(values):.4f}  "
            f"equal in {sum(v <= 1.0 for v in values)}/{len(values)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ref = median_seconds(reference_job)
    print(f"reference numpy job {ref:.3f} s\n")
    default = arch.load()
    gpt2 = workloads.load(REPO / "workloads" / "gpt2.yaml")
    decode = workloads.load(REPO / "workloads" / "gpt2-decode.yaml")
    distinct = list({e.signature(): e for c in (gpt2, decode) for e in c.einsums
                     if e.is_contraction}.values())
    print(f"search speed (mappings bounded; time to find and prove the best) on the "
          f"{len(distinct)} distinct contractions of GPT-2 prefill + decode, default preset")
    for method, budget in METHODS:
        scored, wall = speed(distinct, default, method, budget)
        print(f"  {method:<10} {scored:>12,} mappings in {wall:7.3f} s = "
              f"{scored / wall:>12,.0f}/s  ({wall / ref:6.2f} x ref)")

    rng = np.random.default_rng(args.seed)
    small = default.with_changes(**{"PE2D.rows": 16, "PE2D.cols": 16, "GLB.capacity_kib": 48,
                                    "VEC.lanes": 16})
    cases = [gemm(*map(int, rng.integers(16, 200, 3))) for _ in range(args.cases)]
    ratios, sims = gemm_quality(cases, small)
    print(f"\nGEMMs: {len(cases)} random (M,K,N in 16..199; 16x16 array, 48 KiB buffer): exact "
          f"cycles of each method's proven best / the exhaustive best")
    for method, values in ratios.items():
        print(f"  {method:<10} {summary(values)}  candidates simulated: mean "
              f"{statistics.mean(sims[method]):.1f}, most {max(sims[method])}")
    vcases = [vector(VECTOR_OPS[i % 3], *map(int, rng.integers(1, 160, 2)))
              for i in range(args.cases)]
    vratios = vector_quality(vcases, small)
    print(f"\nvector Einsums: {len(vcases)} random (exp, row sum, x*x+x; M,N in 1..159; 16 "
          f"lanes): our chunk search / every chunk size that fits\n  {summary(vratios)}")

    times = []
    for _ in range(5):
        mapper.CACHE.clear()
        start = time.perf_counter()
        simulate(gpt2, default)
        times.append(time.perf_counter() - start)
    cold = statistics.median(times)
    start = time.perf_counter()
    simulate(gpt2, default)
    warm = time.perf_counter() - start
    print(f"\nsimulate GPT-2 prefill, default preset: cold cache {cold:.3f} s ({cold / ref:.2f} x "
          f"ref), searches cached {warm:.3f} s")


if __name__ == "__main__":
    main()
