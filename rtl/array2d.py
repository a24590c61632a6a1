"""A rows x cols systolic array of MAC PEs, output- or weight-stationary.

The microarchitecture is the one sim/array2d.py times and sim/array2d_reference.py
steps (see their docstrings); this is its hardware. Per step (a cycle with `en` high):

- os: the feeder presents one stream vector (r row operands `a_in`, c column operands
  `b_in`, flags valid/first/last of the fold's reduction). Skew registers delay row i
  by i steps and column j by j steps; a and its flags move right a PE per step, b moves
  down, so PE(i,j) does its k-th MAC at step S + k + i + j. A finished sum waits one
  step in the PE's result register; column j's output port is the OR of its PEs'
  result registers (the schedule lets at most one be valid per step).
- ws (and is: the same machine with the operands exchanged): the feeder presents a
  streamed vector `x_in` (flags valid/first) and/or a preload row `pre_w` addressed to
  row `pre_row`; the preload bus of column j is delayed j steps and loads the shadow
  weights of that row; a fold's first vector swaps shadow into active weights as it
  passes. Partial sums move down a row per step and leave the bottom the next step.

`en` low stalls the whole array (the buffer port has not delivered the step's
vector); output ports only emit on steps. When a fold's vectors are presented (its
start step) is the feeder's job: rtl/cosim.py drives the schedule of sim/array2d.py.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from arch import Array2D
from rtl.blocks import block
from rtl.mac import MacPE, WsCell
from rtl.numerics import MacFormat, mac_format


def _delayed(m: Module, en, value, steps: int, name: str):
    """value delayed by `steps` array steps (registers advance only when en)."""
    for k in range(steps):
        reg = Signal.like(value, name=f"{name}_d{k + 1}")
        with m.If(en):
            m.d.sync += reg.eq(value)
        value = reg
    return value


class SystolicArray(wiring.Component):
    def __init__(self, rows: int, cols: int, fmt: MacFormat, dataflow: str = "os"):
        if dataflow not in ("os", "ws", "is"):
            raise ValueError(f"unknown dataflow '{dataflow}' (known: os, ws, is)")
        self.rows, self.cols, self.fmt = rows, cols, fmt
        self.dataflow = "ws" if dataflow == "is" else dataflow
        w, acc = unsigned(fmt.bits), signed(fmt.acc_bits)
        ports = {"en": In(1), "valid": In(1), "first": In(1),
                 "out": Out(data.ArrayLayout(acc, cols)),
                 "out_valid": Out(data.ArrayLayout(1, cols))}
        if self.dataflow == "os":
            ports |= {"a_in": In(data.ArrayLayout(w, rows)), "b_in": In(data.ArrayLayout(w, cols)),
                      "last": In(1)}
        else:
            self.row_bits = max(1, (rows - 1).bit_length())
            ports |= {"x_in": In(data.ArrayLayout(w, rows)), "pre_w": In(data.ArrayLayout(w, cols)),
                      "pre_valid": In(1), "pre_row": In(self.row_bits)}
        super().__init__(ports)

    @classmethod
    def from_arch(cls, array: Array2D, dataflow: str | None = None, fmt_name: str | None = None,
                  acc_bits: int | None = None) -> "SystolicArray":
        """The array an arch Array2D describes (its rows, cols, a dataflow and format)."""
        dataflow = dataflow or array.dataflows[0]
        if dataflow not in array.dataflows:
            raise ValueError(f"array '{array.name}' has no dataflow '{dataflow}' "
                             f"(it has: {', '.join(array.dataflows)})")
        fmt_name = fmt_name or array.formats[0]
        if fmt_name not in array.formats:
            raise ValueError(f"array '{array.name}' has no format '{fmt_name}' "
                             f"(it has: {', '.join(array.formats)})")
        return cls(array.rows, array.cols, mac_format(fmt_name, acc_bits), dataflow)

    def elaborate(self, platform):
        return self._os() if self.dataflow == "os" else self._ws()

    def _os(self):
        m = Module()
        R, C = self.rows, self.cols
        pes = [[MacPE(self.fmt) for _ in range(C)] for _ in range(R)]
        for i in range(R):
            for j in range(C):
                pe = pes[i][j]
                m.submodules[f"pe_{i}_{j}"] = pe
                m.d.comb += pe.en.eq(self.en)
                if j == 0:
                    m.d.comb += [
                        pe.a.eq(_delayed(m, self.en, self.a_in[i], i, f"a{i}")),
                        pe.valid.eq(_delayed(m, self.en, self.valid, i, f"v{i}")),
                        pe.first.eq(_delayed(m, self.en, self.first, i, f"f{i}")),
                        pe.last.eq(_delayed(m, self.en, self.last, i, f"l{i}"))]
                else:
                    left = pes[i][j - 1]
                    m.d.comb += [pe.a.eq(left.a_out), pe.valid.eq(left.valid_out),
                                 pe.first.eq(left.first_out), pe.last.eq(left.last_out)]
                if i == 0:
                    m.d.comb += pe.b.eq(_delayed(m, self.en, self.b_in[j], j, f"b{j}"))
                else:
                    m.d.comb += pe.b.eq(pes[i - 1][j].b_out)
        for j in range(C):
            port, any_valid = 0, 0
            for i in range(R):
                pe = pes[i][j]
                port = port | (pe.result & pe.result_valid.replicate(self.fmt.acc_bits))
                any_valid = any_valid | pe.result_valid
            m.d.comb += [self.out[j].eq(port), self.out_valid[j].eq(self.en & any_valid)]
        return m

    def _ws(self):
        m = Module()
        R, C = self.rows, self.cols
        cells = [[WsCell(self.fmt, i, self.row_bits) for _ in range(C)] for i in range(R)]
        pre = []
        for j in range(C):
            pre.append((_delayed(m, self.en, self.pre_w[j], j, f"pw{j}"),
                        _delayed(m, self.en, self.pre_valid, j, f"pv{j}"),
                        _delayed(m, self.en, self.pre_row, j, f"pr{j}")))
        for i in range(R):
            for j in range(C):
                cell = cells[i][j]
                m.submodules[f"pe_{i}_{j}"] = cell
                pw, pv, pr = pre[j]
                m.d.comb += [cell.en.eq(self.en), cell.pre_w.eq(pw), cell.pre_valid.eq(pv),
                             cell.pre_row.eq(pr)]
                if j == 0:
                    m.d.comb += [
                        cell.x.eq(_delayed(m, self.en, self.x_in[i], i, f"x{i}")),
                        cell.valid.eq(_delayed(m, self.en, self.valid, i, f"v{i}")),
                        cell.first.eq(_delayed(m, self.en, self.first, i, f"f{i}"))]
                else:
                    left = cells[i][j - 1]
                    m.d.comb += [cell.x.eq(left.x_out), cell.valid.eq(left.valid_out),
                                 cell.first.eq(left.first_out)]
                m.d.comb += cell.psum_in.eq(cells[i - 1][j].psum_out if i else 0)
        for j in range(C):
            bottom = cells[R - 1][j]
            m.d.comb += [self.out[j].eq(bottom.psum_out),
                         self.out_valid[j].eq(self.en & bottom.psum_valid)]
        return m


@block("array2d", "the systolic array (os / ws / is)",
       describe=lambda d: f"{d.rows}x{d.cols} {d.dataflow}, {d.fmt.name}, "
                          f"{d.fmt.acc_bits}-bit accumulators")
def _build_array2d(a, o):
    return SystolicArray.from_arch(a.array2d, o.dataflow, o.fmt)
