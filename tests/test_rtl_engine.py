"""The tile engine runs whole GEMMs from its SRAM banks: outputs bit-exact against numpy,
busy cycles equal to sim's count for the same mapping with the buffer feeding the array
(sum over tiles of sim.array2d.array_cycles; its ideal part is sim.gemm_engine's
compute_cycles), on randomized shapes, tiles, loop orders, dataflows, formats and buffer
port widths; and a one-step change to the sequencer's schedule is caught."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
from mapper import GemmMapping
from rtl.cosim import CosimMismatch, check_engine
from rtl.engine import build_engine
from rtl.numerics import random_operands
from workloads.builder import CascadeBuilder

DATAFLOWS = [("os", "M"), ("os", "N"), ("ws", "K"), ("is", "K")]


def gemm_einsum(b: int, m: int, k: int, n: int, fmt: str):
    ranks = {"m": m, "k": k, "n": n}
    if b > 1:
        ranks["b"] = b
        text = "C[b,m,n] = A[b,m,k] * B[b,k,n]"
    else:
        text = "C[m,n] = A[m,k] * B[k,n]"
    builder = CascadeBuilder("gemm", ranks, default_format=fmt)
    return builder.add(text, name="gemm")


def run_case(R, C, shape, dataflow, rows, tiles, order, fmt="int8", port_bytes=1024, seed=0):
    architecture = arch.load("default").with_changes(**{
        "PE2D.rows": R, "PE2D.cols": C, "PE2D.formats": ["fp16", "int8", "int4"],
        "PE2D.mac_pj": {"fp16": 1.5, "int8": 0.3, "int4": 0.1},
        "GLB.read_bytes_per_cycle": port_bytes})
    einsum = gemm_einsum(*shape, fmt)
    mapping = GemmMapping(dataflow, rows, tuple(zip("BMNK", tiles)), tuple(order))
    dut = build_engine(architecture, einsum, mapping)
    size = einsum.gemm_shape()
    rng = np.random.default_rng(seed)
    A = random_operands(dut.fmt, rng, (size["B"], size["M"], size["K"]))
    W = random_operands(dut.fmt, rng, (size["B"], size["K"], size["N"]))
    return check_engine(dut, einsum, architecture, mapping, A, W)


@st.composite
def cases(draw):
    R, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    b, m, k, n = (draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6)),
                  draw(st.integers(1, 6)))
    dataflow, rows = draw(st.sampled_from(DATAFLOWS))
    tiles = (draw(st.integers(1, b)), draw(st.integers(1, m)), draw(st.integers(1, n)),
             draw(st.integers(1, k)))
    order = draw(st.permutations("BMNK"))
    fmt = draw(st.sampled_from(["int8", "int4", "fp16"]))
    port = draw(st.sampled_from([1024, 1, 3]))  # bytes/cycle: ample, or the port stalls
    return R, C, (b, m, k, n), dataflow, rows, tiles, order, fmt, port


@settings(max_examples=6, deadline=None)
@given(cases())
def test_engine_matches_numpy_and_sim(case):
    R, C, shape, dataflow, rows, tiles, order, fmt, port = case
    run, ideal = run_case(R, C, shape, dataflow, rows, tiles, order, fmt, port)
    assert run.cycles >= ideal  # stalls only add
    if port == 1024:
        assert run.cycles == ideal  # the port feeds a whole step every cycle


@pytest.mark.parametrize("dataflow, rows", DATAFLOWS)
def test_every_dataflow_with_partial_tiles_and_stalls(dataflow, rows):
    run_case(2, 3, (2, 5, 7, 4), dataflow, rows, (1, 3, 3, 4), "BKNM", port_bytes=2)


@pytest.mark.slow
def test_larger_gemm():
    run, ideal = run_case(4, 4, (1, 32, 32, 32), "os", "M", (1, 16, 16, 16), "BMNK")
    assert run.cycles == ideal


# A one-step change to the sequencer's schedule (fold spacing or drain length) must break
# the co-simulation: wrong outputs or cycles different from sim.
@pytest.mark.parametrize("function", ["fold_gap", "drain_steps"])
@pytest.mark.parametrize("delta", [1, -1])
@pytest.mark.parametrize("dataflow, rows", [("os", "M"), ("ws", "K")])
def test_sequencer_off_by_one_is_caught(function, delta, dataflow, rows, monkeypatch):
    import rtl.engine

    case = dict(R=2, C=2, shape=(1, 4, 3, 3), dataflow=dataflow, rows=rows,
                tiles=(1, 4, 3, 3), order="BMNK")
    run_case(**case)  # agrees unmutated
    original = getattr(rtl.engine, function)
    monkeypatch.setattr(rtl.engine, function, lambda *a: original(*a) + delta)
    with pytest.raises(CosimMismatch):
        run_case(**case)


def test_engine_that_does_not_fit_the_buffer_is_refused():
    architecture = arch.load("default").with_changes(**{"PE2D.rows": 2, "PE2D.cols": 2,
                                                        "GLB.capacity_kib": 1})
    mapping = GemmMapping("os", "M", (("B", 1), ("M", 8), ("N", 8), ("K", 8)), tuple("BMNK"))
    with pytest.raises(ValueError, match="whole GEMM"):
        build_engine(architecture, gemm_einsum(1, 64, 64, 64, "int8"), mapping)


# ---------------------------------------------------------------- `sim rtl engine`

WORKLOAD = """workload:
  name: gemm-small
  format: int8
  ranks: {m: 6, k: 5, n: 7}
  inputs:
    A: {ranks: [m, k]}
    B: {ranks: [k, n]}
  einsums:
    - C[m,n] = A[m,k] * B[k,n]
"""
MAPPING = """mappings:
  C: {role: array2d, dataflow: ws, rows: K, tiles: {B: 1, M: 4, N: 4, K: 3}, loop_order: BNKM}
"""


def cli(*args):
    from click.testing import CliRunner

    from sim.cli import main

    return CliRunner().invoke(main, ["rtl", *args])


def test_cli_engine_cosim(tmp_path):
    (tmp_path / "w.yaml").write_text(WORKLOAD)
    (tmp_path / "m.yaml").write_text(MAPPING)
    result = cli("engine", "--set", "PE2D.rows=2", "--set", "PE2D.cols=3", "--workload",
                 str(tmp_path / "w.yaml"), "--mapping", str(tmp_path / "m.yaml"), "--cosim",
                 "--cases", "1", "--no-synth", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "ws(rows=K) tiles[B1 M4 N4 K3] order BNKM" in result.output
    assert "42 outputs bit-exact" in result.output
    assert "module top" in (tmp_path / "out" / "top.v").read_text()


def test_cli_engine_needs_a_workload(tmp_path):
    result = cli("engine", "--no-synth", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "--workload" in result.output


def test_cli_reports_a_design_too_big_for_the_fpga_before_synthesis(tmp_path, monkeypatch):
    from rtl import synth

    def no_synthesis(*args, **kwargs):
        raise AssertionError("synthesis must not start")

    monkeypatch.setattr(synth, "synthesize_block", no_synthesis)
    result = cli("array2d", "--format", "int8", "--out", str(tmp_path))  # 128 x 128 PEs
    assert result.exit_code == 0, result.output
    assert "does not fit" in result.output and "16,384 multipliers of 156" in result.output


def test_cli_engine_refuses_a_subarray_mapping(tmp_path):
    """The tile engine builds the whole array: a mapping on a sub-array is refused
    (exit 2, one paragraph), not co-simulated with the whole array's timing."""
    (tmp_path / "w.yaml").write_text(WORKLOAD)
    (tmp_path / "m.yaml").write_text(MAPPING.replace("loop_order: BNKM", "loop_order: BNKM, "
                                                     "array: [2, 2]"))
    result = cli("engine", "--set", "PE2D.rows=2", "--set", "PE2D.cols=3", "--workload",
                 str(tmp_path / "w.yaml"), "--mapping", str(tmp_path / "m.yaml"), "--cosim",
                 "--cases", "1", "--no-synth", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "2x2 sub-array" in result.output and "Traceback" not in result.output
