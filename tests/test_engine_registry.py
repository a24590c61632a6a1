"""The engine registries' core maps name every engine the core modules register, with
the module that registers it, so a lookup imports only that module."""

import subprocess
import sys

from sim.registry import (CASCADE_ENGINES, CORE_CASCADE_ENGINES, CORE_GROUP_STRATEGIES,
                          CORE_UNIT_ENGINES, GROUP_STRATEGIES, UNIT_ENGINES)


def _module(item) -> str:
    return getattr(item, "run", item).__module__


def test_core_maps_equal_what_the_core_modules_register():
    for registry, core in ((UNIT_ENGINES, CORE_UNIT_ENGINES),
                           (CASCADE_ENGINES, CORE_CASCADE_ENGINES),
                           (GROUP_STRATEGIES, CORE_GROUP_STRATEGIES)):
        registered = {name: _module(item) for name, item in registry.items()
                      if _module(item) in set(core.values())}
        assert registered == core


def test_a_lookup_imports_only_its_engine():
    code = ("import sys; from sim.registry import UNIT_ENGINES, CASCADE_ENGINES; "
            "UNIT_ENGINES.get('array1d'); assert 'array2d' not in CASCADE_ENGINES; "
            "print(sorted(m for m in ('sim.gemm_engine', 'sim.vector_engine', "
            "'sim.bitserial_engine', 'sim.roofline', 'sim.fused', 'sim.pim.run') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['sim.vector_engine']"]
