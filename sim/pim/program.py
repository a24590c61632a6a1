"""Channel programs (what the mapper emits) and their expansion into DRAM/PIM commands.

A program is a list of ops run in order by one channel's in-order controller:
  RowOp       open one row in every bank (ACTAB), column MACs (MACAB) in pieces, each
              piece optionally followed by a result read (RDMAC), then PREAB;
  GbWrite     bursts into the channel's global buffer (WRGB);
  BankWrites  ordinary single-bank writes (KV-cache append): ACT each bank, WR, PRE.
Refresh is the controller's: before an op that activates, if a refresh is due
(last command at or past refs+1 times tREFI) it issues REFAB (banks are idle between ops).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator, Union

from mapper.pim import BankWrites, GbWrite, RowOp
from sim.pim.channel import (ACT, ACTAB, MACAB, PRE, PREAB, RDMAC, REFAB, WR, WRGB,
                             ChannelState, Command)


Op = Union[RowOp, GbWrite, BankWrites]


def expand(op: Op) -> Iterator[Command]:
    if isinstance(op, RowOp):
        yield Command(ACTAB, row=op.row)
        col = 0
        for n, read in op.pieces:
            for _ in range(n):
                yield Command(MACAB, col=col)
                col += 1
            if read:
                yield Command(RDMAC)
        yield Command(PREAB)
    elif isinstance(op, GbWrite):
        for i in range(op.bursts):
            yield Command(WRGB, col=i)
    elif isinstance(op, BankWrites):
        for bank, row, _ in op.writes:
            yield Command(ACT, bank=bank, row=row)
        for bank, _, bursts in op.writes:
            for i in range(bursts):
                yield Command(WR, bank=bank, col=i)
        for bank, _, _ in op.writes:
            yield Command(PRE, bank=bank)
    else:
        raise TypeError(f"not a channel op: {op!r}")


def activates(op: Op) -> bool:
    return not isinstance(op, GbWrite)


def refresh_due(state: ChannelState, floor: int = 0) -> bool:
    return max(state.t_cmd, floor) >= (state.refs + 1) * state.tc.REFI


@dataclass
class ChannelRun:
    """What one channel did: end cycle, command counts, and where the cycles went."""

    cycles: int = 0
    counts: Counter = field(default_factory=Counter)
    breakdown: Counter = field(default_factory=Counter)  # tag -> cycles
    trace: list | None = None
    idle_refreshes: int = 0  # refreshes done while idle before this program (not timed)
    open_ticks: int = 0      # cycles with a row open in some bank (active standby)


def end_cycle(state: ChannelState) -> int:
    """The program is done when its last command is issued and the data bus is quiet."""
    return max(state.t_cmd + state.tc.CMD, state.bus_free, 0)


class Issuer:
    """Issues commands at their earliest legal cycle and books the gaps to a tag.

    `floor` is the cycle before which nothing may issue (the op stream's start: the
    previous step of the workload ends there); gaps before it are not booked here.
    """

    def __init__(self, state: ChannelState, run: ChannelRun, channel: int = 0, floor: int = 0):
        self.state, self.run, self.channel, self.floor = state, run, channel, floor
        self.after_refresh = False
        self.issued = 0
        self.open_since: int | None = None  # a row has been open in some bank since then

    def when(self, cmd: Command) -> int:
        return self.state.earliest(cmd, max(self.state.t_cmd, self.floor))

    def issue(self, cmd: Command, t: int, tag: str) -> None:
        prev = max(self.state.t_cmd, self.floor - 1)
        self.state.apply(cmd, t)
        self.issued += 1
        self.run.counts[cmd.kind] += 1
        # the command after a refresh waited tRFC for it: that wait is refresh time
        book = "refresh" if (cmd.kind == REFAB or self.after_refresh) else tag
        self.run.breakdown[book] += t - prev
        self.after_refresh = cmd.kind == REFAB
        # time with a row open (active standby power, energy models that split it)
        if cmd.kind in (ACT, ACTAB):
            if self.open_since is None:
                self.open_since = t
        elif cmd.kind in (PRE, PREAB) and self.open_since is not None \
                and not any(b.open_row >= 0 for b in self.state.banks):
            self.run.open_ticks += t - self.open_since
            self.open_since = None
        if self.run.trace is not None:
            self.run.trace.append((t, self.channel, cmd.kind, cmd.bank, cmd.row, cmd.col))

    def finish(self) -> None:
        """Close the op stream: its cycles run from `floor` to the quiet data bus."""
        if not self.issued:
            self.run.cycles = 0
            return
        end = end_cycle(self.state)
        self.run.breakdown["data_movement"] += end - (self.state.t_cmd + 1)
        self.run.cycles = end - self.floor


def refresh_while_idle(state: ChannelState, run: ChannelRun, until: int, channel: int = 0) -> None:
    """Refreshes that fall due while the channel idles before cycle `until` (the ASIC is
    working) are done in that gap when they can finish by then; not booked as time.

    Once a refresh issues exactly at its due cycle, every later one in the gap does too
    (tREFI > tRFC, banks idle), so those are counted in closed form."""
    tc = state.tc
    while True:
        due = (state.refs + 1) * tc.REFI
        if due + tc.RFC > until:
            return
        t = state.earliest(Command(REFAB), max(due, state.t_cmd + tc.CMD))
        if t + tc.RFC > until:
            return
        state.apply(Command(REFAB), t)
        run.idle_refreshes += 1
        if run.trace is not None:  # traced: every refresh, one by one
            run.trace.append((t, channel, REFAB, -1, -1, -1))
            continue
        if t == due and tc.REFI >= tc.RFC + tc.CMD:
            last = (until - tc.RFC) // tc.REFI  # index of the last refresh that fits
            more = last - state.refs
            if more > 0:
                state.refs += more - 1
                state.apply(Command(REFAB), last * tc.REFI)
                run.idle_refreshes += more
            return


def op_commands(state: ChannelState, op: Op, floor: int = 0) -> Iterator[Command]:
    """The op's commands, with refreshes first while one is due."""
    while activates(op) and refresh_due(state, floor):  # catch up after idle time
        yield Command(REFAB)
    yield from expand(op)
