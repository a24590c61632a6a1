"""Our GDDR6-AiM engine against the AiM simulator peer (arkhadem/aim_simulator, Ramulator
2.0 + SK hynix AiM) on the same GEMV programs: cycles, ACT/MAC/PRE/REF counts and row-hit
rate side by side.

    python benchmarks/bench_aim_peer.py                       # ours only
    python benchmarks/bench_aim_peer.py --peer /path/to/ramulator2 [--config example.yaml]

The peer is not part of this project: build it from its public source yourself (CMake)
and name the binary. Each program is the channel program our mapper (mapper/pim.py)
lays out for y[N] = W[N,K] x[K] on C channels of the `aim` preset (the peer's
GDDR6_AiM_timing), written as the peer's AiM instructions: WR_GB (the input chunk into
the global buffer), MAC_ABK (column MACs in one row of all 16 banks), RD_MAC (read the
16 accumulators), EOC. Channels with the same program share one instruction (channel
mask). Cycles are the DRAM command clock (CK, 0.5 ns) in both tools.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import arch  # noqa: E402
from mapper.pim import GbWrite, PimConfig, PimMapping, RowOp, _gemv_ops  # noqa: E402
from sim.pim.fastpath import run_channels_fast  # noqa: E402
from sim.pim.run import timing_cycles  # noqa: E402

# (N, K, channels, result reads): the last two without RD_MAC isolate the row cycle
PROGRAMS = [(4096, 4096, 1, True), (4096, 4096, 8, True), (4096, 4096, 32, True),
            (6400, 1600, 1, True), (6400, 1600, 8, True), (6400, 1600, 32, True),
            (4096, 4096, 1, False), (6400, 1600, 8, False)]

CONFIG = """Frontend:
  impl: AiMTrace
  clock_ratio: 1
  Translation:
    impl: NoTranslation
    max_addr: 2147483648
MemorySystem:
  impl: AiMDRAM
  clock_ratio: 1
  DRAM:
    impl: GDDR6
    org:
      preset: GDDR6_AiM_org
    timing:
      preset: GDDR6_AiM_timing
  Controller:
    impl: AiM
    clock_ratio: 1
    Scheduler:
      impl: FRFCFS
    RefreshManager:
      impl: AllBank
    plugins:
  AddrMapper:
    impl: RoBaRaCoCh
"""


def channel_programs(n: int, k: int, channels: int, cfg: PimConfig, reads: bool = True) -> list[list]:
    """Our mapper's program for each channel: neurons round-robin over every bank
    (`reads` False: the same MACs with no result reads)."""
    kcols = -(-k // cfg.lanes)
    chunk = min(kcols, cfg.row_cols, cfg.gb_cols)
    per_row = max(1, min(cfg.row_cols, cfg.gb_cols) // kcols) if kcols <= chunk else 1
    m = PimMapping("pim", 1, 1, n, k, chunk, per_row)
    total = channels * cfg.banks
    progs = [_gemv_ops(len(range(c * cfg.banks, n, total)), m, cfg, 0)[0] for c in range(channels)]
    if not reads:
        progs = [[RowOp(op.row, tuple((cols, False) for cols, _ in op.pieces), op.tag)
                  if isinstance(op, RowOp) else op for op in prog] for prog in progs]
    return progs


def peer_trace(programs: list[list]) -> str:
    """The peer's AiM instructions for the channel programs (equal programs share a mask;
    different ones are interleaved op by op, so the peer's in-order instruction stream
    does not serialize the channels)."""
    groups: dict[tuple, int] = {}
    for c, prog in enumerate(programs):
        groups[tuple(prog)] = groups.get(tuple(prog), 0) | (1 << c)
    lines = []
    longest = max(len(p) for p in groups)
    steps = [(prog[i], mask) for i in range(longest) for prog, mask in groups.items() if i < len(prog)]
    for op, mask in steps:
        if isinstance(op, GbWrite):
            lines.append(f"AiM WR_GB {op.bursts} 0 {mask:#x}")
        elif isinstance(op, RowOp):
            for cols, read in op.pieces:
                lines.append(f"AiM MAC_ABK {cols} {mask:#x} {op.row}")
                if read:
                    lines.append(f"AiM RD_MAC 0 {mask:#x}")
        else:
            raise ValueError(f"no peer instruction for {op!r}")
    lines.append("AiM EOC")
    return "\n".join(lines) + "\n"


def ours(programs: list[list], tc) -> dict:
    runs = run_channels_fast(programs, tc)
    n = Counter()
    for r in runs:
        n.update(r.counts)
    return {"cycles": max(r.cycles for r in runs) // tc.CMD, "ACT": n["ACTAB"], "MAC": n["MACAB"],
            "PRE": n["PREAB"], "REF": n["REFAB"],
            "row_hit": 1 - n["ACTAB"] / n["MACAB"] if n["MACAB"] else 0.0}


def peer(binary: str, config: str | None, trace: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        t = Path(d) / "gemv.trace"
        t.write_text(trace)
        cfg = Path(config) if config else Path(d) / "aim.yaml"
        if not config:
            cfg.write_text(CONFIG)
        out = subprocess.run([binary, "-f", str(cfg), "-t", str(t)], capture_output=True, text=True,
                             cwd=d, timeout=3600)
    if out.returncode:
        raise SystemExit(f"the peer failed ({out.returncode}): {out.stderr[-500:]}")
    text = out.stdout + out.stderr

    def total(command: str) -> float:  # the AiM controller's per-channel counters, summed
        return sum(float(v) for v in re.findall(rf"CH\d+_num_{command}_commands:\s*([0-9.eE+-]+)", text))

    mac, act = total("MAC16"), total("ACT16")
    return {"cycles": int(max(float(v) for v in re.findall(r"memory_system_cycles:\s*([0-9.]+)", text))),
            "ACT": int(act), "MAC": int(mac), "PRE": int(total("PREA")),
            "REF": int(total("REFab")), "row_hit": 1 - act / mac if mac else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--peer", help="path of the peer's ramulator2 binary (built by you)")
    ap.add_argument("--config", help="the peer's YAML config (default: GDDR6_AiM org/timing, AiM controller)")
    ap.add_argument("--arch", default="aim")
    a = ap.parse_args()
    aim = arch.load(a.arch)
    pim = aim.components[0]
    tc = timing_cycles(pim)
    print(f"{'program':22} {'tool':5} {'cycles':>9} {'ACT':>6} {'MAC':>8} {'PRE':>6} {'REF':>5} {'row hit':>8}")
    for n, k, ch, reads in PROGRAMS:
        cfg = PimConfig.from_arch(pim.model_copy(update={"channels": ch}))
        progs = channel_programs(n, k, ch, cfg, reads)
        rows = [("ours", ours(progs, tc))]
        if a.peer:
            rows.append(("peer", peer(a.peer, a.config, peer_trace(progs))))
        for tool, r in rows:
            print(f"{f'1x{k}x{n} {ch} ch' + ('' if reads else ' no RD'):22} {tool:5} {r['cycles']:>9,} {r['ACT']:>6} {r['MAC']:>8} "
                  f"{r['PRE']:>6} {r['REF']:>5} {r['row_hit']:>8.3f}")
        if a.peer:
            print(f"{'':22} {'ratio':5} {rows[0][1]['cycles'] / max(1, rows[1][1]['cycles']):>9.3f}")
    if not a.peer:
        print("(no --peer binary given: our side only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
