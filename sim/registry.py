"""sim's extension points (one mechanism: yamlspec.Registry).

- UNIT_ENGINES, keyed by a component class: times one Einsum on a unit of that class
  under a per-Einsum mapping, and may say how many DRAM bytes a cascade must move at
  least on such a unit (default: every tensor once at its format).
- CASCADE_ENGINES, keyed by a component class: an architecture holding such a component
  runs whole cascades its own way (PIM channels + ASIC, GPU/CPU roofline).
- GROUP_STRATEGIES, keyed by a group mapping's `strategy`: runs a fused group of
  Einsums (FuseMax's and FLAT's bindings of attention) as one pipelined step.

Each engine registers itself where it is defined; the registries import the core ones
(CORE_*) on their first lookup, and plug-in packages add modules to the
`accelsim.engines` entry points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from yamlspec import Registry


@dataclass(frozen=True)
class UnitEngine:
    run: Callable            # (einsum, arch, mapping) -> EinsumResult
    compulsory_dram_bytes: Callable | None = None  # (cascade, arch) -> int
    # the mapper's bounds (mapper.search.Ranked) are lower bounds on this engine's cost,
    # so the search simulates until they prove its best; otherwise the best few by bound
    bounded: bool = False
    # the engine chooses its own schedule and only records the mapping it is given, so
    # its result depends on neither the mapping nor the objective: simulate it once
    own_schedule: bool = False
    # the architecture roles (array2d, array1d, buffer, dram) the engine and its mapper
    # read, besides the clock, node and total leak power: a search is shared by every
    # architecture equal in them (a sweep over the array reuses the vector unit's
    # searches). None: the whole architecture.
    reads: tuple[str, ...] | None = None
    # it runs a GemmMapping's folds on the sub-array the mapping names (sim/array2d.py),
    # so the search also tries the sub-arrays of mapper.gemm.subarrays
    subarrays: bool = False
    # (einsum, mapping) -> the buffer bytes the mapping needs: the engine's cycles read
    # the buffer's capacity only to refuse a mapping needing more, and no cost field, so
    # a latency search at a larger buffer answers a smaller one (sim.simulate._least_cycles)
    buffer_need: Callable | None = None


# The core engines by the name each registers, imported on the first lookup of that
# name (not at `import sim`, so the CLI starts without numpy, pydantic, arch or mapper;
# nor all at once, so a run imports only the engines its architecture uses).
# tests/test_engine_registry.py checks these maps against what the modules register.
CORE_UNIT_ENGINES = {"array2d": "sim.gemm_engine", "array1d": "sim.vector_engine",
                     "bitserial_array": "sim.bitserial_engine"}
CORE_CASCADE_ENGINES = {"roofline_device": "sim.roofline", "pim_dram": "sim.pim.run",
                        "memory": "sim.hierarchy_fusion"}
CORE_GROUP_STRATEGIES = {name: "sim.fused" for name in ("fusemax", "fusemax-cascade",
                                                        "fusemax-architecture", "flat",
                                                        "softmax-rows")}
UNIT_ENGINES: Registry[UnitEngine] = Registry("unit engine for component class", "engines",
                                              CORE_UNIT_ENGINES)
CASCADE_ENGINES: Registry[Callable] = Registry("cascade engine for component class", "engines",
                                               CORE_CASCADE_ENGINES)
GROUP_STRATEGIES: Registry[Callable] = Registry("fused-group strategy", "engines",
                                                CORE_GROUP_STRATEGIES)


def unit_engine(component_class: str, compulsory_dram_bytes: Callable | None = None,
                bounded: bool = False, own_schedule: bool = False,
                reads: tuple[str, ...] | None = None, subarrays: bool = False,
                buffer_need: Callable | None = None):
    """Register the decorated run(einsum, arch, mapping) as the engine of a unit class;
    `bounded`: the mapper's lower bounds hold for it (tests/test_mapper_bounds.py);
    `own_schedule`: it ignores the mapping's schedule; `reads`, `subarrays`,
    `buffer_need`: see UnitEngine."""
    def wrap(run):
        UNIT_ENGINES.register(component_class, UnitEngine(run, compulsory_dram_bytes, bounded,
                                                          own_schedule, reads, subarrays,
                                                          buffer_need))
        return run
    return wrap


def cascade_engine(component_class: str):
    """Register run(cascade, arch, mapping, objective, progress) -> Result for
    architectures holding a component of this class."""
    return CASCADE_ENGINES.register(component_class)


def group_strategy(name: str):
    """Register run(cascade, arch, group_mapping) -> Result for fused group mappings whose
    `strategy` is `name`."""
    return GROUP_STRATEGIES.register(name)
