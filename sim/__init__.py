"""The simulator: engines, the tile pipeline, results and the CLI.

sim.simulate(cascade, arch, mapping=None) is the one door; sim.run(path, arch) loads
and simulates in one call.
"""

from __future__ import annotations

from sim.result import EinsumResult, Result
from sim.simulate import ENGINES, simulate, simulate_einsum


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


__all__ = ["ENGINES", "EinsumResult", "Result", "run", "simulate", "simulate_einsum"]
