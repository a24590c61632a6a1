"""Benchmark: the BitMoD closed-form array model against its per-cycle reference, and one
LLM simulation on the bitmod preset. Run: python benchmarks/bench_bitserial.py

Reports the closed form's speed-up over the per-cycle reference on the same shapes (a
ratio measured in one process, so it carries across machines) and the wall time of a
Llama-2-7B decode step on bitmod as a ratio to the reference run.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import arch  # noqa: E402
import workloads  # noqa: E402
from sim import simulate  # noqa: E402
from sim.bitserial import PEConfig, array_cycles  # noqa: E402
from sim.bitserial_reference import simulate_array  # noqa: E402
from timing import median_seconds  # noqa: E402

SHAPES = [(4, 4, 8, 8, 256), (8, 4, 16, 12, 384), (2, 8, 10, 6, 512)]  # rows, cols, m, n, k


def main():
    pe = PEConfig(lanes=4, bits_per_cycle=2, weight_bits=3, group_size=128, dequant_cycles=8,
                  pipeline_depth=4)
    ref = median_seconds(lambda: [simulate_array(r, c, pe, m, n, k) for r, c, m, n, k in SHAPES])
    closed = median_seconds(lambda: [array_cycles(r, c, pe, m, n, k) for r, c, m, n, k in SHAPES],
                            repeat=20)
    print(f"per-cycle reference: {ref * 1e3:.1f} ms; closed form: {closed * 1e6:.1f} us; "
          f"closed form is {ref / closed:,.0f}x faster")
    cascade = workloads.load(REPO / "workloads" / "llama2-7b-decode.yaml")
    bitmod = arch.load("bitmod")
    llm = median_seconds(lambda: simulate(cascade, bitmod), repeat=3)
    print(f"llama2-7b decode step on bitmod: {llm:.2f} s "
          f"({llm / ref:.1f}x the per-cycle reference job above)")


if __name__ == "__main__":
    main()
