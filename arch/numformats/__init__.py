"""Number formats for weights: exact value sets, vectorized quantize/dequantize, and the
bits each stored weight costs.

Public API (other rooms import only these):

``get_format(name) -> Scheme``
    The scheme registered under ``name`` (case-insensitive; see ``available()``).
    A scheme has ``.name``, ``.element_bits`` (bits of one stored weight code),
    ``.values`` (the exact element value set as a sorted float64 array, before
    scaling; for mixtures and per-tensor choices see ``.candidates``),
    ``.default_group_size`` (128; 32 for MX; None for unscaled FP16/BF16),
    ``.bits_per_weight(group_size=None)`` and
    ``.quantize(w, group_size=None) -> QuantResult(dequantized, bits_per_weight, choice)``.
    Unknown names raise ``KeyError`` listing the known ones.

``bits_per_weight(scheme, group_size=None) -> float``
    Stored bits per weight including the per-group FP16 scale (16 bits; MX: one
    8-bit E8M0 exponent), the asymmetric-INT zero point (b bits), and the per-group
    type selector (ceil(log2 k) bits for a k-type mixture such as BitMoD's 4 types:
    2 bits). ``scheme`` is a name or a Scheme; ``group_size`` None means the
    scheme's default. Per-tensor selectors (ANT) amortize to 0.
    Example: ``bits_per_weight("bitmod_fp3", 128) == 3 + 18/128``.

``quantize(w, scheme, group_size=None) -> QuantResult``
    Shorthand for ``get_format(scheme).quantize(w, group_size)``. Groups are
    ``group_size`` consecutive weights along the last axis (must divide it).

``error_stats(w, dequantized) -> dict(mse=..., sqnr_db=...)``

Registered names: FP16/BF16 casts (``fp16``, ``bf16``); per-group absmax-scaled grids
``int3 int4 int6 int8`` (symmetric), ``int3_asym int4_asym int8_asym`` (zero point),
``fp8_e4m3 fp8_e5m2``, ``fp6_e2m3 fp6_e3m2``, ``fp4_e2m1 fp4_e3m0 fp4_e1m2``,
``fp3_e2m0 fp3_e1m1``; BitMoD's extended types ``fp3_er_pos fp3_er_neg fp3_ea_pos
fp3_ea_neg fp4_er_pos fp4_er_neg fp4_ea_pos fp4_ea_neg`` and their per-group mixtures
``bitmod_fp3 bitmod_fp4``; ANT's types ``flint4 pot4 pot3`` with ``ant4``/``ant3``
(type chosen per tensor) and ``ant4_group`` (int4/flint4 chosen per group, as the
BitMoD authors ran ANT); OliVe ``olive3 olive4`` (least-error pair encoding) and
``olive3_threshold olive4_threshold`` (OliVe's threshold rule); MX ``mxfp4 mxfp6_e2m3 mxfp6_e3m2 mxfp8_e4m3
mxfp8_e5m2 mxint8``. ``NAME_search`` (for int3 int4 fp3_e2m0 fp4_e2m1 bitmod_fp3
bitmod_fp4 ant3 ant4 ant4_group): the same scheme with each group's scale the
least-error one of 16 clip ratios (OliVe always searches its scale this way). Aliases: ``fp4`` = fp4_e2m1, ``fp3`` = fp3_e2m0.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from arch.numformats import valuesets as vs
from arch.numformats.schemes import (
    AsymmetricInt, FloatCast, MXBlock, OutlierVictimPairs, PerGroupMixture, PerTensorChoice,
    QuantResult, ScaledGrid, Scheme,
)


CLIP_RATIOS = tuple(1 - k / 30 for k in range(16))  # 1.0 down to 0.5


def _build() -> dict[str, Scheme]:
    s: dict[str, Scheme] = {}

    def add(scheme: Scheme) -> Scheme:
        s[scheme.name] = scheme
        return scheme

    add(FloatCast("fp16", 16, 5, 10, "IEEE half precision, no scale"))
    add(FloatCast("bf16", 16, 8, 7, "bfloat16, no scale"))
    for b in (3, 4, 6, 8):
        add(ScaledGrid(f"int{b}", b, vs.int_values(b), f"symmetric INT{b}, +-{2**(b-1)-1}"))
    for b in (3, 4, 8):
        add(AsymmetricInt(f"int{b}_asym", b, f"asymmetric INT{b} with zero point"))
    add(ScaledGrid("fp8_e4m3", 8, vs.minifloat_values(4, 3, specials="ocp_e4m3"),
                   "OCP FP8 E4M3 (max 448, no inf)"))
    add(ScaledGrid("fp8_e5m2", 8, vs.minifloat_values(5, 2, specials="ieee"),
                   "OCP FP8 E5M2 (IEEE-like, max 57344)"))
    add(ScaledGrid("fp6_e2m3", 6, vs.minifloat_values(2, 3), "OCP FP6 E2M3 (max 7.5)"))
    add(ScaledGrid("fp6_e3m2", 6, vs.minifloat_values(3, 2), "OCP FP6 E3M2 (max 28)"))
    fp4 = add(ScaledGrid("fp4_e2m1", 4, vs.minifloat_values(2, 1), "FP4 E2M1 (OCP), max 6"))
    add(ScaledGrid("fp4_e3m0", 4, vs.minifloat_values(3, 0), "FP4 E3M0, powers of two"))
    add(ScaledGrid("fp4_e1m2", 4, vs.minifloat_values(1, 2), "FP4 E1M2 (INT-like)"))
    fp3 = add(ScaledGrid("fp3_e2m0", 3, vs.minifloat_values(2, 0), "FP3 E2M0 {0,+-1,+-2,+-4}"))
    add(ScaledGrid("fp3_e1m1", 3, vs.minifloat_values(1, 1), "FP3 E1M1 {0,+-.5,+-1,+-1.5}"))

    # BitMoD (paper Sec. III; values as in the authors' quantizer): the redundant
    # negative-zero code becomes one special value, extra resolution (ER) or
    # extra asymmetry (EA), on the positive or negative side.
    specials = {3: (fp3, {"er": 3.0, "ea": 6.0}), 4: (fp4, {"er": 5.0, "ea": 8.0})}
    for b, (base, kinds) in specials.items():
        variants = []
        for kind, value in kinds.items():
            for side, sign in (("pos", 1), ("neg", -1)):
                variants.append(add(ScaledGrid(
                    f"fp{b}_{kind}_{side}", b, vs.with_extra(base.values, sign * value),
                    f"BitMoD FP{b} with special value {sign * value:+g}")))
        add(PerGroupMixture(f"bitmod_fp{b}", variants,
                            f"BitMoD: per group the best of the four FP{b} special-value types"))

    int4, int3 = s["int4"], s["int3"]
    flint4 = add(ScaledGrid("flint4", 4, vs.flint4_values(), "ANT flint4"))
    pot4 = add(ScaledGrid("pot4", 4, vs.power_of_two_values(4), "ANT power-of-two, 4 bits"))
    pot3 = add(ScaledGrid("pot3", 3, vs.power_of_two_values(3), "ANT power-of-two, 3 bits"))
    add(PerTensorChoice("ant4", [int4, flint4, pot4], "ANT: int4/flint4/pot4 chosen per tensor"))
    add(PerTensorChoice("ant3", [int3, pot3], "ANT: int3/pot3 chosen per tensor"))
    add(PerGroupMixture("ant4_group", [int4, flint4],
                        "ANT types int4/flint4 chosen per group (BitMoD authors' ANT setting)"))

    for b in (3, 4):
        normal, outlier = vs.olive_normal_values(b), vs.olive_outlier_values(b)
        add(OutlierVictimPairs(f"olive{b}", b, normal, outlier,
                               f"OliVe outlier-victim pairs: int{b} normals, "
                               f"E{b - 2}M1 abfloat outliers, least-error pair encoding"))
        add(OutlierVictimPairs(f"olive{b}_threshold", b, normal, outlier,
                               f"OliVe as published: outlier iff beyond the int{b} range",
                               pair_rule="threshold"))

    # The same schemes with a per-group least-error scale search over 16 clip ratios,
    # the kind of search OliVe (and ANT's own framework) use, for a like-for-like check.
    def searched(grid: ScaledGrid) -> ScaledGrid:
        return replace(grid, name=f"{grid.name}_search", clip_ratios=CLIP_RATIOS,
                       description=f"{grid.description}, least-error scale of 16")

    for name in ("int3", "int4", "fp3_e2m0", "fp4_e2m1"):
        add(searched(s[name]))
    for name in ("bitmod_fp3", "bitmod_fp4", "ant4_group"):
        mix = s[name]
        add(PerGroupMixture(f"{name}_search", [searched(c) for c in mix.candidates],
                            f"{mix.description}, least-error scale of 16"))
    for name in ("ant3", "ant4"):
        choice = s[name]
        add(PerTensorChoice(f"{name}_search", [searched(c) for c in choice.candidates],
                            f"{choice.description}, least-error scale of 16"))

    add(MXBlock("mxfp4", 4, fp4.values, "OCP MXFP4: E2M1 + E8M0 scale per 32"))
    add(MXBlock("mxfp6_e2m3", 6, s["fp6_e2m3"].values, "OCP MXFP6 E2M3"))
    add(MXBlock("mxfp6_e3m2", 6, s["fp6_e3m2"].values, "OCP MXFP6 E3M2"))
    add(MXBlock("mxfp8_e4m3", 8, s["fp8_e4m3"].values, "OCP MXFP8 E4M3"))
    add(MXBlock("mxfp8_e5m2", 8, s["fp8_e5m2"].values, "OCP MXFP8 E5M2"))
    add(MXBlock("mxint8", 8, vs.mxint8_values(), "OCP MXINT8"))
    return s


FORMATS: dict[str, Scheme] = _build()
ALIASES = {"fp4": "fp4_e2m1", "fp3": "fp3_e2m0", "int4_sym": "int4", "int8_sym": "int8",
           "int3_sym": "int3", "bitmod3": "bitmod_fp3", "bitmod4": "bitmod_fp4"}


def available() -> list[str]:
    """Every registered scheme name."""
    return sorted(FORMATS)


def get_format(name: str | Scheme) -> Scheme:
    """The scheme called `name` (see module docstring); KeyError names the known ones."""
    if isinstance(name, Scheme):
        return name
    key = ALIASES.get(name.lower(), name.lower())
    if key not in FORMATS:
        raise KeyError(f"unknown number format {name!r}; known formats: {', '.join(available())}")
    return FORMATS[key]


def bits_per_weight(scheme: str | Scheme, group_size: int | None = None) -> float:
    """Stored bits per weight of `scheme` at `group_size` (None: the scheme's default),
    including scale, zero-point and type-selector bits per group."""
    return get_format(scheme).bits_per_weight(group_size)


def quantize(w: np.ndarray, scheme: str | Scheme, group_size: int | None = None) -> QuantResult:
    """Quantize then dequantize `w` with `scheme`, grouping along the last axis."""
    return get_format(scheme).quantize(w, group_size)


def error_stats(w: np.ndarray, dequantized: np.ndarray) -> dict[str, float]:
    """Mean squared error and signal-to-quantization-noise ratio in dB."""
    w = np.asarray(w, dtype=np.float64)
    mse = float(np.mean((w - dequantized) ** 2))
    signal = float(np.mean(w ** 2))
    sqnr = float("inf") if mse == 0 else float(10 * np.log10(signal / mse))
    return {"mse": mse, "sqnr_db": sqnr}


__all__ = ["FORMATS", "QuantResult", "Scheme", "available", "bits_per_weight", "error_stats",
           "get_format", "quantize"]
