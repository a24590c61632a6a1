"""A sweep may ask for FPGA resources of RTL blocks as result columns (`columns: fpga`):
from the fit estimate by default, from yosys with `synthesis: true`; bad options stop
the sweep at load time (exit 2, naming the file and key)."""

import pytest
from click.testing import CliRunner
from test_sweep import write_sweep

import arch
import sim.sweep as sweeps
from rtl.blocks import BLOCKS, BlockOptions
from rtl.synth import estimate
from sim.cli import main
from yamlspec import SpecError

FPGA = """\
sweep:
  name: fpga
  workloads: [tiny.yaml]
  axes:
    - {param: [PE2D.rows, PE2D.cols], values: [4, 16]}
  columns:
    fpga: {blocks: [array2d, vector1d], family: ecp5}
"""


def test_fpga_columns_equal_the_fit_estimate(tmp_path):
    store = tmp_path / "r.db"
    stats = sweeps.run(sweeps.load(write_sweep(tmp_path, FPGA)), store, jobs=1)
    assert (stats.evaluated, stats.failed) == (2, 0)
    df = sweeps.load_results(store).sort_values("PE2D.rows")
    for side, row in zip((4, 16), df.itertuples()):
        a = arch.load("default").with_changes(**{"PE2D.rows": side, "PE2D.cols": side})
        want = estimate(BLOCKS.get("array2d").build(a, BlockOptions()), "ecp5")
        got = df.loc[df["PE2D.rows"] == side].iloc[0]
        assert (got["fpga.array2d.luts"], got["fpga.array2d.dsps"]) == (want.luts, want.dsps)
        assert bool(got["fpga.array2d.fits"]) == want.fits
    # 16 multipliers fit the 156 of the LFE5U-85F, 256 do not; the 128-lane 1D unit never
    assert list(df["fpga.array2d.fits"].astype(bool)) == [True, False]
    assert list(df["fpga.array2d.dsps"]) == [16, 256]
    assert not df["fpga.vector1d.fits"].astype(bool).any()
    # the columns are part of a point's key: the same sweep without them is evaluated anew
    plain = sweeps.load(write_sweep(tmp_path, FPGA.split("  columns:")[0], "plain.yaml"))
    assert sweeps.run(plain, store, jobs=1).evaluated == 2


@pytest.mark.parametrize("columns, fragment, key", [
    ("{nosuch: {}}", "no sweep result column 'nosuch'", "sweep.columns"),
    ("{fpga: {blocks: [nosuch]}}", "no RTL block 'nosuch'", "sweep.columns.fpga"),
    ("{fpga: {blocks: []}}", "non-empty list", "sweep.columns.fpga"),
    ("{fpga: {blocks: [array2d], family: xilinx}}", "ecp5, ice40", "sweep.columns.fpga"),
    ("{fpga: {blocks: [array2d], synthesis: maybe}}", "true or false", "sweep.columns.fpga"),
    ("{fpga: {blocks: [array2d], clock: 1}}", "not ['clock']", "sweep.columns.fpga"),
    ("{fpga: {blocks: [engine]}}", "not a sweep column", "sweep.columns.fpga"),
    ("{fpga: {blocks: [mac-pe]}}", "synthesis: true", "sweep.columns.fpga"),
    ("{fpga: {blocks: [bitserial-array]}}", "bitserial_array", "sweep.columns.fpga"),
])
def test_bad_fpga_columns_name_file_and_key(tmp_path, columns, fragment, key):
    body = FPGA.split("  columns:")[0] + f"  columns: {columns}\n"
    path = write_sweep(tmp_path, body)
    with pytest.raises(SpecError) as info:
        sweeps.load(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and key in message, message
    result = CliRunner().invoke(main, ["sweep", str(path), "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert fragment in " ".join(result.output.split())


@pytest.mark.slow
def test_fpga_columns_from_synthesis(tmp_path):
    from rtl.synth import ToolMissing, find_tool

    try:
        find_tool("yosys")
    except ToolMissing:
        pytest.skip("yosys is not installed (the [rtl] extra)")
    body = FPGA.replace("[4, 16]", "[2]").replace(
        "{blocks: [array2d, vector1d], family: ecp5}", "{blocks: [array2d], synthesis: true}")
    store = tmp_path / "r.db"
    sweeps.run(sweeps.load(write_sweep(tmp_path, body)), store, jobs=1)
    row = sweeps.load_results(store).iloc[0]
    assert row["status"] == "ok", row["reason"]
    assert row["fpga.array2d.dsps"] == 4 and row["fpga.array2d.luts"] > 0
    assert bool(row["fpga.array2d.fits"])
