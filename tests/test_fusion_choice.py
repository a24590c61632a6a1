"""Fusion as a mapper choice (sim/fusion_choice.py): sim.simulate finds the attention
groups of any transformer cascade and, on an architecture listing fused strategies,
keeps a fused run where the objective prefers it; the Result keeps its invariants."""

import pytest

import arch
import sim
import workloads
from sim.fusion_choice import attention_groups
from yamlspec import SpecError


def _pair(path, name):
    a = arch.load(name)
    casc = workloads.load(path)
    return casc, sim.simulate(casc, a), sim.simulate(casc, a.with_changes(fusion=[]))


@pytest.mark.parametrize("name", ["fusemax", "flat"])
def test_bert_attention_runs_fused_and_keeps_invariants(name):
    casc, fused, plain = _pair("workloads/bert-base.yaml", name)
    a = arch.load(name)
    assert len(attention_groups(casc)) == 12
    assert len(fused.meta["fused_groups"]) == 12
    assert all(g.split("_", 1)[1].startswith(f"fused:{name}(") for g in fused.meta["fused_groups"])
    assert fused.macs == plain.macs                       # MACs conserved
    assert fused.cycles <= plain.cycles                   # chosen only where it pays
    assert fused.cycles >= fused.macs / a.array2d.pes     # compute lower bound
    assert fused.cycles >= fused.compulsory_dram_bytes / a.dram_bytes_per_cycle
    assert fused.energy_j == pytest.approx(sum(fused.energy_breakdown_j.values()))
    assert all(0 <= u <= 1 for u in fused.utilization.values())
    assert len(fused.einsums) == len(plain.einsums) - 5 * 12


def test_gqa_groups_are_found():
    casc = workloads.load("workloads/llama3-8b.yaml")
    assert len(attention_groups(casc)) == 32


def test_decode_with_ragged_keys_stays_unfused_on_fusemax():
    """GPT-2 decode: 1028 keys are not a multiple of FuseMax's 256 columns, so its
    1-pass tiles would pad (more MACs than the group): not a valid fused run."""
    casc, fused, plain = _pair("workloads/gpt2-decode.yaml", "fusemax")
    assert fused.meta["fused_groups"] == []
    assert fused.cycles == plain.cycles and fused.macs == plain.macs


def test_given_mapping_keeps_its_group_unfused():
    casc = workloads.load("workloads/bert-base.yaml")
    a = arch.load("fusemax")
    qk = casc.einsums[attention_groups(casc)[0]]
    # fix the first QK to the mapping the mapper picks for it unfused
    plain = sim.simulate(casc, a.with_changes(fusion=[]))
    row = next(r for r in plain.einsums if r.name == qk.name)
    given = {qk.name: row.mapping}
    r = sim.simulate(casc, a, given)
    assert len(r.meta["fused_groups"]) == 11
    assert any(e.name == qk.name for e in r.einsums)


def test_unknown_fusion_strategy_is_a_spec_error():
    casc = workloads.load("workloads/bert-base.yaml")
    with pytest.raises(SpecError, match="fusion"):
        sim.simulate(casc, arch.load("fusemax").with_changes(fusion=["tileflow"]))
