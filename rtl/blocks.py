"""The blocks `sim rtl` can build, each made from an Architecture (no second copy of
the parameters): name -> how to build it and a one-line description of its config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from amaranth.lib import wiring

from arch import Architecture
from arch.components import BitSerialArray


@dataclass(frozen=True)
class BlockOptions:
    dataflow: str | None = None   # array2d: os / ws / is (default: the array's first)
    fmt: str | None = None        # MAC format (default: the array's first)
    einsums: tuple = ()           # vector1d: the Einsums its lanes are programmed for


@dataclass(frozen=True)
class Block:
    build: Callable[[Architecture, BlockOptions], wiring.Component]
    describe: Callable[[wiring.Component], str]
    doc: str


def _mac_pe(a: Architecture, o: BlockOptions):
    from rtl.mac import MacPE
    return MacPE.for_array(a.array2d, o.fmt)


def _array2d(a: Architecture, o: BlockOptions):
    from rtl.array2d import SystolicArray
    return SystolicArray.from_arch(a.array2d, o.dataflow, o.fmt)


def _bitserial_spec(a: Architecture) -> BitSerialArray:
    spec = a.array2d
    if not isinstance(spec, BitSerialArray):
        raise ValueError(f"architecture '{a.name}' has no bitserial_array component (its 2D "
                         f"array '{spec.name}' is class '{spec.class_name}'); try --arch bitmod")
    return spec


def _bitserial_pe(a: Architecture, o: BlockOptions):
    from rtl.bitserial import BitSerialPEArray
    return BitSerialPEArray.from_arch(_bitserial_spec(a), rows=1, cols=1)


def _bitserial_array(a: Architecture, o: BlockOptions):
    from rtl.bitserial import BitSerialPEArray
    return BitSerialPEArray.from_arch(_bitserial_spec(a))


def _vector1d(a: Architecture, o: BlockOptions):
    from rtl.vector1d import SoftmaxLanes
    if not o.einsums:
        raise ValueError("the 1D unit needs the Einsums to program its lanes for")
    return SoftmaxLanes.from_arch(a.array1d, list(o.einsums))


def _pim_bank_mac(a: Architecture, o: BlockOptions):
    from rtl.pim_bank_mac import BankMac
    return BankMac.from_arch(a, o.fmt)


def _bs_describe(d) -> str:
    return (f"{d.rows}x{d.cols} PEs, {d.lanes} lanes, {d.code_bits}-bit weight codes at "
            f"{d.bits_per_cycle} bit(s)/cycle, groups of {d.group_size}, "
            f"{d.dequant_cycles}-cycle dequantizer, depth {d.pipeline_depth}")


BLOCKS: dict[str, Block] = {
    "mac-pe": Block(_mac_pe, lambda d: f"{d.fmt.name}, {d.fmt.acc_bits}-bit accumulator",
                    "one MAC PE of the 2D array (integer or exact FP16)"),
    "array2d": Block(_array2d, lambda d: f"{d.rows}x{d.cols} {d.dataflow}, {d.fmt.name}, "
                     f"{d.fmt.acc_bits}-bit accumulators", "the systolic array (os / ws / is)"),
    "bitserial-pe": Block(_bitserial_pe, _bs_describe, "one BitMoD bit-serial PE"),
    "bitserial-array": Block(_bitserial_array, _bs_describe, "a lockstep array of BitMoD PEs"),
    "vector1d": Block(_vector1d, lambda d: d.describe(),
                      "the 1D unit's lanes for FuseMax's online-softmax Einsums"),
    "pim-bank-mac": Block(_pim_bank_mac, lambda d: d.describe(),
                          "the per-bank MAC unit of a PIM DRAM bank"),
}
