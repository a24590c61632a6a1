"""The MAC processing element (integer and FP16) and its exact multiplier.

Numerics are specified in rtl/numerics.py; the golden model there is what co-simulation
compares with, bit for bit.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from arch import Array2D
from rtl.blocks import block
from rtl.numerics import MacFormat, mac_format


def exact_product(m: Module, fmt: MacFormat, a, b):
    """A combinational signed product of two raw operands, acc_bits wide (exact)."""
    if not fmt.is_float:
        prod = Signal(signed(fmt.acc_bits))
        m.d.comb += prod.eq(a.as_signed() * b.as_signed())
        return prod

    def decode(x):
        exp, frac = x[10:15], x[0:10]
        sig = Signal(11)
        shift = Signal(5)  # e_eff - 1: subnormals (exp 0) share exponent 1 with exp 1
        m.d.comb += [sig.eq(Mux(exp == 0, frac, frac | (1 << 10))),
                     shift.eq(Mux(exp == 0, 0, exp - 1))]
        return x[15], sig, shift

    sa, siga, sha = decode(a)
    sb, sigb, shb = decode(b)
    magnitude = Signal(unsigned(fmt.acc_bits))
    m.d.comb += magnitude.eq((siga * sigb) << (sha + shb))
    prod = Signal(signed(fmt.acc_bits))
    m.d.comb += prod.eq(Mux(sa ^ sb, -magnitude, magnitude))
    return prod


class MacPE(wiring.Component):
    """Output-stationary MAC PE: acc = a*b (first) or acc + a*b, on valid steps.

    Operands and flags are registered and passed on (a and flags to the right, b down)
    for a systolic array. On a `last` step the new sum goes to a one-entry result
    register, valid during the next step. `en` low freezes everything (array stall).
    """

    def __init__(self, fmt: MacFormat):
        self.fmt = fmt
        w = fmt.bits
        super().__init__({
            "en": In(1),
            "a": In(w), "b": In(w), "valid": In(1), "first": In(1), "last": In(1),
            "a_out": Out(w), "b_out": Out(w),
            "valid_out": Out(1), "first_out": Out(1), "last_out": Out(1),
            "result": Out(signed(fmt.acc_bits)), "result_valid": Out(1),
        })

    @classmethod
    def for_array(cls, array: Array2D, fmt_name: str | None = None, acc_bits: int | None = None):
        """The PE of an arch Array2D in one of its formats (default: the first)."""
        return cls(mac_format(fmt_name or array.formats[0], acc_bits))

    def elaborate(self, platform):
        m = Module()
        prod = exact_product(m, self.fmt, self.a, self.b)
        acc = Signal(signed(self.fmt.acc_bits))
        acc_next = Signal(signed(self.fmt.acc_bits))
        m.d.comb += acc_next.eq(Mux(self.first, prod, acc + prod))
        with m.If(self.en):
            m.d.sync += [self.a_out.eq(self.a), self.b_out.eq(self.b),
                         self.valid_out.eq(self.valid), self.first_out.eq(self.first),
                         self.last_out.eq(self.last),
                         self.result_valid.eq(self.valid & self.last)]
            with m.If(self.valid):
                m.d.sync += acc.eq(acc_next)
                with m.If(self.last):
                    m.d.sync += self.result.eq(acc_next)
        return m


class WsCell(wiring.Component):
    """Weight-stationary PE: psum_out = psum_in + x * w, w swapped in from a shadow
    register on a fold's first vector; the shadow loads from the column's preload bus
    when the bus addresses this cell's row."""

    def __init__(self, fmt: MacFormat, row: int, row_bits: int):
        self.fmt, self.row = fmt, row
        w = fmt.bits
        super().__init__({
            "en": In(1),
            "x": In(w), "valid": In(1), "first": In(1),
            "psum_in": In(signed(fmt.acc_bits)),
            "pre_w": In(w), "pre_valid": In(1), "pre_row": In(row_bits),
            "x_out": Out(w), "valid_out": Out(1), "first_out": Out(1),
            "psum_out": Out(signed(fmt.acc_bits)), "psum_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        w = self.fmt.bits
        w_active, w_shadow, w_use = Signal(w), Signal(w), Signal(w)
        swap = self.valid & self.first
        m.d.comb += w_use.eq(Mux(swap, w_shadow, w_active))
        prod = exact_product(m, self.fmt, self.x, w_use)
        with m.If(self.en):
            m.d.sync += [self.x_out.eq(self.x), self.valid_out.eq(self.valid),
                         self.first_out.eq(self.first), self.psum_valid.eq(self.valid),
                         self.psum_out.eq(Mux(self.valid, self.psum_in + prod, 0))]
            with m.If(swap):
                m.d.sync += w_active.eq(w_shadow)
            with m.If(self.pre_valid & (self.pre_row == self.row)):
                m.d.sync += w_shadow.eq(self.pre_w)
        return m


@block("mac-pe", "one MAC PE of the 2D array (integer or exact FP16)",
       describe=lambda d: f"{d.fmt.name}, {d.fmt.acc_bits}-bit accumulator")
def _build_mac_pe(a, o):
    return MacPE.for_array(a.array2d, o.fmt)
