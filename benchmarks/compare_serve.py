"""The numbers and figures of docs/serve.md: the policies on a mixed trace (table and
latency CDFs) and, with --capacity, the capacity of three architectures at an SLO
(the same search as `sim serve --find-capacity`, a few minutes).
Run: python benchmarks/compare_serve.py [--capacity]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import arch  # noqa: E402
from sim.serve import model_file, plots  # noqa: E402
from sim.serve.cost import CostModel  # noqa: E402
from sim.serve.metrics import SLO, summarize  # noqa: E402
from sim.serve.requests import Generator, generate  # noqa: E402
from sim.serve.schedulers import SCHEDULERS  # noqa: E402
from sim.serve.server import serve  # noqa: E402
from sim.serve.session import GRID_PER_OCTAVE, Session, find_capacity  # noqa: E402

MIXED = {"rate_per_s": 12, "duration_s": 20, "seed": 7,  # tests/test_serve.py's MIXED
         "prompt": {"lognormal": {"median": 600, "sigma": 1.0, "max": 1024}},
         "output": {"lognormal": {"median": 60, "sigma": 0.8, "max": 256}}}
POLICIES = (("static (padded)", "static", {}), ("prepack", "prepack", {}),
            ("continuous", "continuous", {}), ("chunked, budget 128", "chunked",
                                               {"token_budget": 128}),
            ("chunked, budget 512", "chunked", {}))
CAPACITY_ARCHS = ("default", "fusemax", "bitmod")
CAPACITY_SLO = "ttft=1s,tbt=50ms"


def policies():
    spec = model_file("gpt2.yaml")
    cost = CostModel(spec.model, arch.load(None), spec.format, per_octave=GRID_PER_OCTAVE)
    trace = Generator.model_validate(MIXED)
    runs = {}
    print("| policy | TTFT p50 | TTFT p99 | TBT p50 | TBT p99 | e2e p99 | prefill (s) | "
          "tokens/s | mJ/token |\n|---|---|---|---|---|---|---|---|---|")
    for label, name, options in POLICIES:
        run = runs[label] = serve(generate(trace), SCHEDULERS.get(name)(**options), cost,
                                  10**6)
        m = summarize(run)
        print(f"| {label} | {m['ttft_s']['p50'] * 1e3:.1f} | {m['ttft_s']['p99'] * 1e3:.1f} | "
              f"{m['tbt_s']['p50'] * 1e3:.2f} | {m['tbt_s']['p99'] * 1e3:.2f} | "
              f"{m['e2e_s']['p99'] * 1e3:.0f} | {m['prefill_s']:.2f} | "
              f"{m['tokens_per_s']:.0f} | {m['energy_per_token_j'] * 1e3:.2f} |")
    plots.save(plots.latency_cdf(runs), REPO / "docs" / "img" / "serve_cdf_gpt2_default.png")


def capacity():
    found = []
    for name in CAPACITY_ARCHS:
        setup = Session("gpt2.yaml", name, str(REPO / "workloads" / "traces" / "chat.yaml"),
                        dram_gib=8)
        f = find_capacity(setup, SLO.parse(CAPACITY_SLO), 0.9)
        for t in f["tried"]:  # short numbers: the file diffs only when a result moves
            t.update({k: float(f"{v:.6g}") for k, v in t.items()})
        (REPO / "docs" / "serve" / f"capacity_gpt2_{name}.json").write_text(
            json.dumps(f, indent=2) + "\n")
        found.append(f)
        print(f"{name}: {f['capacity_rate_per_s']:.4g} requests/s")
    plots.save(plots.capacity(found), REPO / "docs" / "img" / "serve_capacity_gpt2.png")


if __name__ == "__main__":
    policies()
    if "--capacity" in sys.argv:
        capacity()
