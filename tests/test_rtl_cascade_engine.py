"""A GEMM followed by a softmax's max, exp and sum on the 1D unit, inside one engine:
every output bit-exact (the GEMM against numpy, the 1D Einsums against rtl/vector1d's
golden model on the GEMM's accumulators), and the cycles from start to done equal
sim's for the same mappings with DRAM outside (the GEMM's tile cycles plus each 1D
Einsum's compute cycles from sim.vector_engine), on randomized arrays, lanes, pipeline
depths, exp latencies, shapes, tiles, dataflows and chunk sizes; and moving the
hand-off from the GEMM to the 1D unit by one cycle is caught."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
from mapper import GemmMapping, VectorMapping
from rtl.cascade_engine import softmax_steps
from rtl.cosim import CosimMismatch, check_cascade
from rtl.engine import build_engine
from rtl.numerics import random_operands
from workloads.builder import CascadeBuilder

DATAFLOWS = [("os", "M"), ("os", "N"), ("ws", "K"), ("is", "K")]


def softmax_cascade(b: int, p: int, m: int, e: int, fmt: str = "int8"):
    """Scores, then the softmax's max, shifted exponentials and their sum (the division
    has no lane program)."""
    ranks = {"p": p, "m": m, "e": e}
    bi = ""
    if b > 1:
        ranks = {"b": b, **ranks}
        bi = "b,"
    c = CascadeBuilder("gemm-softmax", ranks, default_format=fmt)
    c.add(f"QK[{bi}p,m] = Q[{bi}p,e] * K[{bi}m,e]")
    c.add(f"GM[{bi}p] = QK[{bi}p,m]", reduce="max")
    c.add(f"SN[{bi}p,m] = exp(QK[{bi}p,m] - GM[{bi}p])")
    c.add(f"SD[{bi}p] = SN[{bi}p,m]")
    c.add(f"A[{bi}p,m] = SN[{bi}p,m] / SD[{bi}p]")  # not run: no divide on the lanes
    return c.build()


def run_case(R, C, lanes, depth, exp_cycles, shape, dataflow, rows, tiles, order, chunks,
             seed=0):
    architecture = arch.load("default").with_changes(**{
        "PE2D.rows": R, "PE2D.cols": C, "VEC.lanes": lanes, "VEC.pipeline_depth": depth,
        "VEC.formats": ["int8"], "VEC.op_cycles": {"exp": exp_cycles}})
    cascade = softmax_cascade(*shape)
    gemm = cascade.einsums[0]
    steps = softmax_steps(cascade, gemm, architecture)
    assert [e.name for e in steps] == ["GM", "SN", "SD"]
    vector = [(e, VectorMapping(c)) for e, c in zip(steps, chunks)]
    mapping = GemmMapping(dataflow, rows, tuple(zip("BMNK", tiles)), tuple(order))
    dut = build_engine(architecture, gemm, mapping, vector)
    size = gemm.gemm_shape()
    rng = np.random.default_rng(seed)
    A = random_operands(dut.fmt, rng, (size["B"], size["M"], size["K"]))
    W = random_operands(dut.fmt, rng, (size["B"], size["K"], size["N"]))
    return check_cascade(dut, gemm, architecture, mapping, vector, A, W)


@st.composite
def cases(draw):
    R, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    lanes, depth = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    exp_cycles = draw(st.integers(3, 7))
    b, p, m, e = (draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6)),
                  draw(st.integers(1, 5)))
    dataflow, rows = draw(st.sampled_from(DATAFLOWS))
    tiles = (draw(st.integers(1, b)), draw(st.integers(1, p)), draw(st.integers(1, m)),
             draw(st.integers(1, e)))
    order = draw(st.permutations("BMNK"))
    chunks = (draw(st.integers(1, b * p)), draw(st.integers(1, b * p * m)),
              draw(st.integers(1, b * p)))
    return R, C, lanes, depth, exp_cycles, (b, p, m, e), dataflow, rows, tiles, order, chunks


@settings(max_examples=8, deadline=None)
@given(cases())
def test_gemm_then_softmax_matches_numpy_and_sim(case):
    run, per = run_case(*case)
    assert len(per) == 3 and all(c > 0 for c in per)


@pytest.mark.parametrize("dataflow, rows", DATAFLOWS)
def test_every_dataflow_with_partial_rounds(dataflow, rows):
    # 5 lanes on chunks of 3, 7 and 4 points: every chunk ends in a partial round
    run_case(2, 3, 5, 2, 7, (2, 4, 5, 3), dataflow, rows, (1, 3, 2, 3), "BKNM", (3, 7, 4))


@pytest.mark.slow
def test_larger_case():
    run_case(4, 4, 8, 4, 7, (1, 16, 16, 16), "os", "M", (1, 8, 8, 16), "BMNK", (16, 256, 16))


# Moving the hand-off from the GEMM to the 1D unit by one cycle, either way, must break
# the co-simulation (the 1D unit starts before the GEMM's last result is written, or
# sim's Einsum-after-Einsum timing is not met).
@pytest.mark.parametrize("delta", [1, -1])
def test_handoff_off_by_one_is_caught(delta, monkeypatch):
    import rtl.cascade_engine

    case = (2, 2, 3, 2, 7, (1, 3, 4, 3), "os", "M", (1, 3, 4, 3), "BMNK", (3, 12, 3))
    run_case(*case)  # agrees unmutated
    monkeypatch.setattr(rtl.cascade_engine, "handoff_delay", lambda: delta)
    with pytest.raises(CosimMismatch):
        run_case(*case)


def test_fp16_gemm_is_refused():
    architecture = arch.load("default").with_changes(**{"PE2D.rows": 2, "PE2D.cols": 2})
    cascade = softmax_cascade(1, 2, 2, 2, fmt="fp16")
    gemm = cascade.einsums[0]
    vector = [(e, VectorMapping(4)) for e in softmax_steps(cascade, gemm, architecture)]
    mapping = GemmMapping("os", "M", (("B", 1), ("M", 2), ("N", 2), ("K", 2)), tuple("BMNK"))
    with pytest.raises(ValueError, match="Q15.16"):
        build_engine(architecture, gemm, mapping, vector)


WORKLOAD = """workload:
  name: gemm-softmax
  format: int8
  ranks: {p: 6, m: 5, e: 4}
  inputs:
    Q: {ranks: [p, e]}
    K: {ranks: [m, e]}
  einsums:
    - QK[p,m] = Q[p,e] * K[m,e]
    - {einsum: "GM[p] = QK[p,m]", reduce: max}
    - SN[p,m] = exp(QK[p,m] - GM[p])
    - SD[p] = SN[p,m]
"""


def test_cli_engine_runs_the_softmax_after_the_gemm(tmp_path):
    from click.testing import CliRunner

    from sim.cli import main

    (tmp_path / "w.yaml").write_text(WORKLOAD)
    result = CliRunner().invoke(main, [
        "rtl", "engine", "--set", "PE2D.rows=2", "--set", "PE2D.cols=3", "--set", "VEC.lanes=4",
        "--set", "VEC.formats=[int8]", "--workload", str(tmp_path / "w.yaml"), "--cosim",
        "--cases", "1", "--no-synth", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "30 GEMM outputs and 6 GM, 30 SN, 6 SD bit-exact" in text
    assert "then on the 4-lane 1D unit: GM" in text
    assert "module top" in (tmp_path / "out" / "top.v").read_text()
