"""Cycle model of the BitMoD bit-serial PE and of an array of them (closed form).

The per-cycle reference is sim/bitserial_reference.py; tests/test_bitserial.py checks the
two equal on randomized shapes. The Amaranth RTL of the same PE is co-simulated against
`pe_stream_cycles` / `array_cycles`, so the convention below is a contract.

THE PE (BitMoD, Chen et al., HPCA 2025, its PE design; artifact bitmod_sim/pe_array.py)
- `lanes` multipliers form a dot product: each step it takes `lanes` weights of one
  output channel and the `lanes` FP16 activations of one token that they multiply.
- Weights enter bit-serially, `bits_per_cycle` weight bits per cycle (radix-4 Booth
  digits for BitMoD: 2). The unified representation writes every weight, INT or the
  custom FP3/FP4 types, as sign x integer mantissa x 2^exponent, so only the number of
  stored bits sets the time: one step takes ceil(weight_bits / bits_per_cycle) cycles
  ("cycles per weight", cpw). Fractional bits per weight (scale overhead) do not enter
  the datapath: `weight_bits` is the integer code width.
- A bit-parallel PE (ANT, OliVe, FP16 baselines) is the case bits_per_cycle >= weight
  bits: cpw = 1.
- Group accumulation: a group of `group_size` weights along the reduction rank takes
  A(g) = ceil(g / lanes) * cpw cycles, g = the group's actual size (the last group of a
  reduction may be short).
- Bit-serial dequantization: when a group's accumulation ends, its partial sum is
  handed to the dequantization unit, which multiplies it by the group scale a few bits
  per cycle and adds it to the output accumulator: D = `dequant_cycles` cycles per
  group (0: no per-group dequantization, e.g. per-channel baselines). The unit holds
  one group; the group accumulator can start the next group as soon as it has handed
  its partial sum over, i.e. at the cycle the dequantizer starts on it.
- Pipeline: `pipeline_depth` cycles from the first operands entering the PE to the
  first partial product reaching the group accumulator, paid once per stream.

TIMELINE (integer cycles, time 0 = first operands at the PE; groups i = 0..n-1 in
order, a stream may span several output folds: a fold's last group is followed directly
by the next fold's first group):
    acc_start[0] = 0
    acc_end[i]   = acc_start[i] + A_i
    deq_start[i] = max(acc_end[i], deq_end[i-1])          (deq_end[-1] = 0)
    deq_end[i]   = deq_start[i] + D
    acc_start[i+1] = deq_start[i]
    an output is final at deq_end[its last group] + pipeline_depth
    stream cycles = deq_end[n-1] + pipeline_depth   (start to last output)
Closed form (all groups equal, A): A + (n-1) * max(A, D) + D + P; for unequal groups
see `pe_stream_cycles`.

THE ARRAY: rows x cols PEs. Row r holds output channel r of the fold (its weights are
broadcast along the row), column c holds token c of the fold (its activations are
broadcast down the column); every PE computes one output (output-stationary, no skew:
broadcast buses, as the artifact's SRAM widths imply). All PEs run in lockstep, so the
array's start-to-last-output time for a GEMM [tokens M] x [reduction K] x [outputs N]
is one PE's stream over ceil(N/rows) * ceil(M/cols) folds of ceil(K/group) groups each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PEConfig:
    """Parameters of one PE; see the module docstring for their meaning."""

    lanes: int = 4              # BitMoD: 4-way dot product (artifact pe_dp_size=4)
    bits_per_cycle: int = 2     # BitMoD: radix-4 Booth, 2 weight bits per cycle
    weight_bits: int = 4        # integer code width of one weight
    group_size: int = 128       # weights per quantization group (reduction rank)
    dequant_cycles: int = 0     # D: cycles of the dequantizer per group
    pipeline_depth: int = 0     # P: fill latency, paid once per stream

    def __post_init__(self):
        for name in ("lanes", "bits_per_cycle", "weight_bits", "group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"PEConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("dequant_cycles", "pipeline_depth"):
            if getattr(self, name) < 0:
                raise ValueError(f"PEConfig.{name} must be >= 0, got {getattr(self, name)}")

    @property
    def cycles_per_weight(self) -> int:
        """Cycles one step (lanes weights x lanes activations) takes."""
        return math.ceil(self.weight_bits / self.bits_per_cycle)

    @property
    def peak_macs_per_cycle(self) -> float:
        return self.lanes / self.cycles_per_weight


def group_cycles(pe: PEConfig, size: int | None = None) -> int:
    """A: cycles to accumulate one group of `size` weights (default: a full group)."""
    size = pe.group_size if size is None else size
    if not 1 <= size <= pe.group_size:
        raise ValueError(f"a group holds 1..{pe.group_size} weights, got {size}")
    return math.ceil(size / pe.lanes) * pe.cycles_per_weight


def groups_of(k: int, group_size: int) -> list[int]:
    """Sizes of the groups a reduction of length k splits into (the last may be short)."""
    full, rest = divmod(k, group_size)
    return [group_size] * full + ([rest] if rest else [])


def pe_stream_cycles(pe: PEConfig, group_sizes: list[int]) -> int:
    """Start-to-last-output cycles of one PE processing `group_sizes` groups in order.

    Closed form of the TIMELINE in the module docstring: deq_start[0] = A_0 and
    deq_start[i] = deq_start[i-1] + max(A_i, D), so the stream takes
    A_0 + sum_{i>=1} max(A_i, D) + D + P cycles.
    """
    if not group_sizes:
        return 0
    d = pe.dequant_cycles
    acc = [group_cycles(pe, g) for g in group_sizes]
    return acc[0] + sum(max(a, d) for a in acc[1:]) + d + pe.pipeline_depth


def one_group_cycles(pe: PEConfig) -> int:
    """Exact start-to-output cycles of one PE for one full group: A + D + P."""
    return pe_stream_cycles(pe, [pe.group_size])


@dataclass(frozen=True)
class ArrayTiming:
    cycles: int          # start to last output
    folds: int           # (row fold, column fold) pairs
    groups_per_fold: int
    macs: int            # useful MACs = M * N * K
    pe_busy: int         # PE-cycles spent on useful steps (accumulation of real outputs)


def array_cycles(rows: int, cols: int, pe: PEConfig, m: int, n: int, k: int,
                 batch: int = 1) -> ArrayTiming:
    """Start-to-last-output cycles of a rows x cols array for `batch` independent
    [m x k] x [k x n] GEMMs run back to back (m tokens on columns, n output channels on
    rows, k reduced in groups; folds in order batch, row fold, column fold).

    Closed form of sim/bitserial_reference.simulate_array.
    """
    if min(rows, cols, m, n, k, batch) < 1:
        raise ValueError(f"array and GEMM sizes must be >= 1 (rows={rows}, cols={cols}, "
                         f"m={m}, n={n}, k={k}, batch={batch})")
    folds = batch * math.ceil(n / rows) * math.ceil(m / cols)
    groups = groups_of(k, pe.group_size)
    cycles = _stream_repeated(pe, groups, folds)
    steps_per_output = sum(math.ceil(g / pe.lanes) for g in groups)
    busy = batch * m * n * steps_per_output * pe.cycles_per_weight
    return ArrayTiming(cycles, folds, len(groups), batch * m * n * k, busy)


def _stream_repeated(pe: PEConfig, groups: list[int], folds: int) -> int:
    """pe_stream_cycles(pe, groups * folds) without building the long list."""
    d = pe.dequant_cycles
    acc = [group_cycles(pe, g) for g in groups]
    per_fold = sum(max(a, d) for a in acc)
    return acc[0] - max(acc[0], d) + folds * per_fold + d + pe.pipeline_depth
