"""`sim run`: the summary, the JSON keys, and bad input as one paragraph, no traceback."""

import json

import pytest
from click.testing import CliRunner

from conftest import REPO
from sim.cli import main

GPT2 = str(REPO / "workloads" / "gpt2.yaml")


def gpt2_prefill_macs():
    L, d, f, v, p = 12, 768, 3072, 50257, 1024
    return L * (4 * p * d * d + 2 * p * p * d + 2 * p * d * f) + p * d * v


def test_run_json_has_the_documented_keys():
    result = CliRunner().invoke(main, ["run", GPT2, "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    for key in ("workload", "arch", "cycles", "seconds", "energy_j", "energy_breakdown",
                "area_mm2", "macs", "dram_bytes", "utilization", "einsums"):
        assert key in d
    assert d["macs"] == gpt2_prefill_macs()
    assert {"name", "cycles", "energy_j", "macs"} <= set(d["einsums"][0])
    assert d["seconds"] == pytest.approx(d["cycles"] / 1e9)


def test_run_summary():
    result = CliRunner().invoke(main, ["run", GPT2])
    assert result.exit_code == 0, result.output
    assert "gpt2-prefill on default" in result.output and "utilization PE2D" in result.output
    # the per-Einsum table's columns (widths given, not measured) hold their widest cell
    assert "…" not in result.output
    assert "│ SN       │ VEC  │ 12 │ 10,616,916 │" in result.output


TINY = """\
model: {name: tiny, layers: 1, d_model: 64, heads: 2, d_ff: 128, vocab: 100,
        source: "test model"}
phase: {kind: prefill, seq_len: 8}
batch: 1
format: fp16
"""


def test_summary_units_fit_a_tiny_workload(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY)
    out = CliRunner().invoke(main, ["run", str(tmp_path / "tiny.yaml")]).output
    lines = {}
    for ln in out.splitlines():  # the totals: the first line starting with each word
        if ln.strip():
            lines.setdefault(ln.split()[0], ln)
    assert "µs" in lines["time"] and "µJ" in lines["energy"]
    assert "KB" in lines["DRAM"] and " 0.0 " not in lines["DRAM"]
    for word in ("time", "energy", "DRAM"):
        assert not any(tok in ("0.0", "0.00", "0.000") for tok in lines[word].split()), lines[word]


def test_summary_names_an_architecture_file_and_a_missing_area_model(tmp_path):
    custom = tmp_path / "glb16384.yaml"
    custom.write_text((REPO / "arch" / "presets" / "default.yaml").read_text())
    out = CliRunner().invoke(main, ["run", GPT2, "--arch", str(custom)]).output
    assert f"on {custom} (name: default)" in out.replace("\n", "")
    gpu = CliRunner().invoke(main, ["run", GPT2, "--arch", "gpu-t4"]).output
    area = next(ln for ln in gpu.splitlines() if ln.strip().startswith("area"))
    assert "n/a" in area and "0.00" not in area


def test_units_pick_their_prefix():
    from sim.units import fmt
    assert fmt(1.234e-3, "s") == "1.23 ms" and fmt(5e-7, "s") == "500 ns"
    assert fmt(3.4e-4, "J") == "340 µJ" and fmt(2.6e9, "B") == "2.60 GB"
    assert fmt(0.0, "B") == "0 B" and fmt(999.7e-6, "s") == "1.00 ms"


def test_objective_and_saved_mapping(tmp_path):
    saved = tmp_path / "m.yaml"
    first = CliRunner().invoke(main, ["run", GPT2, "--objective", "energy", "--json",
                                      "--save-mapping", str(saved)])
    again = CliRunner().invoke(main, ["run", GPT2, "--mapping", str(saved), "--json"])
    assert first.exit_code == again.exit_code == 0
    assert json.loads(first.output)["cycles"] == json.loads(again.output)["cycles"]


def _bad(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    return result.output


def test_bad_workload_yaml(write_yaml):
    path = write_yaml("workload: [unclosed\n")
    out = _bad(["run", str(path)])
    assert "error:" in out and str(path) in out and "malformed YAML" in out


def test_unknown_component_class(write_yaml):
    text = (REPO / "arch" / "presets" / "default.yaml").read_text()
    path = write_yaml(text.replace("class: buffer", "class: sram9"), "arch.yaml")
    out = _bad(["run", GPT2, "--arch", str(path)])
    assert "architecture.components[1].class" in out and "sram9" in out


def test_negative_size(write_yaml):
    text = (REPO / "workloads" / "gpt2.yaml").read_text().replace("d_ff: 3072", "d_ff: -1")
    out = _bad(["run", str(write_yaml(text))])
    assert "model.d_ff" in out


def test_mapping_cannot_fit(write_yaml):
    text = (REPO / "arch" / "presets" / "default.yaml").read_text()
    path = write_yaml(text.replace("capacity_kib: 8192", "capacity_kib: 1"), "tiny.yaml")
    out = _bad(["run", GPT2, "--arch", str(path)])
    assert "mapping cannot fit" in out and ("l0_" in out or "LOGITS" in out)


def test_mapping_for_unknown_einsum(write_yaml):
    path = write_yaml("mappings:\n  nope: {role: array1d, chunk_points: 4}\n", "m.yaml")
    out = _bad(["run", GPT2, "--mapping", str(path)])
    assert "nope" in out


def test_missing_file():
    out = _bad(["run", "no/such/workload.yaml"])
    assert "file not found" in out


def test_help_documents_every_option():
    out = CliRunner().invoke(main, ["run", "--help"]).output
    for option in ("--arch", "--objective", "--mapping", "--save-mapping", "--json"):
        assert option in out


def test_run_freezes_the_imports_once(tmp_path):
    """`sim run` moves what the process imported out of the collector's way once, so a
    process running it again (a test session, a server) keeps its later garbage
    collectable."""
    import subprocess
    import sys

    (tmp_path / "tiny.yaml").write_text(TINY)
    code = (f"import gc\nfrom click.testing import CliRunner\nfrom sim.cli import main\n"
            f"counts = []\nfor _ in range(2):\n"
            f"    assert CliRunner().invoke(main, ['run', {str(tmp_path / 'tiny.yaml')!r}])"
            f".exit_code == 0\n    counts.append(gc.get_freeze_count())\nprint(*counts)")
    first, second = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True,
                                            text=True, check=True).stdout.split())
    # the interpreter starts with a few hundred frozen; a second freeze would add the first
    # run's objects, while frozen objects that die leave the count
    assert first > 10_000 and second <= first
