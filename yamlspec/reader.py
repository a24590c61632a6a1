"""Read a YAML file into plain Python data, or raise a SpecError naming the line."""

from __future__ import annotations

from pathlib import Path

import yaml

from yamlspec.errors import SpecError


def read_yaml(path: str | Path, expect_key: str | None = None) -> dict:
    """Parse `path`; it must hold a mapping (with `expect_key` at the top, if given)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError("file not found (give a path to a YAML file)", str(path))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"malformed YAML at {where}: {problem}", str(path)) from None
    if not isinstance(data, dict):
        raise SpecError("expected a YAML mapping at the top level", str(path))
    if expect_key is not None and expect_key not in data:
        raise SpecError(
            f"expected a top-level key '{expect_key}' (found: {', '.join(map(str, data)) or 'nothing'})",
            str(path),
        )
    return data
