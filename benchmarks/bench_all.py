"""Every speed figure of issue 18 in one command, each as a ratio to a reference job.
Run: python benchmarks/bench_all.py [--quick] [--skip-experiments] [--jobs N]

Figures: CLI start (`sim --help`, `sim gemm ... --timing scalesim`, `sim run gpt2`, whole
processes), GPT-2 prefill simulated in-process, each paper experiment (`sim experiment
NAME`, whole process; --quick: its --quick grid), sweep points/s on
experiments/sweeps/gpt2_dse.yaml (a local pool of --jobs workers, fresh store; --quick:
its first 112 points), mapper mappings scored/s, PIM commands/s (fast path).

The reference job (bench_run.py's fixed numpy work) is timed in the same process
before and after the figures; a time is reported as time / reference, a rate as
rate x reference (work done in one reference time), so figures from a busy or another
machine compare. On a shared machine quote the ratios, and repeat.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_run import reference_job  # noqa: E402
from timing import median_seconds  # noqa: E402

EXPERIMENTS = ("bitmod", "fusemax", "pimgpt")
BIG_GEMM = ["gemm", "--m", "512", "--k", "768", "--n", "3072", "--array", "256x256", "--dataflow", "os",
            "--timing", "scalesim"]


def process_seconds(args: list[str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of `python -m sim.cli ARGS` as a
    whole process. On a shared machine the CPU seconds move less than the wall."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=REPO, check=True,
                       capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def gpt2_in_process() -> float:
    import arch
    import mapper
    import workloads
    from sim import simulate

    cascade, a = workloads.load(REPO / "workloads" / "gpt2.yaml"), arch.load()
    simulate(cascade, a)  # warm the cost-model cache
    return median_seconds(lambda: (mapper.CACHE.clear(), simulate(cascade, a)))


def mappings_per_second() -> float:
    import arch
    import mapper
    import workloads

    cascade, a = workloads.load(REPO / "workloads" / "gpt2.yaml"), arch.load()
    distinct = {e.signature(): e for e in cascade.einsums if e.is_contraction}.values()
    mapper.CACHE.clear()
    start, scored = time.perf_counter(), 0
    for e in distinct:
        scored += mapper.candidates(e, a, "latency")[1]
    return scored / (time.perf_counter() - start)


def sweep_points_per_second(jobs: int, quick: bool) -> tuple[float, int]:
    """Points/s of gpt2_dse.yaml on a local pool, cost models warm, store fresh."""
    import sim.sweep as sweeps
    from sim.sweep.evaluate import evaluate
    from sim.sweep.executor import _local, plan

    sweep = sweeps.load(REPO / "experiments" / "sweeps" / "gpt2_dse.yaml")
    evaluate(plan(sweep)[0])  # warm the cost-model disk cache
    if not quick:
        with tempfile.TemporaryDirectory() as tmp:
            stats = sweeps.run(sweep, Path(tmp) / "s.db", jobs=jobs)
        return stats.points_per_s, stats.evaluated
    tasks = [t for t in plan(sweep) if "error" not in t][:112]
    start = time.perf_counter()
    done = sum(1 for _ in _local(tasks, jobs))
    return done / (time.perf_counter() - start), done


def pim_commands_per_second() -> float:
    from bench_pim import programs
    from sim.pim.fastpath import run_channels_fast

    progs, tc, _, _ = programs(1)
    start = time.perf_counter()
    results = run_channels_fast(progs, tc)
    wall = time.perf_counter() - start
    return sum(sum(r.counts.values()) for r in results) / wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="experiments' --quick grids, "
                    "a 112-point sweep")
    ap.add_argument("--skip-experiments", action="store_true")
    ap.add_argument("--jobs", type=int, default=2, help="sweep pool workers (default 2)")
    args = ap.parse_args(argv)

    ref_before = median_seconds(reference_job)
    rows: list[tuple[str, float, str, bool]] = []  # (figure, value, unit, is a rate)

    def add(name, value, unit, rate=False):
        rows.append((name, value, unit, rate))
        print(f"  measured {name}: {value:,.3f} {unit}", file=sys.stderr, flush=True)

    def add_process(name, args, repeat):
        wall, cpu = process_seconds(args, repeat)
        add(f"{name} (process, wall)", wall, "s")
        add(f"{name} (process, CPU)", cpu, "s")
        return wall, cpu

    add_process("sim --help", ["--help"], 5)
    add_process("sim gemm 512x768x3072 --timing scalesim", BIG_GEMM, 5)
    add_process("sim run workloads/gpt2.yaml", ["run", "workloads/gpt2.yaml"], 3)
    add("simulate GPT-2 prefill (in process, mapper cold)", gpt2_in_process(), "s")
    if not args.skip_experiments:
        total = [0.0, 0.0]
        with tempfile.TemporaryDirectory() as tmp:
            for name in EXPERIMENTS:
                extra = ["--quick"] if args.quick else []
                wall, cpu = add_process(f"sim experiment {name}{' --quick' if args.quick else ''}",
                                        ["experiment", name, *extra, "--out", f"{tmp}/{name}"], 1)
                total[0] += wall
                total[1] += cpu
        add("all three experiments (wall)", total[0], "s")
        add("all three experiments (CPU)", total[1], "s")
    rate, points = sweep_points_per_second(args.jobs, args.quick)
    add(f"sweep gpt2_dse, {points} points, {args.jobs} workers", rate, "points/s", True)
    add("mapper, GPT-2 contractions", mappings_per_second(), "mappings/s", True)
    try:
        add("PIM fast path, GPT-2 XL decode layer", pim_commands_per_second(), "commands/s", True)
    except Exception as exc:  # the PIM engine is developed elsewhere; report, do not stop
        print(f"  PIM commands/s not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
    ref_after = median_seconds(reference_job)
    ref = (ref_before + ref_after) / 2

    print(f"reference numpy job: {ref_before:.3f} s before, {ref_after:.3f} s after "
          f"(ratios use their mean, {ref:.3f} s)")
    print(f"{'figure':58s} {'value':>14s} {'unit':11s} {'ratio':>12s}")
    for name, value, unit, rate in rows:
        ratio = f"{value * ref:,.1f} x ref" if rate else f"{value / ref:,.2f} ref"
        print(f"{name:58s} {value:14,.3f} {unit:11s} {ratio:>12s}")


if __name__ == "__main__":
    main()
