"""Number formats on real pretrained weights (skipped when the model package is absent) and
larger randomized cases (slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import arch.numformats as nf


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("safetensors")
    from experiments.bitmod.quant_study import minilm_weights
    matrices, how = minilm_weights()
    if not matrices:
        pytest.skip(how)
    return matrices


def test_minilm_has_its_36_linear_matrices(minilm):
    assert len(minilm) == 36
    assert sorted({w.shape for w in minilm}) == [(384, 384), (384, 1536), (1536, 384)]
    assert all(w.dtype == np.float64 and np.isfinite(w).all() for w in minilm)


def test_minilm_first_layer_sanity(minilm):
    w = minilm[0]
    sqnr = {n: nf.error_stats(w, nf.quantize(w, n).dequantized)["sqnr_db"]
            for n in ("int8", "bitmod_fp4", "fp4_e2m1", "bitmod_fp3", "fp3_e2m0", "fp16")}
    assert sqnr["fp16"] > 70 and sqnr["int8"] > 35
    assert sqnr["bitmod_fp4"] >= sqnr["fp4_e2m1"]  # the mixture can always pick E2M1+special
    assert sqnr["bitmod_fp3"] >= sqnr["fp3_e2m0"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bitmod_fp3", "bitmod_fp4", "ant4_group", "bitmod_fp3_search"])
@settings(max_examples=200, deadline=None)
@given(g=st.sampled_from([16, 32, 64, 128]), seed=st.integers(0, 2**32 - 1),
       tail=st.floats(1.5, 30))
def test_large_groups_take_the_minimum_error_type(name, g, seed, tail):
    """Heavy-tailed (Student-t) groups at real group sizes: per group, the chosen type's
    error equals the least error of quantizing that group with each type alone."""
    rng = np.random.default_rng(seed)
    w = rng.standard_t(tail, size=(8, 4 * g))
    scheme = nf.get_format(name)
    result = scheme.quantize(w, g)
    groups = w.reshape(-1, g)
    got = ((result.dequantized.reshape(-1, g) - groups) ** 2).sum(axis=1)
    for i, group in enumerate(groups):
        alone = [((c.quantize(group[None], g).dequantized[0] - group) ** 2).sum()
                 for c in scheme.candidates]
        assert math.isclose(got[i], min(alone), rel_tol=1e-12, abs_tol=1e-300)
        assert result.choice[i] == int(np.argmin(alone))


@pytest.mark.slow
def test_quant_study_quick_run(tmp_path):
    """The study script end to end on its reduced set: CSV rows for every scheme and set,
    and a doc whose findings name a winner for each contest."""
    from experiments.bitmod import quant_study
    df = quant_study.main(["--quick", "--csv", str(tmp_path / "q.csv"),
                           "--doc", str(tmp_path / "q.md")])
    n_schemes = sum(len(v) for v in quant_study.SCHEMES.values())
    assert len(df) == n_schemes * df.weights.nunique()
    assert (tmp_path / "q_per_channel.csv").exists()
    text = (tmp_path / "q.md").read_text()
    assert "## Findings" in text and "## Against the paper's claims" in text
    assert df.groupby(["weights", "class"]).rank_in_class.min().eq(1).all()
