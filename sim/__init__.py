"""The simulator: engines, the tile pipeline, results and the CLI.

sim.simulate(cascade, arch, mapping=None) is the one door; sim.run(path, arch) loads
and simulates in one call. The engines behind it register in sim.registry, which
imports them on its first lookup. The names below load on first use (PEP 562), so
`import sim.cli` stays light: numpy, pydantic, arch and mapper come with sim.simulate.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.registry import CASCADE_ENGINES, GROUP_STRATEGIES, UNIT_ENGINES
    from sim.result import EinsumResult, Result
    from sim.simulate import simulate, simulate_einsum

_WHERE = {"simulate": "sim.simulate", "simulate_einsum": "sim.simulate",
          "Result": "sim.result", "EinsumResult": "sim.result",
          "CASCADE_ENGINES": "sim.registry", "GROUP_STRATEGIES": "sim.registry",
          "UNIT_ENGINES": "sim.registry"}


def __getattr__(name: str):
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name]), name)
    else:  # a submodule, as `import sim` used to import the engines
        try:
            value = import_module(f"sim.{name}")
        except ModuleNotFoundError as exc:
            raise AttributeError(f"module 'sim' has no attribute '{name}'") from exc
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Importing the submodule sim.simulate binds it as the package's attribute
    `simulate`; the attribute stays the function, as it is documented."""

    def __setattr__(self, name, value):
        if name == "simulate" and isinstance(value, types.ModuleType):
            value = value.simulate
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def run(workload_path: str, arch: str | None = None, objective: str = "latency",
        mapping_path: str | None = None) -> "Result":
    """Load a workload YAML and an architecture (preset name or file) and simulate."""
    import arch as arch_mod
    import mapper
    import workloads
    from sim.simulate import simulate

    cascade = workloads.load(workload_path)
    architecture = arch_mod.load(arch)
    mapping = mapper.load_mappings(mapping_path) if mapping_path else None
    return simulate(cascade, architecture, mapping, objective)


__all__ = ["CASCADE_ENGINES", "GROUP_STRATEGIES", "UNIT_ENGINES", "EinsumResult", "Result", "run",
           "simulate", "simulate_einsum"]
