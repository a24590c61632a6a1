"""Wall-time helper shared by the benchmark scripts (run as `python benchmarks/X.py`)."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeat: int = 5) -> float:
    """Median wall time of `repeat` calls of fn(): robust to a noisy shared machine."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
