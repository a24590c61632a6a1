"""`sim run --arch pim-gpt` works like any other run; bad PIM YAML gives a SpecError."""

import json

import pytest
import yaml
from click.testing import CliRunner

import arch
from sim.cli import main
from yamlspec import SpecError

TINY = {"model": {"name": "tiny", "layers": 1, "d_model": 64, "heads": 4, "d_ff": 256, "vocab": 300,
                  "source": "test"},
        "phase": {"kind": "decode", "kv_len": 20, "tokens": 1}, "batch": 1, "format": "fp16"}


@pytest.mark.parametrize("preset", ["pim-gpt", "aim", "gpu-t4", "cpu-xeon", "cpu-local"])
def test_sim_run_pim_and_baselines(tmp_path, preset):
    w = tmp_path / "tiny.yaml"
    w.write_text(yaml.safe_dump(TINY))
    res = CliRunner().invoke(main, ["run", str(w), "--arch", preset, "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output[res.output.index("{"):])
    assert d["seconds"] > 0 and d["energy_j"] > 0 and d["macs"] > 0


def test_bad_pim_timing_is_a_spec_error(tmp_path):
    data = yaml.safe_load(open(arch.spec.PRESETS_DIR / "pim-gpt.yaml"))
    del data["architecture"]["components"][0]["timing_ns"]["tRCD"]
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as err:
        arch.load(p)
    assert "tRCD" in str(err.value) and "components[0]" in str(err.value)


@pytest.mark.slow
def test_quick_experiment(tmp_path):
    from experiments.pimgpt.run import run
    h = run(tmp_path, quick=True)
    assert set(h) >= {"speedup_vs_gpu_min", "speedup_vs_gpu_max", "speedup_vs_cpu_min",
                      "speedup_vs_cpu_max", "energy_eff_vs_gpu_min", "energy_eff_vs_gpu_max"}
    assert (tmp_path / "results.csv").exists() and (tmp_path / "speedup.png").exists()
