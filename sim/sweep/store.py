"""The results store: one SQLite file, one row per evaluated point.

A point's key is a hash of what determines its result (the workload file and its
overrides, the full architecture, the mapper settings, the code version), so a re-run
skips finished points and two sweeps can share one store. Every point is committed
as soon as it finishes (WAL mode, so a killed sweep loses at most the points still
running). `members` records which sweeps asked for which keys.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from yamlspec import SpecError, check_writable

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    design TEXT NOT NULL,
    workload TEXT NOT NULL,
    params TEXT NOT NULL,      -- JSON {param: value}
    status TEXT NOT NULL,      -- ok | infeasible | failed
    reason TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL,     -- JSON flat row (Result.to_row and more)
    detail TEXT NOT NULL,      -- JSON breakdowns and per-operation summary
    code_version TEXT NOT NULL,
    wall_s REAL NOT NULL,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    sweep TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (sweep, key)
);
"""


def point_key(workload: dict, architecture: dict, mapper: dict, code_version: str) -> str:
    blob = json.dumps({"workload": workload, "arch": architecture, "mapper": mapper,
                       "code": code_version}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class Store:
    def __init__(self, path: str | Path, readonly: bool = False):
        """Open (or create) the store; a path that cannot hold one is a SpecError naming it.
        `readonly` opens an existing store only to read (plots, reports)."""
        self.path = Path(path)
        if readonly:
            if not self.path.is_file():
                raise SpecError("no results store here", str(self.path))
        else:  # the sweep writes every point here: check before any is simulated
            check_writable(self.path, "results store")
        try:
            # autocommit; every write is its own transaction
            self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
            self.db.execute("SELECT COUNT(*) FROM points").fetchone()
        except sqlite3.DatabaseError as exc:  # not SQLite, not ours, or read-only
            if hasattr(self, "db"):
                self.db.close()
            raise SpecError(f"cannot use this file as a results store ({exc}); give a new "
                            f"path or a .db written by `sim sweep`", str(self.path)) from None

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def statuses(self, keys: list[str]) -> dict[str, tuple[str, str, dict]]:
        """key -> (status, reason, metrics) for the keys already stored."""
        out = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = self.db.execute(
                f"SELECT key, status, reason, metrics FROM points WHERE key IN "
                f"({','.join('?' * len(chunk))})", chunk)
            out.update({k: (s, r, json.loads(m)) for k, s, r, m in rows})
        return out

    def join(self, sweep: str, keys: list[str]):
        """Make `keys` the points of `sweep`. Points it no longer names (say, from an
        older code version) stay stored, reusable, but out of its results."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM members WHERE sweep=?", (sweep,))
        self.db.executemany("INSERT OR IGNORE INTO members VALUES (?, ?)",
                            [(sweep, k) for k in keys])
        self.db.execute("COMMIT")

    def put(self, key: str, record: dict, code_version: str):
        """Write one finished point (replacing an earlier record of the same key)."""
        self.db.execute(
            "INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (key, record["design"], record["workload"], json.dumps(record["params"]),
             record["status"], record.get("reason", ""), json.dumps(record.get("metrics", {})),
             json.dumps(record.get("detail", {})), code_version, record.get("wall_s", 0.0),
             time.time()))

    def set_status(self, key: str, status: str, reason: str):
        self.db.execute("UPDATE points SET status=?, reason=? WHERE key=?", (status, reason, key))

    def count(self, sweep: str | None = None) -> int:
        """Points stored (of `sweep`, if given)."""
        if sweep is None:
            return self.db.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM points JOIN members USING (key) "
                               "WHERE sweep=?", (sweep,)).fetchone()[0]

    def sweeps(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT sweep FROM members ORDER BY 1")]

    def dataframe(self, sweep: str | None = None) -> pd.DataFrame:
        """One row per point of `sweep` (default: of every sweep) with design, workload,
        every swept param, status, reason and the flat metrics; `detail` holds
        breakdowns as a JSON string."""
        query = "SELECT * FROM points WHERE key IN (SELECT key FROM members"
        args: tuple = ()
        if sweep is not None:
            query += " WHERE sweep=?"
            args = (sweep,)
        query += ")"
        rows = []
        for rec in self.db.execute(query + " ORDER BY finished", args):
            (key, design, workload, params, status, reason, metrics, detail, code, wall,
             finished) = rec
            row = {"key": key, "design": design, "workload": workload, "status": status,
                   "reason": reason}
            row.update(json.loads(params))
            row.update(json.loads(metrics))
            row.update({"detail": detail, "code_version": code, "wall_s": wall})
            rows.append(row)
        import pandas as pd

        return pd.DataFrame(rows)


def load_results(path: str | Path, sweep: str | None = None) -> pd.DataFrame:
    """A store (.db/.sqlite) or an exported CSV/Parquet file as a DataFrame."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise SpecError("no such results file", str(path))
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    with Store(path, readonly=True) as store:
        try:
            return store.dataframe(sweep)
        except sqlite3.DatabaseError as exc:  # a SQLite file with other tables
            raise SpecError(f"not a results store ({exc}); give a .db written by `sim sweep`, "
                            f"or a .csv/.parquet export", str(path)) from None


def export(df: pd.DataFrame, path: str | Path):
    """Write CSV or Parquet by the file's suffix (Parquet needs pyarrow: the [parquet] extra)."""
    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise SpecError(f"export to .csv or .parquet, not '{path.suffix}'", str(path))
    check_writable(path, "export")
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
