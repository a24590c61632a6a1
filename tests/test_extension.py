"""Adding a component kind takes one class in arch, one registered engine in sim and,
optionally, one registered RTL generator; no file of the project changes. The toy kind
here is registered only in this test and runs through `sim run` and `sim rtl`."""

import json
import math

import yaml
from click.testing import CliRunner

import arch
from arch import Array2D, register
from mapper import GemmMapping
from sim.cli import main
from sim.energy import Actions
from sim.registry import unit_engine
from sim.result import EinsumResult

ATTENTION = ["run", "attention_3pass.yaml", "--json"]


@register("toy_array2d")
class ToyArray(Array2D):
    """A 2D array that retires `macs_per_pe` MACs per PE per cycle, whatever the shape."""

    macs_per_pe: int = 2


@unit_engine("toy_array2d")
def run_toy(einsum, architecture, mapping: GemmMapping) -> EinsumResult:
    pe = architecture.array2d
    cycles = math.ceil(einsum.macs / (pe.pes * pe.macs_per_pe))
    io = sum(r.tensor.bytes for r in (*einsum.inputs, einsum.output))
    energy = Actions().add(pe, "mac", einsum.macs, "fp16").memory(
        architecture, io, io, io - einsum.output.tensor.bytes, einsum.output.tensor.bytes).pj
    return EinsumResult(einsum.name, "contraction", pe.name, cycles, cycles, einsum.macs, 0,
                        {pe.name: einsum.macs / pe.macs_per_pe},
                        io - einsum.output.tensor.bytes, einsum.output.tensor.bytes, io, io,
                        energy, mapping)


@register("toy_without_engine")
class Unpaired(Array2D):
    """Registered in arch, but no engine in sim: `sim run` must say so, not crash."""


def _arch_file(tmp_path, cls: str) -> str:
    data = arch.load("default").to_dict()
    for comp in data["components"]:
        if comp["class"] == "array2d":
            comp["class"] = cls
    path = tmp_path / f"{cls}.yaml"
    path.write_text(yaml.safe_dump({"architecture": data}))
    return str(path)


def test_a_toy_component_runs_through_sim_run(tmp_path):
    result = CliRunner().invoke(main, [*ATTENTION, "--arch", _arch_file(tmp_path, "toy_array2d")])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    contractions = [e for e in out["einsums"] if e["kind"] == "contraction"]
    # the toy timing: every MAC at 2 per PE per cycle on the 128 x 128 array
    assert contractions and all(e["cycles"] == math.ceil(e["macs"] / (128 * 128 * 2))
                                for e in contractions)
    assert out["utilization"]["PE2D"] <= 1
    assert out["energy_j"] > 0


def test_a_component_without_an_engine_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, [*ATTENTION, "--arch",
                                       _arch_file(tmp_path, "toy_without_engine")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "no unit engine for component class 'toy_without_engine'" in result.output
    assert "components[2].class" in result.output and "array2d" in result.output


def test_a_toy_rtl_generator_is_found_by_sim_rtl(tmp_path):
    from rtl.blocks import block
    from rtl.mac import MacPE

    @block("toy-pe", "a MAC PE of the toy array", describe=lambda d: f"{d.fmt.name} toy")
    def _build(a, options):
        return MacPE.for_array(a.array2d, options.fmt)

    arch_file = _arch_file(tmp_path, "toy_array2d")
    listed = CliRunner().invoke(main, ["rtl", "--list"])
    assert "toy-pe" in listed.output
    out = tmp_path / "rtl"
    result = CliRunner().invoke(main, ["rtl", "toy-pe", "--arch", arch_file, "--no-synth",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "module" in (out / "top.v").read_text()
