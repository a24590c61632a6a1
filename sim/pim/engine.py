"""The per-command engine: every channel is a simpy process issuing its program's
commands one by one at the earliest cycle the timing rules allow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from sim.pim.channel import ChannelState
from sim.pim.program import ChannelRun, Issuer, Op, op_commands
from sim.pim.timing import TimingCycles

if TYPE_CHECKING:  # imported where a channel is simulated command by command
    import simpy


def channel_process(env: simpy.Environment, issuer: Issuer, program: Sequence[Op]):
    for op in program:
        for cmd in op_commands(issuer.state, op, issuer.floor):
            t = issuer.when(cmd)
            if t > env.now:
                yield env.timeout(t - env.now)
            issuer.issue(cmd, t, op.tag)
    issuer.finish()


def run_channels(programs: Sequence[Sequence[Op]], tc: TimingCycles, banks: int = 16,
                 bank_groups: int = 4, trace: bool = False) -> list[ChannelRun]:
    """Simulate every channel's program command by command; one ChannelRun each."""
    import simpy

    env = simpy.Environment()
    runs = []
    for ch, program in enumerate(programs):
        run = ChannelRun(trace=[] if trace else None)
        issuer = Issuer(ChannelState(tc, banks, bank_groups), run, ch)
        env.process(channel_process(env, issuer, program))
        runs.append(run)
    env.run()
    return runs


def write_trace(runs: Sequence[ChannelRun], path) -> None:
    """Per-command trace as CSV: cycle, channel, command, bank, row, column."""
    rows = sorted(r for run in runs for r in (run.trace or []))
    with open(path, "w") as f:
        f.write("cycle,channel,command,bank,row,col\n")
        for r in rows:
            f.write(",".join(str(x) for x in r) + "\n")
