"""Compare real SCALE-Sim v3 against our closed form ``sim.scalesim_timing``.

Runs SCALE-Sim (PyPI ``scalesim`` 3.0.0, through its Python API, CALC bandwidth mode,
GEMM topology, no traces) and ``scalesim_compute_cycles`` on a list of GEMMs and prints
compute cycles, the difference and the wall time of each.

SCALE-Sim needs numpy < 2.4; keep it in its own environment, e.g.

    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install scalesim==3.0.0 "numpy<2.4"
    /tmp/peers/bin/python benchmarks/compare_scalesim.py --quick

Without ``scalesim`` importable the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(_REPO))

try:
    from sim.scalesim_timing import (
        scalesim_compute_cycles, scalesim_fold_cycles, scalesim_folds, scalesim_word_counts)
except ImportError:
    # The peers' environment (numpy < 2.4 for SCALE-Sim) may lack the project's own
    # dependencies, which sim/__init__.py pulls in; the timing module is stdlib-only,
    # so load that one file directly.
    import importlib.util

    _spec = importlib.util.spec_from_file_location(
        "sim_scalesim_timing", _REPO / "sim" / "scalesim_timing.py")
    _mod = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_mod)
    scalesim_compute_cycles = _mod.scalesim_compute_cycles
    scalesim_fold_cycles = _mod.scalesim_fold_cycles
    scalesim_folds = _mod.scalesim_folds
    scalesim_word_counts = _mod.scalesim_word_counts

# A case is (M, K, N, rows, cols, dataflow) for C[M,N] = A[M,K] x B[K,N].
REFERENCE_CASES = [
    (64, 64, 64, 32, 32, "os"),
    (64, 64, 64, 32, 32, "ws"),
    (64, 64, 64, 128, 128, "os"),
    (1, 768, 768, 32, 32, "os"),
    (1, 768, 768, 32, 32, "ws"),
    (128, 768, 768, 32, 32, "os"),
    (128, 768, 768, 128, 128, "ws"),
]

QUICK_CASES = [
    (64, 64, 64, 32, 32, "os"),
    (64, 64, 64, 32, 32, "ws"),
    (64, 64, 64, 32, 32, "is"),
    (37, 50, 19, 8, 32, "os"),
    (37, 50, 19, 8, 32, "ws"),
    (37, 50, 19, 8, 32, "is"),
]

LARGE_CASE = (512, 768, 3072, 32, 32, "os")

_CONFIG = """\
[general]
run_name = cmp

[run_presets]
InterfaceBandwidth = CALC
UseRamulatorTrace = False

[architecture_presets]
ArrayHeight = {rows}
ArrayWidth = {cols}
IfmapSramSzkB = 6144
FilterSramSzkB = 6144
OfmapSramSzkB = 2048
IfmapOffset = 0
FilterOffset = 10000000
OfmapOffset = 20000000
Dataflow = {dataflow}
ReadRequestBuffer = 32
WriteRequestBuffer = 32

[layout]
IfmapCustomLayout = False
IfmapSRAMBankBandwidth = 10
IfmapSRAMBankNum = 10
IfmapSRAMBankPort = 2
FilterCustomLayout = False
FilterSRAMBankBandwidth = 10
FilterSRAMBankNum = 10
FilterSRAMBankPort = 2

[sparsity]
SparsitySupport = false
"""


def scalesim_available() -> bool:
    """True when SCALE-Sim imports and its numpy is one it can run on (< 2.4)."""
    try:
        import numpy
        import scalesim.scale_sim  # noqa: F401
    except Exception:
        return False
    # scalesim 3.0.0 imports fine under numpy 2.4 but crashes while simulating.
    major, minor = (int(x) for x in numpy.__version__.split(".")[:2])
    return (major, minor) < (2, 4)


def estimate_scalesim_seconds(case) -> float:
    """Rough wall time of one SCALE-Sim run on a 2-core machine, to skip slow cases.

    SCALE-Sim walks every demand line (one per cycle) and every word of it in Python,
    unrolls the prefetch matrices element by element, and (os, is) grows its demand
    matrices by repeated concatenation, which is quadratic in the number of folds.
    """
    m, k, n, rows, cols, dataflow = case
    folds = scalesim_folds(*case)
    fold_lines = scalesim_fold_cycles(*case)
    lines = folds * fold_lines
    seconds = lines * (3e-5 + 0.4e-6 * (rows + cols))
    prefetch = {"os": k * (-(-m // rows) * rows + -(-n // cols) * cols),
                "ws": m * -(-k // rows) * rows,
                "is": n * -(-k // rows) * rows}[dataflow]
    seconds += 0.6e-6 * prefetch
    if dataflow in ("os", "is"):
        seconds += 0.5 * folds * folds * fold_lines * (rows + 2 * cols) * 8 / 2e9
    return seconds


def run_scalesim(m, k, n, rows, cols, dataflow):
    """Run real SCALE-Sim once; return (compute cycles, stall cycles, wall seconds,
    word counts as in ``scalesim_word_counts``)."""
    from scalesim.scale_sim import scalesim

    with tempfile.TemporaryDirectory(prefix="scalesim_cmp_") as tmp:
        cfg = os.path.join(tmp, "cmp.cfg")
        topo = os.path.join(tmp, "gemm.csv")
        layout = os.path.join(tmp, "layout.csv")
        with open(cfg, "w") as f:
            f.write(_CONFIG.format(rows=rows, cols=cols, dataflow=dataflow))
        with open(topo, "w") as f:
            # SCALE-Sim drops the last comma-separated field, hence the trailing comma.
            f.write("Layer, M, N, K,\n")
            f.write(f"gemm, {m}, {n}, {k},\n")
        with open(layout, "w") as f:
            f.write("Layer name,\n")  # only read when a custom layout is enabled
        quiet = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(quiet):
            s = scalesim(save_disk_space=True, verbose=False, config=cfg,
                         topology=topo, layout=layout, input_type_gemm=True)
            s.run_scale(top_path=os.path.join(tmp, "out"))
        seconds = time.perf_counter() - start
        layer = s.runner.single_layer_sim_object_list[0]
        _, compute_cycles, stall_cycles, *_ = layer.get_compute_report_items()
        d = layer.get_detail_report_items()
        words = {"sram_reads": int(d[2] + d[5]), "sram_writes": int(d[8]),
                 "dram_reads": int(d[11] + d[14]), "dram_writes": int(d[17])}
    return int(compute_cycles), int(stall_cycles), seconds, words


def _time_ours(case) -> tuple[int, float]:
    reps = 2000
    start = time.perf_counter()
    for _ in range(reps):
        cycles = scalesim_compute_cycles(*case)
    return cycles, (time.perf_counter() - start) / reps


def run_comparison(cases, max_seconds: float = 20.0) -> list[dict]:
    """Run SCALE-Sim and our closed form on each (M, K, N, rows, cols, dataflow) case.

    Needs ``scalesim_available()``.  Returns one dict per case with the shape, ``ours``
    and ``scalesim`` compute cycles, SCALE-Sim's ``stalls``, ``diff_pct``, wall seconds
    (``scalesim_s``, ``ours_s`` per call), ``speedup`` and ``words_match`` (buffer
    and DRAM word counts equal ``scalesim_word_counts``); a case SCALE-Sim is estimated
    to take more than ``max_seconds`` on gets ``skipped=True`` and no SCALE-Sim numbers.
    """
    rows_out = []
    for case in cases:
        m, k, n, rows, cols, dataflow = case
        ours, ours_s = _time_ours(case)
        row = dict(m=m, k=k, n=n, rows=rows, cols=cols, dataflow=dataflow,
                   ours=ours, ours_s=ours_s, scalesim=None, stalls=None,
                   scalesim_s=None, diff_pct=None, speedup=None, words_match=None,
                   skipped=False)
        if estimate_scalesim_seconds(case) > max_seconds:
            row["skipped"] = True
        else:
            ref, stalls, ref_s, words = run_scalesim(*case)
            row.update(scalesim=ref, stalls=stalls, scalesim_s=ref_s,
                       diff_pct=100.0 * (ours - ref) / ref, speedup=ref_s / ours_s,
                       words_match=words == scalesim_word_counts(*case))
        rows_out.append(row)
    return rows_out


def random_cases(count: int, seed: int = 0) -> list:
    rng = random.Random(seed)
    arrays = [(4, 4), (8, 8), (8, 32), (32, 8), (16, 16), (16, 64), (32, 32),
              (64, 16), (64, 64), (128, 128), (128, 32), (256, 256)]
    out = []
    while len(out) < count:
        # Half log-uniform (small and odd shapes), half uniform (large ones).
        m, k, n = (rng.randint(1, 4096) if rng.random() < 0.5
                   else int(round(2 ** rng.uniform(0, 12))) for _ in range(3))
        rows, cols = rng.choice(arrays)
        case = (m, k, n, rows, cols, rng.choice(("os", "ws", "is")))
        if estimate_scalesim_seconds(case) <= 15.0:
            out.append(case)
    return out


def print_table(results: list[dict]) -> None:
    head = (f"{'M x K x N':>16} {'array':>8} {'df':>3} {'scalesim':>10} {'ours':>10} "
            f"{'diff %':>7} {'scalesim s':>10} {'ours s':>9} {'speedup':>9}")
    print(head)
    print("-" * len(head))
    for r in results:
        shape = f"{r['m']}x{r['k']}x{r['n']}"
        arr = f"{r['rows']}x{r['cols']}"
        if r["skipped"]:
            print(f"{shape:>16} {arr:>8} {r['dataflow']:>3} {'skipped':>10} {r['ours']:>10}"
                  f" {'':>7} {'':>10} {r['ours_s']:>9.1e}")
            continue
        print(f"{shape:>16} {arr:>8} {r['dataflow']:>3} {r['scalesim']:>10} {r['ours']:>10}"
              f" {r['diff_pct']:>7.2f} {r['scalesim_s']:>10.2f} {r['ours_s']:>9.1e}"
              f" {r['speedup']:>9.1e}")
    ran = [r for r in results if not r["skipped"]]
    exact = sum(r["scalesim"] == r["ours"] for r in ran)
    words = sum(bool(r["words_match"]) for r in ran)
    print(f"\n{exact}/{len(ran)} exact cycle matches, {len(results) - len(ran)} skipped; "
          f"buffer/DRAM word counts equal on {words}/{len(ran)} (they assume both "
          f"operands fit SCALE-Sim's 6 MiB SRAMs)")
    stalled = [r for r in ran if r["stalls"]]
    if stalled:  # CALC mode should never stall; if it does, SCALE-Sim adds the stalls
        print(f"{len(stalled)} SCALE-Sim runs reported stall cycles")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few small shapes only")
    p.add_argument("--random", type=int, default=0, metavar="N",
                   help="add N randomized cases (M, K, N in 1..4096)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--large", action="store_true",
                   help=f"add {LARGE_CASE} (about 5 minutes of SCALE-Sim)")
    p.add_argument("--max-seconds", type=float, default=20.0,
                   help="skip cases SCALE-Sim is estimated to take longer on")
    args = p.parse_args(argv)

    if not scalesim_available():
        print("scalesim is not usable here (needs: pip install scalesim==3.0.0 'numpy<2.4'); "
              "skipping.")
        return 0

    cases = list(QUICK_CASES if args.quick else REFERENCE_CASES + QUICK_CASES)
    if args.random:
        cases += random_cases(args.random, args.seed)
    results = run_comparison(cases, args.max_seconds)
    if args.large:  # asked for explicitly, so never skipped
        results += run_comparison([LARGE_CASE], max_seconds=float("inf"))
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
