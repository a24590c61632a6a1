"""One GDDR6-AiM channel: banks as state machines and the timing rules for each command.

`ChannelState.earliest(cmd, now)` is the first cycle >= now on which `cmd` is legal;
`apply(cmd, t)` issues it. The per-command engine and the fast path both schedule
with these rules; `checker.py` re-derives every constraint independently from a trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sim.pim.timing import TimingCycles

NEVER = -(10**15)  # "long ago": a timestamp no constraint reaches

# Command kinds. *AB = all banks of the channel at once (AiM).
ACT, PRE, RD, WR = "ACT", "PRE", "RD", "WR"
ACTAB, PREAB, MACAB, WRGB, RDMAC, REFAB = "ACTAB", "PREAB", "MACAB", "WRGB", "RDMAC", "REFAB"
KINDS = (ACT, PRE, RD, WR, ACTAB, PREAB, MACAB, WRGB, RDMAC, REFAB)


class Command(NamedTuple):
    kind: str
    bank: int = -1
    row: int = -1
    col: int = -1


@dataclass
class Bank:
    """Timestamps from which the state (idle/activating/active/precharging/refreshing) follows."""

    open_row: int = -1
    t_act: int = NEVER
    t_pre: int = NEVER
    t_ref_end: int = NEVER
    t_rd: int = NEVER         # last read-type column access (RD or MAC)
    t_wr_end: int = NEVER     # end of the last write's data burst

    def state(self, t: int, tc: TimingCycles) -> str:
        if t < self.t_ref_end:
            return "refreshing"
        if self.open_row >= 0:
            return "activating" if t < self.t_act + tc.RCD else "active"
        return "precharging" if t < self.t_pre + tc.RP else "idle"


class ChannelState:
    def __init__(self, tc: TimingCycles, banks: int = 16, bank_groups: int = 4):
        self.tc = tc
        self.banks = [Bank() for _ in range(banks)]
        self.bank_groups = bank_groups
        self.per_group = banks // bank_groups
        self.t_cmd = NEVER        # last command on the command bus
        self.acts = [NEVER] * 4   # last four activation times (tFAW window)
        self.t_last_act = NEVER
        self.bg_last_act = -1
        self.t_col = NEVER        # last column command (RD/WR/MAC)
        self.bg_col = -1          # its bank group (-2: all groups)
        self.t_mac = NEVER
        self.bus_free = NEVER     # data bus free from this cycle
        self.t_wr_end = NEVER     # end of last write data on the bus (tWTR)
        self.gb_ready = NEVER     # global buffer holds the written data from here
        self.refs = 0
        self._window = tc.window()

    def bg(self, bank: int) -> int:
        return bank // self.per_group

    # -- rules -------------------------------------------------------------------
    def _act_ok(self, b: Bank) -> int:
        tc = self.tc
        return max(b.t_pre + tc.RP, b.t_act + tc.RC, b.t_ref_end)

    def _pre_ok(self, b: Bank) -> int:
        tc = self.tc
        return max(b.t_act + tc.RAS, b.t_rd + tc.RTP, b.t_wr_end + tc.WR)

    def _ccd(self, bg: int) -> int:
        tc = self.tc
        same = bg < 0 or self.bg_col < 0 or bg == self.bg_col  # all-bank accesses count as same group
        return self.t_col + (tc.CCD_L if same else tc.CCD_S)

    def earliest(self, cmd: Command, now: int) -> int:
        tc, k = self.tc, cmd.kind
        t = max(now, self.t_cmd + tc.CMD)
        if k == ACT or k == ACTAB:
            banks = [self.banks[cmd.bank]] if k == ACT else self.banks
            if any(b.open_row >= 0 for b in banks):
                raise RuntimeError(f"{k} to an open bank: precharge first")
            same = k == ACTAB or self.bg(cmd.bank) == self.bg_last_act
            # tFAW: one more activation (ACT) or four more (ACTAB) must fit the window
            faw_from = self.acts[0] if k == ACT else self.acts[-1]
            t = max(t, self.t_last_act + (tc.RRD_L if same else tc.RRD_S), faw_from + tc.FAW,
                    *(self._act_ok(b) for b in banks))
        elif k == PRE or k == PREAB:
            banks = [self.banks[cmd.bank]] if k == PRE else [b for b in self.banks if b.open_row >= 0]
            t = max(t, *(self._pre_ok(b) for b in banks)) if banks else t
        elif k == RD or k == WR:
            b = self.banks[cmd.bank]
            if b.open_row < 0:
                raise RuntimeError(f"{k} to a closed bank")
            if k == RD:
                t = max(t, b.t_act + tc.RCD, self._ccd(self.bg(cmd.bank)), self.t_wr_end + tc.WTR,
                        self.bus_free - tc.CL)
            else:
                t = max(t, b.t_act + tc.RCDWR, self._ccd(self.bg(cmd.bank)), self.bus_free - tc.CWL)
        elif k == MACAB:
            if any(b.open_row < 0 for b in self.banks):
                raise RuntimeError("MACAB needs every bank open")
            t = max(t, self.t_mac + tc.CCD_MAC, self.gb_ready, self.t_wr_end + tc.WTR,
                    *(b.t_act + tc.RCD for b in self.banks))
            if self.bg_col != -3:  # after a RD/WR the all-group access waits tCCD_L
                t = max(t, self.t_col + tc.CCD_L)
        elif k == WRGB:
            t = max(t, self.bus_free - tc.CWL)
        elif k == RDMAC:
            t = max(t, self.t_mac + tc.MAC_LAT, self.bus_free - tc.CL, self.t_wr_end + tc.WTR)
        elif k == REFAB:
            if any(b.open_row >= 0 for b in self.banks):
                raise RuntimeError("REFAB needs every bank precharged")
            t = max(t, *(self._act_ok(b) for b in self.banks))
        else:
            raise ValueError(f"unknown command {k}")
        return t

    def apply(self, cmd: Command, t: int) -> None:
        tc, k = self.tc, cmd.kind
        self.t_cmd = t
        if k == ACT or k == ACTAB:
            banks = [self.banks[cmd.bank]] if k == ACT else self.banks
            for b in banks:
                b.open_row, b.t_act = cmd.row, t
            # an all-bank activate draws the power of four: it fills the tFAW window
            self.acts = (self.acts + [t])[1:] if k == ACT else [t] * 4
            self.t_last_act, self.bg_last_act = t, (self.bg(cmd.bank) if k == ACT else -2)
        elif k == PRE or k == PREAB:
            banks = [self.banks[cmd.bank]] if k == PRE else [b for b in self.banks if b.open_row >= 0]
            for b in banks:
                b.open_row, b.t_pre = -1, t
        elif k == RD:
            self.banks[cmd.bank].t_rd = t
            self.t_col, self.bg_col = t, self.bg(cmd.bank)
            self.bus_free = t + tc.CL + tc.BURST
        elif k == WR:
            end = t + tc.CWL + tc.BURST
            self.banks[cmd.bank].t_wr_end = end
            self.t_wr_end = end
            self.t_col, self.bg_col = t, self.bg(cmd.bank)
            self.bus_free = end
        elif k == MACAB:
            for b in self.banks:
                b.t_rd = t
            self.t_col, self.bg_col, self.t_mac = t, -3, t
        elif k == WRGB:
            self.bus_free = t + tc.CWL + tc.BURST
            self.t_wr_end = self.bus_free
            self.gb_ready = self.bus_free
        elif k == RDMAC:
            self.bus_free = t + tc.CL + tc.BURST
        elif k == REFAB:
            for b in self.banks:
                b.t_ref_end = t + tc.RFC
            self.refs += 1

    # -- fast-path support ---------------------------------------------------------
    def signature(self) -> tuple:
        """State relative to the last command, clipped to the constraint window."""
        ref, w = self.t_cmd, self._window

        def r(x: int) -> int:
            return max(x - ref, -w)

        bank_sig = tuple((b.open_row >= 0, r(b.t_act), r(b.t_pre), r(b.t_ref_end), r(b.t_rd),
                          r(b.t_wr_end)) for b in self.banks)
        return (bank_sig, tuple(r(a) for a in self.acts), r(self.t_last_act), self.bg_last_act,
                r(self.t_col), self.bg_col, r(self.t_mac), r(self.bus_free), r(self.t_wr_end),
                r(self.gb_ready))

    def restore(self, sig: tuple, t_cmd: int, refs: int) -> None:
        """Set the state to `signature()` `sig` taken at last command `t_cmd`: equal in
        every rule to the state it was taken from (clipped times lie before any window).
        Only for states with every bank closed (the signature keeps no row address)."""
        banks, acts, t_last_act, self.bg_last_act, t_col, self.bg_col, t_mac, bus_free, \
            t_wr_end, gb_ready = sig
        for b, (is_open, t_act, t_pre, t_ref_end, t_rd, b_wr_end) in zip(self.banks, banks):
            if is_open:
                raise ValueError("restore needs every bank closed")
            b.open_row, b.t_act, b.t_pre = -1, t_cmd + t_act, t_cmd + t_pre
            b.t_ref_end, b.t_rd, b.t_wr_end = t_cmd + t_ref_end, t_cmd + t_rd, t_cmd + b_wr_end
        self.acts = [t_cmd + a for a in acts]
        self.t_last_act, self.t_col, self.t_mac = t_cmd + t_last_act, t_cmd + t_col, t_cmd + t_mac
        self.bus_free, self.t_wr_end, self.gb_ready = t_cmd + bus_free, t_cmd + t_wr_end, t_cmd + gb_ready
        self.t_cmd, self.refs = t_cmd, refs
