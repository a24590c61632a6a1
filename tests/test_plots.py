"""Every plot kind, the `sim plot` and `sim report` commands, from one small sweep."""

import textwrap

import pytest
from click.testing import CliRunner

import sim.plots as plots
import sim.sweep as sweeps
from sim.cli import main

TINY = """\
model: {name: tiny, layers: 2, d_model: 128, heads: 2, d_ff: 256, vocab: 1000,
        source: "test model"}
phase: {kind: %s, seq_len: 64, kv_len: 64, tokens: 2}
batch: 1
format: fp16
"""
SWEEP = """\
sweep:
  name: small
  workloads: [{path: prefill.yaml, label: prefill}, {path: decode.yaml, label: decode}]
  axes:
    - {param: [PE2D.rows, PE2D.cols], values: [8, 16, 32]}
    - {param: GLB.capacity_kib, values: [64]}
    - {param: workload.phase.kv_len, values: [32, 128]}
  constraints: {max_area_mm2: 4.0}   # 32x32 PEs do not fit (3.1 mm^2 of PEs + 2.1 of buffer)
  objectives: [seconds, energy_j]
  baseline: default,PE2D.rows=8,PE2D.cols=8,GLB.capacity_kib=64
"""


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    (root / "prefill.yaml").write_text(TINY % "prefill")
    (root / "decode.yaml").write_text(TINY % "decode")
    (root / "small.yaml").write_text(textwrap.dedent(SWEEP))
    sweep = sweeps.load(root / "small.yaml")
    stats = sweeps.run(sweep, root / "small.db", jobs=1)
    assert stats.ok > 0 and stats.infeasible > 0
    return root


@pytest.mark.parametrize("kind, options", [
    ("speedup", {"baseline": "default,PE2D.rows=8,PE2D.cols=8,GLB.capacity_kib=64"}),
    ("energy", {}), ("area", {}), ("pareto", {"x": "seconds", "y": "energy_j"}),
    ("roofline", {}), ("scaling", {"x": "workload.phase.kv_len"}),
])
def test_every_plot_kind(small_sweep, kind, options):
    df = sweeps.load_results(small_sweep / "small.db")
    written = plots.plot(kind, df, small_sweep / "img" / kind, **options)
    assert [p.suffix for p in written] == [".png", ".svg"]
    assert all(p.stat().st_size > 5000 for p in written)


def test_pareto_front_is_the_non_dominated_points():
    import numpy as np
    x = np.array([1.0, 2.0, 3.0, 2.5, 1.5])
    y = np.array([5.0, 2.0, 1.0, 3.0, 6.0])
    assert plots.pareto_front(x, y).tolist() == [0, 1, 2]


def test_plot_command_from_store_and_csv(small_sweep):
    runner = CliRunner()
    csv = small_sweep / "small.csv"
    sweeps.export(sweeps.load_results(small_sweep / "small.db"), csv)
    for source in (small_sweep / "small.db", csv):
        out = small_sweep / f"cli-{source.suffix[1:]}"
        result = runner.invoke(main, ["plot", str(source), "--kind", "scaling", "--x",
                                      "PE2D.rows", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.with_suffix(".png").is_file()
    bad = runner.invoke(main, ["plot", str(csv), "--kind", "pareto", "--y", "nosuch"])
    assert bad.exit_code == 2 and "nosuch" in bad.output


def test_report_writes_one_html_page(small_sweep):
    out = small_sweep / "report.html"
    result = CliRunner().invoke(main, ["report", str(small_sweep / "small.yaml"), "--store",
                                       str(small_sweep / "small.db"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.count("<svg") >= 6 and "Pareto front" in page and "infeasible" in page
