"""GPU/CPU baselines: a roofline per kernel plus a launch cost per kernel.

Each Einsum is one kernel (an eager framework launches one per operator). A kernel
takes max(FLOPs / (peak x compute efficiency), bytes / (bandwidth x memory efficiency))
plus the launch/dispatch time; its operands and result cross DRAM once (nothing of a
multi-GB model stays in cache from one token to the next).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, ClassVar

from arch import Architecture
from arch.pim import RooflineDevice
from sim.energy import Actions
from sim.registry import cascade_engine
from sim.result import EinsumResult, Result
from workloads import Cascade


@dataclass(frozen=True)
class KernelMapping:
    role: ClassVar[str] = "roofline"
    bound: str = ""

    def to_dict(self) -> dict:
        return {"role": self.role, **asdict(self)}

    def describe(self) -> str:
        return f"kernel ({self.bound}-bound)"


def kernel_seconds(flops: float, nbytes: float, dev: RooflineDevice) -> tuple[float, str]:
    compute = flops / (dev.peak_tflops * 1e12 * dev.compute_efficiency)
    memory = nbytes / (dev.mem_bandwidth_gb_s * 1e9 * dev.mem_efficiency)
    bound = "memory" if memory >= compute else "compute"
    return max(compute, memory) + dev.kernel_launch_us * 1e-6, bound


@cascade_engine("roofline_device")
def simulate_roofline(cascade: Cascade, arch: Architecture, mapping=None, objective: str = "latency",
                      progress: Callable[[int, int], None] | None = None) -> Result:
    dev = next(c for c in arch.components if isinstance(c, RooflineDevice))
    rows = []
    for i, e in enumerate(cascade.einsums):
        out_bytes = e.output.tensor.elements * dev.element_bits // 8
        in_bytes = sum(r.tensor.elements for r in e.inputs) * dev.element_bits // 8
        nbytes = in_bytes + out_bytes
        flops = 2 * e.macs if e.is_contraction else sum(e.vector_ops.values())
        sec, bound = kernel_seconds(flops, nbytes, dev)
        cycles = round(sec * arch.clock_ghz * 1e9)
        rows.append(EinsumResult(e.name, "contraction" if e.is_contraction else "vector", dev.name,
                                 cycles, cycles, e.macs, 0 if e.is_contraction else flops, {},
                                 in_bytes, out_bytes, 0, 0,
                                 Actions().power(dev, dev.power_w * 1e3, sec * 1e9, "power")
                                 .leakage(arch, cycles).pj,
                                 KernelMapping(bound=bound)))
        if progress:
            progress(i + 1, len(cascade.einsums))
    meta = {**cascade.meta, "objective": objective, "engine": "roofline"}
    return Result(cascade.name, arch.name, arch.clock_ghz, rows, {}, {}, cascade.compulsory_dram_bytes, meta)
