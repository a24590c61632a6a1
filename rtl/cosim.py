"""Co-simulation: drive the Amaranth RTL cycle by cycle and compare with sim's models.

The only module of rtl that imports sim. Each `run_*` function elaborates nothing
itself: it takes a generator instance, drives it with the Amaranth simulator and returns
(cycles from start to last output, outputs); the `check_*` functions add the numpy
golden model and sim's cycle model and raise CosimMismatch on any difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from rtl.numerics import (MacFormat, encode, golden_dot, golden_matmul, mac_format,
                          random_operands, wrap)
from sim.array2d import Folds, array_cycles, fold_starts, schedule_steps

UNLIMITED_BW = 10**9


class CosimMismatch(AssertionError):
    """RTL and the Python model disagree (a bug in one of the two)."""


def _simulate(dut, bench) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


# ---------------------------------------------------------------- systolic array

@dataclass
class ArrayRun:
    cycles: int                 # cycle 0 = the buffer port starts delivering
    outputs: list[np.ndarray]   # per fold, as the output ports delivered them (R x C or L x C)
    stall_cycles: int           # cycles lost waiting for operands beyond the first read cycle


def _os_plan(R, C, A, B, starts):
    """Per step: (inputs, bits needed) of the output-stationary stream."""
    plan = {}
    for f, (a, b) in enumerate(zip(A, B)):
        for k in range(a.shape[1]):
            a_col = np.zeros(R, dtype=a.dtype)
            a_col[:a.shape[0]] = a[:, k]
            b_row = np.zeros(C, dtype=b.dtype)
            b_row[:b.shape[1]] = b[k, :]
            step = int(starts[f]) + k
            if step in plan:
                raise CosimMismatch(f"the schedule puts two vectors on step {step}")
            plan[step] = ({"a": a_col, "b": b_row, "first": k == 0,
                                         "last": k == a.shape[1] - 1},
                                        (a.shape[0], b.shape[1]))
    return plan


def _ws_plan(R, C, W, X, starts):
    """Per step: (stream vector and/or preload row, (rows, cols) whose bits it needs)."""
    plan: dict[int, list] = {}
    for f, (w, x) in enumerate(zip(W, X)):
        for q in range(R):  # preload row q of fold f at step S_f - R + q
            row = np.zeros(C, dtype=w.dtype)
            if q < w.shape[0]:
                row[:w.shape[1]] = w[q, :]
            entry = plan.setdefault(int(starts[f]) - R + q, [{}, [0, 0]])
            if "pre" in entry[0]:
                raise CosimMismatch(f"the schedule puts two preload rows on step {starts[f] - R + q}")
            entry[0]["pre"] = (row, q)
            entry[1][1] += w.shape[1] if q < w.shape[0] else 0
        for m_ in range(x.shape[0]):
            vec = np.zeros(R, dtype=x.dtype)
            vec[:x.shape[1]] = x[m_, :]
            entry = plan.setdefault(int(starts[f]) + m_, [{}, [0, 0]])
            if "x" in entry[0]:
                raise CosimMismatch(f"the schedule puts two vectors on step {starts[f] + m_}")
            entry[0]["x"] = (vec, m_ == 0)
            entry[1][0] += x.shape[1]
    return {s: (inp, tuple(n)) for s, (inp, n) in plan.items()}


def run_array(dut, first: list[np.ndarray], second: list[np.ndarray], bits=None,
              bw_bits: int = UNLIMITED_BW, starts=None) -> ArrayRun:
    """Run folds through a SystolicArray.

    os: first = A[f] (r x L), second = B[f] (L x c). ws: first = W[f] (r x c),
    second = X[f] (L x r). Fold start steps come from sim's schedule unless `starts`
    is given. The buffer port delivers bw_bits per cycle into an unbounded queue; a
    step whose operands have not fully arrived by the start of a cycle stalls the array.
    """
    fmt: MacFormat = dut.fmt
    R, C, os_ = dut.rows, dut.cols, dut.dataflow == "os"
    bits = bits or (fmt.bits, fmt.bits)
    L = np.array([a.shape[1] for a in first]) if os_ else np.array([x.shape[0] for x in second])
    if starts is None:
        starts = fold_starts("os" if os_ else "ws", R, L)
    plan = _os_plan(R, C, first, second, starts) if os_ else _ws_plan(R, C, first, second, starts)
    expected = len(L) * R if os_ else int(L.sum())  # emissions per column port
    got: list[list[int]] = [[] for _ in range(C)]
    result = {}

    async def bench(ctx):
        cycle = step = 0
        arrived_need = 0
        last_out = stalls = 0
        last_step = max(plan)
        while min(len(g) for g in got) < expected:
            if step > last_step + R + C + 1:  # every result is out R + C steps after the last input
                raise CosimMismatch(f"the output ports emitted {[len(g) for g in got]} results "
                                    f"by step {step}, expected {expected} each")
            inputs, (n0, n1) = plan.get(step, ({}, (0, 0)))
            need = n0 * bits[0] + n1 * bits[1]
            go = need == 0 or arrived_need + need <= bw_bits * cycle
            ctx.set(dut.en, go)
            if os_:
                valid = "a" in inputs
                ctx.set(dut.valid, valid)
                if valid:
                    ctx.set(dut.a_in, encode(fmt, inputs["a"]))
                    ctx.set(dut.b_in, encode(fmt, inputs["b"]))
                    ctx.set(dut.first, inputs["first"])
                    ctx.set(dut.last, inputs["last"])
            else:
                valid = "x" in inputs
                ctx.set(dut.valid, valid)
                if valid:
                    ctx.set(dut.x_in, encode(fmt, inputs["x"][0]))
                    ctx.set(dut.first, inputs["x"][1])
                ctx.set(dut.pre_valid, "pre" in inputs)
                if "pre" in inputs:
                    ctx.set(dut.pre_w, encode(fmt, inputs["pre"][0]))
                    ctx.set(dut.pre_row, inputs["pre"][1])
            if go:
                out_valid, out = ctx.get(dut.out_valid), ctx.get(dut.out)
                for j in range(C):
                    if out_valid[j]:
                        got[j].append(wrap(int(out[j]), fmt.acc_bits))
                        last_out = cycle
                arrived_need += need
                step += 1
            elif step <= last_step:
                stalls += 1
            await ctx.tick()
            cycle += 1
        result["cycles"], result["stalls"] = last_out + 1, stalls - 1  # cycle 0 is the read cycle

    _simulate(dut, bench)
    if any(len(g) != expected for g in got):
        raise CosimMismatch(f"column ports emitted {[len(g) for g in got]} results, "
                            f"expected {expected} each")
    outputs, pos = [], 0
    for f in range(len(L)):
        n = R if os_ else int(L[f])
        outputs.append(np.array([[got[j][pos + i] for j in range(C)] for i in range(n)],
                                dtype=object))
        pos += n
    return ArrayRun(result["cycles"], outputs, result["stalls"])


def check_array_outputs(dut, first, second, run: ArrayRun) -> None:
    """Every fold's outputs equal the exact golden model (padding rows/cols: zero)."""
    os_ = dut.dataflow == "os"
    for f, (p, q) in enumerate(zip(first, second)):
        golden = golden_matmul(dut.fmt, p, q) if os_ else golden_matmul(dut.fmt, q, p)
        padded = np.zeros(run.outputs[f].shape, dtype=object)
        padded[:golden.shape[0], :golden.shape[1]] = golden
        if not (run.outputs[f] == padded).all():
            bad = tuple(np.argwhere(run.outputs[f] != padded)[0])
            raise CosimMismatch(f"fold {f}: output {bad} is {run.outputs[f][bad]}, "
                                f"golden model {padded[bad]}")


def check_array(dut, first, second, bw_bits: int = UNLIMITED_BW) -> ArrayRun:
    """Run, then check outputs against the exact golden model and cycles against
    sim.array2d.array_cycles for the same folds, bits and buffer bandwidth."""
    run = run_array(dut, first, second, bw_bits=bw_bits)
    check_array_outputs(dut, first, second, run)
    fmt, R, C = dut.fmt, dut.rows, dut.cols
    os_ = dut.dataflow == "os"
    if os_:
        folds = Folds(np.array([a.shape[0] for a in first]), np.array([b.shape[1] for b in second]),
                      np.array([a.shape[1] for a in first]))
    else:
        folds = Folds(np.array([w.shape[0] for w in first]), np.array([w.shape[1] for w in first]),
                      np.array([x.shape[0] for x in second]))
    model = array_cycles(dut.dataflow, R, C, folds, (fmt.bits, fmt.bits), bw_bits).cycles
    if model != run.cycles:
        raise CosimMismatch(f"{dut.dataflow} {R}x{C}, folds r={folds.r.tolist()} "
                            f"c={folds.c.tolist()} L={folds.L.tolist()}, bw={bw_bits}: RTL "
                            f"{run.cycles} cycles, sim.array2d {model}")
    return run


# ---------------------------------------------------------------- one MAC PE

def check_pe(dut, pairs: list[tuple[np.ndarray, np.ndarray]]) -> int:
    """Stream dot products (a, b) back to back through one MacPE, a MAC per cycle from
    cycle 0. Checks every result against the golden model and the cycle of the last one
    against sim.array2d's schedule for a 1x1 output-stationary array (no buffer read
    cycle: the operands are at the PE from cycle 0). Returns the cycles."""
    fmt: MacFormat = dut.fmt
    stream = [(a[k], b[k], k == 0, k == len(a) - 1) for a, b in pairs for k in range(len(a))]
    results: list[int] = []
    done = {}

    async def bench(ctx):
        cycle = last = 0
        while len(results) < len(pairs):
            if cycle > len(stream) + 2:
                raise CosimMismatch(f"PE gave {len(results)} of {len(pairs)} results")
            ctx.set(dut.en, 1)
            if cycle < len(stream):
                a, b, first, is_last = stream[cycle]
                ctx.set(dut.a, encode(fmt, [a])[0])
                ctx.set(dut.b, encode(fmt, [b])[0])
                ctx.set(dut.first, first)
                ctx.set(dut.last, is_last)
            ctx.set(dut.valid, cycle < len(stream))
            if ctx.get(dut.result_valid):
                results.append(wrap(ctx.get(dut.result), fmt.acc_bits))
                last = cycle
            await ctx.tick()
            cycle += 1
        done["cycles"] = last + 1

    _simulate(dut, bench)
    for n, ((a, b), got) in enumerate(zip(pairs, results)):
        want = golden_dot(fmt, a, b)
        if got != want:
            raise CosimMismatch(f"dot product {n} ({fmt.name}): RTL {got}, golden model {want}")
    model = schedule_steps("os", 1, 1, np.array([len(a) for a, _ in pairs]))
    if model != done["cycles"]:
        raise CosimMismatch(f"PE: RTL {done['cycles']} cycles, sim.array2d {model}")
    return done["cycles"]


# ---------------------------------------------------------------- BitMoD bit-serial PE

def weight_value(code: int, dtype: str, code_bits: int) -> int:
    """Golden decode of a weight code (in units of the type's smallest step)."""
    if dtype == "int":
        return code - (1 << code_bits) if code >> (code_bits - 1) else code
    sign, exp, mant = code >> (code_bits - 1), (code >> 1) & ((1 << (code_bits - 2)) - 1), code & 1
    value = mant if exp == 0 else (2 + mant) * 2 ** (exp - 1)
    return -value if sign else value


def golden_bitserial(dut, acts, codes, dtypes, scales) -> np.ndarray:
    """out[channel, token] = sum over groups of scale x sum(act x weight), exactly, with
    activations as integers in units of 2**-24 (FP16's smallest subnormal)."""
    from rtl.bitserial import DTYPES

    tokens, K = acts.shape
    channels = codes.shape[0]
    g = dut.group_size
    act_int = (acts.astype(np.float64) * 2.0**24).astype(object)
    out = np.zeros((channels, tokens), dtype=object)
    for ch in range(channels):
        w = np.array([weight_value(int(codes[ch, k]), DTYPES[dtypes[ch, k // g]], dut.code_bits)
                      for k in range(K)], dtype=object)
        for t in range(tokens):
            total = 0
            for grp in range(-(-K // g)):
                part = int(np.dot(act_int[t, grp * g:(grp + 1) * g], w[grp * g:(grp + 1) * g]))
                total += part * (int(scales[ch, grp]) if dut.dequant_cycles else 1)
            out[ch, t] = wrap(total, dut.out_bits)
    return out


def run_bitserial(dut, acts: np.ndarray, codes: np.ndarray, dtypes: np.ndarray,
                  scales: np.ndarray) -> tuple[int, np.ndarray]:
    """GEMM out[n x m] = W[n x k] . A[m x k]^T on a BitSerialPEArray: folds over channels
    (rows, outer) and tokens (columns), each fold a stream of groups of steps. Returns
    (cycle the last output is final, counted from the first operands at cycle 0, outputs)."""
    R, C, lanes, g = dut.rows, dut.cols, dut.lanes, dut.group_size
    tokens, K = acts.shape
    channels = codes.shape[0]
    fp16 = mac_format("fp16")
    act_raw = np.array(encode(fp16, acts), dtype=np.int64).reshape(acts.shape)
    folds = [(fr, fc) for fr in range(-(-channels // R)) for fc in range(-(-tokens // C))]
    groups = [(s, min(s + g, K)) for s in range(0, K, g)]
    items = []
    for fr, fc in folds:
        for gi, (g0, g1) in enumerate(groups):
            steps = list(range(g0, g1, lanes))
            for si, s in enumerate(steps):
                act = [[int(act_raw[fc * C + c, k]) if fc * C + c < tokens and k < g1 else 0
                        for k in range(s, s + lanes)] for c in range(C)]
                wt = [[int(codes[fr * R + r, k]) if fr * R + r < channels and k < g1 else 0
                       for k in range(s, s + lanes)] for r in range(R)]
                meta = [(int(dtypes[fr * R + r, gi]), int(scales[fr * R + r, gi]))
                        if fr * R + r < channels else (0, 0) for r in range(R)]
                items.append({"act": act, "weight": wt, "dtype": [d for d, _ in meta],
                              "scale": [s_ for _, s_ in meta], "group_last": si == len(steps) - 1,
                              "output_last": gi == len(groups) - 1})
    got: list = []
    done = {}
    limit = 10 * (len(items) * dut.cycles_per_weight
                  + len(folds) * len(groups) * (dut.dequant_cycles + 1)) + dut.pipeline_depth + 10

    async def bench(ctx):
        cycle = item = 0
        while len(got) < len(folds):
            if cycle > limit:
                raise CosimMismatch(f"bit-serial array gave {len(got)} of {len(folds)} fold results")
            ctx.set(dut.valid, item < len(items))
            if item < len(items):
                it = items[item]
                for key in ("act", "weight", "dtype", "scale"):
                    ctx.set(getattr(dut, key), it[key])
                ctx.set(dut.group_last, it["group_last"])
                ctx.set(dut.output_last, it["output_last"])
            take = ctx.get(dut.take)
            if ctx.get(dut.result_valid):
                res = ctx.get(dut.result)
                got.append([[wrap(int(res[r][c]), dut.out_bits) for c in range(C)] for r in range(R)])
                done["cycles"] = cycle
            await ctx.tick()
            cycle += 1
            item += bool(take)

    _simulate(dut, bench)
    out = np.zeros((channels, tokens), dtype=object)
    for (fr, fc), res in zip(folds, got):
        for r in range(R):
            for c in range(C):
                if fr * R + r < channels and fc * C + c < tokens:
                    out[fr * R + r, fc * C + c] = res[r][c]
    return done["cycles"], out


def check_bitserial(dut, acts, codes, dtypes, scales) -> int:
    """Outputs equal golden_bitserial; cycles equal sim.bitserial.array_cycles."""
    from sim.bitserial import PEConfig
    from sim.bitserial import array_cycles as bitserial_cycles

    cycles, out = run_bitserial(dut, acts, codes, dtypes, scales)
    want = golden_bitserial(dut, acts, codes, dtypes, scales)
    if not (out == want).all():
        bad = tuple(np.argwhere(out != want)[0])
        raise CosimMismatch(f"bit-serial output {bad}: RTL {out[bad]}, golden model {want[bad]}")
    pe = PEConfig(dut.lanes, dut.bits_per_cycle, dut.code_bits, dut.group_size,
                  dut.dequant_cycles, dut.pipeline_depth)
    model = bitserial_cycles(dut.rows, dut.cols, pe, acts.shape[0], codes.shape[0],
                             acts.shape[1]).cycles
    if model != cycles:
        raise CosimMismatch(f"bit-serial {dut.rows}x{dut.cols} {pe}, m={acts.shape[0]} "
                            f"n={codes.shape[0]} k={acts.shape[1]}: RTL {cycles} cycles, "
                            f"sim.bitserial {model}")
    return cycles


# ---------------------------------------------------------------- `sim rtl --cosim`

def cosim_block(name: str, dut, cases: int = 3, seed: int = 0, arch=None) -> list[str]:
    """Run `cases` random co-simulations of a block as `sim rtl` built it; one line each
    (any mismatch raises CosimMismatch)."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(cases):
        if name == "mac-pe":
            lengths = rng.integers(1, 9, size=int(rng.integers(1, 4))).tolist()
            pairs = [(random_operands(dut.fmt, rng, n), random_operands(dut.fmt, rng, n)) for n in lengths]
            cycles = check_pe(dut, pairs)
            lines.append(f"dot products of lengths {lengths}: {cycles} cycles (RTL = sim)")
        elif name == "array2d":
            R, C = dut.rows, dut.cols
            folds = [(int(rng.integers(1, R + 1)), int(rng.integers(1, C + 1)), int(rng.integers(1, 9)))
                     for _ in range(int(rng.integers(1, 4)))]
            bw = int(rng.choice([UNLIMITED_BW, 8 * (R + C)]))
            if dut.dataflow == "os":
                first = [random_operands(dut.fmt, rng, (r, L)) for r, c, L in folds]
                second = [random_operands(dut.fmt, rng, (L, c)) for r, c, L in folds]
            else:
                first = [random_operands(dut.fmt, rng, (r, c)) for r, c, L in folds]
                second = [random_operands(dut.fmt, rng, (L, r)) for r, c, L in folds]
            run = check_array(dut, first, second, bw_bits=bw)
            bw_text = "unlimited" if bw == UNLIMITED_BW else f"{bw} bits/cycle"
            lines.append(f"folds (r, c, L) {folds}, buffer {bw_text}: {run.cycles} cycles "
                         f"({run.stall_cycles} stalled) (RTL = sim)")
        elif name in ("bitserial-pe", "bitserial-array"):
            m = int(rng.integers(1, dut.cols + 2))
            n = int(rng.integers(1, dut.rows + 2))
            k = int(rng.integers(1, 2 * dut.group_size + 2))
            groups = -(-k // dut.group_size)
            operands = (random_operands(mac_format("fp16"), rng, (m, k)),
                        rng.integers(0, 1 << dut.code_bits, (n, k)), rng.integers(0, 2, (n, groups)),
                        rng.integers(0, 1 << max(1, dut.dequant_cycles), (n, groups)))
            cycles = check_bitserial(dut, *operands)
            lines.append(f"GEMM m={m} n={n} k={k}: {cycles} cycles (RTL = sim)")
        elif name == "vector1d":
            lines.append(check_vector_demo(dut, rng, arch))
        elif name == "pim-bank-mac":
            lines.append(check_bank_mac_demo(dut, rng))
        else:
            raise ValueError(f"no co-simulation for block '{name}'")
    return lines



# ---------------------------------------------------------------- 1D unit (FuseMax softmax)

def golden_vector(prog_einsum, operands: np.ndarray, exp_degree: int) -> list[int]:
    """Per output point: the reduction of the expression over its input points (Q16)."""
    from rtl.vector1d import REDUCE_ALU, alu, evaluate

    out = []
    for point in operands:
        values = [evaluate(prog_einsum.expr, [int(v) for v in inputs], exp_degree) for inputs in point]
        acc = values[0]
        if prog_einsum.reduce != "none":
            for v in values[1:]:
                acc = alu(REDUCE_ALU[prog_einsum.reduce], acc, v)
        out.append(acc)
    return out


def run_vector(dut, program: int, operands: np.ndarray) -> tuple[int, list[int]]:
    """operands[point, input point, einsum input] (Q16 ints). Output point i runs on
    lane i mod lanes. Returns (cycles from start to the last result written, results)."""
    points, reduce_len, n_in = operands.shape
    lanes = dut.lanes
    rounds = -(-points // lanes)
    items = []
    for r in range(rounds):
        for i in range(reduce_len):
            x = [[int(operands[r * lanes + ln, i, k]) if r * lanes + ln < points and k < n_in else 0
                  for k in range(dut.n_inputs)] for ln in range(lanes)]
            items.append({"x": x, "lane_valid": [int(r * lanes + ln < points) for ln in range(lanes)],
                          "first": i == 0, "last": i == reduce_len - 1})
    results: dict[int, int] = {}
    done = {}
    cpp = dut.programs[program].cycles_per_point
    limit = len(items) * cpp + dut.pipeline_depth + 5

    async def bench(ctx):
        cycle = item = 0
        round_out = 0
        ctx.set(dut.program, program)
        while len(results) < points:
            if cycle > limit:
                raise CosimMismatch(f"1D unit gave {len(results)} of {points} results")
            ctx.set(dut.valid, item < len(items))
            if item < len(items):
                it = items[item]
                ctx.set(dut.x, it["x"])
                ctx.set(dut.lane_valid, it["lane_valid"])
                ctx.set(dut.first, it["first"])
                ctx.set(dut.last, it["last"])
            take = ctx.get(dut.take)
            valid = ctx.get(dut.out_valid)
            if any(valid[ln] for ln in range(lanes)):
                out = ctx.get(dut.out)
                for ln in range(lanes):
                    if valid[ln]:
                        results[round_out * lanes + ln] = int(out[ln])
                round_out += 1
                done["cycles"] = cycle + 1
            await ctx.tick()
            cycle += 1
            item += bool(take)

    _simulate(dut, bench)
    return done["cycles"], [results[i] for i in range(points)]


def check_vector(dut, program: int, einsum, arch, operands: np.ndarray) -> int:
    """Outputs equal the golden model; cycles equal sim.vector_engine's lane model
    (lane_cycles + pipeline_depth, with cycles_per_point of the Einsum on `arch`) and
    sim.vector_reference.run_lanes."""
    from sim.vector_engine import cycles_per_point, lane_cycles
    from sim.vector_reference import run_lanes

    cycles, out = run_vector(dut, program, operands)
    want = golden_vector(einsum, operands, dut.exp_degree)
    if out != want:
        bad = next(i for i, (a, b) in enumerate(zip(out, want)) if a != b)
        raise CosimMismatch(f"1D unit, Einsum {einsum.name}, output point {bad}: RTL {out[bad]}, "
                            f"golden model {want[bad]}")
    points, reduce_len, _ = operands.shape
    cpp = cycles_per_point(einsum, arch)
    unit = arch.array1d
    model = lane_cycles(points, reduce_len, cpp, unit.lanes) + unit.pipeline_depth
    reference = run_lanes(points, reduce_len, cpp, unit.lanes, unit.pipeline_depth)
    if not cycles == model == reference:
        raise CosimMismatch(f"1D unit, Einsum {einsum.name} ({points} points x {reduce_len}, "
                            f"{cpp} cycles/point): RTL {cycles} cycles, sim.vector_engine {model}, "
                            f"sim.vector_reference {reference}")
    return cycles


def fusemax_vector_einsums(unit, **dims) -> list:
    """The element-wise/reduction Einsums of FuseMax's 1-pass cascade the lane ALU of
    Array1D `unit` can run (all but the final division), from workloads.attention."""
    from workloads.attention import one_pass

    from rtl.vector1d import UnsupportedOp, compile_einsum

    out = []
    for e in one_pass(**dims).einsums:
        if e.is_contraction:
            continue
        try:
            compile_einsum(e, unit)
        except UnsupportedOp:
            continue
        out.append(e)
    return out


def check_vector_demo(dut, rng, arch=None) -> str:
    """One random case per program of a SoftmaxLanes built from `arch` (default preset)."""
    from arch import load
    from rtl.vector1d import to_q16

    arch = arch or load("default").with_changes(**{"VEC.lanes": dut.lanes})
    parts = []
    for pi, (prog, einsum) in enumerate(zip(dut.programs, dut.einsums)):
        points, reduce_len = int(rng.integers(1, 2 * dut.lanes + 2)), int(rng.integers(1, 5))
        if einsum.reduce == "none":
            reduce_len = 1
        operands = np.vectorize(to_q16)(rng.uniform(-8, 8, (points, reduce_len, prog.inputs)))
        cycles = check_vector(dut, pi, einsum, arch, operands)
        parts.append(f"{prog.name} {points}x{reduce_len}: {cycles}")
    return "cycles per Einsum (RTL = sim): " + ", ".join(parts)


# ---------------------------------------------------------------- PIM per-bank MAC

def run_bank_mac(dut, columns, vectors, issue_cycles) -> tuple[int, int]:
    """One accumulation: MAC commands at `issue_cycles` (the first is 0). Returns (the
    accumulator, the first cycle after the last command at which `readable` is high)."""
    fmt: MacFormat = dut.fmt
    commands = dict(zip(issue_cycles, zip(columns, vectors)))
    out = {}

    async def bench(ctx):
        cycle = 0
        while True:
            if cycle > issue_cycles[-1] + dut.pipeline_latency + 5:
                raise CosimMismatch("bank MAC never became readable")
            cmd = commands.get(cycle)
            ctx.set(dut.cmd, cmd is not None)
            if cmd is not None:
                ctx.set(dut.column, encode(fmt, cmd[0]))
                ctx.set(dut.vector, encode(fmt, cmd[1]))
                ctx.set(dut.first, cycle == 0)
            if cycle > issue_cycles[-1] and ctx.get(dut.readable):
                out["acc"], out["cycle"] = wrap(ctx.get(dut.acc), fmt.acc_bits), cycle
                return
            await ctx.tick()
            cycle += 1

    _simulate(dut, bench)
    return out["acc"], out["cycle"]


def check_bank_mac(dut, columns, vectors, issue_cycles) -> int:
    """Accumulator equals the golden dot product (and sim.pim.bank_mac's reference);
    the readable cycle equals sim.pim.bank_mac.ready_cycle and its cycle-stepped unit."""
    from sim.pim.bank_mac import BankMacConfig, ready_cycle
    from sim.pim.bank_mac import simulate as bank_reference

    acc, cycle = run_bank_mac(dut, columns, vectors, issue_cycles)
    want = golden_dot(dut.fmt, np.concatenate(columns), np.concatenate(vectors))
    if acc != want:
        raise CosimMismatch(f"bank MAC: RTL accumulator {acc}, golden model {want}")
    cfg = BankMacConfig(lanes=dut.lanes, operand_bits=dut.fmt.bits, col_latency=dut.col_latency,
                        mult_latency=dut.mult_latency, tree_latency=dut.tree_latency,
                        acc_latency=dut.acc_latency, issue_interval=1)
    model = ready_cycle(list(issue_cycles), cfg)
    ref_value, ref_cycle = (bank_reference([list(map(int, c)) for c in columns],
                                           [list(map(int, v)) for v in vectors], list(issue_cycles), cfg)
                            if not dut.fmt.is_float else (want, model))
    if not dut.fmt.is_float and wrap(ref_value, dut.fmt.acc_bits) != acc:
        raise CosimMismatch(f"bank MAC: RTL accumulator {acc}, sim.pim.bank_mac {ref_value}")
    if not cycle == model == ref_cycle:
        raise CosimMismatch(f"bank MAC, commands at {list(issue_cycles)}: RTL readable at cycle "
                            f"{cycle}, sim.pim.bank_mac.ready_cycle {model}, reference {ref_cycle}")
    return cycle


def check_bank_mac_demo(dut, rng) -> str:
    n = int(rng.integers(1, 9))
    gaps = rng.integers(1, 4, size=n - 1)
    issue = [0] + np.cumsum(gaps).tolist()
    cols = [random_operands(dut.fmt, rng, dut.lanes) for _ in range(n)]
    vecs = [random_operands(dut.fmt, rng, dut.lanes) for _ in range(n)]
    cycle = check_bank_mac(dut, cols, vecs, issue)
    return f"{n} MAC commands at cycles {issue}: readable at cycle {cycle} (RTL = sim)"


# ---------------------------------------------------------------- tile engine (whole GEMM)

@dataclass
class EngineRun:
    cycles: int          # busy cycles, as the engine's CYCLES register counts them
    bench_cycles: int    # the same, counted by the testbench from `busy`
    outputs: np.ndarray  # O[B, M, N] read back over the host bus
    load_cycles: int     # host bus cycles spent loading the banks (not in `cycles`)
    vector: dict = field(default_factory=dict)  # 1D-unit results by tensor (flat, Q16)


def engine_case(workload: str, arch_file: str, mapping_file: str | None, einsum_name: str | None,
                architecture=None):
    """`sim run` (sim.run) of a workload on an architecture file with a mapping file (or
    the mapper's choice): the contraction's Einsum, its result, and the 1D-unit Einsums
    that follow it (rtl.cascade_engine.softmax_steps on `architecture`, empty without
    it) as (Einsum, result) pairs while sim ran them on the 1D unit."""
    import sim
    import workloads

    cascade = workloads.load(workload)
    result = sim.run(workload, arch_file, mapping_path=mapping_file)
    gemms = [e for e in cascade.einsums if e.is_contraction]
    if einsum_name is not None:
        gemms = [e for e in gemms if e.name == einsum_name]
    if not gemms:
        raise ValueError(f"workload '{cascade.name}' has no contraction"
                         + (f" named '{einsum_name}'" if einsum_name else ""))
    einsum = gemms[0]
    by_name = {r.name: r for r in result.einsums}
    vector = []
    if architecture is not None:
        from rtl.cascade_engine import softmax_steps

        for e in softmax_steps(cascade, einsum, architecture):
            if getattr(by_name[e.name].mapping, "role", "") != "array1d":
                break
            vector.append((e, by_name[e.name]))
    return einsum, by_name[einsum.name], vector


def engine_model_cycles(plan, einsum, arch, mapping) -> tuple[int, int]:
    """(cycles, ideal cycles) sim gives this GEMM with the buffer feeding the array and
    no DRAM: the sum over the mapping's buffer tiles of sim.array2d.array_cycles (what
    sim.gemm_engine hands the tile pipeline as each tile's compute time). The ideal sum
    is checked against sim.gemm_engine.run_gemm's compute_cycles (`sim run --json`)."""
    import itertools

    from sim.gemm_engine import run_gemm

    R, C, bits = plan.R, plan.C, plan.fmt.bits
    cost = {}
    total = ideal = 0
    groups = plan.groups
    for idx in itertools.product(*(range(groups[g].count) for g in plan.loop_order)):
        at = dict(zip(plan.loop_order, idx))
        ext = {g: plan.extent(g, at[g] == groups[g].count - 1) for g in groups}
        key = tuple(ext[g] for g in ("B", "M", "N", "K"))
        if key not in cost:
            folds = Folds.grid(ext[plan.RG], ext[plan.CG], ext[plan.T], R, C, repeat=ext["B"])
            cost[key] = array_cycles(plan.dataflow, R, C, folds, (bits, bits), plan.bw_bits)
        total += cost[key].cycles
        ideal += cost[key].ideal_cycles
    sim_compute = run_gemm(einsum, arch, mapping).compute_cycles
    if ideal != sim_compute:
        raise CosimMismatch(f"tile walk gives {ideal} compute cycles, sim.gemm_engine {sim_compute}")
    return total, ideal


def run_engine(dut, A: np.ndarray, W: np.ndarray, limit: int = 10**7) -> EngineRun:
    """Load A [B,M,K] and W [B,K,N] over the host bus, start, wait for done, read the
    cycle register and every output back."""
    from rtl.bus import (BANK_SHIFT, REG_CTRL, REG_CYCLES, REGION, REGION_CTRL, REGION_SHIFT,
                         REGION_VECTOR)

    plan = dut.plan
    images = {op: plan.pack(op, x) for op, x in (("A", A), ("W", W))}
    words = plan.output_words()
    out = np.zeros(tuple(plan.groups[g].size for g in ("B", "M", "N")), dtype=object)
    res = {}

    def bus(region, bank, word):
        return (region << REGION_SHIFT) | (bank << BANK_SHIFT) | word

    async def bench(ctx):
        loads = 0
        for op, banks in images.items():
            for b, image in enumerate(banks):
                for w, v in enumerate(image):
                    if v:  # the banks power up zeroed (FPGA block RAM initial contents)
                        ctx.set(dut.addr, bus(REGION[op], b, w))
                        ctx.set(dut.wdata, v)
                        ctx.set(dut.we, 1)
                        await ctx.tick()
                        loads += 1
        ctx.set(dut.addr, bus(REGION_CTRL, 0, REG_CTRL))
        ctx.set(dut.wdata, 1)
        ctx.set(dut.we, 1)
        await ctx.tick()
        ctx.set(dut.we, 0)
        busy = 0
        while not ctx.get(dut.done):
            busy += ctx.get(dut.busy)
            if busy > limit:
                raise CosimMismatch(f"engine still busy after {limit} cycles "
                                    f"({plan.mapping.describe()})")
            await ctx.tick()
        ctx.set(dut.addr, bus(REGION_CTRL, 0, REG_CYCLES))
        ctx.set(dut.re, 1)
        await ctx.tick()
        res["cycles"] = int(ctx.get(dut.rdata))
        for pos, bank, word in words:
            ctx.set(dut.addr, bus(REGION["O"], bank, word))
            await ctx.tick()
            out[pos] = wrap(int(ctx.get(dut.rdata)), plan.fmt.acc_bits)
        for k, st in enumerate(getattr(dut, "steps", ())):  # the 1D unit's results
            values = []
            for w in range(st.points):
                ctx.set(dut.addr, bus(REGION_VECTOR, k, w))
                await ctx.tick()
                values.append(wrap(int(ctx.get(dut.rdata)), 32))
            vector[st.einsum.output.tensor.name] = values
        res["bench"], res["loads"] = busy, loads

    vector = {}
    _simulate(dut, bench)
    return EngineRun(res["cycles"], res["bench"], out, res["loads"], vector)


def golden_gemm(fmt: MacFormat, A: np.ndarray, W: np.ndarray) -> np.ndarray:
    """O[b] = A[b] @ W[b], exact accumulator integers."""
    if not fmt.is_float:
        exact = np.einsum("bmk,bkn->bmn", A.astype(object), W.astype(object))
        return np.vectorize(lambda v: wrap(int(v), fmt.acc_bits), otypes=[object])(exact)
    return np.stack([golden_matmul(fmt, a, w) for a, w in zip(A, W)])


def check_engine(dut, einsum, arch, mapping, A, W) -> tuple[EngineRun, int]:
    """Outputs equal the exact golden GEMM; the engine's cycles (its register and the
    testbench's count) equal engine_model_cycles. Returns (run, sim's compute_cycles)."""
    model, ideal = engine_model_cycles(dut.plan, einsum, arch, mapping)
    run = run_engine(dut, A, W, limit=2 * model + 100)
    want = golden_gemm(dut.fmt, A, W)
    if not (run.outputs == want).all():
        bad = tuple(int(i) for i in np.argwhere(run.outputs != want)[0])
        raise CosimMismatch(f"engine output {bad}: RTL {run.outputs[bad]}, golden {want[bad]} "
                            f"({mapping.describe()})")
    if not run.cycles == run.bench_cycles == model:
        raise CosimMismatch(f"engine {dut.rows}x{dut.cols} {mapping.describe()}, GEMM "
                            f"{dict(einsum.gemm_shape())}: RTL {run.cycles} cycles (testbench "
                            f"{run.bench_cycles}), sim {model} ({ideal} compute + "
                            f"{model - ideal} buffer stalls)")
    return run, ideal


def cosim_engine(dut, einsum, arch, mapping, sim_cycles: int, cases: int = 1, seed: int = 0,
                 vector=()) -> list[str]:
    """`sim rtl engine --cosim`: random operands through the engine, one line per case
    (`vector`: the 1D-unit Einsums and mappings of a CascadeEngine)."""
    rng = np.random.default_rng(seed)
    size = einsum.gemm_shape()
    lines = []
    for _ in range(cases):
        A = random_operands(dut.fmt, rng, (size["B"], size["M"], size["K"]))
        W = random_operands(dut.fmt, rng, (size["B"], size["K"], size["N"]))
        if vector:
            run, per = check_cascade(dut, einsum, arch, mapping, vector, A, W)
            gemm = run.cycles - sum(per)
            lines.append(f"{run.outputs.size:,} GEMM outputs and "
                         + ", ".join(f"{len(run.vector[e.output.tensor.name]):,} {e.name}"
                                     for e, _ in vector)
                         + f" bit-exact; {run.cycles:,} cycles = sim's {gemm:,} (GEMM) + "
                         + " + ".join(f"{c:,} ({e.name})" for c, (e, _) in zip(per, vector)))
            continue
        run, ideal = check_engine(dut, einsum, arch, mapping, A, W)
        lines.append(f"{run.outputs.size:,} outputs bit-exact; {run.cycles:,} cycles = sim's "
                     f"{ideal:,} compute + {run.cycles - ideal:,} buffer-port stall cycles "
                     f"(sim run with DRAM: {sim_cycles:,}); host loads took {run.load_cycles:,} "
                     f"bus cycles")
    return lines


# ---------------------------------------------------------------- GEMM then the 1D unit

def golden_cascade(steps, gemm_name: str, gemm_out: np.ndarray, exp_degree: int) -> dict:
    """Each 1D-unit Einsum's output (flat, Q16 ints) after the GEMM, whose 32-bit
    accumulators enter as Q15.16 words (rtl/cascade_engine.py)."""
    from rtl.vector1d import wrap32

    values = {gemm_name: np.array([wrap32(int(v)) for v in gemm_out.ravel()], dtype=object)}
    for st in steps:
        e = st.einsum
        sizes = e.rank_sizes
        out_shape = tuple(sizes[r] for r in e.output.ranks)
        red_shape = tuple(sizes[r] for r in e.reduced_ranks)
        grid = {}
        for names, shape in ((e.output.ranks, out_shape), (e.reduced_ranks, red_shape)):
            for axis, rank in enumerate(names):
                grid[rank] = np.indices(shape)[axis].ravel() if shape else np.zeros(1, int)
        o_idx = {r: np.repeat(grid[r], max(1, math.prod(red_shape))) for r in e.output.ranks}
        r_idx = {r: np.tile(grid[r], max(1, math.prod(out_shape))) for r in e.reduced_ranks}
        idx = o_idx | r_idx
        operands = []
        for ref in e.inputs:
            flat = sum(idx[r] * s for r, s in st.strides(ref).items()) if ref.ranks else 0
            operands.append(values[ref.tensor.name][flat])
        ops = np.stack(operands, axis=-1).reshape(st.points, st.reduce_len, len(e.inputs))
        values[e.output.tensor.name] = np.array(golden_vector(e, ops, exp_degree), dtype=object)
    return values


def cascade_model_cycles(dut, einsum, arch, mapping, vector) -> tuple[int, list[int]]:
    """(total, per 1D Einsum) cycles sim gives the GEMM then the 1D Einsums, one after
    another, with the buffer level modelled and DRAM outside: engine_model_cycles plus
    each Einsum's compute_cycles from sim.vector_engine (its chunks' lane cycles and the
    lane pipeline)."""
    from sim.vector_engine import run_vector as sim_vector

    gemm, _ = engine_model_cycles(dut.plan, einsum, arch, mapping)
    per = [sim_vector(e, arch, mp).compute_cycles for e, mp in vector]
    return gemm + sum(per), per


def check_cascade(dut, einsum, arch, mapping, vector, A, W) -> tuple[EngineRun, list[int]]:
    """The GEMM's outputs and every 1D Einsum's equal the golden models bit for bit; the
    cycles from start to done (register and testbench) equal cascade_model_cycles."""
    model, per = cascade_model_cycles(dut, einsum, arch, mapping, vector)
    run = run_engine(dut, A, W, limit=2 * model + 100)
    gemm_want = golden_gemm(dut.fmt, A, W)
    if not (run.outputs == gemm_want).all():
        bad = tuple(int(i) for i in np.argwhere(run.outputs != gemm_want)[0])
        raise CosimMismatch(f"engine output {bad}: RTL {run.outputs[bad]}, golden {gemm_want[bad]}")
    want = golden_cascade(dut.steps, einsum.output.tensor.name, gemm_want,
                          dut.lanes_unit.exp_degree)
    for st in dut.steps:
        name = st.einsum.output.tensor.name
        got, ref = run.vector[name], list(want[name])
        if got != ref:
            bad = next(i for i, (a, b) in enumerate(zip(got, ref)) if a != b)
            raise CosimMismatch(f"1D unit, Einsum {st.einsum.name} point {bad}: RTL {got[bad]}, "
                                f"golden {ref[bad]}")
    if not run.cycles == run.bench_cycles == model:
        raise CosimMismatch(f"GEMM + 1D unit: RTL {run.cycles} cycles (testbench "
                            f"{run.bench_cycles}), sim {model} (1D Einsums {per})")
    return run, per
