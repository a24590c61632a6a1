"""Quantization schemes: how a weight tensor is cut into groups, scaled and rounded.

Groups are runs of `group_size` consecutive elements along the last axis (the input
channel of a weight matrix), which must divide evenly. Every scheme returns the
dequantized tensor (same shape, float64) and, for schemes that choose a type or an
encoding per group, the index of the choice per group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from arch.numformats.valuesets import minifloat_values

FP16_SCALE_BITS = 16  # per-group scales are stored in FP16 unless a scheme says otherwise


@dataclass(frozen=True)
class QuantResult:
    dequantized: np.ndarray
    bits_per_weight: float
    choice: np.ndarray | None = None  # per-group (or per-tensor) index of the chosen type


def nearest(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Round each x to the nearest member of the sorted value set; ties go to the lower
    value; anything beyond the ends saturates to the end value."""
    midpoints = (values[1:] + values[:-1]) / 2
    return values[np.searchsorted(midpoints, x, side="left")]


def round_float(x: np.ndarray, man_bits: int, min_exponent: int, max_value: float) -> np.ndarray:
    """Round to a binary float with man_bits stored mantissa bits, round-half-even,
    subnormals below 2**min_exponent, saturating at +-max_value."""
    x = np.asarray(x, dtype=np.float64)
    _, exponent = np.frexp(x)
    exponent = np.maximum(exponent - 1, min_exponent)  # floor(log2|x|), clamped to subnormals
    quantum = np.ldexp(1.0, exponent - man_bits)
    return np.clip(np.round(x / quantum) * quantum, -max_value, max_value)


def to_groups(w: np.ndarray, group_size: int) -> np.ndarray:
    """View w as (n_groups, group_size); the last axis must be a multiple of group_size."""
    w = np.asarray(w, dtype=np.float64)
    if group_size <= 0:
        raise ValueError(f"group size must be a positive integer, got {group_size}")
    if w.ndim == 0 or w.shape[-1] % group_size:
        raise ValueError(f"group size {group_size} does not divide the last axis "
                         f"(length {w.shape[-1] if w.ndim else 0})")
    return w.reshape(-1, group_size)


def fp16_scale(scale: np.ndarray) -> np.ndarray:
    """Store the scale in FP16 where it fits (it is charged 16 bits); keep it exact otherwise."""
    with np.errstate(over="ignore"):
        stored = scale.astype(np.float16).astype(np.float64)
    return np.where(np.isfinite(stored) & (stored > 0), stored, scale)


def absmax_scale(groups: np.ndarray, grid_max: float) -> np.ndarray:
    """Per-group scale mapping the largest |w| onto the largest |value| of the grid
    (the rule of the BitMoD authors' quantizer); all-zero groups get scale 1."""
    absmax = np.abs(groups).max(axis=1, keepdims=True)
    scale = np.where(absmax > 0, absmax / grid_max, 1.0)
    return fp16_scale(scale)


class Scheme:
    """Base class. `name`, `element_bits` (stored bits per weight code), `description`."""

    # Subclasses (dataclasses) set: name, element_bits, description,
    # default_group_size (None = no grouping) and values (the element value set).
    values: np.ndarray | None = None

    def overhead_bits_per_group(self) -> float:
        return 0.0

    def bits_per_weight(self, group_size: int | None = None) -> float:
        """Stored bits per weight, scale and type-selector bits spread over the group."""
        if self.default_group_size is None:
            return float(self.element_bits)
        g = group_size or self.default_group_size
        return self.element_bits + self.overhead_bits_per_group() / g

    def quantize(self, w: np.ndarray, group_size: int | None = None) -> QuantResult:
        """Quantize-dequantize `w` group by group along its rows (schemes that are not
        per-group override this)."""
        w = np.asarray(w, dtype=np.float64)
        g = group_size or self.default_group_size
        out = self.quantize_groups(to_groups(w, g)).reshape(w.shape)
        return QuantResult(out, self.bits_per_weight(g))

    def quantize_groups(self, groups: np.ndarray) -> np.ndarray:
        """Quantize-dequantize each row of `groups` (n groups x group size)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


@dataclass(repr=False)
class FloatCast(Scheme):
    """A wide float (FP16, BF16): each weight rounded on its own, no scale."""

    name: str
    element_bits: int
    exp_bits: int
    man_bits: int
    description: str = ""
    default_group_size: int | None = None

    def __post_init__(self):
        self.values = minifloat_values(self.exp_bits, self.man_bits, specials="ieee")
        self.bias = 2 ** (self.exp_bits - 1) - 1

    def round(self, x: np.ndarray) -> np.ndarray:
        return round_float(x, self.man_bits, 1 - self.bias, float(self.values[-1]))

    def quantize(self, w, group_size=None):
        return QuantResult(self.round(np.asarray(w, dtype=np.float64)), self.bits_per_weight())


@dataclass(repr=False)
class ScaledGrid(Scheme):
    """A small value set with one FP16 scale per group: absmax rule, or with
    `clip_ratios` the least-error scale among r * absmax / max|grid| for each r
    (r < 1 clips the largest weights to gain resolution for the rest)."""

    name: str
    element_bits: int
    values: np.ndarray
    description: str = ""
    default_group_size: int | None = 128
    clip_ratios: tuple[float, ...] = (1.0,)

    def overhead_bits_per_group(self):
        return FP16_SCALE_BITS

    @property
    def grid_max(self) -> float:
        return float(np.abs(self.values).max())

    def quantize_groups(self, groups: np.ndarray) -> np.ndarray:
        best = best_err = None
        for ratio in self.clip_ratios:
            scale = absmax_scale(groups, self.grid_max / ratio)
            out = nearest(self.values, groups / scale) * scale
            if best is None:
                best, best_err = out, ((out - groups) ** 2).sum(axis=1)
                continue
            err = ((out - groups) ** 2).sum(axis=1)
            better = err < best_err  # earlier (larger) ratio wins ties
            best[better], best_err[better] = out[better], err[better]
        return best


@dataclass(repr=False)
class AsymmetricInt(Scheme):
    """Unsigned b-bit codes with a per-group FP16 scale and a b-bit zero point (min-max)."""

    name: str
    element_bits: int
    description: str = ""
    default_group_size: int | None = 128

    def __post_init__(self):
        self.values = np.arange(2 ** self.element_bits, dtype=np.float64)

    def overhead_bits_per_group(self):
        return FP16_SCALE_BITS + self.element_bits

    def quantize_groups(self, groups):
        top = 2 ** self.element_bits - 1
        low = groups.min(axis=1, keepdims=True)
        high = groups.max(axis=1, keepdims=True)
        span = high - low
        scale = fp16_scale(np.where(span > 0, span / top, 1.0))
        zero = np.clip(np.round(-low / scale), 0, top)
        codes = np.clip(np.round(groups / scale) + zero, 0, top)
        return (codes - zero) * scale


def squared_errors(groups: np.ndarray, candidates: list[ScaledGrid]) -> tuple[np.ndarray, np.ndarray]:
    """Dequantized groups under each candidate (k, n, g) and their per-group SSE (k, n)."""
    outs = np.stack([c.quantize_groups(groups) for c in candidates])
    return outs, ((outs - groups[None]) ** 2).sum(axis=2)


@dataclass(repr=False)
class _TypeChoice(Scheme):
    """A choice among candidate types, each group with its own scale."""

    name: str
    candidates: list[ScaledGrid]
    description: str = ""
    default_group_size: int | None = 128

    def __post_init__(self):
        self.element_bits = max(c.element_bits for c in self.candidates)


@dataclass(repr=False)
class PerGroupMixture(_TypeChoice):
    """Each group takes whichever candidate type gives it the least squared error
    (BitMoD); the choice costs ceil(log2 k) selector bits per group."""

    @property
    def selector_bits(self) -> int:
        return math.ceil(math.log2(len(self.candidates)))

    def overhead_bits_per_group(self):
        return FP16_SCALE_BITS + self.selector_bits

    def quantize(self, w, group_size=None):
        w = np.asarray(w, dtype=np.float64)
        g = group_size or self.default_group_size
        groups = to_groups(w, g)
        outs, sse = squared_errors(groups, self.candidates)
        choice = sse.argmin(axis=0)  # first candidate wins ties
        out = np.take_along_axis(outs, choice[None, :, None], axis=0)[0]
        return QuantResult(out.reshape(w.shape), self.bits_per_weight(g), choice)


@dataclass(repr=False)
class PerTensorChoice(_TypeChoice):
    """One candidate type for the whole tensor, the one with least total squared error
    (ANT's adaptive type); groups still get their own scale. The selector is per
    tensor, so its bits amortize to zero per weight."""

    def overhead_bits_per_group(self):
        return FP16_SCALE_BITS

    def quantize(self, w, group_size=None):
        w = np.asarray(w, dtype=np.float64)
        g = group_size or self.default_group_size
        outs, sse = squared_errors(to_groups(w, g), self.candidates)
        best = int(sse.sum(axis=1).argmin())
        return QuantResult(outs[best].reshape(w.shape), self.bits_per_weight(g), np.array([best]))


@dataclass(repr=False)
class MXBlock(Scheme):
    """OCP microscaling: a block shares an E8M0 (power-of-two, 8-bit) scale
    2**(floor(log2 absmax) - emax), emax the element format's largest exponent;
    elements round to nearest and saturate. The spec's block is 32."""

    name: str
    element_bits: int
    values: np.ndarray
    description: str = ""
    default_group_size: int | None = 32

    def overhead_bits_per_group(self):
        return 8

    def quantize(self, w, group_size=None):
        w = np.asarray(w, dtype=np.float64)
        g = group_size or self.default_group_size
        groups = to_groups(w, g)
        emax = math.floor(math.log2(float(self.values[-1])))
        absmax = np.abs(groups).max(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            shared = np.where(absmax > 0, np.floor(np.log2(np.where(absmax > 0, absmax, 1))), 0)
        scale = np.ldexp(1.0, np.clip(shared - emax, -127, 127).astype(int))
        out = nearest(self.values, groups / scale) * scale
        return QuantResult(out.reshape(w.shape), self.bits_per_weight(g))


@dataclass(repr=False)
class OutlierVictimPairs(Scheme):
    """OliVe: adjacent weights form pairs. A pair stores two normal values, or one
    outlier (abfloat magnitude, flagged by the reserved normal code) and a victim
    pruned to zero, chosen by `pair_rule`; each group takes the FP16 scale, from
    `scale_candidates` ratios absmax/scale, with least error."""

    name: str
    element_bits: int
    normal: np.ndarray
    outlier: np.ndarray
    description: str = ""
    default_group_size: int | None = 128
    scale_candidates: tuple[float, ...] = ()
    # "min_error": each pair takes its least-error encoding. "threshold": OliVe's rule, a
    # weight beyond the normal range (|x| > max normal + 1/2) is an outlier, the larger of
    # two outliers wins and its neighbour is the victim.
    pair_rule: str = "min_error"

    def __post_init__(self):
        self.values = np.unique(np.concatenate([self.normal, self.outlier]))
        if not self.scale_candidates:  # absmax lands anywhere from the top normal to the top outlier
            self.scale_candidates = tuple(np.geomspace(self.normal.max(), self.outlier.max(), 16))

    def overhead_bits_per_group(self):
        return FP16_SCALE_BITS

    def encode_pairs(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unscaled pairs (..., 2) -> (dequantized pairs, encoding 0 normal/1 first
        outlier/2 second outlier)."""
        both = nearest(self.normal, pairs)
        first = np.stack([nearest(self.outlier, pairs[..., 0]), np.zeros(pairs.shape[:-1])], -1)
        second = np.stack([np.zeros(pairs.shape[:-1]), nearest(self.outlier, pairs[..., 1])], -1)
        options = np.stack([both, first, second])
        if self.pair_rule == "threshold":
            size = np.abs(pairs)
            beyond = size > self.normal.max() + 0.5
            first_wins = beyond[..., 0] & (size[..., 0] >= size[..., 1])
            encoding = np.where(first_wins, 1, np.where(beyond[..., 1], 2, 0))
        else:
            errors = ((options - pairs[None]) ** 2).sum(axis=-1)
            encoding = errors.argmin(axis=0)
        chosen = np.take_along_axis(options, encoding[None, ..., None], axis=0)[0]
        return chosen, encoding

    def quantize_groups(self, groups):
        if groups.shape[1] % 2:
            raise ValueError("OliVe pairs need an even group size")
        absmax = np.abs(groups).max(axis=1, keepdims=True)
        best_out = np.zeros_like(groups)
        best_err = np.full(groups.shape[0], np.inf)
        for ratio in self.scale_candidates:
            scale = fp16_scale(np.where(absmax > 0, absmax / ratio, 1.0))
            pairs = (groups / scale).reshape(groups.shape[0], -1, 2)
            deq = self.encode_pairs(pairs)[0].reshape(groups.shape) * scale
            err = ((deq - groups) ** 2).sum(axis=1)
            better = err < best_err
            best_out[better] = deq[better]
            best_err[better] = err[better]
        return best_out
