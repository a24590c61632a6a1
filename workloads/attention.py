"""Attention as Einsum cascades (FuseMax, Nayak et al. MICRO 2024, Sec. 3-4) and the
pass analysis over the key/value rank.

Cascades (all compute softmax(Q K^T) V without the 1/sqrt(E) scale):
- three_pass: QK, global max GM, SN = exp(QK - GM), SD = sum SN, A = SN / SD, AV = A V.
- two_pass_deferred: divides after the V product (SNV = sum SN V; AV = SNV / SD).
- two_pass_tiled: M = M1 x M0; local max/sum per M1 tile, then a global max and a
  correction factor per tile, applied in a second pass (TileFlow-style).
- one_pass: M = M1 x M0 with M1 an iterative rank: running max RM, running
  denominator RD and running numerator RNV, corrected by PRM = exp(RM_in - RM) at every
  tile (online softmax; the cascade FuseMax runs).

The IR has no index arithmetic, so a recurrence over M1 is written with loop-carried
tensors: `meta["iterative"] = {"rank": "m1", "carry": {"RM_in": ["RM", init]},
"final": {"RM_end": "RM"}}` means RM_in[.., m1] = RM[.., m1 - 1] (init at m1 = 0) and
RM_end = RM at the last m1. workloads/execute.py runs it; passes() reads it.

Passes (paper Sec. 4): a pass is one traversal of every element of the M fiber. An
Einsum that needs a value depending on the whole fiber (e.g. the global max) before it
can consume elements of the fiber starts a new pass. passes() computes the count; it
is a lower bound on the traversals any mapping of that cascade makes (each extra pass
costs either an on-chip buffer holding the fiber or re-reading it from DRAM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workloads.builder import CascadeBuilder
from workloads.ir import Cascade

ELEMENT_RANKS = ("m", "m0")   # ranks that index single elements of the K/V fiber
TILE_RANK = "m1"              # the tile rank of a partitioned fiber
M_RANKS = ELEMENT_RANKS + (TILE_RANK,)


def _ranks(b: int, h: int, p: int, m: int, e: int, m0: int | None = None) -> dict[str, int]:
    r = {"b": b, "h": h, "p": p, "e": e, "f": e}
    if m0 is None:
        r["m"] = m
    else:
        if m % m0:
            raise ValueError(f"M={m} is not a multiple of the tile M0={m0}")
        r.update(m1=m // m0, m0=m0)
    return r


def _add_global_softmax_statistics(c: CascadeBuilder) -> None:
    """Scores, their global max, the shifted exponentials and their sum: the first two
    passes of the 3-pass and deferred-division cascades."""
    c.add("QK[b,h,p,m] = Q[b,h,p,e] * K[b,h,m,e]")
    c.add("GM[b,h,p] = QK[b,h,p,m]", reduce="max")
    c.add("SN[b,h,p,m] = exp(QK[b,h,p,m] - GM[b,h,p])")
    c.add("SD[b,h,p] = SN[b,h,p,m]")


def three_pass(b=1, h=1, p=64, m=64, e=16) -> Cascade:
    c = CascadeBuilder("attention-3pass", _ranks(b, h, p, m, e))
    _add_global_softmax_statistics(c)
    c.add("A[b,h,p,m] = SN[b,h,p,m] / SD[b,h,p]")
    c.add("AV[b,h,p,f] = A[b,h,p,m] * V[b,h,m,f]")
    return c.build({"variant": "three_pass"})


def two_pass_deferred(b=1, h=1, p=64, m=64, e=16) -> Cascade:
    c = CascadeBuilder("attention-2pass-deferred", _ranks(b, h, p, m, e))
    _add_global_softmax_statistics(c)
    c.add("SNV[b,h,p,f] = SN[b,h,p,m] * V[b,h,m,f]")
    c.add("AV[b,h,p,f] = SNV[b,h,p,f] / SD[b,h,p]")
    return c.build({"variant": "two_pass_deferred"})


def two_pass_tiled(b=1, h=1, p=64, m=64, e=16, m0=16) -> Cascade:
    c = CascadeBuilder("attention-2pass-tiled", _ranks(b, h, p, m, e, m0))
    c.add("BQK[b,h,p,m1,m0] = Q[b,h,p,e] * BK[b,h,m1,m0,e]")
    c.add("LM[b,h,p,m1] = BQK[b,h,p,m1,m0]", reduce="max")
    c.add("SLN[b,h,p,m1,m0] = exp(BQK[b,h,p,m1,m0] - LM[b,h,p,m1])")
    c.add("SLD[b,h,p,m1] = SLN[b,h,p,m1,m0]")
    c.add("GM[b,h,p] = LM[b,h,p,m1]", reduce="max")
    c.add("CF[b,h,p,m1] = exp(LM[b,h,p,m1] - GM[b,h,p])")
    c.add("SD[b,h,p] = SLD[b,h,p,m1] * CF[b,h,p,m1]")
    c.add("A[b,h,p,m1,m0] = SLN[b,h,p,m1,m0] * CF[b,h,p,m1] / SD[b,h,p]")
    c.add("AV[b,h,p,f] = A[b,h,p,m1,m0] * BV[b,h,m1,m0,f]")
    return c.build({"variant": "two_pass_tiled"})


ONE_PASS_EINSUMS = (  # (text, reduce, the array role FuseMax binds it to: Sec. 5)
    ("BQK[b,h,p,m1,m0] = Q[b,h,p,e] * BK[b,h,m1,m0,e]", None, "array2d"),
    ("LM[b,h,p,m1] = BQK[b,h,p,m1,m0]", "max", "array2d"),
    ("RM[b,h,p,m1] = max(RM_in[b,h,p,m1], LM[b,h,p,m1])", None, "array1d"),
    ("SLN[b,h,p,m1,m0] = exp(BQK[b,h,p,m1,m0] - RM[b,h,p,m1])", None, "array2d"),
    ("SLD[b,h,p,m1] = SLN[b,h,p,m1,m0]", None, "array2d"),
    ("SLNV[b,h,p,m1,f] = SLN[b,h,p,m1,m0] * BV[b,h,m1,m0,f]", None, "array2d"),
    ("PRM[b,h,p,m1] = exp(RM_in[b,h,p,m1] - RM[b,h,p,m1])", None, "array1d"),
    ("SPD[b,h,p,m1] = RD_in[b,h,p,m1] * PRM[b,h,p,m1]", None, "array1d"),
    ("RD[b,h,p,m1] = SLD[b,h,p,m1] + SPD[b,h,p,m1]", None, "array1d"),
    ("SPNV[b,h,p,m1,f] = RNV_in[b,h,p,m1,f] * PRM[b,h,p,m1]", None, "array1d"),
    ("RNV[b,h,p,m1,f] = SLNV[b,h,p,m1,f] + SPNV[b,h,p,m1,f]", None, "array1d"),
    ("AV[b,h,p,f] = RNV_end[b,h,p,f] / RD_end[b,h,p]", None, "array1d"),
)
ONE_PASS_ITERATIVE = {
    "rank": "m1",
    "carry": {"RM_in": ["RM", "-inf"], "RD_in": ["RD", 0.0], "RNV_in": ["RNV", 0.0]},
    "final": {"RD_end": "RD", "RNV_end": "RNV"},
}


def one_pass(b=1, h=1, p=64, m=64, e=16, m0=16) -> Cascade:
    c = CascadeBuilder("attention-1pass", _ranks(b, h, p, m, e, m0))
    binding = {}
    for text, reduce, unit in ONE_PASS_EINSUMS:
        binding[c.add(text, reduce=reduce).name] = unit
    return c.build({"variant": "one_pass", "iterative": ONE_PASS_ITERATIVE,
                    "fusemax_binding": binding})


BUILDERS = {"three_pass": three_pass, "two_pass_deferred": two_pass_deferred,
            "two_pass_tiled": two_pass_tiled, "one_pass": one_pass}
VARIANTS = tuple(BUILDERS)


def build(variant: str, **dims) -> Cascade:
    if variant not in BUILDERS:
        raise ValueError(f"unknown attention variant {variant!r} (known: {', '.join(VARIANTS)})")
    return BUILDERS[variant](**dims)


# ---------------------------------------------------------------- pass analysis

@dataclass(frozen=True)
class PassAnalysis:
    passes: int                  # traversals of the K/V fiber this cascade needs
    per_einsum: dict[str, int]   # element-level Einsum -> the pass it runs in
    lower_bound: int = 1         # every K/V element must be read at least once

    def __str__(self):
        return (f"{self.passes} pass(es) over M (lower bound for any attention cascade: "
                f"{self.lower_bound})")


def passes(cascade: Cascade) -> PassAnalysis:
    """The number of passes over the K/V rank M (m, or m1 x m0) the cascade requires.

    Times are counted in half passes: t = k means "streams during pass k", t = k + 0.5
    means "complete once pass k ends". An Einsum that iterates an element rank runs in
    pass ceil(max input t) (at least 1); an output keeping an M rank streams with it,
    one without M ranks is complete after the pass. An Einsum iterating only the tile
    rank m1 runs between passes; reducing m1 over streaming inputs completes it after
    the pass.
    """
    it = cascade.meta.get("iterative") or {}
    carried = set(it.get("carry", {}))
    finals = dict(it.get("final", {}))
    t: dict[str, float] = {name: 0.5 for name in cascade.tensors}
    per: dict[str, int] = {}
    for e in cascade.einsums:
        ranks = set(e.rank_sizes)
        out_m = set(e.output.ranks) & set(M_RANKS)
        t_in = max([t[r.tensor.name] for r in e.inputs if r.tensor.name not in carried]
                   + [0.5])
        if ranks & set(ELEMENT_RANKS):
            k = max(1, math.ceil(t_in))
            per[e.name] = k
            t_out = float(k) if out_m else k + 0.5
        elif TILE_RANK in ranks and TILE_RANK not in out_m and t_in == int(t_in):
            t_out = t_in + 0.5
        else:
            t_out = t_in
        t[e.output.tensor.name] = t_out
        for fin, src in finals.items():
            if src == e.output.tensor.name:
                t[fin] = math.floor(t_out) + 0.5
    # Einsums reading the final values of a recurrence ran after it: recompute them.
    if finals:
        for e in cascade.einsums:
            if any(r.tensor.name in finals for r in e.inputs):
                t_in = max(t[r.tensor.name] for r in e.inputs)
                t[e.output.tensor.name] = t_in
    return PassAnalysis(max(per.values(), default=0), per)
