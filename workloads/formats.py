"""Storage width of the number formats a tensor may carry.

Only the width matters to the workload (bytes, traffic); value sets and
quantization live with the architecture.
"""

from __future__ import annotations

import re

_NAMED_BITS = {"bf16": 16, "tf32": 32, "fp8_e4m3": 8, "fp8_e5m2": 8, "bool": 1}
_PATTERN = re.compile(r"^(int|uint|fp|float|bf)(\d+)$")


def format_bits(name: str) -> int:
    """Bits per element of a format name such as 'fp16', 'int8', 'int4', 'bf16'."""
    if name in _NAMED_BITS:
        return _NAMED_BITS[name]
    match = _PATTERN.match(name)
    if not match or int(match.group(2)) <= 0:
        raise ValueError(
            f"unknown number format '{name}' (use intN, uintN, fpN, bf16, fp8_e4m3, fp8_e5m2)"
        )
    return int(match.group(2))
