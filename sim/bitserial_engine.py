"""A contraction on a bitserial_array (BitMoD, and ANT/OliVe/FP16 baselines as its
bit-parallel case): tiles through the two SRAMs and DRAM, PE timing from sim/bitserial.py.

Mapping (the array's own, the paper's): output channels N on rows, tokens M on columns,
the reduction K streamed through each PE in quantization groups; batch ranks B (heads)
run one after another. The engine chooses its own schedule (below) and records it as
the result's GemmMapping; a mapping it is given is not used (own_schedule: the
simulator does not search the mapper's space for it).

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
from sim.pipeline import run_tiles, walk_runs
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


def _chunks(size: int, chunk: int) -> list[tuple[int, int]]:
    """The chunk lengths a rank of `size` splits into, as runs (length, count)."""
    full, rest = divmod(size, chunk)
    return [(chunk, full)] * bool(full) + [(rest, 1)] * bool(rest)


def _first_split(runs: list[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """The runs with the first chunk split off: (length, count, is_first)."""
    (length, count), rest = runs[0], runs[1:]
    return [(length, 1, True)] + [(length, count - 1, False)] * (count > 1) + \
        [(ln, c, False) for ln, c in rest]


def _plan(order: str, single: bool, B: int, M: int, N: int, K: int, R: int, C: int,
          ops: Operands, sram: int):
    """The schedule as [(segment, count)] run back to back, each segment a nested run
    list for sim.pipeline.run_tiles of tiles (m_len, n_len, load_bytes), and the
    schedule written as a GemmMapping (output-stationary, N on rows); None if the order
    does not fit. Its size depends on the number of distinct chunks, not on the ranks.

    Double-buffered (single=False): every operand gets half of its SRAM so the next tile
    loads while this one computes; one segment. Single-buffered resident chunk
    (single=True): the resident operand may fill its whole SRAM, so its next chunk can
    only load once the current chunk's tiles are done: one segment per resident chunk.
    Every batch (head) is new data: its first tile loads both operands.
    Within a batch, the resident operand loads at the first tile of each of its chunks;
    the streamed one at every tile, except when it is a single chunk (then once per
    batch: it stays).
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
    n_runs, m_runs = _chunks(N, nt), _chunks(M, mt)
    if order == "inputs-resident":  # outer: token chunks (resident A), inner: weight folds
        outer, inner = m_runs, n_runs

        def tile(o_len, i_len, load_o, load_i):
            return (o_len, i_len, load_o * _bytes(o_len * K, ops.a_bits)
                    + load_i * _bytes(i_len * K, ops.w_bits))
    else:  # outer: weight chunks (resident W, or a fold when streaming), inner: token folds
        outer, inner = n_runs, m_runs

        def tile(o_len, i_len, load_o, load_i):
            return (i_len, o_len, load_i * _bytes(i_len * K, ops.a_bits)
                    + load_o * _bytes(o_len * K, ops.w_bits))
    streaming = order == "streaming"
    inner_stays = not streaming and sum(c for _, c in inner) == 1

    def row(o_len: int, first_row: bool):
        """One outer chunk's tiles: the outer operand loads at its first tile."""
        return [(tile(o_len, i_len, first or streaming, streaming or not inner_stays or first_row),
                 count) for i_len, count, first in _first_split(inner)]

    rows = [(row(o_len, first), count) for o_len, count, first in _first_split(outer)]
    order_ = ("B", "M", "N", "K") if order == "inputs-resident" else ("B", "N", "M", "K")
    schedule = GemmMapping("os", "N", (("B", 1), ("M", mt), ("N", nt), ("K", K)), order_)
    if single:  # a segment per resident chunk
        return [(seq, B * count) for seq, count in rows], schedule
    return [([(rows, B)], 1)], schedule


# How the controller ranks candidate tile orders (field schedule_objective of the array).
SCHEDULE_KEYS = {
    "latency": lambda r: (r.cycles, r.energy_j),
    "energy": lambda r: (r.energy_j, r.cycles),
    "edp": lambda r: (r.cycles * r.energy_j, r.cycles),
}


@unit_engine("bitserial_array", compulsory_dram_bytes, own_schedule=True,
             reads=("array2d", "buffer", "dram"))
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
            plan = _plan(order, single, B, M, N, K, R, C, ops, sram)
            if plan is not None:
                candidates.append(_result(einsum, arch, plan[1], ops, plan[0], tile_timing))
    return min(candidates, key=SCHEDULE_KEYS[arch.array2d.schedule_objective])


def _result(einsum, arch, m, ops, segments, tile_timing) -> EinsumResult:
    """Cycles, traffic and energy of one schedule (segments of tiles run back to back)."""
    array = arch.array2d
    R, C = array.rows, array.cols
    K = GemmProblem.of(einsum).size("K")
    cycles = 0
    for seg, count in segments:
        timed = _timed(seg, ops, tile_timing)
        cycles += count * run_tiles(timed, arch.dram_bytes_per_cycle).cycles
    macs = busy = glb_read = compute_cycles = dram_read = dram_write = 0
    for (m_len, n_len, load), n in walk_runs([(seg, count) for seg, count in segments]):
        t = tile_timing(m_len, n_len)
        macs += n * t.macs
        busy += n * t.pe_busy
        compute_cycles += n * t.cycles
        dram_read += n * load
        dram_write += n * _bytes(m_len * n_len, ops.o_bits)
        col_folds, row_folds = math.ceil(m_len / C), math.ceil(n_len / R)
        # Broadcast buses: each fold reads its rows' weights and its columns' activations once.
        glb_read += n * (col_folds * _bytes(n_len * K, ops.w_bits)
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


def _timed(seq, ops, tile_timing):
    """The nested run list with each tile as (load bytes, cycles, writeback bytes)."""
    out = []
    for item, count in seq:
        if isinstance(item, tuple):
            m_len, n_len, load = item
            item = (load, tile_timing(m_len, n_len).cycles, _bytes(m_len * n_len, ops.o_bits))
        else:
            item = _timed(item, ops, tile_timing)
        out.append((item, count))
    return out
