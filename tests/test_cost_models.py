"""Component costs from the field's models (arch/costmodels.py): CACTI buffers priced by
capacity, Aladdin integer MACs, the disk cache, leakage in every result, `sim arch`."""

import json

import pytest
import yaml
from click.testing import CliRunner

import arch
import sim
import workloads
from arch import costmodels as cm
from arch.costmodels import aladdin_int_mac, cacti_sram
from sim.cli import main

MIB = 2**20


def _buffer_arch(tmp_path, capacity_mib: int, **glb) -> str:
    data = arch.load("default").to_dict()
    comp = next(c for c in data["components"] if c["class"] == "buffer")
    comp.update(capacity_kib=capacity_mib * 1024, **glb)
    path = tmp_path / f"glb{capacity_mib}.yaml"
    path.write_text(yaml.safe_dump({"architecture": data}))
    return str(path)


def test_cacti_buffer_energy_rises_with_capacity_and_equals_hwcomponents(tmp_path):
    from hwcomponents_cacti import SRAM

    # a warm accelsim cache answers `sim arch` without running CACTI, so the direct call
    # below may be the first here: the wheel's binary needs rebuilding first on old glibc
    cm.ensure_cacti()

    read, area = {}, {}
    for mib in (1, 8, 32):
        out = CliRunner().invoke(main, ["arch", _buffer_arch(tmp_path, mib), "--json"])
        assert out.exit_code == 0, out.output
        glb = json.loads(out.output)["components"]["GLB"]
        read[mib], area[mib] = glb["actions"]["read_byte"]["energy_pj"], glb["area_mm2"]
        assert "CACTI" in glb["actions"]["read_byte"]["source"]
        assert glb["leak_mw"] > 0
        # the same SRAM asked of hwcomponents directly: 8 banks of 1024-bit rows, 45 nm
        direct = SRAM(tech_node=45e-9, width=1024, size=mib * MIB * 8, n_banks=8)
        assert read[mib] == pytest.approx(direct.read().energy * 1e12 / 128, rel=0.01)
        assert area[mib] == pytest.approx(direct.area * 1e6, rel=0.01)
    assert read[1] < read[8] < read[32]
    assert area[1] < area[8] < area[32]


def test_numbers_given_in_the_yaml_win_over_the_model(tmp_path):
    path = _buffer_arch(tmp_path, 8, read_pj_per_byte=1.0)
    data = yaml.safe_load(open(path))
    glb = next(c for c in data["architecture"]["components"] if c["class"] == "buffer")
    glb["source"]["read_pj_per_byte"] = "test: a number given by hand"
    open(path, "w").write(yaml.safe_dump(data))
    a = arch.load(path)
    assert a.buffer.read_pj_per_byte == 1.0
    assert a.buffer.cited("read_pj_per_byte") == "test: a number given by hand"
    assert a.buffer.write_pj_per_byte > 1.0 and "CACTI" in a.buffer.cited("write_pj_per_byte")


def test_a_changed_size_is_priced_anew():
    """with_changes (what sweeps use) re-runs the model: a bigger buffer costs more."""
    small = arch.load("default").with_changes(**{"GLB.capacity_kib": 1024})
    big = small.with_changes(**{"GLB.capacity_kib": 32768})
    assert big.buffer.read_pj_per_byte > small.buffer.read_pj_per_byte
    assert big.buffer.leak_mw > small.buffer.leak_mw
    assert big.area_breakdown_mm2()["GLB"] > 10 * small.area_breakdown_mm2()["GLB"]


def test_aladdin_int_mac_equals_hwcomponents():
    from hwcomponents_library import AladdinIntMAC

    a = arch.load("default").to_dict()
    pe = next(c for c in a["components"] if c["class"] == "array2d")
    pe.update(model="aladdin", mac_pj={"fp16": 1.5})  # Aladdin has no FP: fp16 stays given
    del pe["pe_area_um2"]
    modelled = arch.from_dict(a).array2d
    direct = AladdinIntMAC(tech_node=45e-9, adder_width=32, multiplier_width=8)
    assert modelled.mac_pj["int8"] == pytest.approx(direct.mac().energy * 1e12, rel=1e-9)
    assert modelled.mac_pj["fp16"] == 1.5
    assert modelled.pe_area_um2 == pytest.approx(direct.area * 1e12, rel=1e-9)
    assert modelled.leak_mw == pytest.approx(direct.leak_power * 1e3 * 128 * 128, rel=1e-9)
    assert aladdin_int_mac(8, 32, 45)["mac_pj"] < aladdin_int_mac(16, 64, 45)["mac_pj"]


def test_a_model_on_the_wrong_component_is_a_clear_error(write_yaml):
    text = (arch.spec.PRESETS_DIR / "default.yaml").read_text().replace(
        "      class: array1d\n", "      class: array1d\n      model: cacti\n")
    path = write_yaml(text)
    result = CliRunner().invoke(main, ["arch", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cost model 'cacti'" in result.output and "components[3]" in result.output
    path = write_yaml(text.replace("model: cacti", "model: nope"))
    result = CliRunner().invoke(main, ["arch", str(path)])
    assert result.exit_code == 2 and "no cost model 'nope' is registered" in result.output


def test_answers_come_from_the_disk_cache(tmp_path, monkeypatch):

    monkeypatch.setenv("ACCELSIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cm, "_memory", None)
    first = cacti_sram(2 * MIB, 1024, 2, 45)
    assert (tmp_path / "cost_models.json").is_file()
    monkeypatch.setattr(cm, "_memory", None)  # a new process: only the file remembers

    def no_cacti():
        raise AssertionError("CACTI ran although the answer was cached")

    monkeypatch.setattr(cm, "ensure_cacti", no_cacti)
    assert cacti_sram(2 * MIB, 1024, 2, 45) == first


@pytest.mark.parametrize("preset", ["default", "bitmod"])
def test_energy_is_dynamic_plus_leakage(preset):
    a = arch.load(preset)
    cascade = workloads.load("attention.yaml")
    r = sim.simulate(cascade, a)
    leak = {k: v for k, v in r.energy_by_action_j.items() if k.endswith(".leak")}
    leaky = {c.name for c in a.components if c.leak_mw > 0}
    assert leaky and {k.split(".")[0] for k in leak} == leaky
    for name in leaky:  # leak power x simulated time, component by component
        mw = next(c.leak_mw for c in a.components if c.name == name)
        assert leak[f"{name}.leak"] == pytest.approx(mw * 1e-3 * r.seconds, rel=1e-9)
    dynamic = sum(v for k, v in r.energy_by_action_j.items() if not k.endswith(".leak"))
    assert r.energy_j == pytest.approx(dynamic + sum(leak.values()), rel=1e-12)
    off = sim.simulate(cascade, a.model_copy(update={"leakage": False}))
    assert not any(k.endswith(".leak") for k in off.energy_by_action_j)
    assert off.energy_j == pytest.approx(dynamic, rel=1e-12)
    assert off.cycles == r.cycles


def test_the_fused_engines_charge_leakage_unless_the_preset_turns_it_off():
    from mapper import Fused
    from workloads import attention

    cascade = attention.one_pass(b=1, h=2, p=1024, m=1024, e=64)
    paper = arch.load("fusemax")
    assert paper.leakage is False  # the artifact's energy had none
    on = paper.model_copy(update={"leakage": True})
    r_off, r_on = (sim.simulate(cascade, a, Fused("fusemax")) for a in (paper, on))
    glb = on.buffer
    assert r_on.energy_by_action_j["GLB.leak"] == pytest.approx(
        glb.leak_mw * 1e-3 * r_on.seconds, rel=1e-9)
    assert "GLB.leak" not in r_off.energy_by_action_j and r_off.cycles == r_on.cycles


def test_sim_arch_reports_every_component_and_its_sources():
    out = CliRunner().invoke(main, ["arch", "fusemax", "--json"])
    assert out.exit_code == 0, out.output
    tables = json.loads(out.output)
    a = arch.load("fusemax")
    assert set(tables["components"]) == {c.name for c in a.components}
    for c in a.components:
        entry = tables["components"][c.name]
        assert entry["class"] == c.class_name and entry["area_mm2"] == c.area_mm2()
        for action, (pj, _field) in c.actions().items():
            assert entry["actions"][action]["energy_pj"] == pj
            assert entry["actions"][action]["source"]  # every number has a source
    text = CliRunner().invoke(main, ["arch", "fusemax"])
    assert text.exit_code == 0 and "GLB" in text.output and "CACTI" in text.output


def test_at_a_fixed_mapping_a_bigger_buffer_costs_energy_not_time():
    """The same mappings on 2, 8 and 32 MiB buffers: the same cycles, and more energy
    per inference as each byte moved costs more (before cost models it was constant)."""
    cascade = workloads.load("attention.yaml")
    base = arch.load("default")
    fixed = {e.name: e.mapping for e in sim.simulate(
        cascade, base.with_changes(**{"GLB.capacity_kib": 2048})).einsums}
    runs = [sim.simulate(cascade, base.with_changes(**{"GLB.capacity_kib": k}), fixed)
            for k in (2048, 8192, 32768)]
    assert len({r.cycles for r in runs}) == 1
    energies = [r.energy_j for r in runs]
    assert energies[0] < energies[1] < energies[2]
    assert [r.energy_breakdown_j["DRAM"] for r in runs] == [runs[0].energy_breakdown_j["DRAM"]] * 3


def _fake_cacti(folder, makefile: str):
    """A CACTI folder whose binary fails as the wheel's does on glibc 2.36."""
    folder.mkdir()
    binary = folder / "cacti"
    binary.write_text("#!/bin/sh\necho './cacti: version GLIBC_2.38 not found' >&2\nexit 1\n")
    binary.chmod(0o755)
    (folder / "makefile").write_text(makefile)
    return folder


def test_a_cacti_binary_that_does_not_run_is_rebuilt_once(tmp_path, monkeypatch, capsys):

    folder = _fake_cacti(tmp_path / "cacti", "opt:\n\tprintf '#!/bin/sh\\nexit 1\\n' > cacti"
                                             " && chmod +x cacti && echo built >> builds\n")
    monkeypatch.setattr(cm, "_cacti_folder", lambda: folder)
    cm.ensure_cacti()
    cm.ensure_cacti()  # the rebuilt binary runs: no second build
    assert (folder / "builds").read_text() == "built\n"
    assert "building it from the source" in capsys.readouterr().err


def test_a_failed_cacti_rebuild_is_one_clear_error(tmp_path, monkeypatch):
    from yamlspec import SpecError

    folder = _fake_cacti(tmp_path / "cacti", "opt:\n\techo 'g++: command not found' >&2; exit 1\n")
    monkeypatch.setattr(cm, "_cacti_folder", lambda: folder)
    with pytest.raises(SpecError, match="rebuilding it .* failed .*C\\+\\+ compiler"):
        cm.ensure_cacti()
