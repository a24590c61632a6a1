"""Running a sweep: build each point's architecture and key, skip what the store holds,
evaluate the rest on a local process pool (default) or a Dask cluster, and write each
finished point to the store at once."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from yamlspec import SpecError

SCHEDULER_ADDRESS = re.compile(
    r"(?:(?:tcp|tls)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r":(?P<port>\d{1,5})")
from sim.sweep.evaluate import code_version, evaluate_chunk
from sim.sweep.spec import Constraints, Sweep, thaw
from sim.sweep.store import Store, point_key


SCHEDULER_TIMEOUT_S = 10  # connecting to a Dask scheduler; a live one answers in well under
# a worker's points reach the store when its chunk ends: a few seconds at most
CHUNK_POINTS = 8


def check_scheduler(address: str) -> tuple[str, int]:
    """`host:port` or `tcp://host:port` (also tls://) -> (host, port), or a SpecError
    saying what form was expected; contacts nothing."""
    match = SCHEDULER_ADDRESS.fullmatch(address.strip())
    if not match or not 0 < int(match["port"]) < 65536:
        raise SpecError(f"--scheduler '{address}' is not a scheduler address; expected "
                        f"HOST:PORT or tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)")
    return match["host"].strip("[]"), int(match["port"])


def probe_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT_S):
    """Fail fast, before the sweep starts, if nothing listens at the address."""
    host, port = check_scheduler(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:  # refused, unreachable, unknown host, timed out
        raise SpecError(f"cannot reach the Dask scheduler at '{address}' "
                        f"({exc.strerror or exc or 'timed out'}); is it running?") from None


@dataclass
class SweepStats:
    total: int = 0
    cached: int = 0       # already in the store
    evaluated: int = 0    # simulated in this run
    ok: int = 0
    infeasible: int = 0
    failed: int = 0
    wall_s: float = 0.0
    skipped: list[str] = field(default_factory=list)

    @property
    def points_per_s(self) -> float:
        return self.evaluated / self.wall_s if self.wall_s else 0.0


def violations(c: Constraints, metrics: dict) -> str:
    """Why a point breaks the constraints ('' if it does not); missing metrics pass."""
    checks = [("max_area_mm2", "area_mm2", "mm²"), ("max_power_w", "power_w", "W"),
              ("max_seconds", "seconds", "s"), ("max_energy_j", "energy_j", "J")]
    out = []
    for limit_name, metric, unit in checks:
        limit, value = getattr(c, limit_name), metrics.get(metric)
        if limit is not None and value is not None and value > limit:
            out.append(f"{metric} {value:.4g} {unit} > {limit_name} {limit:g} {unit}")
    return "; ".join(out)


def plan(sweep: Sweep) -> list[dict]:
    """One task per point, with its store key; architecture errors become failed tasks."""
    import arch

    version = code_version()
    settings = sweep.spec.mapper.model_dump()
    columns = sweep.spec.columns
    keyed = settings
    if columns:  # requested columns, and the code computing them, are part of the answer
        from yamlspec import SWEEP_COLUMNS

        keyed = {**settings, "columns": {name: [options, SWEEP_COLUMNS.get(name).version()]
                                         for name, options in columns.items()}}
    bases: dict[str, arch.Architecture] = {}
    file_hashes: dict[str, str] = {}
    tasks = []
    for point in sweep.points():
        overrides = thaw(point.workload_overrides)
        if point.workload_path not in file_hashes:
            file_hashes[point.workload_path] = hashlib.sha256(
                Path(point.workload_path).read_bytes()).hexdigest()
        workload_id = {"file": file_hashes[point.workload_path], "overrides": overrides}
        task = {"design": point.design, "workload": point.workload,
                "params": {p: v for p, v in point.params}, "workload_path": point.workload_path,
                "workload_overrides": overrides, "mapper": settings, "columns": columns}
        try:
            if point.arch_source not in bases:
                bases[point.arch_source] = arch.load(point.arch_source)
            architecture = bases[point.arch_source].with_changes(**dict(point.arch_changes))
        except SpecError as exc:
            task["key"] = point_key(workload_id, {"source": point.arch_source,
                                                  "changes": point.arch_changes}, keyed, version)
            task["error"] = f"architecture: {exc.reason} ({exc.path or point.arch_source})"
        else:
            arch_dict = architecture.to_dict()
            arch_dict.pop("description", None)
            task.update(key=point_key(workload_id, arch_dict, keyed, version),
                        arch=architecture.to_dict(), arch_file=architecture.file,
                        area_mm2=sum(architecture.area_breakdown_mm2().values()),
                        **_sharing(architecture, arch_dict, workload_id, keyed))
        tasks.append(task)
    return tasks


def _sharing(architecture, arch_dict: dict, workload_id: dict, mapper: dict) -> dict:
    """The point's `share` group (the key it has with its buffer's capacity left out) and
    that `capacity`: a worker running a group largest buffer first answers the others'
    latency searches from the first's (sim.simulate._least_cycles)."""
    try:
        buffer = architecture.buffer
    except SpecError:  # no buffer role (PIM, roofline): nothing to share
        return {}
    components = [{k: v for k, v in c.items() if not (c["name"] == buffer.name
                                                      and k == "capacity_kib")}
                  for c in arch_dict["components"]]
    return {"share": point_key(workload_id, {**arch_dict, "components": components}, mapper, ""),
            "capacity": buffer.capacity_bytes}


def chunks(tasks: list[dict]) -> list[list[dict]]:
    """The tasks in chunks a worker runs one after another: each `share` group, largest
    buffer first, in the order the groups first come, in consecutive parts of at most
    CHUNK_POINTS. The chunks depend on the tasks alone, so the records do not depend on
    how many workers run them."""
    groups: dict[str, list[dict]] = {}
    for task in tasks:
        groups.setdefault(task.get("share") or task["key"], []).append(task)
    out = []
    for group in groups.values():
        group.sort(key=lambda t: -t.get("capacity", 0))
        parts = -(-len(group) // CHUNK_POINTS)
        size = -(-len(group) // parts)
        out += [group[i:i + size] for i in range(0, len(group), size)]
    return out


def run(sweep: Sweep, store_path: str | Path, scheduler: str | None = None,
        jobs: int | None = None, retry_failed: bool = False,
        progress: Callable[[SweepStats], None] | None = None) -> SweepStats:
    """Evaluate every point of `sweep` not yet in the store; returns counts and rate."""
    start = time.perf_counter()
    if scheduler:
        check_scheduler(scheduler)
    with Store(store_path) as store:  # opened first: a bad store path fails before any work
        tasks = plan(sweep)
        stats = SweepStats(total=len(tasks), skipped=list(sweep.skipped))
        version = code_version()
        constraints = sweep.spec.constraints
        store.join(sweep.name, [t["key"] for t in tasks])
        stored = store.statuses([t["key"] for t in tasks])
        todo = []
        for task in tasks:
            if task["key"] in stored:
                status, reason, metrics = stored[task["key"]]
                now = _reuse(store, task["key"], status, reason, metrics, constraints,
                             retry_failed)
                if now:
                    stats.cached += 1
                    _count(stats, now)
                    continue
            todo.append(task)
        # Points known bad before simulating: recorded now, never sent to a worker.
        runnable = []
        for task in todo:
            if "error" in task:
                _finish(store, stats, {**_head(task), "status": "failed", "reason": task["error"]},
                        version, constraints)
            elif violations(constraints, {"area_mm2": task["area_mm2"]}):
                reason = violations(constraints, {"area_mm2": task["area_mm2"]})
                _finish(store, stats, {**_head(task), "status": "infeasible", "reason": reason,
                                       "metrics": {"area_mm2": task["area_mm2"]}},
                        version, constraints)
            else:
                runnable.append(task)
        if progress:
            progress(stats)
        results = (_dask(runnable, scheduler) if scheduler
                   else _local(runnable, jobs or min(2, os.cpu_count() or 1)))
        for record in results:
            _finish(store, stats, record, version, constraints)
            stats.wall_s = time.perf_counter() - start
            if progress:
                progress(stats)
    stats.wall_s = time.perf_counter() - start
    return stats


def _head(task: dict) -> dict:
    return {k: task[k] for k in ("key", "design", "workload", "params")}


def _count(stats: SweepStats, status: str):
    setattr(stats, status, getattr(stats, status) + 1)


def _reuse(store: Store, key: str, status: str, reason: str, metrics: dict,
           constraints: Constraints, retry_failed: bool) -> str:
    """The status a stored point has for this sweep, or '' to evaluate it again.
    Constraints may differ between sweeps sharing a store: feasibility is re-judged,
    and a point never simulated (skipped for area) is run if it now fits."""
    if status == "failed":
        return "" if retry_failed else "failed"
    now = violations(constraints, metrics)
    if not now and "seconds" not in metrics:
        return ""
    new_status = "infeasible" if now else "ok"
    if (new_status, now) != (status, reason):
        store.set_status(key, new_status, now)
    return new_status


def _finish(store: Store, stats: SweepStats, record: dict, version: str,
            constraints: Constraints):
    if record["status"] == "ok":
        reason = violations(constraints, record["metrics"])
        if reason:
            record.update(status="infeasible", reason=reason)
    store.put(record["key"], record, version)
    stats.evaluated += 1
    _count(stats, record["status"])


def _local(tasks: list[dict], jobs: int) -> Iterator[dict]:
    if not tasks:
        return
    if jobs == 1:  # in-process: no pickling, easy to debug
        for chunk in chunks(tasks):
            yield from evaluate_chunk(chunk)
        return
    import sim.simulate  # noqa: F401  once here: forked workers start with it imported
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(evaluate_chunk, c) for c in chunks(tasks)]
        for fut in as_completed(futures):
            yield from fut.result()
    finally:  # on Ctrl-C, do not start the queued points
        pool.shutdown(wait=True, cancel_futures=True)


def _dask(tasks: list[dict], address: str) -> Iterator[dict]:
    from distributed import Client, as_completed as dask_completed

    if not tasks:
        return
    try:
        client = Client(address, timeout=f"{SCHEDULER_TIMEOUT_S}s")
    except OSError as exc:  # TimeoutError is one
        raise SpecError(f"cannot reach the Dask scheduler at '{address}' within "
                        f"{SCHEDULER_TIMEOUT_S} s: {exc}") from None
    try:
        futures = client.map(evaluate_chunk, chunks(tasks), pure=False)
        for fut in dask_completed(futures):
            yield from fut.result()
    finally:
        client.close()

