"""Compare our mapper with the peer ZigZag (PyPI `zigzag-dse` 3.9.1) on the same GEMM
layers and a comparable architecture: search wall time, best latency, energy.

    python benchmarks/compare_zigzag.py            # installs ZigZag in /tmp/peers-zz if needed

ZigZag lives in its own venv (it pins old onnx/numpy and imports `six` undeclared), so
it runs in a subprocess. Both tools get the same architecture: an R x C array of fp16
MACs (1.5 pJ each) at 1 GHz, the default preset's global buffer (8 MiB, 1024 B/cycle,
12.5 pJ/B) and HBM2 (256 GB/s = 256 B/cycle, 3.9 pJ/bit). ZigZag also needs a register
per PE and operand; those cost 0 pJ since our model has none. Each tool searches its
own map space: ours the vectorized grid over dataflows, tiles and loop orders, then
exact simulations in order of the mapper's lower bounds until the best is proven (the
best of the grid); ZigZag LOMA temporal mappings for an output-
stationary (B,K unrolled) and a weight-stationary (C,K unrolled) spatial mapping, and
we keep its better one. "mappings" counts what each tool scored.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import arch  # noqa: E402
import mapper  # noqa: E402
from sim import simulate  # noqa: E402
from workloads import CascadeBuilder  # noqa: E402

# (M, K, N, array side): GPT-2 small layers (prefill QKV/FF, decode) and the two
# shapes of /work/shared/reference/README.md
LAYERS = [(128, 768, 768, 32), (512, 768, 3072, 32), (1024, 768, 768, 32),
          (1, 768, 3072, 32), (128, 768, 768, 128), (1024, 3072, 768, 128)]

DRIVER = r"""
import json, logging, sys, time
logging.disable(logging.CRITICAL)
from zigzag.api import get_hardware_performance_zigzag
from zigzag.stages.evaluation import cost_model_evaluation as cme
count = [0]
original = cme.CostModelStage.run
def counted(self):
    count[0] += 1
    yield from original(self)
cme.CostModelStage.run = counted
a = json.loads(sys.argv[1])
start = time.perf_counter()
energy, latency, _ = get_hardware_performance_zigzag(
    workload=a["workload"], accelerator=a["accelerator"], mapping=a["mapping"],
    opt="latency", dump_folder=a["dump"], loma_show_progress_bar=False)
print(json.dumps({"energy_pj": energy, "cycles": latency, "mappings": count[0],
                  "wall_s": time.perf_counter() - start}))
"""


def ensure_zigzag(venv: Path) -> Path:
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import zigzag, six"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"installing zigzag-dse 3.9.1 (+ six) into {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "zigzag-dse==3.9.1", "six"],
                   check=True)
    return python


def our_arch(side: int):
    return arch.load().with_changes(**{"PE2D.rows": side, "PE2D.cols": side})


def zigzag_accelerator(a) -> str:
    glb, dram = a.buffer, a.dram
    glb_bits = glb.read_bytes_per_cycle * 8
    dram_bits = int(a.dram_bytes_per_cycle * 8)

    def reg(operand, bits, allocation_r, allocation_w):
        ports = [{"name": "r_port_1", "type": "read", "bandwidth_min": bits,
                  "bandwidth_max": bits, "allocation": allocation_r},
                 {"name": "w_port_1", "type": "write", "bandwidth_min": bits,
                  "bandwidth_max": bits, "allocation": allocation_w}]
        return {"size": bits, "r_cost": 0.0, "w_cost": 0.0, "area": 0, "latency": 1,
                "operands": [operand], "ports": ports, "served_dimensions": []}

    # ZigZag counts accesses in words of a port's full width (bandwidth_max), so the
    # cost per access is the per-byte energy times that width. One buffer port per
    # operand: with a single shared port ZigZag serializes the operands and doubles
    # the latency, while our buffer (1024 B/cycle) never limits these layers.
    granule = 128

    def rw_port(i, bits, allocation):
        return {"name": f"rw_port_{i}", "type": "read_write", "bandwidth_min": granule,
                "bandwidth_max": bits, "allocation": allocation}

    memories = {
        "reg_I": reg("I1", 16, ["I1, tl"], ["I1, fh"]),
        "reg_W": reg("I2", 16, ["I2, tl"], ["I2, fh"]),
        "reg_O": reg("O", 32, ["O, tl", "O, th"], ["O, fh", "O, fl"]),
        "glb": {"size": glb.capacity_bytes * 8, "r_cost": glb.read_pj_per_byte * glb_bits / 8,
                "w_cost": glb.write_pj_per_byte * glb_bits / 8, "area": 0, "latency": 1,
                "operands": ["I1", "I2", "O"], "force_double_buffering": True,
                "ports": [rw_port(1, glb_bits, ["I1, tl", "I1, fh"]),
                          rw_port(2, glb_bits, ["I2, tl", "I2, fh"]),
                          rw_port(3, glb_bits, ["O, tl", "O, fl", "O, th", "O, fh"])],
                "served_dimensions": ["D1", "D2"]},
        "dram": {"size": 10**12, "r_cost": dram.energy_pj_per_bit * dram_bits,
                 "w_cost": dram.energy_pj_per_bit * dram_bits, "area": 0, "latency": 1,
                 "operands": ["I1", "I2", "O"],
                 "ports": [rw_port(1, dram_bits, ["I1, fh", "I1, tl", "I2, fh", "I2, tl",
                                                  "O, fh", "O, tl", "O, fl", "O, th"])],
                 "served_dimensions": ["D1", "D2"]},
    }
    pe = a.array2d
    return json.dumps({"name": f"accelsim_{pe.rows}x{pe.cols}", "memories": memories,
                       "operational_array": {"unit_energy": pe.mac_pj["fp16"], "unit_area": 1,
                                             "dimensions": ["D1", "D2"],
                                             "sizes": [pe.rows, pe.cols]}})


def zigzag_workload(m, k, n) -> str:
    return json.dumps([{"id": 0, "name": "gemm", "operator_type": "Gemm",
                        "equation": "O[b][k]+=W[k][c]*I[b][c]", "loop_dims": ["B", "K", "C"],
                        "loop_sizes": [m, n, k],
                        "operand_precision": {"W": 16, "I": 16, "O": 32, "O_final": 16}}])


def zigzag_mapping(side: int, m: int, spatial: str) -> str:
    unroll = {"os": {"D1": [f"B, {min(side, m)}"], "D2": [f"K, {side}"]},
              "ws": {"D1": [f"C, {side}"], "D2": [f"K, {side}"]}}[spatial]
    return json.dumps([{"name": "default", "spatial_mapping": unroll,
                        "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}])


def run_zigzag(python: Path, m, k, n, side, tmp: Path) -> dict:
    a = our_arch(side)
    (tmp / "acc.yaml").write_text(zigzag_accelerator(a))  # JSON is YAML
    (tmp / "wl.yaml").write_text(zigzag_workload(m, k, n))
    best = None
    total_wall, total_maps = 0.0, 0
    for spatial in ("os", "ws"):
        (tmp / f"map_{spatial}.yaml").write_text(zigzag_mapping(side, m, spatial))
        args = {"workload": str(tmp / "wl.yaml"), "accelerator": str(tmp / "acc.yaml"),
                "mapping": str(tmp / f"map_{spatial}.yaml"), "dump": str(tmp / f"out_{spatial}")}
        done = subprocess.run([str(python), "-c", DRIVER, json.dumps(args)], capture_output=True,
                              text=True, cwd=tmp)
        if done.returncode != 0:
            raise RuntimeError(f"ZigZag failed on {m}x{k}x{n} ({spatial}):\n{done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        total_wall += result["wall_s"]
        total_maps += result["mappings"]
        if best is None or result["cycles"] < best["cycles"]:
            best = {**result, "spatial": spatial}
    return {**best, "wall_s": total_wall, "mappings": total_maps}


def run_ours(m, k, n, side, method: str) -> dict:
    builder = CascadeBuilder("gemm", {"m": m, "k": k, "n": n})
    builder.add("O[m,n] = I[m,k] * W[k,n]")
    cascade = builder.build()
    a = our_arch(side)
    mapper.CACHE.clear()  # time a cold search
    start = time.perf_counter()
    result = simulate(cascade, a, search=mapper.SearchOptions(method))
    wall = time.perf_counter() - start
    e = result.einsums[0]
    return {"cycles": result.cycles, "energy_pj": result.energy_j * 1e12, "wall_s": wall,
            "mappings": result.meta["mappings_scored"], "mapping": e.mapping.describe()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default="/tmp/peers-zz", help="ZigZag's venv (created if missing)")
    parser.add_argument("--search", default="heuristic", choices=mapper.METHODS,
                        help="our search method (default heuristic)")
    args = parser.parse_args()
    python = ensure_zigzag(Path(args.venv))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for m, k, n, side in LAYERS:
            zz = run_zigzag(python, m, k, n, side, Path(tmp))
            ours = run_ours(m, k, n, side, args.search)
            rows.append({"gemm": f"{m}x{k}x{n}", "array": f"{side}x{side}", "ours": ours, "zz": zz})
            print(f"{m:>5}x{k}x{n:<5} on {side:>3}x{side:<3} | ours {ours['cycles']:>11,} cyc "
                  f"{ours['energy_pj'] / 1e6:8.3f} uJ {ours['wall_s']:6.3f} s "
                  f"{ours['mappings']:>9,} maps | ZigZag ({zz['spatial']}) {zz['cycles']:>11,.0f} cyc "
                  f"{zz['energy_pj'] / 1e6:8.3f} uJ {zz['wall_s']:6.2f} s {zz['mappings']:>5} maps",
                  flush=True)
    print("\nratios (ours / ZigZag): latency, energy, search wall time; throughput in mappings/s")
    for r in rows:
        o, z = r["ours"], r["zz"]
        print(f"  {r['gemm']:>15} {r['array']:>7}: latency {o['cycles'] / z['cycles']:5.2f}  "
              f"energy {o['energy_pj'] / z['energy_pj']:5.2f}  time {o['wall_s'] / z['wall_s']:7.4f}  "
              f"(ours {o['mappings'] / o['wall_s']:,.0f}/s, ZigZag {z['mappings'] / z['wall_s']:,.0f}/s)")
    out = REPO / "results" / "compare_zigzag.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
