"""PIM-GPT energy (CENT's AiM model, Aladdin/CACTI ASIC) and the overlapped schedule."""

import json
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

import arch
from arch.costmodels import CENT_AIM
from sim.pim.channel import KINDS
from sim.pim.run import simulate_pim, timing_cycles
from conftest import REPO as ROOT
from test_pim_mapping import load_tiny


def test_cent_aim_prices_follow_the_published_calculator():
    pim, asic = arch.load("pim-gpt").components
    k = CENT_AIM
    assert pim.act_pj == pytest.approx(132.6 / 2 * 44.5)            # P_ACT x tRC
    assert pim.read_pj == pytest.approx(876.3 / 2 * 1.25)           # P_RD x tBL
    assert pim.write_pj == pytest.approx(1106.3 / 2 * 1.25)         # P_WR x tBL
    assert pim.column_pj * 16 == pytest.approx(3 * 876.3 / 2 * 1.0)  # MAC16 = 3 P_RD tCCDL
    assert pim.mac_pj == 0 and pim.io_pj_per_bit == k["DQ_pj_per_bit"]
    assert pim.active_standby_mw_per_channel > pim.background_mw_per_channel > 0
    for f in ("act_pj", "read_pj", "column_pj", "command_pj", "background_mw_per_channel"):
        assert "CENT" in pim.source[f]
    # the ASIC from Aladdin and CACTI at 28 nm: positive, cited, a multiply dearer than an add
    assert 0 < asic.op_pj["add"] < asic.op_pj["multiply"] < asic.op_pj["exp"]
    assert asic.area_mm2_total > 0 and asic.static_mw > 0
    assert "Aladdin" in asic.source["op_pj"] and "28 nm" in asic.source["op_pj"]


def test_pim_energy_is_counts_times_prices(tmp_path):
    """The energy of a whole run, recomputed from the traced commands and the prices."""
    c = load_tiny(tmp_path, kv=30, d_model=128, d_ff=512)
    a = arch.load("pim-gpt").with_changes(**{"PIM.channels": 2})
    trace: list = []
    r = simulate_pim(c, a, trace=trace)
    pim = a.components[0]
    n = Counter(kind for _, _, kind, *_ in trace)
    assert set(n) <= set(KINDS)
    pj = Counter()
    for e in r.einsums:
        pj.update(e.energy_pj)
    assert pj["PIM.act"] == pytest.approx((n["ACTAB"] * pim.banks + n["ACT"]) * pim.act_pj)
    assert pj["PIM.column"] == pytest.approx(n["MACAB"] * pim.banks * pim.column_pj)
    assert pj["PIM.read"] == pytest.approx((n["RD"] + n["RDMAC"]) * pim.read_pj)
    assert pj["PIM.io"] == pytest.approx((n["RD"] + n["WR"] + n["WRGB"] + n["RDMAC"]) * 256 * 5.5)
    commands = sum(n.values())  # refreshes done in idle time are commands too
    transfers = n["MACAB"] + n["RD"] + n["WR"] + n["WRGB"] + n["RDMAC"]
    assert pj["PIM.controller"] == pytest.approx(commands * pim.command_pj + transfers * pim.transfer_pj)
    # standby: every channel over the whole token, at the precharged power at least and
    # the active power at most
    lo = pim.background_mw_per_channel * pim.channels * r.seconds * 1e9
    hi = pim.active_standby_mw_per_channel * pim.channels * r.seconds * 1e9
    assert lo * (1 - 1e-9) <= pj["PIM.background"] <= hi
    assert r.energy_j == pytest.approx(sum(pj.values()) * 1e-12)


@pytest.mark.parametrize("kv", [20, 90])
def test_overlap_is_legal_and_bounded(tmp_path, kv):
    """Overlapping the ASIC with the channels never makes a token slower, and never faster
    than the busier of the two units alone; the overlapped trace passes the checker."""
    from sim.pim.checker import check_trace

    c = load_tiny(tmp_path, kv=kv, d_model=128, d_ff=512)
    base = arch.load("pim-gpt").with_changes(**{"PIM.channels": 2})
    serial = simulate_pim(c, base.with_changes(**{"ASIC.overlap": False}))
    trace: list = []
    over = simulate_pim(c, base, trace=trace)
    tc = timing_cycles(base.components[0])
    assert check_trace(trace, tc) == len(trace) > 0
    bd = serial.meta["breakdown_ns"]
    channels_ns = bd["pim_mac"] + bd["data_movement"] + bd["refresh"]
    ck = tc.tck_ns * tc.CMD
    assert over.seconds <= serial.seconds
    assert over.seconds * 1e9 >= max(channels_ns, bd["asic"]) - ck - bd["refresh"]
    assert over.seconds < serial.seconds  # there is work to overlap (bias/residual adds, GELU)
    assert over.macs == serial.macs
    assert sum(over.meta["breakdown_ns"].values()) == pytest.approx(over.seconds * 1e9, abs=ck)


def test_cpu_model_within_25_percent_of_the_recorded_measurement():
    """The CPU baseline model configured as this machine (preset cpu-local) against the
    PyTorch decode measured here (benchmarks/measure_cpu_gpt2.py, recorded JSON)."""
    import workloads
    from sim.simulate import simulate

    m = json.loads((ROOT / "experiments/pimgpt/measured_cpu_gpt2.json").read_text())
    files = {"gpt2-small": "gpt2.yaml", "gpt2-medium": "gpt2-medium.yaml",
             "gpt2-large": "gpt2-large.yaml", "gpt2-xl": "gpt2-xl.yaml"}
    a = arch.load("cpu-local")
    assert set(m["models"]) == set(files)
    for name, r in m["models"].items():
        kv = (r["kv_len_first"] + r["kv_len_last"]) // 2
        c = workloads.load(ROOT / "workloads" / files[name], phase={"kind": "decode", "kv_len": kv, "tokens": 1})
        ms = simulate(c, a).seconds * 1e3
        assert abs(ms / r["ms_min"] - 1) <= 0.25, (name, ms, r["ms_min"])


def test_eager_framework_baseline_terms(tmp_path):
    """Dispatch: every framework operator pays kernel_launch_us (operators per layer x
    layers + outside); the KV concatenation reads and writes the cache once more."""
    from sim.roofline import kv_cache_names
    from sim.simulate import simulate

    c = load_tiny(tmp_path, kv=64)
    dev = "CPU"
    a = arch.load("cpu-xeon")
    d = a.components[0]
    no_launch = simulate(c, a.with_changes(**{f"{dev}.kernel_launch_us": 0.0}))
    ops = d.framework_ops_per_layer * c.meta["layers"] + d.framework_ops_outside_layers
    assert simulate(c, a).seconds - no_launch.seconds == pytest.approx(ops * d.kernel_launch_us * 1e-6)
    # one operator per Einsum when the framework's counts are not given
    per_einsum = a.with_changes(**{f"{dev}.framework_ops_per_layer": None})
    assert simulate(c, per_einsum).seconds - no_launch.seconds == pytest.approx(
        len(c.einsums) * d.kernel_launch_us * 1e-6)
    kv = kv_cache_names(c)
    assert len(kv) == 2 * c.meta["layers"]
    kv_bytes = sum(t.elements for t in c.inputs if t.name in kv) * d.element_bits // 8
    no_cat = simulate(c, a.with_changes(**{f"{dev}.kv_cache_concat": False,
                                           f"{dev}.kernel_launch_us": 0.0}))
    bw = d.mem_bandwidth_gb_s * 1e9 * d.mem_efficiency
    assert no_launch.seconds - no_cat.seconds == pytest.approx(2 * kv_bytes / bw, rel=1e-6)


@st.composite
def chains(draw):
    """Random cascades on the two units: (unit, own cycles, input indices, rounds)."""
    ops = []
    for i in range(draw(st.integers(1, 12))):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True)) if i else []
        ops.append((draw(st.sampled_from(["pim", "asic"])), draw(st.integers(0, 500)), deps,
                    draw(st.integers(0, 40)), draw(st.integers(1, 8)), draw(st.booleans())))
    return ops


@settings(max_examples=200, deadline=None)
@given(chains())
def test_timeline_bounds(ops):
    """Overlapped: never slower than one unit after the other, never faster than the
    busier unit; the Einsums' shares add up to the end; a unit never runs two things
    at once and nothing starts before a whole (non-streamed) input is ready."""
    from sim.pim.run import Timeline

    def run(overlap):
        tl, total, spans = Timeline(overlap), 0, []
        for i, (unit, cyc, deps, asic, rounds, kv) in enumerate(ops):
            names = [f"t{d}" for d in deps]
            if unit == "pim":
                start = tl.pim_start(names, after_asic=kv)
                assert all(tl.ready[n] <= start for n in names)
                before_asic = tl.asic_free
                total += tl.run_pim(f"t{i}", start, cyc, asic, rounds)
                spans.append(("pim", start, start + cyc))
                if asic:
                    spans.append(("asic", max(before_asic, start), tl.asic_free))
            else:
                before = tl.asic_free
                total += tl.run_asic(f"t{i}", names, cyc)
                spans.append(("asic", tl.ready[f"t{i}"] - cyc, tl.ready[f"t{i}"]))
                assert tl.ready[f"t{i}"] >= before + cyc
        assert total == tl.end
        for unit in ("pim", "asic"):
            s = sorted((a, b) for u, a, b in spans if u == unit and b > a)
            assert all(s[k][1] <= s[k + 1][0] for k in range(len(s) - 1)), unit
        return tl.end

    serial, over = run(False), run(True)
    pim = sum(c for u, c, *_ in ops if u == "pim")
    asic = sum(c for u, c, *_ in ops if u == "asic") + sum(a for u, _, _, a, _, _ in ops if u == "pim")
    assert max(pim, asic) <= over <= serial == pim + asic
