"""Benchmark: Verilog of the default 128-lane 1D unit (`sim rtl vector1d --no-synth`),
written with the lane module once (`SoftmaxLanes.to_verilog`, what `sim rtl` writes)
against Amaranth's flat conversion of the same design, in one process (the ratio
carries across machines). Run: python benchmarks/bench_rtl.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import arch  # noqa: E402
from rtl.cosim import fusemax_vector_einsums  # noqa: E402
from rtl.vector1d import SoftmaxLanes  # noqa: E402


def cpu_seconds(fn) -> tuple[float, int]:
    start = time.process_time()
    size = len(fn())
    return time.process_time() - start, size


def main():
    from amaranth.back import verilog

    unit = arch.load("default").array1d
    einsums = fusemax_vector_einsums(unit)
    lanes = lambda: SoftmaxLanes.from_arch(unit, einsums)  # noqa: E731 - fresh each time
    module, size = min(cpu_seconds(lambda: lanes().to_verilog("top")) for _ in range(3))
    flat, flat_size = cpu_seconds(lambda: verilog.convert(lanes(), name="top"))
    print(f"{unit.lanes}-lane 1D unit Verilog: {module:.2f} s CPU, {size / 1e3:,.0f} kB with one "
          f"lane module; flat {flat:.2f} s, {flat_size / 1e3:,.0f} kB ({flat / module:.0f}x)")


if __name__ == "__main__":
    main()
