"""Fused attention on a 2D + 1D array: FuseMax's pipelined 1-pass cascade and FLAT's
row-block fusion of the 3-pass cascade, timed as tile streams (sim/stream.py) with
DRAM as a third unit, and costed action by action.

Both return the same Result as every other engine: one 'fused' step on the 2D and 1D
arrays (utilization per array, energy by component, the mapping), with the tile stream
in Result.internals for cycle-level replays (utilization over time). They are the
group strategies 'fusemax' and 'flat' of sim.simulate(cascade, arch, mapper.Fused(...)).

Per-tile stage cycles are not typed in: they come from the cascade's Einsums and the
architecture's per-operation cycles (arch array1d op_cycles; FuseMax's 2D PEs use the
same add/multiply/max units, so exp there is also 6 MAC cycles). Inter-array
transfers are taken as free (FuseMax Sec. 5 interleaves QK and SLNV to hide them;
FLAT's blocks are large), and array fill/drain skew is not added to either design.

FuseMax tile (P group of array-rows queries x M0 keys), units 2D / 1D / DRAM:
(units by role; in the stream each is its component's name)
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
from functools import lru_cache

from arch import Architecture
from mapper.fusion import (WORD, AttentionShape, FlatMapping, FuseMaxMapping, SoftmaxRowsMapping,
                           flat_candidates, map_fusemax, map_softmax_rows)
from mapper.vector import cycles_per_point
from sim.energy import Actions
from sim.pe_energy import PECounter, einsum_energy_pj, unfused_energy_pj
from sim.registry import group_strategy
from sim.result import EinsumResult, Result
from sim.stream import Op, makespan
from workloads import attention
from workloads.ir import Einsum


def _dram_cycles(nbytes: float, bytes_per_cycle: float) -> int:
    return math.ceil(nbytes / bytes_per_cycle) if nbytes else 0


def _op_actions(einsum: Einsum, count: float, arch: Architecture, unit_name: str,
                acts: Actions):
    """Running `einsum` `count` times: ops at the 1D array's per-op energies (FuseMax's 2D
    PEs share its functional units; booked under `unit_name`), MACs at the 2D array's."""
    if einsum.is_contraction:
        acts.add(arch.array2d, "mac", count * einsum.macs, "fp16")
        return
    for op, n in einsum.vector_ops.items():
        acts.add(arch.array1d, op, count * n, key=f"{unit_name}.{op}")


def _result(design: str, shape: AttentionShape, arch: Architecture, mapping, cycles: int,
            macs: int, busy: dict[str, float], unit_cycles: dict[str, int], dram_read: float,
            dram_write: float, glb_read: float, glb_write: float, energy_pj: dict,
            meta: dict, internals: dict, workload: str) -> Result:
    """One fused step on the 2D and 1D arrays as a Result. Its compute cycles are the
    busiest array's own cycles; the rest of the makespan is pipeline fill and DRAM waits."""
    a2, a1 = arch.array2d.name, arch.array1d.name
    energy_pj = Actions().merge(energy_pj).leakage(arch, cycles).pj
    row = EinsumResult(
        name=f"attention.{design}", kind="fused", unit=f"{a2}+{a1}", cycles=cycles,
        compute_cycles=min(cycles, max(unit_cycles.values())), macs=macs, ops=0,
        busy=busy, dram_read_bytes=math.ceil(dram_read), dram_write_bytes=math.ceil(dram_write),
        glb_read_bytes=math.ceil(glb_read), glb_write_bytes=math.ceil(glb_write),
        energy_pj=energy_pj, mapping=mapping)
    compulsory = shape.heads_total * 2 * (shape.p + shape.m) * shape.e * WORD  # Q, K, V, O
    return Result(workload, arch.name, arch.clock_ghz, [row],
                  arch.area_breakdown_mm2(), {a2: arch.array2d.pes, a1: arch.array1d.lanes},
                  compulsory, {"strategy": design, "mapping": mapping.describe(), **meta},
                  internals)


@group_strategy("fusemax")
def run_fusemax(cascade, arch: Architecture, mapping: FuseMaxMapping | None = None) -> Result:
    """The fused group strategy 'fusemax': an attention cascade on FuseMax's binding."""
    return simulate_fusemax(AttentionShape.of(cascade), arch, mapping, workload=cascade.name)


@group_strategy("fusemax-cascade")
def run_cascade_ablation(cascade, arch: Architecture,
                         mapping: FuseMaxMapping | None = None) -> Result:
    """The paper's +Cascade ablation: the 1-pass cascade on FLAT's hardware."""
    return simulate_fusemax(AttentionShape.of(cascade), arch, mapping, workload=cascade.name,
                            variant="cascade")


@group_strategy("fusemax-architecture")
def run_architecture_ablation(cascade, arch: Architecture,
                              mapping: FuseMaxMapping | None = None) -> Result:
    """The paper's +Architecture ablation: FuseMax's arrays without its binding."""
    return simulate_fusemax(AttentionShape.of(cascade), arch, mapping, workload=cascade.name,
                            variant="architecture")


@group_strategy("flat")
def run_flat(cascade, arch: Architecture, mapping: FlatMapping | None = None) -> Result:
    """The fused group strategy 'flat': an attention cascade in FLAT's row blocks."""
    return simulate_flat(AttentionShape.of(cascade), arch, mapping, workload=cascade.name)


# ------------------------------------------------------------------------ FuseMax

# The 1-pass cascade's Einsums per stage, for FuseMax and the paper's ablations (Figs.
# 6-11). 'binding' (FuseMax): as the module docstring. 'cascade' (+Cascade): the 1-pass
# cascade on FLAT's hardware, only the contractions BQK and SLNV on the 2D array, the
# rest on the 1D lanes, pipelined as FuseMax's (the artifact: latency = max(2D, 1D, DRAM),
# workspace/src/accel/flat_pe_proposal.py). 'architecture' (+Architecture): FuseMax's
# arrays and binding without its pipelining: tiles run one after another, and the 1D
# array stalls while a row's local max LM crosses the 2D array's columns, LM x columns
# cycles (workspace/src/accel/stall_proposal.py: stall = LM latency x PE_dim; its
# latency max(QK+LM, RD+AV) + stall + RM + max(SLN+SLD, PRM+SPD) + max(SLNV, SPNV+RNV)).
STAGES = {
    "binding": {"A": ("BQK", "LM"), "C": ("RM",), "B": ("SLN", "SLD", "SLNV"),
                "D": ("PRM", "SPD", "RD", "SPNV", "RNV")},
    "cascade": {"A": ("BQK",), "C": ("LM", "RM", "SLN", "SLD", "PRM", "SPD", "RD"),
                "B": ("SLNV",), "D": ("SPNV", "RNV")},
    "architecture": {"A": ("BQK", "LM"), "C": ("RM",), "B1": ("SLN", "SLD"),
                     "D1": ("PRM", "SPD"), "B2": ("SLNV",), "D2": ("SPNV", "RNV"),
                     "R": ("RD",)},
}
TWO_D = {"binding": ("BQK", "LM", "SLN", "SLD", "SLNV"), "cascade": ("BQK", "SLNV"),
         "architecture": ("BQK", "LM", "SLN", "SLD", "SLNV")}


def fusemax_tile_costs(shape: AttentionShape, arch: Architecture, m: FuseMaxMapping,
                       variant: str = "binding"):
    """Per-tile cycles and work of each Einsum of the 1-pass cascade on its bound array."""
    tile = attention.one_pass(b=1, h=1, p=m.p_group, m=m.m0, e=shape.e, m0=m.m0)
    pes, lanes = arch.array2d.pes, arch.array1d.lanes
    costs = {}
    for e in tile.einsums:
        unit = "array2d" if e.name in TWO_D[variant] else "array1d"
        if e.is_contraction:
            cycles, work = math.ceil(e.macs / pes), e.macs
        else:
            cpp = cycles_per_point(e, arch)
            size = pes if unit == "array2d" else lanes
            cycles, work = math.ceil(e.points / size) * cpp, e.points * cpp
        costs[e.name] = (unit, cycles, work, e)
    return costs


def _fusemax_ops(variant: str, cyc: dict, work: dict, av: tuple[int, float], G: int,
                 stall: int, a2: str, a1: str):
    """Tile ops (without the DRAM ones) of one (head, P group, M1 tile) step: (name, unit,
    cycles, work, deps, stage). `last`: the group's last M1 tile (adds AV on the 1D)."""
    def ops(last: bool) -> list[tuple]:
        avc, avw = av if last else (0, 0)
        if variant == "architecture":
            return [("A", a2, cyc["A"], work["A"], (("LD", 0), ("B2", 1), ("D2", 1)), 0),
                    ("S", a1, stall, 0, (("A", 0), ("R", 1)), 0),
                    ("C", a1, cyc["C"], work["C"], (("S", 0),), 0),
                    ("B1", a2, cyc["B1"], work["B1"], (("C", 0),), 0),
                    ("D1", a1, cyc["D1"], work["D1"], (("C", 0),), 0),
                    ("B2", a2, cyc["B2"], work["B2"], (("B1", 0),), 0),
                    ("D2", a1, cyc["D2"], work["D2"], (("D1", 0),), 0),
                    ("R", a1, cyc["R"] + avc, work["R"] + avw, (("D2", 0), ("B1", 0)), 0)]
        return [("A", a2, cyc["A"], work["A"], (("LD", 0),), 0),
                ("C", a1, cyc["C"], work["C"], (("A", 0), ("C", G)), 0),
                ("B", a2, cyc["B"], work["B"], (("C", 0),), 1),
                ("D", a1, cyc["D"] + avc, work["D"] + avw, (("B", 0), ("D", G)), 2)]
    return ops


def simulate_fusemax(shape: AttentionShape, arch: Architecture,
                     mapping: FuseMaxMapping | None = None, exact_limit: int = 4000,
                     workload: str = "attention", variant: str = "binding") -> Result:
    m = mapping or map_fusemax(shape, arch)
    a2, a1, dram_unit = arch.array2d.name, arch.array1d.name, arch.dram.name
    costs = fusemax_tile_costs(shape, arch, m, variant)
    G = m.p_tile // m.p_group
    M1 = -(-shape.m // m.m0)
    n_segments = shape.heads_total * (-(-shape.p // m.p_tile))
    e = shape.e
    stage_of = STAGES[variant]
    cyc = {s: sum(costs[n][1] for n in names) for s, names in stage_of.items()}
    work = {s: sum(costs[n][2] for n in names) for s, names in stage_of.items()}
    av_cycles, av_work = costs["AV"][1], costs["AV"][2]
    stall = arch.array2d.cols * costs["LM"][1] if variant == "architecture" else 0
    tile_ops = _fusemax_ops(variant, cyc, work, (av_cycles, av_work), G, stall, a2, a1)
    kv_bytes = 2 * m.m0 * e * WORD
    q_bytes = o_bytes = m.p_group * e * WORD
    slot = "B2" if variant == "architecture" else "B"   # the op that frees a K/V buffer
    out_op, out_stage = ("R", 1) if variant == "architecture" else ("D", 3 + 2 * G)

    bytes_per_cycle = arch.dram_bytes_per_cycle

    @lru_cache(maxsize=None)
    def ops_of(new_kv: bool, first: bool, last: bool) -> list[Op]:
        load = (kv_bytes if new_kv else 0) + (q_bytes if first else 0)
        out = o_bytes if last else 0
        return [Op("LD", dram_unit, _dram_cycles(load, bytes_per_cycle), load, ((slot, 2 * G),)),
                *(Op(*op) for op in tile_ops(last)),
                Op("WB", dram_unit, _dram_cycles(out, bytes_per_cycle), out, ((out_op, 0),),
                   stage=out_stage)]

    def seg_ops(s: int, step: int, steps: int) -> list[Op]:
        m1, g = divmod(step, G)
        return ops_of(g == 0, m1 == 0, (m1 + 1) * G >= steps)  # a tile's ops: one of 8 lists

    cycles = makespan(seg_ops, n_segments, M1, period=G, exact_limit=exact_limit)
    tiles = n_segments * M1 * G
    groups = n_segments * G  # (head, P group) pairs
    on = {u: [s for s, names in stage_of.items() if costs[names[0]][0] == u]
          for u in ("array2d", "array1d")}
    busy = {a2: tiles * sum(work[s] for s in on["array2d"]),
            a1: tiles * sum(work[s] for s in on["array1d"]) + groups * av_work}
    unit_cycles = {a2: tiles * sum(cyc[s] for s in on["array2d"]),
                   a1: tiles * sum(cyc[s] for s in on["array1d"]) + groups * av_cycles}
    macs = tiles * sum(c[2] for c in costs.values() if c[3].is_contraction)
    # DRAM: K/V once per P tile, Q in and O out once.
    dram = n_segments * M1 * kv_bytes + groups * (q_bytes + o_bytes)
    dram_write = groups * o_bytes
    acts = Actions()
    for name, (unit, _c, _w, ein) in costs.items():
        count = groups if name == "AV" else tiles
        _op_actions(ein, count, arch, a2 if unit == "array2d" else a1, acts)
    state = m.p_group * (e + 2) * WORD  # RNV, RM, RD of one group, read and written per tile
    glb_read = tiles * (q_bytes + kv_bytes + state) + groups * o_bytes
    glb_write = tiles * state + dram - groups * o_bytes
    if variant == "cascade":
        # +Cascade's score tiles cross between the arrays through the buffer (the
        # artifact's flat_pe_proposal.py keeps BQK and SLN tiles there): each written
        # once and read once
        scores = 2 * m.p_group * m.m0 * WORD
        glb_read, glb_write = glb_read + tiles * scores, glb_write + tiles * scores
    acts.memory(arch, glb_read, glb_write, dram - dram_write, dram_write)
    local = (cascade_pe_local if variant == "cascade" else fusemax_pe_local)
    acts.merge(local(costs, tiles, groups, arch).energy_pj())
    design = {"binding": "fusemax", "cascade": "fusemax-cascade",
              "architecture": "fusemax-architecture"}[variant]
    return _result(design, shape, arch, m, cycles, macs, busy, unit_cycles, dram - dram_write,
                   dram_write, glb_read, glb_write, acts.pj,
                   {"p_tile": m.p_tile, "groups_per_tile": G, "m1": M1, "buffer_bytes": m.buffer_bytes},
                   {"tile_cycles": cyc, "segment_ops": seg_ops, "segments": n_segments,
                    "steps": M1 * G}, workload)


LANE_STATE = {"RM": (), "PRM": ("RM_in", "RM"), "SPD": ("PRM",), "RD": ("SPD",),
              "SPNV": ("PRM",), "RNV": ("SPNV",)}  # running-state inputs made in the lane


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
    for name, internal in LANE_STATE.items():
        pc.lanes(a1, e[name], tiles, internal, keep=name in ("PRM", "SPD", "SPNV"))
    pc.lanes(a1, e["AV"], groups, ("RNV_end", "RD_end"))
    return pc


def cascade_pe_local(costs: dict, tiles: int, groups: int, arch: Architecture) -> PECounter:
    """+Cascade (rules: sim/pe_energy.py): BQK and SLNV output stationary on the 2D
    array, BQK's scores sent to the lanes and SLN's back; on the lanes LM, SLN and SLD
    take every operand from outside (scores, the running max) and send their results on,
    the running-state Einsums as in FuseMax's 1D array."""
    pc = PECounter(arch)
    a2, a1 = arch.array2d.name, arch.array1d.name
    e = {name: c[3] for name, c in costs.items()}
    for name in ("BQK", "SLNV"):
        pc.compute(a2, e[name], tiles)
        pc.arrive(a2, 2 * e[name].macs * tiles)
        pc.leave(a2, e[name].output_points * tiles, to_buffer=False)
    for name in ("LM", "SLN", "SLD"):
        pc.lanes(a1, e[name], tiles)
    for name, internal in LANE_STATE.items():
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
                  mapping: FlatMapping | None = None, exact_limit: int = 4000,
                  workload: str = "attention") -> Result:
    """The FLAT mapping with the least energy x delay unless one is given. (FLAT is 1D-
    bound, so its candidates' latencies differ only by pipeline fill, a few parts per
    million; ranking by latency first would let that pick row blocks costing up to 18%
    more energy.)"""
    if mapping is None:
        return min((simulate_flat(shape, arch, c, exact_limit, workload)
                    for c in flat_candidates(shape, arch)),
                   key=lambda r: r.cycles * r.energy_j)
    mp = mapping
    a2, a1, dram_unit = arch.array2d.name, arch.array1d.name, arch.dram.name
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

    bytes_per_cycle = arch.dram_bytes_per_cycle

    @lru_cache(maxsize=None)
    def ops_of(with_kv: bool) -> list[Op]:
        load = q_bytes + (kv if with_kv else 0)
        return [
            Op("LD", dram_unit, _dram_cycles(load, bytes_per_cycle), load, (("QK", 2),)),
            Op("QK", a2, gemm, R * M * e, (("LD", 0), ("AV", 2))),
            Op("SP", dram_unit, _dram_cycles(spill, bytes_per_cycle), spill, (("QK", 0),), stage=1),
            Op("SM", a1, sm, sm_work, (("QK", 0),)),
            Op("AV", a2, gemm, R * M * e, (("SM", 0), ("SP", 0)), stage=1),
            Op("WB", dram_unit, _dram_cycles(o_bytes, bytes_per_cycle), o_bytes, (("AV", 0),), stage=2),
        ]

    def seg_ops(s: int, step: int, steps: int) -> list[Op]:
        return ops_of(step == 0 or not mp.kv_resident)  # a block's ops: one of 2 lists

    n = shape.heads_total
    cycles = makespan(seg_ops, n, blocks, exact_limit=exact_limit)
    nb = n * blocks
    busy = {a2: nb * 2 * R * M * e, a1: nb * sm_work}
    macs = nb * 2 * R * M * e
    kv_loads = n * (blocks if not mp.kv_resident else 1)
    dram_read = nb * (q_bytes + spill / 2) + kv_loads * kv
    dram_write = nb * (o_bytes + spill / 2)
    acts = Actions()
    for ein in casc.einsums:
        _op_actions(ein, nb, arch, a1, acts)
    Rf, Cf = -(-R // arch.array2d.rows), -(-M // arch.array2d.cols)
    # Operand reads into the array: Q once per key fold, K and V once per query fold,
    # AV partial sums read and written once per key fold; scores 8 touches each.
    feed = (Cf * R * e + Rf * M * e) * WORD + Rf * M * e * WORD + 2 * Cf * R * e * WORD
    # A spilled score is written to DRAM instead of the buffer (QK, SN at the pass
    # boundaries) and lands in the buffer when read back (in dram_read).
    glb_read = nb * (feed + 5 * score + o_bytes)
    glb_write = nb * (3 * score + Cf * R * e * WORD - spill / 2) + dram_read
    acts.memory(arch, glb_read, glb_write, dram_read, dram_write)
    # PE-local (sim/pe_energy.py): QK and AV output stationary (QK's scores drained to
    # the buffer); GM, SN, SD, A on the lanes, every operand from the buffer.
    acts.merge(unfused_energy_pj(casc, arch, nb))
    return _result("flat", shape, arch, mp, cycles, macs, busy,
                   {a2: nb * 2 * gemm, a1: nb * sm}, dram_read, dram_write, glb_read, glb_write,
                   acts.pj, {"block_cycles": {"QK": gemm, "SM": sm, "AV": gemm}, "rows": R,
                             "spill_fraction": mp.spill_fraction, "buffer_bytes": mp.buffer_bytes},
                   {"segment_ops": seg_ops, "segments": n, "steps": blocks}, workload)


# ------------------------------------------------------------- Unfused (softmax rows)

@group_strategy("softmax-rows")
def run_softmax_rows(cascade, arch: Architecture,
                     mapping: SoftmaxRowsMapping | None = None) -> Result:
    """The paper's Unfused baseline (FuseMax Sec. 6; the artifact's unfused.py with
    stable_softmax.py): QK and AV each on its own through DRAM (the house 2D engine, its
    best mapping for latency), and between them the 3-pass softmax on the 1D array, one
    query row of scores at a time held in the buffer across the passes: QK read from
    DRAM once and A written once (a spilled share crosses DRAM at each pass boundary,
    as FLAT's). The three run one after another (the artifact sums their latencies)."""
    from sim.simulate import best_mapping  # the per-Einsum door, for the contractions

    shape = AttentionShape.of(cascade)
    m = mapping or map_softmax_rows(shape, arch)
    by = {e.name: e for e in cascade.einsums}
    soft = [e for e in cascade.einsums if not e.is_contraction]
    gemms = [best_mapping(by[n], arch, "latency").result.renamed(n) for n in ("QK", "AV")]
    a1 = arch.array1d
    points = by["QK"].output_points
    cpp = sum(cycles_per_point(e, arch) for e in soft)
    compute = -(-points // a1.lanes) * cpp + a1.pipeline_depth
    crossings = attention.passes(cascade).passes - 1
    score = points * WORD
    dram_read = score + m.spill_fraction * score * crossings
    dram_write = score + m.spill_fraction * score * crossings
    cycles = max(compute, _dram_cycles(dram_read + dram_write, arch.dram_bytes_per_cycle))
    # buffer: QK lands once; GM, SN, SD, A read a row each (4), SN and A write it (2), A
    # leaves for DRAM (1)
    glb_read, glb_write = 5 * score, 3 * score
    acts = Actions()
    for e in soft:
        _op_actions(e, 1, arch, a1.name, acts)
        acts.merge(einsum_energy_pj(e, arch))
    acts.memory(arch, glb_read, glb_write, dram_read, dram_write)
    energy = Actions().merge(acts.pj).leakage(arch, cycles).pj
    row = EinsumResult(
        name="softmax(" + ",".join(e.name for e in soft) + ")", kind="fused", unit=a1.name,
        cycles=cycles, compute_cycles=compute, macs=0, ops=sum(e.points * sum(
            e.vector_ops.values()) for e in soft),
        busy={a1.name: points * cpp}, dram_read_bytes=math.ceil(dram_read),
        dram_write_bytes=math.ceil(dram_write), glb_read_bytes=glb_read,
        glb_write_bytes=glb_write, energy_pj=energy, mapping=m)
    rows = [gemms[0], row, gemms[1]]
    compulsory = shape.heads_total * 2 * (shape.p + shape.m) * shape.e * WORD
    return Result(cascade.name, arch.name, arch.clock_ghz, rows, arch.area_breakdown_mm2(),
                  {arch.array2d.name: arch.array2d.pes, a1.name: a1.lanes}, compulsory,
                  {"strategy": "softmax-rows", "mapping": m.describe()})
