"""Every plot kind, the `sim plot` and `sim report` commands, from one small sweep."""

import textwrap

import pytest
from click.testing import CliRunner

import figcheck
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


BASELINE = "default,PE2D.rows=8,PE2D.cols=8,GLB.capacity_kib=64"


@pytest.mark.parametrize("kind, options", [
    ("speedup", {"baseline": BASELINE}), ("energy", {}), ("area", {}),
    ("pareto", {"x": "seconds", "y": "energy_j"}), ("roofline", {}),
    ("scaling", {"x": "PE2D.rows"}), ("scaling", {"x": "workload.phase.kv_len"}),
])
def test_every_plot_explains_itself(small_sweep, kind, options):
    """Axis labels with units, a legend off the data, no two labels overlapping, nothing
    outside the figure, and every design (or workload, or operation) named."""
    df = sweeps.load_results(small_sweep / "small.db")
    style = plots.Style.of(df)
    fig = plots.draw(kind, df, **options)
    ok = df[df["status"] == "ok"]
    if kind == "area":  # infeasible designs too: their area is known
        names = [style.names[d] for d in style.designs]
    elif kind == "roofline":
        import json
        names = [op["op"] for op in json.loads(ok.iloc[0]["detail"])["ops"]]
    elif kind == "scaling":
        names = ["prefill", "decode"]
    else:
        names = [style.names[d] for d in dict.fromkeys(ok["design"])]
    figcheck.check(fig, names)
    if kind in ("speedup", "energy", "pareto", "scaling"):  # the 32x32 design is infeasible
        assert "4 infeasible points" in fig._suptitle.get_text()


def test_roofline_labels_never_mix_contractions_and_vector_ops(small_sweep):
    import json
    df = sweeps.load_results(small_sweep / "small.db")
    fig = plots.draw("roofline", df)
    row = df[df["design"] == df.loc[df["seconds"].idxmin(), "design"]].iloc[0]
    kind = {op["op"]: op["kind"] for op in json.loads(row["detail"])["ops"]}
    labels = [t.get_text() for t in fig.axes[0].texts if t.get_text()]
    assert labels and not any("+" in t for t in labels)  # no '+N' hiding names
    for text in labels:
        kinds = {kind[n.strip()] for n in text.replace("\n", " ").split(",") if n.strip()}
        assert len(kinds) == 1, text


def test_plots_of_one_sweep_share_order_names_and_colours(small_sweep):
    df = sweeps.load_results(small_sweep / "small.db")
    order = {}
    for kind in ("speedup", "energy", "area"):
        fig = plots.draw(kind, df)
        figcheck.render(fig)
        ticks = [t.get_text().replace(" (baseline)", "").replace(" (infeasible)", "")
                 for t in fig.axes[0].get_yticklabels()]
        order[kind] = ticks
    assert order["speedup"] == order["energy"] == order["area"][:len(order["speedup"])]
    assert order["speedup"] == ["PE2D 8x8", "PE2D 16x16"]  # 8 before 16
    speed = plots.draw("speedup", df)
    scale = plots.draw("scaling", df, x="PE2D.rows")
    colour = {t.get_text(): h.get_facecolor() for t, h in
              zip(speed.axes[0].get_legend().get_texts(), speed.axes[0].get_legend().legend_handles)}
    for t, h in zip(scale.axes[0].get_legend().get_texts(),
                    scale.axes[0].get_legend().legend_handles):
        name = t.get_text().removesuffix(": best")
        if name in colour:
            from matplotlib.colors import to_rgb
            assert to_rgb(h.get_color()) == to_rgb(colour[name])


def test_units_follow_the_data():
    assert plots.metric_label("seconds", [2e-4, 4e-4]) == ("latency (µs)", 1e6)
    assert plots.metric_label("seconds", [0.5, 3.0]) == ("latency (s)", 1.0)
    assert plots.metric_label("energy_j", [2e-3]) == ("energy (mJ)", 1e3)
    assert plots.metric_label("area_mm2", [300.0]) == ("area (mm²)", 1.0)


def test_design_names_keep_their_component():
    names = plots.short_labels(["default,PE2D.rows=32,PE2D.cols=32,GLB.capacity_kib=8192",
                                "default,PE2D.rows=64,PE2D.cols=64,GLB.capacity_kib=8192",
                                "default,PE2D.rows=64,PE2D.cols=64,GLB.capacity_kib=512"])
    assert list(names.values()) == ["PE2D 32x32 · GLB 8192 KiB",
                                    "PE2D 64x64 · GLB 8192 KiB",
                                    "PE2D 64x64 · GLB 512 KiB"]
    assert plots.short_labels(["fusemax", "bitmod"]) == {"fusemax": "fusemax", "bitmod": "bitmod"}


def test_saved_files_are_byte_identical_and_undated(small_sweep, tmp_path):
    df = sweeps.load_results(small_sweep / "small.db")
    first = plots.plot("pareto", df, tmp_path / "a")
    second = plots.plot("pareto", df, tmp_path / "b")
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
    svg = first[1].read_text()
    assert "<dc:date>" not in svg


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


def test_plot_help_states_the_real_defaults():
    text = CliRunner().invoke(main, ["plot", "--help"]).output
    assert "slowest design" in text and "first design" not in text
    assert "fastest with a 2D array" in " ".join(text.split())


def test_the_cli_names_every_kind_the_plots_draw():
    from sim.commands.plot import KINDS

    assert set(KINDS) == set(plots.DRAWERS)
