"""GPU/CPU baselines as an eager framework runs them: a roofline per kernel plus a
dispatch cost per operator.

Each Einsum's work takes max(FLOPs / (peak x compute efficiency), bytes / (bandwidth x
memory efficiency)); its operands and result cross DRAM once (nothing of a multi-GB
model stays in cache from one token to the next). On top, every operator the framework
runs pays the launch/dispatch cost: one per Einsum, or, when the device gives the
framework's operator counts (`framework_ops_per_layer`, counted with torch.profiler by
benchmarks/measure_cpu_gpt2.py), that many per layer plus those outside the layers,
spread evenly over the Einsums. A framework that grows its KV cache by concatenation
(`kv_cache_concat`) also reads and writes the whole cache once per token.
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


def kernel_seconds(flops: float, nbytes: float, dev: RooflineDevice,
                   launch_s: float | None = None) -> tuple[float, str]:
    compute = flops / (dev.peak_tflops * 1e12 * dev.compute_efficiency)
    memory = nbytes / (dev.mem_bandwidth_gb_s * 1e9 * dev.mem_efficiency)
    bound = "memory" if memory >= compute else "compute"
    launch = dev.kernel_launch_us * 1e-6 if launch_s is None else launch_s
    return max(compute, memory) + launch, bound


def kv_cache_names(cascade: Cascade) -> frozenset[str]:
    """The KV-cache tensors of a decode cascade: stored inputs read with the rank m (the
    cached sequence; the transformer builder's letter, as mapper.pim reads it)."""
    stored = {t.name for t in cascade.inputs}
    return frozenset(r.tensor.name for e in cascade.einsums for r in e.inputs
                     if r.tensor.name in stored and "m" in r.ranks)


@cascade_engine("roofline_device")
def simulate_roofline(cascade: Cascade, arch: Architecture, mapping=None, objective: str = "latency",
                      progress: Callable[[int, int], None] | None = None) -> Result:
    dev = next(c for c in arch.components if isinstance(c, RooflineDevice))
    rows = []
    einsums = cascade.einsums
    launch_s = dev.kernel_launch_us * 1e-6
    if dev.framework_ops_per_layer is not None and einsums:
        ops = dev.framework_ops_per_layer * cascade.meta.get("layers", 1) + dev.framework_ops_outside_layers
        launch_s *= ops / len(einsums)
    kv = kv_cache_names(cascade) if dev.kv_cache_concat else frozenset()
    for i, e in enumerate(einsums):
        out_bytes = e.output.tensor.elements * dev.element_bits // 8
        in_bytes = sum(r.tensor.elements for r in e.inputs) * dev.element_bits // 8
        # torch.cat(cache, new): the cache is read once more and written once
        copy_bytes = 2 * sum(r.tensor.elements for r in e.inputs if r.tensor.name in kv) * dev.element_bits // 8
        nbytes = in_bytes + out_bytes + copy_bytes
        flops = 2 * e.macs if e.is_contraction else sum(e.vector_ops.values())
        sec, bound = kernel_seconds(flops, nbytes, dev, launch_s)
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
