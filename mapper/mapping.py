"""Mappings: how one Einsum is laid onto the hardware. Plain objects, printable, YAML.

- GemmMapping (a contraction on the 2D array): the dataflow, which GEMM group runs
  along the array rows, the tile of each group (B, M, N, K) held in the global buffer,
  and the order of the tile loops (outermost first).
- VectorMapping (other Einsums on the 1D unit): output points per buffered chunk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from yamlspec import SpecError, read_yaml

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
    unit: str = "array2d"

    def tile(self, group: str) -> int:
        return dict(self.tiles)[group]

    @property
    def dims(self) -> tuple[str, str, str]:
        """(temporal, rows, cols) GEMM groups."""
        return DATAFLOW_DIMS[(self.dataflow, self.rows)]

    def describe(self) -> str:
        tiles = " ".join(f"{g}{s}" for g, s in self.tiles)
        return f"{self.dataflow}(rows={self.rows}) tiles[{tiles}] order {''.join(self.loop_order)}"

    def to_dict(self) -> dict:
        return {"unit": self.unit, "dataflow": self.dataflow, "rows": self.rows,
                "tiles": dict(self.tiles), "loop_order": "".join(self.loop_order)}


@dataclass(frozen=True)
class VectorMapping:
    chunk_points: int   # output points per chunk staged through the buffer
    unit: str = "array1d"

    def describe(self) -> str:
        return f"vector chunk {self.chunk_points}"

    def to_dict(self) -> dict:
        return asdict(self)


Mapping = GemmMapping | VectorMapping


def mapping_from_dict(data: dict, file: str | None = None, where: str = "") -> Mapping:
    """Parse one Einsum's mapping (as written by to_dict)."""
    if not isinstance(data, dict):
        raise SpecError("expected a mapping", file, where)
    unit = data.get("unit")
    try:
        if unit == "array1d":
            points = data["chunk_points"]
            if not isinstance(points, int) or points <= 0:
                raise SpecError("chunk_points must be a positive integer", file,
                                f"{where}.chunk_points")
            return VectorMapping(points)
        if unit == "array2d":
            key = (data["dataflow"], data["rows"])
            if key not in DATAFLOW_DIMS:
                raise SpecError(f"unknown dataflow/rows {key} (known: "
                                f"{sorted(DATAFLOW_DIMS)})", file, where)
            tiles = data["tiles"]
            if set(tiles) != set(GROUPS):
                raise SpecError(f"tiles must give B, M, N, K (got {sorted(tiles)})", file,
                                f"{where}.tiles")
            for g in GROUPS:
                if not isinstance(tiles[g], int) or tiles[g] <= 0:
                    raise SpecError(f"tile size must be a positive integer, got {tiles[g]!r}",
                                    file, f"{where}.tiles.{g}")
            order = tuple(str(data["loop_order"]))
            if sorted(order) != sorted(GROUPS):
                raise SpecError(f"loop_order must be a permutation of BMNK, got "
                                f"'{data['loop_order']}'", file, f"{where}.loop_order")
            return GemmMapping(key[0], key[1], tuple((g, tiles[g]) for g in GROUPS), order)
    except KeyError as missing:
        raise SpecError(f"missing key {missing}", file, where) from None
    raise SpecError(f"unit must be 'array2d' or 'array1d', got {unit!r}", file, f"{where}.unit")


def save_mappings(mappings: dict[str, Mapping], path: str | Path):
    Path(path).write_text(yaml.safe_dump(
        {"mappings": {name: m.to_dict() for name, m in mappings.items()}}, sort_keys=False))


def load_mappings(path: str | Path) -> dict[str, Mapping]:
    data = read_yaml(path, expect_key="mappings")
    if not isinstance(data["mappings"], dict):
        raise SpecError("expected a mapping of Einsum name -> mapping", str(path), "mappings")
    return {name: mapping_from_dict(m, str(path), f"mappings.{name}")
            for name, m in data["mappings"].items()}
