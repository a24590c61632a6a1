"""Trace checker: replays a per-command trace and asserts every DRAM/PIM timing rule.

Written independently of `channel.py` (event history per bank instead of the
scheduler's state), so an engine bug does not hide behind a shared rule.
A trace row is (cycle, channel, command, bank, row, col) as `engine.write_trace` writes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from sim.pim.timing import TimingCycles

ALL = "ALL"


class TimingViolation(AssertionError):
    pass


def _last(events: list[tuple[int, str]], kinds: set[str]) -> int | None:
    for t, k in reversed(events):
        if k in kinds:
            return t
    return None


def check_trace(trace: Iterable[tuple], tc: TimingCycles, banks: int = 16, bank_groups: int = 4) -> int:
    """Raise TimingViolation at the first illegal command; return the number checked."""
    per_channel: dict[int, list] = defaultdict(list)
    for row in trace:
        per_channel[row[1]].append(row)
    n = 0
    for ch, rows in per_channel.items():
        n += _check_channel(ch, rows, tc, banks, banks // bank_groups)
    return n


def _check_channel(ch: int, rows: list, tc: TimingCycles, nbanks: int, per_group: int) -> int:
    hist: dict[int, list[tuple[int, str]]] = {b: [] for b in range(nbanks)}  # per-bank events
    wr_end: dict[int, int] = {}
    is_open = [False] * nbanks
    acts: list[tuple[int, int, int]] = []   # (cycle, ACT-equivalents, bank group or -1)
    cols: list[tuple[int, int, str]] = []   # (cycle, bank group or -1, kind)
    bus: list[tuple[int, int]] = []         # data-bus intervals [start, end)
    macs: list[int] = []
    gb_end = None
    wdata_end = None
    refs: list[int] = []
    prev_t = None

    def fail(t, kind, why):
        raise TimingViolation(f"channel {ch}, cycle {t}, {kind}: {why}")

    def need(cond, t, kind, why):
        if not cond:
            fail(t, kind, why)

    def use_bus(t, kind, start, end):
        if bus and start < bus[-1][1]:
            fail(t, kind, f"data bus busy until {bus[-1][1]}, burst starts {start}")
        bus.append((start, end))

    for t, _, kind, bank, _, _ in sorted(rows):
        if prev_t is not None:
            need(t >= prev_t + tc.CMD, t, kind, "two commands in one command-bus slot")
        prev_t = t
        # refresh obligation: at most MAX_POSTPONED_REF refreshes owed at any time
        need(len(refs) >= t // tc.REFI - tc.MAX_POSTPONED_REF, t, kind,
             f"{len(refs)} refreshes by cycle {t}, tREFI={tc.REFI}")
        targets = list(range(nbanks)) if kind in ("ACTAB", "PREAB", "MACAB", "REFAB") else [bank]
        if kind in ("ACT", "ACTAB", "REFAB"):
            for b in targets:
                need(not is_open[b], t, kind, f"bank {b} is open")
                last_pre = _last(hist[b], {"PRE"})
                last_act = _last(hist[b], {"ACT"})
                last_ref = _last(hist[b], {"REF"})
                need(last_pre is None or t >= last_pre + tc.RP, t, kind, f"tRP after PRE of bank {b}")
                need(last_act is None or t >= last_act + tc.RC, t, kind, f"tRC of bank {b}")
                need(last_ref is None or t >= last_ref + tc.RFC, t, kind, f"tRFC of bank {b}")
        if kind in ("ACT", "ACTAB"):
            g = bank // per_group if kind == "ACT" else -1
            if acts:
                lt, _, lg = acts[-1]
                rrd = tc.RRD_L if (g < 0 or lg < 0 or g == lg) else tc.RRD_S
                need(t >= lt + rrd, t, kind, "tRRD")
            weight = 1 if kind == "ACT" else 4
            in_window = sum(w for a, w, _ in acts if a > t - tc.FAW)
            need(in_window + weight <= 4, t, kind, f"tFAW: {in_window}+{weight} activations in the window")
            acts.append((t, weight, g))
            for b in targets:
                hist[b].append((t, "ACT"))
                is_open[b] = True
        elif kind in ("PRE", "PREAB"):
            for b in targets:
                if kind == "PREAB" and not is_open[b]:
                    continue
                need(is_open[b], t, kind, f"bank {b} not open")
                need(t >= _last(hist[b], {"ACT"}) + tc.RAS, t, kind, f"tRAS of bank {b}")
                last_rd = _last(hist[b], {"RD", "MAC"})
                need(last_rd is None or t >= last_rd + tc.RTP, t, kind, f"tRTP of bank {b}")
                need(b not in wr_end or t >= wr_end[b] + tc.WR, t, kind, f"tWR of bank {b}")
                hist[b].append((t, "PRE"))
                is_open[b] = False
        elif kind in ("RD", "WR", "MACAB"):
            for b in targets:
                need(is_open[b], t, kind, f"bank {b} not open")
                rcd = tc.RCDWR if kind == "WR" else tc.RCD
                need(t >= _last(hist[b], {"ACT"}) + rcd, t, kind, f"tRCD of bank {b}")
            g = bank // per_group if kind != "MACAB" else -1
            if cols:
                lt, lg, lk = cols[-1]
                if kind == "MACAB" and lk == "MACAB":
                    need(t >= lt + tc.CCD_MAC, t, kind, "MAC command spacing")
                else:
                    ccd = tc.CCD_L if (g < 0 or lg < 0 or g == lg) else tc.CCD_S
                    need(t >= lt + ccd, t, kind, "tCCD")
            cols.append((t, g, kind))
            if kind != "WR":
                need(wdata_end is None or t >= wdata_end + tc.WTR, t, kind, "tWTR")
            if kind == "RD":
                use_bus(t, kind, t + tc.CL, t + tc.CL + tc.BURST)
                hist[bank].append((t, "RD"))
            elif kind == "WR":
                use_bus(t, kind, t + tc.CWL, t + tc.CWL + tc.BURST)
                wr_end[bank] = wdata_end = t + tc.CWL + tc.BURST
            else:
                need(gb_end is None or t >= gb_end, t, kind, "global buffer write not finished")
                for b in targets:
                    hist[b].append((t, "MAC"))
                macs.append(t)
        elif kind == "WRGB":
            use_bus(t, kind, t + tc.CWL, t + tc.CWL + tc.BURST)
            gb_end = wdata_end = t + tc.CWL + tc.BURST
        elif kind == "RDMAC":
            need(not macs or t >= macs[-1] + tc.MAC_LAT, t, kind, "MAC result not readable yet")
            need(wdata_end is None or t >= wdata_end + tc.WTR, t, kind, "tWTR")
            use_bus(t, kind, t + tc.CL, t + tc.CL + tc.BURST)
        if kind == "REFAB":
            for b in targets:
                hist[b].append((t, "REF"))
            refs.append(t)
        elif kind not in ("ACT", "ACTAB", "PRE", "PREAB", "RD", "WR", "MACAB", "WRGB", "RDMAC"):
            fail(t, kind, "unknown command")
    return len(rows)


def read_trace(path) -> list[tuple]:
    """A trace CSV written by engine.write_trace, as rows for check_trace."""
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            t, ch, kind, bank, row, col = line.strip().split(",")
            rows.append((int(t), int(ch), kind, int(bank), int(row), int(col)))
    return rows
