"""PIM-GPT mapping: contractions become GEMVs laid into DRAM banks, the rest runs on the ASIC.

Layout of one GEMV y[N] = W[N, K] . x[K] (PIM-GPT's scheme: spread the output
neurons over every bank of every channel so all MAC units work at once, and lay each
neuron's weights along DRAM rows so a row, once open, serves many column MACs):

* neurons go round-robin to (channel, bank); a channel's 16 banks run in lockstep
  (all-bank commands), so its program follows its most loaded bank;
* K is cut into chunks that fit both a row and the 2 KB global buffer; when a
  neuron's K fits in a row, floor(row columns / K columns) neurons share a row and
  the global buffer holds the input vector once per neuron slot;
* every (neuron, chunk) is one accumulation: column MACs, then a result read; the
  ASIC adds the partial sums of a neuron split over chunks.

Batched contractions (attention heads, the B group) go round-robin to channels, each
channel's global buffer holding its head's vector. Decode attention appends the new
token's K (one bank row per head) and V (one element in each of the head's V^T rows)
before computing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from workloads import Cascade, Einsum

BURST_BYTES = 32


# Channel-program ops (plain data; sim/pim/program.py expands them into commands).
@dataclass(frozen=True)
class RowOp:
    """Open one row in every bank, run column MACs in pieces (each optionally followed
    by a result read), close the row."""

    row: int
    pieces: tuple[tuple[int, bool], ...]  # (column MACs, read the accumulator after)
    tag: str = "pim_mac"


@dataclass(frozen=True)
class GbWrite:
    bursts: int
    tag: str = "data_movement"


@dataclass(frozen=True)
class BankWrites:
    """Ordinary single-bank writes (KV-cache append): ACT each bank, WR bursts, PRE."""

    writes: tuple[tuple[int, int, int], ...]  # (bank, row, bursts); distinct banks
    tag: str = "data_movement"


@dataclass(frozen=True)
class PimConfig:
    channels: int = 8
    banks: int = 16
    row_bytes: int = 2048
    gb_bytes: int = 2048
    lanes: int = 16
    elem_bytes: int = 2

    @property
    def row_cols(self) -> int:
        return self.row_bytes // BURST_BYTES

    @property
    def gb_cols(self) -> int:
        return self.gb_bytes // BURST_BYTES

    @classmethod
    def from_arch(cls, pim) -> "PimConfig":
        return cls(pim.channels, pim.banks, pim.row_bytes, pim.global_buffer_bytes, pim.mac_lanes)


@dataclass(frozen=True)
class PimMapping:
    """How one Einsum is laid out: on the PIM channels (a GEMV) or on the ASIC."""

    role: str                 # 'pim' or 'asic'
    groups: int = 1           # independent GEMVs with their own vector (heads)
    repeats: int = 1          # input vectors streamed one after another (prefill tokens)
    out: int = 0              # N: output neurons per GEMV
    inner: int = 0            # K: reduction length
    chunk_cols: int = 0       # columns of one accumulation (K chunk)
    neurons_per_row: int = 0
    kv_append: str = ""       # 'K' or 'V' when the matrix is the KV cache (decode)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.role == "asic":
            return "asic"
        return (f"pim gemv {self.groups}x{self.repeats}x[{self.out}x{self.inner}] "
                f"chunk {self.chunk_cols} cols, {self.neurons_per_row}/row"
                + (f", append {self.kv_append}" if self.kv_append else ""))


@dataclass
class ChannelPlan:
    """One channel's program for an Einsum plus what it will do (for conservation tests)."""

    ops: list = field(default_factory=list)
    useful_macs: int = 0      # MACs of the Einsum this channel's banks compute
    macab: int = 0            # all-bank MAC commands
    rows: int = 0             # all-bank row activations
    reads: int = 0            # result reads (RDMAC)
    gb_bursts: int = 0
    kv_bursts: int = 0


def stored_tensors(cascade: Cascade) -> frozenset[str]:
    """Tensors no Einsum produces: weights and the KV cache, which live in the DRAM."""
    return frozenset(t.name for t in cascade.inputs)


def _matrix_side(einsum: Einsum, leaves: frozenset[str] | None) -> int:
    """Index of the input that stays in DRAM: a stored tensor (weight, KV cache) if only
    one is; otherwise the second (the transformer builder puts weights/KV second)."""
    if leaves is not None:
        stored = [i for i, r in enumerate(einsum.inputs) if r.tensor.name in leaves]
        if len(stored) == 1:
            return stored[0]
    return 1


def map_einsum(einsum: Einsum, cfg: PimConfig, leaves: frozenset[str] | None = None) -> PimMapping:
    if not einsum.is_contraction:
        return PimMapping("asic")
    g = einsum.gemm_shape()
    side = _matrix_side(einsum, leaves)
    out, vec = (g["N"], g["M"]) if side == 1 else (g["M"], g["N"])
    k = g["K"]
    mat = einsum.inputs[side]
    kv = ""
    if "m" in mat.ranks and vec == 1:  # the KV cache: rank m is the cached sequence
        groups_r = einsum.gemm_groups()
        kv = "K" if "m" in groups_r["N" if side == 1 else "M"] else "V"
    kcols = math.ceil(k / cfg.lanes)
    chunk = min(kcols, cfg.row_cols, cfg.gb_cols)
    per_row = max(1, min(cfg.row_cols, cfg.gb_cols) // kcols) if kcols <= chunk else 1
    return PimMapping("pim", g["B"], vec, out, k, chunk, per_row, kv)


def _gemv_ops(neurons: int, m: PimMapping, cfg: PimConfig, row0: int) -> tuple[list, int, int, int, int]:
    """Ops for one GEMV on one channel whose busiest bank holds `neurons` neurons.
    Returns (ops, MACAB commands, row activations, result reads, GB bursts)."""
    if neurons == 0:
        return [], 0, 0, 0, 0
    kcols = math.ceil(m.inner / cfg.lanes)
    ops: list = []
    macab = rows = reads = gb = 0
    if kcols <= m.chunk_cols:  # whole K in one accumulation; neurons share rows
        p = m.neurons_per_row
        gb = min(p, neurons) * kcols
        ops.append(GbWrite(gb))
        left = neurons
        while left > 0:
            k_here = min(p, left)
            ops.append(RowOp(row0 + rows, ((kcols, True),) * k_here))
            rows += 1
            macab += k_here * kcols
            reads += k_here
            left -= k_here
        return ops, macab, rows, reads, gb
    done = 0
    while done < kcols:  # chunk-major: the global buffer holds one chunk at a time
        c = min(m.chunk_cols, kcols - done)
        ops.append(GbWrite(c))
        gb += c
        for _ in range(neurons):
            ops.append(RowOp(row0 + rows, ((c, True),)))
            rows += 1
        macab += neurons * c
        reads += neurons
        done += c
    return ops, macab, rows, reads, gb


def _kv_append_ops(m: PimMapping, cfg: PimConfig, heads_here: int) -> tuple[list, int]:
    ops: list = []
    bursts = 0
    for h in range(heads_here):
        if m.kv_append == "K":  # the token's K row of this head: one bank, K elements
            n = math.ceil(m.inner * cfg.elem_bytes / BURST_BYTES)
            ops.append(BankWrites((((m.out - 1) % cfg.banks, 1_000_000 + h, n),)))
            bursts += n
        else:  # V^T: one element appended to each of the head's `out` dimension rows
            per_bank = math.ceil(m.out / cfg.banks)
            for r in range(per_bank):
                ops.append(BankWrites(tuple((b, 2_000_000 + h * per_bank + r, 1) for b in range(cfg.banks))))
                bursts += cfg.banks
    return ops, bursts


def channel_plans(einsum: Einsum, m: PimMapping, cfg: PimConfig) -> list[ChannelPlan]:
    """The programs of every channel for ONE repeat (one input vector) of a PIM-mapped
    Einsum; a prefill's `repeats` vectors run this program one after another."""
    plans = [ChannelPlan() for _ in range(cfg.channels)]
    if m.role != "pim":
        return plans
    total_banks = cfg.channels * cfg.banks
    for _ in range(1):
        if m.groups >= 2:  # heads round-robin over channels, neurons over a channel's banks
            for c, plan in enumerate(plans):
                heads = len(range(c, m.groups, cfg.channels))
                if m.kv_append and heads:
                    ops, b = _kv_append_ops(m, cfg, heads)
                    plan.ops += ops
                    plan.kv_bursts += b
                for _ in range(heads):
                    _add(plan, math.ceil(m.out / cfg.banks), m, cfg)
                plan.useful_macs += heads * m.out * m.inner
        else:
            for c, plan in enumerate(plans):
                # neurons dealt round-robin to the channel's banks: bank j of channel c
                # gets neurons c*banks + j, + total_banks, ...
                first = c * cfg.banks
                busiest = len(range(first, m.out, total_banks))
                mine = sum(len(range(first + j, m.out, total_banks)) for j in range(cfg.banks))
                if m.kv_append and c == 0:
                    ops, b = _kv_append_ops(m, cfg, 1)
                    plan.ops += ops
                    plan.kv_bursts += b
                _add(plan, busiest, m, cfg)
                plan.useful_macs += mine * m.inner
    return plans


def _add(plan: ChannelPlan, neurons: int, m: PimMapping, cfg: PimConfig) -> None:
    ops, macab, rows, reads, gb = _gemv_ops(neurons, m, cfg, plan.rows)
    plan.ops += ops
    plan.macab += macab
    plan.rows += rows
    plan.reads += reads
    plan.gb_bursts += gb


def row_hit_rate(plans: list[ChannelPlan]) -> float:
    """Column MACs that found their row open over all column MACs (one miss per row)."""
    cols = sum(p.macab for p in plans)
    return 1 - sum(p.rows for p in plans) / cols if cols else 0.0


def bank_utilization(plans: list[ChannelPlan], cfg: PimConfig) -> float:
    """Useful MACs over the MAC slots the issued all-bank MAC commands provide."""
    slots = sum(p.macab for p in plans) * cfg.banks * cfg.lanes
    return sum(p.useful_macs for p in plans) / slots if slots else 0.0
