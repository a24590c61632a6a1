"""A contraction on a bitserial_array (BitMoD, and ANT/OliVe/FP16 baselines as its
bit-parallel case): tiles through the two SRAMs and DRAM, PE timing from sim/bitserial.py.

Mapping (the array's own, the paper's): output channels N on rows, tokens M on columns,
the reduction K streamed through each PE in quantization groups; batch ranks B (heads)
run one after another. The GemmMapping the mapper proposes is recorded, not used.

Operands. The second input is a *model weight* when it has no batch rank (the same
matrix for every sequence and head): it is stored at the array's quantized bits per
weight and steps through the PE at `weight_code_bits`, with per-group dequantization.
Any other second operand (K, V in attention) is an activation: its own format's bits,
one group spanning all of K, no dequantization.

Buffers. The global buffer is the paper's two equal SRAMs, one for weights, one for
inputs. Tile orders tried, the fastest kept (ties: less DRAM traffic):
  'weights-resident': the largest multiple of `rows` output channels whose weights fit
      stays while every token fold streams past (activations re-read per weight chunk
      unless all of them fit in half the input SRAM);
  'inputs-resident': the largest multiple of `cols` tokens whose activations fit stays
      while every weight fold streams past (weights re-read per token chunk unless all
      of them fit in half the weight SRAM);
  'streaming': both operands re-read fold by fold.
The resident chunk is either double-buffered (half its SRAM; the next chunk loads while
this one computes) or single-buffered (all of its SRAM; the next chunk loads only after
this one's tiles finish). Streamed operands are used once per fold and pass through a
double-buffered window. Tiles run through the DRAM/compute overlap of sim/pipeline.py.
Among the candidate schedules the array's `schedule_objective` picks one: 'edp'
(default: least cycles x energy), 'latency' or 'energy'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from arch import Architecture
from mapper import GemmMapping, GemmProblem
from sim.bitserial import PEConfig, array_cycles
from sim.energy import Actions
from sim.pipeline import run_pipeline
from sim.registry import unit_engine
from sim.result import EinsumResult
from workloads import Einsum

# Fallback while a format has no entry in arch.numformats (e.g. a custom name).
_CODE_BITS_FALLBACK = {"fp16": 16.0, "bf16": 16.0}


def storage_bits(array) -> float:
    """Bits per stored weight, scale and type overhead included."""
    if array.weight_storage_bits is not None:
        return float(array.weight_storage_bits)
    try:
        from arch.numformats import bits_per_weight
        return float(bits_per_weight(array.weight_format, array.group_size))
    except (ImportError, KeyError, ValueError):
        return _CODE_BITS_FALLBACK.get(array.weight_format, float(array.weight_code_bits))


def weight_operand_is_model_weight(einsum: Einsum) -> bool:
    return not einsum.gemm_groups()["B"]


@dataclass(frozen=True)
class Operands:
    a_bits: float      # activation bits (first input)
    w_bits: float      # second input's stored bits per element
    o_bits: float
    pe: PEConfig


def operands(einsum: Einsum, arch: Architecture) -> Operands:
    array = arch.array2d
    a, w = einsum.inputs
    depth = array.pipeline_depth
    bpc = array.weight_bits_per_cycle
    if weight_operand_is_model_weight(einsum):
        code = array.weight_code_bits
        pe = PEConfig(array.lanes, bpc or code, code, array.group_size, array.dequant_cycles,
                      depth)
        w_bits = storage_bits(array)
    else:  # an activation in the weight port: its full width, one group, no rescale
        code = w.tensor.bits
        k = einsum.gemm_shape()["K"]
        pe = PEConfig(array.lanes, bpc or code, code, k, 0, depth)
        w_bits = float(code)
    return Operands(float(a.tensor.bits), w_bits, float(einsum.output.tensor.bits), pe)


def _bytes(elements: int, bits: float) -> int:
    return math.ceil(elements * bits / 8)


def compulsory_dram_bytes(cascade, arch: Architecture) -> int:
    """The cascade's compulsory DRAM bytes with model weights at their stored (quantized)
    bits: every input read once, every output written once."""
    weights = {e.inputs[1].tensor.name for e in cascade.einsums
               if e.is_contraction and weight_operand_is_model_weight(e)}
    bits = storage_bits(arch.array2d)
    return (sum(_bytes(t.elements, bits) if t.name in weights else t.bytes
                for t in cascade.inputs) + sum(t.bytes for t in cascade.outputs))


def _whole_folds(fit: int, fold: int) -> int:
    """A resident chunk: whole folds of the array if at least one fits, else what fits
    (a part-filled fold leaves some rows or columns idle)."""
    return fit // fold * fold if fit >= fold else fit


def _plan(order: str, single: bool, B: int, M: int, N: int, K: int, R: int, C: int,
          ops: Operands, sram: int):
    """Segments of tiles (m_len, n_len, load_bytes) in run order, or None if infeasible.

    Double-buffered (single=False): every operand gets half of its SRAM so the next tile
    loads while this one computes; one segment. Single-buffered resident chunk
    (single=True): the resident operand may fill its whole SRAM, so its next chunk can
    only load once the current chunk's tiles are done: one segment per resident chunk,
    segments run back to back (the streamed operand stays double-buffered).
    """
    cap = sram if single else sram // 2
    w_row, a_row = _bytes(K, ops.w_bits), _bytes(K, ops.a_bits)
    all_a_fit = M * a_row <= sram // 2
    all_w_fit = N * w_row <= sram // 2
    if order == "weights-resident":
        nt = _whole_folds(cap // w_row, R)
        if nt < 1:
            return None
        mt = M if all_a_fit else C
    elif order == "inputs-resident":
        mt = _whole_folds(cap // a_row, C)
        if mt < 1:
            return None
        nt = N if all_w_fit else R
    else:  # streaming: a fold at a time, both operands re-read
        mt, nt = C, R
    nt, mt = min(nt, N), min(mt, M)
    n_starts, m_starts = range(0, N, nt), range(0, M, mt)
    inputs_outer = order == "inputs-resident"
    pairs = ([(n0, m0) for m0 in m_starts for n0 in n_starts] if inputs_outer
             else [(n0, m0) for n0 in n_starts for m0 in m_starts])
    segments: list[list[tuple[int, int, int]]] = []
    for _ in range(B):
        loaded_a: set[int] = set()
        loaded_w: set[int] = set()
        last = (None, None)
        for n0, m0 in pairs:
            n_len, m_len = min(nt, N - n0), min(mt, M - m0)
            resident_changed = (m0 != last[1]) if inputs_outer else (n0 != last[0])
            if not segments or (single and resident_changed):
                segments.append([])
            load = 0
            # A chunk stays only while it is the current one unless all of it fits.
            keep = order != "streaming"
            if m0 != last[1] and not (keep and all_a_fit and m0 in loaded_a):
                load += _bytes(m_len * K, ops.a_bits)
                loaded_a.add(m0)
            if n0 != last[0] and not (keep and all_w_fit and n0 in loaded_w):
                load += _bytes(n_len * K, ops.w_bits)
                loaded_w.add(n0)
            segments[-1].append((m_len, n_len, load))
            last = (n0, m0) if keep else (None, None)
    return segments


# How the controller ranks candidate tile orders (field schedule_objective of the array).
SCHEDULE_KEYS = {
    "latency": lambda r: (r.cycles, r.energy_j),
    "energy": lambda r: (r.energy_j, r.cycles),
    "edp": lambda r: (r.cycles * r.energy_j, r.cycles),
}


@unit_engine("bitserial_array", compulsory_dram_bytes)
def run_bitserial(einsum: Einsum, arch: Architecture, m: GemmMapping) -> EinsumResult:
    p = GemmProblem.of(einsum)
    R, C = arch.array2d.rows, arch.array2d.cols
    B, M, N, K = (p.size(g) for g in ("B", "M", "N", "K"))
    ops = operands(einsum, arch)
    sram = arch.buffer.capacity_bytes // 2       # the weight SRAM and the input SRAM, equal

    @lru_cache(maxsize=None)
    def tile_timing(m_len: int, n_len: int):
        return array_cycles(R, C, ops.pe, m_len, n_len, K)

    candidates = []
    for order in ("weights-resident", "inputs-resident", "streaming"):
        for single in ((False, True) if order != "streaming" else (False,)):
            segments = _plan(order, single, B, M, N, K, R, C, ops, sram)
            if segments is not None:
                candidates.append(_result(einsum, arch, m, ops, segments, tile_timing))
    return min(candidates, key=SCHEDULE_KEYS[arch.array2d.schedule_objective])


def _result(einsum, arch, m, ops, segments, tile_timing) -> EinsumResult:
    """Cycles, traffic and energy of one schedule (segments of tiles run back to back)."""
    array = arch.array2d
    R, C = array.rows, array.cols
    K = GemmProblem.of(einsum).size("K")
    cycles = 0
    for seg in segments:
        cycles += run_pipeline([t[2] for t in seg], [tile_timing(t[0], t[1]).cycles for t in seg],
                               [_bytes(t[0] * t[1], ops.o_bits) for t in seg],
                               list(range(len(seg))), arch.dram_bytes_per_cycle).cycles
    tiles = [t for seg in segments for t in seg]
    macs = busy = glb_read = compute_cycles = dram_read = dram_write = 0
    for m_len, n_len, load in tiles:
        t = tile_timing(m_len, n_len)
        macs += t.macs
        busy += t.pe_busy
        compute_cycles += t.cycles
        dram_read += load
        dram_write += _bytes(m_len * n_len, ops.o_bits)
        col_folds, row_folds = math.ceil(m_len / C), math.ceil(n_len / R)
        # Broadcast buses: each fold reads its rows' weights and its columns' activations once.
        glb_read += (col_folds * _bytes(n_len * K, ops.w_bits)
                     + row_folds * _bytes(m_len * K, ops.a_bits))
    glb_write = dram_read + dram_write        # fills from DRAM, outputs staged for writeback
    glb_read += dram_write
    energy = (Actions().add(array, "compute", compute_cycles * array.pes)
              .memory(arch, glb_read, glb_write, dram_read, dram_write).pj)
    return EinsumResult(
        name=einsum.name, kind="contraction", unit=array.name, cycles=cycles,
        compute_cycles=compute_cycles, macs=macs, ops=0, busy={array.name: float(busy)},
        dram_read_bytes=int(dram_read), dram_write_bytes=int(dram_write),
        glb_read_bytes=int(glb_read), glb_write_bytes=int(glb_write), energy_pj=energy,
        mapping=m)
