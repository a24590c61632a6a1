"""The architecture schema, its registry and its errors."""

import pytest

import arch
from arch.components import COMPONENTS
from conftest import REPO
from yamlspec import SpecError

DEFAULT = (REPO / "arch" / "presets" / "default.yaml").read_text()


def test_default_preset_loads_with_sources():
    a = arch.load()
    assert a.name == "default" and a.array2d.pes == 128 * 128
    assert a.area_breakdown_mm2()["PE2D"] == pytest.approx(128 * 128 * 3000e-6)
    for comp in a.components:
        assert comp.source, comp.name


def test_registry_is_keyed_by_class_name():
    assert {"dram", "buffer", "array2d", "array1d"} <= set(COMPONENTS.names())


def test_unknown_class(expect_spec_error):
    expect_spec_error(arch.load, DEFAULT.replace("class: array1d", "class: tensorcore"),
                  "architecture.components[3].class", "no component class 'tensorcore' is registered")


@pytest.mark.parametrize("value", [0, -128])
def test_non_positive_size(expect_spec_error, value):
    expect_spec_error(arch.load, DEFAULT.replace("rows: 128", f"rows: {value}"),
                  "architecture.components[2].rows", "greater than 0")


def test_unknown_key(expect_spec_error):
    expect_spec_error(arch.load, DEFAULT.replace("rows: 128", "rows: 128\n      rowz: 4"),
                  "architecture.components[2].rowz")


def test_missing_source_for_a_cost(expect_spec_error):
    text = DEFAULT.replace(
        '        lane_area_um2: "Horowitz, ISSCC 2014, Fig. 1.1.9 (16-bit FP mult 1640 um^2, add 1360 um^2)"\n',
        "")
    expect_spec_error(arch.load, text, "source has no citation for ['lane_area_um2']")


def test_malformed_yaml(expect_spec_error):
    expect_spec_error(arch.load, "architecture:\n  name: [x\n", "malformed YAML")


def test_unknown_preset():
    with pytest.raises(SpecError, match="no preset named 'tpu9'"):
        arch.load("tpu9")


def test_with_changes_revalidates():
    a = arch.load()
    assert a.with_changes(**{"PE2D.rows": 64}).array2d.rows == 64
    with pytest.raises(SpecError, match="greater than 0"):
        a.with_changes(**{"PE2D.rows": -1})


def test_core_components_map_names_what_its_modules_register():
    from arch.components import CORE_COMPONENTS

    registered = {name: cls.__module__ for name, cls in COMPONENTS.items()
                  if cls.__module__ in set(CORE_COMPONENTS.values())}
    assert registered == CORE_COMPONENTS


def test_a_preset_without_pim_or_memory_levels_imports_neither():
    import subprocess
    import sys

    code = ("import sys, arch; arch.load('default'); "
            "print(sorted(m for m in ('arch.pim', 'arch.hierarchy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]


def test_roles_follow_a_copy_given_other_components():
    """Role lookups are remembered per architecture; a copy with new components (as
    arch/hierarchy.py makes) must find its own, not the original's."""
    a = arch.load()
    assert a.buffer.name == "GLB"
    b = a.model_copy(update={"components": [c.model_copy(update={"name": c.name + "2"})
                                            for c in a.components]})
    assert (b.buffer.name, b.array2d.name) == ("GLB2", "PE2D2")
    assert a.buffer.name == "GLB"
