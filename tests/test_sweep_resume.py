"""A sweep killed midway resumes with no point lost or duplicated; a Dask cluster on
loopback gives the same results as the local pool."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

import sim.sweep as sweeps

SWEEP = """\
sweep:
  name: resume
  workloads: [gpt2-decode.yaml]
  axes:
    - {param: [PE2D.rows, PE2D.cols], values: [16, 32, 64, 128]}
    - {param: DRAM.bandwidth_gb_s, range: {start: 64, stop: 2048, num: 6, scale: log}}
"""


def stored(db) -> int:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.fixture
def pinned_code_version(monkeypatch):
    """Both runs must share a code version even if the source tree changes meanwhile."""
    from sim.sweep.evaluate import code_version

    monkeypatch.setenv("ACCELSIM_CODE_VERSION", "resume-test")
    code_version.cache_clear()
    yield
    code_version.cache_clear()


def test_killed_sweep_resumes_with_nothing_lost_or_duplicated(tmp_path, pinned_code_version):
    path = tmp_path / "resume.yaml"
    path.write_text(SWEEP)
    db = tmp_path / "resume.db"
    total = len(sweeps.load(path).points())
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(path), "--store",
                             str(db), "-j", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while stored(db) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = stored(db)
    assert 5 <= before < total, "the sweep should have been killed midway"
    stats = sweeps.run(sweeps.load(path), db, jobs=2)
    assert stats.cached == before
    assert stats.evaluated == total - before
    df = sweeps.load_results(db)
    assert len(df) == total and df["key"].is_unique
    assert (df["status"] == "ok").all()


def test_dask_local_cluster_equals_local_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    path = tmp_path / "dask.yaml"
    path.write_text(textwrap.dedent(SWEEP).replace("num: 6", "num: 2"))
    sweep = sweeps.load(path)
    local = sweeps.run(sweep, tmp_path / "local.db", jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None, processes=True) as cluster:
        remote = sweeps.run(sweep, tmp_path / "dask.db", scheduler=cluster.scheduler_address)
    assert local.evaluated == remote.evaluated == len(sweep.points())
    cols = ["key", "design", "workload", "status", "cycles", "seconds", "energy_j", "area_mm2",
            "dram_bytes"]
    a = sweeps.load_results(tmp_path / "local.db")[cols].sort_values("key").reset_index(drop=True)
    b = sweeps.load_results(tmp_path / "dask.db")[cols].sort_values("key").reset_index(drop=True)
    assert a.equals(b)
