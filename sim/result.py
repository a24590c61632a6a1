"""Simulation results: per step (one Einsum, or a fused group of Einsums run as one
pipelined step) and for a whole cascade; JSON and pandas views.

Vocabulary: a *unit* is a component that computes (a 2D array, a 1D unit, PIM banks, an
ASIC), named by its component name in results; a mapping's `unit` says which of the
architecture's compute roles (array2d, array1d) an Einsum is mapped onto."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mapper import Mapping

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class EinsumResult:
    name: str
    kind: str             # 'contraction' (2D array), 'vector' (1D unit) or 'fused' (a group)
    unit: str             # the unit's component name ('A+B' for a group on two units)
    cycles: int
    compute_cycles: int   # the unit's own cycles with no buffer or DRAM stall
    macs: int
    ops: int              # vector operations (0 for contractions)
    busy: dict[str, float]  # unit -> PE-cycles (or lane-cycles) doing useful work
    dram_read_bytes: int
    dram_write_bytes: int
    glb_read_bytes: int
    glb_write_bytes: int
    energy_pj: dict[str, float]  # 'component.action' -> pJ
    mapping: Mapping

    @property
    def stall_cycles(self) -> int:
        return self.cycles - self.compute_cycles

    @property
    def energy_j(self) -> float:
        return sum(self.energy_pj.values()) * 1e-12

    def renamed(self, name: str) -> "EinsumResult":
        if name == self.name:
            return self
        # a plain copy: dataclasses.replace re-runs __init__, slow over large cascades
        out = object.__new__(EinsumResult)
        out.__dict__.update(self.__dict__, name=name)
        return out


def by_component(energy_by_action: dict[str, float]) -> dict[str, float]:
    """'component.action' -> J summed per component."""
    out: dict[str, float] = {}
    for key, j in energy_by_action.items():
        comp = key.split(".", 1)[0]
        out[comp] = out.get(comp, 0.0) + j
    return out


@dataclass
class Result:
    workload: str
    arch: str
    clock_ghz: float
    einsums: list[EinsumResult]
    area_breakdown_mm2: dict[str, float]
    unit_sizes: dict[str, int]      # component -> PEs or lanes
    compulsory_dram_bytes: int
    meta: dict = field(default_factory=dict)
    # engine internals for replays and plots (e.g. a fused group's tile stream); not serialized
    internals: dict = field(default_factory=dict, repr=False)

    @property
    def cycles(self) -> int:
        return sum(e.cycles for e in self.einsums)  # Einsums run one after another

    @property
    def seconds(self) -> float:
        return self.cycles / (self.clock_ghz * 1e9)

    @property
    def macs(self) -> int:
        return sum(e.macs for e in self.einsums)

    @property
    def dram_bytes(self) -> int:
        return sum(e.dram_read_bytes + e.dram_write_bytes for e in self.einsums)

    @property
    def energy_by_action_j(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.einsums:
            for key, pj in e.energy_pj.items():
                out[key] = out.get(key, 0.0) + pj * 1e-12
        return out

    @property
    def energy_breakdown_j(self) -> dict[str, float]:
        return by_component(self.energy_by_action_j)

    @property
    def energy_j(self) -> float:
        return sum(e.energy_j for e in self.einsums)

    @property
    def area_mm2(self) -> float:
        return sum(self.area_breakdown_mm2.values())

    @property
    def utilization(self) -> dict[str, float]:
        """Busy PE- (lane-) cycles over all PE- (lane-) cycles of the whole run."""
        out, cycles = {}, self.cycles  # a sum over the Einsums: once
        for unit, size in self.unit_sizes.items():
            busy = sum(e.busy.get(unit, 0.0) for e in self.einsums)
            out[unit] = busy / (cycles * size) if cycles else 0.0
        return out

    def to_dict(self) -> dict:
        by_action = self.energy_by_action_j
        return {
            "workload": self.workload,
            "arch": self.arch,
            "cycles": self.cycles,
            "seconds": self.seconds,
            "energy_j": self.energy_j,
            "energy_breakdown": by_component(by_action),
            "energy_by_action": by_action,
            "area_mm2": self.area_mm2,
            "area_breakdown": self.area_breakdown_mm2,
            "macs": self.macs,
            "dram_bytes": self.dram_bytes,
            "compulsory_dram_bytes": self.compulsory_dram_bytes,
            "utilization": self.utilization,
            "meta": self.meta,
            "einsums": [
                {"name": e.name, "kind": e.kind, "unit": e.unit, "cycles": e.cycles,
                 "stall_cycles": e.stall_cycles, "energy_j": e.energy_j, "macs": e.macs,
                 "ops": e.ops, "dram_bytes": e.dram_read_bytes + e.dram_write_bytes,
                 "mapping": e.mapping.to_dict()}
                for e in self.einsums
            ],
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per Einsum."""
        import pandas as pd

        return pd.DataFrame([
            {"einsum": e.name, "kind": e.kind, "unit": e.unit, "cycles": e.cycles,
             "compute_cycles": e.compute_cycles, "stall_cycles": e.stall_cycles,
             "macs": e.macs, "ops": e.ops, "dram_read_bytes": e.dram_read_bytes,
             "dram_write_bytes": e.dram_write_bytes, "energy_j": e.energy_j,
             "mapping": e.mapping.describe()}
            for e in self.einsums
        ])

    def to_row(self, energy_by_action_j: dict[str, float] | None = None) -> dict:
        """One flat row for a whole run (for sweeps); `energy_by_action_j`: that property,
        if the caller has it already (a sum over every Einsum)."""
        row = {"workload": self.workload, "arch": self.arch, "cycles": self.cycles,
               "seconds": self.seconds, "energy_j": self.energy_j, "area_mm2": self.area_mm2,
               "macs": self.macs, "dram_bytes": self.dram_bytes}
        by_action = self.energy_by_action_j if energy_by_action_j is None else energy_by_action_j
        row.update({f"energy_j.{k}": v for k, v in by_component(by_action).items()})
        row.update({f"utilization.{k}": v for k, v in self.utilization.items()})
        return row
