"""Evaluating one sweep point, in whatever process runs it (pool worker or Dask worker).

A task is a plain dict so it pickles cheaply; the answer is a plain dict record for
the store. Bad points (a mapping that cannot fit, say) come back as status 'failed'
with the reason instead of stopping the sweep.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from importlib import metadata
from pathlib import Path

LAYER_PREFIX = re.compile(r"^(t\d+_)?(l\d+_)?")  # t3_l11_qk -> qk
# Code whose change can change a result; the sweep/plot/CLI layers cannot.
MODEL_ROOMS = ("workloads", "arch", "mapper", "sim", "yamlspec")
NOT_MODEL = ("sim/sweep/", "sim/plots.py", "sim/commands/", "sim/cli.py")


@functools.cache
def code_version() -> str:
    """The package version plus a hash of every model source file, or the value of
    ACCELSIM_CODE_VERSION if set (to pin it, e.g. while others edit the tree)."""
    if os.environ.get("ACCELSIM_CODE_VERSION"):
        return os.environ["ACCELSIM_CODE_VERSION"]
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for room in MODEL_ROOMS:
        for path in sorted((root / room).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if not rel.startswith(NOT_MODEL):
                digest.update(rel.encode())
                digest.update(path.read_bytes())
    try:
        version = metadata.version("accelsim")
    except metadata.PackageNotFoundError:
        version = "0"
    return f"{version}+{digest.hexdigest()[:12]}"


@functools.lru_cache(maxsize=64)
def _cascade(path: str, overrides_json: str):
    import workloads

    return workloads.load(path, **json.loads(overrides_json))


def evaluate(task: dict) -> dict:
    """Simulate one point; never raises for a bad point."""
    from arch import from_dict
    from sim.simulate import simulate
    from yamlspec import SWEEP_COLUMNS, SpecError

    start = time.perf_counter()
    record = {k: task[k] for k in ("key", "design", "workload", "params")}
    try:
        architecture = from_dict(task["arch"], task.get("arch_file", ""))
        if "serve" in task["workload_overrides"]:  # a serving point (docs/serve.md)
            from sim.serve.session import sweep_metrics

            row = sweep_metrics(task["workload_path"], task["workload_overrides"],
                                architecture)
            point_detail = {}
        else:
            cascade = _cascade(task["workload_path"],
                               json.dumps(task["workload_overrides"], sort_keys=True))
            settings = task["mapper"]
            result = simulate(cascade, architecture, objective=settings["objective"],
                              **_search_kwargs(settings))
            by_action = result.energy_by_action_j  # a sum over every Einsum: once
            row = metrics(result, architecture, by_action)
            point_detail = detail(result, by_action)
        for name, options in task.get("columns", {}).items():  # e.g. rtl's FPGA resources
            row.update(SWEEP_COLUMNS.get(name).columns(architecture, options))
        record.update(status="ok", reason="", metrics=row, detail=point_detail)
    except SpecError as exc:
        record.update(status="failed", reason=str(exc))
    except Exception as exc:  # a model bug must not stop a long sweep; it is recorded
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
    record["wall_s"] = time.perf_counter() - start
    return record


def evaluate_chunk(tasks: list[dict]) -> list[dict]:
    """evaluate() of each task in turn, in one worker (sim.sweep.executor.chunks), from
    no shared searches: a chunk's records are the same whatever ran before it."""
    import mapper

    mapper.CACHE.forget_shared()
    return [evaluate(task) for task in tasks]


def _search_kwargs(settings: dict) -> dict:
    """Mapper search options, when not the default grid (simulate may predate them)."""
    if settings.get("search", "grid") == "grid" and settings.get("budget") is None:
        return {}
    from mapper import SearchOptions

    return {"search": SearchOptions(settings["search"], settings.get("budget"),
                                    settings.get("seed", 0))}


def metrics(result, architecture, energy_by_action_j: dict | None = None) -> dict:
    row = result.to_row(energy_by_action_j)
    row["workload_name"], row["arch_name"] = row.pop("workload"), row.pop("arch")
    energy_j, seconds = row["energy_j"], row["seconds"]  # sums over every Einsum: once
    row["power_w"] = energy_j / seconds if seconds else 0.0
    row["edp_js"] = energy_j * seconds
    row.update({f"area_mm2.{k}": v for k, v in result.area_breakdown_mm2.items()})
    clock = architecture.clock_ghz * 1e9
    row["peak_macs_per_s"] = _unit_size(architecture, "array2d", "peak_macs_per_cycle") * clock
    row["vec_peak_ops_per_s"] = _unit_size(architecture, "array1d", "lanes") * clock
    row["dram_gb_s"] = _unit_size(architecture, "dram", "bandwidth_gb_s")
    row["macs_per_s"] = row["macs"] / seconds if seconds else 0.0
    row["mappings_scored"] = result.meta.get("mappings_scored", 0)
    return row


def _unit_size(architecture, getter: str, size: str) -> float:
    """A unit's size, or NaN for an architecture without that unit (e.g. PIM)."""
    from yamlspec import SpecError

    try:
        return float(getattr(getattr(architecture, getter), size))
    except SpecError:
        return float("nan")


@functools.lru_cache(maxsize=1 << 14)  # a worker meets the same names at every point
def _op_name(einsum: str) -> str:
    return LAYER_PREFIX.sub("", einsum)


def detail(result, energy_by_action_j: dict | None = None) -> dict:
    """Energy by action and a per-operation summary (summed over layers) for rooflines."""
    from sim.result import by_component

    ops: dict[str, dict] = {}
    for e in result.einsums:
        op = _op_name(e.name)
        agg = ops.setdefault(op, {"op": op, "kind": e.kind, "unit": e.unit, "n": 0, "macs": 0,
                                  "ops": 0, "dram_bytes": 0, "cycles": 0})
        agg["n"] += 1
        agg["macs"] += e.macs
        agg["ops"] += e.ops
        agg["dram_bytes"] += e.dram_read_bytes + e.dram_write_bytes
        agg["cycles"] += e.cycles
    by_action = (result.energy_by_action_j if energy_by_action_j is None
                 else energy_by_action_j)
    return {"energy_by_action": by_action, "energy_breakdown": by_component(by_action),
            "area_breakdown": result.area_breakdown_mm2,
            "clock_ghz": result.clock_ghz, "ops": list(ops.values())}
