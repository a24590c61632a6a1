"""A whole cascade on a PIM architecture (PIM-GPT): contractions on the DRAM channels,
everything else on the ASIC, on a common timeline.

Each channel keeps its DRAM state across Einsums (open rows, refresh debt), so refresh
falls where the timeline puts it. A PIM Einsum starts on every channel at the same
cycle (the ASIC has written its input vectors) and ends when the slowest channel's last
result is read; the ASIC works on its results as they come (`Timeline`), and the
channels go on with the next GEMV whose input is ready. Energy per DRAM command from
the preset's prices (CENT's AiM model in pim-gpt.yaml); results in command-clock cycles.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable

from arch import Architecture
from arch.pim import PimAsic, PimDram
from mapper.pim import PimConfig, PimMapping, channel_plans, map_einsum, stored_tensors
from sim.pim.asic import asic_cost
from sim.pim.bank_mac import BankMacConfig
from sim.pim.channel import KINDS, Bank, ChannelState
from sim.pim.engine import channel_process
from sim.pim.fastpath import op_runs, run_op_runs
from sim.pim.program import ChannelRun, Issuer, refresh_while_idle
from sim.pim.timing import TimingCycles, TimingNs
from sim.energy import Actions
from sim.registry import cascade_engine
from sim.result import EinsumResult, Result
from workloads import Cascade

BURST_BITS = 256


def _one(arch: Architecture, cls):
    found = [c for c in arch.components if isinstance(c, cls)]
    return found[0] if len(found) == 1 else None


def timing_cycles(pim: PimDram) -> TimingCycles:
    t = TimingNs(**pim.timing_ns, data_rate_gbps=pim.data_rate_gbps, pins=pim.pins)
    tck = t.tck_ns
    mac = BankMacConfig(lanes=pim.mac_lanes, col_latency=pim.mac_col_latency,
                        mult_latency=pim.mac_mult_latency, acc_latency=pim.mac_acc_latency,
                        issue_interval=max(1, math.ceil(pim.timing_ns["tCCD_MAC"] / tck - 1e-9)))
    return t.cycles(mac, pim.engine_tick_ns)


@dataclass
class PimTotals:
    """Counts over the whole run for the mapper's reports and conservation checks."""

    useful_macs: int = 0
    macab: int = 0
    rows: int = 0
    breakdown_ns: Counter = field(default_factory=Counter)


class PimMachine:
    """The channels' DRAM states and the common clock, advanced one Einsum at a time."""

    def __init__(self, arch: Architecture, exact: bool = False, trace: list | None = None):
        self.pim: PimDram = _one(arch, PimDram)
        self.asic: PimAsic = _one(arch, PimAsic)
        if self.pim is None or self.asic is None:
            from yamlspec import SpecError
            raise SpecError("a PIM architecture needs one pim_dram and one pim_asic component",
                            arch.file or None, "architecture.components")
        self.cfg = PimConfig.from_arch(self.pim)
        self.tc = timing_cycles(self.pim)
        self.states = [ChannelState(self.tc, self.pim.banks, self.pim.bank_groups)
                       for _ in range(self.pim.channels)]
        self.now = 0               # cycle at which the next Einsum may start
        self.exact = exact or trace is not None  # per-command simpy engine instead of the fast path
        self.trace = trace         # a list: every command of every channel is appended
        self.totals = PimTotals()
        # channels with equal numbers here have equal states (they ran the same programs
        # from equal states): their next equal programs are simulated once
        self.alike = [0] * len(self.states)
        self._classes = itertools.count(1)

    def run_channels(self, pm: PimMapping) -> tuple[list[ChannelRun], list["ChannelWork"]]:
        """Run every channel's program of a PIM-mapped Einsum (`channel_work`) from
        `self.now`; channels with equal state and program are simulated once (their
        results are identical)."""
        work = channel_work(pm, self.cfg)
        runs: list[ChannelRun] = [ChannelRun(trace=[] if self.trace is not None else None) for _ in work]
        for c, (st, run) in enumerate(zip(self.states, runs)):
            refresh_while_idle(st, run, self.now, c)
        if self.exact:
            import simpy

            env = simpy.Environment(initial_time=self.now)
            for c, plan in enumerate(channel_plans(None, pm, self.cfg)):
                issuer = Issuer(self.states[c], runs[c], c, floor=self.now)
                env.process(channel_process(env, issuer, plan.ops))
            env.run()
            if self.trace is not None:
                for run in runs:
                    self.trace.extend(run.trace)
            return runs, work
        # channels with equal programs, last command and refreshes: the same state if
        # the same class, else if the same signature
        groups: dict[tuple, list[int]] = {}
        for c, (w, st) in enumerate(zip(work, self.states)):
            groups.setdefault((w.runs, st.t_cmd, st.refs), []).append(c)
        key = list(range(len(work)))
        for members in groups.values():
            if len({self.alike[c] for c in members}) > 1:
                for c in members:
                    key[c] = (members[0], self.states[c].signature())
            else:
                for c in members:
                    key[c] = members[0]
        seen: dict = {}
        for c, w in enumerate(work):
            if key[c] in seen:
                src = seen[key[c]]
                runs[c] = _merge(runs[c], runs[src])
                self.states[c] = _copy_state(self.states[src])
                self.alike[c] = self.alike[src]
                continue
            seen[key[c]] = c
            run_op_runs(Issuer(self.states[c], runs[c], c, floor=self.now), w.runs)
            self.alike[c] = next(self._classes)
        return runs, work


@dataclass(frozen=True)
class ChannelWork:
    """One channel's program for one vector of a PIM Einsum, as runs of ops with equal
    timing (`fastpath.op_runs`), and what its banks compute."""

    runs: tuple
    useful_macs: int
    macab: int
    rows: int


@lru_cache(maxsize=512)
def channel_work(pm: PimMapping, cfg: PimConfig) -> tuple[ChannelWork, ...]:
    """The channels' programs depend on the mapping and the PIM layout only: built once
    for every layer and token that maps the same way."""
    return tuple(ChannelWork(tuple(op_runs(p.ops)), p.useful_macs, p.macab, p.rows)
                 for p in channel_plans(None, pm, cfg))


def _merge(own: ChannelRun, src: ChannelRun) -> ChannelRun:
    """A channel that replays `src`'s program from an equal state: its own idle-time
    refreshes, `src`'s program."""
    return ChannelRun(cycles=src.cycles, counts=src.counts, breakdown=src.breakdown,
                      idle_refreshes=own.idle_refreshes, open_ticks=src.open_ticks)


def _copy_state(src: ChannelState) -> ChannelState:
    dst = object.__new__(ChannelState)
    dst.__dict__.update(src.__dict__)
    dst.acts = list(src.acts)
    dst.banks = []
    for b in src.banks:
        nb = object.__new__(Bank)
        nb.__dict__.update(b.__dict__)
        dst.banks.append(nb)
    return dst


def _pim_energy(pim: PimDram, runs: list[ChannelRun], tck_ns: float,
                reps: int = 1) -> dict[str, float]:
    """Energy of one PIM Einsum's commands on every channel (one vector), and the
    active-standby excess of its open rows (all `reps` vectors). The precharged standby
    of the whole timeline is booked per Einsum by its critical-path share."""
    n = Counter()
    for r in runs:
        n.update(r.counts)
    open_ticks = sum(r.open_ticks for r in runs)
    io_bursts = n["RD"] + n["WR"] + n["WRGB"] + n["RDMAC"]
    commands = sum(n[k] for k in KINDS)
    transfers = n["MACAB"] + n["RD"] + n["WR"] + n["WRGB"] + n["RDMAC"]
    acts = (Actions().add(pim, "act", n["ACTAB"] * pim.banks + n["ACT"])
            .add(pim, "column", n["MACAB"] * pim.banks)
            .add(pim, "read", n["RD"] + n["RDMAC"])
            .add(pim, "write", n["WR"])
            .add(pim, "mac", n["MACAB"] * pim.banks * pim.mac_lanes)
            .add(pim, "io_bit", io_bursts * BURST_BITS, key=f"{pim.name}.io")
            .add(pim, "refresh", n["REFAB"]))
    if pim.command_pj or pim.transfer_pj:
        acts.add(pim, "command", commands, key=f"{pim.name}.controller")
        acts.add(pim, "transfer", transfers, key=f"{pim.name}.controller")
    return _standby(acts, pim, 0.0, open_ticks * tck_ns * reps).pj


def _standby(acts: Actions, pim: PimDram, ns: float, open_ns: float = 0.0) -> Actions:
    """Standby power of every channel: precharged standby over `ns` of the timeline, and
    the active-standby excess over `open_ns` (summed over channels: time with a row
    open), when the preset gives an active-standby power."""
    acts.power(pim, pim.background_mw_per_channel * pim.channels, ns, "background")
    if pim.active_standby_mw_per_channel is not None and open_ns:
        extra = max(0.0, pim.active_standby_mw_per_channel - pim.background_mw_per_channel)
        acts.power(pim, extra, open_ns, "background")
    return acts


class Timeline:
    """When the channels and the ASIC are free and when each tensor is ready, in engine
    cycles; what each Einsum adds to the end of the token (its critical-path share).

    With `overlap`, the ASIC works on a PIM Einsum's results as the channels read them
    out (results arrive in `rounds`, one per row the slowest channel opens): the
    partial-sum adds of that Einsum, and an ASIC Einsum reading its output directly
    (a bias or residual add, GELU, the running max of a softmax), start with the first
    round and end one round's share of their work after the channels. An ASIC Einsum
    fed by the ASIC waits for it; a PIM Einsum waits for its whole input vector. So the
    channels run the next GEMV while the ASIC finishes the last one's element-wise work
    whenever the data allow. Without `overlap` everything runs one after another.
    """

    def __init__(self, overlap: bool):
        self.overlap = overlap
        self.pim_free = self.asic_free = self.end = 0
        self.ready: dict[str, int] = {}
        self.stream: dict[str, tuple[int, int]] = {}  # PIM output -> (first result, rounds)

    def _extend(self, t: int) -> int:
        ext = max(0, t - self.end)
        self.end = max(self.end, t)
        return ext

    def pim_start(self, deps: list[str], after_asic: bool) -> int:
        if not self.overlap:
            return self.end
        start = max([self.pim_free] + [self.ready.get(d, 0) for d in deps])
        return max(start, self.asic_free) if after_asic else start

    def run_pim(self, out: str, start: int, cycles: int, asic_cycles: int, rounds: int) -> int:
        end = start + cycles
        self.pim_free = end
        if not self.overlap:
            self.ready[out] = end + asic_cycles
            return self._extend(end + asic_cycles)
        if asic_cycles:  # partial sums added as the results come
            a0 = max(self.asic_free, start + math.ceil(cycles / rounds))
            self.asic_free = max(a0 + asic_cycles, end + math.ceil(asic_cycles / rounds))
            self.ready[out] = self.asic_free
        else:
            self.ready[out] = end
            self.stream[out] = (start + math.ceil(cycles / rounds), rounds)
        return self._extend(self.ready[out])

    def run_asic(self, out: str, deps: list[str], cycles: int) -> int:
        if not self.overlap:
            self.ready[out] = self.end + cycles
            return self._extend(self.end + cycles)
        start, tail_end = self.asic_free, 0
        for d in deps:
            if d in self.stream:
                first, rounds = self.stream[d]
                start = max(start, first)
                tail_end = max(tail_end, self.ready[d] + math.ceil(cycles / rounds))
            else:
                start = max(start, self.ready.get(d, 0))
        end = max(start + cycles, tail_end)
        self.asic_free = self.ready[out] = end
        return self._extend(end)


@cascade_engine("pim_dram")
def simulate_pim(cascade: Cascade, arch: Architecture, mapping=None, objective: str = "latency",
                 progress: Callable[[int, int], None] | None = None, exact: bool = False,
                 trace: list | None = None) -> Result:
    """The PIM engine's door: see the module docstring. `exact`: per-command engine;
    `trace`: a list that receives every command (cycle, channel, command, bank, row,
    col) of the run, for `checker.check_trace` or `engine.write_trace`-style CSV."""
    m = PimMachine(arch, exact, trace)
    pim, asic, tc = m.pim, m.asic, m.tc
    ck_ghz = 1.0 / tc.tck_ns
    rows: list[EinsumResult] = []
    einsums = cascade.einsums
    leaves = stored_tensors(cascade)
    tl = Timeline(asic.overlap)
    for i, e in enumerate(einsums):
        pm: PimMapping = (mapping or {}).get(e.name) or map_einsum(e, m.cfg, leaves)
        energy: dict[str, float] = {}
        deps = [r.tensor.name for r in e.inputs]
        if pm.role == "pim":
            # the channels start when their inputs are written (and, appending to the KV
            # cache, when the ASIC has finished the K/V it appends)
            m.now = tl.pim_start(deps, after_asic=bool(pm.kv_append))
            runs, plans = m.run_channels(pm)
            ch_cycles = max(r.cycles for r in runs)
            slowest = max(runs, key=lambda r: r.cycles)
            # a prefill streams `repeats` vectors through the same program
            reps = pm.repeats
            ch_cycles *= reps
            partial_adds = (math.ceil(pm.inner / (pm.chunk_cols * m.cfg.lanes)) - 1) * pm.out * pm.groups
            ac = asic_cost({"add": partial_adds * reps} if partial_adds else {}, asic)
            asic_cycles = math.ceil(ac.ns * ck_ghz - 1e-9)
            rounds = max(1, max(p.rows for p in plans)) * reps  # result reads arrive row by row
            ext = tl.run_pim(e.output.tensor.name, m.now, ch_cycles, asic_cycles, rounds)
            per_vector = _pim_energy(pim, runs, tc.tck_ns, reps)
            # every vector's commands repeat; the background is already over all of them, and
            # refreshes done while the channels idled before this Einsum happen once
            energy = (Actions().merge({k: v if k.endswith("background") else v * reps
                                       for k, v in per_vector.items()})
                      .add(pim, "refresh", sum(r.idle_refreshes for r in runs))
                      .add(pim, "command", sum(r.idle_refreshes for r in runs), key=f"{pim.name}.controller").pj)
            useful = sum(p.useful_macs for p in plans) * reps
            m.totals.useful_macs += useful
            m.totals.macab += sum(p.macab for p in plans) * reps
            m.totals.rows += sum(p.rows for p in plans) * reps
            # the time this Einsum adds to the token's critical path, booked to what the
            # channels did (in proportion) and to the ASIC's partial-sum adds
            pim_part = min(ext, ch_cycles)
            for tag, cyc in slowest.breakdown.items():
                m.totals.breakdown_ns[tag] += cyc * reps * tc.tck_ns * (pim_part / ch_cycles if ch_cycles else 0)
            m.totals.breakdown_ns["asic"] += (ext - pim_part) * tc.tck_ns
            # DRAM traffic: the channel I/O (inputs written, results read) plus what the
            # all-bank MACs read inside the banks (32 B per bank per MACAB), so it is never
            # below the compulsory weights and KV cache
            io_bytes = sum(r.counts["WRGB"] + r.counts["RDMAC"] + r.counts["WR"]
                           + r.counts["MACAB"] * pim.banks for r in runs) * 32 * reps
            macs, ops, kind, unit = e.macs, 0, "contraction", pim.name
            busy = useful * tc.CCD_MAC
            own = ch_cycles
        else:
            ac = asic_cost(e.vector_ops, asic, buffer_bytes=sum(r.tensor.bytes for r in (e.output, *e.inputs)))
            asic_cycles = math.ceil(ac.ns * ck_ghz - 1e-9)
            ext = tl.run_asic(e.output.tensor.name, deps, asic_cycles)
            m.totals.breakdown_ns["asic"] += ext * tc.tck_ns
            # the channels stand by while the ASIC alone extends the timeline
            macs, ops, kind, unit, busy, io_bytes = 0, ac.ops, "vector", asic.name, 0, 0
            own = asic_cycles
        energy.update({k: energy.get(k, 0.0) + v for k, v in ac.energy_pj.items()})
        # every channel stands by over this Einsum's share of the timeline
        energy = _standby(Actions().merge(energy), pim, ext * tc.tck_ns).leakage(arch, ext, ck_ghz).pj
        rows.append(EinsumResult(e.name, kind, unit, ext, min(own, ext), macs, ops,
                                 {unit: busy} if busy else {},
                                 io_bytes, 0, 0, 0, energy, pm))
        if progress:
            progress(i + 1, len(einsums))
    meta = {**cascade.meta, "objective": objective, "engine": "pim" + ("-exact" if exact else ""),
            "breakdown_ns": dict(m.totals.breakdown_ns),
            "row_hit_rate": 1 - m.totals.rows / m.totals.macab if m.totals.macab else 0.0,
            "bank_utilization": (m.totals.useful_macs / (m.totals.macab * pim.banks * pim.mac_lanes)
                                 if m.totals.macab else 0.0),
            "useful_macs": m.totals.useful_macs,
            "refreshes": sum(s.refs for s in m.states)}  # of the simulated vectors
    units = {pim.name: pim.channels * pim.banks * pim.mac_lanes}
    area = {c.name: c.area_mm2() for c in arch.components}
    meta["clock"] = "GDDR6 command clock CK = data rate / 8"
    # compulsory traffic: the weights and the KV cache read once from the banks (plus the
    # token's input and output), as for any other architecture
    return Result(cascade.name, arch.name, ck_ghz / tc.CMD, _in_ck(rows, tc.CMD), area, units,
                  cascade.compulsory_dram_bytes, meta)


def _in_ck(rows: list[EinsumResult], ticks: int) -> list[EinsumResult]:
    """Engine ticks (a fraction of a CK) to whole command-clock cycles, rounded on the
    running total so the Einsums still add up to the token's time."""
    out, cum = [], 0
    for r in rows:
        a = round(cum / ticks)
        cum += r.cycles
        n = round(cum / ticks) - a
        out.append(replace(r, cycles=n, compute_cycles=min(n, round(r.compute_cycles / ticks)),
                           busy={k: v / ticks for k, v in r.busy.items()}))
    return out
