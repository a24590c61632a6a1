"""How hard the mapper searches, and a cache of searches already done.

Search methods for a contraction (each defines its map space; the simulator returns the
best of it, proven by the mapper's lower bounds, see Ranked):

- grid (default): up to 12 log-spaced tile sizes per GEMM group, aligned to the array,
  and the balanced splits into 2 to 4 tiles (of sizes giving the same tile count, the
  smallest and the smallest whole number of folds); every dataflow and loop order.
  `budget` shrinks the grid to fit.
Every method searches the whole array and its sub-arrays (sim.simulate.best_mapping).
- heuristic: the grid, then a finer grid around the best mapping of each dataflow, then
  a local search over the full list of tile sizes (one or two groups moved at a time)
  until nothing improves or `budget` more mappings are scored (default: 3x the grid).
- random: `budget` mappings drawn uniformly from the full map space (default 2000).
- exhaustive: the full map space (per group, every tile count's smallest tile, every
  multiple of an array side and every power of two), which holds every other method's.

The cache is keyed by (Einsum signature, whole architecture, objective, keep, options),
so identical Einsum shapes reuse one search across layers, cascades and sweep points
run in the same process.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

METHODS = ("grid", "heuristic", "random", "exhaustive")
CACHE_LIMIT = 20_000
LEAST_CYCLES_PER_KEY = 8  # buffer sizes whose least-cycles sets one search key keeps
# shared search parts (a GEMM grid's terms, loop orders' too: up to ~3 MB on GPT-2); the
# points of gpt2_dse.yaml on one array use 24 (prefill, 16x16) to 436 (decode, 256x256)
SHARED_LIMIT = 512


@dataclass(frozen=True)
class SearchOptions:
    method: str = "grid"
    budget: int | None = None   # most mappings to score (None: the method's default)
    seed: int = 0               # for 'random'

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown search method '{self.method}' (known: {', '.join(METHODS)})")
        if self.budget is not None and self.budget < 1:
            raise ValueError("search budget must be a positive number of mappings")


# Lower bounds on the key sim.simulate.OBJECTIVE_KEYS ranks exact results by, from
# bounds on (cycles, joules): a result's key is at least its bound's, element by element.
OBJECTIVE_BOUNDS: dict[str, Callable] = {
    "latency": lambda cycles, energy: (cycles, energy),
    "energy": lambda cycles, energy: (energy, cycles),
    "edp": lambda cycles, energy: (cycles * energy,),
}


# The mappers' energy bounds are taken this much below their value (exact counts, whose
# float sum may differ from the engines' in the last bits), so they are never above it.
BOUND_SLACK = 1e-9
# Keys whose last part is the energy: a bound with that slack given back. A result at
# most this is settled: whatever follows costs at least as much, but for float rounding
# (without it, every candidate exactly as good as the best is simulated).
OBJECTIVE_SETTLED: dict[str, Callable] = {
    "latency": lambda key: (key[0], key[1] / (1 - BOUND_SLACK)),
}
# A latency result is settled by a bound of more cycles only: so a search runs on until
# every mapping of its least cycles is simulated (sim.simulate._least_cycles).
LEAST_CYCLES_SETTLED = lambda key: (key[0], -math.inf)  # noqa: E731
# Methods whose map space depends on neither prices nor the buffer's capacity (which
# only filters what fits): a search by them at a larger buffer answers a smaller one.
CAPACITY_FREE_METHODS = ("grid", "exhaustive", "random")


def leak_pj_per_cycle(arch) -> float:
    """Static energy per cycle the simulator adds to every Einsum (sim.energy.Actions.
    leakage); 0 for an architecture without leak powers."""
    if not getattr(arch, "leakage", False):
        return 0.0
    return sum(getattr(c, "leak_mw", 0.0) for c in arch.components) / arch.clock_ghz


class Ranked:
    """Candidate mappings of one Einsum in ascending order of a lower bound on the
    objective key (ties: the order they were scored in). Iterating yields (bound,
    mapping); the simulator stops once its best exact key is at most the next bound,
    since every later candidate's exact key is at least its own bound.

    Built from lower bounds on (cycles, joules) per candidate and `key`, which maps
    them to the bound on the objective's key (OBJECTIVE_BOUNDS). With `refine`, each
    entry is a group of candidates (a GEMM tiling under every loop order) and its
    bounds are at most every member's: refine(indices) returns the members' own
    (cycles, joules, a function giving the mapping of each), computed only for entries
    whose bound comes up."""

    FIRST = 64  # candidates ordered in the first pass; each further pass 8x more

    def __init__(self, cycles, energy, mapping: Callable[[int], object] | None, scored: int,
                 key: Callable = OBJECTIVE_BOUNDS["latency"],
                 refine: Callable[[np.ndarray], tuple] | None = None):
        self.cycles = np.asarray(cycles, dtype=float)
        self.energy = np.asarray(energy, dtype=float)
        self.mapping = mapping
        self.scored = scored
        self.key = key
        self.refine = refine

    def keyed(self, key: Callable) -> "Ranked":
        """The same candidates ranked by another key of (cycles, joules) bounds."""
        return Ranked(self.cycles, self.energy, self.mapping, self.scored, key, self.refine)

    def __len__(self) -> int:
        return len(self.cycles)

    def least(self) -> tuple[float, ...] | None:
        """The least bound of all (at most every candidate's; None: no candidate), found
        without refining an entry."""
        if not len(self.cycles):
            return None
        bounds = [np.asarray(b, dtype=float) for b in self.key(self.cycles, self.energy)]
        first = np.lexsort(bounds[::-1])[0]
        return tuple(float(b[first]) for b in bounds)

    def __iter__(self) -> Iterator[tuple[tuple[float, ...], object]]:
        seen = set()  # a search may score a tiling twice
        items = self._refined() if self.refine else self._direct()
        for bound, m in items:
            if m not in seen:
                seen.add(m)
                yield bound, m

    def _direct(self):
        bounds = tuple(np.asarray(b, dtype=float) for b in self.key(self.cycles, self.energy))
        for i, bound in _ascending(bounds):
            yield bound, self.mapping(i)

    def _refined(self):
        """Entries in order of their bound; an entry's members are refined in batches
        (numpy's cost being per call), each batch sorted by bound, and a member leaves
        once every entry not yet refined has a bound at least its own. The batches
        merge on a heap of their heads, ties in the order the members were refined."""
        bounds = tuple(np.asarray(b, dtype=float) for b in self.key(self.cycles, self.energy))
        heap, batch, size, refined = [], [], 32, [0]  # heap: (bound, member #, place, run)

        def push(batch):
            cycles, energy, mapping = self.refine(np.array(batch))
            keys = [np.asarray(k, dtype=float) for k in self.key(cycles, energy)]
            if not keys[0].size:
                return
            order = np.lexsort(keys[::-1])  # stable: equal bounds in member order
            run = (list(zip(*(k[order].tolist() for k in keys))), order.tolist(), mapping,
                   refined[0])
            refined[0] += len(order)
            heapq.heappush(heap, (run[0][0], run[3] + run[1][0], 0, run))

        def pop():
            bound, _, pos, run = heapq.heappop(heap)
            if pos + 1 < len(run[1]):
                heapq.heappush(heap, (run[0][pos + 1], run[3] + run[1][pos + 1], pos + 1, run))
            return bound, run[2](run[1][pos])

        for i, nxt in _ascending(bounds):
            if heap and heap[0][0] <= nxt:
                if batch:
                    push(batch)
                    batch = []
                while heap and heap[0][0] <= nxt:
                    yield pop()
            batch.append(i)
            if len(batch) >= size:
                push(batch)
                batch, size = [], min(4 * size, 4096)
        if batch:
            push(batch)
        while heap:
            yield pop()


def _ascending(bounds: tuple[np.ndarray, ...]) -> Iterator[tuple[int, tuple[float, ...]]]:
    """(index, bound) in ascending lexicographic order of `bounds`, sorted in passes (the
    first FIRST, then 8x more each time) since a search usually stops early."""
    primary = bounds[0]
    n, done, k = len(primary), 0, Ranked.FIRST
    while done < n:
        if k >= n:
            chosen = np.arange(n)
        else:  # every candidate whose primary bound is within the k smallest
            chosen = np.flatnonzero(primary <= np.partition(primary, k - 1)[k - 1])
        chosen = chosen[np.lexsort([b[chosen] for b in reversed(bounds)])]
        new = chosen[done:]
        yield from zip(new.tolist(), zip(*(b[new].tolist() for b in bounds)))
        done, k = len(chosen), k * 8


class SearchCache:
    def __init__(self):
        self.entries: dict[tuple, tuple[list, int]] = {}
        self.parts: dict[tuple, object] = {}
        # timing key -> the least-cycles sets found, one per buffer capacity searched
        self.least_cycles: dict[tuple, list] = {}
        self.scoped: set[tuple] = set()  # keys of entries that used or made them
        self.hits = 0
        self.misses = 0

    def key(self, einsum, arch, objective: str, keep: int, options: SearchOptions,
            reads: tuple[str, ...] | None = None) -> tuple:
        """`reads`: the roles of the architecture the search depends on (with its
        top-level fields and total leak power); None: all of it."""
        return (einsum.signature(), _derived(arch, ("search", reads), _fingerprint),
                objective, keep, options)

    def timing_key(self, einsum, arch, options: SearchOptions, reads: tuple[str, ...]) -> tuple:
        """What the cycles of every mapping in a search's map space depend on: the
        architecture's top-level fields and the roles `reads` as validated (so with what
        a cost model filled), less every cost field and the buffer's capacity (which
        decides only what fits)."""
        return (einsum.signature(), _derived(arch, ("timing", reads), _timing_fingerprint),
                options)

    def least_cycles_of(self, key) -> list:
        return self.least_cycles.get(key, [])

    def remember_least_cycles(self, key, found):
        if len(self.least_cycles) >= CACHE_LIMIT:
            self.least_cycles.clear()
        kept = self.least_cycles.setdefault(key, [])
        kept.append(found)
        del kept[:-LEAST_CYCLES_PER_KEY]  # the latest few buffers searched

    def forget_shared(self):
        """Forget the searches that buffer sizes share (sim.simulate._least_cycles) and
        every entry that used or made them: whether a search was shared shows in its
        count of mappings scored, so a sweep's chunk starts without them and its records
        do not depend on what its worker ran before."""
        for key in self.scoped:
            self.entries.pop(key, None)
        self.scoped.clear()
        self.least_cycles.clear()

    def get(self, key):
        found = self.entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key, value, scoped: bool = False):
        """`scoped`: made by a search buffer sizes share (forget_shared)."""
        if len(self.entries) >= CACHE_LIMIT:
            self.entries.clear()  # simple bound; sweeps revisit few architectures
        self.entries[key] = value
        if scoped:
            self.scoped.add(key)

    def shared(self, key, compute):
        """compute(), remembered under `key` until clear() or until SHARED_LIMIT parts
        used since are remembered: parts of searches that architectures differing
        elsewhere share (mapper.gemm's grid terms)."""
        found = self.parts.pop(key, None)
        if found is None:
            found = compute()
            if len(self.parts) >= SHARED_LIMIT:
                del self.parts[next(iter(self.parts))]  # the least recently used
        self.parts[key] = found
        return found

    def clear(self):
        self.entries.clear()
        self.parts.clear()
        self.least_cycles.clear()
        self.scoped.clear()
        self.hits = self.misses = 0

    def info(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "entries": len(self.entries)}


def _derived(arch, key: tuple, compute):
    """compute(arch, reads), remembered on the architecture (arch.memo)."""
    memo = arch.memo()
    found = memo.get(key)
    if found is None:
        found = memo[key] = compute(arch, key[1])
    return found


def _fingerprint(arch, reads: tuple[str, ...] | None) -> str:
    spec = arch.to_dict()
    if reads is not None:
        # drop the roles the engine does not read; keep every component that fills
        # no role (a pe_storage, say: the door prices it into the result)
        unread = {getattr(arch, role).name for role in arch.ROLES if role not in reads}
        spec["components"] = [c for c in spec["components"] if c["name"] not in unread]
        spec["leak_pj_per_cycle"] = leak_pj_per_cycle(arch)
        spec.pop("name", None)
        spec.pop("description", None)
    return json.dumps(spec, sort_keys=True, default=str)


def _timing_fingerprint(arch, reads: tuple[str, ...]) -> str:
    from arch.components import is_cost_field

    spec = arch.model_dump(exclude={"file", "components", "name", "description"})
    for role in reads:
        part = getattr(arch, role).model_dump(by_alias=True, exclude={"source", "model"})
        spec[role] = {k: v for k, v in part.items() if not is_cost_field(k)
                      and not (role == "buffer" and k == "capacity_kib")}
    return json.dumps(spec, sort_keys=True, default=str)


CACHE = SearchCache()
