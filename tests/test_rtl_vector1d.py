"""The 1D unit's lanes (FuseMax online softmax) against the fixed-point golden model,
sim.vector_engine's cycle model and sim.vector_reference; exp within its tolerance."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
from rtl.cosim import check_vector, fusemax_vector_einsums
from rtl.vector1d import (EXP_TOLERANCE_ABS, EXP_TOLERANCE_REL, SoftmaxLanes, UnsupportedOp,
                          compile_einsum, exp_q16, to_q16)


def unit_arch(lanes, depth=4, exp_cycles=7):
    return arch.load("default").with_changes(**{
        "VEC.lanes": lanes, "VEC.pipeline_depth": depth,
        "VEC.op_cycles": {"exp": exp_cycles, "divide": 7}})


@settings(max_examples=3, deadline=None)
@given(lanes=st.integers(1, 3), depth=st.integers(1, 5), exp_cycles=st.integers(3, 8),
       p=st.integers(1, 2), m0=st.integers(1, 3), m1=st.integers(1, 2), seed=st.integers(0, 2**31))
def test_softmax_lanes_match_golden_and_sim_cycles(lanes, depth, exp_cycles, p, m0, m1, seed):
    a = unit_arch(lanes, depth, exp_cycles)
    einsums = fusemax_vector_einsums(a.array1d, p=p, m=m0 * m1, e=2, m0=m0)
    dut = SoftmaxLanes.from_arch(a.array1d, einsums)
    rng = np.random.default_rng(seed)
    for program, e in enumerate(einsums):
        points = e.output_points
        operands = np.vectorize(to_q16)(rng.uniform(-12, 6, (points, e.points // points, len(e.inputs))))
        check_vector(dut, program, e, a, operands)


def test_cascade_programs_cover_fusemax_1d_einsums():
    a = unit_arch(2)
    names = [e.name for e in fusemax_vector_einsums(a.array1d, p=1, m=4, e=2, m0=2)]
    for needed in ("RM", "PRM", "SPD", "RD", "SPNV", "RNV", "SLN", "LM", "SLD"):
        assert needed in names
    assert "AV" not in names  # the final division: no lane program (documented)


def test_division_is_a_clear_error():
    from workloads.attention import one_pass

    av = next(e for e in one_pass(p=1, m=4, e=2, m0=2).einsums if e.name == "AV")
    with pytest.raises(UnsupportedOp, match="divide"):
        compile_einsum(av, unit_arch(2).array1d)


def test_exp_within_stated_tolerance():
    rng = np.random.default_rng(0)
    for x in np.concatenate([rng.uniform(-20, 10, 20000), [0.0, -1e-5, 1e-5, -20.0, 10.0]]):
        q = to_q16(x)
        exact = math.exp(q / 2**16)
        got = exp_q16(q, 5) / 2**16
        assert abs(got - exact) <= EXP_TOLERANCE_ABS + EXP_TOLERANCE_REL * exact, x



STAT = "read_verilog {f}.v; hierarchy -top top; proc; flatten; opt -full; clean -purge; " \
       "tee -q -o {f}.stat stat -width"


@pytest.mark.slow
def test_verilog_with_one_lane_module_is_the_flat_netlist(tmp_path):
    """to_verilog (the lane written once, instantiated per lane) flattens and optimizes
    to the same cells (type, width, count) and wires as the flat conversion."""
    import subprocess

    from amaranth.back import verilog

    from rtl.synth import ToolMissing, find_tool

    try:
        yosys = find_tool("yosys")
    except ToolMissing:
        pytest.skip("yosys is not installed (the [rtl] extra)")
    a = unit_arch(2)
    einsums = fusemax_vector_einsums(a.array1d)
    (tmp_path / "flat.v").write_text(verilog.convert(SoftmaxLanes.from_arch(a.array1d, einsums),
                                                     name="top"))
    (tmp_path / "hier.v").write_text(SoftmaxLanes.from_arch(a.array1d, einsums).to_verilog("top"))
    stats = []
    for f in ("flat", "hier"):
        subprocess.run(yosys + ["-q", "-p", STAT.format(f=f)], cwd=tmp_path, check=True,
                       capture_output=True)
        stats.append((tmp_path / f"{f}.stat").read_text())
    assert "$mul_64" in stats[0] and stats[0] == stats[1]
