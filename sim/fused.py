"""Fused attention on a 2D + 1D array: FuseMax's pipelined 1-pass cascade and FLAT's
row-block fusion of the 3-pass cascade, timed as tile streams (sim/stream.py) with
DRAM as a third unit, and costed action by action.

Per-tile stage cycles are not typed in: they come from the cascade's Einsums and the
architecture's per-operation cycles (arch array1d op_cycles; FuseMax's 2D PEs use the
same add/multiply/max units, so exp there is also 6 MAC cycles). Inter-array
transfers are taken as free (FuseMax Sec. 5 interleaves QK and SLNV to hide them;
FLAT's blocks are large), and array fill/drain skew is not added to either design.

FuseMax tile (P group of array-rows queries x M0 keys), units 2D / 1D / DRAM:
  LD  DRAM  K/V tile (when a new M1 tile starts) and the group's Q (first M1 tile)
  A   2D    BQK, LM                      waits LD
  C   1D    RM                           waits A, and C of the group's previous tile
  B   2D    SLN, SLD, SLNV   (stage 1)   waits C
  D   1D    PRM, SPD, RD, SPNV, RNV (+ AV at the last M1 tile)   (stage 2)
            waits B, and D of the group's previous tile
  WB  DRAM  the group's output (last M1 tile)   (stage 3 + 2 G: writes queue behind
            the next prefetches on the in-order DRAM port)
The stages are the software pipeline: the 2D array runs BQK of tile t+1 before the
exponentials of tile t, and the 1D array updates the running max of tile t+2 before
the running sums of tile t, so neither array waits on the other in steady state.
FLAT row block (R queries x all M keys):
  LD  DRAM  Q block (+ K, V unless resident)   waits QK two blocks back (its slot)
  QK  2D    waits LD and AV two blocks back (the score buffer is double-buffered)
  SP  DRAM  the spilled part of the scores, out and back at each pass boundary
  SM  1D    GM, SN, SD, A over the block      waits QK
  AV  2D    (stage 1)                          waits SM and SP
  WB  DRAM  output block (stage 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from arch import Architecture
from mapper.fusion import (WORD, AttentionShape, FlatMapping, FuseMaxMapping, flat_candidates,
                           map_fusemax)
from sim.pe_energy import PECounter, unfused_energy_pj
from sim.stream import Op, makespan
from sim.vector_engine import cycles_per_point
from workloads import attention
from workloads.ir import Einsum


@dataclass
class FusedResult:
    design: str
    cycles: int
    clock_ghz: float
    macs: int
    busy: dict[str, float]        # unit -> useful PE-cycles (2D) / lane-cycles (1D)
    unit_sizes: dict[str, int]
    dram_bytes: float
    energy_pj: dict[str, float]   # 'component.action' -> pJ
    buffer_bytes: int
    mapping: str
    meta: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.cycles / (self.clock_ghz * 1e9)

    @property
    def energy_j(self) -> float:
        return sum(self.energy_pj.values()) * 1e-12

    @property
    def utilization(self) -> dict[str, float]:
        return {u: self.busy[u] / (self.unit_sizes[u] * self.cycles) for u in self.busy}

    def energy_by_component_j(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, pj in self.energy_pj.items():
            comp = key.split(".")[0]
            out[comp] = out.get(comp, 0.0) + pj * 1e-12
        return out


def _dram_cycles(nbytes: float, arch: Architecture) -> int:
    return math.ceil(nbytes / arch.dram_bytes_per_cycle) if nbytes else 0


def _op_energy(einsum: Einsum, count: float, arch: Architecture, unit_name: str,
               out: dict[str, float]):
    """Energy of running `einsum` `count` times (per-op table of the 1D array, whose
    functional units FuseMax's 2D PEs share); MACs at the 2D array's MAC energy."""
    if einsum.is_contraction:
        key = f"{arch.array2d.name}.mac"
        out[key] = out.get(key, 0.0) + count * einsum.macs * arch.array2d.energy_pj("mac", "fp16")
        return
    for op, n in einsum.vector_ops.items():
        key = f"{unit_name}.{op}"
        out[key] = out.get(key, 0.0) + count * n * arch.array1d.energy_pj(op)


def _add(d: dict, key: str, value: float):
    d[key] = d.get(key, 0.0) + value


# ------------------------------------------------------------------------ FuseMax

def fusemax_tile_costs(shape: AttentionShape, arch: Architecture, m: FuseMaxMapping):
    """Per-tile cycles and work of each Einsum of the 1-pass cascade on its bound array."""
    tile = attention.one_pass(b=1, h=1, p=m.p_group, m=m.m0, e=shape.e, m0=m.m0)
    binding = tile.meta["fusemax_binding"]
    pes, lanes = arch.array2d.pes, arch.array1d.lanes
    costs = {}
    for e in tile.einsums:
        unit = binding[e.name]
        if e.is_contraction:
            cycles, work = math.ceil(e.macs / pes), e.macs
        else:
            cpp = cycles_per_point(e, arch)
            size = pes if unit == "2D" else lanes
            cycles, work = math.ceil(e.points / size) * cpp, e.points * cpp
        costs[e.name] = (unit, cycles, work, e)
    return costs


def simulate_fusemax(shape: AttentionShape, arch: Architecture,
                     mapping: FuseMaxMapping | None = None, exact_limit: int = 4000
                     ) -> FusedResult:
    m = mapping or map_fusemax(shape, arch)
    costs = fusemax_tile_costs(shape, arch, m)
    G = m.p_tile // m.p_group
    M1 = -(-shape.m // m.m0)
    n_segments = shape.heads_total * (-(-shape.p // m.p_tile))
    e = shape.e
    stage_of = {"A": ("BQK", "LM"), "C": ("RM",), "B": ("SLN", "SLD", "SLNV"),
                "D": ("PRM", "SPD", "RD", "SPNV", "RNV")}
    cyc = {s: sum(costs[n][1] for n in names) for s, names in stage_of.items()}
    work = {s: sum(costs[n][2] for n in names) for s, names in stage_of.items()}
    av_cycles, av_work = costs["AV"][1], costs["AV"][2]
    kv_bytes = 2 * m.m0 * e * WORD
    q_bytes = o_bytes = m.p_group * e * WORD

    def seg_ops(s: int, step: int, steps: int) -> list[Op]:
        m1, g = divmod(step, G)
        last = (m1 + 1) * G >= steps
        load = (kv_bytes if g == 0 else 0) + (q_bytes if m1 == 0 else 0)
        return [
            Op("LD", "DRAM", _dram_cycles(load, arch), load, (("B", 2 * G),)),
            Op("A", "2D", cyc["A"], work["A"], (("LD", 0),)),
            Op("C", "1D", cyc["C"], work["C"], (("A", 0), ("C", G))),
            Op("B", "2D", cyc["B"], work["B"], (("C", 0),), stage=1),
            Op("D", "1D", cyc["D"] + (av_cycles if last else 0),
               work["D"] + (av_work if last else 0), (("B", 0), ("D", G)), stage=2),
            Op("WB", "DRAM", _dram_cycles(o_bytes if last else 0, arch),
               o_bytes if last else 0, (("D", 0),), stage=3 + 2 * G),
        ]

    cycles = makespan(seg_ops, n_segments, M1, period=G, exact_limit=exact_limit)
    tiles = n_segments * M1 * G
    groups = n_segments * G  # (head, P group) pairs
    busy = {"2D": tiles * (work["A"] + work["B"]),
            "1D": tiles * (work["C"] + work["D"]) + groups * av_work}
    macs = tiles * sum(c[2] for c in costs.values() if c[3].is_contraction)
    # DRAM: K/V once per P tile, Q in and O out once.
    dram = n_segments * M1 * kv_bytes + groups * (q_bytes + o_bytes)
    energy: dict[str, float] = {}
    for name, (unit, _c, _w, ein) in costs.items():
        count = groups if name == "AV" else tiles
        _op_energy(ein, count, arch, arch.array2d.name if unit == "2D" else arch.array1d.name,
                   energy)
    glb, d = arch.buffer, arch.dram
    state = m.p_group * (e + 2) * WORD  # RNV, RM, RD of one group, read and written per tile
    glb_read = tiles * (q_bytes + kv_bytes + state) + groups * o_bytes
    glb_write = tiles * state + dram - groups * o_bytes
    _add(energy, f"{glb.name}.read", glb_read * glb.energy_pj("read_byte"))
    _add(energy, f"{glb.name}.write", glb_write * glb.energy_pj("write_byte"))
    _add(energy, f"{d.name}.read", (dram - groups * o_bytes) * d.energy_pj("read_byte"))
    _add(energy, f"{d.name}.write", groups * o_bytes * d.energy_pj("write_byte"))
    for key, pj in fusemax_pe_local(costs, tiles, groups, arch).energy_pj().items():
        _add(energy, key, pj)
    return FusedResult("fusemax", cycles, arch.clock_ghz, macs, busy,
                       {"2D": arch.array2d.pes, "1D": arch.array1d.lanes}, dram, energy,
                       m.buffer_bytes, m.describe(),
                       {"tile_cycles": cyc, "p_tile": m.p_tile, "groups_per_tile": G, "m1": M1,
                        "segment_ops": seg_ops, "segments": n_segments, "steps": M1 * G})


def fusemax_pe_local(costs: dict, tiles: int, groups: int, arch: Architecture) -> PECounter:
    """Register and network accesses of FuseMax's binding (rules: sim/pe_energy.py).
    2D, per tile: BQK output stationary, its scores stay in the PEs; LM and SLD pass a
    partial max / sum along each row (one delivery per reduction op) and send one value
    per row to the 1D array; SLN gets RM broadcast to every PE of its row; SLNV keeps
    SLN in place while BV and the partial sums move (2 deliveries per MAC) and sends
    P x E sums to the 1D array. 1D, per tile: the running state (RM_in, RD_in, RNV_in)
    arrives from the buffer and RM, RD, RNV go back; LM, SLD, SLNV arrive from the 2D
    array; PRM, SPD, SPNV stay in the lane; AV (last tile) leaves for the buffer."""
    pc = PECounter(arch)
    a2, a1 = arch.array2d.name, arch.array1d.name
    e = {name: c[3] for name, c in costs.items()}
    pc.compute(a2, e["BQK"], tiles)
    pc.arrive(a2, 2 * e["BQK"].macs * tiles)
    for name in ("LM", "SLD"):
        ein = e[name]
        pc.compute(a2, ein, tiles)
        pc.arrive(a2, (ein.points - ein.output_points) * tiles)
        pc.leave(a2, ein.output_points * tiles, to_buffer=False)
    pc.compute(a2, e["SLN"], tiles)
    pc.arrive(a2, e["SLN"].points * tiles)
    pc.compute(a2, e["SLNV"], tiles)
    pc.arrive(a2, 2 * e["SLNV"].macs * tiles)
    pc.leave(a2, e["SLNV"].output_points * tiles, to_buffer=False)
    lane_internal = {"RM": (), "PRM": ("RM_in", "RM"), "SPD": ("PRM",), "RD": ("SPD",),
                     "SPNV": ("PRM",), "RNV": ("SPNV",)}
    for name, internal in lane_internal.items():
        pc.lanes(a1, e[name], tiles, internal, keep=name in ("PRM", "SPD", "SPNV"))
    pc.lanes(a1, e["AV"], groups, ("RNV_end", "RD_end"))
    return pc


# --------------------------------------------------------------------------- FLAT

def _flat_costs(shape: AttentionShape, arch: Architecture, rows: int):
    """Cycles and work of one row block: QK and AV fold over the array (queries x keys
    spatially, E in time), the softmax runs its per-element op cycles on the lanes."""
    casc = attention.three_pass(b=1, h=1, p=rows, m=shape.m, e=shape.e)
    by = {e.name: e for e in casc.einsums}
    R, C = arch.array2d.rows, arch.array2d.cols
    folds = -(-rows // R) * -(-shape.m // C)
    gemm = folds * shape.e
    cpp = sum(cycles_per_point(by[n], arch) for n in ("GM", "SN", "SD", "A"))
    sm = -(-rows * shape.m // arch.array1d.lanes) * cpp
    return casc, gemm, sm, rows * shape.m * cpp


def simulate_flat(shape: AttentionShape, arch: Architecture,
                  mapping: FlatMapping | None = None, exact_limit: int = 4000) -> FusedResult:
    """The FLAT mapping with the least energy x delay unless one is given. (FLAT is 1D-
    bound, so its candidates' latencies differ only by pipeline fill, a few parts per
    million; ranking by latency first would let that pick row blocks costing up to 18%
    more energy.)"""
    if mapping is None:
        return min((simulate_flat(shape, arch, c, exact_limit)
                    for c in flat_candidates(shape, arch)),
                   key=lambda r: r.cycles * r.energy_j)
    mp = mapping
    R, e, M = mp.rows, shape.e, shape.m
    casc, gemm, sm, sm_work = _flat_costs(shape, arch, R)
    blocks = -(-shape.p // R)
    kv = 2 * M * e * WORD
    q_bytes = o_bytes = R * e * WORD
    score = R * M * WORD
    # On chip the softmax touches a score element 8 times (write QK, read for GM, read +
    # write for SN, read for SD, read + write for A, read for AV). A spilled element goes
    # to DRAM and back once at each pass boundary of the 3-pass cascade (QK: pass 1 -> 2,
    # SN: pass 2 -> 3): GM, SD and A -> AV consume it within its pass, staged in the
    # buffer. 2 x (passes - 1) = 4 DRAM touches.
    crossings = attention.passes(casc).passes - 1
    spill = mp.spill_fraction * score * 2 * crossings

    def seg_ops(s: int, step: int, steps: int) -> list[Op]:
        load = q_bytes + (kv if step == 0 or not mp.kv_resident else 0)
        return [
            Op("LD", "DRAM", _dram_cycles(load, arch), load, (("QK", 2),)),
            Op("QK", "2D", gemm, R * M * e, (("LD", 0), ("AV", 2))),
            Op("SP", "DRAM", _dram_cycles(spill, arch), spill, (("QK", 0),), stage=1),
            Op("SM", "1D", sm, sm_work, (("QK", 0),)),
            Op("AV", "2D", gemm, R * M * e, (("SM", 0), ("SP", 0)), stage=1),
            Op("WB", "DRAM", _dram_cycles(o_bytes, arch), o_bytes, (("AV", 0),), stage=2),
        ]

    n = shape.heads_total
    cycles = makespan(seg_ops, n, blocks, exact_limit=exact_limit)
    nb = n * blocks
    busy = {"2D": nb * 2 * R * M * e, "1D": nb * sm_work}
    macs = nb * 2 * R * M * e
    kv_loads = n * (blocks if not mp.kv_resident else 1)
    dram_read = nb * (q_bytes + spill / 2) + kv_loads * kv
    dram_write = nb * (o_bytes + spill / 2)
    energy: dict[str, float] = {}
    for ein in casc.einsums:
        _op_energy(ein, nb, arch, arch.array1d.name, energy)
    glb, d = arch.buffer, arch.dram
    Rf, Cf = -(-R // arch.array2d.rows), -(-M // arch.array2d.cols)
    # Operand reads into the array: Q once per key fold, K and V once per query fold,
    # AV partial sums read and written once per key fold; scores 8 touches each.
    feed = (Cf * R * e + Rf * M * e) * WORD + Rf * M * e * WORD + 2 * Cf * R * e * WORD
    glb_read = nb * (feed + 5 * score + o_bytes)
    glb_write = nb * (3 * score + Cf * R * e * WORD) + dram_read
    _add(energy, f"{glb.name}.read", glb_read * glb.energy_pj("read_byte"))
    _add(energy, f"{glb.name}.write", glb_write * glb.energy_pj("write_byte"))
    _add(energy, f"{d.name}.read", dram_read * d.energy_pj("read_byte"))
    _add(energy, f"{d.name}.write", dram_write * d.energy_pj("write_byte"))
    # PE-local (sim/pe_energy.py): QK and AV output stationary (QK's scores drained to
    # the buffer); GM, SN, SD, A on the lanes, every operand from the buffer.
    for key, pj in unfused_energy_pj(casc, arch, nb).items():
        _add(energy, key, pj)
    return FusedResult("flat", cycles, arch.clock_ghz, macs, busy,
                       {"2D": arch.array2d.pes, "1D": arch.array1d.lanes},
                       dram_read + dram_write, energy, mp.buffer_bytes, mp.describe(),
                       {"block_cycles": {"QK": gemm, "SM": sm, "AV": gemm}, "rows": R,
                        "spill_fraction": mp.spill_fraction, "segment_ops": seg_ops,
                        "segments": n, "steps": blocks})
