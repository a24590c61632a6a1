"""Benchmark: how long `sim run workloads/gpt2.yaml` takes and how fast the mapper
scores mappings. Run: python benchmarks/bench_run.py

Times are medians of several runs; each is also reported as a ratio to a fixed numpy
reference job timed in the same process, so numbers from busy or different machines
can be compared.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import arch  # noqa: E402
import mapper  # noqa: E402
import workloads  # noqa: E402
from sim import simulate  # noqa: E402
from timing import median_seconds  # noqa: E402


def reference_job():
    """A fixed amount of numpy work: the yardstick for this machine, right now."""
    a = np.random.default_rng(0).standard_normal((256, 256))
    for _ in range(50):
        a = np.tanh(a @ a.T / 256)


def main():
    ref = median_seconds(reference_job)
    cascade = workloads.load(REPO / "workloads" / "gpt2.yaml")
    architecture = arch.load()
    sim_s = median_seconds(lambda: (mapper.CACHE.clear(), simulate(cascade, architecture)))
    load_s = median_seconds(lambda: workloads.load(REPO / "workloads" / "gpt2.yaml"))

    distinct = {e.signature(): e for e in cascade.einsums if e.is_contraction}.values()
    scored = 0
    mapper.CACHE.clear()  # time the searches themselves, not cache hits
    start = time.perf_counter()
    for e in distinct:
        scored += mapper.candidates(e, architecture, "latency")[1]
    map_s = time.perf_counter() - start

    cli = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sim.cli", "run", "workloads/gpt2.yaml"],
                       cwd=REPO, check=True, capture_output=True)
        cli.append(time.perf_counter() - start)

    print(f"reference numpy job            {ref:8.3f} s")
    print(f"load gpt2.yaml (342 Einsums)   {load_s:8.3f} s   {load_s / ref:6.2f} x ref")
    print(f"simulate gpt2 prefill          {sim_s:8.3f} s   {sim_s / ref:6.2f} x ref")
    print(f"`sim run workloads/gpt2.yaml`  {statistics.median(cli):8.3f} s   "
          f"{statistics.median(cli) / ref:6.2f} x ref (whole process, imports included)")
    print(f"mapper: {scored:,} mappings scored in {map_s:.3f} s = {scored / map_s:,.0f} per second "
          f"({len(distinct)} distinct contractions)")


if __name__ == "__main__":
    main()
