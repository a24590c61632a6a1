"""Compare AccelForge (PyPI `accelforge`, its FFM mapper) with this tool on AccelForge's
shipped examples, each architecture and workload translated by `sim import-accelforge`.

For every case: cycles, energy (total and by component), DRAM bytes and the time each
tool takes to map. Both run unfused (AccelForge's top memory keeps every tensor; ours
without_fusion, as `sim run --no-fusion`), except the cases named `...-fused`, where both
may fuse Einsums. AccelForge ranks its Pareto set by latency, then energy; its clock is
the translated architecture's (the MAC's compute rate). AccelForge is slow (seconds to
minutes per case): its result for each case is stored in --store and reused, so a run
can be split (`--cases tpu-gemm`) and resumed (`nice` it on a shared machine); ours is
run afresh every time.

    python benchmarks/compare_accelforge.py                # every case
    python benchmarks/compare_accelforge.py --cases tpu-gemm,tpu-gemv
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))

GEMM = """workload:
  iteration_space_shape: {{m: 0 <= m < {M}, k: 0 <= k < {K}, n: 0 <= n < {N}}}
  bits_per_value: {{All: 8}}
  einsums:
  - name: GEMM
    tensor_accesses:
    - {{name: A, projection: [m, k]}}
    - {{name: B, projection: [k, n]}}
    - {{name: C, projection: [m, n], output: True}}
    renames: {{input: A, weight: B, output: C}}
"""
# name: (AccelForge architecture example, workload example or GEMM shape, Jinja variables)
CASES = {
    "tpu-gemm": ("tpu_v4i", (512, 768, 3072), {}),
    "tpu-gemv": ("tpu_v4i", (1, 4096, 4096), {}),
    "tpu-gpt3-prefill": ("tpu_v4i", "gpt3_6.7B", {"N_TOKENS": 2048}),
    "tpu-gpt3-decode": ("tpu_v4i", "gpt3_6.7B_kv_cache", {"N_TOKENS": 8192}),
    "tpu-matmuls": ("tpu_v4i", "matmuls", {"N_EINSUMS": 2}),
    "simple-matmuls": ("simple", "matmuls", {"N_EINSUMS": 2}),
    "nvdla-matmuls": ("nvdla", "matmuls", {"N_EINSUMS": 2}),
    "nvdla-gemm": ("nvdla", (1024, 1024, 1024), {}),
    "simba-matmuls": ("simba", "matmuls", {"N_EINSUMS": 2}),
}
FUSED = "-fused"  # a case's name + FUSED: the same case, both tools fusing
CASES.update({name + FUSED: CASES[name] for name in ("nvdla-matmuls", "tpu-matmuls",
                                                     "tpu-gpt3-prefill")})


def translated(name: str):
    """(AccelForge architecture file, workload file, Jinja variables, our arch, our cascade)."""
    import accelforge as af
    import yaml

    import arch
    import workloads
    from sim.accelforge import arch as af_arch, workload as af_workload

    example, wl, variables = CASES[name]
    tmp = Path(tempfile.mkdtemp())
    arch_file = getattr(af.examples.arches, example)
    if isinstance(wl, tuple):
        wl_file = tmp / "gemm.yaml"
        wl_file.write_text(GEMM.format(M=wl[0], K=wl[1], N=wl[2]))
    else:
        wl_file = getattr(af.examples.workloads, wl.replace(".", "_"))
    (tmp / "a.yaml").write_text(yaml.safe_dump({"architecture": af_arch.translate(arch_file)}))
    (tmp / "w.yaml").write_text(yaml.safe_dump(
        {"workload": af_workload.translate(wl_file, variables)}))
    return arch_file, wl_file, variables, arch.load(tmp / "a.yaml"), workloads.load(tmp / "w.yaml")


def run_accelforge(name: str, jobs: int) -> dict:
    from sim.accelforge import peer

    arch_file, wl_file, variables, a, _ = translated(name)
    theirs = peer.run(arch_file, wl_file, variables, unfused=not name.endswith(FUSED), jobs=jobs)
    by_comp: dict[str, float] = {}
    dram_bits = 0.0
    for pe in theirs.einsums.values():
        for comp, j in pe.energy_j.items():
            by_comp[comp] = by_comp.get(comp, 0.0) + j * 1e6
        dram_bits += sum(b for (comp, _, _), b in pe.bits.items() if comp == a.components[0].name)
    return {"cycles": theirs.latency_s * a.clock_ghz * 1e9, "energy_uj": theirs.energy_j * 1e6,
            "by_component_uj": by_comp, "dram_bytes": dram_bits / 8, "map_s": theirs.map_seconds}


def run_ours(name: str, repeat: int) -> dict:
    """Our simulation of the case `repeat` times (fusion off unless the case is fused),
    each with the search cache cleared: the median wall time is the one compared; the
    slowest wall time (a run may wait for the CPU) and the median CPU time are shown."""
    import mapper
    from arch.hierarchy import without_fusion
    from sim import simulate
    from sim.registry import CASCADE_ENGINES

    *_, a, cascade = translated(name)
    if not name.endswith(FUSED):
        a = without_fusion(a)
    CASCADE_ENGINES.names()  # engines and plug-ins imported before the clock starts
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()  # not a pause for the garbage the translation left (timeit: gc off)
        mapper.CACHE.clear()  # time a cold search
        start, cpu = time.perf_counter(), time.process_time()
        ours = simulate(cascade, a, objective="latency")
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    by_comp = {comp: j * 1e6 for comp, j in ours.energy_breakdown_j.items()}
    return {"cycles": ours.cycles, "energy_uj": ours.energy_j * 1e6, "by_component_uj": by_comp,
            "dram_bytes": ours.dram_bytes, "map_s": statistics.median(walls),
            "slowest_s": max(walls), "median_cpu_s": statistics.median(cpus)}


def table(rows: list[dict]) -> str:
    out = ["| case | AccelForge cycles | ours cycles | AccelForge µJ | ours µJ | "
           "energy by component, AccelForge / ours (µJ) | DRAM MB, AccelForge / ours | "
           "time to map: AccelForge / ours (median wall of the runs; slowest wall, median "
           "CPU) | ratio |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t, o = r["accelforge"], r["ours"]
        comps = sorted(set(t["by_component_uj"]) | set(o["by_component_uj"]))
        parts = ", ".join(f"{c} {t['by_component_uj'].get(c, 0):,.4g} / "
                          f"{o['by_component_uj'].get(c, 0):,.4g}" for c in comps
                          if t["by_component_uj"].get(c, 0) or o["by_component_uj"].get(c, 0))
        example, wl, _ = CASES[r["case"]]
        wl = wl if isinstance(wl, str) else "GEMM {}x{}x{}".format(*wl)
        out.append(f"| {r['case']} ({example}, {wl}) | {t['cycles']:,.0f} | "
                   f"{o['cycles']:,} | {t['energy_uj']:,.5g} | {o['energy_uj']:,.5g} | {parts} | "
                   f"{t['dram_bytes'] / 1e6:,.4g} / {o['dram_bytes'] / 1e6:,.4g} | "
                   f"{t['map_s']:.1f} s / {o['map_s'] * 1e3:.1f} ms ({o['slowest_s'] * 1e3:.1f}, "
                   f"{o['median_cpu_s'] * 1e3:.1f} ms) | "
                   f"{t['map_s'] / o['map_s']:,.0f}x |")
    return "\n".join(out)


def ours_table(rows: list[tuple[str, dict]]) -> str:
    out = ["| case | ours cycles | ours µJ | DRAM MB | time to map (median wall of the "
           "runs; slowest wall, median CPU) |", "|---|---|---|---|---|"]
    for name, o in rows:
        out.append(f"| {name} | {o['cycles']:,} | {o['energy_uj']:,.5g} | "
                   f"{o['dram_bytes'] / 1e6:,.4g} | {o['map_s'] * 1e3:.1f} ms "
                   f"({o['slowest_s'] * 1e3:.1f}, {o['median_cpu_s'] * 1e3:.1f} ms) |")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated: "
                        + ", ".join(CASES))
    parser.add_argument("--store", default=str(Path(tempfile.gettempdir()) / "accelforge-compare"),
                        help="folder keeping each finished case as JSON")
    parser.add_argument("--jobs", type=int, default=1, help="AccelForge's parallel jobs")
    parser.add_argument("--repeat", type=int, default=5, help="runs of ours per case")
    parser.add_argument("--ours-only", action="store_true",
                        help="run only this tool (AccelForge's examples are still needed)")
    args = parser.parse_args()
    try:
        import accelforge  # noqa: F401
    except ImportError:
        print("accelforge is not installed (pip install accelsim[peers]); nothing to compare")
        return
    if args.ours_only:
        print(ours_table([(name, run_ours(name, args.repeat)) for name in args.cases.split(",")]))
        return
    store = Path(args.store)
    store.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.cases.split(","):
        path = store / f"{name}.json"  # AccelForge's result: minutes to make, kept
        if not path.exists():
            path.write_text(json.dumps({"accelforge": run_accelforge(name, args.jobs)}, indent=1))
        theirs = json.loads(path.read_text())["accelforge"]
        rows.append({"case": name, "accelforge": theirs, "ours": run_ours(name, args.repeat)})
    print(table(rows))


if __name__ == "__main__":
    main()
