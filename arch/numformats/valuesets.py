"""Exact value sets of the element formats, as sorted numpy arrays of distinct values.

Every set lists each representable finite value once (negative zero and NaN/inf
codes are dropped), in the units the format is stored in, before any group scale.
"""

from __future__ import annotations

import numpy as np


def minifloat_values(exp_bits: int, man_bits: int, bias: int | None = None,
                     specials: str = "none") -> np.ndarray:
    """All finite values of a sign/exponent/mantissa format.

    bias defaults to 2**(exp_bits-1) - 1. specials: 'none' (every code is a number,
    as in OCP E2M1/E2M3/E3M2), 'ieee' (top exponent is inf/NaN, as in FP16, BF16,
    E5M2) or 'ocp_e4m3' (only all-ones exponent and mantissa is NaN).
    Exponent field 0 is subnormal: (m / 2**man_bits) * 2**(1 - bias).
    """
    if bias is None:
        bias = 2 ** (exp_bits - 1) - 1
    top = 2 ** exp_bits - 1
    exponents = np.arange(2 ** exp_bits)[:, None]
    mantissas = np.arange(2 ** man_bits)[None, :]
    fraction = mantissas / 2.0 ** man_bits
    magnitude = np.where(exponents == 0,
                         fraction * 2.0 ** (1 - bias),
                         (1.0 + fraction) * 2.0 ** (exponents - bias))
    usable = np.ones(magnitude.shape, dtype=bool)
    if specials == "ieee":
        usable[top, :] = False
    elif specials == "ocp_e4m3":
        usable[top, -1] = False
    elif specials != "none":
        raise ValueError(f"unknown specials rule {specials!r}")
    positive = magnitude[usable]
    return np.unique(np.concatenate([-positive, positive]))


def int_values(bits: int) -> np.ndarray:
    """Symmetric (sign-magnitude range) integers: -(2**(b-1)-1) .. 2**(b-1)-1."""
    top = 2 ** (bits - 1) - 1
    return np.arange(-top, top + 1, dtype=np.float64)


def uint_values(bits: int) -> np.ndarray:
    """Unsigned integer codes 0 .. 2**b - 1 (the asymmetric INT grid before zero point)."""
    return np.arange(2 ** bits, dtype=np.float64)


def with_extra(values: np.ndarray, extra: float) -> np.ndarray:
    """A value set plus one special value (BitMoD reuses the negative-zero code for it)."""
    return np.unique(np.append(values, extra))


def power_of_two_values(bits: int) -> np.ndarray:
    """ANT's power-of-two type: 0 and +-2**k, k = 0 .. 2**(bits-1) - 2 (sign + exponent)."""
    magnitudes = 2.0 ** np.arange(2 ** (bits - 1) - 1)
    return np.unique(np.concatenate([-magnitudes, [0.0], magnitudes]))


# ANT's 4-bit flint (float-int hybrid): integer-like near zero, float-like far out.
# Values as listed by the BitMoD authors' quantizer for their ANT comparison.
FLINT4_MAGNITUDES = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0)


def flint4_values() -> np.ndarray:
    magnitudes = np.array(FLINT4_MAGNITUDES)
    return np.unique(np.concatenate([-magnitudes, [0.0], magnitudes]))


# OliVe (b bits): normal values are INTb with the most negative code reserved as the
# outlier identifier, so normals are -(2**(b-1)-1) .. 2**(b-1)-1; an outlier is a sign
# plus an E(b-2)M1 "abfloat" magnitude whose exponent bias puts its smallest value,
# 2**(b-1), just past the largest normal. (4-bit: 8..96; 3-bit: 4..12.)
def olive_normal_values(bits: int) -> np.ndarray:
    return int_values(bits)


def olive_outlier_values(bits: int) -> np.ndarray:
    exp_bits = bits - 2
    magnitudes = np.array(sorted((1 + m / 2) * 2.0 ** (e + bits - 1)
                                 for e in range(2 ** exp_bits) for m in range(2)))
    return np.concatenate([-magnitudes[::-1], magnitudes])


def mxint8_values() -> np.ndarray:
    """OCP MXINT8 element: 8-bit two's complement with an implied scale of 2**-6."""
    return np.arange(-128, 128, dtype=np.float64) / 64.0
