"""A whole cascade on a PIM architecture (PIM-GPT): contractions on the DRAM channels,
everything else on the ASIC, one Einsum after another on a common timeline.

Each channel keeps its DRAM state across Einsums (open rows, refresh debt), so refresh
falls where the timeline puts it. A PIM Einsum starts on every channel at the same
cycle (the ASIC has written its input vectors) and ends when the slowest channel's last
result is read; the ASIC work (non-linear ops, partial-sum adds) follows it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from arch import Architecture
from arch.pim import PimAsic, PimDram
from mapper.pim import PimConfig, PimMapping, channel_plans, map_einsum, stored_tensors
from sim.pim.asic import asic_cost
from sim.pim.bank_mac import BankMacConfig
from sim.pim.channel import ChannelState
from sim.pim.engine import channel_process
from sim.pim.fastpath import run_ops
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

    def run_channels(self, programs: list[list]) -> list[ChannelRun]:
        """Run one program per channel from `self.now`; channels with equal state and
        program are simulated once (their results are identical)."""
        runs: list[ChannelRun] = [ChannelRun(trace=[] if self.trace is not None else None) for _ in programs]
        for c, (st, run) in enumerate(zip(self.states, runs)):
            refresh_while_idle(st, run, self.now, c)
        if self.exact:
            import simpy

            env = simpy.Environment(initial_time=self.now)
            for c, prog in enumerate(programs):
                issuer = Issuer(self.states[c], runs[c], c, floor=self.now)
                env.process(channel_process(env, issuer, prog))
            env.run()
            if self.trace is not None:
                for run in runs:
                    self.trace.extend(run.trace)
            return runs
        seen: dict[tuple, int] = {}
        for c, prog in enumerate(programs):
            st = self.states[c]
            key = (tuple(prog), st.signature(), st.t_cmd, st.refs)
            if key in seen:
                src = seen[key]
                runs[c] = _merge(runs[c], runs[src])
                self.states[c] = _copy_state(self.states[src])
                continue
            run_ops(Issuer(st, runs[c], c, floor=self.now), prog)
            seen[key] = c
        return runs


def _merge(own: ChannelRun, src: ChannelRun) -> ChannelRun:
    """A channel that replays `src`'s program from an equal state: its own idle-time
    refreshes, `src`'s program."""
    return ChannelRun(cycles=src.cycles, counts=src.counts, breakdown=src.breakdown,
                      idle_refreshes=own.idle_refreshes)


def _copy_state(src: ChannelState) -> ChannelState:
    dst = ChannelState(src.tc, len(src.banks), src.bank_groups)
    dst.__dict__.update({k: v for k, v in src.__dict__.items() if k != "banks"})
    dst.acts = list(src.acts)
    for b, sb in zip(dst.banks, src.banks):
        b.__dict__.update(sb.__dict__)
    return dst


def _pim_energy(pim: PimDram, runs: list[ChannelRun], ns: float) -> dict[str, float]:
    n = Counter()
    for r in runs:
        n.update(r.counts)
    io_bursts = n["RD"] + n["WR"] + n["WRGB"] + n["RDMAC"]
    return (Actions().add(pim, "act", n["ACTAB"] * pim.banks + n["ACT"])
            .add(pim, "column", n["MACAB"] * pim.banks + n["RD"] + n["WR"])
            .add(pim, "mac", n["MACAB"] * pim.banks * pim.mac_lanes)
            .add(pim, "io_bit", io_bursts * BURST_BITS, key=f"{pim.name}.io")
            .add(pim, "refresh", n["REFAB"])
            .power(pim, pim.background_mw_per_channel * pim.channels, ns, "background").pj)


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
    for i, e in enumerate(einsums):
        pm: PimMapping = (mapping or {}).get(e.name) or map_einsum(e, m.cfg, leaves)
        energy: dict[str, float] = {}
        if pm.role == "pim":
            plans = channel_plans(e, pm, m.cfg)
            runs = m.run_channels([p.ops for p in plans])
            ch_cycles = max(r.cycles for r in runs)
            slowest = max(runs, key=lambda r: r.cycles)
            # a prefill streams `repeats` vectors through the same program
            reps = pm.repeats
            ch_cycles *= reps
            partial_adds = (math.ceil(pm.inner / (pm.chunk_cols * m.cfg.lanes)) - 1) * pm.out * pm.groups
            ac = asic_cost({"add": partial_adds * reps} if partial_adds else {}, asic)
            per_vector = _pim_energy(pim, runs, ch_cycles * tc.tck_ns)
            # every vector's commands repeat; the background is already over all of them, and
            # refreshes done while the channels idled before this Einsum happen once
            energy = (Actions().merge({k: v if k.endswith("background") else v * reps
                                       for k, v in per_vector.items()})
                      .add(pim, "refresh", sum(r.idle_refreshes for r in runs)).pj)
            useful = sum(p.useful_macs for p in plans) * reps
            m.totals.useful_macs += useful
            m.totals.macab += sum(p.macab for p in plans) * reps
            m.totals.rows += sum(p.rows for p in plans) * reps
            for tag, cyc in slowest.breakdown.items():
                m.totals.breakdown_ns[tag] += cyc * tc.tck_ns * reps
            io_bytes = sum(r.counts["WRGB"] + r.counts["RDMAC"] + r.counts["WR"] for r in runs) * 32 * reps
            macs, ops, kind, unit = e.macs, 0, "contraction", pim.name
            busy = useful * tc.CCD_MAC
        else:
            ch_cycles = 0
            ac = asic_cost(e.vector_ops, asic, buffer_bytes=sum(r.tensor.bytes for r in (e.output, *e.inputs)))
            macs, ops, kind, unit, busy, io_bytes = 0, ac.ops, "vector", asic.name, 0, 0
        energy.update({k: energy.get(k, 0.0) + v for k, v in ac.energy_pj.items()})
        asic_cycles = math.ceil(ac.ns * ck_ghz - 1e-9)
        m.totals.breakdown_ns["asic"] += asic_cycles * tc.tck_ns
        if pm.role == "asic":
            energy.update(Actions().power(pim, pim.background_mw_per_channel * pim.channels, ac.ns,
                                          "background").pj)
        cycles = ch_cycles + asic_cycles
        energy = Actions().merge(energy).leakage(arch, cycles, ck_ghz).pj
        m.now += cycles
        rows.append(EinsumResult(e.name, kind, unit, cycles, ch_cycles or asic_cycles, macs, ops,
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
    # weights and KV stay in the PIM DRAM: the compulsory off-chip traffic is the vectors
    return Result(cascade.name, arch.name, ck_ghz, rows, area, units, 0, meta)
