"""The blocks `sim rtl` can build, each made from an Architecture (no second copy of
the parameters). A generator module registers its blocks where it defines them:

    @block("mac-pe", "one MAC PE of the 2D array", describe=lambda d: ...)
    def _build(arch, options): ...

and is named in pyproject.toml's `accelsim.rtl_blocks` entry points, so `sim rtl`
finds it on first lookup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from amaranth.lib import wiring

from yamlspec import Registry
from arch import Architecture
from arch.components import BitSerialArray


@dataclass(frozen=True)
class BlockOptions:
    dataflow: str | None = None   # array2d: os / ws / is (default: the array's first)
    fmt: str | None = None        # MAC format (default: the array's first)
    einsums: tuple = ()           # vector1d: the Einsums its lanes are programmed for
    einsum: object = None         # engine: the contraction it runs
    mapping: object = None        # engine: its GemmMapping (dataflow, tiles, loop order)
    vector: tuple = ()            # engine: the 1D-unit Einsums after it, (Einsum, VectorMapping)


@dataclass(frozen=True)
class Block:
    build: Callable[[Architecture, BlockOptions], wiring.Component]
    describe: Callable[[wiring.Component], str]
    doc: str


BLOCKS: Registry[Block] = Registry("RTL block", "rtl_blocks")


def block(name: str, doc: str, describe: Callable[[wiring.Component], str]):
    """Register the decorated build(arch, options) function as block `name`."""
    def wrap(build):
        BLOCKS.register(name, Block(build, describe, doc))
        return build
    return wrap


def bitserial_spec(a: Architecture) -> BitSerialArray:
    spec = a.array2d
    if not isinstance(spec, BitSerialArray):
        raise ValueError(f"architecture '{a.name}' has no bitserial_array component (its 2D "
                         f"array '{spec.name}' is class '{spec.class_name}'); try --arch bitmod")
    return spec
