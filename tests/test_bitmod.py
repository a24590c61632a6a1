"""BitMoD presets, the bitserial_array engine inside sim.simulate, the six LLM workloads
(GQA, gated FFN) and the experiment's plumbing."""

import math

import pytest
from click.testing import CliRunner

import arch
import workloads
from conftest import REPO
from sim import simulate
from sim.bitserial_engine import storage_bits
from sim.cli import main
from yamlspec import SpecError

PRESETS = ["bitmod", "ant", "olive", "fp16-baseline", "int8-baseline"]
LLMS = ["opt-1.3b", "phi-2", "yi-6b", "llama2-7b", "llama2-13b", "llama3-8b"]


@pytest.mark.parametrize("name", PRESETS)
def test_presets_load_with_a_bitserial_array(name):
    a = arch.load(name)
    pe = a.array2d
    assert pe.class_name == "bitserial_array"
    assert a.clock_ghz == 1.0 and a.technology_nm == 28
    assert a.dram_bytes_per_cycle == 32  # 256 bits per cycle
    assert pe.mac_pj["fp16"] == pytest.approx(pe.pe_pj_per_cycle * pe.cycles_per_weight / pe.lanes)


def test_bitmod_weights_use_part_a_bits_per_weight():
    from arch.numformats import bits_per_weight
    pe = arch.load("bitmod").with_changes(**{"PE.weight_format": "bitmod_fp3"}).array2d
    assert storage_bits(pe) == bits_per_weight("bitmod_fp3", 128)
    assert 3 < storage_bits(pe) < 3.25


def test_missing_field_names_the_key(write_yaml):
    text = (REPO / "arch" / "presets" / "bitmod.yaml").read_text()
    path = write_yaml(text.replace("      weight_code_bits: 4\n", ""))
    with pytest.raises(SpecError) as info:
        arch.load(str(path))
    assert "weight_code_bits" in str(info.value) and str(path) in str(info.value)


def small_llama(kind="prefill"):
    phase = {"kind": "prefill", "seq_len": 64} if kind == "prefill" else \
        {"kind": "decode", "kv_len": 64, "tokens": 1}
    return workloads.load(REPO / "workloads" / "llama3-8b.yaml", phase=phase)


@pytest.fixture(scope="module")
def runs():
    out = {}
    for kind in ("prefill", "decode"):
        c = small_llama(kind)
        # two layers keep the test fast; shapes are the real ones
        keep = ("l0_", "l1_", "t0_l0_", "t0_l1_")
        c = workloads.Cascade(c.name, tuple(e for e in c.einsums if e.name.startswith(keep)),
                              c.source, c.meta)
        for name in ("bitmod", "ant", "fp16-baseline"):
            a = arch.load(name)
            out[(kind, name)] = (c, a, simulate(c, a))
    return out


@pytest.mark.parametrize("kind", ["prefill", "decode"])
@pytest.mark.parametrize("name", ["bitmod", "ant", "fp16-baseline"])
def test_macs_conserved_and_lower_bounds(runs, kind, name):
    cascade, a, result = runs[(kind, name)]
    assert result.macs == cascade.macs
    pe = a.array2d
    for e, r in zip(cascade.einsums, result.einsums):
        assert r.macs == e.macs, e.name
        if e.is_contraction:
            peak = pe.pes * pe.lanes  # no PE retires more than `lanes` MACs a cycle
            assert r.cycles >= e.macs / peak, e.name
            a_in, w_in = e.inputs
            weight = not e.gemm_groups()["B"]
            w_bytes = w_in.tensor.elements * (storage_bits(pe) if weight else w_in.tensor.bits) / 8
            compulsory = a_in.tensor.bytes + w_bytes + e.output.tensor.bytes
            assert r.dram_read_bytes + r.dram_write_bytes >= compulsory - 1, e.name
            assert r.cycles >= compulsory / a.dram_bytes_per_cycle - 1, e.name


def test_decode_weights_cross_dram_once_at_their_quantized_bits(runs):
    cascade, a, result = runs[("decode", "bitmod")]
    by_name = {r.name: r for r in result.einsums}
    wq = next(e for e in cascade.einsums if e.name == "t0_l0_Q")
    bits = storage_bits(a.array2d)
    w_elems = wq.inputs[1].tensor.elements
    expected = math.ceil(w_elems * bits / 8) + wq.inputs[0].tensor.bytes
    assert by_name["t0_l0_Q"].dram_read_bytes == expected


def test_bitmod_beats_baselines_where_the_design_says(runs):
    # Decode is DRAM-bound: time follows weight bits (16 vs ~4.1 for BitMoD-fp4).
    gemm = lambda r: sum(e.cycles for e in r.einsums if e.kind == "contraction")  # noqa: E731
    fp16, bitmod = gemm(runs[("decode", "fp16-baseline")][2]), gemm(runs[("decode", "bitmod")][2])
    assert 3.0 < fp16 / bitmod < 16 / 4.0
    # Prefill: BitMoD's 4-lane PE at 2 cycles per 4-bit weight doubles ANT's MACs/cycle.
    ant, bitmod = gemm(runs[("prefill", "ant")][2]), gemm(runs[("prefill", "bitmod")][2])
    assert 1.2 < ant / bitmod <= 2.05


@pytest.mark.parametrize("model", LLMS)
def test_llm_workloads_match_their_parameter_counts(model):
    c = workloads.load(REPO / "workloads" / f"{model}-decode.yaml")
    spec = c.meta["model"]
    weights = sum(t.elements for t in c.inputs if not any(
        r in t.name for r in ("cache", "X0")) and len(t.shape) >= 2)
    published = {"opt-1.3b": 1.3e9, "phi-2": 2.7e9, "yi-6b": 6.0e9, "llama2-7b": 6.7e9,
                 "llama2-13b": 13.0e9, "llama3-8b": 8.0e9}[model]
    assert spec == model
    assert weights == pytest.approx(published, rel=0.1)


def test_grouped_query_attention_shrinks_k_and_v_projections():
    c = workloads.load(REPO / "workloads" / "llama3-8b-decode.yaml")
    shapes = {t.name: t.shape for t in c.inputs}
    assert math.prod(shapes["t0_l0_WK"]) == 4096 * 8 * 128
    assert math.prod(shapes["t0_l0_WQ"]) == 4096 * 4096
    assert "t0_l0_W3" in shapes  # gated FFN: gate, up and down projections


def test_sim_run_gpt2_on_bitmod():
    result = CliRunner().invoke(main, ["run", str(REPO / "workloads" / "gpt2-decode.yaml"),
                                       "--arch", "bitmod"])
    assert result.exit_code == 0, result.output
    assert "bitmod" in result.output


@pytest.mark.slow
def test_experiment_quick(tmp_path):
    from experiments.bitmod.run import run
    headline = run(tmp_path, quick=True)
    assert set(headline) == {"speedup_vs_ant", "speedup_vs_olive", "energy_ratio_vs_ant",
                             "energy_ratio_vs_olive"}
    for item in headline.values():
        assert item["ours"] > 1.0
    for f in ("results.csv", "speedup.png", "speedup.svg", "energy_breakdown.png",
              "headline_table.md"):
        assert (tmp_path / f).exists()


def test_kv_heads_must_divide_heads(write_yaml):
    text = (REPO / "workloads" / "yi-6b.yaml").read_text().replace("kv_heads: 4", "kv_heads: 5")
    path = write_yaml(text)
    with pytest.raises(SpecError) as info:
        workloads.load(path)
    assert "kv_heads" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("kind", ["prefill", "decode"])
@pytest.mark.parametrize("name", ["bitmod", "ant", "fp16-baseline"])
def test_reported_compulsory_bytes_count_weights_at_their_stored_bits(runs, kind, name):
    cascade, a, result = runs[(kind, name)]
    assert result.compulsory_dram_bytes <= cascade.compulsory_dram_bytes
    assert result.dram_bytes >= result.compulsory_dram_bytes
    assert result.cycles >= result.compulsory_dram_bytes / a.dram_bytes_per_cycle
    if name == "bitmod":  # 3-4 bit weights: well under the FP16 count
        assert result.compulsory_dram_bytes < 0.5 * cascade.compulsory_dram_bytes


def test_the_bitserial_engine_is_simulated_once_whatever_the_objective():
    """It chooses its own schedule: no mapper search, one run per distinct Einsum for
    every objective, and the mapping recorded is the schedule it ran."""
    import mapper
    from sim.simulate import best_mapping

    a = arch.load("bitmod")
    e = next(x for x in small_llama().einsums if x.is_contraction)
    mapper.CACHE.clear()
    found = [best_mapping(e, a, objective) for objective in ("latency", "energy", "edp")]
    assert found[0] == found[1] == found[2] and found[0].own_schedule
    assert mapper.CACHE.info()["entries"] == 1  # one simulation served all three
    assert len(found[0].tried) == 1 and found[0].scored == 0
    m = found[0].result.mapping
    assert m.dataflow == "os" and m.rows == "N" and m.tile("K") == e.gemm_shape()["K"]
    out = CliRunner().invoke(main, ["run", str(REPO / "workloads" / "gpt2.yaml"), "--arch",
                                    "bitmod", "--explain", "l0_QK", "--objective", "energy"])
    assert out.exit_code == 0 and "simulated once" in out.output, out.output
