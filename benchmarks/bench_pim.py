"""Benchmark: simulated DRAM/PIM commands per second, per-command simpy engine vs the
fast path, on the same channel programs in the same process.
Run: python benchmarks/bench_pim.py [--full]

Programs: one channel's share of GPT-2 XL decode layers (QKV, FFN, attention with its
KV append), as the PIM-GPT mapper emits them. Reported: commands each program stands
for, wall seconds, commands/s, and the fast path's speedup over the engine (a ratio,
comparable across machines). Both must end on the same cycle (asserted).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import arch  # noqa: E402
import workloads  # noqa: E402
from mapper.pim import PimConfig, channel_plans, map_einsum, stored_tensors  # noqa: E402
from sim.pim.engine import run_channels  # noqa: E402
from sim.pim.fastpath import run_channels_fast  # noqa: E402
from sim.pim.run import simulate_pim, timing_cycles  # noqa: E402


def programs(layers: int):
    c = workloads.load(REPO / "workloads" / "gpt2-xl.yaml",
                       phase={"kind": "decode", "kv_len": 1024, "tokens": 1})
    a = arch.load("pim-gpt")
    pim = a.components[0]
    cfg = PimConfig.from_arch(pim)
    leaves = stored_tensors(c)
    wanted = {f"t0_l{i}_" for i in range(layers)}
    ops_per_channel = [[] for _ in range(cfg.channels)]
    for e in c.einsums:
        if not any(e.name.startswith(w) for w in wanted):
            continue
        m = map_einsum(e, cfg, leaves)
        if m.role == "pim":
            for ch, plan in enumerate(channel_plans(e, m, cfg)):
                ops_per_channel[ch] += plan.ops
    return ops_per_channel, timing_cycles(pim), c, a


def bench(layers: int) -> None:
    progs, tc, cascade, a = programs(layers)
    t0 = time.perf_counter()
    slow = run_channels(progs, tc)
    t_slow = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = run_channels_fast(progs, tc)
    t_fast = time.perf_counter() - t0
    assert [r.cycles for r in slow] == [r.cycles for r in fast]
    assert [r.counts for r in slow] == [r.counts for r in fast]
    n_cmd = sum(sum(r.counts.values()) for r in slow)
    ticks = max(r.cycles for r in slow)
    print(f"GPT-2 XL decode, {layers} layer(s), 8 channels: {n_cmd:,} commands, "
          f"{ticks // tc.CMD:,} CK cycles ({ticks * tc.tck_ns / 1e3:.2f} us; engine ticks of "
          f"{tc.tck_ns:g} ns: {ticks:,})")
    print(f"  per-command engine: {t_slow:8.3f} s  {n_cmd / t_slow:12,.0f} commands/s")
    print(f"  fast path:          {t_fast:8.3f} s  {n_cmd / t_fast:12,.0f} commands/s")
    print(f"  fast path / engine: {t_slow / t_fast:8.1f}x")
    t0 = time.perf_counter()
    r = simulate_pim(cascade, a)
    wall = time.perf_counter() - t0
    print(f"whole GPT-2 XL token (48 layers, fast path): {wall:.2f} s wall, "
          f"{r.seconds * 1e3:.3f} ms simulated")


if __name__ == "__main__":
    bench(4 if "--full" in sys.argv else 1)
