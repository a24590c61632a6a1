"""How hard the mapper searches, and a cache of searches already done.

Search methods for a contraction (every method prunes dominated tilings: of two tile
sizes giving the same tile count, the larger only adds padding and buffer space):

- grid (default): up to 12 log-spaced tile sizes per GEMM group, aligned to the array;
  every dataflow and loop order. `budget` shrinks the grid to fit.
- heuristic: the grid, then a finer grid around the best mapping of each dataflow, then
  a local search over the full list of tile sizes (one or two groups moved at a time)
  until nothing improves or `budget` more mappings are scored (default: 3x the grid).
- random: `budget` mappings drawn uniformly from the full map space (default 2000).
- exhaustive: the full map space (every non-dominated tile size of every group).

The cache is keyed by (Einsum signature, whole architecture, objective, keep, options),
so identical Einsum shapes reuse one search across layers, cascades and sweep points
run in the same process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

METHODS = ("grid", "heuristic", "random", "exhaustive")
CACHE_LIMIT = 20_000


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


class SearchCache:
    def __init__(self):
        self.entries: dict[tuple, tuple[list, int]] = {}
        self.hits = 0
        self.misses = 0

    def key(self, einsum, arch, objective: str, keep: int, options: SearchOptions) -> tuple:
        fingerprint = json.dumps(arch.to_dict(), sort_keys=True, default=str)
        return (einsum.signature(), fingerprint, objective, keep, options)

    def get(self, key):
        found = self.entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key, value):
        if len(self.entries) >= CACHE_LIMIT:
            self.entries.clear()  # simple bound; sweeps revisit few architectures
        self.entries[key] = value

    def clear(self):
        self.entries.clear()
        self.hits = self.misses = 0

    def info(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "entries": len(self.entries)}


CACHE = SearchCache()
