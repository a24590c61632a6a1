"""DRAM timing parameters: nanoseconds as specified, integer command-clock cycles as simulated."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from sim.pim.bank_mac import BankMacConfig

NS_FIELDS = ("tRCD", "tRCDWR", "tRP", "tRAS", "tRC", "tWR", "tRTP", "tCCD_S", "tCCD_L",
             "tRRD_S", "tRRD_L", "tFAW", "tWTR", "tREFI", "tRFC", "tCL", "tCWL", "tCCD_MAC")


@dataclass(frozen=True)
class TimingNs:
    """GDDR6 timing in ns (each cited in arch/presets/pim-gpt.yaml) plus the interface."""

    tRCD: float
    tRCDWR: float
    tRP: float
    tRAS: float
    tRC: float
    tWR: float
    tRTP: float
    tCCD_S: float
    tCCD_L: float
    tRRD_S: float
    tRRD_L: float
    tFAW: float
    tWTR: float
    tREFI: float
    tRFC: float
    tCL: float
    tCWL: float
    tCCD_MAC: float        # spacing of all-bank MAC commands (AiM MAC rate)
    data_rate_gbps: float  # per pin
    pins: int = 16         # x16 channel
    burst_bytes: int = 32  # BL16 x 16 pins

    @property
    def tck_ns(self) -> float:
        """Command clock: GDDR6 CK runs at data rate / 8 (16 Gb/s -> 2 GHz)."""
        return 8.0 / self.data_rate_gbps

    @property
    def burst_ns(self) -> float:
        return self.burst_bytes * 8 / (self.pins * self.data_rate_gbps)

    def cycles(self, mac: BankMacConfig | None = None, tick_ns: float | None = None) -> "TimingCycles":
        """Integer engine cycles of `tick_ns` (default: one command clock). A finer tick
        keeps ns timings from being rounded up to whole CK periods; commands still take
        one CK slot of the command bus (CMD ticks)."""
        tick = tick_ns or self.tck_ns

        def c(ns: float) -> int:
            return max(1, math.ceil(ns / tick - 1e-9))

        vals = {f: c(getattr(self, f)) for f in NS_FIELDS}
        cmd = c(self.tck_ns)
        mac = mac or BankMacConfig()
        # bank_mac counts command-clock cycles; in engine ticks that is x CMD
        return TimingCycles(tck_ns=tick, BURST=c(self.burst_ns), MAC_LAT=mac.pipeline_latency * cmd,
                            CMD=cmd, **{k[1:]: v for k, v in vals.items()})


@dataclass(frozen=True)
class TimingCycles:
    """Every constraint in command-clock cycles; what the engine and the checker enforce."""

    tck_ns: float         # ns per engine cycle (a command clock, or a finer tick)
    RCD: int
    RCDWR: int
    RP: int
    RAS: int
    RC: int
    WR: int
    RTP: int
    CCD_S: int
    CCD_L: int
    RRD_S: int
    RRD_L: int
    FAW: int
    WTR: int
    REFI: int
    RFC: int
    CL: int
    CWL: int
    CCD_MAC: int
    BURST: int
    MAC_LAT: int          # bank MAC pipeline: MAC command -> result readable (bank_mac)
    MAX_POSTPONED_REF: int = 8  # refreshes that may be postponed (JEDEC-style)
    CMD: int = 1          # engine cycles per command-bus slot (one CK)

    def window(self) -> int:
        """No constraint reaches further back than this many cycles (besides refresh)."""
        return max(getattr(self, f.name) for f in fields(self)
                   if f.name not in ("tck_ns", "REFI", "MAX_POSTPONED_REF")) + self.CL + self.BURST + 1
