"""The one error type for bad user input, and its formatting."""

from __future__ import annotations

from collections.abc import Iterable


class SpecError(ValueError):
    """Bad input in a workload or architecture spec.

    The message is one paragraph: where (file and key path), what is wrong, what was
    expected. The CLI prints it as is, never a traceback.
    """

    def __init__(self, message: str, file: str | None = None, path: str | None = None):
        self.file = file
        self.path = path
        self.reason = message
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


def key_path(parts: Iterable[object]) -> str:
    """('components', 2, 'rows') -> 'components[2].rows'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def from_pydantic(err, file: str | None, prefix: str = "") -> SpecError:
    """Turn a pydantic ValidationError into a SpecError naming every bad key."""
    problems = []
    for e in err.errors():
        loc = [p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = key_path([prefix, *loc] if prefix else loc)
        problems.append(f"{path}: {e['msg']}")
    first_path = problems[0].split(":")[0] if problems else None
    detail = "; ".join(p.split(": ", 1)[1] if i == 0 else p for i, p in enumerate(problems))
    return SpecError(detail, file, first_path)
