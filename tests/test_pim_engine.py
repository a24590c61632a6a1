"""DRAM/PIM engine: traces obey every timing rule; the fast path equals the per-command engine."""

import pytest
from hypothesis import given, settings, strategies as st

from sim.pim.checker import TimingViolation, check_trace
from sim.pim.engine import run_channels
from sim.pim.fastpath import run_channels_fast
from sim.pim.program import BankWrites, GbWrite, RowOp
from sim.pim.timing import TimingNs

BASE = dict(tRCD=14.8, tRCDWR=9.1, tRP=14.8, tRAS=30.2, tRC=45.0, tWR=14.8, tRTP=2.3,
            tCCD_S=2.3, tCCD_L=3.4, tRRD_S=4.0, tRRD_L=4.0, tFAW=16.0, tWTR=5.1, tREFI=1900.0,
            tRFC=120.0, tCL=13.7, tCWL=3.4, tCCD_MAC=1.0, data_rate_gbps=16.0)


@st.composite
def timings(draw):
    f = lambda lo, hi: draw(st.floats(lo, hi, allow_nan=False))  # noqa: E731
    rcd, rp, ras = f(1, 20), f(1, 20), f(1, 40)
    return TimingNs(tRCD=rcd, tRCDWR=f(1, 20), tRP=rp, tRAS=ras, tRC=max(ras + rp, f(1, 60)),
                    tWR=f(1, 20), tRTP=f(0.5, 5), tCCD_S=f(0.5, 3), tCCD_L=f(0.5, 5),
                    tRRD_S=f(0.5, 6), tRRD_L=f(0.5, 8), tFAW=f(1, 30), tWTR=f(0.5, 8),
                    tREFI=f(300, 2000), tRFC=f(20, 150), tCL=f(1, 15), tCWL=f(0.5, 5),
                    tCCD_MAC=f(0.5, 3), data_rate_gbps=draw(st.sampled_from([8.0, 12.0, 16.0, 20.0])))


@st.composite
def programs(draw, banks=4):
    ops = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["rows", "gb", "kv"]))
        if kind == "rows":
            pieces = tuple(draw(st.lists(st.tuples(st.integers(1, 6), st.booleans()), min_size=1, max_size=3)))
            ops += [RowOp(r, pieces) for r in range(draw(st.integers(1, 25)))]
        elif kind == "gb":
            ops.append(GbWrite(draw(st.integers(1, 6))))
        else:
            bs = draw(st.lists(st.integers(0, banks - 1), min_size=1, max_size=banks, unique=True))
            ops.append(BankWrites(tuple((b, draw(st.integers(0, 9)), draw(st.integers(1, 3))) for b in bs)))
    return ops


@settings(max_examples=60, deadline=None)
@given(timings(), st.lists(programs(), min_size=1, max_size=3), st.sampled_from([None, 0.125, 0.3]))
def test_random_streams_obey_every_constraint_and_fast_path_is_exact(t, progs, tick):
    tc = t.cycles(tick_ns=tick)
    runs = run_channels(progs, tc, banks=4, bank_groups=2, trace=True)
    assert check_trace([r for run in runs for r in run.trace], tc, banks=4, bank_groups=2) > 0
    fast = run_channels_fast(progs, tc, banks=4, bank_groups=2)
    for a, b in zip(runs, fast):
        assert a.cycles == b.cycles
        assert a.counts == b.counts
        assert a.breakdown == b.breakdown
        assert sum(a.breakdown.values()) == a.cycles
        # time with a row open (active-standby energy): exact in the fast path, within the run
        assert a.open_ticks == b.open_ticks
        assert 0 <= a.open_ticks <= a.cycles


def _per_command(state, run, program, floor):
    """The reference: one channel's program through the simpy per-command engine."""
    import simpy

    from sim.pim.engine import channel_process
    from sim.pim.program import Issuer

    env = simpy.Environment(initial_time=floor)
    env.process(channel_process(env, Issuer(state, run, floor=floor), program))
    env.run()


@settings(max_examples=150, deadline=None)
@given(timings(), st.lists(programs(), min_size=1, max_size=3), st.integers(1, 4),
       st.lists(st.integers(0, 4000), min_size=1, max_size=4), st.sampled_from([None, 0.125, 0.3]))
def test_fast_path_with_carried_state_equals_per_command_engine(t, progs, repeat, gaps, tick):
    """Programs run one after another on one channel (state, refresh debt carried over,
    idle gaps between them), each seen several times: the fast path replays ops from
    states it met before, in this example or an earlier one, and must still equal the
    per-command engine in every count, cycle and final state."""
    from sim.pim.channel import ChannelState
    from sim.pim.fastpath import run_ops
    from sim.pim.program import ChannelRun, Issuer, refresh_while_idle

    tc = t.cycles(tick_ns=tick)
    fast_state, ref_state = ChannelState(tc, 4, 2), ChannelState(tc, 4, 2)
    now = 0
    for i, prog in enumerate(progs * repeat):
        now += gaps[i % len(gaps)]
        fast, ref = ChannelRun(), ChannelRun()
        refresh_while_idle(fast_state, fast, now)
        refresh_while_idle(ref_state, ref, now)
        run_ops(Issuer(fast_state, fast, floor=now), prog)
        _per_command(ref_state, ref, prog, now)
        assert (fast.cycles, fast.counts, fast.breakdown, fast.open_ticks, fast.idle_refreshes) \
            == (ref.cycles, ref.counts, ref.breakdown, ref.open_ticks, ref.idle_refreshes)
        assert (fast_state.signature(), fast_state.t_cmd, fast_state.refs) \
            == (ref_state.signature(), ref_state.t_cmd, ref_state.refs)
        now += ref.cycles


def test_fast_path_does_not_replay_one_refresh_where_several_are_owed():
    """A row after a long global-buffer write meets the same clipped state whether one
    refresh or several are owed; the remembered one-refresh row must not be replayed
    for the second."""
    from sim.pim.channel import ChannelState
    from sim.pim.fastpath import run_ops
    from sim.pim.program import ChannelRun, Issuer

    tc = TimingNs(**BASE).cycles()
    step = max(tc.CMD, tc.BURST)
    fast_state, ref_state = ChannelState(tc), ChannelState(tc)
    for owed in (0.5, 3.5):  # REFI periods past the due time when the row is checked
        now = fast_state.t_cmd + tc.CMD if fast_state.t_cmd > 0 else 0
        bursts = int(((fast_state.refs + 1 + owed) * tc.REFI - now) // step)
        prog = [RowOp(0, ((4, True),)), GbWrite(bursts), RowOp(1, ((4, True),))]
        fast, ref = ChannelRun(), ChannelRun()
        run_ops(Issuer(fast_state, fast, floor=now), prog)
        _per_command(ref_state, ref, prog, now)
        assert ref.counts["REFAB"] == (1 if owed < 1 else 4)
        assert (fast.cycles, fast.counts, fast.breakdown) == (ref.cycles, ref.counts, ref.breakdown)
        assert (fast_state.signature(), fast_state.t_cmd, fast_state.refs) \
            == (ref_state.signature(), ref_state.t_cmd, ref_state.refs)


def test_fast_path_does_not_replay_a_row_that_refreshed():
    # hypothesis find: with tRFC (+ CL + BURST) spanning the whole constraint window, the
    # row that refreshes before its ACTAB ends in the same clipped signature as a plain
    # row; the skip replayed its REFAB in every skipped row (3 REFABs, 460 vs 420 cycles)
    t = TimingNs(tRCD=1.0, tRCDWR=1.0, tRP=1.0, tRAS=1.0, tRC=2.0, tWR=1.0, tRTP=2.0,
                 tCCD_S=1.0, tCCD_L=1.0, tRRD_S=1.0, tRRD_L=1.0, tFAW=1.0, tWTR=1.0,
                 tREFI=300.0, tRFC=20.0, tCL=1.0, tCWL=1.0, tCCD_MAC=3.0, data_rate_gbps=8.0)
    tc = t.cycles()
    progs = [[RowOp(r, ((1, False), (1, False), (6, False))) for r in range(16)]]
    slow = run_channels(progs, tc, banks=4, bank_groups=2, trace=True)[0]
    check_trace(slow.trace, tc, banks=4, bank_groups=2)
    assert (slow.cycles, slow.counts["REFAB"]) == (420, 1)
    fast = run_channels_fast(progs, tc, banks=4, bank_groups=2)[0]
    assert (slow.cycles, slow.counts, slow.breakdown) == (fast.cycles, fast.counts, fast.breakdown)
    # longer streams: a refresh every tREFI, each in its own row, none replayed
    progs = [[RowOp(r, ((1, False), (1, False), (6, False))) for r in range(200)]]
    slow = run_channels(progs, tc, banks=4, bank_groups=2, trace=True)[0]
    check_trace(slow.trace, tc, banks=4, bank_groups=2)
    fast = run_channels_fast(progs, tc, banks=4, bank_groups=2)[0]
    assert (slow.cycles, slow.counts, slow.breakdown) == (fast.cycles, fast.counts, fast.breakdown)


def test_long_stream_refreshes_and_fast_path_matches():
    tc = TimingNs(**BASE).cycles()
    prog = [GbWrite(64)] + [RowOp(r, ((64, True),)) for r in range(200)]
    slow = run_channels([prog], tc, trace=True)[0]
    check_trace(slow.trace, tc)
    fast = run_channels_fast([prog], tc)[0]
    assert (slow.cycles, slow.counts, slow.breakdown) == (fast.cycles, fast.counts, fast.breakdown)
    assert slow.counts["REFAB"] >= slow.cycles // tc.REFI - tc.MAX_POSTPONED_REF
    assert slow.breakdown["refresh"] >= slow.counts["REFAB"] * tc.RFC
    # lower bound: the MACs alone need MACAB count x tCCD_MAC cycles
    assert slow.cycles >= slow.counts["MACAB"] * tc.CCD_MAC


def test_checker_catches_violations():
    tc = TimingNs(**BASE).cycles()
    run = run_channels([[RowOp(0, ((4, True),)), RowOp(1, ((4, True),))]], tc, trace=True)[0]
    trace = run.trace
    check_trace(trace, tc)
    for i, row in enumerate(trace):
        if row[2] in ("MACAB", "RDMAC", "ACTAB", "PREAB"):
            bad = list(trace)
            bad[i] = (row[0] - 1,) + row[1:]
            prev = trace[i - 1][0] if i else -1
            if bad[i][0] <= prev:
                continue
            with pytest.raises(TimingViolation):
                check_trace(bad, tc)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 20000), st.integers(0, 3), st.sampled_from([None, 0.125]))
def test_idle_refresh_closed_form_equals_one_by_one(until, rows, tick):
    from sim.pim.channel import REFAB, ChannelState, Command
    from sim.pim.fastpath import run_ops
    from sim.pim.program import ChannelRun, Issuer, refresh_while_idle

    tc = TimingNs(**BASE).cycles(tick_ns=tick)

    def start():
        state, run = ChannelState(tc), ChannelRun()
        run_ops(Issuer(state, run), [RowOp(r, ((8, True),)) for r in range(rows)])
        return state, run

    fast_state, fast_run = start()
    refresh_while_idle(fast_state, fast_run, until)
    ref_state, ref_run = start()
    while True:  # reference: every refresh that fits before `until`, one at a time
        due = (ref_state.refs + 1) * tc.REFI
        t = ref_state.earliest(Command(REFAB), max(due, ref_state.t_cmd + tc.CMD))
        if t + tc.RFC > until:
            break
        ref_state.apply(Command(REFAB), t)
    assert fast_state.refs == ref_state.refs
    assert fast_state.signature() == ref_state.signature() and fast_state.t_cmd == ref_state.t_cmd


def test_trace_file_round_trip(tmp_path):
    from sim.pim.checker import read_trace
    from sim.pim.engine import write_trace

    tc = TimingNs(**BASE).cycles()
    runs = run_channels([[GbWrite(4), RowOp(0, ((8, True),)), BankWrites(((1, 3, 2),))]] * 2, tc, trace=True)
    write_trace(runs, tmp_path / "t.csv")
    rows = read_trace(tmp_path / "t.csv")
    assert len(rows) == sum(sum(r.counts.values()) for r in runs)
    assert check_trace(rows, tc) == len(rows)
