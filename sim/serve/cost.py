"""What one serving iteration costs on an architecture, from sim.simulate.

An iteration runs the batch as one token-flattened forward pass, as vLLM and
Sarathi-Serve do: the weight Einsums (QKV, output projection, FFN, norms, residuals)
over all T tokens of the batch at once; attention per request, its p new tokens against
its m = cached + p keys; the LM head over the S requests that emit a token. Each part is
a cascade from workloads.build_transformer simulated by sim.simulate, and since a
cascade's cycles and energy are sums over its Einsums (sim.result.Result), the iteration's
cost is the sum of its parts' costs: the same number simulating the whole iteration as
one cascade would give, with far fewer distinct shapes to simulate.

Memoized per part shape. With `per_octave`, a part's cost at a size between two grid points
is interpolated linearly: attention bilinearly in (new tokens, cached tokens)
(tests/test_serve.py bounds the iteration's error under 1%).
"""

from __future__ import annotations

import bisect
import re

ATTENTION = re.compile(r"^(t\d+_)?l\d+_(QK|GM|SN|SD|A|AV)$")
HEAD = re.compile(r"^(lnf.*|LOGITS)$")


Cost = tuple  # (cycles, joules, busy PE-cycles of the 2D array / its PEs): sums


def _mix(a: Cost, b: Cost, w: float) -> Cost:
    """Linear interpolation, w of the way from a to b."""
    return tuple(x + w * (y - x) for x, y in zip(a, b))


def grid_points(top: int, per_octave: int) -> list[int]:
    """1, 2, ... up to `top`: every integer to `per_octave`, then `per_octave` points
    per doubling (geometric), always including `top`."""
    points = set(range(1, min(top, per_octave) + 1))
    x = float(per_octave)
    while x < top:
        x *= 2 ** (1 / per_octave)
        points.add(min(top, round(x)))
    points.add(top)
    return sorted(points)


class CostModel:
    """Iteration costs of one model (workloads.ModelSpec) in one format on one
    architecture, mapped for `objective`. `per_octave`: None for exact costs of every
    shape; else grid points per doubling of T, of m, and of the chunk length."""

    def __init__(self, model, architecture, fmt: str = "fp16", objective: str = "latency",
                 per_octave: int | None = None, max_tokens: int = 1 << 24):
        self.model = model
        self.arch = architecture
        self.fmt = fmt
        self.objective = objective
        self.per_octave = per_octave
        self.grid = grid_points(max_tokens, per_octave) if per_octave else None
        self.hz = architecture.clock_ghz * 1e9
        self.memo: dict[tuple, Cost] = {}
        self.parts: dict = {}  # iteration()'s parts by shape, interpolated or exact
        self.templates: dict = {}  # part_cascade()'s Einsums by (kind, keys cached)
        self.decode_costs = None  # decode_steps()'s attention (1, m) by m, and filled
        self.simulated = 0  # distinct part shapes simulated

    def iteration(self, tokens: int, attention: list[tuple[int, int]],
                  rows: int) -> tuple[float, float, float]:
        """(seconds, joules, busy seconds of the 2D array) of one iteration: `tokens`
        tokens in all, each sequence's (new tokens p, keys m), `rows` emitting a token."""
        memo = self.parts
        found = memo.get(tokens)  # int keys: the dense part; (p, m) keys: attention
        if found is None:
            found = memo[tokens] = self.dense(tokens)
        cycles, joules, busy = found
        for pm in attention:
            found = memo.get(pm)
            if found is None:
                found = memo[pm] = self.attention(*pm)
            cycles += found[0]
            joules += found[1]
            busy += found[2]
        if rows:
            found = memo.get(-rows)  # negative keys: the LM head
            if found is None:
                found = memo[-rows] = self.head(rows)
            c, j, b = found
            cycles, joules, busy = cycles + c, joules + j, busy + b
        return cycles / self.hz, joules, busy / self.hz

    def decode_steps(self, kvs: list[int], steps: int):
        """iteration() of `steps` consecutive pure-decode iterations, every request
        decoding one token each: the i-th holds (1, kv + 1 + i) per request, KV lengths
        `kvs`. Numpy arrays (seconds, joules, busy seconds), each summed in iteration()'s
        order, so every element equals iteration()'s result to the last bit."""
        import numpy as np

        size = len(kvs)
        table = self._decode_table(kvs, steps)
        dense = self._memoized(size, self.dense)
        head = self._memoized(-size, self.head)
        total = np.empty((3, steps))
        total[:] = np.array(dense, dtype=float)[:, None]
        for kv in kvs:  # (cycles, joules, busy) rows at once, request by request
            total += table[:, kv + 1:kv + 1 + steps]
        total += np.array(head, dtype=float)[:, None]
        return total[0] / self.hz, total[1], total[2] / self.hz

    def _decode_table(self, kvs: list[int], steps: int):
        """Decode attention costs (1, m) by m as a (3, m) array, filled where the windows
        kv + 1 ... kv + steps need it (shapes the requests visit anyway)."""
        import numpy as np

        table, filled = self.decode_costs or (np.zeros((3, 0)), np.zeros(0, bool))
        low, top = min(kvs) + 1, max(kvs) + steps + 1
        if top <= filled.size and filled[low:top].all():
            return table  # the common case: every window filled before
        if table.shape[1] < top:
            grown = max(top, 2 * table.shape[1])
            table = np.concatenate([table, np.zeros((3, grown - table.shape[1]))], axis=1)
            filled = np.concatenate([filled, np.zeros(grown - filled.size, bool)])
        for kv in kvs:
            for m in np.flatnonzero(~filled[kv + 1:kv + 1 + steps]) + kv + 1:
                table[:, m] = self._memoized((1, int(m)), self.attention)
                filled[m] = True
        self.decode_costs = table, filled
        return table

    def _memoized(self, key, part):
        """self.parts[key], computed by part(*key) (or part(abs(key))) if missing."""
        found = self.parts.get(key)
        if found is None:
            found = self.parts[key] = part(*key) if isinstance(key, tuple) else part(abs(key))
        return found

    def dense(self, tokens: int) -> Cost:
        return self._interpolated("dense", tokens)

    def head(self, rows: int) -> Cost:
        return self._interpolated("head", rows)

    def attention(self, p: int, m: int) -> Cost:
        """p new tokens against m keys (c = m - p of them cached before). Gridded:
        bilinear in (p, c) between grid points, so every corner is a valid shape."""
        if self.grid is None:
            return self._part("attention", p, m)
        c = m - p
        lo, hi, w = self._bracket(p)
        low = self._over_cached(lo, c)
        return low if w == 0.0 else _mix(low, self._over_cached(hi, c), w)

    def _over_cached(self, p: int, c: int) -> Cost:
        if c == 0:
            return self._part("attention", p, p)
        lo, hi, w = self._bracket(c)
        low = self._part("attention", p, p + lo)
        return low if w == 0.0 else _mix(low, self._part("attention", p, p + hi), w)

    def _bracket(self, x: int) -> tuple[int, int, float]:
        grid = self.grid
        i = bisect.bisect_left(grid, x)
        if i < len(grid) and grid[i] == x:
            return x, x, 0.0
        if i >= len(grid):
            raise ValueError(f"size {x} is beyond the cost grid (max {grid[-1]})")
        lo, hi = grid[i - 1], grid[i]
        return lo, hi, (x - lo) / (hi - lo)

    def _interpolated(self, kind: str, x: int) -> Cost:
        if self.grid is None:
            return self._part(kind, x)
        lo, hi, w = self._bracket(x)
        low = self._part(kind, lo)
        return low if w == 0.0 else _mix(low, self._part(kind, hi), w)

    def _part(self, kind: str, *size: int) -> Cost:
        key = (kind, *size)
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = self._simulate(kind, *size)
            self.simulated += 1
        return found

    def _simulate(self, kind: str, *size: int) -> Cost:
        """One part on one layer (layers are identical Einsums, so the stack costs
        `layers` times one: sim.result.Result sums its Einsums), the head once."""
        from sim.simulate import simulate

        layers = 1 if kind == "head" else self.model.layers
        result = simulate(self.part_cascade(kind, *size), self.arch, objective=self.objective)
        # busy PE-cycles over the array's PEs: the cycles a full array would take
        array = self.arch.array2d.name
        busy = (sum(e.busy.get(array, 0.0) for e in result.einsums)
                / result.unit_sizes.get(array, 1))
        return (layers * result.cycles, layers * result.energy_j, layers * busy)

    def part_cascade(self, kind: str, *size: int):
        """The part's Einsums of one layer: built once per kind (and per whether keys
        are cached) by build_transformer, then resized to `size` (new tokens p, keys m):
        parsing a layer's Einsums costs more than simulating some of them."""
        from workloads import Cascade

        if kind == "attention":
            key, sizes = (kind, size[1] > size[0]), {"p": size[0], "m": size[1]}
        else:
            key, sizes = (kind, False), {"p": size[0]}
        template = self.templates.get(key)
        if template is None:
            template = self.templates[key] = self._build(*key)
        return Cascade(template.name, tuple(_resized(e, sizes) for e in template.einsums),
                       template.source, template.meta)

    def _build(self, kind: str, cached: bool):
        from workloads import Cascade, PhaseSpec, build_transformer

        phase = PhaseSpec(seq_len=2, cached=int(cached))  # any size: part_cascade resizes
        keep = {"dense": lambda n: not (ATTENTION.match(n) or HEAD.match(n)),
                "head": HEAD.match, "attention": ATTENTION.match}[kind]
        whole = build_transformer(self.model.model_copy(update={"layers": 1}), phase, 1,
                                  self.fmt)
        return Cascade(f"{whole.name}-{kind}", tuple(e for e in whole.einsums if keep(e.name)),
                       whole.source, whole.meta)


def _resized(einsum, sizes: dict[str, int]):
    """`einsum` with the ranks in `sizes` resized (its text names ranks, not sizes)."""
    from dataclasses import replace

    def ref(r):
        shape = tuple(sizes.get(rank, n) for rank, n in zip(r.ranks, r.tensor.shape))
        return replace(r, tensor=replace(r.tensor, shape=shape))
    return replace(einsum, output=ref(einsum.output), inputs=tuple(ref(r) for r in einsum.inputs))
