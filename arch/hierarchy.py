"""`memory`: one on-chip level of a memory hierarchy (DRAM -> any number of memories ->
the 2D array), for architectures that need more than the one global buffer.

An architecture holding a `memory` component is a hierarchy: its `memory` components,
in the order listed, are the levels from DRAM down to the array, and sim/hierarchy.py
runs it. `instances` copies a level, with everything below it, per copy of the level
above (spatial fan-out: four local buffers each feeding its own array). A level keeps
the operands in `keep`, may keep those in `may_keep` (the mapper decides), and the
others pass through it (bypass). Operands are named by their role in a contraction:
`input` (the first operand), `weight` (the second) and `output`.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from arch.components import ByteStore, Component, register
from arch.costmodels import CACTI_PACKAGES, Costs, cacti_sram, cost_model, versions_text
from yamlspec.limits import MAX_BUFFER_BYTES

Role = Literal["input", "weight", "output"]
ROLES: tuple[str, ...] = ("input", "weight", "output")


@register("memory")
class Memory(ByteStore):
    """A memory level: capacity and ports per copy; energies per byte; no field for
    unlimited (an omitted capacity or bandwidth is unbounded)."""

    standalone: ClassVar[bool] = True  # a hierarchy needs no `buffer` component
    capacity_kib: PositiveFloat | None = Field(default=None, le=MAX_BUFFER_BYTES / 1024)
    # bytes per cycle of each copy's read and write ports (fractional allowed)
    read_bytes_per_cycle: PositiveFloat | None = None
    write_bytes_per_cycle: PositiveFloat | None = None
    shared_port: bool = False  # reads and writes share the read port's bandwidth
    # room for two tiles of each kept operand (one in use, the next filling); false: one,
    # with transfers still overlapping compute, as AccelForge and Timeloop count
    double_buffered: bool = True
    # for `model: cacti-memory`: each copy one SRAM of `banks` banks read `row_bits` at a time
    row_bits: PositiveInt = Field(default=64, le=2**20)
    banks: PositiveInt = Field(default=1, le=2**16)
    read_pj_per_byte: float = Field(ge=0)
    write_pj_per_byte: float = Field(ge=0)
    area_mm2_each: float = Field(default=0.0, ge=0)
    instances: PositiveInt = Field(default=1, le=2**20)
    keep: list[Role] = []
    may_keep: list[Role] = list(ROLES)
    # the top level: fused blocks of Einsums may hold their intermediates here (the mapper
    # decides, sim/hierarchy_fusion.py); false: every Einsum reads and writes DRAM
    fuse: bool = True

    @model_validator(mode="after")
    def _keep_allowed(self):
        extra = [r for r in self.keep if r not in self.may_keep]
        if extra:
            raise ValueError(f"keep names {extra}, which may_keep does not allow")
        return self

    @property
    def capacity_bytes(self) -> float:
        return float("inf") if self.capacity_kib is None else self.capacity_kib * 1024

    def area_mm2(self):
        return self.area_mm2_each * self.instances


def without_fusion(arch):
    """`arch` with every memory level's `fuse` off: each Einsum reads and writes DRAM."""
    return arch.model_copy(update={"components": [
        c.model_copy(update={"fuse": False}) if isinstance(c, Memory) else c
        for c in arch.components]})


@cost_model("cacti-memory")
def cacti_memory(c: Component, technology_nm: float) -> Costs:
    """A `memory` level: each copy one SRAM (CACTI via hwcomponents-cacti, as `cacti` prices
    a buffer); its leak power counts the level's `instances` copies."""
    if c.class_name != "memory" or c.capacity_kib is None:
        raise ValueError("cacti-memory prices a `memory` level with a capacity_kib")
    sram = cacti_sram(int(c.capacity_bytes), c.row_bits, c.banks, technology_nm)
    return Costs({"read_pj_per_byte": sram["read_pj_per_byte"],
                  "write_pj_per_byte": sram["write_pj_per_byte"],
                  "area_mm2_each": sram["area_mm2"], "leak_mw": sram["leak_mw"] * c.instances},
                 f"CACTI via hwcomponents-cacti: SRAM {c.capacity_kib:g} KiB, {c.row_bits}-bit "
                 f"rows, {c.banks} bank(s), {technology_nm:g} nm ({versions_text(CACTI_PACKAGES)})")
