"""The simulator: engines, the tile pipeline, results and the CLI.

sim.simulate(cascade, arch, mapping=None) is the one door; sim.run(path, arch) loads
and simulates in one call. The engines behind it register in sim.registry on import.
"""

from __future__ import annotations

from sim import bitserial_engine, fused, gemm_engine, roofline, vector_engine  # noqa: F401
from sim.pim import run as _pim_run  # noqa: F401
from sim.registry import CASCADE_ENGINES, GROUP_STRATEGIES, UNIT_ENGINES
from sim.result import EinsumResult, Result
from sim.simulate import simulate, simulate_einsum


def run(workload_path: str, arch: str | None = None, objective: str = "latency",
        mapping_path: str | None = None) -> Result:
    """Load a workload YAML and an architecture (preset name or file) and simulate."""
    import arch as arch_mod
    import mapper
    import workloads

    cascade = workloads.load(workload_path)
    architecture = arch_mod.load(arch)
    mapping = mapper.load_mappings(mapping_path) if mapping_path else None
    return simulate(cascade, architecture, mapping, objective)


__all__ = ["CASCADE_ENGINES", "GROUP_STRATEGIES", "UNIT_ENGINES", "EinsumResult", "Result", "run",
           "simulate", "simulate_einsum"]
