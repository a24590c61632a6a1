"""Number formats the MAC hardware supports, and the exact arithmetic it performs.

Integer formats `intN` (N = 2..32): two's-complement operands; the product is exact and
the accumulator is `acc_bits` wide (default 32) and wraps modulo 2**acc_bits.

FP16 (IEEE binary16): the MAC is an exact fused dot-product unit (a Kulisch-style
fixed-point accumulator). Each operand is decoded to sign x 11-bit integer significand x
2**(e_eff - 25), e_eff = max(exponent field, 1) (so subnormals are exact). The product
of two operands is exact: sign x (22-bit integer) x 2**(ea + eb - 50), i.e. an integer
multiple of 2**-48 shifted left by (ea_eff - 1) + (eb_eff - 1) <= 58 bits. Products
are summed exactly in a two's-complement fixed-point register with 48 fractional bits,
`acc_bits` wide (default 96: 80 bits cover one product's range, the rest are guard
bits, so at least 2**15 worst-case products add without overflow; beyond that it wraps).
Inputs must be finite: the exponent code 31 (Inf/NaN) is not special-cased. The output
is the accumulator itself (value = acc / 2**48); rounding it to a narrower float is
left to the consumer. Fixed latency: the multiply-add completes in the cycle its
operands are present (registered at the clock edge).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

FP16_FRAC_BITS = 48          # LSB of the fixed-point accumulator: 2**-48
FP16_DEFAULT_ACC_BITS = 96
INT_DEFAULT_ACC_BITS = 32


class UnsupportedFormat(ValueError):
    """The RTL has no datapath for this number format."""


@dataclass(frozen=True)
class MacFormat:
    """An operand format and its accumulator width."""

    name: str
    bits: int          # operand width
    acc_bits: int      # accumulator width
    is_float: bool

    @property
    def frac_bits(self) -> int:
        """Fractional bits of the accumulator (0 for integers)."""
        return FP16_FRAC_BITS if self.is_float else 0


def mac_format(name: str, acc_bits: int | None = None) -> MacFormat:
    """The MacFormat for an arch format name ('int8', 'fp16', ...)."""
    if name == "fp16":
        return MacFormat(name, 16, acc_bits or FP16_DEFAULT_ACC_BITS, True)
    match = re.fullmatch(r"int(\d+)", name)
    if match and 2 <= int(match.group(1)) <= 32:
        bits = int(match.group(1))
        return MacFormat(name, bits, acc_bits or max(INT_DEFAULT_ACC_BITS, 2 * bits), False)
    raise UnsupportedFormat(f"the RTL MAC supports int2..int32 and fp16, not '{name}'")


def wrap(value: int, bits: int) -> int:
    """value as a bits-wide two's-complement number."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def encode(fmt: MacFormat, values) -> list[int]:
    """Operand values -> raw unsigned bit patterns the hardware ports take."""
    if fmt.is_float:
        return [int(v) for v in np.asarray(values, dtype=np.float16).view(np.uint16).ravel()]
    mask = (1 << fmt.bits) - 1
    return [int(v) & mask for v in np.asarray(values).ravel()]


def exact_product(fmt: MacFormat, a, b) -> int:
    """The product of two operand values as an accumulator integer (golden model).

    Computed independently of the hardware's decoding: numpy's float16 -> float64
    conversion is exact, so is the float64 product of two float16 values (22
    significant bits), and so is scaling it by 2**48.
    """
    if fmt.is_float:
        prod = float(np.float64(np.float16(a)) * np.float64(np.float16(b)))
        scaled = prod * 2.0 ** FP16_FRAC_BITS
        assert scaled == int(scaled), "an fp16 product is a multiple of 2**-48"
        return int(scaled)
    return int(a) * int(b)


def golden_dot(fmt: MacFormat, a_values, b_values) -> int:
    """sum(a*b) as the accumulator holds it (exact, wrapped to acc_bits)."""
    total = sum(exact_product(fmt, a, b) for a, b in zip(np.ravel(a_values), np.ravel(b_values)))
    return wrap(total, fmt.acc_bits)


def golden_matmul(fmt: MacFormat, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b with exact accumulator integers (object array of Python ints)."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=object)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = golden_dot(fmt, a[i, :], b[:, j])
    return out


def random_operands(fmt: MacFormat, rng: np.random.Generator, shape) -> np.ndarray:
    """Random finite operands covering the format (fp16: normals, subnormals, zeros)."""
    if fmt.is_float:
        raw = rng.integers(0, 1 << 16, size=shape, dtype=np.uint32).astype(np.uint16)
        raw = np.where((raw & 0x7C00) == 0x7C00, raw & 0x83FF, raw)  # Inf/NaN -> subnormal
        return raw.view(np.float16)
    lo, hi = -(1 << (fmt.bits - 1)), (1 << (fmt.bits - 1))
    return rng.integers(lo, hi, size=shape)
