"""Experiment outputs a researcher can commit: every figure of every experiment explains
itself (tests/figcheck.py), a re-run writes the same bytes, and `sim experiment NAME
--quick` writes nothing a checkout tracks."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import figcheck
from sim.cli import main

REPO = Path(__file__).resolve().parents[1]
ONE_SERIES = {"sensitivity"}  # one line per panel: no legend needed


@pytest.fixture
def checked_figures(monkeypatch):
    """Every figure an experiment saves is checked first; returns the names saved."""
    import experiments.bitmod.plots as bitmod_plots
    import experiments.fusemax.plots as fusemax_plots
    import sim.figstyle as figstyle

    real, seen = figstyle.save, []

    def checking(fig, out, *args, **kw):
        name = Path(out).name
        figcheck.check(fig, legend=name not in ONE_SERIES,
                       tight=kw.get("bbox_inches") == "tight")
        seen.append(name)
        return real(fig, out, *args, **kw)

    for module in (figstyle, bitmod_plots, fusemax_plots):
        monkeypatch.setattr(module, "save", checking)
    return seen


FIGURES = {
    "fusemax": {"fig6_utilization", "fig8_9_attention", "fig10_11_end_to_end",
                "fusemax_vs_flat", "utilization_over_time", "energy_breakdown"},
    "pimgpt": {"speedup", "energy_efficiency", "breakdown", "sensitivity"},
    "bitmod": {"speedup", "energy_breakdown"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_experiment_figure_explains_itself(name, checked_figures, tmp_path):
    from experiments import EXPERIMENTS

    EXPERIMENTS.get(name)(tmp_path, True)
    assert set(checked_figures) == FIGURES[name]


def test_quick_writes_to_a_scratch_folder_git_ignores(tmp_path, monkeypatch):
    from experiments.command import scratch_dir

    out = scratch_dir("fusemax")
    assert out.parts[0] == "results" and out.name == "fusemax-quick"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(out / "x.csv")], cwd=REPO)
    assert ignored.returncode == 0  # results/ is git-ignored in the checkout
    wall = subprocess.run(["git", "check-ignore", "-q", "experiments/fusemax/out/wall_time.json"],
                          cwd=REPO)
    assert wall.returncode == 0


@pytest.mark.slow
def test_quick_rerun_is_byte_identical_and_leaves_the_checkout_clean(tmp_path, monkeypatch):
    """Twice `sim experiment fusemax --quick` in a clone of this checkout: nothing git
    tracks changes, and the second run writes the same bytes as the first."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--local", str(REPO), str(clone)], check=True)
    monkeypatch.chdir(clone)
    out = clone / "results" / "experiments" / "fusemax-quick"
    runs = []
    for i in range(2):
        result = CliRunner().invoke(main, ["experiment", "fusemax", "--quick"])
        assert result.exit_code == 0, result.output
        runs.append(tmp_path / f"run{i}")
        shutil.copytree(out, runs[-1])
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True,
                            text=True, check=True)
    assert status.stdout == ""
    files = sorted(p.name for p in runs[0].iterdir())
    assert "fig6_utilization.svg" in files and "headline_table.md" in files
    assert files == sorted(p.name for p in runs[1].iterdir())
    differ = [f for f in files if f != "wall_time.json"
              and (runs[0] / f).read_bytes() != (runs[1] / f).read_bytes()]
    assert differ == []
    assert json.loads((runs[0] / "wall_time.json").read_text())["quick"] is True
