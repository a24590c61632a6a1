"""Attention cascades (FuseMax Sec. 4): every variant computes softmax(QK^T)V, pass
counts, MAC conservation across cascades, the shipped YAML files."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import REPO
import workloads
from workloads import attention
from workloads.execute import attention_reference, execute

EXPECTED_PASSES = {"three_pass": 3, "two_pass_deferred": 2, "two_pass_tiled": 2, "one_pass": 1}


def _inputs(cascade, q, k, v, m0):
    b, h, m, e = k.shape
    given_ = {"Q": q, "K": k, "V": v}
    if m0:
        given_.update(BK=k.reshape(b, h, m // m0, m0, e), BV=v.reshape(b, h, m // m0, m0, e))
    return {t.name: given_[t.name] for t in cascade.inputs if t.name in given_}


@settings(max_examples=25, deadline=None)
@given(variant=st.sampled_from(attention.VARIANTS), b=st.integers(1, 2), h=st.integers(1, 2),
       p=st.integers(1, 9), m1=st.integers(1, 4), m0=st.integers(1, 5), e=st.integers(1, 6),
       seed=st.integers(0, 2**16), scale=st.sampled_from([0.1, 1.0, 8.0]))
def test_every_cascade_equals_direct_softmax(variant, b, h, p, m1, m0, e, seed, scale):
    rng = np.random.default_rng(seed)
    m = m1 * m0
    q, k, v = (rng.normal(size=s) * scale for s in ((b, h, p, e), (b, h, m, e), (b, h, m, e)))
    tiled = variant in ("two_pass_tiled", "one_pass")
    dims = dict(b=b, h=h, p=p, m=m, e=e, **({"m0": m0} if tiled else {}))
    cascade = attention.build(variant, **dims)
    out = execute(cascade, _inputs(cascade, q, k, v, m0 if tiled else 0))["AV"]
    np.testing.assert_allclose(out, attention_reference(q, k, v), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("variant,passes", EXPECTED_PASSES.items())
def test_pass_counts(variant, passes):
    dims = {"m0": 8} if variant in ("two_pass_tiled", "one_pass") else {}
    analysis = attention.passes(attention.build(variant, p=16, m=32, e=4, **dims))
    assert analysis.passes == passes
    assert analysis.lower_bound == 1 <= analysis.passes


def test_three_pass_einsum_passes():
    per = attention.passes(attention.three_pass()).per_einsum
    assert per == {"QK": 1, "GM": 1, "SN": 2, "SD": 2, "A": 3, "AV": 3}


@pytest.mark.parametrize("name,passes", [("attention_3pass", 3), ("attention_2pass_deferred", 2),
                                         ("attention_2pass", 2), ("attention_1pass", 1)])
def test_shipped_yaml(name, passes):
    cascade = workloads.load(REPO / "workloads" / f"{name}.yaml")
    assert attention.passes(cascade).passes == passes
    # every cascade does the same multiply-accumulates: QK and the V product
    assert cascade.macs == 2 * 64 * 12 * 1024 * 1024 * 64


def test_one_pass_yaml_executes():
    cascade = workloads.load(REPO / "workloads" / "attention_1pass.yaml")
    small = attention.one_pass(b=1, h=2, p=4, m=8, e=3, m0=2)
    carry = {k: [src, float(init)] for k, (src, init) in cascade.meta["iterative"]["carry"].items()}
    want = {k: [src, float(init)] for k, (src, init) in small.meta["iterative"]["carry"].items()}
    assert carry == want and cascade.meta["iterative"]["final"] == small.meta["iterative"]["final"]
    assert [e.text for e in cascade.einsums] == [e.text for e in small.einsums]


def test_macs_conserved_across_cascades():
    tiled = {"two_pass_tiled", "one_pass"}
    macs = {v: attention.build(v, p=32, m=64, e=8, **({"m0": 16} if v in tiled else {})).macs
            for v in attention.VARIANTS}
    assert len(set(macs.values())) == 1 and macs["three_pass"] == 2 * 32 * 64 * 8


def test_bad_iterative_block_names_file_and_key(expect_spec_error):
    text = (REPO / "workloads" / "attention_1pass.yaml").read_text().replace(
        "RD_in: [RD, 0.0]", "RD_in: [RD]")
    expect_spec_error(workloads.load, text, "workload.iterative.carry.RD_in")


def test_generic_loader_reads_iterative_cascade(tmp_path):
    """workloads.load (what `sim run` uses) accepts the `iterative:` block of the 1-pass
    cascade, keeps the recurrence, and the result simulates (unfused)."""
    import arch
    import sim
    import workloads
    cascade = workloads.load(REPO / "workloads" / "attention_1pass.yaml")
    assert attention.passes(cascade).passes == 1
    # a small copy of the file (one head, 2 x 8 keys) runs through sim.simulate
    text = (REPO / "workloads" / "attention_1pass.yaml").read_text().replace(
        "{b: 64, h: 12, p: 1024, m1: 4, m0: 256, e: 64, f: 64}",
        "{b: 1, h: 1, p: 8, m1: 2, m0: 8, e: 4, f: 4}")
    path = tmp_path / "one_pass_small.yaml"
    path.write_text(text)
    small = workloads.load(path)
    assert small.meta["iterative"]["rank"] == "m1"
    r = sim.simulate(small, arch.load("fusemax"))
    assert r.macs == 2 * 8 * 16 * 4 and r.cycles > 0


def test_generic_loader_rejects_bad_iterative_block(expect_spec_error):
    import workloads
    text = (REPO / "workloads" / "attention_1pass.yaml").read_text().replace(
        "RD_in: [RD, 0.0]", "RD_in: [RD]")
    expect_spec_error(workloads.load, text, "workload.iterative.carry.RD_in")
