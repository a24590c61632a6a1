"""One GEMM on one 2D systolic array: `sim gemm` and its Python API.

C[M,N] = A[M,K] x B[K,N] on an R x C array with a chosen dataflow, timed two ways:

- ``native``: our own model through ``sim.simulate`` (the buffer tiling and loop order
  the mapper picks, folds that overlap where the hardware lets the next fold's operands
  follow the last one's, the tile pipeline with DRAM, buffer-port stalls).
- ``scalesim``: SCALE-Sim v3's conventions (``sim.scalesim_timing``): fixed operand
  folding per dataflow, fill and drain paid on every fold, folds never overlap, no
  stalls (its CALC bandwidth mode). Buffer and DRAM counts follow its word counting.

Counts are in words (one element of the GEMM's format), as SCALE-Sim reports them.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from sim.scalesim_timing import scalesim_compute_cycles, scalesim_word_counts
from yamlspec import SpecError

if TYPE_CHECKING:  # imported for native timing only: scalesim timing starts without them
    from arch import Architecture
    from workloads import Cascade

DATAFLOWS = ("os", "ws", "is")
TIMINGS = ("native", "scalesim")


@dataclass(frozen=True)
class GemmReport:
    m: int
    k: int
    n: int
    rows: int
    cols: int
    dataflow: str
    timing: str
    compute_cycles: int   # array cycles with no buffer or DRAM stall
    stall_cycles: int     # cycles waiting on the buffer port or DRAM
    total_cycles: int
    utilization: float    # MACs / (peak MACs per cycle x total cycles)
    sram_reads: int       # words read from on-chip buffers
    sram_writes: int      # words written to on-chip buffers
    dram_reads: int       # words read from DRAM
    dram_writes: int      # words written to DRAM
    mapping: str          # how the GEMM was laid out

    @property
    def macs(self) -> int:
        return self.m * self.k * self.n

    def to_dict(self) -> dict:
        return asdict(self)


def parse_array(spec: str) -> tuple[int, int]:
    """'32x32' -> (32, 32): rows x columns of PEs."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", spec)
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise ValueError(f"array must be ROWSxCOLS with positive integers, e.g. 32x32; "
                         f"got {spec!r}")
    return int(match[1]), int(match[2])


def gemm_cascade(m: int, k: int, n: int, fmt: str = "int8") -> Cascade:
    """The single-Einsum workload C[m,n] = A[m,k] * B[k,n]."""
    from workloads.builder import CascadeBuilder

    b = CascadeBuilder(f"gemm_{m}x{k}x{n}", {"m": m, "k": k, "n": n}, default_format=fmt)
    b.add("C[m,n] = A[m,k] * B[k,n]", name="gemm")
    return b.build()


def simulate_gemm(m: int, k: int, n: int, rows: int, cols: int, dataflow: str,
                  arch: Architecture | str | None = None, timing: str = "native",
                  fmt: str | None = None) -> GemmReport:
    """Simulate C[M,N] = A[M,K] x B[K,N] on a rows x cols array with `dataflow`.

    `arch` (preset name, file or Architecture; default preset when None) supplies the
    buffer, DRAM and energy tables; its 2D array is resized to rows x cols and limited
    to `dataflow`. `fmt` is the operand format (default: int8, SCALE-Sim's one-byte
    word, when the array takes it, else the array's first format). Utilization is
    against the array's true peak (a bit-serial PE retires lanes MACs per
    cycles-per-weight cycles, not one per cycle).
    """
    for name, value in (("m", m), ("k", k), ("n", n), ("rows", rows), ("cols", cols)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if dataflow not in DATAFLOWS:
        raise ValueError(f"dataflow must be one of {', '.join(DATAFLOWS)}, not {dataflow!r}")
    if timing not in TIMINGS:
        raise ValueError(f"timing must be one of {', '.join(TIMINGS)}, not {timing!r}")
    if timing == "scalesim":
        return _scalesim_report(m, k, n, rows, cols, dataflow)
    from arch import Architecture
    from arch import load as load_arch
    from workloads.formats import format_bits

    base = arch if isinstance(arch, Architecture) else load_arch(arch)
    pe = base.array2d
    if fmt is None:
        fmt = "int8" if "int8" in pe.mac_pj else pe.formats[0]
    formats = pe.formats if fmt in pe.formats else [*pe.formats, fmt]
    if fmt not in pe.mac_pj:
        raise SpecError(f"array '{pe.name}' has no MAC energy for format {fmt!r} "
                        f"(it has {sorted(pe.mac_pj)})", base.file or None,
                        f"{pe.name}.mac_pj")
    sized = base.with_changes(**{f"{pe.name}.rows": rows, f"{pe.name}.cols": cols,
                                 f"{pe.name}.dataflows": [dataflow],
                                 f"{pe.name}.formats": formats})
    from sim.simulate import simulate

    (e,) = simulate(gemm_cascade(m, k, n, fmt), sized).einsums
    word = math.ceil(format_bits(fmt) / 8)
    return GemmReport(
        m, k, n, rows, cols, dataflow, timing,
        compute_cycles=e.compute_cycles, stall_cycles=e.stall_cycles, total_cycles=e.cycles,
        utilization=e.macs / (sized.array2d.peak_macs_per_cycle * e.cycles),
        sram_reads=e.glb_read_bytes // word, sram_writes=e.glb_write_bytes // word,
        dram_reads=e.dram_read_bytes // word, dram_writes=e.dram_write_bytes // word,
        mapping=e.mapping.describe())


def _scalesim_report(m, k, n, rows, cols, dataflow) -> GemmReport:
    """SCALE-Sim's cycles and word counts (CALC mode, operands fit its SRAMs)."""
    cycles = scalesim_compute_cycles(m, k, n, rows, cols, dataflow)
    words = scalesim_word_counts(m, k, n, rows, cols, dataflow)
    return GemmReport(
        m, k, n, rows, cols, dataflow, "scalesim", compute_cycles=cycles, stall_cycles=0,
        total_cycles=cycles, utilization=m * k * n / (rows * cols * cycles),
        mapping=_scalesim_layout(dataflow), **words)


def _scalesim_layout(dataflow: str) -> str:
    rows, cols, streamed = {"os": ("M", "N", "K"), "ws": ("K", "N", "M"),
                            "is": ("K", "M", "N")}[dataflow]
    return f"{dataflow}: {rows} on rows, {cols} on columns, {streamed} streamed; folds in sequence"
