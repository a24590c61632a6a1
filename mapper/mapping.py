"""Mappings: how one Einsum is laid onto the hardware. Plain objects, printable, YAML.

- GemmMapping (a contraction on the 2D array): the dataflow, which GEMM group runs
  along the array rows, the tile of each group (B, M, N, K) held in the global buffer,
  the order of the tile loops (outermost first) and, optionally, the rows x columns of
  the array its folds use (a sub-array at the corner the operands enter and the
  results leave, timed as an array of that size: sim/array2d.py).
- VectorMapping (other Einsums on the 1D unit): output points per buffered chunk.
- HierarchyMapping (a contraction on a memory hierarchy, arch/hierarchy.py): per memory
  level, the operands it keeps, the rank split over its copies, its tile and loop order.
- FusedStep (an Einsum of a fused block on a hierarchy): the block, its split, and the
  mapping of one piece.
Each has a `role`: which part of the architecture it targets (`array2d`, `array1d`),
whatever that component's class and name (a result's `unit` is the component's name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from yamlspec import SpecError, read_yaml
from yamlspec.limits import MAX_RANK

GROUPS = ("B", "M", "N", "K")
# (temporal group, rows group, cols group) of each dataflow; os may put N on rows.
DATAFLOW_DIMS = {
    ("os", "M"): ("K", "M", "N"),
    ("os", "N"): ("K", "N", "M"),
    ("ws", "K"): ("M", "K", "N"),
    ("is", "K"): ("N", "K", "M"),
}
# Operands fed to the array each step: os (row operand, column operand);
# ws/is (streamed operand, stationary operand). A is [B,M,K], W is [B,K,N].
FEED_OPERANDS = {
    ("os", "M"): ("A", "W"),
    ("os", "N"): ("W", "A"),
    ("ws", "K"): ("A", "W"),
    ("is", "K"): ("W", "A"),
}


@dataclass(frozen=True)
class GemmMapping:
    dataflow: str
    rows: str
    tiles: tuple[tuple[str, int], ...]  # ((group, tile size), ...) in B, M, N, K order
    loop_order: tuple[str, ...]         # outermost first, a permutation of B, M, N, K
    array: tuple[int, int] | None = None  # rows, cols of the sub-array used; None: all
    role: ClassVar[str] = "array2d"     # runs on the architecture's 2D array
    source: str = field(default="", compare=False, repr=False)  # mapping file, for errors

    def tile(self, group: str) -> int:
        return dict(self.tiles)[group]

    @property
    def dims(self) -> tuple[str, str, str]:
        """(temporal, rows, cols) GEMM groups."""
        return DATAFLOW_DIMS[(self.dataflow, self.rows)]

    def describe(self) -> str:
        tiles = " ".join(f"{g}{s}" for g, s in self.tiles)
        on = f" on {self.array[0]}x{self.array[1]}" if self.array else ""
        return (f"{self.dataflow}(rows={self.rows}){on} tiles[{tiles}] order "
                f"{''.join(self.loop_order)}")

    def to_dict(self) -> dict:
        out = {"role": self.role, "dataflow": self.dataflow, "rows": self.rows,
               "tiles": dict(self.tiles), "loop_order": "".join(self.loop_order)}
        if self.array:
            out["array"] = list(self.array)
        return out


@dataclass(frozen=True)
class VectorMapping:
    chunk_points: int   # output points per chunk staged through the buffer
    role: ClassVar[str] = "array1d"  # runs on the architecture's 1D unit
    source: str = field(default="", compare=False, repr=False)  # mapping file, for errors

    def describe(self) -> str:
        return f"vector chunk {self.chunk_points}"

    def to_dict(self) -> dict:
        return {"chunk_points": self.chunk_points, "role": self.role}


# Operand roles as architectures name them -> operands of GemmProblem
ROLE_OPERAND = {"input": "A", "weight": "W", "output": "O"}
OPERAND_ROLE = {v: k for k, v in ROLE_OPERAND.items()}


@dataclass(frozen=True)
class LevelMapping:
    memory: str
    keep: tuple[str, ...]             # operands kept here (A, W, O)
    tiles: tuple[int, int, int, int]  # B, M, N, K held by one copy
    order: str                        # loops over the tiles, outermost first; a group
    #                                   may be stepped by more than one loop
    spatial: str | None = None        # group split over this level's instances
    # per kept operand, how many of this level's loops (`order`, outermost first) lie
    # above where it is stored: it holds all the loops below step through (AccelForge
    # places each tensor's storage node so). None: below all of them.
    depths: tuple[int, ...] | None = None
    # the tile each loop of `order` steps in, when a group has more than one loop (the
    # outer steps a larger tile the inner ones split); None: each group's `tiles`
    loop_tiles: tuple[int, ...] | None = None

    def tile(self, group: str) -> int:
        return self.tiles[GROUPS.index(group)]


@dataclass(frozen=True)
class HierarchyMapping:
    dataflow: str
    levels: tuple[LevelMapping, ...]
    role: ClassVar[str] = "hierarchy"
    source: str = field(default="", compare=False, repr=False)

    def describe(self) -> str:
        parts = []
        for lv in self.levels:
            keep = ",".join(OPERAND_ROLE[o] for o in lv.keep) or "bypass"
            split = f" split {lv.spatial}" if lv.spatial else ""
            tiles = " ".join(f"{g}{s}" for g, s in zip(GROUPS, lv.tiles))
            depth = "" if lv.depths is None else " depths " + ",".join(map(str, lv.depths))
            loops = ("" if lv.loop_tiles is None else
                     " loops " + " ".join(f"{g}{t}" for g, t in zip(lv.order, lv.loop_tiles)))
            parts.append(f"{lv.memory}[{keep}{split}; {tiles}; {lv.order}{depth}{loops}]")
        return f"{self.dataflow} " + " ".join(parts)

    def to_dict(self) -> dict:
        return {"role": self.role, "dataflow": self.dataflow, "levels": [
            {"memory": lv.memory, "keep": [OPERAND_ROLE[o] for o in lv.keep],
             "tiles": dict(zip(GROUPS, lv.tiles)), "order": lv.order,
             **({"spatial": lv.spatial} if lv.spatial else {}),
             **({"depths": {OPERAND_ROLE[o]: d for o, d in zip(lv.keep, lv.depths)}}
                if lv.depths is not None else {}),
             **({"loop_tiles": list(lv.loop_tiles)} if lv.loop_tiles is not None else {})}
            for lv in self.levels]}


def hierarchy_mapping_from_dict(data: dict, file: str | None = None, where: str = ""
                                ) -> HierarchyMapping:
    """Parse a mapping written by HierarchyMapping.to_dict."""
    _known_keys(data, {"role", "dataflow", "levels"}, file, where)
    if data.get("dataflow") not in ("os", "ws", "is"):
        raise SpecError("dataflow must be one of os, ws, is", file, f"{where}.dataflow")
    levels = data.get("levels")
    if not isinstance(levels, list) or not levels:
        raise SpecError("levels must be a non-empty list", file, f"{where}.levels")
    out = []
    for i, lv in enumerate(levels):
        at = f"{where}.levels[{i}]"
        if not isinstance(lv, dict):
            raise SpecError("expected a mapping", file, at)
        _known_keys(lv, {"memory", "keep", "tiles", "order", "spatial", "depths", "loop_tiles"},
                    file, at)
        keep = lv.get("keep", [])
        if not isinstance(keep, list) or any(k not in ROLE_OPERAND for k in keep):
            raise SpecError(f"keep must list roles among {list(ROLE_OPERAND)}", file, f"{at}.keep")
        tiles = lv.get("tiles")
        if not isinstance(tiles, dict) or set(tiles) != set(GROUPS) or not all(
                _positive_int(tiles[g]) for g in GROUPS):
            raise SpecError("tiles must give positive B, M, N, K", file, f"{at}.tiles")
        order = lv.get("order")
        if not isinstance(order, str) or set(order) != set(GROUPS):
            raise SpecError("order must name each of B, M, N, K (a group may repeat)", file,
                            f"{at}.order")
        loop_tiles = lv.get("loop_tiles")
        if (loop_tiles is None and len(order) > len(GROUPS)) or loop_tiles is not None and (
                not isinstance(loop_tiles, list) or len(loop_tiles) != len(order)
                or not all(_positive_int(t) for t in loop_tiles)):
            raise SpecError("loop_tiles must give a positive tile for each loop of order "
                            "(needed when a group repeats)", file, f"{at}.loop_tiles")
        if lv.get("spatial") not in (None, *GROUPS):
            raise SpecError("spatial must be one of B, M, N, K", file, f"{at}.spatial")
        depths = lv.get("depths")
        if depths is not None and (not isinstance(depths, dict) or set(depths) != set(keep)
                                   or not all(isinstance(d, int) and 0 <= d <= len(order)
                                              for d in depths.values())):
            raise SpecError(f"depths must give each kept role a number of loops, 0 to "
                            f"{len(order)}", file, f"{at}.depths")
        out.append(LevelMapping(str(lv.get("memory")), tuple(ROLE_OPERAND[k] for k in keep),
                                tuple(tiles[g] for g in GROUPS), order, lv.get("spatial"),
                                None if depths is None else tuple(depths[k] for k in keep),
                                None if loop_tiles is None else tuple(loop_tiles)))
    return HierarchyMapping(data["dataflow"], tuple(out), source=file or "")


@dataclass(frozen=True)
class FusedStep:
    """An Einsum of a fused block on a memory hierarchy (mapper/hierarchy_fusion.py): the
    block's first Einsum (naming the block), the rank the block is split along (this
    Einsum's letter for it; None: one piece), the number of pieces, and the mapping of
    one piece."""

    block: str
    rank: str | None
    pieces: int
    mapping: HierarchyMapping | VectorMapping
    source: str = field(default="", compare=False, repr=False)

    @property
    def role(self) -> str:
        return self.mapping.role

    def describe(self) -> str:
        split = f"{self.pieces} pieces along {self.rank}" if self.rank else "whole"
        return f"fused block {self.block} ({split}): {self.mapping.describe()}"

    def to_dict(self) -> dict:
        return {**self.mapping.to_dict(),
                "fused": {"block": self.block, "rank": self.rank, "pieces": self.pieces}}


def _fused_from_dict(data: dict, file: str | None, where: str) -> FusedStep:
    fused = data.pop("fused")
    at = f"{where}.fused"
    if not isinstance(fused, dict):
        raise SpecError("expected a mapping with block, rank and pieces", file, at)
    _known_keys(fused, {"block", "rank", "pieces"}, file, at)
    if not isinstance(fused.get("block"), str):
        raise SpecError("block must name the block's first Einsum", file, f"{at}.block")
    if not isinstance(fused.get("rank"), (str, type(None))):
        raise SpecError("rank must name the Einsum's rank the block is split along (null: "
                        "one piece)", file, f"{at}.rank")
    if not _positive_int(fused.get("pieces")):
        raise SpecError("pieces must be a positive integer", file, f"{at}.pieces")
    inner = mapping_from_dict(data, file, where)
    if isinstance(inner, GemmMapping):
        raise SpecError("only Einsums on a memory hierarchy run in fused blocks (role "
                        "'hierarchy' or 'array1d')", file, f"{where}.role")
    return FusedStep(fused["block"], fused["rank"], fused["pieces"], inner, source=file or "")


Mapping = GemmMapping | VectorMapping | HierarchyMapping | FusedStep


def mapping_from_dict(data: dict, file: str | None = None, where: str = "") -> Mapping:
    """Parse one Einsum's mapping (as written by to_dict)."""
    if not isinstance(data, dict):
        raise SpecError("expected a mapping", file, where)
    data = dict(data)
    if "fused" in data:  # an Einsum of a fused block on a hierarchy
        return _fused_from_dict(data, file, where)
    if "unit" in data and "role" not in data:  # the key's name in files of accelsim 0.1
        data["role"] = data.pop("unit")
    role = data.get("role")
    source = file or ""
    if role == "hierarchy":  # an Einsum on a memory hierarchy (arch/hierarchy.py)
        return hierarchy_mapping_from_dict(data, file, where)
    try:
        if role == "array1d":
            _known_keys(data, {"role", "chunk_points"}, file, where)
            points = data["chunk_points"]
            if not _positive_int(points):
                raise SpecError(f"chunk_points must be a positive integer (at most "
                                f"{MAX_RANK:,}), got {points!r}", file, f"{where}.chunk_points")
            return VectorMapping(points, source=source)
        if role == "array2d":
            _known_keys(data, {"role", "dataflow", "rows", "tiles", "loop_order", "array"},
                        file, where)
            key = (data["dataflow"], data["rows"])
            if not all(isinstance(k, str) for k in key) or key not in DATAFLOW_DIMS:
                raise SpecError(f"unknown dataflow/rows {key} (known: "
                                f"{sorted(DATAFLOW_DIMS)})", file, where)
            tiles = data["tiles"]
            if not isinstance(tiles, dict) or set(tiles) != set(GROUPS):
                got = sorted(map(str, tiles)) if isinstance(tiles, dict) else repr(tiles)
                raise SpecError(f"tiles must be a mapping giving B, M, N, K (got {got})", file,
                                f"{where}.tiles")
            for g in GROUPS:
                if not _positive_int(tiles[g]):
                    raise SpecError(f"tile size must be a positive integer (at most "
                                    f"{MAX_RANK:,}), got {tiles[g]!r}", file, f"{where}.tiles.{g}")
            order = data["loop_order"]
            if not isinstance(order, str) or sorted(order) != sorted(GROUPS):
                raise SpecError(f"loop_order must be a permutation of BMNK, got "
                                f"{order!r}", file, f"{where}.loop_order")
            array = data.get("array")
            if array is not None:
                if not (isinstance(array, list) and len(array) == 2
                        and all(_positive_int(v) for v in array)):
                    raise SpecError(f"array must be [rows, cols] of the sub-array the folds "
                                    f"use, two positive integers, got {array!r}", file,
                                    f"{where}.array")
                array = tuple(array)
            return GemmMapping(key[0], key[1], tuple((g, tiles[g]) for g in GROUPS),
                               tuple(order), array, source=source)
    except KeyError as missing:
        raise SpecError(f"missing key {missing}", file, where) from None
    raise SpecError(f"role must be 'array2d', 'array1d' or 'hierarchy', got {role!r}", file,
                    f"{where}.role")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_RANK


def _known_keys(data: dict, known: set, file: str | None, where: str):
    extra = sorted(map(str, set(data) - known))
    if extra:
        raise SpecError(f"unknown key(s) {extra} (known: {', '.join(sorted(known))})", file,
                        where)


def save_mappings(mappings: dict[str, Mapping], path: str | Path):
    text = yaml.safe_dump({"mappings": {name: m.to_dict() for name, m in mappings.items()}},
                          sort_keys=False)
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise SpecError(f"cannot write the mapping file ({exc.strerror or exc})",
                        str(path)) from None


def load_mappings(path: str | Path) -> dict[str, Mapping]:
    data = read_yaml(path, expect_key="mappings")
    if not isinstance(data["mappings"], dict):
        raise SpecError("expected a mapping of Einsum name -> mapping", str(path), "mappings")
    return {str(name): mapping_from_dict(m, str(path), f"mappings.{name}")
            for name, m in data["mappings"].items()}
