"""Fusion mappings for attention: which Einsums run together, on which array, with what
tiles, and how much on-chip buffer that needs.

- FuseMax (Nayak et al., MICRO 2024, Sec. 5): the 1-pass cascade; Einsums reducing over
  the big ranks (BQK, LM, SLN, SLD, SLNV) on the 2D array, the running-state Einsums
  (RM, PRM, SPD, RD, SPNV, RNV, AV) on the 1D array, pipelined across M1 tiles. The
  array holds a (rows x M0) block of scores; the buffer holds a P tile of queries with
  its running state and double-buffered K/V tiles: its size does not depend on M.
- FLAT (Kao et al., ASPLOS 2023, as FuseMax Sec. 6 evaluates it): the 3-pass cascade
  fused per row block of R queries: QK, the softmax and AV of a block share a buffer of
  R x M scores (double-buffered so blocks pipeline), which grows with M. When even
  the smallest block does not fit, the part that does not fit spills to DRAM.
The mapper picks tile sizes under the buffer capacity; sim/fused.py times them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from yamlspec import SpecError
from arch import Architecture

WORD = 2  # bytes per fp16 value


@dataclass(frozen=True)
class AttentionShape:
    batch: int
    heads: int
    p: int      # queries
    m: int      # keys / values
    e: int      # head dimension (also the value dimension F)

    @property
    def heads_total(self) -> int:
        return self.batch * self.heads

    @classmethod
    def of(cls, cascade) -> "AttentionShape":
        """The shape of an attention cascade of workloads.attention: queries Q[b,h,p,e]
        and keys K[b,h,m,e] (or tiled, BK[b,h,m1,m0,e])."""
        t = cascade.tensors
        keys = t.get("K") or t.get("BK")
        if "Q" not in t or keys is None or len(t["Q"].shape) != 4:
            raise SpecError(f"a fused attention group needs Q[b,h,p,e] and K[b,h,m,e] (or "
                            f"BK[b,h,m1,m0,e]) tensors; workload '{cascade.name}' has "
                            f"{', '.join(sorted(t)[:8])}")
        b, h, p, e = t["Q"].shape
        m = keys.shape[2] * (keys.shape[3] if len(keys.shape) == 5 else 1)
        return cls(b, h, p, m, e)


@dataclass(frozen=True)
class Fused:
    """Run a whole cascade as one fused group by the registered strategy `strategy`
    ('fusemax', 'flat'), with `mapping` (None: the strategy picks its best)."""
    strategy: str
    mapping: "FuseMaxMapping | FlatMapping | None" = None


@dataclass(frozen=True)
class FuseMaxMapping:
    p_group: int     # queries on the 2D array at once (array rows)
    m0: int          # keys per tile (array columns)
    p_tile: int      # queries whose state stays in the buffer while K/V stream by
    buffer_bytes: int

    def describe(self) -> str:
        return (f"fusemax: P tile {self.p_tile} ({self.p_tile // self.p_group} groups of "
                f"{self.p_group}), M0 {self.m0}, buffer {self.buffer_bytes / 2**20:.2f} MiB")

    def to_dict(self) -> dict:
        return {"strategy": "fusemax", **asdict(self)}


@dataclass(frozen=True)
class FlatMapping:
    rows: int            # row block R
    kv_resident: bool    # K and V kept on chip for the whole head
    spill_fraction: float  # share of the score block that does not fit on chip
    buffer_bytes: int    # what the mapping asks of the buffer (before spilling)

    def describe(self) -> str:
        return (f"flat: row block {self.rows}, K/V {'resident' if self.kv_resident else 'streamed'}"
                f", spill {self.spill_fraction:.1%}, needs {self.buffer_bytes / 2**20:.1f} MiB")

    def to_dict(self) -> dict:
        return {"strategy": "flat", **asdict(self)}


@dataclass(frozen=True)
class SoftmaxRowsMapping:
    """The Unfused baseline's softmax: query rows of M scores in the buffer (double-
    buffered) while the 3-pass softmax runs over them; the share that does not fit spills."""
    rows: int              # query rows the buffer holds at once (one filling, one draining)
    spill_fraction: float

    def describe(self) -> str:
        return f"softmax per row: {self.rows} rows in the buffer, spill {self.spill_fraction:.1%}"

    def to_dict(self) -> dict:
        return {"strategy": "softmax-rows", **asdict(self)}


def map_softmax_rows(shape: AttentionShape, arch: Architecture) -> SoftmaxRowsMapping:
    row = WORD * shape.m
    fit = arch.buffer.capacity_bytes // (2 * row)
    return SoftmaxRowsMapping(max(1, min(fit, shape.p)),
                              max(0.0, 1.0 - arch.buffer.capacity_bytes / (2 * row)))


def fusemax_buffer_bytes(p_tile: int, m0: int, e: int) -> int:
    """Q tile, running numerator RNV, running max and sum per query, and two K/V tiles
    each double-buffered. No term depends on M."""
    return WORD * (p_tile * e + p_tile * e + 2 * p_tile + 2 * 2 * m0 * e)


def map_fusemax(shape: AttentionShape, arch: Architecture) -> FuseMaxMapping:
    """The largest P tile (a whole number of array-row groups dividing the queries)
    whose state fits: fewer P tiles means fewer re-reads of K and V from DRAM."""
    rows, cols = arch.array2d.rows, arch.array2d.cols
    p_group = min(rows, shape.p)
    groups = -(-shape.p // p_group)
    cap = arch.buffer.capacity_bytes
    best = None
    for g in range(1, groups + 1):
        if groups % g:
            continue
        need = fusemax_buffer_bytes(g * p_group, cols, shape.e)
        if need <= cap:
            best = g
    if best is None:
        raise ValueError(f"FuseMax cannot fit even one group of {p_group} queries with E="
                         f"{shape.e} in {cap} bytes")
    return FuseMaxMapping(p_group, cols, best * p_group,
                          fusemax_buffer_bytes(best * p_group, cols, shape.e))


def flat_buffer_bytes(rows: int, m: int, e: int, kv_resident: bool) -> int:
    """Two score blocks of rows x M (one filling while the other drains), Q and output
    blocks, and K/V: whole (resident) or one double-buffered tile of array columns."""
    kv = 2 * m * e if kv_resident else 2 * 2 * 256 * e
    return WORD * (2 * rows * m + 2 * rows * e + kv)


def flat_candidates(shape: AttentionShape, arch: Architecture) -> list[FlatMapping]:
    """Row blocks from 1 to P (powers of two) with K/V resident or streamed; a block whose
    scores do not fit spills the excess."""
    cap = arch.buffer.capacity_bytes
    out = []
    r = 1
    while r <= shape.p:
        for resident in (True, False):
            need = flat_buffer_bytes(r, shape.m, shape.e, resident)
            fixed = need - WORD * 2 * r * shape.m
            if fixed > cap:
                continue
            spill = max(0.0, 1.0 - (cap - fixed) / (WORD * 2 * r * shape.m))
            out.append(FlatMapping(r, resident, spill, need))
        r *= 2
    return out
