"""Fusion as a mapper choice: find the attention groups of a cascade (QK, its row max,
exp, row sum, divide, AV: the 3-pass softmax between two contractions, as
workloads/transformer.py and workloads/attention.py write it) and, on an architecture
listing fused-group strategies (`fusion:` in its YAML), run each group by every listed
strategy as well as Einsum by Einsum, keeping for each group what the objective prefers.

A fused strategy runs the group as one step on the 2D and 1D arrays (sim/fused.py):
'fusemax' as its 1-pass cascade (the same result, softmax(QK)V), 'flat' as the 3-pass
one. Grouped-query attention is run with K and V per query head (its K/V traffic is
counted per query head: an upper bound for the fused group). A strategy that would pad
a ragged tile (e.g. FuseMax with keys not a multiple of the array's columns) is not
considered. The softmax's scale multiply (exp((QK - max) * s)) is not charged in the
fused run (one multiply per score on the array doing exp).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from yamlspec import SpecError
from arch import Architecture
from sim.registry import GROUP_STRATEGIES
from sim.result import Result
from workloads import attention


def _one_pass(b, h, p, m, e):
    return attention.one_pass(b=b, h=h, p=p, m=m, e=e, m0=m)  # the strategy tiles M itself


# the cascade each group strategy runs (the group's result either way)
RUN = {"fusemax": _one_pass, "fusemax-cascade": _one_pass, "fusemax-architecture": _one_pass,
       "flat": attention.three_pass}
OBJECTIVE = {"latency": lambda c, e: (c, e), "energy": lambda c, e: (e, c),
             "edp": lambda c, e: (c * e,)}


def _out(e) -> str:
    return e.output.tensor.name


def _ins(e) -> set[str]:
    return {r.tensor.name for r in e.inputs}


def attention_groups(cascade) -> list[int]:
    """Start indices of QK, GM (max), SN (exp), SD (sum), A, AV runs in the cascade."""
    ein = cascade.einsums
    found = []
    for i in range(len(ein) - 5):
        qk, gm, sn, sd, a, av = ein[i:i + 6]
        if (qk.is_contraction and len(qk.output.tensor.shape) >= 4
                and gm.reduce == "max" and _ins(gm) == {_out(qk)}
                and "exp" in sn.vector_ops and _ins(sn) == {_out(qk), _out(gm)}
                and sd.reduce == "sum" and _ins(sd) == {_out(sn)}
                and _ins(a) == {_out(sn), _out(sd)} and "divide" in a.vector_ops
                and av.is_contraction and _out(a) in _ins(av)):
            found.append(i)
    return found


def _shape(qk) -> dict:
    """QK[b, heads.., p, m]: grouped-query ranks (KV head, group) count as heads."""
    b, *heads, p, m = qk.output.tensor.shape
    h = math.prod(heads)
    return {"b": b, "h": h, "p": p, "m": m, "e": qk.macs // (b * h * p * m)}


def choose(result: Result, cascade, arch: Architecture, objective: str,
           fixed: set[str]) -> Result:
    """`result` (the cascade Einsum by Einsum) with each attention group none of whose
    Einsums has a given mapping (`fixed`) replaced by the best fused run, if better."""
    unknown = [s for s in arch.fusion if s not in RUN]
    if unknown:
        raise SpecError(f"architecture '{arch.name}' lists fusion strategies {unknown} that "
                        f"attention groups cannot use (known: {', '.join(RUN)})",
                        arch.file or None, "architecture.fusion")
    rank = OBJECTIVE[objective]
    rows = list(result.einsums)
    groups = []
    for i in reversed(attention_groups(cascade)):
        names = [e.name for e in cascade.einsums[i:i + 6]]
        if fixed & set(names):
            continue
        part = rows[i:i + 6]
        best = rank(sum(r.cycles for r in part), sum(r.energy_j for r in part))
        choice = None
        macs = sum(r.macs for r in part)
        for strategy in arch.fusion:
            group = RUN[strategy](**_shape(cascade.einsums[i]))
            fused = GROUP_STRATEGIES.get(strategy)(group, arch, None).einsums[0]
            key = rank(fused.cycles, fused.energy_j)
            # a strategy padding a ragged tile (keys not a multiple of the array's
            # columns) would do more MACs than the group: not a valid run of it
            if fused.macs == macs and key < best:
                best, choice = key, (strategy, fused)
        if choice is not None:
            strategy, fused = choice
            # keep the layer prefix (l3_...) so per-layer tables sum it like its Einsums
            prefix = re.match(r"^(t\d+_)?(l\d+_)?", names[0]).group(0)
            first, last = (n[len(prefix):] for n in (names[0], names[-1]))
            name = f"{prefix}fused:{strategy}({first}..{last})"
            rows[i:i + 6] = [replace(fused, name=name)]
            groups.append(name)
    meta = {**result.meta, "fused_groups": list(reversed(groups))}
    return replace(result, einsums=rows, meta=meta)
