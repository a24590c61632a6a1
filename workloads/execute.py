"""A numpy executor of the IR: runs a Cascade on concrete arrays.

Each Einsum is evaluated by broadcasting its inputs over the whole iteration space,
applying the map expression, and reducing the ranks missing from the output (sum, max
or min). A recurrence (meta["iterative"], see workloads/attention.py) runs its body
one index of the iterative rank at a time, feeding each carried tensor the previous
index's value. Meant for checking cascades on small shapes, not for speed.
"""

from __future__ import annotations

import numpy as np

from workloads.ir import Cascade, Einsum, Expr

_BIN = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
        "divide": np.divide, "max": np.maximum, "min": np.minimum}
_UN = {"exp": np.exp, "neg": np.negative, "sqrt": np.sqrt, "tanh": np.tanh,
       "rsqrt": lambda x: 1.0 / np.sqrt(x), "reciprocal": lambda x: 1.0 / x,
       "relu": lambda x: np.maximum(x, 0), "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x))}
_RED = {"sum": np.sum, "max": np.max, "min": np.min}


def _align(arr: np.ndarray, ranks: tuple[str, ...], order: list[str]) -> np.ndarray:
    """arr (axes named by ranks) transposed to `order` with size-1 axes for the rest."""
    perm = sorted(range(len(ranks)), key=lambda i: order.index(ranks[i]))
    present = [ranks[i] for i in perm]
    shape = [arr.shape[ranks.index(r)] if r in present else 1 for r in order]
    return arr.transpose(perm).reshape(shape)


def _eval(expr: Expr, args: list[np.ndarray]):
    if expr.op == "ref":
        return args[expr.index]
    if expr.op == "const":
        return expr.value
    vals = [_eval(a, args) for a in expr.args]
    if expr.op in _BIN:
        return _BIN[expr.op](*vals)
    if expr.op in _UN:
        return _UN[expr.op](*vals)
    raise NotImplementedError(f"the executor has no '{expr.op}'")


def run_einsum(e: Einsum, env: dict[str, np.ndarray]) -> np.ndarray:
    order = list(e.rank_sizes)  # output ranks first
    arrays = [env[r.tensor.name] for r in e.inputs]
    if e.is_contraction:
        letters = {r: chr(ord("a") + i) for i, r in enumerate(order)}
        spec = ",".join("".join(letters[x] for x in r.ranks) for r in e.inputs)
        return np.einsum(f"{spec}->{''.join(letters[x] for x in e.output.ranks)}", *arrays)
    args = [_align(a, r.ranks, order) for a, r in zip(arrays, e.inputs)]
    val = np.asarray(_eval(e.expr, args), dtype=np.float64)
    full = [max(a.shape[i] for a in args) for i in range(len(order))]
    val = np.broadcast_to(val, full)
    n_out = len(e.output.ranks)
    if e.reduced_ranks:
        val = _RED[e.reduce](val, axis=tuple(range(n_out, len(order))))
    return np.ascontiguousarray(val)


def execute(cascade: Cascade, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every tensor of the cascade, computed from `inputs` (the cascade's input arrays;
    the loop-carried tensors of a recurrence need not be given)."""
    env = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    it = cascade.meta.get("iterative")
    if not it:
        for e in cascade.einsums:
            env[e.output.tensor.name] = run_einsum(e, env)
        return env
    rank = it["rank"]
    carry = {k: (src, float(init)) for k, (src, init) in it["carry"].items()}
    body = [e for e in cascade.einsums if rank in e.output.ranks]
    after = [e for e in cascade.einsums if rank not in e.output.ranks]
    n = next(e.rank_sizes[rank] for e in body)
    tensors = cascade.tensors

    def index_of(name):
        ref = next(r for e in cascade.einsums for r in (e.output, *e.inputs)
                   if r.tensor.name == name)
        return ref.ranks.index(rank) if rank in ref.ranks else None

    axis = {name: index_of(name) for name in tensors}
    full = {e.output.tensor.name: np.zeros(e.output.tensor.shape) for e in body}
    for i in range(n):
        local = {}
        for name, arr in env.items():
            ax = axis.get(name)
            local[name] = arr if ax is None else np.take(arr, [i], axis=ax)
        for key, (src, init) in carry.items():
            shape = list(tensors[key].shape)
            shape[axis[key]] = 1
            local[key] = (np.full(shape, init) if i == 0
                          else np.take(full[src], [i - 1], axis=axis[src]))
        for e in body:
            out = run_einsum(e, local)
            local[e.output.tensor.name] = out
            idx = [slice(None)] * out.ndim
            idx[axis[e.output.tensor.name]] = slice(i, i + 1)
            full[e.output.tensor.name][tuple(idx)] = out
    env.update(full)
    for fin, src in it.get("final", {}).items():
        env[fin] = np.take(full[src], -1, axis=axis[src])
    for e in after:
        env[e.output.tensor.name] = run_einsum(e, env)
    return env


def attention_reference(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """softmax(Q K^T) V over the last two axes, written directly (no cascade)."""
    s = q @ np.swapaxes(k, -1, -2)
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    return (s / s.sum(axis=-1, keepdims=True)) @ v
