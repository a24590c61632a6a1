"""Co-simulation has teeth: shifting any Python cycle model by one cycle, either way,
makes the RTL comparison fail (so `RTL = sim` is a claim that could be false)."""

import pytest

import arch
from rtl.blocks import BLOCKS, BlockOptions
from rtl.cosim import CosimMismatch, cosim_block, fusemax_vector_einsums

# (block, architecture changes, options, module and function of the cycle model)
MODELS = [
    # check_pe holds sim.array2d.schedule_steps under its own name
    ("mac-pe", "default", {}, BlockOptions(fmt="int8"), "rtl.cosim", "schedule_steps"),
    ("array2d", "default", {"PE2D.rows": 2, "PE2D.cols": 3}, BlockOptions(dataflow="os", fmt="int8"),
     "sim.array2d", "schedule_steps"),
    ("bitserial-pe", "bitmod", {}, BlockOptions(), "sim.bitserial", "_stream_repeated"),
    ("vector1d", "default", {"VEC.lanes": 2}, None, "sim.vector_engine", "lane_cycles"),
    ("pim-bank-mac", "pim-gpt", {}, BlockOptions(), "sim.pim.bank_mac", "ready_cycle"),
]


@pytest.mark.parametrize("delta", [1, -1])
@pytest.mark.parametrize("block, preset, changes, options, module, function", MODELS,
                         ids=[m[0] for m in MODELS])
def test_off_by_one_cycle_model_is_caught(block, preset, changes, options, module, function,
                                          delta, monkeypatch):
    import importlib

    architecture = arch.load(preset).with_changes(**changes) if changes else arch.load(preset)
    if options is None:  # the 1D unit is programmed for FuseMax's 1-pass Einsums
        options = BlockOptions(einsums=tuple(fusemax_vector_einsums(architecture.array1d)))
    dut = BLOCKS.get(block).build(architecture, options)
    cosim_block(block, dut, cases=1, seed=3, arch=architecture)  # agrees unmutated
    target = importlib.import_module(module)
    original = getattr(target, function)
    monkeypatch.setattr(target, function, lambda *a, **k: original(*a, **k) + delta)
    with pytest.raises(CosimMismatch):
        cosim_block(block, dut, cases=1, seed=3, arch=architecture)
