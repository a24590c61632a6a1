"""Fast path: identical channels simulated once; repeated row streams replayed in
closed form (state shift by the row period) once the channel state is periodic.

Exact by construction of the skip rule and tested equal to `engine.run_channels`
on randomized programs (tests/test_pim_engine.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from sim.pim.channel import ACTAB, MACAB, PREAB, RDMAC, ChannelState, Command
from sim.pim.program import ChannelRun, Issuer, Op, RowOp, op_commands
from sim.pim.timing import TimingCycles


def _run_op(issuer: Issuer, op: Op) -> None:
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


def run_program(program: Sequence[Op], tc: TimingCycles, banks: int = 16,
                bank_groups: int = 4) -> ChannelRun:
    run = ChannelRun()
    run_ops(Issuer(ChannelState(tc, banks, bank_groups), run), program)
    return run


def run_ops(issuer: Issuer, program: Sequence[Op]) -> None:
    """Issue `program` through `issuer` (whose state may carry over from earlier ops)."""
    state, run, tc = issuer.state, issuer.run, issuer.state.tc
    i, n = 0, len(program)
    while i < n:
        op = program[i]
        if not isinstance(op, RowOp):
            _run_op(issuer, op)
            i += 1
            continue
        # a stream of row ops with the same pieces: same commands, only row addresses differ
        j = i
        while j < n and isinstance(program[j], RowOp) and program[j].pieces == op.pieces \
                and program[j].tag == op.tag:
            j += 1
        prev = None
        k = i
        while k < j:
            _run_op(issuer, program[k])
            k += 1
            if j - k < 2:  # too few rows left to gain from a skip
                continue
            snap = (state.signature(), state.t_cmd, Counter(run.counts), Counter(run.breakdown),
                    issuer.after_refresh, state.refs, run.open_ticks)
            # the period (the row just run) must be refresh-free: the signature clips
            # t_ref_end to the constraint window, so a row that refreshed before its ACTAB
            # can end in the same signature as a plain row, and replaying it would
            # repeat its REFAB (and tRFC wait) in every skipped row
            if prev is not None and snap[0] == prev[0] and not snap[4] and not prev[4] \
                    and snap[5] == prev[5]:
                delta = snap[1] - prev[1]
                due = (state.refs + 1) * tc.REFI
                # rows k, k+1, ... start with a refresh check on the last command time,
                # which grows by delta per row: skip while it stays below the due time
                if delta > 0 and state.t_cmd < due:
                    m = min(j - k, (due - 1 - state.t_cmd) // delta + 1)
                    if m > 0:
                        run.add_scaled(snap[2] - prev[2], snap[3] - prev[3], m, snap[6] - prev[6])
                        state.shift(m * delta)
                        k += m
                snap = (state.signature(), state.t_cmd, Counter(run.counts),
                        Counter(run.breakdown), issuer.after_refresh, state.refs, run.open_ticks)
            prev = snap
        i = j
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
