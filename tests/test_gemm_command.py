"""`sim gemm`: SCALE-Sim timing against SCALE-Sim's measured cycles, the native model's
invariants, the JSON keys, and bad arguments as clear errors."""

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.gemm import simulate_gemm
from sim.scalesim_timing import scalesim_compute_cycles

# Compute cycles of real SCALE-Sim 3.0.0 (CALC mode), measured on this kind of machine:
# /work/shared/reference/README.md, "A peer measured here".
SCALESIM_MEASURED = [
    ((64, 64, 64, 32, 32, "os"), 503),
    ((64, 64, 64, 32, 32, "ws"), 631),
    ((64, 64, 64, 128, 128, "os"), 317),
    ((1, 768, 768, 32, 32, "os"), 19_919),
    ((1, 768, 768, 32, 32, "ws"), 54_719),
    ((128, 768, 768, 32, 32, "os"), 79_679),
    ((128, 768, 768, 128, 128, "ws"), 18_359),
    ((512, 768, 3072, 32, 32, "os"), 1_274_879),
]
KEYS = ("compute_cycles", "stall_cycles", "total_cycles", "utilization", "sram_reads",
        "sram_writes", "dram_reads", "dram_writes")


@pytest.mark.parametrize("case, cycles", SCALESIM_MEASURED)
def test_scalesim_timing_equals_measured_scalesim(case, cycles):
    assert scalesim_compute_cycles(*case) == cycles
    assert simulate_gemm(*case, timing="scalesim").compute_cycles == cycles


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 200), k=st.integers(1, 200), n=st.integers(1, 200),
       rows=st.sampled_from([4, 8, 16, 32]), cols=st.sampled_from([4, 8, 16, 32]),
       dataflow=st.sampled_from(["os", "ws", "is"]))
def test_native_keeps_the_lower_bounds(m, k, n, rows, cols, dataflow):
    r = simulate_gemm(m, k, n, rows, cols, dataflow)
    assert r.total_cycles == r.compute_cycles + r.stall_cycles
    assert r.stall_cycles >= 0
    assert r.total_cycles * rows * cols >= m * k * n  # never above peak
    assert 0 < r.utilization <= 1
    assert r.dram_reads >= m * k + k * n and r.dram_writes >= m * n  # compulsory words


@settings(max_examples=15, deadline=None)
@given(m=st.integers(1, 300), k=st.integers(1, 600), n=st.integers(1, 300),
       shape=st.sampled_from([(4, 4), (16, 16), (32, 32), (64, 16)]),
       dataflow=st.sampled_from(["os", "ws"]))
def test_bitserial_utilization_is_against_the_true_peak(m, k, n, shape, dataflow):
    # A BitMoD PE retires 4 lanes of MACs every 2 cycles (4-bit codes, 2 bits per
    # cycle): 2 MACs per PE-cycle, so MACs / (rows x cols x cycles) can exceed 1.
    r = simulate_gemm(m, k, n, *shape, dataflow, "bitmod")
    peak = shape[0] * shape[1] * 4 / 2
    assert r.total_cycles * peak >= m * k * n
    assert 0 < r.utilization <= 1
    assert r.utilization == pytest.approx(m * k * n / (peak * r.total_cycles))


def test_gemm_on_bitmod_defaults_to_its_activation_format():
    result = CliRunner().invoke(main, ["gemm", "--m", "64", "--k", "256", "--n", "64",
                                       "--array", "16x16", "--dataflow", "ws",
                                       "--arch", "bitmod", "--json"])
    assert result.exit_code == 0, result.output
    assert 0 < json.loads(result.output)["utilization"] <= 1


def test_native_overlaps_folds_that_scalesim_serializes():
    # Long streams, many folds: SCALE-Sim pays fill and drain on each of 256 folds.
    case = (512, 768, 3072, 32, 32, "os")
    native = simulate_gemm(*case)
    scalesim = simulate_gemm(*case, timing="scalesim")
    folds = (512 // 32) * (3072 // 32)
    assert native.compute_cycles < scalesim.compute_cycles
    assert scalesim.compute_cycles - native.compute_cycles >= folds * (32 + 32 - 2) // 2


def test_json_has_the_documented_keys():
    out = CliRunner().invoke(main, ["gemm", "--m", "64", "--k", "64", "--n", "64",
                                    "--array", "32x32", "--dataflow", "ws", "--json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert set(KEYS) <= set(d)
    scalesim = CliRunner().invoke(main, ["gemm", "--m", "64", "--k", "64", "--n", "64",
                                         "--array", "32x32", "--dataflow", "ws",
                                         "--timing", "scalesim", "--json"])
    assert json.loads(scalesim.output)["compute_cycles"] == 631


def test_summary_names_every_count():
    out = CliRunner().invoke(main, ["gemm", "--m", "8", "--k", "8", "--n", "8",
                                    "--array", "4x4", "--dataflow", "os"])
    assert out.exit_code == 0, out.output
    for label in ("compute cycles", "stall cycles", "total cycles", "utilization",
                  "sram reads", "dram writes"):
        assert label in out.output


@pytest.mark.parametrize("args, fragment", [
    (["--m", "0"], "--m"),
    (["--m", "-4"], "--m"),
    (["--array", "4by4"], "ROWSxCOLS"),
    (["--array", "0x4"], "ROWSxCOLS"),
    (["--dataflow", "xs"], "'xs' is not one of"),
    (["--arch", "no-such-preset"], "no-such-preset"),
])
def test_bad_arguments_are_clear_errors(args, fragment):
    base = {"--m": "8", "--k": "8", "--n": "8", "--array": "4x4", "--dataflow": "os"}
    base.update(dict(zip(args[::2], args[1::2])))
    out = CliRunner().invoke(main, ["gemm", *[x for kv in base.items() for x in kv]])
    assert out.exit_code == 2
    assert fragment in out.output
    assert "Traceback" not in out.output


def test_python_api_rejects_bad_values():
    with pytest.raises(ValueError, match="dataflow"):
        simulate_gemm(8, 8, 8, 4, 4, "rs")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        simulate_gemm(8, 0, 8, 4, 4, "os")
