"""Components of processing-in-memory architectures and of roofline baseline devices.

`pim_dram`: GDDR6 channels with a MAC unit per bank (AiM-style); `pim_asic`: the
PIM-GPT ASIC (non-linear units, adders, buffers); `roofline_device`: a GPU or CPU
modelled by peak compute, memory bandwidth, efficiencies and kernel-launch cost.
An architecture holding one of these is `standalone`: it needs no 2D/1D array.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import (Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt,
                      field_validator, model_validator)

from arch.components import Component, register

GDDR6_TIMING_KEYS = ("tRCD", "tRCDWR", "tRP", "tRAS", "tRC", "tWR", "tRTP", "tCCD_S", "tCCD_L",
                     "tRRD_S", "tRRD_L", "tFAW", "tWTR", "tREFI", "tRFC", "tCL", "tCWL", "tCCD_MAC")


@register("pim_dram")
class PimDram(Component):
    """Channels of AiM-style GDDR6: banks, rows, a MAC unit per bank, a global buffer."""

    standalone: ClassVar[bool] = True
    # Counts far past real parts (GDDR6: 16 banks, 16 pins, 2 KiB rows) bound the engine,
    # which steps every command of every bank of every channel.
    channels: PositiveInt = Field(le=4096)
    banks: PositiveInt = Field(16, le=4096)
    bank_groups: PositiveInt = Field(4, le=4096)
    row_bytes: PositiveInt = Field(2048, le=2**20)
    data_rate_gbps: PositiveFloat
    pins: PositiveInt = Field(16, le=4096)
    global_buffer_bytes: PositiveInt = Field(2048, le=2**30)
    mac_lanes: PositiveInt = Field(16, le=2**16)
    mac_col_latency: int = Field(1, ge=0, le=10**6)
    mac_mult_latency: int = Field(1, ge=0, le=10**6)
    mac_acc_latency: int = Field(1, ge=1, le=10**6)
    timing_ns: dict[str, float]
    # simulation time step (default: one CK); above 1 ps, so a timing is not 10^9 steps
    engine_tick_ns: PositiveFloat | None = Field(None, ge=1e-3)
    act_pj: float = Field(ge=0)             # one bank: activate + precharge of a row
    column_pj: float = Field(ge=0)          # one bank: 32 B column read to the bank's MAC unit
    mac_pj: float = Field(ge=0)             # one 16-bit multiply-accumulate
    io_pj_per_bit: float = Field(ge=0)      # bits crossing the channel interface
    refresh_pj: float = Field(ge=0)         # one all-bank refresh of a channel
    background_mw_per_channel: float = Field(ge=0)   # precharged standby (all banks closed)
    # Optional finer split (CENT's AiM model, arch/costmodels.py `cent-aim`); when absent
    # the column read/write and the standby fall back to column_pj and the background.
    read_pj: float | None = Field(None, ge=0)        # one ordinary 32 B column read (RD, RDMAC)
    write_pj: float | None = Field(None, ge=0)       # one 32 B column write (WR)
    active_standby_mw_per_channel: float | None = Field(None, ge=0)  # a row open in some bank
    command_pj: float = Field(0.0, ge=0)             # controller: any command on the bus
    transfer_pj: float = Field(0.0, ge=0)            # controller: a column/MAC transaction

    @field_validator("timing_ns")
    @classmethod
    def _all_timings(cls, v: dict[str, float]) -> dict[str, float]:
        missing = [k for k in GDDR6_TIMING_KEYS if k not in v]
        unknown = [k for k in v if k not in GDDR6_TIMING_KEYS]
        if missing or unknown:
            raise ValueError(f"timing_ns needs exactly {', '.join(GDDR6_TIMING_KEYS)}; "
                             f"missing {missing}, unknown {unknown}")
        if any(x <= 0 for x in v.values()):
            raise ValueError("every timing_ns value must be > 0 (ns)")
        # Refresh comes every tREFI: a longer timing would leave the channel refreshing
        # for ever; real tREFI is a few microseconds.
        if v["tREFI"] > 1e6:
            raise ValueError(f"timing_ns.tREFI = {v['tREFI']:g} ns is over 1 ms; DRAM refreshes "
                             f"every few microseconds")
        longer = [k for k, x in v.items() if k != "tREFI" and x >= v["tREFI"]]
        if longer:
            raise ValueError(f"timing_ns {longer} must be shorter than tREFI ({v['tREFI']:g} ns)")
        return v

    @model_validator(mode="after")
    def _groups_divide_banks(self):
        if self.banks % self.bank_groups:
            raise ValueError(f"banks ({self.banks}) must be a multiple of bank_groups "
                             f"({self.bank_groups})")
        return self

    def energy_pj(self, action, fmt=None):
        table = {"act": self.act_pj, "column": self.column_pj, "mac": self.mac_pj,
                 "io_bit": self.io_pj_per_bit, "refresh": self.refresh_pj,
                 "read": self.column_pj if self.read_pj is None else self.read_pj,
                 "write": self.column_pj if self.write_pj is None else self.write_pj,
                 "command": self.command_pj, "transfer": self.transfer_pj}
        if action in table:
            return table[action]
        return super().energy_pj(action, fmt)


@register("pim_asic")
class PimAsic(Component):
    """The ASIC beside the PIM channels: vector units for the non-linear ops, adders, buffers."""

    standalone: ClassVar[bool] = True
    clock_ghz: PositiveFloat
    technology_nm: PositiveInt
    lanes: PositiveInt = Field(le=2**20)    # elements per cycle of each vector unit
    cycles_per_element: dict[str, NonNegativeFloat]  # op -> issue cycles per element per lane
    latency_cycles: dict[str, NonNegativeInt] = {}   # op -> pipeline depth, paid once per Einsum
    op_pj: dict[str, float]                 # op -> energy per element
    buffer_kib: PositiveFloat
    static_mw: float = Field(0.0, ge=0)     # leak power of the units and buffer
    area_mm2_total: float = Field(ge=0)
    # work on a GEMV's results as the channels read them out, while the channels go on
    # (sim/pim/run.py Timeline); false: the ASIC and the channels take turns
    overlap: bool = True

    @model_validator(mode="after")
    def _every_unit_has_an_energy(self):
        missing = [op for op in self.cycles_per_element if op not in self.op_pj]
        if missing and not (self.model and not self.op_pj):  # a cost model fills op_pj
            raise ValueError(f"op_pj has no energy for the unit(s) {missing} of "
                             f"cycles_per_element")
        return self

    def area_mm2(self) -> float:
        return self.area_mm2_total

    def energy_pj(self, action, fmt=None):
        if action in self.op_pj:
            return self.op_pj[action]
        if action == "buffer_byte":  # a preset without buffer energy charges none
            return 0.0
        return super().energy_pj(action, fmt)


@register("roofline_device")
class RooflineDevice(Component):
    """A GPU or CPU: time = sum over kernels of max(compute, memory) plus launch overhead."""

    standalone: ClassVar[bool] = True
    kind: str                                # gpu | cpu
    peak_tflops: PositiveFloat               # at the workload's format
    mem_bandwidth_gb_s: PositiveFloat
    mem_efficiency: float = Field(gt=0, le=1)    # achievable fraction of peak bandwidth (GEMV)
    compute_efficiency: float = Field(gt=0, le=1)
    kernel_launch_us: float = Field(ge=0)        # per operator: launch + framework dispatch
    element_bits: PositiveInt = 16               # operand width the device computes in
    power_w: PositiveFloat                       # board/package power while generating
    # The operators an eager framework runs for one decode step (views, splits, KV-cache
    # concatenation, the GELU's pieces ...), each paying kernel_launch_us; unset: one
    # operator per Einsum of the cascade.
    framework_ops_per_layer: NonNegativeFloat | None = None
    framework_ops_outside_layers: NonNegativeFloat = 0.0
    # the framework appends this token's K and V by concatenation (Hugging Face's
    # DynamicCache: torch.cat), reading and writing the whole cache once per token
    kv_cache_concat: bool = False
