"""The workload IR: parsing, validation, counts and the transformer builder."""

import math

import pytest

import workloads
from conftest import REPO

GEMM = """
workload:
  name: gemm
  ranks: {m: 8, k: 16, n: 4}
  inputs:
    A: {ranks: [m, k]}
    B: {ranks: [k, n], format: int8}
  einsums:
    - C[m,n] = A[m,k] * B[k,n]
"""


def test_gemm_counts(write_yaml):
    c = workloads.load(write_yaml(GEMM))
    (e,) = c.einsums
    assert e.is_contraction and e.macs == 8 * 16 * 4
    assert e.gemm_shape() == {"B": 1, "M": 8, "N": 4, "K": 16}
    assert c.tensors["B"].bits == 8 and c.tensors["A"].bits == 16
    # inputs read once, output written once
    assert c.compulsory_dram_bytes == 8 * 16 * 2 + 16 * 4 * 1 + 8 * 4 * 2


def test_attention_cascade_ops():
    c = workloads.load(REPO / "workloads" / "attention.yaml")
    by = {e.name: e for e in c.einsums}
    p = m = 1024
    assert by["QK"].macs == 12 * p * m * 64 and by["AV"].macs == 12 * p * m * 64
    assert by["GM"].vector_ops == {"max": 12 * p * (m - 1)}
    assert by["SN"].vector_ops == {"subtract": 12 * p * m, "exp": 12 * p * m}
    assert [t.name for t in c.inputs] == ["Q", "K", "V"] and [t.name for t in c.outputs] == ["AV"]


def gpt_prefill_macs(L, d, f, v, p, lm_head=True):
    """Analytic MACs of a GPT forward pass: QKV and output projections, scores and
    weighted sum, the two FFN matrices, and the LM head."""
    per_layer = 4 * p * d * d + 2 * p * p * d + 2 * p * d * f
    return L * per_layer + (p * d * v if lm_head else 0)


@pytest.mark.parametrize("name, dims", [
    ("gpt2", (12, 768, 3072, 50257, 1024)),
    ("gpt2-medium", (24, 1024, 4096, 50257, 1024)),
    ("gpt2-large", (36, 1280, 5120, 50257, 1024)),
    ("gpt2-xl", (48, 1600, 6400, 50257, 1024)),
])
def test_shipped_gpt_models_match_analytic_macs(name, dims):
    c = workloads.load(REPO / "workloads" / f"{name}.yaml")
    assert c.macs == gpt_prefill_macs(*dims)


@pytest.mark.parametrize("name, d, f", [("bert-base", 768, 3072), ("bert-large", 1024, 4096)])
def test_bert_models(name, d, f):
    c = workloads.load(REPO / "workloads" / f"{name}.yaml")
    layers = 12 if name == "bert-base" else 24
    assert c.macs == gpt_prefill_macs(layers, d, f, 0, 512, lm_head=False)
    assert not any("LOGITS" in e.name for e in c.einsums)


def test_decode_attends_to_growing_cache():
    c = workloads.load(REPO / "workloads" / "gpt2-decode.yaml")
    qk = [e for e in c.einsums if e.name.endswith("l0_QK")]
    assert [e.rank_sizes["m"] for e in qk] == [1025, 1026, 1027, 1028]
    assert all(e.rank_sizes["p"] == 1 for e in qk)
    assert c.macs == sum(gpt_prefill_macs(12, 768, 3072, 50257, 1) - 12 * 2 * 768
                         + 12 * 2 * (1024 + t + 1) * 768 for t in range(4))


def test_overrides_change_phase_and_batch():
    c = workloads.load(REPO / "workloads" / "gpt2.yaml", batch=2,
                       phase={"kind": "prefill", "seq_len": 128})
    assert c.macs == 2 * gpt_prefill_macs(12, 768, 3072, 50257, 128)


def test_undefined_tensor(expect_spec_error):
    expect_spec_error(workloads.load, GEMM.replace("A[m,k] * B[k,n]", "A[m,k] * Bx[k,n]"),
                  "workload.einsums", "Bx")


def test_mismatched_ranks(expect_spec_error):
    expect_spec_error(workloads.load, GEMM.replace("A[m,k] * B[k,n]", "A[k,m] * B[k,n]"),
                  "workload.einsums[0]", "ranks do not match")


def test_unknown_operation(expect_spec_error):
    expect_spec_error(workloads.load, GEMM.replace("A[m,k] * B[k,n]", "softplus(A[m,k]) * B[k,n]"),
                  "workload.einsums[0]", "unknown operation 'softplus'")


def test_unknown_rank(expect_spec_error):
    expect_spec_error(workloads.load, GEMM.replace("C[m,n]", "C[m,q]"), "rank 'q' has no size")


def test_cycle(expect_spec_error):
    text = """
workload:
  ranks: {m: 4}
  inputs: {X: {ranks: [m]}}
  einsums:
    - P[m] = X[m] + Q[m]
    - Q[m] = P[m] * X[m]
"""
    expect_spec_error(workloads.load, text, "cycle")


@pytest.mark.parametrize("size", [0, -3, 2.5, "big"])
def test_bad_rank_size(expect_spec_error, size):
    expect_spec_error(workloads.load, GEMM.replace("k: 16", f"k: {size}"), "workload.ranks.k",
                  "positive integer")


def test_malformed_yaml(expect_spec_error):
    expect_spec_error(workloads.load, "workload:\n  ranks: {m: 4\n  einsums: [", "malformed YAML", "line")


def test_bad_model_dimension(expect_spec_error):
    text = (REPO / "workloads" / "gpt2.yaml").read_text().replace("heads: 12", "heads: -12")
    expect_spec_error(workloads.load, text, "model.heads", "greater than 0")


def test_syntax_error_in_einsum(expect_spec_error):
    expect_spec_error(workloads.load, GEMM.replace("A[m,k] * B[k,n]", "A[m,k] * * B[k,n]"),
                  "cannot parse")


def test_reduced_rank_needs_reduce(expect_spec_error):
    text = GEMM.replace("- C[m,n] = A[m,k] * B[k,n]",
                        "- {einsum: 'C[m,n] = A[m,k] * B[k,n]', reduce: none}")
    expect_spec_error(workloads.load, text, "need a reduce")


def test_dot_product_is_vector_work():
    """A batched dot product (no M or N rank) is not a GEMM for the 2D array."""
    c = workloads.load(REPO / "workloads" / "gpt2.yaml")
    ss = next(e for e in c.einsums if e.name == "l0_ln1_ss")
    assert not ss.is_contraction and ss.vector_ops["multiply"] == 1024 * 768
    assert math.isclose(sum(ss.vector_ops.values()), 1024 * 768 + 1024 * 767)
