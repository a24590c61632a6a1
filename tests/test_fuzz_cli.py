"""Fuzzing the CLI with mutated shipped inputs: workloads, architecture presets, mapping
files and sweep files, each shrunk so a run takes well under a second, then mutated
(keys deleted, wrong types, huge / zero / negative / NaN / inf numbers, unknown keys and
classes, truncated text, tabs, duplicate keys, random bytes).

Invariant for every example: exit 0 with finite, non-negative results, or exit 2 with a
message; never another exit code, never an exception, never a Traceback, never a hang
(each example runs under an alarm). The default run is a few hundred examples; the
@slow variants (`pytest -m slow`) run over 2,000.
"""

from __future__ import annotations

import collections
import copy
import json
import math
import re
import signal
import sqlite3
import tempfile
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import REPO
from sim.cli import main

TIMEOUT_S = 20
WORKLOADS = sorted(REPO.glob("workloads/*.yaml"))
PRESETS = sorted(REPO.glob("arch/presets/*.yaml"))
SWEEPS = sorted(REPO.glob("experiments/sweeps/*.yaml"))
SMALL_WORKLOADS = [p for p in WORKLOADS if p.stem in ("gpt2", "gpt2-decode", "llama3-8b",
                                                      "attention", "attention_1pass")]

# Values a fuzzer puts where a number (or anything) was.
ODD_VALUES = [0, -1, -10**9, 1, 2, 3, 7, 0.5, 1e-300, 2**40, 2**48 + 1, 2**63, 10**30, 1e308,
              float("nan"), float("inf"), float("-inf"), True, False, None, "", "x", "12",
              [], [1], [1, 2], {}, {"a": 1}, "fp16", "int4", "zz9", -0.0]


CURRENT = [b""]  # the mutated file of the running example, for the timeout message


def odd(draw):
    """One of ODD_VALUES, copied: the lists and dicts in it must never be shared."""
    return copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))


class ExampleTimeout(BaseException):
    """Not an Exception, so CliRunner does not swallow it into result.exception."""


@contextmanager
def alarm(seconds: int = TIMEOUT_S):
    def fire(signum, frame):  # hypothesis does not shrink a BaseException: show the input
        raise ExampleTimeout(f"example ran over {seconds} s; input:\n{CURRENT[0]!r}")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- shrunk inputs

def shrink_workload(data: dict) -> dict:
    """A shipped workload made small: one layer, 16 tokens, narrow, or ranks <= 8."""
    data = copy.deepcopy(data)
    if "model" in data:
        m = data["model"]
        heads = 4
        kv = 2 if m.get("kv_heads") not in (None, m.get("heads")) else None
        m.update(layers=1, d_model=32, heads=heads, d_ff=64, vocab=64)
        m.pop("head_dim", None)
        if kv:
            m["kv_heads"] = kv
        else:
            m.pop("kv_heads", None)
        phase = data.setdefault("phase", {})
        if phase.get("kind") == "decode":
            phase.update(kv_len=8, tokens=min(phase.get("tokens", 1), 2))
        else:
            phase["seq_len"] = 16
    else:
        ranks = data["workload"]["ranks"]
        for r in ranks:
            ranks[r] = min(ranks[r], 8)
    return data


@cache
def shipped(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@cache
def small_workload_text(path: Path) -> str:
    return yaml.safe_dump(shrink_workload(shipped(path)), sort_keys=False)


@cache
def saved_mapping_text(path: Path) -> str:
    """The mapping `sim run --save-mapping` writes for the shrunk workload."""
    with tempfile.TemporaryDirectory() as tmp:
        wl = Path(tmp) / path.name
        wl.write_text(small_workload_text(path))
        out = Path(tmp) / "m.yaml"
        result = CliRunner().invoke(main, ["run", str(wl), "--json", "--save-mapping", str(out)])
        assert result.exit_code == 0, result.output
        return out.read_text()


def small_sweep(path: Path, workload_file: str) -> dict:
    """A shipped sweep on one small workload, its grid cut to 1-2 points."""
    data = copy.deepcopy(shipped(path))
    s = data["sweep"]
    s["workloads"] = [{"path": workload_file, "label": "small"}]
    for i, axis in enumerate(s.get("axes", [])):
        if "values" in axis:
            axis["values"] = axis["values"][:2 if i == 0 else 1]
        elif "range" in axis:
            start_value = axis["range"]["start"]
            axis["range"] = {"start": start_value, "stop": start_value, "num": 1,
                             "scale": axis["range"].get("scale", "linear")}
    s.pop("baseline", None)
    return data


# ---------------------------------------------------------------- mutations

def paths(node, prefix=()):
    """Every key path of a YAML tree (dict keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def _parent(tree, path):
    node = tree
    for p in path[:-1]:
        node = node[p]
    return node


@st.composite
def mutated_tree(draw, tree: dict) -> dict:
    """1-3 structural mutations of a YAML tree."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 3))):
        found = paths(tree)
        if not found:
            break
        path = draw(st.sampled_from(found))
        parent, last = _parent(tree, path), path[-1]
        kind = draw(st.sampled_from(["delete", "replace", "replace", "replace", "unknown_key",
                                     "class", "scale"]))
        if kind == "delete":
            del parent[last]
        elif kind == "replace":
            parent[last] = odd(draw)
        elif kind == "unknown_key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["bogus", "class", "format", "rows", "1", "name"]))] = \
                odd(draw)
        elif kind == "class":
            if isinstance(parent, dict) and "class" in parent:
                parent["class"] = copy.deepcopy(draw(st.sampled_from(
                    ["warp_core", {"x": 1}, ["dram"], 3, None, "array2d", "buffer", "pim_dram"])))
            else:
                parent[last] = odd(draw)
        elif kind == "scale":
            value = parent[last]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                parent[last] = value * draw(st.sampled_from([0, -1, 2, 10**6, 10**20, 0.001]))
    return tree


@st.composite
def mutated_text(draw, text: str) -> bytes:
    """Text-level damage: truncation, tabs, a duplicated line, random bytes."""
    kind = draw(st.sampled_from(["truncate", "tab", "duplicate_line", "bytes", "swap_chars"]))
    raw = text.encode()
    if kind == "truncate":
        return raw[:draw(st.integers(0, len(raw)))]
    if kind == "tab":
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = "\t" + lines[i]
        return "".join(lines).encode()
    if kind == "duplicate_line":
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, len(lines) - 1))
        return "".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]).encode()
    if kind == "swap_chars":
        i = draw(st.integers(0, max(0, len(raw) - 1)))
        c = draw(st.sampled_from(list(b":{}[]-,#&*!|>'\"%@` \n")))
        return raw[:i] + bytes([c]) + raw[i + 1:]
    i = draw(st.integers(0, len(raw)))
    return raw[:i] + draw(st.binary(min_size=1, max_size=16)) + raw[i:]


def dump(tree) -> str:
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


@st.composite
def mutated_file(draw, text: str) -> bytes:
    if draw(st.integers(0, 3)) == 0:
        return draw(mutated_text(text))
    tree = yaml.safe_load(text)
    return dump(draw(mutated_tree(tree))).encode()


# ---------------------------------------------------------------- the invariant

NON_SPEC_FAILURE = re.compile(r"^[A-Z]\w*(Error|Exception|Warning|Exit|Interrupt)\b")


OUTCOMES: collections.Counter = collections.Counter()  # (command, exit code) -> examples


def check_cli(args: list, json_out: bool = False, store: Path | None = None):
    with alarm():
        result = CliRunner().invoke(main, [str(a) for a in args])
    OUTCOMES[(args[0], result.exit_code)] += 1
    if not (result.exception is None or isinstance(result.exception, SystemExit)):
        import traceback
        trace = "".join(traceback.format_exception(result.exception)[-6:])
        raise AssertionError(f"exception {result.exception!r} for {args}\n{trace}\n"
                             f"input: {CURRENT[0]!r}")
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 2), f"exit {result.exit_code}: {result.output}"
    if result.exit_code == 2:
        assert result.output.strip(), "exit 2 without a message"
        return result
    if json_out:
        d = json.loads(result.stdout)
        for key in ("cycles", "seconds", "energy_j"):
            assert math.isfinite(d[key]) and d[key] >= 0, (key, d[key])
        for e in d["einsums"]:
            assert math.isfinite(e["cycles"]) and e["cycles"] >= 0, e
            assert math.isfinite(e["energy_j"]) and e["energy_j"] >= 0, e
    if store is not None and store.is_file():  # failed points must be bad input, not bugs
        with sqlite3.connect(store) as db:
            for status, reason, metrics in db.execute("SELECT status, reason, metrics FROM points"):
                assert not (status == "failed" and NON_SPEC_FAILURE.match(reason)), reason
                for key in ("seconds", "energy_j"):
                    value = json.loads(metrics).get(key)
                    assert value is None or (math.isfinite(value) and value >= 0), (key, value)
    return result


# ---------------------------------------------------------------- the fuzz tests

def fuzz_workload(data):
    path = data.draw(st.sampled_from(WORKLOADS))
    blob = data.draw(mutated_file(small_workload_text(path)))
    with tempfile.TemporaryDirectory() as tmp:
        wl = Path(tmp) / path.name
        wl.write_bytes(blob)
        CURRENT[0] = blob
        check_cli(["run", wl, "--json"], json_out=True)


def fuzz_arch(data):
    preset = data.draw(st.sampled_from(PRESETS))
    workload = data.draw(st.sampled_from(SMALL_WORKLOADS))
    blob = data.draw(mutated_file(preset.read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        wl, arch = Path(tmp) / workload.name, Path(tmp) / "arch.yaml"
        wl.write_text(small_workload_text(workload))
        arch.write_bytes(blob)
        CURRENT[0] = blob
        check_cli(["run", wl, "--arch", arch, "--json"], json_out=True)


def fuzz_mapping(data):
    workload = data.draw(st.sampled_from(SMALL_WORKLOADS))
    blob = data.draw(mutated_file(saved_mapping_text(workload)))
    with tempfile.TemporaryDirectory() as tmp:
        wl, m = Path(tmp) / workload.name, Path(tmp) / "m.yaml"
        wl.write_text(small_workload_text(workload))
        m.write_bytes(blob)
        CURRENT[0] = blob
        check_cli(["run", wl, "--mapping", m, "--json"], json_out=True)


def fuzz_sweep(data):
    sweep = data.draw(st.sampled_from(SWEEPS))
    workload = data.draw(st.sampled_from([p for p in SMALL_WORKLOADS if "attention" not in p.stem]))
    with tempfile.TemporaryDirectory() as tmp:
        wl = Path(tmp) / workload.name  # found beside the sweep file: the text stays the same
        wl.write_text(small_workload_text(workload))
        blob = data.draw(mutated_file(dump(small_sweep(sweep, workload.name))))
        s, store = Path(tmp) / "s.yaml", Path(tmp) / "s.db"
        s.write_bytes(blob)
        CURRENT[0] = blob
        check_cli(["sweep", s, "--store", store, "-j", "1"], store=store)


FUZZERS = {"workload": fuzz_workload, "arch": fuzz_arch, "mapping": fuzz_mapping,
           "sweep": fuzz_sweep}
QUICK = {"workload": 150, "arch": 150, "mapping": 100, "sweep": 80}   # 480 examples
SLOW = {"workload": 800, "arch": 800, "mapping": 500, "sweep": 400}  # 2,500 examples
COMMON = dict(deadline=None, derandomize=False, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _fuzz_test(name: str, examples: int):
    @settings(max_examples=examples, **COMMON)
    @given(st.data())
    def test(data):
        FUZZERS[name](data)
    return test


@pytest.mark.parametrize("name", sorted(FUZZERS))
def test_fuzz_cli(name):
    before = sum(OUTCOMES.values())
    _fuzz_test(name, QUICK[name])()
    ran = sum(OUTCOMES.values()) - before
    assert ran >= QUICK[name] // 2, f"only {ran} examples ran"
    print(f"{name}: {ran} examples; outcomes so far {dict(OUTCOMES)}")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FUZZERS))
def test_fuzz_cli_many(name):
    _fuzz_test(name, SLOW[name])()


def test_shrunk_inputs_run_clean():
    """The unmutated shrunk inputs succeed (so the fuzz starts from working files)."""
    for path in SMALL_WORKLOADS:
        with tempfile.TemporaryDirectory() as tmp:
            wl = Path(tmp) / path.name
            wl.write_text(small_workload_text(path))
            assert check_cli(["run", wl, "--json"], json_out=True).exit_code == 0
            assert saved_mapping_text(path).startswith("mappings:")
    for sweep in SWEEPS:
        with tempfile.TemporaryDirectory() as tmp:
            wl = Path(tmp) / "gpt2.yaml"
            wl.write_text(small_workload_text(REPO / "workloads" / "gpt2.yaml"))
            s, store = Path(tmp) / "s.yaml", Path(tmp) / "s.db"
            s.write_text(dump(small_sweep(sweep, str(wl))))
            assert check_cli(["sweep", s, "--store", store, "-j", "1"], store=store).exit_code == 0
            with sqlite3.connect(store) as db:
                assert 1 <= db.execute("SELECT COUNT(*) FROM points").fetchone()[0] <= 8


def test_alarm_stops_a_hang():
    import time

    with pytest.raises(ExampleTimeout):
        with alarm(1):
            time.sleep(5)
