"""The 1D unit's lanes: a micro-programmed fixed-point ALU per lane, one program per
element-wise/reduction Einsum (FuseMax's online-softmax cascade: running max, exp,
running sum, correction).

Timing contract: sim/vector_engine.py (cycles_per_point, lane_cycles) and
sim/vector_reference.py. A lane evaluates the Einsum's expression at one input point
after another, its operations one after another (`op_cycles` each, from the arch's
Array1D), then folds the value into the reduction (`op_cycles` of the reduce op); a
finished output goes through `pipeline_depth` register stages. Output point i belongs
to lane i mod lanes; all lanes share one controller (they run in lockstep).

Numerics (golden model: `evaluate` below, bit for bit):
- Values are Q15.16: 32-bit two's complement with 16 fractional bits.
- add, subtract, neg wrap modulo 2**32; multiply is (a * b) >> 16 (floor), wrapped;
  max/min exact; constants round(v * 2**16).
- exp(x) takes op_cycles(exp) = d + 2 cycles: cycle 0 range reduction
  t = (x * round(log2(e) * 2**16)) >> 16, n = t >> 16, f = t mod 2**16; cycles 1..d
  Horner steps p = ((p * f) >> 16) + c_i of a degree-d least-squares fit of 2**f on
  [0, 1) (coefficients rounded to Q16, `exp_coefficients`); last cycle p << n
  (saturating at 2**31 - 1) or p >> -n. FuseMax costs exp as 6 MACs in 7 cycles:
  d = 5. Accuracy: see EXP_TOLERANCE (checked by tests/test_rtl_vector1d.py).
Unsupported operations (divide, the other transcendental functions) raise
UnsupportedOp: FuseMax's final division AV = RNV / RD has no lane program here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from amaranth import ClockSignal, Const, Instance, Module, Mux, ResetSignal, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from arch import Array1D
from rtl.blocks import block

FRAC = 16
WIDTH = 32
LOG2E_Q16 = round(math.log2(math.e) * (1 << FRAC))
MAX_Q = (1 << (WIDTH - 1)) - 1
# |rtl_exp(x) - exp(x)| <= EXP_TOLERANCE_ABS + EXP_TOLERANCE_REL * exp(x) for Q16 x in
# [-20, 10] at d = 5 (FuseMax's 7 cycles). Measured over every Q16 x on a 1e-4 grid:
# 3.1 LSB (4.8e-5) absolute where exp(x) < 1, 2**-13.5 relative where exp(x) >= 1
# (the Q16 rounding of log2(e) dominates there). tests/test_rtl_vector1d.py checks it.
EXP_TOLERANCE_ABS = 2.0**-14
EXP_TOLERANCE_REL = 2.0**-13
BINARY = ("add", "subtract", "multiply", "max", "min")
UNARY = ("exp", "neg")


class UnsupportedOp(ValueError):
    """The lane ALU has no such operation."""


def wrap32(v: int) -> int:
    v &= (1 << WIDTH) - 1
    return v - (1 << WIDTH) if v >> (WIDTH - 1) else v


def to_q16(x: float) -> int:
    return wrap32(round(x * (1 << FRAC)))


@lru_cache(maxsize=None)
def exp_coefficients(degree: int) -> tuple[int, ...]:
    """Q16 coefficients c_0..c_d of the least-squares fit of 2**f on [0, 1)."""
    f = 0.5 - 0.5 * np.cos(np.pi * (np.arange(512) + 0.5) / 512)  # Chebyshev nodes on [0, 1]
    coeffs = np.polynomial.polynomial.polyfit(f, 2.0**f, degree)
    return tuple(int(round(c * (1 << FRAC))) for c in coeffs)


def exp_q16(x: int, degree: int) -> int:
    """The exp the lane computes (golden model), Q16 in and out."""
    t = (x * LOG2E_Q16) >> FRAC
    n, f = t >> FRAC, t & ((1 << FRAC) - 1)
    c = exp_coefficients(degree)
    p = c[degree]
    for i in range(degree - 1, -1, -1):
        p = ((p * f) >> FRAC) + c[i]
    if n >= 0:
        return min(p << n, MAX_Q) if n < WIDTH else MAX_Q
    return p >> -n if -n < WIDTH + 8 else 0


def alu(op: str, a: int, b: int = 0) -> int:
    """One 1-cycle operation of the lane (golden model)."""
    if op == "add":
        return wrap32(a + b)
    if op == "subtract":
        return wrap32(a - b)
    if op == "multiply":
        return wrap32((a * b) >> FRAC)
    if op == "max":
        return max(a, b)
    if op == "min":
        return min(a, b)
    if op == "neg":
        return wrap32(-a)
    raise UnsupportedOp(op)


def evaluate(expr, operands: list[int], exp_degree: int) -> int:
    """Golden model: an Einsum expression at one point, Q16 operands."""
    if expr.op == "ref":
        return operands[expr.index]
    if expr.op == "const":
        return to_q16(expr.value)
    args = [evaluate(a, operands, exp_degree) for a in expr.args]
    if expr.op == "exp":
        return exp_q16(args[0], exp_degree)
    return alu(expr.op, *args)


REDUCE_ALU = {"sum": "add", "max": "max", "min": "min"}


@dataclass(frozen=True)
class MicroOp:
    op: str                  # an ALU op, 'exp', 'copy' or 'reduce:sum' / ':max' / ':min'
    srcs: tuple              # ('x', i) operand, ('t', j) temp, ('c', q16) constant, ('acc',)
    dst: tuple               # ('t', j) or ('acc',)
    cycles: int


@dataclass(frozen=True)
class Program:
    name: str
    ops: tuple[MicroOp, ...]
    reduce: str              # 'sum' / 'max' / 'min' / 'none'
    inputs: int

    @property
    def cycles_per_point(self) -> int:
        return sum(op.cycles for op in self.ops)


def compile_einsum(einsum, unit: Array1D) -> Program:
    """Micro-ops for one Einsum: its expression in post-order into temporaries, then the
    reduction into the accumulator (for reduce 'none' the last op writes it)."""
    ops: list[MicroOp] = []
    if unit.op_chains:
        raise UnsupportedOp(f"the lane ALU runs one operation per micro-op; op_chains "
                            f"{dict(unit.op_chains)} is not built")

    def walk(expr) -> tuple:
        if expr.op == "ref":
            return ("x", expr.index)
        if expr.op == "const":
            return ("c", to_q16(expr.value))
        if expr.op not in BINARY + UNARY:
            raise UnsupportedOp(f"Einsum '{einsum.name}': the lane ALU has no '{expr.op}' "
                                f"(it has: {', '.join(BINARY + UNARY)})")
        srcs = tuple(walk(a) for a in expr.args)
        cycles = unit.cycles_per(expr.op)
        if expr.op == "exp" and cycles < 3:
            raise UnsupportedOp(f"exp needs op_cycles >= 3 (range reduction, >= 1 Horner step, "
                                f"scaling), the arch gives {cycles}")
        ops.append(MicroOp(expr.op, srcs, ("t", len(ops)), cycles))
        return ops[-1].dst

    value = walk(einsum.expr)
    if einsum.reduce != "none":
        if einsum.reduce not in REDUCE_ALU:
            raise UnsupportedOp(f"Einsum '{einsum.name}': no reduction '{einsum.reduce}'")
        ops.append(MicroOp(f"reduce:{einsum.reduce}", (value,), ("acc",),
                           unit.cycles_per(einsum.reduce)))
    elif ops:
        ops[-1] = MicroOp(ops[-1].op, ops[-1].srcs, ("acc",), ops[-1].cycles)
    else:  # a copy still costs max(1, 0) cycles in sim's model
        ops.append(MicroOp("copy", (value,), ("acc",), 1))
    return Program(einsum.name, tuple(ops), einsum.reduce, len(einsum.inputs))


class SoftmaxLanes(wiring.Component):
    """`lanes` lanes running one of `programs` (input `program`), lockstep.

    Per input point the feeder holds each lane's operands on `x` (one Q16 value per
    Einsum input) until `take` (the point's last cycle); `first` / `last` mark an
    output's first (the reduction restarts) and last input point, `lane_valid` the lanes
    that have an output point in this round. Results leave `pipeline_depth` cycles after their last op.
    """

    def __init__(self, lanes: int, programs: list[Program], pipeline_depth: int, exp_degree: int):
        if not programs:
            raise ValueError("the 1D unit needs at least one Einsum program")
        self.lanes, self.programs = lanes, programs
        self.pipeline_depth, self.exp_degree = pipeline_depth, exp_degree
        self.n_inputs = max(1, max(p.inputs for p in programs))
        self.n_temps = max(1, max(len(p.ops) for p in programs))
        q = signed(WIDTH)
        super().__init__({
            "program": In(range(max(2, len(programs)))),
            "valid": In(1), "first": In(1), "last": In(1),
            "x": In(data.ArrayLayout(data.ArrayLayout(q, self.n_inputs), lanes)),
            "lane_valid": In(data.ArrayLayout(1, lanes)),
            "take": Out(1),
            "out": Out(data.ArrayLayout(q, lanes)), "out_valid": Out(data.ArrayLayout(1, lanes)),
        })

    @classmethod
    def from_arch(cls, unit: Array1D, einsums: list) -> "SoftmaxLanes":
        programs = [compile_einsum(e, unit) for e in einsums]
        lanes = cls(unit.lanes, programs, unit.pipeline_depth, unit.cycles_per("exp") - 2)
        lanes.einsums = list(einsums)
        return lanes

    def describe(self) -> str:
        progs = ", ".join(f"{p.name} ({p.cycles_per_point} cycles/point)" for p in self.programs)
        return f"{self.lanes} lanes, Q15.16, depth {self.pipeline_depth}, programs: {progs}"

    def decode_tables(self):
        """(micro-ops used, operand source -> select code, longest op in cycles): the
        encoding the controller drives and every lane decodes."""
        ops_used = sorted({op.op for p in self.programs for op in p.ops})
        consts = sorted({s[1] for p in self.programs for op in p.ops for s in op.srcs
                         if s[0] == "c"})
        # source codes: x inputs, temporaries, the accumulator, constants
        code = {("x", i): i for i in range(self.n_inputs)}
        code.update({("t", j): self.n_inputs + j for j in range(self.n_temps)})
        code[("acc",)] = self.n_inputs + self.n_temps
        code.update({("c", v): self.n_inputs + self.n_temps + 1 + k for k, v in enumerate(consts)})
        max_cyc = max(op.cycles for p in self.programs for op in p.ops)
        return ops_used, code, max_cyc

    def to_verilog(self, name: str) -> str:
        """Verilog with the lane written once as module NAME_lane and instantiated per
        lane: the same netlist as the flat conversion (tests/test_rtl_vector1d.py checks
        equivalence with yosys), converted in the time of one lane plus the controller."""
        from amaranth.back import verilog

        lane_text = verilog.convert(Lane(self), name=f"{name}_lane")
        self.lane_module = f"{name}_lane"
        return lane_text + verilog.convert(self, name=name)

    def elaborate(self, platform):
        """One shared controller decodes (program, micro-op, cycle) into an opcode and
        operand/destination selects; each lane (`Lane`) is one datapath (adder,
        multiplier, comparator, exp step) whose result the opcode picks. The same cycles
        and arithmetic as one datapath per micro-op, with a lane's logic independent of
        the number of programs."""
        m = Module()
        max_ops = max(len(p.ops) for p in self.programs)
        ops_used, code, max_cyc = self.decode_tables()
        pc = Signal(range(max(2, max_ops)))
        cyc = Signal(range(max(2, max_cyc)))
        running = self.valid
        op_last = Signal()      # last cycle of the current micro-op
        point_last = Signal()   # ... and of the point's last micro-op
        opcode = Signal(range(max(2, len(ops_used))))
        a_sel, b_sel = Signal(range(len(code) + 1)), Signal(range(len(code) + 1))
        dst_sel = Signal(range(self.n_temps + 1))   # temp j, or n_temps: the accumulator
        for op, is_point_last in self._op_cases(m, pc):
            srcs = list(op.srcs) + [op.srcs[0]] * (2 - len(op.srcs))
            m.d.comb += [op_last.eq(cyc == op.cycles - 1),
                         point_last.eq((cyc == op.cycles - 1) & is_point_last),
                         opcode.eq(ops_used.index(op.op)), a_sel.eq(code[srcs[0]]),
                         b_sel.eq(code[srcs[1]]),
                         dst_sel.eq(self.n_temps if op.dst[0] == "acc" else op.dst[1])]
        with m.If(running):
            with m.If(point_last):
                m.d.sync += [pc.eq(0), cyc.eq(0)]
            with m.Elif(op_last):
                m.d.sync += [pc.eq(pc + 1), cyc.eq(0)]
            with m.Else():
                m.d.sync += cyc.eq(cyc + 1)
        m.d.comb += self.take.eq(running & point_last)
        d = self.exp_degree
        coeffs = exp_coefficients(d)
        coef = Signal(signed(WIDTH))  # Horner step cyc (1..d) adds c[d - cyc]
        with m.Switch(cyc):
            for i in range(1, d + 1):
                with m.Case(i):
                    m.d.comb += coef.eq(coeffs[d - i])
        shared = dict(cyc=cyc, running=running, op_last=op_last, point_last=point_last,
                      opcode=opcode, a_sel=a_sel, b_sel=b_sel, dst_sel=dst_sel, coef=coef,
                      first=self.first, last=self.last)
        module = getattr(self, "lane_module", None)
        for i in range(self.lanes):
            ins = {**shared, "x": self.x[i], "lane_valid": self.lane_valid[i]}
            outs = {"out": self.out[i], "out_valid": self.out_valid[i]}
            if module:  # to_verilog: the lane module written once
                m.submodules[f"lane{i}"] = Instance(
                    module, i_clk=ClockSignal(), i_rst=ResetSignal(),
                    **{f"i_{k}": Value.cast(v) for k, v in ins.items()},
                    **{f"o_{k}": Value.cast(v) for k, v in outs.items()})
                continue
            m.submodules[f"lane{i}"] = lane = Lane(self)
            m.d.comb += [getattr(lane, k).eq(v) for k, v in ins.items()]
            m.d.comb += [v.eq(getattr(lane, k)) for k, v in outs.items()]
        return m

    def _op_cases(self, m, pc):
        """Open the switch case of every (program, micro-op) in turn and yield
        (op, whether it is the point's last op); logic added meanwhile lands in that case."""
        with m.Switch(self.program):
            for pi, prog in enumerate(self.programs):
                with m.Case(pi):
                    with m.Switch(pc):
                        for oi, op in enumerate(prog.ops):
                            with m.Case(oi):
                                yield op, oi == len(prog.ops) - 1


class Lane(wiring.Component):
    """One lane of `unit` (a SoftmaxLanes): operand selects, one multiplier (exp's range
    reduction and Horner steps, and the multiply op, never in the same cycle), adder,
    comparator, exp state, temporaries, accumulator and the result pipeline, driven by
    the shared controller's opcode and selects."""

    def __init__(self, unit: SoftmaxLanes):
        self.unit = unit
        self.ops_used, self.code, max_cyc = unit.decode_tables()
        q = signed(WIDTH)
        super().__init__({
            "x": In(data.ArrayLayout(q, unit.n_inputs)), "lane_valid": In(1),
            "first": In(1), "last": In(1), "running": In(1), "op_last": In(1),
            "point_last": In(1), "cyc": In(range(max(2, max_cyc))),
            "opcode": In(range(max(2, len(self.ops_used)))),
            "a_sel": In(range(len(self.code) + 1)), "b_sel": In(range(len(self.code) + 1)),
            "dst_sel": In(range(unit.n_temps + 1)), "coef": In(q),
            "out": Out(q), "out_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        u, q = self.unit, signed(WIDTH)
        temps = [Signal(q, name=f"t{j}") for j in range(u.n_temps)]
        acc = Signal(q)
        sources = {}
        for src, c in self.code.items():
            sources[c] = (self.x[src[1]] if src[0] == "x" else temps[src[1]] if src[0] == "t"
                          else acc if src[0] == "acc" else Const(src[1], q))
        a, b = Signal(q), Signal(q)
        for operand, sel in ((a, self.a_sel), (b, self.b_sel)):
            with m.Switch(sel):
                for c, value in sources.items():
                    with m.Case(c):
                        m.d.comb += operand.eq(value)
        # exp unit: range reduction (cycle 0), Horner steps (1..d), scaling (last cycle)
        e_n = Signal(signed(WIDTH - FRAC + 2), name="exp_n")
        e_f = Signal(FRAC, name="exp_f")
        e_p = Signal(signed(WIDTH), name="exp_p")
        cyc, used = self.cyc, self.ops_used
        is_exp = (self.opcode == used.index("exp")) if "exp" in used else Const(0)
        ma, mb = Signal(q), Signal(q)
        m.d.comb += [ma.eq(Mux(is_exp & (cyc != 0), e_p, a)),
                     mb.eq(Mux(is_exp, Mux(cyc == 0, LOG2E_Q16, e_f), b))]
        product = Signal(signed(2 * WIDTH), name="prod")
        m.d.comb += product.eq(ma * mb)
        results = {"add": a + b, "subtract": a - b, "multiply": product >> FRAC,
                   "max": Mux(a > b, a, b), "min": Mux(a < b, a, b), "neg": -a, "copy": a,
                   "reduce:sum": Mux(self.first, a, acc + a),
                   "reduce:max": Mux(self.first, a, Mux(a > acc, a, acc)),
                   "reduce:min": Mux(self.first, a, Mux(a < acc, a, acc))}
        if "exp" in used:
            with m.If(self.running & is_exp):
                with m.If(cyc == 0):
                    t = product >> FRAC
                    m.d.sync += [e_n.eq(t >> FRAC), e_f.eq(t[:FRAC]),
                                 e_p.eq(exp_coefficients(u.exp_degree)[u.exp_degree])]
                with m.Elif(cyc <= u.exp_degree):
                    m.d.sync += e_p.eq((product >> FRAC) + self.coef)
            shifted_left = Signal(signed(WIDTH + 40), name="exp_shl")
            m.d.comb += shifted_left.eq(e_p << e_n[:5].as_unsigned())
            neg = (-e_n).as_unsigned()
            results["exp"] = Mux(e_n >= 0,
                                 Mux((e_n >= WIDTH) | (shifted_left > MAX_Q), MAX_Q, shifted_left),
                                 Mux(neg >= WIDTH + 8, 0, e_p >> neg[:6]))
        value = Signal(q)
        with m.Switch(self.opcode):
            for k, op in enumerate(used):
                with m.Case(k):
                    m.d.comb += value.eq(results[op])
        with m.If(self.running & self.op_last):
            with m.Switch(self.dst_sel):
                for j, temp in enumerate(temps):
                    with m.Case(j):
                        m.d.sync += temp.eq(value)
                with m.Case(u.n_temps):
                    m.d.sync += acc.eq(value)
        done = self.running & self.point_last & self.last  # an output finished
        # Result pipeline: `done` (last op of an output's last input point) + depth stages.
        valid, val = Signal(name="v1"), Signal(q, name="r1")
        m.d.sync += valid.eq(done & self.lane_valid)
        with m.If(done):
            m.d.sync += val.eq(value)
        for s in range(2, u.pipeline_depth + 1):
            nv, nval = Signal(name=f"v{s}"), Signal(q, name=f"r{s}")
            m.d.sync += [nv.eq(valid), nval.eq(val)]
            valid, val = nv, nval
        m.d.comb += [self.out.eq(val), self.out_valid.eq(valid)]
        return m


@block("vector1d", "the 1D unit's lanes for FuseMax's online-softmax Einsums",
       describe=lambda d: d.describe())
def _build_vector1d(a, o):
    if not o.einsums:
        raise ValueError("the 1D unit needs the Einsums to program its lanes for")
    return SoftmaxLanes.from_arch(a.array1d, list(o.einsums))
