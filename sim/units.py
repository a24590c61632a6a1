"""Quantities printed with a prefix that fits them (1.2 ms, 340 µJ, 2.6 GB), so that a
tiny workload never reads as 0.0 MB and a big one never as 2,600,000 MB."""

from __future__ import annotations

import math

# (scale, prefix) from the largest down; a value takes the first scale it reaches
_SMALL = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))
_LARGE = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"), (1.0, ""))
_BOTH = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), *_SMALL)


def prefix_for(value: float, unit: str) -> tuple[float, str]:
    """(scale, prefixed unit) for showing `value` in `unit` (s, J, B, W, MAC/s, ...):
    seconds and joules go down to p, bytes up to T, rates both ways."""
    steps = {"s": _SMALL, "J": _SMALL, "B": _LARGE}.get(unit, _BOTH)
    v = abs(value) if value is not None and math.isfinite(value) else 0.0
    if v == 0:
        scale, prefix = next((s, p) for s, p in steps if s == 1.0)
        return scale, prefix + unit
    for scale, prefix in steps:
        if v >= scale * 0.9995:  # 0.9995 ms prints as 1.00 ms, not 999.5 µs
            return scale, prefix + unit
    scale, prefix = steps[-1]
    return scale, prefix + unit


def fmt(value: float, unit: str, digits: int = 3) -> str:
    """'1.23 ms', '340 µJ', '2.60 GB', '0 B': `digits` significant digits."""
    if value is None or not math.isfinite(value):
        return "n/a"
    scale, shown = prefix_for(value, unit)
    return f"{sig(value / scale, digits)} {shown}"


def sig(x: float, digits: int = 3) -> str:
    """`x` with `digits` significant digits in plain notation: 0.0123, 1.23, 1,234."""
    if x is None or not math.isfinite(x):
        return "n/a"
    x = float(f"{x:.{digits}g}")  # 0.9997 -> 1.0, so it prints as 1.00, not 1.000
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"
