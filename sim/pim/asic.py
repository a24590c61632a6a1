"""The PIM-GPT ASIC: vector units for layernorm, softmax, GELU, residual and partial-sum
adds, with a buffer; time and energy of element-wise work at the ASIC's clock."""

from __future__ import annotations

import math
from dataclasses import dataclass

from yamlspec import SpecError
from arch.pim import PimAsic
from sim.energy import Actions

# Einsum operation kinds -> the ASIC unit class that runs them
ALIASES = {"subtract": "add", "sum": "add"}


@dataclass(frozen=True)
class AsicCost:
    ns: float
    energy_pj: dict[str, float]
    ops: int


def op_kind(op: str, asic: PimAsic) -> str:
    kind = ALIASES.get(op, op)
    if kind not in asic.cycles_per_element:
        raise SpecError(f"ASIC '{asic.name}' has no unit for operation '{op}' (it has: "
                        f"{', '.join(asic.cycles_per_element)})")
    return kind


def asic_cost(ops: dict[str, int], asic: PimAsic, buffer_bytes: int = 0) -> AsicCost:
    """Each op kind runs on its unit at `lanes` elements per cycle (units one after another:
    the ops of one Einsum depend on each other)."""
    cycles = 0.0
    acts = Actions()
    for op, n in ops.items():
        kind = op_kind(op, asic)
        cycles += math.ceil(n / asic.lanes) * asic.cycles_per_element[kind] + asic.latency_cycles.get(kind, 0)
        acts.add(asic, kind, n)
    ns = cycles / asic.clock_ghz
    if buffer_bytes:
        acts.add(asic, "buffer_byte", buffer_bytes, key=f"{asic.name}.buffer")
    acts.power(asic, asic.static_mw, ns)
    return AsicCost(ns, acts.pj, sum(ops.values()))
