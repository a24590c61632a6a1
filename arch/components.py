"""Architecture components, one pydantic class each, found by their YAML `class:` name.

A new component type is one class decorated with @register("name") (here or in any
module a plug-in imports); nothing else in arch changes. Every field holding an energy
or area number must be covered by `source` (one citation for all, or a mapping
field -> citation).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import (BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, PrivateAttr,
                      model_validator)

from yamlspec import Registry
from yamlspec.limits import MAX_ARRAY_SIDE, MAX_BUFFER_BYTES, MAX_NUMBER

# The component classes defined outside this module, imported on their first lookup, so
# an architecture without them does not build their classes (tests/test_arch.py checks
# the map against what the modules register).
CORE_COMPONENTS = {"pim_dram": "arch.pim", "pim_asic": "arch.pim", "roofline_device": "arch.pim",
                   "memory": "arch.hierarchy"}
COMPONENTS: Registry[type["Component"]] = Registry("component class", "components",
                                                   CORE_COMPONENTS)


def register(class_name: str):
    """Register a Component subclass under its YAML `class:` name."""
    def wrap(cls):
        cls.class_name = class_name
        return COMPONENTS.register(class_name, cls)
    return wrap


def is_cost_field(name: str) -> bool:
    return (name.endswith(("_pj", "_um2", "_mm2")) or any(u in name for u in ("_pj_", "_mm2_", "_um2_", "_mw_"))
            or name == "leak_mw")


class Component(BaseModel):
    """Fields every component has: a name and the sources of its cost numbers."""

    # defer_build: a class builds its validator when first used, so a run pays only for
    # the classes its architecture holds, not every registered one (and the bases)
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True,
                              frozen=True)
    class_name: ClassVar[str] = ""
    name: str = Field(min_length=1)
    class_: str = Field(alias="class")
    source: str | dict[str, str] = Field(description="citation for every energy/area number")
    model: str | None = None  # a cost model of arch/costmodels.py filling the cost fields
    leak_mw: float = Field(default=0.0, ge=0)  # static power while the machine runs
    # the component as written, when a cost model filled some fields (to_dict gives it,
    # so a changed size is priced anew)
    _spec: dict | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _sources_cover_costs(self):
        if isinstance(self.source, dict):  # fields left at their default claim nothing
            cost_fields = [f for f in type(self).model_fields if is_cost_field(f)
                           and (f in self.model_fields_set or type(self).model_fields[f].is_required())]
            missing = [f for f in cost_fields if f not in self.source]
            if missing:
                raise ValueError(f"source has no citation for {missing}")
        return self

    @model_validator(mode="after")
    def _numbers_in_range(self):
        # Energies and areas below zero make negative joules; any number past MAX_NUMBER
        # is no machine's and overflows the products the engines form.
        for name in type(self).model_fields:
            value = getattr(self, name)
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for key, v in items:
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    continue
                where = f"{name}.{key}" if key is not None else name
                if abs(v) > MAX_NUMBER:
                    raise ValueError(f"{where} = {v:g} is beyond any machine (limit {MAX_NUMBER:g})")
                if v < 0 and is_cost_field(name):
                    raise ValueError(f"{where} = {v:g}: an energy or area cannot be negative")
        return self

    def area_mm2(self) -> float:
        return 0.0

    def energy_pj(self, action: str, fmt: str | None = None) -> float:
        """Energy of one action ('read_byte', 'mac', 'exp', ...) in picojoules."""
        raise KeyError(f"{self.class_name} '{self.name}' has no action '{action}'")

    def actions(self) -> dict[str, tuple[float, str]]:
        """Every action: label -> (pJ, the field that gives it), for `sim arch`."""
        return {}

    def cited(self, field: str) -> str:
        return self.source.get(field, "") if isinstance(self.source, dict) else self.source

    def to_spec(self) -> dict:
        """The component as YAML gives it (cost-model fields left for the model)."""
        if self._spec is not None:
            return dict(self._spec)
        return self.model_dump(by_alias=True, exclude_unset=True)


@register("dram")
class DRAM(Component):
    """Off-chip memory: bandwidth and energy per bit moved."""

    type: str = "HBM2"
    bandwidth_gb_s: PositiveFloat
    energy_pj_per_bit: float = Field(ge=0)

    def energy_pj(self, action, fmt=None):
        if action in ("read_byte", "write_byte"):
            return 8 * self.energy_pj_per_bit
        return super().energy_pj(action, fmt)

    def actions(self):
        return {a: (self.energy_pj(a), "energy_pj_per_bit") for a in ("read_byte", "write_byte")}


class ByteStore(Component):
    """Shared by the on-chip memories: priced per byte read and per byte written."""

    def energy_pj(self, action, fmt=None):
        if action == "read_byte":
            return self.read_pj_per_byte
        if action == "write_byte":
            return self.write_pj_per_byte
        return super().energy_pj(action, fmt)

    def actions(self):
        return {"read_byte": (self.read_pj_per_byte, "read_pj_per_byte"),
                "write_byte": (self.write_pj_per_byte, "write_pj_per_byte")}


@register("buffer")
class Buffer(ByteStore):
    """On-chip SRAM shared by the arrays: holds double-buffered tiles."""

    capacity_kib: PositiveFloat = Field(le=MAX_BUFFER_BYTES / 1024)  # 1 PiB
    read_bytes_per_cycle: PositiveInt = Field(le=MAX_BUFFER_BYTES)
    read_pj_per_byte: float = Field(ge=0)
    write_pj_per_byte: float = Field(ge=0)
    area_mm2_per_mib: float = Field(ge=0)
    # For cost models: the buffer is `macros` equal SRAMs side by side, each of `banks`
    # banks read `row_bits` at a time (default: the whole read port in one SRAM).
    row_bits: PositiveInt | None = Field(default=None, le=2**20)
    banks: PositiveInt = Field(default=1, le=2**16)
    macros: PositiveInt = Field(default=1, le=2**16)

    @property
    def capacity_bytes(self) -> int:
        return int(self.capacity_kib * 1024)

    def area_mm2(self):
        return self.area_mm2_per_mib * self.capacity_kib / 1024



class _Array(Component):
    """Shared by the arrays: supported formats with per-format energies."""

    formats: list[str] = Field(min_length=1)

    def _per_format(self, table: dict[str, float], fmt: str | None, what: str) -> float:
        if fmt in table:
            return table[fmt]
        raise KeyError(f"{self.class_name} '{self.name}' has no {what} energy for format "
                       f"'{fmt}' (it has: {', '.join(table)})")


@register("array2d")
class Array2D(_Array):
    """A rows x cols systolic array of MAC PEs (output- or weight-stationary)."""

    rows: PositiveInt = Field(le=MAX_ARRAY_SIDE)
    cols: PositiveInt = Field(le=MAX_ARRAY_SIDE)
    dataflows: list[str] = Field(default=["os", "ws", "is"], min_length=1)
    mac_pj: dict[str, float]
    pe_area_um2: PositiveFloat

    @model_validator(mode="after")
    def _check(self):
        bad = [d for d in self.dataflows if d not in ("os", "ws", "is")]
        if bad:
            raise ValueError(f"unknown dataflow(s) {bad} (known: os, ws, is)")
        missing = [f for f in self.formats if f not in self.mac_pj]
        if missing:
            raise ValueError(f"mac_pj has no entry for format(s) {missing}")
        return self

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def peak_macs_per_cycle(self) -> float:
        """MACs the whole array can retire per cycle: one per PE."""
        return float(self.pes)

    def area_mm2(self):
        return self.pes * self.pe_area_um2 * 1e-6

    def energy_pj(self, action, fmt=None):
        if action == "mac":
            return self._per_format(self.mac_pj, fmt, "MAC")
        return super().energy_pj(action, fmt)

    def actions(self):
        return {f"mac[{f}]": (self.mac_pj[f], "mac_pj") for f in self.formats}


@register("array1d")
class Array1D(_Array):
    """A row of vector lanes for element-wise and reduction Einsums.

    op_cycles: cycles one lane spends per operation (default 1; e.g. exp may take more).
    op_chains: op -> operations whose result it takes in its own cycle (a lane whose exp
    stage subtracts first: {exp: [subtract]}, so exp(a - b) costs exp's cycles only).
    """

    lanes: PositiveInt = Field(le=MAX_ARRAY_SIDE)
    op_pj: dict[str, float]
    op_cycles: dict[str, PositiveInt] = {}
    op_chains: dict[str, list[str]] = {}
    lane_area_um2: PositiveFloat
    pipeline_depth: PositiveInt = 4

    @model_validator(mode="after")
    def _check(self):
        if "default" not in self.op_pj:
            raise ValueError("op_pj needs a 'default' entry for operations not listed")
        return self

    def cycles_per(self, op: str) -> int:
        return self.op_cycles.get(op, 1)

    def expr_cycles(self, expr, consumer: str | None = None) -> int:
        """Cycles one lane spends evaluating `expr` (a workloads.ir.Expr): each operation
        its op_cycles, except one chained into the operation consuming its result."""
        if expr.op in ("ref", "const"):
            return 0
        own = 0 if expr.op in self.op_chains.get(consumer, ()) else self.cycles_per(expr.op)
        return own + sum(self.expr_cycles(a, expr.op) for a in expr.args)

    def area_mm2(self):
        return self.lanes * self.lane_area_um2 * 1e-6

    def energy_pj(self, action, fmt=None):
        return self.op_pj.get(action, self.op_pj["default"])

    def actions(self):
        return {op: (pj, "op_pj") for op, pj in self.op_pj.items()}


@register("pe_storage")
class PEStorage(Component):
    """The registers inside every PE of the arrays and the on-array network that delivers
    operands to them: energy per word read from or written to a PE's register file and
    per word delivered into a PE (from a neighbour, the other array or the buffer).
    Counted per Einsum binding by sim/pe_energy.py; its area is inside the PE areas."""

    rf_read_pj: float = Field(ge=0)
    rf_write_pj: float = Field(ge=0)
    noc_pj_per_word: float = Field(ge=0)

    def energy_pj(self, action, fmt=None):
        table = {"rf_read": self.rf_read_pj, "rf_write": self.rf_write_pj,
                 "noc": self.noc_pj_per_word}
        if action in table:
            return table[action]
        return super().energy_pj(action, fmt)

    def actions(self):
        return {"rf_read": (self.rf_read_pj, "rf_read_pj"),
                "rf_write": (self.rf_write_pj, "rf_write_pj"),
                "noc": (self.noc_pj_per_word, "noc_pj_per_word")}


@register("bitserial_array")
class BitSerialArray(Array2D):
    """rows x cols dot-product PEs whose weights enter `weight_bits_per_cycle` bits per
    cycle (BitMoD); bit-parallel when that is absent (ANT, OliVe, FP16 baselines).
    Timing: sim/bitserial.py. Weights are stored at `weight_storage_bits` per weight
    (code + scale/type overhead); `weight_code_bits` is what the datapath steps through.
    """

    lanes: PositiveInt = 1
    weight_format: str = Field(min_length=1)
    weight_code_bits: PositiveInt
    weight_storage_bits: PositiveFloat | None = None  # default: numformats.bits_per_weight
    weight_bits_per_cycle: PositiveInt | None = None
    group_size: PositiveInt = 128
    dequant_cycles: int = Field(default=0, ge=0)
    pipeline_depth: int = Field(default=0, ge=0)
    pe_pj_per_cycle: float = Field(ge=0)
    schedule_objective: Literal["latency", "energy", "edp"] = "edp"  # how tile orders are ranked
    dataflows: list[str] = Field(default=["os"], min_length=1)
    mac_pj: dict[str, float] = {}

    @model_validator(mode="before")
    @classmethod
    def _mac_pj_from_pe(cls, data):
        # Derived, never given: a MAC costs the PE's per-cycle energy over the MACs it
        # retires per cycle (recomputed on every validation, so with_changes stays true).
        if isinstance(data, dict) and "pe_pj_per_cycle" in data:
            try:
                bpc = data.get("weight_bits_per_cycle") or data.get("weight_code_bits", 1)
                cpw = -(-int(data.get("weight_code_bits", 1)) // int(bpc))
                per_mac = float(data["pe_pj_per_cycle"]) * cpw / int(data.get("lanes", 1))
                formats = [f for f in data.get("formats", []) if isinstance(f, str)]
            except (TypeError, ValueError, ZeroDivisionError, OverflowError):
                return data  # a bad field: its own validation names it
            data = {**data, "mac_pj": {f: per_mac for f in formats}}
        return data

    def energy_pj(self, action, fmt=None):
        if action == "compute":  # one PE for one cycle
            return self.pe_pj_per_cycle
        return super().energy_pj(action, fmt)

    def actions(self):
        return {"compute": (self.pe_pj_per_cycle, "pe_pj_per_cycle")}

    @property
    def cycles_per_weight(self) -> int:
        bpc = self.weight_bits_per_cycle or self.weight_code_bits
        return -(-self.weight_code_bits // bpc)

    @property
    def peak_macs_per_cycle(self) -> float:
        """Each PE retires `lanes` MACs every cycles_per_weight cycles (model weights at
        weight_code_bits; sim/bitserial.py PEConfig.peak_macs_per_cycle per PE)."""
        return self.pes * self.lanes / self.cycles_per_weight
