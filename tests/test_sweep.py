"""Sweep files, the results store and its keying, constraints, export."""

import textwrap

import pytest

import mapper
import sim.sweep as sweeps
from sim.sweep.evaluate import evaluate, evaluate_chunk
from sim.sweep.executor import CHUNK_POINTS, _local, chunks, plan
from sim.sweep.store import point_key
from yamlspec import SpecError

TINY_MODEL = """\
model: {name: tiny, layers: 2, d_model: 128, heads: 2, d_ff: 256, vocab: 1000,
        source: "test model"}
phase: {kind: prefill, seq_len: 64}
batch: 1
format: fp16
"""


def write_sweep(tmp_path, body: str, name: str = "s.yaml"):
    (tmp_path / "tiny.yaml").write_text(TINY_MODEL)
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


GRID = """\
sweep:
  name: grid
  workloads: [tiny.yaml]
  axes:
    - {param: [PE2D.rows, PE2D.cols], values: [8, 16]}
    - {param: GLB.capacity_kib, range: {start: 64, stop: 256, num: 3, scale: log}}
    - {param: workload.phase.seq_len, values: [32, 64]}
"""


def test_grid_range_and_random_expansion(tmp_path):
    sweep = sweeps.load(write_sweep(tmp_path, GRID))
    points = sweep.points()
    assert len(points) == 2 * 3 * 2
    assert sorted({dict(p.params)["GLB.capacity_kib"] for p in points}) == [64, 128, 256]
    assert all(dict(p.arch_changes)["PE2D.rows"] == dict(p.arch_changes)["PE2D.cols"]
               for p in points)
    assert {dict(p.workload_overrides)["phase"][0] for p in points} == {("kind", "prefill")}
    rand = sweeps.load(write_sweep(tmp_path, """\
        sweep:
          name: r
          workloads: [tiny.yaml]
          axes:
            - {param: DRAM.bandwidth_gb_s, random: {low: 64, high: 1024, scale: log}}
            - {param: [PE2D.rows, PE2D.cols], values: [8, 16]}
          samples: 5
          seed: 3
        """, "r.yaml"))
    drawn = rand.points()
    assert len(drawn) == 10
    assert all(64 <= dict(p.params)["DRAM.bandwidth_gb_s"] <= 1024 for p in drawn)
    assert drawn == rand.points()  # seeded: the same draws every time


@pytest.mark.parametrize("body, fragment, key", [
    ("sweep: {name: x, workloads: [tiny.yaml], axes: [{param: PE2D.rows}]}",
     "exactly one of", "sweep.axes[0]"),
    ("sweep: {name: x, workloads: [tiny.yaml], samples: 3}", "no axis has 'random:'", "sweep"),
    ("sweep: {name: x, workloads: [tiny.yaml], axes: [{param: rows, values: [1]}]}",
     "COMPONENT.field", "sweep.axes[0].param"),
    ("sweep: {name: x, workloads: [tiny.yaml], base: nosuch}", "neither a preset", "sweep.base"),
    ("sweep: {name: x, workloads: [tiny.yaml], axes: [{param: GLB.capacity_kib, "
     "range: {start: 1, stop: 9}}]}", "exactly one of 'step' or 'num'", "sweep.axes[0].range"),
])
def test_bad_sweep_files_name_file_and_key(tmp_path, body, fragment, key):
    path = write_sweep(tmp_path, body)
    with pytest.raises(SpecError) as info:
        sweeps.load(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and key in message, message


def test_store_key_covers_workload_arch_mapper_and_code():
    base = point_key({"file": "a"}, {"x": 1}, {"search": "grid"}, "v1")
    assert base == point_key({"file": "a"}, {"x": 1}, {"search": "grid"}, "v1")
    assert base != point_key({"file": "b"}, {"x": 1}, {"search": "grid"}, "v1")
    assert base != point_key({"file": "a"}, {"x": 2}, {"search": "grid"}, "v1")
    assert base != point_key({"file": "a"}, {"x": 1}, {"search": "random"}, "v1")
    assert base != point_key({"file": "a"}, {"x": 1}, {"search": "grid"}, "v2")


def test_rerun_skips_and_two_sweeps_share_a_store(tmp_path):
    store = tmp_path / "results.db"
    first = sweeps.load(write_sweep(tmp_path, GRID))
    stats = sweeps.run(first, store, jobs=1)
    assert (stats.total, stats.evaluated, stats.cached) == (12, 12, 0)
    again = sweeps.run(first, store, jobs=1)
    assert (again.evaluated, again.cached) == (0, 12)
    # a second sweep overlapping the first: only its new points are evaluated
    second = sweeps.load(write_sweep(tmp_path, GRID.replace("name: grid", "name: other")
                                     .replace("[8, 16]", "[16, 32]"), "t.yaml"))
    shared = sweeps.run(second, store, jobs=1)
    assert (shared.total, shared.cached, shared.evaluated) == (12, 6, 6)
    df = sweeps.load_results(store)
    assert len(df) == 18 and df["key"].is_unique
    assert len(sweeps.load_results(store, "other")) == 12
    assert set(sweeps.Store(store).sweeps()) == {"grid", "other"}


def test_constraints_record_infeasible_points_with_reason(tmp_path):
    areas = sorted({t["area_mm2"] for t in sweeps.plan(sweeps.load(write_sweep(tmp_path, GRID)))})
    budget = round((areas[0] + areas[-1]) / 2, 3)  # some points fit, some do not
    body = GRID + f"  constraints: {{max_area_mm2: {budget}}}\n"
    sweep = sweeps.load(write_sweep(tmp_path, body, "c.yaml"))
    stats = sweeps.run(sweep, tmp_path / "c.db", jobs=1)
    df = sweeps.load_results(tmp_path / "c.db")
    bad = df[df["status"] == "infeasible"]
    assert stats.infeasible == len(bad) > 0 and stats.ok > 0
    assert bad["reason"].str.contains(f"> max_area_mm2 {budget:g} mm²", regex=False).all()
    assert (bad["area_mm2"] > budget).all()
    assert (df[df["status"] == "ok"]["area_mm2"] <= budget).all()
    # the same store under a looser budget: the points skipped for area are run now
    looser = sweeps.load(write_sweep(tmp_path, GRID, "loose.yaml"))
    again = sweeps.run(looser, tmp_path / "c.db", jobs=1)
    assert again.evaluated == len(bad) and again.ok == 12


def test_missing_preset_is_skipped_with_a_note(tmp_path):
    sweep = sweeps.load(write_sweep(tmp_path, """\
        sweep:
          name: designs
          workloads: [tiny.yaml]
          axes: [{param: arch, values: [default, no-such-design]}]
        """))
    points = sweep.points()
    assert [p.design for p in points] == ["default"]
    assert "no-such-design" in sweep.skipped[0] and "skipped" in sweep.skipped[0]


def test_export_csv_and_parquet(tmp_path):
    sweep = sweeps.load(write_sweep(tmp_path, GRID))
    sweeps.run(sweep, tmp_path / "e.db", jobs=1)
    df = sweeps.load_results(tmp_path / "e.db")
    for suffix in (".csv", ".parquet"):
        if suffix == ".parquet":
            pytest.importorskip("pyarrow")
        path = tmp_path / f"out{suffix}"
        sweeps.export(df, path)
        back = sweeps.load_results(path)
        assert list(back["key"]) == list(df["key"])
        assert back["seconds"].tolist() == pytest.approx(df["seconds"].tolist())


def test_objectives_checked_at_load_are_the_metrics_a_point_has():
    """sim/sweep/spec.py names the metrics to reject an unknown objective before a sweep
    runs; they must be exactly the numeric columns sim/sweep/evaluate.py gives a point."""
    import arch
    import sim
    import workloads
    from sim.sweep.evaluate import metrics
    from sim.sweep.spec import METRICS, PER_COMPONENT_METRICS

    a = arch.load()
    row = metrics(sim.simulate(workloads.load("attention.yaml"), a), a)
    numeric = {k for k, v in row.items() if isinstance(v, (int, float))}
    assert {k for k in numeric if not k.startswith(PER_COMPONENT_METRICS)} == set(METRICS)


def test_local_pool_gives_the_records_of_one_process(tmp_path):
    """Whatever ran before: the pool's workers, one process, its chunks in reverse (each
    chunk starts from no shared searches, so even `mappings_scored` agrees)."""
    sweep = sweeps.load(write_sweep(tmp_path, GRID))
    tasks = plan(sweep)

    def records(results):
        return {r["key"]: (r["status"], r["reason"], r.get("metrics"), r.get("detail"))
                for r in results}

    mapper.CACHE.clear()
    two = records(_local(tasks, 2))
    mapper.CACHE.clear()
    one = records(_local(tasks, 1))
    assert len(one) == len(tasks) and one == two
    # ten buffers: two chunks of one group, the second's largest answerable by the first
    buffers = sweeps.load(write_sweep(tmp_path, """\
        sweep:
          name: buffers
          workloads: [tiny.yaml]
          axes:
            - {param: GLB.capacity_kib, range: {start: 16, stop: 2048, num: 10, scale: log}}
        """, "b.yaml"))
    tasks = plan(buffers)
    assert len(chunks(tasks)) == 2
    mapper.CACHE.clear()
    forwards = records(_local(tasks, 1))
    mapper.CACHE.clear()
    backwards = records(r for chunk in reversed(chunks(tasks)) for r in evaluate_chunk(chunk))
    assert forwards == backwards


def test_points_differing_only_in_the_buffer_run_together_largest_first(tmp_path):
    """A worker runs a `share` group (the points that differ only in the buffer's
    capacity) largest buffer first, so its searches answer the rest, in chunks of at
    most CHUNK_POINTS; a point with no buffer (a PIM architecture) runs alone."""
    tasks = plan(sweeps.load(write_sweep(tmp_path, GRID)))
    groups = chunks(tasks)
    assert len(groups) == 4  # 2 arrays x 2 sequence lengths, 3 buffers each
    for group in groups:
        assert len({t["share"] for t in group}) == 1
        assert [t["capacity"] for t in group] == [256 * 1024, 128 * 1024, 64 * 1024]
    many = [{"key": f"k{i}", "share": "s", "capacity": i} for i in range(19)]
    split = chunks(many + [{"key": "pim"}])
    assert CHUNK_POINTS == 8 and [len(c) for c in split] == [7, 7, 5, 1]  # 19 in 3 parts
    assert [t["capacity"] for c in split[:3] for t in c] == list(range(18, -1, -1))


def test_a_sweep_sharing_searches_gives_what_each_point_gives_alone(tmp_path):
    """Every record but `mappings_scored` (a shared search counts what it scored at the
    larger buffer) is what the point gives evaluated alone, with nothing remembered."""
    tasks = plan(sweeps.load(write_sweep(tmp_path, GRID)))

    def comparable(record):
        return record["status"], {k: v for k, v in record["metrics"].items()
                                  if k != "mappings_scored"}, record["detail"]

    together = {r["key"]: comparable(r) for r in _local(tasks, 1)}
    alone = {}
    for task in tasks:
        mapper.CACHE.clear()
        alone[task["key"]] = comparable(evaluate(task))
    assert together == alone
