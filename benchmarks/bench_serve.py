"""Benchmark: one hour of simulated traffic at 10 requests/s for GPT-2 on the default
preset (`sim serve`, chunked prefill), from a cold cost memo. Target: under 30 s.
Run: python benchmarks/bench_serve.py

Also reported as a ratio to the fixed numpy reference job of bench_run.py, timed in the
same process, so numbers from busy or different machines compare.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import arch  # noqa: E402
from bench_run import reference_job  # noqa: E402
from timing import median_seconds  # noqa: E402
from sim.serve import kv_capacity_tokens, model_file  # noqa: E402
from sim.serve.cost import CostModel  # noqa: E402
from sim.serve.metrics import summarize  # noqa: E402
from sim.serve.requests import Generator, generate  # noqa: E402
from sim.serve.schedulers import SCHEDULERS  # noqa: E402
from sim.serve.server import serve  # noqa: E402
from sim.serve.session import GRID_PER_OCTAVE  # noqa: E402

TRAFFIC = Generator.model_validate({  # the lengths of docs/serve.md's examples
    "rate_per_s": 10, "duration_s": 3600, "seed": 0,
    "prompt": {"lognormal": {"median": 256, "sigma": 0.8, "max": 1024}},
    "output": {"lognormal": {"median": 64, "sigma": 0.8, "max": 512}}})
TARGET_S = 30.0


def main():
    ref = median_seconds(reference_job)
    spec = model_file("gpt2.yaml")
    architecture = arch.load(None)
    cost = CostModel(spec.model, architecture, spec.format, per_octave=GRID_PER_OCTAVE)
    capacity = kv_capacity_tokens(spec, architecture)["tokens"]

    def one_hour():
        run = serve(generate(TRAFFIC), SCHEDULERS.get("chunked")(), cost, capacity)
        return run, summarize(run)

    start, cpu = time.perf_counter(), time.process_time()
    run, metrics = one_hour()  # cold: every part shape simulated on first use
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    one_hour()  # warm memo: the event loop and metrics alone
    warm = time.perf_counter() - start
    print(f"reference numpy job              {ref:8.3f} s")
    print(f"serve 1 h at 10 req/s (gpt2)     {wall:8.3f} s   {wall / ref:6.1f} x ref   "
          f"target < {TARGET_S:g} s: {'met' if wall < TARGET_S else 'MISSED'}")
    print(f"  CPU {cpu:.1f} s; again with the memo warm (loop and metrics only) {warm:.1f} s")
    print(f"  {metrics['requests']:,} requests, {metrics['output_tokens']:,} tokens, "
          f"{metrics['iterations']:,} iterations, {cost.simulated} shapes simulated, "
          f"p99 TTFT {metrics['ttft_s']['p99'] * 1e3:.1f} ms, p99 TBT "
          f"{metrics['tbt_s']['p99'] * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
