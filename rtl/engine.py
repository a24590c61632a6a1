"""The tile engine: a whole GEMM from on-chip SRAM to results, run from a GemmMapping.

Built from an Architecture's 2D array and global buffer and a mapping (dataflow, tiles,
loop order) of one contraction, the same objects `sim run` uses. Hardware:

- **SRAM banks** (Amaranth `Memory`, one write and one read port: FPGA block RAM). The
  operand read each step by row i of the array lives in bank i (column j: bank j), so a
  step's vector is one read of every bank at one address. An address is the bit fields of
  the loop indices that locate an element (tile index, fold index, position, step), each
  padded to a power of two, so address generation is wiring (no multipliers). The whole
  GEMM is resident: DRAM is outside the engine (the host loads the banks).
- **Sequencer**: walks the mapping's tile loops in loop order; in each tile the folds
  in sim.array2d's order (batch, row folds, column folds), one every G = max(L, R) steps
  (L = the tile's temporal extent), ws/is weight preload R steps ahead of a fold's
  stream, then R + C - 1 drain steps. A tile starts after the last output of the one
  before (as sim.gemm_engine times tiles). A fetch stage reads the banks (one cycle of
  SRAM latency: the tile's cycle 0 is that read) and an execute stage drives the array.
- **Buffer port**: when the architecture's read bandwidth (bw bits/cycle) is less than
  a step's operands, a credit counter (bw bits arrive per cycle, a step spends its
  operands' bits) holds the array as sim.array2d's unbounded prefetch queue does.
- **Output banks**: column j's results go to bank j, added to the partial sum already
  there (read-modify-write, one cycle later) unless it is the first contribution.
- **Host interface** (register map in docs/rtl.md): a word bus `addr`, `wdata`, `we`,
  `re`, `rdata` (valid the cycle after `re`), plus `busy` and `done`.

`EnginePlan` is the pure-Python side: geometry, the per-tile constants the sequencer
uses, and `pack` / `unpack` (bank images of operands, results from bank images).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl.array2d import SystolicArray
from rtl.blocks import block
from rtl.bus import (BANK_SHIFT, REG_CTRL, REG_CYCLES, REG_STATUS, REGION, REGION_CTRL,
                     REGION_SHIFT, bits_for)
from rtl.numerics import MacFormat, mac_format

GROUPS = ("B", "M", "N", "K")
AXES = {"A": ("B", "M", "K"), "W": ("B", "K", "N"), "O": ("B", "M", "N")}
# (temporal, rows, cols) and (row/stream operand, column/stationary operand) per dataflow.
DIMS = {("os", "M"): ("K", "M", "N"), ("os", "N"): ("K", "N", "M"),
        ("ws", "K"): ("M", "K", "N"), ("is", "K"): ("N", "K", "M")}
FEED = {("os", "M"): ("A", "W"), ("os", "N"): ("W", "A"),
        ("ws", "K"): ("A", "W"), ("is", "K"): ("W", "A")}


def fold_gap(L: int, R: int) -> int:
    """Steps between fold starts in one tile (sim.array2d.fold_starts with equal L):
    os: the PEs are busy L steps and a column port emits R results per fold; ws/is:
    the next fold's R preload rows fit behind the stream."""
    return max(L, R)


def drain_steps(R: int, C: int) -> int:
    """Steps from the last injected vector to the last output leaving the array."""
    return R + C - 1


@dataclass(frozen=True)
class Group:
    name: str
    size: int
    tile: int
    side: int = 0       # the array side it is spread over (R or C); 0 if temporal/batch

    @property
    def count(self) -> int:
        return -(-self.size // self.tile)

    @property
    def last(self) -> int:
        """Extent of the last tile."""
        return self.size - (self.count - 1) * self.tile

    def folds(self, extent: int) -> int:
        return -(-extent // self.side)

    def fields(self, bank: bool) -> list[tuple[str, int]]:
        """(field, bits) of an element index: tile, then fold and position (spatial;
        the position is the bank, not an address field, if `bank`) or local index."""
        out = [("t", bits_for(self.count))]
        if self.side:
            out.append(("f", bits_for(self.folds(self.tile))))
            if not bank:
                out.append(("p", bits_for(self.side)))
        else:
            out.append(("l", bits_for(self.tile)))
        return [(f"{kind}{self.name}", b) for kind, b in out]

    def split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        t, loc = np.divmod(x, self.tile)
        if self.side:
            f, p = np.divmod(loc, self.side)
            return {f"t{self.name}": t, f"f{self.name}": f, f"p{self.name}": p}
        return {f"t{self.name}": t, f"l{self.name}": loc}


@dataclass(frozen=True)
class Layout:
    """Where operand `name`'s elements live: bank = position along `bank_group`, address
    = the concatenated fields (most significant first)."""
    name: str
    bank_group: str
    banks: int
    fields: tuple[tuple[str, int], ...]

    @property
    def addr_bits(self) -> int:
        return sum(b for _, b in self.fields)

    @property
    def depth(self) -> int:
        return 1 << self.addr_bits

    def place(self, idx: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        addr = np.zeros_like(idx[self.fields[0][0]] if self.fields else idx[f"p{self.bank_group}"])
        for name, b in self.fields:
            addr = (addr << b) | idx[name]
        return idx[f"p{self.bank_group}"], addr


class EnginePlan:
    """The engine's geometry for one GEMM (sizes B, M, N, K) and mapping on an R x C array."""

    def __init__(self, sizes: dict[str, int], mapping, R: int, C: int, fmt: MacFormat,
                 bw_bits: int):
        self.mapping, self.R, self.C, self.fmt, self.bw_bits = mapping, R, C, fmt, bw_bits
        self.dataflow = mapping.dataflow
        self.os = self.dataflow == "os"
        self.T, self.RG, self.CG = DIMS[(mapping.dataflow, mapping.rows)]
        self.feed = FEED[(mapping.dataflow, mapping.rows)]
        side = {self.RG: R, self.CG: C}
        self.groups = {g: Group(g, sizes[g], min(mapping.tile(g), sizes[g]), side.get(g, 0))
                       for g in GROUPS}
        self.loop_order = tuple(mapping.loop_order)
        bank_of = {self.feed[0]: self.RG, self.feed[1]: self.CG, "O": self.CG}
        self.layouts = {}
        for op in ("A", "W", "O"):
            fields = []
            for g in AXES[op]:
                fields += [(n, b) for n, b in self.groups[g].fields(bank=g == bank_of[op]) if b]
            banks = R if bank_of[op] == self.RG else C
            self.layouts[op] = Layout(op, bank_of[op], banks, tuple(fields))
        bits = fmt.bits
        self.worst_need = R * bits + C * bits
        self.throttled = bw_bits < self.worst_need
        self.tiles = math.prod(g.count for g in self.groups.values())

    # ------------------------------------------------------------ per-tile constants

    def extent(self, g: str, last: bool) -> int:
        grp = self.groups[g]
        return grp.last if last else grp.tile

    def tile_need_bits(self, last: dict[str, bool]) -> int:
        """Bits the buffer port delivers for one tile (the credit counter's cap)."""
        e = {g: self.extent(g, last[g]) for g in GROUPS}
        L, b = e[self.T], self.fmt.bits
        return e["B"] * (e[self.RG] * L * b + e[self.CG] * (L if self.os else e[self.RG]) * b)

    @property
    def credit_cap(self) -> int:
        return max(self.tile_need_bits(dict(zip(GROUPS, flags)))
                   for flags in itertools.product((False, True), repeat=4))

    # ------------------------------------------------------------ host-side images

    def pack(self, op: str, values: np.ndarray) -> list[list[int]]:
        """Bank images (raw words, unused words 0) of operand `op` ([B,M,K] or [B,K,N])."""
        from rtl.numerics import encode

        lay = self.layouts[op]
        idx = {}
        for axis, g in enumerate(AXES[op]):
            x = np.indices(values.shape)[axis]
            idx.update(self.groups[g].split(x))
        bank, addr = lay.place(idx)
        raw = np.array(encode(self.fmt, values), dtype=object).reshape(values.shape)
        images = [[0] * lay.depth for _ in range(lay.banks)]
        for bk, ad, v in zip(bank.ravel(), addr.ravel(), raw.ravel()):
            images[int(bk)][int(ad)] = int(v)
        return images

    def output_words(self) -> list[tuple[tuple[int, int, int], int, int]]:
        """((b, m, n), bank, word) of every output element."""
        shape = tuple(self.groups[g].size for g in AXES["O"])
        idx = {}
        for axis, g in enumerate(AXES["O"]):
            idx.update(self.groups[g].split(np.indices(shape)[axis]))
        bank, addr = self.layouts["O"].place(idx)
        return [(pos, int(bank[pos]), int(addr[pos])) for pos in np.ndindex(*shape)]

    @property
    def output_elements(self) -> int:
        return math.prod(self.groups[g].size for g in AXES["O"])

    def coordinate(self, g: str, fields: dict):
        """Element index along group g from its loop-index fields (tile, fold, position or
        local index), for the flat output index of exported writes."""
        grp = self.groups[g]
        inner = (fields[f"f{g}"] * grp.side + fields[f"p{g}"] if grp.side else fields[f"l{g}"])
        return fields[f"t{g}"] * grp.tile + inner

    def resources(self) -> dict:
        """SRAM bits per operand (bank count x depth x width) for the fit estimate."""
        width = {"A": self.fmt.bits, "W": self.fmt.bits, "O": self.fmt.acc_bits}
        return {op: (lay.banks, lay.depth, width[op]) for op, lay in self.layouts.items()}


class TileEngine(wiring.Component):
    """Banks + sequencer + systolic array + host bus (see the module docstring)."""

    def __init__(self, plan: EnginePlan, describe: str = "", export_writes: bool = False):
        self.plan, self.fmt = plan, plan.fmt
        # export_writes: per column, (en, flat index of O[b, m, n] row-major, value) of
        # each output-bank write, for a consumer of the results (rtl/cascade_engine.py)
        self.o_writes = [(Signal(name=f"ow{j}_en"), Signal(range(max(2, plan.output_elements)),
                                                           name=f"ow{j}_flat"),
                          Signal(plan.fmt.acc_bits, name=f"ow{j}_data"))
                         for j in range(plan.C)] if export_writes else []
        self.last_step = Signal()   # the cycle the GEMM's last result leaves the array
        self.rows, self.cols, self.dataflow = plan.R, plan.C, plan.dataflow
        self.describe_text = describe
        self.data_bits = max(32, plan.fmt.acc_bits)
        for lay in plan.layouts.values():
            if lay.addr_bits > BANK_SHIFT or lay.banks > 256:
                raise ValueError(f"operand {lay.name} needs {lay.banks} banks of 2^"
                                 f"{lay.addr_bits} words; the host map has 256 banks of 2^20")
        super().__init__({"addr": In(32), "wdata": In(self.data_bits), "we": In(1), "re": In(1),
                          "rdata": Out(self.data_bits), "busy": Out(1), "done": Out(1)})

    def elaborate(self, platform):  # noqa: C901 - one sequencer, read top to bottom
        m = Module()
        p = self.plan
        R, C, fmt = p.R, p.C, p.fmt
        T, RG, CG = p.T, p.RG, p.CG
        grp = p.groups
        m.submodules.array = array = SystolicArray(R, C, fmt, "os" if p.os else "ws")

        # ---------------- host bus decode
        region = self.addr[REGION_SHIFT:32]
        bank_sel = self.addr[BANK_SHIFT:REGION_SHIFT]
        word = self.addr[:BANK_SHIFT]
        start = Signal()
        m.d.comb += start.eq(self.we & (region == REGION_CTRL) & (word == REG_CTRL) & self.wdata[0]
                             & ~self.busy)

        # ---------------- banks
        mems = {}
        for op in ("A", "W", "O"):
            lay = p.layouts[op]
            width = fmt.acc_bits if op == "O" else fmt.bits
            banks = []
            for b in range(lay.banks):
                mem = Memory(shape=unsigned(width), depth=lay.depth, init=[])
                m.submodules[f"{op}_bank{b}"] = mem
                wp = mem.write_port()
                rp = mem.read_port(transparent_for=(wp,) if op == "O" else ())
                banks.append((wp, rp))
                if op != "O":
                    m.d.comb += [wp.addr.eq(word), wp.data.eq(self.wdata),
                                 wp.en.eq(self.we & ~self.busy & (region == REGION[op])
                                          & (bank_sel == b))]
            mems[op] = banks

        # ---------------- tile loop nest (outermost first), per-tile extents
        t = {g: Signal(max(1, bits_for(grp[g].count)), name=f"t{g}") for g in GROUPS}
        is_last = {g: Signal(name=f"last_t{g}") for g in GROUPS}
        for g in GROUPS:
            m.d.comb += is_last[g].eq(t[g] == grp[g].count - 1)

        def pick(g, fn):
            """A per-tile constant: fn(extent of g) for a full or the last tile of g."""
            return Mux(is_last[g], fn(grp[g].last), fn(grp[g].tile))

        L = pick(T, lambda e: e)
        G = pick(T, lambda e: fold_gap(e, R))
        n_b = pick("B", lambda e: e)
        n_fr = pick(RG, lambda e: grp[RG].folds(e))
        n_fc = pick(CG, lambda e: grp[CG].folds(e))
        r_last = pick(RG, lambda e: e - (grp[RG].folds(e) - 1) * R)
        c_last = pick(CG, lambda e: e - (grp[CG].folds(e) - 1) * C)
        max_fr = grp[RG].folds(grp[RG].tile)
        max_fc = grp[CG].folds(grp[CG].tile)
        max_L = grp[T].tile
        max_G = fold_gap(max_L, R)
        drain = drain_steps(R, C)

        def fold_counters(name):
            """(b, fr, fc) of one fold walker, its advance statement list, and 'last fold'."""
            b = Signal(max(1, bits_for(grp["B"].tile)), name=f"{name}_b")
            fr = Signal(max(1, bits_for(max_fr)), name=f"{name}_fr")
            fc = Signal(max(1, bits_for(max_fc)), name=f"{name}_fc")
            last_fc, last_fr, last_b = fc == n_fc - 1, fr == n_fr - 1, b == n_b - 1
            advance = [fc.eq(Mux(last_fc, 0, fc + 1)),
                       fr.eq(Mux(last_fc, Mux(last_fr, 0, fr + 1), fr)),
                       b.eq(Mux(last_fc & last_fr, b + 1, b))]
            return (b, fr, fc), advance, last_fc & last_fr & last_b

        def fold_size(fr, fc):
            r = Mux(fr == n_fr - 1, r_last, R)
            c = Mux(fc == n_fc - 1, c_last, C)
            return r, c

        def address(op, sources):
            lay = p.layouts[op]
            parts = [sources[name][:bits] for name, bits in reversed(lay.fields)]
            return Cat(*parts) if parts else Const(0, 1)

        tile_src = {f"t{g}": t[g] for g in GROUPS}

        # ---------------- state: fetch stage (counters) and execute stage (registers)
        busy, done = Signal(), Signal()
        m.d.comb += [self.busy.eq(busy), self.done.eq(done)]
        e_valid = Signal()        # the execute stage holds a step (not the tile's cycle 0)
        go = Signal()             # the step in the execute stage runs (array en)
        adv = Signal()            # the fetch stage moves into the execute stage
        e_need = Signal(range(p.worst_need + 1))
        e_tile_end = Signal()
        drain_phase = Signal()
        d = Signal(range(drain + 1))
        u = Signal(range(max_G + 1))
        need = Signal(range(p.worst_need + 1))
        tile_end_f = Signal()
        m.d.comb += [tile_end_f.eq(drain_phase & (d == drain - 1)), adv.eq(busy & (~e_valid | go))]

        if p.throttled:
            cap = p.credit_cap
            credit = Signal(range(cap + p.bw_bits + 1))
            m.d.comb += go.eq(busy & e_valid & (credit >= e_need))
            spent = Mux(go, e_need, 0)
            total = credit + p.bw_bits - spent
            with m.If(busy):
                m.d.sync += credit.eq(Mux(total > cap, cap, total))
        else:
            credit = None
            m.d.comb += go.eq(busy & e_valid)
        m.d.comb += array.en.eq(go)

        if p.os:
            fold, fold_adv, last_fold = fold_counters("f")
            b, fr, fc = fold
            r_f, c_f = fold_size(fr, fc)
            vec = ~drain_phase & (u < L)
            m.d.comb += need.eq(Mux(vec, r_f * fmt.bits + c_f * fmt.bits, 0))
            src = {**tile_src, f"l{T}": u, f"f{RG}": fr, f"f{CG}": fc, "lB": b}
            row_op, col_op = p.feed
            for op in (row_op, col_op):
                for wp, rp in mems[op]:
                    m.d.comb += [rp.addr.eq(address(op, src)), rp.en.eq(adv)]
            # execute-stage registers
            e_vec, e_first, e_last = Signal(), Signal(), Signal()
            e_fold = [Signal.like(s, name=f"e_{s.name}") for s in (b, fr, fc)]
            e_r, e_c = Signal(range(R + 1)), Signal(range(C + 1))
            with m.If(adv):
                m.d.sync += [e_vec.eq(vec), e_first.eq(u == 0), e_last.eq(u == L - 1),
                             e_need.eq(need), e_tile_end.eq(tile_end_f), e_r.eq(r_f), e_c.eq(c_f),
                             *[x.eq(y) for x, y in zip(e_fold, (b, fr, fc))]]
                with m.If(drain_phase):
                    m.d.sync += d.eq(d + 1)
                with m.Elif(last_fold & (u == L - 1)):
                    m.d.sync += [drain_phase.eq(1), d.eq(0)]
                with m.Elif(u == G - 1):
                    m.d.sync += [u.eq(0), *fold_adv]
                with m.Else():
                    m.d.sync += u.eq(u + 1)
            m.d.comb += [array.valid.eq(e_vec), array.first.eq(e_first), array.last.eq(e_last)]
            for i in range(R):
                m.d.comb += array.a_in[i].eq(mems[row_op][i][1].data)
            for j in range(C):
                m.d.comb += array.b_in[j].eq(mems[col_op][j][1].data)
            # column 0 emits row i of a fold i + 1 steps after its last vector
            w_act = Signal()
            w_i = Signal(range(max(R, 2)))
            w_fold = [Signal.like(s, name=f"w_{s.name}") for s in (b, fr, fc)]
            w_r, w_c = Signal(range(R + 1)), Signal(range(C + 1))
            with m.If(go):
                with m.If(w_act):
                    m.d.sync += w_i.eq(w_i + 1)
                    with m.If(w_i == R - 1):
                        m.d.sync += w_act.eq(0)
                with m.If(e_vec & e_last):
                    m.d.sync += [w_act.eq(1), w_i.eq(0), w_r.eq(e_r), w_c.eq(e_c),
                                 *[x.eq(y) for x, y in zip(w_fold, e_fold)]]
            info0 = {"valid": w_act, "keep": w_i < w_r, "c": w_c, "lB": w_fold[0],
                     f"f{RG}": w_fold[1], f"f{CG}": w_fold[2], f"p{RG}": w_i}
            delays = list(range(C))
            reset_tile = [s.eq(0) for s in fold]
        else:
            pre_fold, pre_adv, pre_last = fold_counters("p")
            pb, pfr, pfc = pre_fold
            pr_f, pc_f = fold_size(pfr, pfc)
            p_active = Signal()
            s_active = Signal()
            s_fold = [Signal.like(s, name=f"s_{s.name}") for s in pre_fold]
            s_r, s_c = Signal(range(R + 1)), Signal(range(C + 1))
            s_last = Signal()
            mm = Signal(range(max(max_L, 2)))
            pre_valid = p_active & (u < R) & (u < pr_f)
            m.d.comb += need.eq(Mux(s_active, s_r * fmt.bits, 0) + Mux(pre_valid, pc_f * fmt.bits, 0))
            stream_op, stat_op = p.feed
            s_src = {**tile_src, f"l{T}": mm, f"f{RG}": s_fold[1], f"f{CG}": s_fold[2],
                     "lB": s_fold[0]}
            p_src = {**tile_src, f"f{RG}": pfr, f"f{CG}": pfc, f"p{RG}": u, "lB": pb}
            for wp, rp in mems[stream_op]:
                m.d.comb += [rp.addr.eq(address(stream_op, s_src)), rp.en.eq(adv)]
            for wp, rp in mems[stat_op]:
                m.d.comb += [rp.addr.eq(address(stat_op, p_src)), rp.en.eq(adv)]
            e_vec, e_first, e_pre = Signal(), Signal(), Signal()
            e_row = Signal(range(max(R, 2)))
            e_r, e_c = Signal(range(R + 1)), Signal(range(C + 1))
            e_fold = [Signal.like(s, name=f"e_{s.name}") for s in s_fold]
            e_m = Signal.like(mm)
            with m.If(adv):
                m.d.sync += [e_vec.eq(s_active), e_first.eq(mm == 0), e_pre.eq(pre_valid),
                             e_row.eq(u), e_need.eq(need), e_tile_end.eq(tile_end_f),
                             e_r.eq(s_r), e_c.eq(s_c), e_m.eq(mm),
                             *[x.eq(y) for x, y in zip(e_fold, s_fold)]]
                with m.If(drain_phase):
                    m.d.sync += d.eq(d + 1)
                with m.If(p_active):
                    with m.If(u == G - 1):
                        m.d.sync += [u.eq(0), *pre_adv]
                        with m.If(pre_last):
                            m.d.sync += p_active.eq(0)
                    with m.Else():
                        m.d.sync += u.eq(u + 1)
                with m.If(s_active):
                    with m.If(mm == L - 1):
                        m.d.sync += s_active.eq(0)
                        with m.If(s_last):
                            m.d.sync += [drain_phase.eq(1), d.eq(0)]
                    with m.Else():
                        m.d.sync += mm.eq(mm + 1)
                with m.If(p_active & (u == R - 1)):  # the fold's preload is done: stream it
                    m.d.sync += [s_active.eq(1), mm.eq(0), s_r.eq(pr_f), s_c.eq(pc_f),
                                 s_last.eq(pre_last), *[x.eq(y) for x, y in zip(s_fold, pre_fold)]]
            m.d.comb += [array.valid.eq(e_vec), array.first.eq(e_first),
                         array.pre_valid.eq(e_pre), array.pre_row.eq(e_row)]
            for i in range(R):
                m.d.comb += array.x_in[i].eq(Mux(i < e_r, mems[stream_op][i][1].data, 0))
            for j in range(C):
                m.d.comb += array.pre_w[j].eq(mems[stat_op][j][1].data)
            # column 0 emits a streamed vector R steps after it enters
            info0 = {"valid": e_vec, "keep": Const(1), "c": e_c, "lB": e_fold[0],
                     f"f{RG}": e_fold[1], f"f{CG}": e_fold[2], f"l{T}": e_m}
            delays = [R + j for j in range(C)]
            reset_tile = [*(s.eq(0) for s in pre_fold), p_active.eq(1), s_active.eq(0)]
        reset_tile += [u.eq(0), drain_phase.eq(0), d.eq(0)]

        # ---------------- output: delay the column-0 write info j steps for column j
        chain = [info0]
        for k in range(max(delays)):
            prev = chain[-1]
            nxt = {key: Signal(Value.cast(v).shape(), name=f"wr{k + 1}_{key}")
                   for key, v in prev.items()}
            with m.If(go):
                m.d.sync += [nxt[key].eq(prev[key]) for key in prev]
            with m.If(~busy):
                m.d.sync += nxt["valid"].eq(0)
            chain.append(nxt)
        o_bits = fmt.acc_bits
        for j in range(C):
            info = chain[delays[j]]
            wp, rp = mems["O"][j]
            # not the first contribution to this output: a later K tile or K row fold
            acc = (t["K"] != 0) | ((info["fK"] != 0) if RG == "K" else 0)
            emit = go & info["valid"] & info["keep"] & (j < info["c"]) & array.out_valid[j]
            o_addr = address("O", {**tile_src, **info})
            s1_valid, s1_acc = Signal(name=f"o{j}_v"), Signal(name=f"o{j}_acc")
            s1_addr = Signal(len(rp.addr), name=f"o{j}_addr")
            s1_value = Signal(o_bits, name=f"o{j}_value")
            m.d.sync += [s1_valid.eq(emit), s1_addr.eq(o_addr), s1_value.eq(array.out[j]),
                         s1_acc.eq(acc)]
            host_read = ~busy & (region == REGION["O"]) & (bank_sel == j)
            written = Signal(o_bits, name=f"o{j}_written")
            m.d.comb += [rp.addr.eq(Mux(busy, o_addr, word)), rp.en.eq(busy | host_read),
                         wp.addr.eq(s1_addr), wp.en.eq(s1_valid),
                         written.eq(s1_value + Mux(s1_acc, rp.data, 0)), wp.data.eq(written)]
            if self.o_writes:
                en, flat, data = self.o_writes[j]
                fields = {**tile_src, **info, f"p{CG}": j}
                b_, m_, n_ = (p.coordinate(g, fields) for g in AXES["O"])
                size = {g: grp[g].size for g in GROUPS}
                m.d.sync += flat.eq((b_ * size["M"] + m_) * size["N"] + n_)
                m.d.comb += [en.eq(s1_valid), data.eq(written)]

        # ---------------- tiles, start / done, cycle counter
        cycles = Signal(48)
        all_last = Signal()
        m.d.comb += [all_last.eq(Cat(*is_last.values()).all()),
                     self.last_step.eq(busy & go & e_tile_end & all_last)]
        flush = Signal()
        m.d.sync += flush.eq(0)
        with m.If(start):
            m.d.sync += [busy.eq(1), done.eq(0), cycles.eq(0), e_valid.eq(0),
                         *[t[g].eq(0) for g in GROUPS]]
            m.d.sync += reset_tile
        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(adv):
                m.d.sync += e_valid.eq(1)
            with m.If(go & e_tile_end):
                m.d.sync += [e_valid.eq(0), *reset_tile]
                if credit is not None:
                    m.d.sync += credit.eq(0)
                with m.If(all_last):
                    m.d.sync += [busy.eq(0), flush.eq(1)]
                # advance the tile odometer: innermost loop first
                carry = Const(1)
                for g in reversed(p.loop_order):
                    with m.If(carry):
                        m.d.sync += t[g].eq(Mux(is_last[g], 0, t[g] + 1))
                    carry = carry & is_last[g]
        with m.If(flush):  # the last read-modify-write lands this cycle
            m.d.sync += done.eq(1)
        if credit is not None:
            with m.If(start):
                m.d.sync += credit.eq(0)

        # ---------------- host reads: registers and output banks (one cycle latency)
        rd_region, rd_bank, rd_word = Signal(4), Signal(8), Signal(BANK_SHIFT)
        with m.If(self.re):
            m.d.sync += [rd_region.eq(region), rd_bank.eq(bank_sel), rd_word.eq(word)]
        reg_value = Mux(rd_word == REG_STATUS, Cat(busy, done),
                        Mux(rd_word == REG_CYCLES, cycles, 0))
        out_value = 0
        for j in range(C):
            out_value = Mux(rd_bank == j, mems["O"][j][1].data, out_value)
        m.d.comb += self.rdata.eq(Mux(rd_region == REGION["O"], out_value,
                                      Mux(rd_region == REGION_CTRL, reg_value, 0)))
        return m


def build_engine(arch, einsum, mapping, vector=()) -> wiring.Component:
    """The engine for contraction `einsum` under `mapping` on `arch`'s 2D array and buffer;
    with `vector` ((Einsum, VectorMapping) pairs of the 1D-unit Einsums that consume its
    result), the CascadeEngine that runs them after it (rtl/cascade_engine.py)."""
    if vector:
        from rtl.cascade_engine import CascadeEngine, check_gemm_result

        check_gemm_result(einsum, arch)
        tile = _tile_engine(arch, einsum, mapping, export_writes=True)
        return CascadeEngine.build(arch, tile, list(vector))
    return _tile_engine(arch, einsum, mapping)


def _tile_engine(arch, einsum, mapping, export_writes: bool = False) -> TileEngine:
    array, glb = arch.array2d, arch.buffer
    formats = {r.tensor.format for r in einsum.inputs}
    if len(formats) != 1:
        raise ValueError(f"Einsum '{einsum.name}' mixes operand formats {sorted(formats)}")
    fmt_name = formats.pop()
    if fmt_name not in array.formats:
        raise ValueError(f"array '{array.name}' has no format '{fmt_name}' "
                         f"(it has: {', '.join(array.formats)})")
    if mapping.dataflow not in array.dataflows:
        raise ValueError(f"array '{array.name}' has no dataflow '{mapping.dataflow}'")
    if getattr(mapping, "array", None) not in (None, (array.rows, array.cols)):
        raise ValueError(
            f"the mapping runs its folds on a {mapping.array[0]}x{mapping.array[1]} sub-array "
            f"of the {array.rows}x{array.cols} array; the tile engine builds the whole array "
            f"with its fixed R + C fill and drain, so its cycles would not be the mapping's. "
            f"Co-simulate it on an architecture whose array is that size, or give --mapping "
            f"a mapping without an `array` key (the whole array)")
    plan = EnginePlan(einsum.gemm_shape(), mapping, array.rows, array.cols,
                      mac_format(fmt_name), glb.read_bytes_per_cycle * 8)
    sram = sum(n * depth * width for n, depth, width in plan.resources().values()) // 8
    if sram > glb.capacity_bytes:
        raise ValueError(f"the engine keeps the whole GEMM in '{glb.name}': {sram:,} bytes of "
                         f"banks, but it holds {glb.capacity_bytes:,}")
    shape = einsum.gemm_shape()
    text = (f"{array.rows}x{array.cols} {fmt_name} array, GEMM B{shape['B']} M{shape['M']} "
            f"N{shape['N']} K{shape['K']}, {mapping.describe()}, {plan.tiles} tiles, "
            f"{sram:,} bytes of SRAM banks, buffer port {plan.bw_bits} bits/cycle"
            + (" (throttled)" if plan.throttled else ""))
    return TileEngine(plan, text, export_writes)


@block("engine", "a whole GEMM from SRAM banks: sequencer, systolic array, host bus "
       "(needs --workload and --mapping)", describe=lambda d: d.describe_text)
def _build_engine(a, o):
    if o.einsum is None or o.mapping is None:
        raise ValueError("the engine needs a workload and a mapping (--workload, --mapping)")
    return build_engine(a, o.einsum, o.mapping, o.vector)
