"""Benchmark: the fused-attention engine. Times FuseMax and FLAT at 1M tokens (BERT
shape, batch 64) with the tested extrapolation, and the exact tile-by-tile schedule of a
mid-size case against it, as ratios to the same-process extrapolated run.
Run: python benchmarks/bench_fusemax.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import arch  # noqa: E402
from mapper.fusion import AttentionShape  # noqa: E402
from sim.fused import simulate_flat, simulate_fusemax  # noqa: E402
from timing import median_seconds  # noqa: E402


def main():
    fm, fl = arch.load("fusemax"), arch.load("flat")
    long = AttentionShape(64, 12, 2**20, 2**20, 64)
    mid = AttentionShape(1, 2, 8192, 8192, 64)  # 2 x 1024 tiles: exact run is feasible
    ref = median_seconds(lambda: simulate_fusemax(mid, fm, exact_limit=0))
    rows = {
        "fusemax 1M tokens, extrapolated": median_seconds(lambda: simulate_fusemax(long, fm)),
        "flat 1M tokens, all mappings": median_seconds(lambda: simulate_flat(long, fl), 1),
        "fusemax 8K x 2 heads, exact schedule": median_seconds(
            lambda: simulate_fusemax(mid, fm, exact_limit=10**9), 1),
    }
    print(f"reference: fusemax 8K x 2 heads extrapolated {ref:.3f} s")
    for name, secs in rows.items():
        print(f"{name:40s} {secs:8.3f} s   {secs / ref:8.1f} x reference")


if __name__ == "__main__":
    main()
