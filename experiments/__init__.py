"""Paper reproductions, one sub-package each, run by `sim experiment NAME`.

An experiment's ``run.py`` registers ``run(out_dir: pathlib.Path, quick: bool) -> dict``
(the headline numbers, also written to ``out_dir/headline.json``) with
``@EXPERIMENTS.register("name")``; its module docstring's first line is what
``sim experiment --list`` shows. pyproject.toml's ``accelsim.experiments`` entry points
name the run modules. Experiments use only the public API of the other rooms.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from yamlspec import Registry

ROOT = Path(__file__).resolve().parent
EXPERIMENTS: Registry = Registry("experiment", "experiments")


def describe(run) -> str:
    """First line of the docstring of the module defining `run`."""
    return (inspect.getmodule(run).__doc__ or "").strip().splitlines()[0]
