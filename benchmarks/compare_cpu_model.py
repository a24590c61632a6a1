"""The CPU baseline model (sim/roofline.py, preset cpu-local) against PyTorch measured on
this machine by benchmarks/measure_cpu_gpt2.py:

    python benchmarks/compare_cpu_model.py MEASURED.json

Per GPT-2 size: the measured ms/token (min over the decode steps, thread CPU time) and
the model's, at the measured KV length, twice: with the preset's GEMV bandwidth, and
with the bandwidth measured beside that model's steps (the machine is shared: other
users' memory traffic changes what one core gets). Exit status 1 if any model is off by
more than --tolerance (default 25%) with the bandwidth measured beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import arch  # noqa: E402
import workloads  # noqa: E402
from sim.simulate import simulate  # noqa: E402

FILES = {"gpt2-small": "gpt2.yaml", "gpt2-medium": "gpt2-medium.yaml",
         "gpt2-large": "gpt2-large.yaml", "gpt2-xl": "gpt2-xl.yaml"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("measured")
    ap.add_argument("--arch", default="cpu-local")
    ap.add_argument("--tolerance", type=float, default=0.25)
    a = ap.parse_args()
    m = json.loads(Path(a.measured).read_text())
    base = arch.load(a.arch)
    dev = next(c for c in base.components if c.class_name == "roofline_device")
    print(f"{m['cpu']}; torch {m['torch']}, transformers {m['transformers']}, {m['threads']} "
          f"thread(s), {m['clock']} clock; dispatch measured {m['dispatch']['us_per_op_min']:.2f} "
          f"us/op (preset {dev.kernel_launch_us}), preset GEMV {dev.mem_bandwidth_gb_s} GB/s")
    print(f"{'model':12} {'kv':>4} {'measured':>9} {'model':>8} {'err':>6} {'GB/s':>6} "
          f"{'model*':>8} {'err*':>6}   (* with the GEMV bandwidth measured beside it)")
    worst = 0.0
    for name, r in m["models"].items():
        kv = (r["kv_len_first"] + r["kv_len_last"]) // 2
        c = workloads.load(ROOT / "workloads" / FILES[name],
                           phase={"kind": "decode", "kv_len": kv, "tokens": 1}, format="fp32")
        preset_ms = simulate(c, base).seconds * 1e3
        here = base.with_changes(**{f"{dev.name}.mem_bandwidth_gb_s": r["gemv_gb_s_best"]})
        here_ms = simulate(c, here).seconds * 1e3
        err, err_here = preset_ms / r["ms_min"] - 1, here_ms / r["ms_min"] - 1
        worst = max(worst, abs(err_here))
        print(f"{name:12} {kv:>4} {r['ms_min']:>9.1f} {preset_ms:>8.1f} {err:>+6.0%} "
              f"{r['gemv_gb_s_best']:>6.1f} {here_ms:>8.1f} {err_here:>+6.0%}")
    print(f"worst |error| with the bandwidth measured beside each model: {worst:.0%} "
          f"(tolerance {a.tolerance:.0%})")
    return 0 if worst <= a.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
