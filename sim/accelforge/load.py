"""Loading AccelForge specs: its package imported on demand, its errors as SpecErrors."""

from __future__ import annotations

from contextlib import contextmanager

from yamlspec import SpecError


def accelforge():
    try:
        import accelforge
    except ImportError:
        raise SpecError("AccelForge is not installed; `pip install accelsim[peers]` (or "
                        "`pip install accelforge`) installs it") from None
    return accelforge


@contextmanager
def peer_errors(file: str | None, where: str):
    """AccelForge's own exceptions (bad YAML, unevaluable expressions) as one paragraph."""
    try:
        yield
    except SpecError:
        raise
    except Exception as exc:  # its errors share no base class; any one is bad input here
        text = " ".join(str(exc).split())
        raise SpecError(f"AccelForge cannot read it: {text[:600]}", file, where) from None


def spec(*files, variables: dict | None = None, file: str | None = None):
    af = accelforge()
    with peer_errors(file, ""):
        return af.Spec.from_yaml(*map(str, files), jinja_parse_data=dict(variables or {}))
