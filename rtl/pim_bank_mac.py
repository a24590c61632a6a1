"""The per-bank MAC unit of an AiM-style PIM DRAM bank (PIM-GPT).

Timing contract: sim/pim/bank_mac.py (module docstring): a MAC command carries one
column access (`lanes` operands) and the matching `lanes` values of the channel's
global buffer; the pipeline is column latch (col_latency register stages) -> multiply
(mult_latency) -> adder tree (one level per stage when tree_latency is the default
ceil(log2 lanes); otherwise the whole tree then tree_latency stages) -> accumulate
(acc_latency - 1 stages, then the accumulator register). It accepts a command every
cycle. The first command of an accumulation clears the accumulator. `readable` is high
once every issued command has reached the accumulator.

Numerics: the exact MAC of rtl/numerics.py. AiM computes in BF16; that format is not
supported here (an exact BF16 accumulator would need ~540 bits), so the unit is built
for int16 (default, as the sim reference computes) or FP16 with a wide accumulator.
"""

from __future__ import annotations

import math

from amaranth import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from arch import Architecture
from rtl.blocks import block
from rtl.mac import exact_product
from rtl.numerics import MacFormat, mac_format

INT16_ACC_BITS = 64  # 32-bit products + 4 tree bits + 2**28 columns before wrap


class BankMac(wiring.Component):
    def __init__(self, fmt: MacFormat, lanes: int = 16, col_latency: int = 1, mult_latency: int = 1,
                 tree_latency: int | None = None, acc_latency: int = 1):
        if acc_latency < 1:
            raise ValueError("acc_latency must be >= 1 (the accumulator register)")
        self.fmt, self.lanes = fmt, lanes
        self.col_latency, self.mult_latency, self.acc_latency = col_latency, mult_latency, acc_latency
        self.tree_levels = math.ceil(math.log2(lanes)) if lanes > 1 else 0
        self.tree_latency = self.tree_levels if tree_latency is None else tree_latency
        w = fmt.bits
        super().__init__({
            "cmd": In(1), "first": In(1),
            "column": In(data.ArrayLayout(w, lanes)), "vector": In(data.ArrayLayout(w, lanes)),
            "acc": Out(signed(fmt.acc_bits)), "readable": Out(1),
        })

    @property
    def pipeline_latency(self) -> int:
        return self.col_latency + self.mult_latency + self.tree_latency + self.acc_latency

    @classmethod
    def from_arch(cls, architecture: Architecture, fmt_name: str | None = None) -> "BankMac":
        pims = [c for c in architecture.components if c.class_name == "pim_dram"]
        if len(pims) != 1:
            raise ValueError(f"architecture '{architecture.name}' has {len(pims)} pim_dram "
                             f"components, need one; try --arch pim-gpt")
        pim = pims[0]
        name = fmt_name or "int16"
        fmt = mac_format(name, INT16_ACC_BITS if name == "int16" else None)
        return cls(fmt, pim.mac_lanes, pim.mac_col_latency, pim.mac_mult_latency, None,
                   pim.mac_acc_latency)

    def describe(self) -> str:
        return (f"{self.lanes} lanes, {self.fmt.name} ({self.fmt.acc_bits}-bit accumulator), "
                f"latency {self.col_latency}+{self.mult_latency}+{self.tree_latency}+"
                f"{self.acc_latency} = {self.pipeline_latency} cycles")

    def elaborate(self, platform):
        m = Module()
        valids = []  # every pipeline stage's valid bit (for `readable`)

        def stage(values, valid, first, name):
            regs = [Signal.like(v, name=f"{name}_{i}") for i, v in enumerate(values)]
            v, f = Signal(name=f"{name}_valid"), Signal(name=f"{name}_first")
            m.d.sync += [r.eq(x) for r, x in zip(regs, values)] + [v.eq(valid), f.eq(first)]
            valids.append(v)
            return regs, v, f

        cols, vecs = [self.column[i] for i in range(self.lanes)], [self.vector[i] for i in range(self.lanes)]
        valid, first = self.cmd, self.first
        for s in range(self.col_latency):
            latched, valid, first = stage(cols + vecs, valid, first, f"col{s}")
            cols, vecs = latched[:self.lanes], latched[self.lanes:]
        values = [exact_product(m, self.fmt, a, b) for a, b in zip(cols, vecs)]
        for s in range(self.mult_latency):
            values, valid, first = stage(values, valid, first, f"mul{s}")
        per_level = self.tree_latency == self.tree_levels
        level = 0
        while len(values) > 1:
            pairs = [values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                     for i in range(0, len(values), 2)]
            values = []
            for i, p in enumerate(pairs):
                sig = Signal(signed(self.fmt.acc_bits), name=f"tree{level}_{i}")
                m.d.comb += sig.eq(p)
                values.append(sig)
            if per_level:
                values, valid, first = stage(values, valid, first, f"tree{level}")
            level += 1
        if not per_level:
            for s in range(self.tree_latency):
                values, valid, first = stage(values, valid, first, f"treed{s}")
        for s in range(self.acc_latency - 1):
            values, valid, first = stage(values, valid, first, f"accd{s}")
        acc = Signal(signed(self.fmt.acc_bits))
        with m.If(valid):
            with m.If(first):
                m.d.sync += acc.eq(values[0])
            with m.Else():
                m.d.sync += acc.eq(acc + values[0])
        issued = Signal()
        with m.If(self.cmd):
            m.d.sync += issued.eq(1)
        busy = 0
        for v in valids + [valid]:
            busy = busy | v
        m.d.comb += [self.acc.eq(acc), self.readable.eq(issued & ~busy)]
        return m


@block("pim-bank-mac", "the per-bank MAC unit of a PIM DRAM bank",
       describe=lambda d: d.describe())
def _build_pim_bank_mac(a, o):
    return BankMac.from_arch(a, o.fmt)
