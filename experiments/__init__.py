"""Paper reproductions: one sub-package per experiment, run by `sim experiment NAME`.

An experiment is a folder ``experiments/<name>/`` whose ``run.py`` defines
``run(out_dir: pathlib.Path, quick: bool) -> dict`` (the headline numbers, also written
to ``out_dir/headline.json``) and a one-line module docstring shown by
``sim experiment --list``. Experiments use only the public API of the other rooms.
"""

from __future__ import annotations

import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def available() -> dict[str, str]:
    """Experiment name -> first line of its description."""
    found = {}
    for run_py in sorted(ROOT.glob("*/run.py")):
        module = importlib.import_module(f"experiments.{run_py.parent.name}.run")
        found[run_py.parent.name] = (module.__doc__ or "").strip().splitlines()[0]
    return found


def load(name: str):
    """The ``run`` module of experiment NAME (ValueError if there is none)."""
    if not (ROOT / name / "run.py").is_file():
        known = ", ".join(available()) or "none"
        raise ValueError(f"no experiment named {name!r}; known experiments: {known}")
    return importlib.import_module(f"experiments.{name}.run")
