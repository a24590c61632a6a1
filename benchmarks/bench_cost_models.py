"""Benchmark: what cost models cost a sweep once their disk cache is warm. Evaluates the
points of experiments/sweeps/buffer_energy.yaml (a CACTI-priced buffer) twice: as
shipped, and with every buffer's CACTI numbers typed in. The target (issue 13): sweep
throughput with the model no more than 10% below the typed-in one. Also times loading
one architecture both ways, against a numpy reference job in the same process.
Run: python benchmarks/bench_cost_models.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import arch  # noqa: E402
import mapper  # noqa: E402
import sim.sweep as sweeps  # noqa: E402
from sim.sweep.evaluate import evaluate  # noqa: E402
from sim.sweep.executor import plan  # noqa: E402
from bench_run import reference_job  # noqa: E402
from timing import median_seconds  # noqa: E402


def typed_in(task: dict) -> dict:
    """The task with the buffer's model replaced by the numbers it produced."""
    priced = arch.from_dict(task["arch"])
    data = dict(task["arch"])
    data["components"] = []
    for c in priced.components:
        spec = c.model_dump(by_alias=True, exclude_unset=False, exclude={"model"})
        spec["source"] = "benchmark: the cost model's numbers, typed in"
        data["components"].append(spec)
    return {**task, "arch": data}


def points_per_second(tasks: list[dict]) -> float:
    mapper.CACHE.clear()
    start = time.perf_counter()
    for t in tasks:
        assert evaluate(t)["status"] == "ok"
    return len(tasks) / (time.perf_counter() - start)


def main():
    sweep = sweeps.load(REPO / "experiments" / "sweeps" / "buffer_energy.yaml")
    tasks = plan(sweep)
    typed = [typed_in(t) for t in tasks]
    points_per_second(tasks)  # warm: CACTI once per buffer, then the disk cache
    modelled = min(points_per_second(tasks) for _ in range(3))
    plain = min(points_per_second(typed) for _ in range(3))
    ref = median_seconds(reference_job)
    load_model = median_seconds(lambda: arch.from_dict(tasks[-1]["arch"]), 20)
    load_typed = median_seconds(lambda: arch.from_dict(typed[-1]["arch"]), 20)
    print(f"reference job                       {ref:.3f} s")
    print(f"arch load, model: cacti (warm)      {load_model * 1e3:.2f} ms  "
          f"{load_model / ref:.4f} x reference")
    print(f"arch load, numbers typed in         {load_typed * 1e3:.2f} ms  "
          f"{load_typed / ref:.4f} x reference")
    print(f"sweep points/s, model (warm cache)  {modelled:.2f}")
    print(f"sweep points/s, numbers typed in    {plain:.2f}")
    print(f"throughput with the model / without {modelled / plain:.3f} (target >= 0.90)")


if __name__ == "__main__":
    main()
