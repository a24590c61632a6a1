"""The per-bank MAC cycle model: closed form equals the cycle-stepped pipeline."""

import pytest
from hypothesis import given, settings, strategies as st

from sim.pim import bank_mac as bm

configs = st.builds(
    bm.BankMacConfig,
    lanes=st.sampled_from([1, 2, 4, 8, 16]),
    col_latency=st.integers(0, 4),
    mult_latency=st.integers(0, 3),
    tree_latency=st.one_of(st.none(), st.integers(0, 5)),
    acc_latency=st.integers(1, 2),
    issue_interval=st.integers(1, 4),
)


@st.composite
def accumulations(draw):
    cfg = draw(configs)
    n = draw(st.integers(1, 12))
    gaps = draw(st.lists(st.integers(cfg.issue_interval, cfg.issue_interval + 5), min_size=n - 1, max_size=n - 1))
    issues = [0]
    for g in gaps:
        issues.append(issues[-1] + g)
    vals = st.integers(-100, 100)
    cols = draw(st.lists(st.lists(vals, min_size=cfg.lanes, max_size=cfg.lanes), min_size=n, max_size=n))
    vecs = draw(st.lists(st.lists(vals, min_size=cfg.lanes, max_size=cfg.lanes), min_size=n, max_size=n))
    return cfg, issues, cols, vecs


@settings(max_examples=150, deadline=None)
@given(accumulations())
def test_stepped_pipeline_matches_closed_form(case):
    cfg, issues, cols, vecs = case
    result, ready = bm.simulate(cols, vecs, issues, cfg)
    assert ready == bm.ready_cycle(issues, cfg)
    assert result == sum(w * x for c, v in zip(cols, vecs) for w, x in zip(c, v))


@settings(max_examples=60, deadline=None)
@given(configs, st.integers(1, 40))
def test_back_to_back_convention(cfg, n):
    issues = [i * cfg.issue_interval for i in range(n)]
    assert bm.cycles_to_readable(n, cfg) == bm.ready_cycle(issues, cfg)
    assert bm.cycles_to_readable(n, cfg) == (n - 1) * cfg.issue_interval + cfg.pipeline_latency
    assert bm.macs(n, cfg) == n * cfg.lanes


def test_aim_default_numbers():
    cfg = bm.BankMacConfig()
    assert cfg.column_bytes == 32 and cfg.tree_levels == 4
    assert cfg.pipeline_latency == 7
    assert bm.cycles_to_readable(1, cfg) == 7
    assert bm.cycles_to_readable(64, cfg) == 63 + 7


def test_not_readable_one_cycle_early():
    cfg = bm.BankMacConfig()
    unit = bm.BankMacUnit(cfg)
    unit.step([1] * 16, [1] * 16, first=True)
    for _ in range(cfg.pipeline_latency - 2):
        unit.step()
        assert not unit.readable
    unit.step()
    assert unit.readable and unit.cycle == cfg.pipeline_latency and unit.accumulator == 16


def test_bad_inputs():
    with pytest.raises(ValueError):
        bm.cycles_to_readable(0)
    with pytest.raises(ValueError):
        bm.ready_cycle([0, 0], bm.BankMacConfig(issue_interval=1))
    with pytest.raises(ValueError):
        bm.BankMacConfig(col_latency=0, mult_latency=0, tree_latency=0, acc_latency=0)
