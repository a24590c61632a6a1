"""Storage width of the number formats a tensor may carry.

Only the width matters to the workload (bytes, traffic); value sets and
quantization live with the architecture.
"""

from __future__ import annotations

import re

from yamlspec.limits import MAX_FORMAT_BITS

_NAMED_BITS = {"bf16": 16, "tf32": 32, "fp8_e4m3": 8, "fp8_e5m2": 8, "bool": 1}
_PATTERN = re.compile(r"^(int|uint|fp|float|bf)(\d+)$")


def format_bits(name: str) -> int:
    """Bits per element of a format name such as 'fp16', 'int8', 'int4', 'bf16'."""
    if not isinstance(name, str):
        raise ValueError(f"a number format is a name such as fp16 or int8, not "
                         f"{type(name).__name__} {name!r}")
    if name in _NAMED_BITS:
        return _NAMED_BITS[name]
    match = _PATTERN.match(name)
    if not match or not 0 < int(match.group(2)) <= MAX_FORMAT_BITS:
        raise ValueError(
            f"unknown number format '{name}' (use intN, uintN, fpN with N from 1 to "
            f"{MAX_FORMAT_BITS}, bf16, fp8_e4m3, fp8_e5m2)"
        )
    return int(match.group(2))
