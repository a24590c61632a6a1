"""The tile engine followed by the 1D unit: a GEMM, then the element-wise/reduction
Einsums that consume its result (e.g. a softmax's max, exp and sum), from SRAM to
results with no host in between.

Hardware around rtl/engine.py's TileEngine and rtl/vector1d.py's SoftmaxLanes:

- **Tensor memories**: every output-bank write of the GEMM is mirrored into a flat
  memory of its result (row-major index); each 1D-unit Einsum writes its output into a
  flat memory of its own. A memory has one read port per lane and operand slot (FPGA
  synthesis duplicates the block RAM per read port), one write port per writer (array
  column or lane) and a host read port. Read ports are transparent, so an operand
  written in the cycle it is read for the next cycle arrives.
- **Hand-off**: the 1D unit's first cycle is the cycle after the GEMM's last result
  leaves the array (the cycle its read-modify-write lands): sim runs the Einsums one
  after another, each after the one before has finished, the GEMM's time being its
  tiles' array cycles (rtl/engine.py) and a 1D Einsum's its chunks' lane cycles plus
  the lane pipeline (sim/vector_engine.py). The operands for that first cycle are read
  the cycle before, so a result written in the hand-off cycle is forwarded.
- **Vector sequencer**: per Einsum, the chunks of its VectorMapping in order; in a
  chunk, rounds of `lanes` output points (output point o on lane o - round base, a
  chunk's last round partial); in a round, the reduction points one per `take`. Output
  and reduction coordinates are mixed-radix counters (no division); an operand's
  address is the dot product of its coordinates with the tensor's strides. After an
  Einsum's last point the lane pipeline drains (pipeline_depth cycles) and the next
  Einsum starts the cycle after its last result is written.

Numerics: the GEMM's 32-bit integer accumulator enters the 1D unit as its Q15.16 word
(the scores scaled by 2^-16); the lanes compute as rtl/vector1d.py defines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from rtl.bus import (BANK_SHIFT, REG_CYCLES, REG_STATUS, REGION_CTRL, REGION_SHIFT,
                     REGION_VECTOR, bits_for)
from rtl.numerics import mac_format
from rtl.vector1d import WIDTH, SoftmaxLanes, UnsupportedOp, compile_einsum


def handoff_delay() -> int:
    """Cycles between the GEMM's last read-modify-write and the 1D unit's first cycle
    (0: the same cycle). A function so the mutation test can move it."""
    return 0


def digits_of(value: int, radices: tuple[int, ...]) -> list[int]:
    """Row-major mixed-radix digits of `value` (modulo the product of the radices)."""
    out = []
    for r in reversed(radices):
        value, d = divmod(value, r)
        out.append(d)
    return out[::-1]


def add_const(m: Module, digits: list, radices: tuple[int, ...], const: int, name: str) -> list:
    """Mixed-radix digits + a constant (each digit sum < 2 radix: one compare each)."""
    out, carry = [None] * len(digits), Const(0)
    for k in reversed(range(len(digits))):
        s = digits[k] + digits_of(const, radices)[k] + carry
        wrap = s >= radices[k]
        out[k] = Signal(range(max(2, radices[k])), name=f"{name}_{k}")
        m.d.comb += out[k].eq(Mux(wrap, s - radices[k], s))
        carry = wrap
    return out


@dataclass(frozen=True)
class VectorStep:
    """One 1D-unit Einsum of the cascade: its geometry and its chunked schedule."""
    einsum: object
    chunk: int            # output points per chunk (VectorMapping.chunk_points)
    lanes: int

    @property
    def out_radices(self) -> tuple[int, ...]:
        return tuple(self.einsum.rank_sizes[r] for r in self.einsum.output.ranks) or (1,)

    @property
    def red_radices(self) -> tuple[int, ...]:
        return tuple(self.einsum.rank_sizes[r] for r in self.einsum.reduced_ranks) or (1,)

    @property
    def points(self) -> int:
        return self.einsum.output_points

    @property
    def reduce_len(self) -> int:
        return math.prod(self.red_radices)

    def chunks(self) -> tuple[int, int, int, int, int]:
        """(chunks, rounds of a full chunk, of the last, points in a full chunk's last
        round, in the last chunk's last round): sim.vector_engine's chunk_plan."""
        size = min(self.chunk, self.points)
        n = -(-self.points // size)
        last = self.points - (n - 1) * size
        rf, rl = -(-size // self.lanes), -(-last // self.lanes)
        return n, rf, rl, size - (rf - 1) * self.lanes, last - (rl - 1) * self.lanes

    def strides(self, ref) -> dict[str, int]:
        """Stride of each of `ref`'s ranks in its tensor's flat (row-major) index."""
        out, s = {}, 1
        for rank, size in reversed(list(zip(ref.ranks, ref.tensor.shape))):
            out[rank] = out.get(rank, 0) + s
            s *= size
        return out


def softmax_steps(cascade, gemm, arch) -> list:
    """The 1D-unit Einsums that follow contraction `gemm` in `cascade` and consume only
    its result or each other's: every one up to the first that is not such an Einsum or
    has no lane program (e.g. a division)."""
    made = {gemm.output.tensor.name}
    out = []
    for e in cascade.einsums[cascade.einsums.index(gemm) + 1:]:
        if e.is_contraction or not {r.tensor.name for r in e.inputs} <= made:
            break
        try:
            compile_einsum(e, arch.array1d)
        except UnsupportedOp:
            break
        out.append(e)
        made.add(e.output.tensor.name)
    return out


class CascadeEngine(wiring.Component):
    """TileEngine + SoftmaxLanes + tensor memories + vector sequencer (module docstring).
    The host bus is the TileEngine's (docs/rtl.md), plus region 4 (1D unit results)."""

    def __init__(self, tile, lanes: SoftmaxLanes, steps: list[VectorStep],
                 describe: str = ""):
        self.tile, self.lanes_unit, self.steps = tile, lanes, steps
        self.plan, self.fmt, self.rows, self.cols = tile.plan, tile.fmt, tile.rows, tile.cols
        self.describe_text = describe
        self.data_bits = tile.data_bits
        self.gemm_tensor = steps[0].einsum.inputs[0].tensor if steps else None
        super().__init__({"addr": In(32), "wdata": In(self.data_bits), "we": In(1), "re": In(1),
                          "rdata": Out(self.data_bits), "busy": Out(1), "done": Out(1)})

    @classmethod
    def build(cls, arch, tile, vector: list) -> "CascadeEngine":
        """`tile` (a TileEngine exporting its writes), then the 1D-unit Einsums `vector`
        ((Einsum, VectorMapping) pairs, in cascade order) on `arch`'s 1D unit."""
        unit = arch.array1d
        steps = [VectorStep(e, mp.chunk_points, unit.lanes) for e, mp in vector]
        lanes = SoftmaxLanes.from_arch(unit, [e for e, _ in vector])
        text = (f"{tile.describe_text}; then on the {unit.lanes}-lane 1D unit: "
                + ", ".join(f"{st.einsum.name} (chunks of {st.chunk})" for st in steps))
        return cls(tile, lanes, steps, text)

    def memory_copies(self) -> list[tuple[int, int, int]]:
        """(copies, depth, width) of each tensor memory for the fit estimate: one copy per
        read port (lanes x operand slots, plus the host's for a result)."""
        out = []
        for name, elements in self.tensors().items():
            host = name != self.gemm_tensor.name
            out.append((max(1, self.read_slots(name) * self.lanes_unit.lanes + host),
                        1 << bits_for(max(2, elements)), WIDTH))
        return out

    def read_slots(self, name: str) -> int:
        """Operand slots of tensor `name`: the most times one Einsum reads it."""
        return max(sum(ref.tensor.name == name for ref in st.einsum.inputs) for st in self.steps)

    def tensors(self) -> dict[str, int]:
        """Tensor name -> elements, of the GEMM result and every step's output."""
        return {ref.tensor.name: ref.tensor.elements
                for st in self.steps for ref in (*st.einsum.inputs, st.einsum.output)}

    def elaborate(self, platform):  # noqa: C901 - one sequencer, read top to bottom
        m = Module()
        m.submodules.tile = tile = self.tile
        m.submodules.lanes = lanes = self.lanes_unit
        n_lanes, depth = lanes.lanes, lanes.pipeline_depth
        gemm_name = self.gemm_tensor.name
        tensors = self.tensors()
        region = self.addr[REGION_SHIFT:32]
        bank_sel = self.addr[BANK_SHIFT:REGION_SHIFT]
        word = self.addr[:BANK_SHIFT]

        # ---------------- run state
        counting, done, vbusy, feeding = Signal(), Signal(), Signal(), Signal()
        prog = Signal(range(max(2, len(self.steps))))
        dcount = Signal(range(depth + 1))
        cycles = Signal(48)
        start = self.we & (region == REGION_CTRL) & (word == 0) & self.wdata[0] & ~counting
        m.d.comb += [tile.addr.eq(self.addr), tile.wdata.eq(self.wdata), tile.re.eq(self.re),
                     tile.we.eq(self.we & ~counting), self.busy.eq(counting), self.done.eq(done)]
        # the hand-off: the 1D unit runs from the cycle after the GEMM's last step
        delay = handoff_delay()
        begin = tile.last_step
        for k in range(delay):
            nxt = Signal(name=f"handoff{k}")
            m.d.sync += nxt.eq(begin)
            begin = nxt
        running = Signal()
        m.d.comb += running.eq((vbusy & feeding) | (begin if delay < 0 else 0))
        with m.If(start):
            m.d.sync += [counting.eq(1), done.eq(0), cycles.eq(0), prog.eq(0)]
        with m.If(counting):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(begin):
            m.d.sync += [vbusy.eq(1), feeding.eq(1)]

        # ---------------- per step: counters of the current item and of the next cycle's
        take = lanes.take
        drain_end = vbusy & ~feeding & (dcount == 1)
        prog_next = Signal.like(prog)
        m.d.comb += prog_next.eq(Mux(drain_end, prog + 1, prog))
        last_takes = []
        step_sig = []
        for k, st in enumerate(self.steps):
            n_ch, rf, rl, rem_f, rem_l = st.chunks()
            ours = (prog == k) & running
            base = [Signal(range(max(2, r)), name=f"s{k}_base{i}")
                    for i, r in enumerate(st.out_radices)]
            base_flat = Signal(range(st.points + n_lanes + 1), name=f"s{k}_flat")
            red = [Signal(range(max(2, r)), name=f"s{k}_red{i}")
                   for i, r in enumerate(st.red_radices)]
            j = Signal(range(max(2, st.reduce_len)), name=f"s{k}_j")
            c = Signal(range(max(2, n_ch)), name=f"s{k}_c")
            r = Signal(range(max(2, rf)), name=f"s{k}_r")
            last_chunk = c == n_ch - 1
            last_round = r == Mux(last_chunk, rl, rf) - 1
            last_j = j == st.reduce_len - 1
            in_round = Mux(last_round, Mux(last_chunk, rem_l, rem_f), n_lanes)
            adv = ours & take
            # next-cycle values (the read address is the next cycle's item)
            nb_lanes = add_const(m, base, st.out_radices, n_lanes, f"s{k}_bl")
            nb_rem = add_const(m, base, st.out_radices, rem_f, f"s{k}_br")
            nred = add_const(m, red, st.red_radices, 1, f"s{k}_rn")
            base_n = [Signal.like(b, name=f"{b.name}_n") for b in base]
            red_n = [Signal.like(x, name=f"{x.name}_n") for x in red]
            new_round = adv & last_j
            for b, b_n, bl, br in zip(base, base_n, nb_lanes, nb_rem):
                m.d.comb += b_n.eq(Mux(new_round, Mux(last_round, br, bl), b))
            for x, x_n, xn in zip(red, red_n, nred):
                m.d.comb += x_n.eq(Mux(adv, Mux(last_j, 0, xn), x))
            m.d.sync += [b.eq(b_n) for b, b_n in zip(base, base_n)]
            m.d.sync += [x.eq(x_n) for x, x_n in zip(red, red_n)]
            with m.If(adv):
                m.d.sync += j.eq(Mux(last_j, 0, j + 1))
                with m.If(last_j):
                    m.d.sync += [base_flat.eq(base_flat + Mux(last_round, rem_f, n_lanes)),
                                 r.eq(Mux(last_round, 0, r + 1)),
                                 c.eq(Mux(last_round, c + 1, c))]
            with m.If(start):
                m.d.sync += [*(s.eq(0) for s in (*base, *red, base_flat, j, c, r))]
            with m.If(ours):
                m.d.comb += [lanes.program.eq(k), lanes.first.eq(j == 0), lanes.last.eq(last_j),
                             *(lanes.lane_valid[ln].eq(ln < in_round) for ln in range(n_lanes))]
            last_takes.append(adv & last_j & last_round & last_chunk)
            step_sig.append(dict(base_n=base_n, red_n=red_n, base_flat=base_flat,
                                 done=adv & last_j))
        m.d.comb += [lanes.valid.eq(running)]
        last_take = Signal()
        m.d.comb += last_take.eq(Cat(*last_takes).any())
        with m.If(last_take):
            m.d.sync += [feeding.eq(0), dcount.eq(depth)]
        with m.If(vbusy & ~feeding & (dcount != 0)):
            m.d.sync += dcount.eq(dcount - 1)
        with m.If(drain_end):
            with m.If(prog == len(self.steps) - 1):
                m.d.sync += [vbusy.eq(0), counting.eq(0), done.eq(1)]
            with m.Else():
                m.d.sync += [prog.eq(prog + 1), feeding.eq(1)]

        # ---------------- tensor memories: read ports (lane, slot), writes, host port
        mems, rports, wports = {}, {}, {}
        for name, elements in tensors.items():
            mem = Memory(shape=unsigned(WIDTH), depth=1 << bits_for(max(2, elements)), init=[])
            m.submodules[f"mem_{name}"] = mems[name] = mem
            if name == gemm_name:
                wports[name] = [mem.write_port() for _ in tile.o_writes]
                for wp, (en, flat, data) in zip(wports[name], tile.o_writes):
                    m.d.comb += [wp.en.eq(en), wp.addr.eq(flat), wp.data.eq(data[:WIDTH])]
            else:
                wports[name] = [mem.write_port() for _ in range(n_lanes)]
            rports[name] = [[mem.read_port(transparent_for=tuple(wports[name]))
                             for _ in range(n_lanes)] for _ in range(self.read_slots(name))]

        # operand addresses (from the next cycle's counters) and data (with forwarding)
        for k, st in enumerate(self.steps):
            sig = step_sig[k]
            used = {}
            out_ranks, red_ranks = st.einsum.output.ranks, st.einsum.reduced_ranks
            for i, ref in enumerate(st.einsum.inputs):
                slot = used[ref.tensor.name] = used.get(ref.tensor.name, -1) + 1
                strides = st.strides(ref)
                for ln in range(n_lanes):
                    point = add_const(m, sig["base_n"], st.out_radices, ln, f"s{k}_i{i}_l{ln}")
                    coord = dict(zip(out_ranks, point)) | dict(zip(red_ranks, sig["red_n"]))
                    addr = sum(coord[rank] * s for rank, s in strides.items())
                    rp = rports[ref.tensor.name][slot][ln]
                    with m.If(prog_next == k):
                        m.d.comb += [rp.addr.eq(addr), rp.en.eq(1)]
                    data = rp.data
                    if ref.tensor.name == gemm_name:  # written in the hand-off cycle
                        raddr = Signal.like(rp.addr, name=f"s{k}_i{i}_l{ln}_raddr")
                        m.d.sync += raddr.eq(rp.addr)
                        for wp in wports[gemm_name]:
                            data = Mux(wp.en & (wp.addr == raddr), wp.data, data)
                    with m.If(prog == k):
                        m.d.comb += lanes.x[ln][i].eq(data)

        # lane results: the output index travels the lane pipeline beside the value
        for k, st in enumerate(self.steps):
            sig = step_sig[k]
            idx = Signal.like(sig["base_flat"], name=f"s{k}_out1")
            with m.If(sig["done"]):
                m.d.sync += idx.eq(sig["base_flat"])
            for s in range(2, depth + 1):
                nxt = Signal.like(idx, name=f"s{k}_out{s}")
                m.d.sync += nxt.eq(idx)
                idx = nxt
            for ln, wp in enumerate(wports[st.einsum.output.tensor.name]):
                with m.If(prog == k):
                    m.d.comb += [wp.en.eq(lanes.out_valid[ln]), wp.addr.eq(idx + ln),
                                 wp.data.eq(lanes.out[ln])]

        # ---------------- host reads: own registers, 1D results, else the tile engine's
        host = {}
        for k, st in enumerate(self.steps):
            name = st.einsum.output.tensor.name
            rp = mems[name].read_port()
            m.d.comb += rp.addr.eq(word)
            host[k] = rp.data
        rd_region, rd_bank, rd_word = Signal(4), Signal(8), Signal(BANK_SHIFT)
        with m.If(self.re):
            m.d.sync += [rd_region.eq(region), rd_bank.eq(bank_sel), rd_word.eq(word)]
        vec_value = 0
        for k, data in host.items():
            vec_value = Mux(rd_bank == k, data, vec_value)
        reg_value = Mux(rd_word == REG_STATUS, Cat(counting, done),
                        Mux(rd_word == REG_CYCLES, cycles, 0))
        m.d.comb += self.rdata.eq(Mux(rd_region == REGION_VECTOR, vec_value,
                                      Mux(rd_region == REGION_CTRL, reg_value, tile.rdata)))
        return m


def check_gemm_result(einsum, arch) -> None:
    """The GEMM result must be what the 1D unit can read: 32-bit integer accumulators,
    ranks in batch, M, N order (its flat index is the output banks' (b, m, n))."""
    fmt = mac_format(einsum.inputs[0].tensor.format)
    if fmt.is_float or fmt.acc_bits != WIDTH:
        raise ValueError(f"the 1D unit takes the GEMM's {WIDTH}-bit integer accumulator as "
                         f"Q15.16; format {fmt.name} accumulates in {fmt.acc_bits} bits")
    groups = einsum.gemm_groups()
    if einsum.output.ranks != groups["B"] + groups["M"] + groups["N"]:
        raise ValueError(f"the GEMM result {einsum.output.tensor.name}{list(einsum.output.ranks)} "
                         f"must have its ranks in batch, M, N order for the 1D unit")
    if arch.array1d.pipeline_depth < 1:
        raise ValueError(f"1D unit '{arch.array1d.name}' needs pipeline_depth >= 1")
