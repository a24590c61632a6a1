"""AccelForge as a referee (skipped when `accelforge` is not installed): both tools on
small cases AccelForge maps in seconds, on architectures translated from its examples by
`sim import-accelforge`.

- nvdla (its DRAM-starved example): a two-Einsum chain, a GEMV and a GEMM, all mapped by
  AccelForge in one run, unfused (every tensor in DRAM, as this tool runs them). Given
  AccelForge's mapping of the chain or the GEMV, our counts equal its, so energy by
  component agrees within 2% (and the chain's cycles too); and on every Einsum our best
  mapping is never worse than AccelForge's mapping under our model (latency, then
  energy). Its GEMM mapping steps M twice within one level, which ours cannot, so it is
  only approximated there.
- simple (one MAC, unlimited memories): a compute-bound GEMM, cycles within 10%.
- nvdla, the two-Einsum chain alone, fused by both (AccelForge's fusion-aware mapper and
  ours): AccelForge keeps the intermediate in the global buffer; given its mapping (one
  piece), our energy by component is within 2% of its; our own best fused chain moves as
  few DRAM bytes and is never worse under our model.
"""

import math

import pytest
import yaml

af = pytest.importorskip("accelforge")
# AccelForge's own deprecation notices (pandas, its API), not ours
pytestmark = pytest.mark.filterwarnings("ignore:.*inplace keyword", "ignore::DeprecationWarning")

import arch  # noqa: E402
import workloads  # noqa: E402
from sim.accelforge import arch as af_arch, peer, workload as af_workload  # noqa: E402
from mapper.mapping import FusedStep  # noqa: E402
from sim import simulate  # noqa: E402
from sim.hierarchy import Hierarchy, best, evaluate  # noqa: E402

CASES = """workload:
  iteration_space_shape:
    a: 0 <= a < 256
    b: 0 <= b < 128
    c: 0 <= c < 128
    d: 0 <= d < 128
    v: 0 <= v < 1
    x: 0 <= x < 2048
    y: 0 <= y < 2048
    m: 0 <= m < 1024
    k: 0 <= k < 1024
    n: 0 <= n < 1024
  bits_per_value: {All: 8}
  einsums:
  - name: Chain0
    tensor_accesses:
    - {name: T0, projection: [a, b]}
    - {name: W0, projection: [b, c]}
    - {name: T1, projection: [a, c], output: True}
    renames: {input: T0, weight: W0, output: T1}
  - name: Chain1
    tensor_accesses:
    - {name: T1, projection: [a, c]}
    - {name: W1, projection: [c, d]}
    - {name: T2, projection: [a, d], output: True}
    renames: {input: T1, weight: W1, output: T2}
  - name: GEMV
    tensor_accesses:
    - {name: X, projection: [v, x]}
    - {name: M, projection: [x, y]}
    - {name: Y, projection: [v, y], output: True}
    renames: {input: X, weight: M, output: Y}
  - name: GEMM
    tensor_accesses:
    - {name: A, projection: [m, k]}
    - {name: B, projection: [k, n]}
    - {name: C, projection: [m, n], output: True}
    renames: {input: A, weight: B, output: C}
"""
GEMM = """workload:
  iteration_space_shape: {m: 0 <= m < 64, k: 0 <= k < 128, n: 0 <= n < 96}
  bits_per_value: {All: 8}
  einsums:
  - name: GEMM
    tensor_accesses:
    - {name: A, projection: [m, k]}
    - {name: B, projection: [k, n]}
    - {name: C, projection: [m, n], output: True}
    renames: {input: A, weight: B, output: C}
"""


# the chain alone: CASES without the GEMV's and the GEMM's ranks and Einsums
CHAIN = "\n".join(line for line in CASES[:CASES.index("  - name: GEMV")].splitlines()
                  if line.split(":")[0].strip() not in tuple("vxymkn")) + "\n"


def both(tmp_path_factory, example: str, text: str, unfused: bool = True):
    """(our architecture, our cascade, AccelForge's run) for an example and a workload;
    `unfused`: AccelForge keeps every tensor in DRAM, as our --no-fusion runs."""
    d = tmp_path_factory.mktemp(example)
    af_file = d / "workload.yaml"
    af_file.write_text(text)
    arch_file = getattr(af.examples.arches, example)
    (d / "a.yaml").write_text(yaml.safe_dump({"architecture": af_arch.translate(arch_file)}))
    (d / "w.yaml").write_text(yaml.safe_dump({"workload": af_workload.translate(af_file)}))
    return (arch.load(d / "a.yaml"), workloads.load(d / "w.yaml"),
            peer.run(arch_file, af_file, unfused=unfused))


@pytest.fixture(scope="module")
def nvdla(tmp_path_factory):
    return both(tmp_path_factory, "nvdla", CASES)


@pytest.fixture(scope="module")
def nvdla_fused(tmp_path_factory):
    return both(tmp_path_factory, "nvdla", CHAIN, unfused=False)


@pytest.fixture(scope="module")
def simple(tmp_path_factory):
    return both(tmp_path_factory, "simple", GEMM)


def cycles(a, seconds: float) -> float:
    return seconds * a.clock_ghz * 1e9


@pytest.mark.parametrize("name", ["Chain0", "Chain1", "GEMV"])
def test_same_mapping_same_energy_by_component(nvdla, name):
    a, cascade, run = nvdla
    h = Hierarchy.of(a)
    e = next(x for x in cascade.einsums if x.name == name)
    theirs = run.einsums[name]
    ours = evaluate(e, h, peer.to_mapping(theirs, e, h))
    for comp, joules in theirs.energy_j.items():
        mine = sum(v for k, v in ours.energy_pj.items() if k.split(".")[0] == comp) * 1e-12
        assert mine == pytest.approx(joules, rel=0.02, abs=1e-18), comp
    if name != "GEMV":  # our array pays 192 cycles to load each weight fold; AccelForge none
        assert ours.cycles == pytest.approx(cycles(a, theirs.latency_s), rel=0.02)


@pytest.mark.parametrize("name", ["Chain0", "Chain1", "GEMV", "GEMM"])
def test_our_best_is_never_worse_than_theirs_under_our_model(nvdla, name):
    a, cascade, run = nvdla
    h = Hierarchy.of(a)
    e = next(x for x in cascade.einsums if x.name == name)
    given = evaluate(e, h, peer.to_mapping(run.einsums[name], e, h))
    found = best(e, h, "latency").result
    assert (found.cycles, found.energy_j) <= (given.cycles, given.energy_j)


def test_fused_chain_same_mapping_same_energy_and_ours_never_worse(nvdla_fused):
    a, cascade, run = nvdla_fused
    h = Hierarchy.of(a)
    dram = h.dram.name
    # AccelForge fused: T1 never reaches DRAM
    assert not any(comp == dram and tensor == "T1"
                   for e in run.einsums.values() for comp, tensor, _ in e.bits
                   if e.bits[(comp, tensor, _)])
    theirs = {e.name: FusedStep(cascade.einsums[0].name, None, 1,  # one piece: AccelForge's
                                peer.to_mapping(run.einsums[e.name], e, h))
              for e in cascade.einsums}
    given = simulate(cascade, a, theirs)
    for e in given.einsums:
        for comp, joules in run.einsums[e.name].energy_j.items():
            mine = sum(v for k, v in e.energy_pj.items() if k.split(".")[0] == comp) * 1e-12
            assert mine == pytest.approx(joules, rel=0.02, abs=1e-18), (e.name, comp)
    peer_dram = sum(b for x in run.einsums.values() for (comp, _, _), b in x.bits.items()
                    if comp == dram) / 8
    assert given.dram_bytes == peer_dram
    found = simulate(cascade, a)
    assert found.meta["fused_einsums"] == 2 and found.dram_bytes <= peer_dram
    assert (found.cycles, found.energy_j) <= (given.cycles, given.energy_j)


def test_compute_bound_gemm_cycles_agree(simple):
    a, cascade, run = simple
    ours = best(cascade.einsums[0], Hierarchy.of(a), "latency").result
    theirs = cycles(a, run.einsums["GEMM"].latency_s)
    assert theirs == pytest.approx(64 * 128 * 96)  # one MAC: compute-bound by construction
    assert ours.cycles == pytest.approx(theirs, rel=0.10)
    assert math.isclose(ours.macs, 64 * 128 * 96)


def test_the_tpu_preset_is_what_the_importer_writes():
    """arch/presets/tpu-v4i-accelforge.yaml is `sim import-accelforge tpu_v4i`, renamed."""
    ours = arch.load("tpu-v4i-accelforge").to_dict()
    fresh = af_arch.translate(af.examples.arches.tpu_v4i)
    assert {**ours, "name": fresh["name"]} == arch.from_dict(fresh).to_dict()


def test_what_cannot_be_translated_is_named(tmp_path):
    from click.testing import CliRunner
    from sim.cli import main
    out = CliRunner().invoke(main, ["import-accelforge", "eyeriss"])
    assert out.exit_code == 2 and "arch.nodes.GlobalBuffer.total_latency" in out.output
    conv = tmp_path / "conv.yaml"
    conv.write_text("""workload:
  iteration_space_shape: {p: 0 <= p < 8, r: 0 <= r < 3, c: 0 <= c < 4}
  bits_per_value: {All: 8}
  einsums:
  - name: Conv
    tensor_accesses:
    - {name: I, projection: {H: p + r, C: c}}
    - {name: F, projection: {R: r, C: c}}
    - {name: O, projection: {P: p}, output: True}
""")
    out = CliRunner().invoke(main, ["import-accelforge", str(conv)])
    assert out.exit_code == 2, out.output
    assert "workload.einsums[0].tensor_accesses.I.projection.H" in out.output
