"""Bad input never gives a traceback: each case ends in one paragraph naming the file
(and key path) and exit status 2, and output paths are checked before a long run."""

import json
import sqlite3
import subprocess
import time

import pytest
from click.testing import CliRunner

from conftest import REPO
from sim.cli import main
from yamlspec import SpecError, check_writable, limits, read_yaml

TINY = """\
model: {name: tiny, layers: 1, d_model: 64, heads: 2, d_ff: 128, vocab: 100, source: test}
phase: {kind: prefill, seq_len: 16}
batch: 1
format: fp16
"""
DEFAULT_ARCH = (REPO / "arch" / "presets" / "default.yaml").read_text()
SWEEP = """\
sweep:
  name: small
  workloads: [{path: tiny.yaml}]
  axes:
    - {param: PE2D.rows, values: [16]}
  objectives: [seconds, energy_j]
"""


def _bad(args, *fragments):
    """Run the CLI; it must exit 2 with one error paragraph holding every fragment."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert str(fragment) in result.output, result.output
    return result.output


@pytest.fixture
def tiny(write_yaml):
    return write_yaml(TINY, "tiny.yaml")


@pytest.fixture
def immutable(tmp_path):
    """A folder nobody may write, root included (tests run as root: chmod is no bar)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    yield folder
    subprocess.run(["chattr", "-i", str(folder)], check=True)


# 1. files that are not UTF-8 text

@pytest.mark.parametrize("blob", [b"model: \xff\xfe\x00bad\n", bytes(range(256)),
                                  b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_binary_workload_names_the_file(write_yaml, tmp_path, blob):
    path = tmp_path / "w.yaml"
    path.write_bytes(blob)
    _bad(["run", path], path, "UTF-8")


@pytest.mark.parametrize("option", ["--arch", "--mapping"])
def test_binary_arch_and_mapping_files(tiny, tmp_path, option):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\x00\xff" * 20)
    _bad(["run", tiny, option, path], path, "not a UTF-8 text file")


def test_binary_sweep_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"sweep:\n  name: \xc3\x28\n")
    _bad(["sweep", path, "--store", tmp_path / "s.db"], path, "UTF-8")


# 2. duplicate keys

def test_duplicate_keys_name_both_lines(write_yaml):
    path = write_yaml("a: 1\nb:\n  c: 2\n  c: 3\n")
    with pytest.raises(SpecError) as info:
        read_yaml(path)
    assert str(path) in str(info.value) and "duplicate key 'c' (line 3 and line 4)" in str(info.value)


def test_duplicate_key_in_a_workload_is_an_error(write_yaml):
    path = write_yaml(TINY.replace("batch: 1", "batch: 1\nbatch: 8"), "w.yaml")
    _bad(["run", path], path, "duplicate key 'batch' (line 3 and line 4)")


def test_duplicate_key_in_an_arch_component(tiny, write_yaml):
    assert "      rows: 128\n" in DEFAULT_ARCH
    path = write_yaml(DEFAULT_ARCH.replace("      rows: 128\n", "      rows: 128\n      rows: 64\n"),
                      "a.yaml")
    line = DEFAULT_ARCH[:DEFAULT_ARCH.index("      rows: 128\n")].count("\n") + 1
    _bad(["run", tiny, "--arch", path], path,
         f"duplicate key 'rows' (line {line} and line {line + 1})")


def test_yaml_merge_keys_may_be_overridden(write_yaml):
    data = read_yaml(write_yaml("base: &b {x: 1, y: 2}\nother: {<<: *b, x: 3}\n"))
    assert data["other"] == {"x": 3, "y": 2}


def test_shipped_yaml_files_have_no_duplicate_keys():
    files = [*REPO.glob("workloads/*.yaml"), *REPO.glob("arch/presets/*.yaml"),
             *REPO.glob("experiments/**/*.yaml")]
    assert len(files) > 30
    for path in files:
        read_yaml(path)  # raises on a duplicate


# 3. output paths checked before the run

def test_check_writable(tmp_path, immutable):
    plain = tmp_path / "somefile.txt"
    plain.write_text("x")
    with pytest.raises(SpecError, match="is a file, not a folder"):
        check_writable(plain / "out.yaml", "--save-mapping")
    with pytest.raises(SpecError, match="is a folder"):
        check_writable(tmp_path, "--out")
    with pytest.raises(SpecError, match="not writable"):
        check_writable(immutable / "out.csv", "--export")
    with pytest.raises(SpecError, match="cannot create the folder"):
        check_writable(immutable / "sub" / "out.csv", "--export")
    assert check_writable(tmp_path / "new" / "deeper" / "out.csv", "--export").parent.is_dir()
    assert not (tmp_path / "new" / "deeper" / "out.csv").exists()  # nothing written
    assert list(tmp_path.glob("new/deeper/*")) == []              # no probe left behind


def test_unwritable_save_mapping_fails_before_simulating(tiny, tmp_path, monkeypatch):
    import sys

    def never(*args, **kwargs):
        raise AssertionError("simulated although the output cannot be written")

    # the module, not the function of the same name that the sim package exports
    monkeypatch.setattr(sys.modules["sim.simulate"], "simulate", never)
    plain = tmp_path / "somefile.txt"
    plain.write_text("x")
    _bad(["run", tiny, "--save-mapping", plain / "out.yaml"], "--save-mapping")


def test_unwritable_save_mapping_is_no_traceback(tiny, tmp_path):
    plain = tmp_path / "somefile.txt"
    plain.write_text("x")
    _bad(["run", tiny, "--save-mapping", plain / "out.yaml"], plain / "out.yaml")


@pytest.fixture
def sweep_file(tmp_path, tiny):
    path = tmp_path / "s.yaml"
    path.write_text(SWEEP)
    return path


def _no_evaluation(monkeypatch):
    import sim.sweep.executor

    def never(*args, **kwargs):
        raise AssertionError("points evaluated although the output cannot be written")

    monkeypatch.setattr(sim.sweep.executor, "plan", never)


def test_unwritable_export_fails_before_the_sweep(sweep_file, tmp_path, immutable, monkeypatch):
    _no_evaluation(monkeypatch)
    _bad(["sweep", sweep_file, "--store", tmp_path / "s.db", "--export", immutable / "r.csv"],
         "--export", immutable / "r.csv")


def test_unwritable_report_out_fails_before_running(sweep_file, tmp_path, immutable,
                                                    monkeypatch):
    _no_evaluation(monkeypatch)
    _bad(["report", sweep_file, "--store", tmp_path / "s.db", "--run", "--out",
          immutable / "r.html"], "--out", immutable / "r.html")


def test_unwritable_plot_out(sweep_file, tmp_path, immutable):
    store = tmp_path / "s.db"
    assert CliRunner().invoke(main, ["sweep", str(sweep_file), "--store", str(store),
                                     "-j", "1"]).exit_code == 0
    _bad(["plot", store, "--kind", "energy", "--out", immutable / "p"], "--out", immutable)
    plain = tmp_path / "somefile.txt"
    plain.write_text("x")
    _bad(["plot", store, "--kind", "energy", "--out", plain / "p"], "not a folder")


# 4. results stores

def test_store_in_a_read_only_folder(sweep_file, immutable):
    _bad(["sweep", sweep_file, "--store", immutable / "s.db"], immutable / "s.db",
         "results store")


@pytest.mark.parametrize("content", [b"this is not sqlite at all, just text\n" * 50,
                                     b"\x00\xff" * 600])
def test_store_that_is_not_sqlite(sweep_file, tmp_path, content):
    store = tmp_path / "s.db"
    store.write_bytes(content)
    _bad(["sweep", sweep_file, "--store", store], store, "results store")
    assert store.read_bytes() == content  # left as it was
    _bad(["report", sweep_file, "--store", store, "--out", tmp_path / "r.html"], store)


def test_sqlite_file_of_another_program(sweep_file, tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    _bad(["plot", other, "--kind", "energy"], other, "results store")


# 5. --scheduler

@pytest.mark.parametrize("address", ["nonsense", "tcp://", "tcp://host", "host:port",
                                     "tcp://host:99999", "http://host:8786", ":8786",
                                     "tcp://a b:1"])
def test_malformed_scheduler_address(sweep_file, tmp_path, address):
    start = time.monotonic()
    _bad(["sweep", sweep_file, "--store", tmp_path / "s.db", "--scheduler", address],
         "HOST:PORT")
    assert time.monotonic() - start < 5


def test_unreachable_scheduler_fails_fast(sweep_file, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    _bad(["sweep", sweep_file, "--store", tmp_path / "s.db", "--scheduler",
          f"tcp://127.0.0.1:{port}"], "cannot reach the Dask scheduler")
    assert time.monotonic() - start < 15


# 6. wrong types, huge integers, NaN and inf

@pytest.mark.parametrize("old, new, key", [
    ("seq_len: 16", "seq_len: [16]", "phase.seq_len"),
    ("format: fp16", "format: 16", "format"),
    ("format: fp16", "format: [fp16]", "format"),
    ("d_ff: 128", "d_ff: 100000000000000000000000", "model.d_ff"),
    ("d_ff: 128", "d_ff: .nan", "model.d_ff"),
    ("d_ff: 128", "d_ff: .inf", "model.d_ff"),
    ("layers: 1", "layers: 1.5", "model.layers"),
    ("batch: 1", "batch: true", "batch"),
])
def test_wrong_values_in_a_model_file(write_yaml, old, new, key):
    path = write_yaml(TINY.replace(old, new), "w.yaml")
    _bad(["run", path], path, key)


EXPLICIT = """\
workload:
  name: gemm
  ranks: {m: 64, k: 32, n: 16}
  inputs:
    A: {ranks: [m, k]}
    B: {ranks: [k, n]}
  einsums:
    - C[m,n] = A[m,k] * B[k,n]
"""


@pytest.mark.parametrize("old, new, key", [
    ("m: 64", "m: [64]", "workload.ranks.m"),
    ("m: 64", "m: .inf", "workload.ranks.m"),
    ("m: 64", "m: 1267650600228229401496703205376", "workload.ranks.m"),
    ("name: gemm", "name: gemm\n  format: 8", "workload.format"),
    ("A: {ranks: [m, k]}", "A: {ranks: [m, k], format: {x: 1}}", "workload.inputs.A.format"),
    ("A: {ranks: [m, k]}", "A: {ranks: [[m], k]}", "workload.inputs.A.ranks"),
    ("- C[m,n] = A[m,k] * B[k,n]", "- {einsum: 'C[m,n] = A[m,k] * B[k,n]', name: [c]}",
     "workload.einsums[0].name"),
    ("- C[m,n] = A[m,k] * B[k,n]", "- {einsum: 'C[m,n] = A[m,k] * B[k,n]', reduce: [max]}",
     "workload.einsums[0].reduce"),
])
def test_wrong_values_in_an_explicit_workload(write_yaml, old, new, key):
    path = write_yaml(EXPLICIT.replace(old, new), "w.yaml")
    _bad(["run", path], path, key)


@pytest.mark.parametrize("old, new, key", [
    ("class: buffer", "class: {x: 1}", "components[1].class"),
    ("class: buffer", "class: [buffer]", "components[1].class"),
    ("rows: 128", "rows: [128]", "components[2].rows"),
    ("rows: 128", "rows: 100000000000000000000", "components[2].rows"),
    ("rows: 128", "rows: .nan", "components[2].rows"),
    ("clock_ghz: 1.0", "clock_ghz: .inf", "architecture.clock_ghz"),
])
def test_wrong_values_in_an_arch_file(tiny, write_yaml, old, new, key):
    assert old in DEFAULT_ARCH
    path = write_yaml(DEFAULT_ARCH.replace(old, new, 1), "a.yaml")
    _bad(["run", tiny, "--arch", path], path, key)


@pytest.fixture
def saved_mapping(tiny, tmp_path):
    path = tmp_path / "m.yaml"
    result = CliRunner().invoke(main, ["run", str(tiny), "--json", "--save-mapping", str(path)])
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize("old, new, key", [
    ("chunk_points: ", "chunk_points: [1] #", "chunk_points"),
    ("chunk_points: ", "chunk_points: true #", "chunk_points"),
    ("chunk_points: ", "chunk_points: .nan #", "chunk_points"),
    ("chunk_points: ", "chunk_points: 100000000000000000000000 #", "chunk_points"),
    ("dataflow: ", "dataflow: [os] #", "mappings.l0_Q"),
    ("M: ", "M: 1.0e+300 #", "tiles.M"),
    ("M: ", "M: [2] #", "tiles.M"),
    ("loop_order: ", "loop_order: [B, M, N, K] #", "loop_order"),
])
def test_wrong_values_in_a_mapping_file(tiny, saved_mapping, old, new, key):
    text = saved_mapping.read_text()
    assert old in text
    saved_mapping.write_text(text.replace(old, new))
    _bad(["run", tiny, "--mapping", saved_mapping], saved_mapping, key)


def test_a_given_mapping_on_an_array_without_the_format(tiny, saved_mapping, tmp_path):
    """With every mapping given, the mapper never runs: the door itself checks that the
    array computes in the workload's format (it was a KeyError when pricing the MACs)."""
    import yaml

    data = yaml.safe_load((REPO / "arch" / "presets" / "default.yaml").read_text())
    array = next(c for c in data["architecture"]["components"] if c["class"] == "array2d")
    array.update(formats=["int8"], mac_pj={"int8": 0.3})
    path = tmp_path / "int8.yaml"
    path.write_text(yaml.safe_dump(data))
    _bad(["run", tiny, "--arch", path, "--mapping", saved_mapping], tiny, "fp16", "['int8']")


def test_tiles_given_as_a_list(tiny, saved_mapping):
    import yaml

    data = yaml.safe_load(saved_mapping.read_text())
    data["mappings"]["l0_Q"]["tiles"] = ["B", "M", "N", "K"]
    saved_mapping.write_text(yaml.safe_dump(data))
    _bad(["run", tiny, "--mapping", saved_mapping], saved_mapping, "mappings.l0_Q.tiles")


@pytest.mark.parametrize("old, new, key", [
    ("values: [16]", "values: [.nan]", "sweep.axes[0].values[0]"),
    ("values: [16]", "values: [[16]]", "sweep.axes[0]"),
    ("values: [16]", "values: [100000000000000000000000]", "sweep.axes[0].values[0]"),
    ("values: [16]", "values: ['many']", "sweep.axes[0].values[0]"),
    ("name: small", "name: [small]", "sweep.name"),
])
def test_wrong_values_in_a_sweep_file(sweep_file, tmp_path, old, new, key):
    sweep_file.write_text(SWEEP.replace(old, new))
    _bad(["sweep", sweep_file, "--store", tmp_path / "s.db"], sweep_file, key)


# 7. sizes beyond any machine

@pytest.mark.parametrize("old, new, key, limit", [
    ("d_ff: 128", f"d_ff: {2**48 + 1}", "model.d_ff", f"{2**48}"),
    ("d_ff: 128", "d_ff: 1000000000000000000000000000000", "model.d_ff", "2**63"),
    ("seq_len: 16", f"seq_len: {2**50}", "phase.seq_len", f"{2**48}"),
    ("layers: 1", "layers: 1000000", "model.layers", f"{limits.MAX_LAYERS}"),
    ("batch: 1", f"batch: {2**30}", "batch", f"{limits.MAX_BATCH}"),
    ("phase: {kind: prefill, seq_len: 16}", "phase: {kind: decode, tokens: 10000000}",
     "phase.tokens", f"{limits.MAX_TOKENS}"),
    ("phase: {kind: prefill, seq_len: 16}", "phase: {kind: decode, tokens: 90000}",
     "phase.tokens", "Einsums per cascade"),
])
def test_sizes_beyond_any_machine(write_yaml, old, new, key, limit):
    path = write_yaml(TINY.replace(old, new).replace("layers: 1,", "layers: 30,"), "w.yaml")
    start = time.monotonic()
    _bad(["run", path], path, key, limit)
    assert time.monotonic() - start < 10


def test_rank_of_ten_to_the_thirty_is_refused_at_once(write_yaml):
    path = write_yaml(EXPLICIT.replace("m: 64", "m: 1000000000000000000000000000000"), "w.yaml")
    _bad(["run", path], path, "workload.ranks.m")
    path = write_yaml(EXPLICIT.replace("m: 64", f"m: {2**48 + 1}"), "w.yaml")
    _bad(["run", path], path, "workload.ranks.m", f"{2**48:,}")


def test_tensor_too_large_for_any_memory(write_yaml):
    path = write_yaml(EXPLICIT.replace("m: 64, k: 32", f"m: {2**40}, k: {2**20}"), "w.yaml")
    _bad(["run", path], path, "workload.einsums[0]", "elements")


def test_legal_but_huge_einsum_runs_whole(write_yaml):
    """A rank of 2^40 is legal: the engines cost distinct tiles, not rank sizes (issue
    18; tests/test_size_independence.py bounds the work), so it simulates rather than
    being refused."""
    import json
    path = write_yaml(EXPLICIT.replace("m: 64", f"m: {2**40}"), "w.yaml")
    result = CliRunner().invoke(main, ["run", str(path), "--json"])
    assert result.exit_code == 0, result.output
    macs = sum(e["macs"] for e in json.loads(result.output)["einsums"])
    assert macs == 2**40 * 32 * 16


@pytest.mark.parametrize("old, new, limit", [
    ("capacity_kib: 8192", f"capacity_kib: {2**41}", f"{2**40}"),
    ("rows: 128", f"rows: {2**21}", f"{2**20}"),
])
def test_arch_sizes_beyond_any_machine(tiny, write_yaml, old, new, limit):
    path = write_yaml(DEFAULT_ARCH.replace(old, new, 1), "a.yaml")
    _bad(["run", tiny, "--arch", path], path, limit)


# 8. format errors name the workload

@pytest.mark.parametrize("fmt", ["int4", "bf16"])
def test_unsupported_format_names_the_workload(write_yaml, fmt):
    path = write_yaml(TINY.replace("format: fp16", f"format: {fmt}"), "w.yaml")
    out = _bad(["run", path], path, fmt)
    assert "default.yaml" not in out.split(":")[1]  # the file named first is the workload


def test_unsupported_contraction_format_names_the_workload(write_yaml):
    path = write_yaml(EXPLICIT.replace("name: gemm", "name: gemm\n  format: int4"), "w.yaml")
    _bad(["run", path], f"error: {path}", "int4")


@pytest.mark.parametrize("fmt", ["int0", "fp1000", "int3000000000000000000000", "nope"])
def test_unknown_format_names_the_workload(write_yaml, fmt):
    path = write_yaml(TINY.replace("format: fp16", f"format: {fmt}"), "w.yaml")
    _bad(["run", path], f"error: {path}: format", "unknown number format")


# 9. sweeps that could only fail

@pytest.mark.parametrize("old, new, key, fragment", [
    ("param: PE2D.rows", "param: PE9.rows", "sweep.axes[0].param", "no component named 'PE9'"),
    ("param: PE2D.rows", "param: PE2D.rowz", "sweep.axes[0].param", "no field 'rowz'"),
    ("values: [16]", "values: [0]", "sweep.axes[0].values[0]", "greater than 0"),
    ("objectives: [seconds, energy_j]", "objectives: [seconds, joules]",
     "sweep.objectives[1]", "unknown objective 'joules'"),
    ("param: PE2D.rows", "param: workload.phase.seq_lenn", "sweep.axes[0]", "seq_lenn"),
    ("param: PE2D.rows", "param: workload.batch", "sweep.axes[0]", "batch"),
])
def test_sweep_that_can_only_fail_is_refused_at_load(sweep_file, tmp_path, old, new, key,
                                                     fragment):
    text = SWEEP.replace(old, new)
    if "workload.batch" in new:
        text = text.replace("values: [16]", "values: [-3]")
    sweep_file.write_text(text)
    _bad(["sweep", sweep_file, "--store", tmp_path / "s.db"], sweep_file, key, fragment)
    assert not (tmp_path / "s.db").exists()


def test_good_sweep_still_runs(sweep_file, tmp_path):
    result = CliRunner().invoke(main, ["sweep", str(sweep_file), "--store",
                                       str(tmp_path / "s.db"), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "1 ok, 0 infeasible, 0 failed" in " ".join(result.output.split())


# 10. a mapping file whose tiles do not fit names the mapping file

def test_mapping_that_cannot_fit_names_the_mapping_file(write_yaml, tmp_path):
    import yaml

    gemm = write_yaml(EXPLICIT, "gemm.yaml")
    arch = write_yaml(DEFAULT_ARCH.replace("capacity_kib: 8192", "capacity_kib: 4"), "a.yaml")
    saved = tmp_path / "m.yaml"
    assert CliRunner().invoke(main, ["run", str(gemm), "--arch", str(arch), "--save-mapping",
                                     str(saved)]).exit_code == 0
    data = yaml.safe_load(saved.read_text())
    data["mappings"]["C"]["tiles"] = {"B": 1, "M": 10**6, "N": 10**6, "K": 10**6}
    saved.write_text(yaml.safe_dump(data))
    out = _bad(["run", gemm, "--arch", arch, "--mapping", saved], f"error: {saved}: mappings.C",
               "mapping cannot fit")
    assert "a.yaml:" not in out


def test_vector_mapping_that_cannot_fit_names_the_mapping_file(tiny, saved_mapping, write_yaml):
    import yaml

    arch = write_yaml(DEFAULT_ARCH.replace("capacity_kib: 8192", "capacity_kib: 4"), "a.yaml")
    data = yaml.safe_load(saved_mapping.read_text())
    vec = next(n for n, m in data["mappings"].items() if m["role"] == "array1d")
    data["mappings"] = {vec: {"role": "array1d", "chunk_points": 10**6}}
    saved_mapping.write_text(yaml.safe_dump(data))
    _bad(["run", tiny, "--arch", arch, "--mapping", saved_mapping], f"error: {saved_mapping}",
         f"mappings.{vec}", "mapping cannot fit")


def test_saved_mapping_round_trips_without_its_source(tiny, saved_mapping):
    import mapper

    loaded = mapper.load_mappings(saved_mapping)
    assert all(m.source == str(saved_mapping) for m in loaded.values())
    assert "source" not in saved_mapping.read_text()
    again = CliRunner().invoke(main, ["run", str(tiny), "--json", "--mapping", str(saved_mapping)])
    first = CliRunner().invoke(main, ["run", str(tiny), "--json"])
    assert json.loads(again.output)["cycles"] == json.loads(first.output)["cycles"]
