"""`sim quantize`: numbers on a weight matrix, one-paragraph errors on bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import arch.numformats as nf
from sim.cli import main


@pytest.fixture
def matrix(tmp_path):
    w = np.random.default_rng(3).laplace(scale=0.02, size=(32, 256))
    path = tmp_path / "w.npy"
    np.save(path, w)
    return path, w


def invoke(*args):
    return CliRunner().invoke(main, ["quantize", *map(str, args)])


def test_json_matches_the_library(matrix):
    path, w = matrix
    result = invoke("--format", "bitmod_fp3", "--group-size", 128, "--json", path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    expected = nf.error_stats(w, nf.quantize(w, "bitmod_fp3", 128).dequantized)
    assert report["mse"] == pytest.approx(expected["mse"])
    assert report["sqnr_db"] == pytest.approx(expected["sqnr_db"])
    assert report["bits_per_weight"] == 3 + 18 / 128
    assert sum(report["choices"].values()) == 32 * 2


def test_readable_summary(matrix):
    result = invoke("--format", "mxfp4", matrix[0])
    assert result.exit_code == 0, result.output
    assert "SQNR" in result.output and "4.2500" in result.output


@pytest.mark.parametrize("args, fragment", [
    (["--format", "fp5_nope"], "unknown format 'fp5_nope'"),
    (["--format", "int4", "--group-size", "0"], "positive integer"),
    (["--format", "int4", "--group-size", "100"], "does not divide the 256 columns"),
])
def test_bad_arguments(matrix, args, fragment):
    result = invoke(*args, matrix[0])
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_bad_files(tmp_path):
    vector = tmp_path / "v.npy"
    np.save(vector, np.zeros(8))
    junk = tmp_path / "junk.npy"
    junk.write_text("not numpy")
    for path, fragment in ((vector, "expected a 2-D weight matrix"),
                           (junk, "not a readable .npy"),
                           (tmp_path / "missing.npy", "does not exist")):
        result = invoke("--format", "int4", path)
        assert result.exit_code == 2, result.output
        assert fragment in result.output
        assert "Traceback" not in result.output


def test_format_list_needs_no_file():
    listed = invoke("--format", "list")
    assert listed.exit_code == 0, listed.output
    assert "bitmod_fp3" in listed.output
    missing = invoke("--format", "int4_asym")
    assert missing.exit_code == 2 and "FILE" in missing.output
