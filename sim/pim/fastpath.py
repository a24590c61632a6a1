"""Fast path: identical channels simulated once; runs of MACs and global-buffer writes
in closed form; an op that meets a channel state it met before (anywhere, any token)
replayed from memory, and runs of ops that leave the state as they found it replayed
in one step until a refresh falls due.

Exact by construction of the skip rules and tested equal to the per-command engine on
randomized programs, with state carried across programs (tests/test_pim_engine.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from sim.pim.channel import ACTAB, MACAB, PREAB, RDMAC, WRGB, ChannelState, Command
from sim.pim.program import (BankWrites, ChannelRun, GbWrite, Issuer, Op, RowOp, activates,
                             op_commands, refresh_due)
from sim.pim.timing import TimingCycles


def _run_op(issuer: Issuer, op: Op) -> None:
    if isinstance(op, GbWrite):
        if op.bursts:
            first = Command(WRGB)
            issuer.issue(first, issuer.when(first), op.tag)
            _write_run(issuer, op.bursts - 1, op.tag)
        return
    if not isinstance(op, RowOp):
        for cmd in op_commands(issuer.state, op, issuer.floor):
            issuer.issue(cmd, issuer.when(cmd), op.tag)
        return
    cmds = op_commands(issuer.state, op, issuer.floor)
    for cmd in cmds:
        issuer.issue(cmd, issuer.when(cmd), op.tag)
        if cmd.kind == ACTAB:
            break
    for n, read in op.pieces:
        first = Command(MACAB)
        issuer.issue(first, issuer.when(first), op.tag)
        _mac_run(issuer, n - 1, op.tag)
        if read:
            rd = Command(RDMAC)
            issuer.issue(rd, issuer.when(rd), op.tag)
    pre = Command(PREAB)
    issuer.issue(pre, issuer.when(pre), op.tag)


def _mac_run(issuer: Issuer, k: int, tag: str) -> None:
    """k more all-bank MACs right after one: in closed form. After a MACAB at t, the
    next one's only binding rules are the MAC spacing and the command bus (tRCD, the
    global buffer and tWTR held for the first), so they issue every
    max(tCCD_MAC, CMD) cycles."""
    if k <= 0:
        return
    st = issuer.state
    step = max(st.tc.CCD_MAC, st.tc.CMD)
    t = st.t_mac + k * step
    st.t_cmd = st.t_mac = st.t_col = t
    for b in st.banks:
        b.t_rd = t
    issuer.run.counts[MACAB] += k
    issuer.run.breakdown[tag] += k * step
    issuer.issued += k


def _write_run(issuer: Issuer, k: int, tag: str) -> None:
    """k more global-buffer writes right after one: in closed form. After a WRGB at t,
    the next one waits only for the command bus and its data burst, so they issue
    every max(CMD, BURST) cycles."""
    if k <= 0:
        return
    st = issuer.state
    step = max(st.tc.CMD, st.tc.BURST)
    st.t_cmd += k * step
    st.bus_free = st.t_wr_end = st.gb_ready = st.t_cmd + st.tc.CWL + st.tc.BURST
    issuer.run.counts[WRGB] += k
    issuer.run.breakdown[tag] += k * step
    issuer.issued += k


def run_program(program: Sequence[Op], tc: TimingCycles, banks: int = 16,
                bank_groups: int = 4) -> ChannelRun:
    run = ChannelRun()
    run_ops(Issuer(ChannelState(tc, banks, bank_groups), run), program)
    return run


def op_key(op: Op):
    """What an op's timing depends on: row addresses do not matter to any rule."""
    if isinstance(op, RowOp):
        return (RowOp, op.pieces, op.tag)
    if isinstance(op, BankWrites):
        return (BankWrites, tuple((bank, bursts) for bank, _, bursts in op.writes), op.tag)
    return op


def op_runs(program: Sequence[Op]) -> list[tuple[Op, int]]:
    """`program` as (op, count) runs of consecutive ops with equal timing (`op_key`)."""
    runs: list[list] = []
    last = None
    for op in program:
        key = op_key(op)
        if runs and key == last:
            runs[-1][1] += 1
        else:
            runs.append([op, 1])
            last = key
    return [(op, n) for op, n in runs]


@dataclass(frozen=True)
class _Step:
    """One op run from a channel state (a signature): what it did and where it left the
    state. Translation invariant, so it holds whenever the op meets the same signature
    with the same refresh decision."""

    after: int                      # signature id after the op
    dt: int                         # the last command's time moved by this
    counts: tuple                   # ((command kind, n), ...)
    breakdown: tuple                # ((tag, cycles), ...)
    open_ticks: int
    issued: int
    refresh_at: int | None          # its one refresh's issue time from the op's start


class _Steps:
    """Every op run seen from every channel state, for one timing and bank layout:
    signatures numbered once, steps keyed by (op key, signature id, refresh due)."""

    def __init__(self):
        self.ids: dict[tuple, int] = {}
        self.sigs: list[tuple] = []
        self.steps: dict[tuple, _Step] = {}

    def id(self, sig: tuple) -> int:
        i = self.ids.get(sig)
        if i is None:
            i = self.ids[sig] = len(self.sigs)
            self.sigs.append(sig)
        return i


_STEPS: dict[tuple, _Steps] = {}


def _steps_for(state: ChannelState) -> _Steps:
    key = (state.tc, len(state.banks), state.bank_groups)
    if key not in _STEPS:
        _STEPS[key] = _Steps()
    return _STEPS[key]


def run_ops(issuer: Issuer, program: Sequence[Op]) -> None:
    """Issue `program` through `issuer` (whose state may carry over from earlier ops)."""
    run_op_runs(issuer, op_runs(program))


def run_op_runs(issuer: Issuer, runs: Sequence[tuple[Op, int]]) -> None:
    """Issue runs of equal-timing ops (`op_runs`). An op meeting a channel state (its
    signature) and refresh decision seen before, anywhere, is replayed from memory
    (`_Step`); an op that leaves the state as it found it, without a refresh, is
    replayed for every following op of its run until a refresh falls due. Only ops
    starting after the stream's first command, with every bank closed, are remembered:
    their outcome depends on nothing else (the refresh check aside, which is redone)."""
    state, run, tc = issuer.state, issuer.run, issuer.state.tc
    memo = _steps_for(state)
    sid: int | None = None   # the state's signature id when known
    stale = False            # the state lags behind (sid, t, refs): restore before use
    t = refs = 0
    for op, count in runs:
        key, act = op_key(op), activates(op)
        left = count
        while left:
            if sid is not None:
                step = memo.steps.get((key, sid, act and t >= (refs + 1) * tc.REFI))
                if step is not None and (step.refresh_at is None
                                         or t + step.refresh_at < (refs + 2) * tc.REFI):
                    m = 1
                    if step.after == sid and step.refresh_at is None and step.dt > 0:
                        # rows k = 0..m-1 start at t + k dt: no refresh falls due before
                        due = (refs + 1) * tc.REFI
                        m = min(left, (due - 1 - t) // step.dt + 1) if act else left
                    for k, v in step.counts:
                        run.counts[k] += v * m
                    for k, v in step.breakdown:
                        run.breakdown[k] += v * m
                    run.open_ticks += step.open_ticks * m
                    issuer.issued += step.issued * m
                    refs += step.refresh_at is not None
                    t += step.dt * m
                    sid, stale, left = step.after, True, left - m
                    continue
                if stale:
                    state.restore(memo.sigs[sid], t, refs)
                    stale = False
            # simulate the op command by command (through the closed-form MAC runs)
            start = None
            if sid is not None:  # known state: remember what the op does from it
                start = (sid, t, refs, act and refresh_due(state, issuer.floor), Counter(run.counts),
                         Counter(run.breakdown), run.open_ticks, issuer.issued)
            _run_op(issuer, op)
            left -= 1
            sid = None
            if state.t_cmd < issuer.floor or issuer.open_since is not None or issuer.after_refresh:
                continue
            sid, t, refs = memo.id(state.signature()), state.t_cmd, state.refs
            if start is None or refs - start[2] > 1:
                continue
            s0, t0, refs0, due, c0, b0, o0, i0 = start
            memo.steps[(key, s0, due)] = _Step(
                sid, t - t0, tuple((run.counts - c0).items()), tuple((run.breakdown - b0).items()),
                run.open_ticks - o0, issuer.issued - i0,
                state.banks[0].t_ref_end - tc.RFC - t0 if refs > refs0 else None)
    if stale:
        state.restore(memo.sigs[sid], t, refs)
    issuer.finish()


def run_channels_fast(programs: Sequence[Sequence[Op]], tc: TimingCycles, banks: int = 16,
                      bank_groups: int = 4) -> list[ChannelRun]:
    """Like engine.run_channels, simulating each distinct program once."""
    cache: dict[int, ChannelRun] = {}
    keys: dict[tuple, int] = {}
    out = []
    for program in programs:
        key = tuple(program)
        if key not in keys:
            keys[key] = len(keys)
            cache[keys[key]] = run_program(program, tc, banks, bank_groups)
        out.append(cache[keys[key]])
    return out
