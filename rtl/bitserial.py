"""BitMoD's bit-serial PE and a lockstep rows x cols array of them.

Timing contract: sim/bitserial.py (module docstring). One PE per (output channel,
token); the array shares one controller, so a 1x1 array is the single PE.

Datapath (numerics exact, golden model in rtl/cosim.py):
- Activations are FP16, decoded to sign x 11-bit significand x 2**(e_eff - 25) as in
  rtl/numerics.py (finite inputs; subnormals exact).
- Weights: `code_bits`-bit codes in the unified representation: a per-group datatype
  selects a decode table code -> sign x magnitude x 2**shift (magnitude < 2**code_bits,
  integer shift). The tables built in are INT (two's complement) and FP (1 sign bit,
  code_bits - 2 exponent bits, 1 mantissa bit, subnormals; values in units of the
  smallest subnormal). A new type (e.g. one with special values) is one more table.
- Bit-serial multiply: each cycle the PE takes `bits_per_cycle` bits of every lane's
  weight magnitude and adds lanes x (significand x those bits), shifted into place, to
  the group accumulator (fixed point, LSB 2**-24 of the activation scale): a step of
  `lanes` weights takes ceil(code_bits / bits_per_cycle) cycles.
- Bit-serial dequantization: a finished group's partial sum moves to the dequantizer,
  which multiplies it by the group's unsigned `dequant_cycles`-bit scale one bit per
  cycle (shift and add) into the output accumulator. With dequant_cycles = 0 the
  partial sum is added unscaled at the handover.
- The fill latency `pipeline_depth` is realized as that many register stages on the
  result (a retiming of the front-end decode/align stages: the stream's timing is the
  same either way, and it costs fewer flip-flops).

Interface (one step per item): the feeder holds the step's operands and flags on the
inputs; `take` is high on the cycle the PE consumes the item's last bit slice, after
which the feeder presents the next item.
"""

from __future__ import annotations

import math

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from arch.components import BitSerialArray as BitSerialArraySpec
from rtl.blocks import bitserial_spec, block

DTYPES = ("int", "fp")


def decode_table(dtype: str, code_bits: int) -> list[tuple[int, int, int]]:
    """(sign, magnitude, shift) for every code of a weight datatype."""
    table = []
    for code in range(1 << code_bits):
        if dtype == "int":
            value = code - (1 << code_bits) if code >> (code_bits - 1) else code
            table.append((int(value < 0), abs(value), 0))
        elif dtype == "fp":
            if code_bits < 3:
                raise ValueError("an FP weight type needs at least 3 bits (sign, exponent, mantissa)")
            sign, exp, mant = code >> (code_bits - 1), (code >> 1) & ((1 << (code_bits - 2)) - 1), code & 1
            magnitude = mant if exp == 0 else (2 | mant)
            table.append((sign, magnitude, max(exp, 1) - 1))
        else:
            raise ValueError(f"unknown weight datatype '{dtype}' (known: {', '.join(DTYPES)})")
    return table


class BitSerialPEArray(wiring.Component):
    def __init__(self, rows: int = 1, cols: int = 1, lanes: int = 4, code_bits: int = 4,
                 bits_per_cycle: int = 2, group_size: int = 128, dequant_cycles: int = 0,
                 pipeline_depth: int = 0):
        self.rows, self.cols, self.lanes = rows, cols, lanes
        self.code_bits, self.bits_per_cycle = code_bits, bits_per_cycle
        self.group_size, self.dequant_cycles, self.pipeline_depth = group_size, dequant_cycles, pipeline_depth
        self.cycles_per_weight = math.ceil(code_bits / bits_per_cycle)
        self.tables = [decode_table(d, code_bits) for d in DTYPES]
        max_shift = max(s for t in self.tables for _, _, s in t)
        # significand (11) x magnitude (code_bits) << (activation shift <= 30 + weight shift),
        # summed over a group, plus a sign bit.
        self.group_bits = 11 + code_bits + 30 + max_shift + math.ceil(math.log2(group_size + 1)) + 1
        self.out_bits = self.group_bits + dequant_cycles + 16  # 2**16 groups per output before wrap
        lane = data.ArrayLayout(unsigned(16), lanes)
        codes = data.ArrayLayout(unsigned(code_bits), lanes)
        super().__init__({
            "valid": In(1), "group_last": In(1), "output_last": In(1),
            "act": In(data.ArrayLayout(lane, cols)),              # per column (token)
            "weight": In(data.ArrayLayout(codes, rows)),          # per row (output channel)
            "dtype": In(data.ArrayLayout(1, rows)),               # per row: index into DTYPES
            "scale": In(data.ArrayLayout(unsigned(max(1, dequant_cycles)), rows)),
            "take": Out(1),
            "result": Out(data.ArrayLayout(data.ArrayLayout(signed(self.out_bits), cols), rows)),
            "result_valid": Out(1),
        })

    @classmethod
    def from_arch(cls, spec: BitSerialArraySpec, rows: int | None = None,
                  cols: int | None = None) -> "BitSerialPEArray":
        return cls(rows or spec.rows, cols or spec.cols, spec.lanes, spec.weight_code_bits,
                   spec.weight_bits_per_cycle or spec.weight_code_bits, spec.group_size,
                   spec.dequant_cycles, spec.pipeline_depth)

    def elaborate(self, platform):
        m = Module()
        cpw, bpc, D = self.cycles_per_weight, self.bits_per_cycle, self.dequant_cycles

        # Shared controller: the sim/bitserial.py timeline.
        k = Signal(range(max(cpw, 2)))
        holding = Signal()           # finished group waits for the dequantizer
        held_last = Signal()         # ... and it was its output's last group
        deq_left = Signal(range(D + 2))
        deq_last = Signal()
        working = self.valid & ~holding
        step_done = working & (k == cpw - 1)
        group_done = step_done & self.group_last
        m.d.comb += self.take.eq(step_done)
        with m.If(working):
            m.d.sync += k.eq(Mux(k == cpw - 1, 0, k + 1))
        deq_finishing = Signal()
        m.d.comb += deq_finishing.eq(deq_left == 1)
        deq_free = (deq_left == 0) | deq_finishing
        hold_now = holding | group_done
        handover = Signal()
        m.d.comb += handover.eq(hold_now & deq_free)
        last_now = Mux(holding, held_last, self.output_last)
        with m.If(group_done & ~deq_free):
            m.d.sync += [holding.eq(1), held_last.eq(self.output_last)]
        with m.If(handover):
            m.d.sync += holding.eq(0)
        finish = Signal()  # some output becomes final at the end of this cycle
        if D:
            with m.If(deq_left != 0):
                m.d.sync += deq_left.eq(deq_left - 1)
            with m.If(handover):
                m.d.sync += [deq_left.eq(D), deq_last.eq(last_now)]
            m.d.comb += finish.eq(deq_finishing & deq_last)
        else:
            m.d.comb += finish.eq(handover & last_now)

        # Bits of the magnitude taken this cycle (in place, not shifted down).
        slice_mask = Signal(self.code_bits)
        with m.Switch(k):
            for i in range(cpw):
                with m.Case(i):
                    m.d.comb += slice_mask.eq(((1 << bpc) - 1) << (i * bpc) & ((1 << self.code_bits) - 1))

        results = []
        for r in range(self.rows):
            held_scale = Signal(max(1, D), name=f"held_scale_{r}")
            with m.If(group_done & ~deq_free):
                m.d.sync += held_scale.eq(self.scale[r])
            scale_now = Mux(holding, held_scale, self.scale[r])
            wsign, wmag, wshift = self._decode_weights(m, r)
            for c in range(self.cols):
                results.append(self._pe(m, r, c, working, handover, finish, deq_left, scale_now,
                                        slice_mask, wsign, wmag, wshift))

        # Fill latency as result register stages.
        valid = Signal()
        m.d.sync += valid.eq(finish)
        flat = [res for res in results]
        for stage in range(self.pipeline_depth):
            nxt_valid = Signal(name=f"valid_p{stage + 1}")
            m.d.sync += nxt_valid.eq(valid)
            valid = nxt_valid
            staged = []
            for n, res in enumerate(flat):
                reg = Signal.like(res, name=f"res{n}_p{stage + 1}")
                m.d.sync += reg.eq(res)
                staged.append(reg)
            flat = staged
        m.d.comb += self.result_valid.eq(valid)
        for n, res in enumerate(flat):
            m.d.comb += self.result[n // self.cols][n % self.cols].eq(res)
        return m

    def _decode_weights(self, m, r):
        """Per lane (sign, magnitude, shift) of row r's weights under its datatype."""
        out = []
        max_shift = max(s for t in self.tables for _, _, s in t)
        for lane in range(self.lanes):
            sign, mag, shift = Signal(), Signal(self.code_bits), Signal(range(max_shift + 1))
            with m.Switch(self.dtype[r]):
                for d, table in enumerate(self.tables):
                    with m.Case(d):
                        with m.Switch(self.weight[r][lane]):
                            for code, (s, mg, sh) in enumerate(table):
                                with m.Case(code):
                                    m.d.comb += [sign.eq(s), mag.eq(mg), shift.eq(sh)]
            out.append((sign, mag, shift))
        return ([s for s, _, _ in out], [mg for _, mg, _ in out], [sh for _, _, sh in out])

    def _pe(self, m, r, c, working, handover, finish, deq_left, scale_now, slice_mask,
            wsign, wmag, wshift):
        D = self.dequant_cycles
        group_acc = Signal(signed(self.group_bits), name=f"group_acc_{r}_{c}")
        terms = []
        for lane in range(self.lanes):
            act = self.act[c][lane]
            exp, frac = act[10:15], act[0:10]
            sig = Mux(exp == 0, frac, frac | (1 << 10))
            ashift = Signal(5, name=f"ashift_{r}_{c}_{lane}")  # e_eff - 1
            m.d.comb += ashift.eq(Mux(exp == 0, 0, exp - 1))
            term = Signal(unsigned(self.group_bits - 1), name=f"term_{r}_{c}_{lane}")
            m.d.comb += term.eq((sig * (wmag[lane] & slice_mask)) << (ashift + wshift[lane]))
            terms.append(Mux(act[15] ^ wsign[lane], -term, term))
        acc_next = Signal(signed(self.group_bits), name=f"acc_next_{r}_{c}")
        total = group_acc
        for t in terms:
            total = total + t
        m.d.comb += acc_next.eq(Mux(working, total, group_acc))
        with m.If(handover):
            m.d.sync += group_acc.eq(0)
        with m.Elif(working):
            m.d.sync += group_acc.eq(acc_next)
        out_acc = Signal(signed(self.out_bits), name=f"out_acc_{r}_{c}")
        result = Signal(signed(self.out_bits), name=f"result_{r}_{c}")
        if D:
            deq_val = Signal(signed(self.group_bits + D), name=f"deq_val_{r}_{c}")
            deq_scale = Signal(D, name=f"deq_scale_{r}_{c}")
            out_next = Signal(signed(self.out_bits), name=f"out_next_{r}_{c}")
            m.d.comb += out_next.eq(Mux((deq_left != 0) & deq_scale[0], out_acc + deq_val, out_acc))
            with m.If(deq_left != 0):
                m.d.sync += [deq_val.eq(deq_val << 1), deq_scale.eq(deq_scale >> 1),
                             out_acc.eq(out_next)]
            with m.If(handover):
                m.d.sync += [deq_val.eq(acc_next), deq_scale.eq(scale_now)]
            with m.If(finish):
                m.d.sync += [result.eq(out_next), out_acc.eq(0)]
        else:
            out_next = out_acc + acc_next
            with m.If(handover):
                m.d.sync += out_acc.eq(Mux(finish, 0, out_next))
            with m.If(finish):
                m.d.sync += result.eq(out_next)
        return result


def _describe(d) -> str:
    return (f"{d.rows}x{d.cols} PEs, {d.lanes} lanes, {d.code_bits}-bit weight codes at "
            f"{d.bits_per_cycle} bit(s)/cycle, groups of {d.group_size}, "
            f"{d.dequant_cycles}-cycle dequantizer, depth {d.pipeline_depth}")


@block("bitserial-pe", "one BitMoD bit-serial PE", describe=_describe)
def _build_pe(a, o):
    return BitSerialPEArray.from_arch(bitserial_spec(a), rows=1, cols=1)


@block("bitserial-array", "a lockstep array of BitMoD PEs", describe=_describe)
def _build_array(a, o):
    return BitSerialPEArray.from_arch(bitserial_spec(a))
