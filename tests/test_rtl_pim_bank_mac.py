"""The PIM per-bank MAC unit against the golden dot product and sim.pim.bank_mac."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arch
from rtl.cosim import check_bank_mac
from rtl.numerics import UnsupportedFormat, mac_format, random_operands
from rtl.pim_bank_mac import BankMac


@settings(max_examples=8, deadline=None)
@given(lanes=st.integers(1, 8), col=st.integers(0, 2), mult=st.integers(0, 2),
       tree=st.one_of(st.none(), st.integers(0, 3)), acc=st.integers(1, 3),
       gaps=st.lists(st.integers(1, 4), max_size=6), fmt_name=st.sampled_from(["int16", "fp16"]),
       seed=st.integers(0, 2**31))
def test_bank_mac_matches_golden_and_sim_cycles(lanes, col, mult, tree, acc, gaps, fmt_name, seed):
    rng = np.random.default_rng(seed)
    fmt = mac_format(fmt_name, 64 if fmt_name == "int16" else None)
    dut = BankMac(fmt, lanes, col, mult, tree, acc)
    issue = [0] + np.cumsum(gaps).tolist()
    cols = [random_operands(fmt, rng, lanes) for _ in issue]
    vecs = [random_operands(fmt, rng, lanes) for _ in issue]
    check_bank_mac(dut, cols, vecs, issue)


def test_pim_gpt_preset_unit_back_to_back():
    dut = BankMac.from_arch(arch.load("pim-gpt"))
    assert dut.pipeline_latency == 1 + 1 + 4 + 1
    rng = np.random.default_rng(0)
    cols = [random_operands(dut.fmt, rng, 16) for _ in range(4)]
    vecs = [random_operands(dut.fmt, rng, 16) for _ in range(4)]
    assert check_bank_mac(dut, cols, vecs, [0, 1, 2, 3]) == 3 + 7


def test_bf16_is_a_clear_error():
    with pytest.raises(UnsupportedFormat, match="bf16"):
        BankMac.from_arch(arch.load("pim-gpt"), "bf16")
