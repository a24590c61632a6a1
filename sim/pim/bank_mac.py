"""Cycle model of the per-bank MAC unit of an AiM-style GDDR6 PIM channel.

This module is the contract the Amaranth version of the unit is co-simulated
against, cycle for cycle. The convention, exactly:

Clock
    Every cycle count is in cycles of the channel's command clock (the clock on
    which the PIM controller issues commands). One MAC command per bank may be
    issued per cycle at most; the DRAM engine further spaces MAC commands to the
    same bank by ``issue_interval`` (the column-to-column delay of the array).

Cycle 0
    Cycle 0 is the cycle on which the first MAC command of the accumulation is on
    the command bus. Later MAC commands are given by their issue cycles relative
    to it (strictly increasing; the first one is 0).

What one MAC command does (one "column MAC")
    It reads one column access of the open row of the bank: ``lanes`` operands of
    ``operand_bits`` each (AiM: 16 x BF16 = 256 bits = 32 bytes), and the matching
    ``lanes`` operands of the vector held in the channel's global buffer. The unit
    forms the ``lanes`` products, sums them in a binary adder tree and adds the
    sum into the bank's accumulator. So a column MAC is ``lanes`` MACs.

Pipeline (stages in order; every stage holds one column's worth of data)
    1. column access: operands latched at the MAC inputs ``col_latency`` cycles
       after the command's issue cycle;
    2. multiply: ``mult_latency`` cycles;
    3. adder tree: ``tree_latency`` cycles (default ceil(log2(lanes)), one level
       per cycle);
    4. accumulate: ``acc_latency`` cycles.
    The pipeline is fully pipelined: it accepts a new column every cycle, so any
    spacing >= 1 between MAC commands is hazard-free.

Result readable
    Column i (issued at cycle t_i) has been added into the accumulator at the end
    of cycle t_i + pipeline_latency - 1, where
    ``pipeline_latency = col_latency + mult_latency + tree_latency + acc_latency``.
    The result of the accumulation is *readable* from cycle
    ``ready = t_last + pipeline_latency``: a result-read command issued on that
    cycle or later returns the full sum of all N columns; one issued earlier does
    not. For N commands issued back to back every ``issue_interval`` cycles,
    ``ready = (N - 1) * issue_interval + pipeline_latency``
    (:func:`cycles_to_readable`). ``N = 0`` is not an accumulation (ValueError).

Accumulator
    Cleared by the first MAC command of an accumulation (the column it carries is
    added to zero), so back-to-back accumulations need no separate clear command.

:class:`BankMacUnit` steps this pipeline one cycle at a time (the reference the
closed form is tested against, and what an RTL testbench compares with);
:func:`cycles_to_readable` / :func:`ready_cycle` are the closed forms the DRAM
engine uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class BankMacConfig:
    """Parameters of one bank's MAC unit (defaults: AiM, cited in arch/presets/pim-gpt.yaml)."""

    lanes: int = 16  # multipliers per bank: one 32 B column of BF16 (AiM, ISSCC 2022)
    operand_bits: int = 16  # BF16
    col_latency: int = 1  # command -> operands at the MAC inputs
    mult_latency: int = 1
    tree_latency: int | None = None  # None: ceil(log2(lanes)) levels, one per cycle
    acc_latency: int = 1
    issue_interval: int = 1  # minimum spacing of MAC commands to one bank

    def __post_init__(self) -> None:
        for name in ("lanes", "operand_bits", "issue_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"BankMacConfig.{name} must be >= 1")
        for name in ("col_latency", "mult_latency", "acc_latency"):
            if getattr(self, name) < 0:
                raise ValueError(f"BankMacConfig.{name} must be >= 0")
        if self.tree_latency is not None and self.tree_latency < 0:
            raise ValueError("BankMacConfig.tree_latency must be >= 0")
        if self.pipeline_latency < 1:
            raise ValueError("the MAC pipeline takes at least one cycle (accumulate)")

    @property
    def tree_levels(self) -> int:
        if self.tree_latency is not None:
            return self.tree_latency
        return math.ceil(math.log2(self.lanes)) if self.lanes > 1 else 0

    @property
    def pipeline_latency(self) -> int:
        """Cycles from a MAC command's issue to its column being in the accumulator."""
        return self.col_latency + self.mult_latency + self.tree_levels + self.acc_latency

    @property
    def column_bytes(self) -> int:
        return self.lanes * self.operand_bits // 8


def ready_cycle(issue_cycles: Sequence[int], cfg: BankMacConfig = BankMacConfig()) -> int:
    """First cycle a result read returns the full sum of MACs issued at ``issue_cycles``."""
    if not issue_cycles:
        raise ValueError("an accumulation needs at least one MAC command")
    _check_issues(issue_cycles, cfg)
    return issue_cycles[-1] + cfg.pipeline_latency


def cycles_to_readable(n_columns: int, cfg: BankMacConfig = BankMacConfig()) -> int:
    """Cycles from the first of ``n_columns`` back-to-back MAC commands to a readable result."""
    if n_columns < 1:
        raise ValueError("an accumulation needs at least one MAC command")
    return (n_columns - 1) * cfg.issue_interval + cfg.pipeline_latency


def macs(n_columns: int, cfg: BankMacConfig = BankMacConfig()) -> int:
    """Scalar multiply-accumulates done by ``n_columns`` column MACs."""
    return n_columns * cfg.lanes


def _check_issues(issue_cycles: Sequence[int], cfg: BankMacConfig) -> None:
    if issue_cycles[0] != 0:
        raise ValueError("cycle 0 is the first MAC command: issue_cycles[0] must be 0")
    for a, b in zip(issue_cycles, issue_cycles[1:]):
        if b - a < cfg.issue_interval:
            raise ValueError(f"MAC commands at cycles {a} and {b} closer than issue_interval={cfg.issue_interval}")


@dataclass
class BankMacUnit:
    """Cycle-stepped reference of the pipeline (integer arithmetic, exact).

    Call :meth:`step` once per cycle with the operands of a MAC command issued on
    that cycle (or ``None``); ``first=True`` marks the command that starts an
    accumulation (its column is added to zero). After ``step`` of cycle c,
    ``readable`` says whether a result read issued on cycle c + 1 returns
    :attr:`accumulator` with every MAC issued so far included.
    """

    cfg: BankMacConfig = field(default_factory=BankMacConfig)
    cycle: int = 0
    accumulator: int = 0
    issued: int = 0
    _inflight: list = field(default_factory=list)  # [cycle it lands, partial sum, clears]

    def step(self, column: Sequence[int] | None = None, vector: Sequence[int] | None = None,
             first: bool = False) -> None:
        """Advance one cycle; a MAC command issued this cycle carries column/vector."""
        if column is not None:
            if vector is None or len(column) != self.cfg.lanes or len(vector) != self.cfg.lanes:
                raise ValueError(f"a MAC command carries {self.cfg.lanes} weights and {self.cfg.lanes} vector values")
            # products summed by the tree: the value the accumulate stage adds
            partial = sum(int(w) * int(x) for w, x in zip(column, vector))
            self._inflight.append([self.cycle + self.cfg.pipeline_latency - 1, partial, first])
            self.issued += 1
        # end of this cycle: columns whose accumulate stage completes now
        for entry in [e for e in self._inflight if e[0] <= self.cycle]:
            self.accumulator = entry[1] if entry[2] else self.accumulator + entry[1]
            self._inflight.remove(entry)
        self.cycle += 1

    @property
    def readable(self) -> bool:
        return self.issued > 0 and not self._inflight


def simulate(columns: Sequence[Sequence[int]], vectors: Sequence[Sequence[int]],
             issue_cycles: Sequence[int], cfg: BankMacConfig = BankMacConfig()) -> tuple[int, int]:
    """Run one accumulation on :class:`BankMacUnit`; return (result, first readable cycle)."""
    if not (len(columns) == len(vectors) == len(issue_cycles)) or not issue_cycles:
        raise ValueError("one column and one vector slice per MAC command, at least one")
    _check_issues(issue_cycles, cfg)
    unit = BankMacUnit(cfg)
    pending = dict(zip(issue_cycles, zip(columns, vectors)))
    while True:
        if unit.cycle > issue_cycles[-1] and unit.readable:
            return unit.accumulator, unit.cycle
        op = pending.get(unit.cycle)
        if op:
            unit.step(op[0], op[1], first=unit.cycle == 0)
        else:
            unit.step()
