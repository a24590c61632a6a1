"""Measure GPT-2 decode on this machine's CPU with PyTorch eager (Hugging Face
transformers, random weights built from a config, nothing downloaded), to check the
CPU baseline model of sim/roofline.py. Not part of CI; it needs torch and transformers,
which the project does not depend on:

    ~/.pyenv/versions/3.11.7/bin/python -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.13.0 transformers
    /tmp/torchenv/bin/python benchmarks/measure_cpu_gpt2.py --out cpu_gpt2.json

It prints and writes (JSON):
  * ms per generated token (one decode step: forward with the KV cache + greedy argmax)
    at batch 1 for GPT-2 small/medium/large/XL, after a prompt of --prompt tokens; the
    min and the median over --steps steps (the machine may be shared: the min is the
    least disturbed step);
  * the micro-benchmarks the CPU model takes its constants from: fp32 GEMV bandwidth
    (a 1 GiB matrix), timed just before every decode step so it sees the same machine
    load (other users' memory traffic shares the bandwidth), the framework's operators
    per decode step (torch.profiler: top-level aten ops) and the time per operator of a
    model whose tensors are tiny (so the step time is dispatch only).
Compare with: python benchmarks/compare_cpu_model.py cpu_gpt2.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

# The calling thread's CPU clock (with one intra-op thread every operator runs on it):
# time the thread was descheduled for another user's process is not counted; memory
# stalls are. --clock wall uses the wall clock instead.
CLOCK = time.thread_time

SIZES = {  # Hugging Face GPT-2 configurations (n_layer, n_embd, n_head)
    "gpt2-small": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}


def build(layers: int, d: int, heads: int, vocab: int = 50257):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=layers, n_embd=d, n_head=heads, vocab_size=vocab, n_positions=1024)
    torch.manual_seed(0)
    return GPT2LMHeadModel(cfg).eval()


def decode_times(model, prompt: int, steps: int, vocab: int, between=None) -> list[float]:
    """Seconds of each decode step after a `prompt`-token prefill (the KV cache grows
    by one per step); `between()` runs before each step (an interleaved micro-benchmark
    sees the same machine load as the steps)."""
    import torch

    ids = torch.randint(0, vocab, (1, prompt))
    times = []
    with torch.inference_mode():
        out = model(ids, use_cache=True)
        past = out.past_key_values
        tok = out.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(steps):
            if between:
                between()
            t0 = CLOCK()
            out = model(tok, past_key_values=past, use_cache=True)
            past = out.past_key_values
            tok = out.logits[:, -1].argmax(-1, keepdim=True)
            times.append(CLOCK() - t0)
    return times


def count_ops(model, prompt: int, vocab: int) -> int:
    """Top-level aten operators of one decode step (each one framework dispatch)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    ids = torch.randint(0, vocab, (1, prompt))
    with torch.inference_mode():
        out = model(ids, use_cache=True)
        past, tok = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            out = model(tok, past_key_values=past, use_cache=True)
            out.logits[:, -1].argmax(-1, keepdim=True)
    n = 0
    for e in prof.events():
        if not e.name.startswith("aten::"):
            continue
        p = e.cpu_parent
        while p is not None and not p.name.startswith("aten::"):
            p = p.cpu_parent
        n += p is None
    return n


class Gemv:
    """fp32 GEMV bandwidth, the framework's way (addmm of a [1, K] row by a [K, N]
    weight, as GPT-2's Conv1D layers do) over a 1 GiB matrix."""

    def __init__(self, gib: float = 1.0):
        import torch

        n = 32768
        k = int(gib * 2**30 / 4 / n)
        self.w, self.x, self.b = torch.randn(k, n), torch.randn(1, k), torch.randn(n)
        self.times: list[float] = []

    def __call__(self) -> None:
        import torch

        t0 = CLOCK()
        torch.addmm(self.b, self.x, self.w)
        self.times.append(CLOCK() - t0)

    def result(self) -> dict:
        nbytes = self.w.numel() * 4
        return {"bytes": nbytes, "gb_s_best": nbytes / min(self.times) / 1e9,
                "gb_s_median": nbytes / statistics.median(self.times) / 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--models", nargs="*", default=list(SIZES))
    ap.add_argument("--threads", type=int, default=1,
                    help="intra-op threads (default 1: on a shared machine a parallel op waits "
                         "for its slowest thread, which another user's process may hold; and "
                         "the thread CPU clock times one thread)")
    ap.add_argument("--clock", choices=("thread", "wall"), default="thread")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    global CLOCK
    if a.clock == "wall":
        CLOCK = time.perf_counter
    import torch
    import transformers

    torch.set_num_threads(a.threads)

    res = {"torch": torch.__version__, "transformers": transformers.__version__,
           "threads": a.threads, "clock": a.clock, "cpu": platform.processor() or platform.machine(),
           "prompt": a.prompt, "steps": a.steps, "models": {}}
    try:
        res["cpu"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                          if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gemv = Gemv()
    # dispatch: a GPT-2 small-shaped graph (12 layers) with tiny tensors
    tiny = build(12, 64, 2, vocab=64)
    ops = count_ops(tiny, a.prompt, 64)
    t = decode_times(tiny, a.prompt, 40, 64)[5:]
    ops1 = count_ops(build(1, 64, 2, vocab=64), a.prompt, 64)
    res["dispatch"] = {"ops_per_step_12_layers": ops, "ops_per_layer": (ops - ops1) / 11,
                       "ops_outside_layers": ops1 - (ops - ops1) / 11,
                       "us_per_op_min": min(t) / ops * 1e6,
                       "us_per_op_median": statistics.median(t) / ops * 1e6}
    print(f"dispatch: {ops} ops per step, {res['dispatch']['ops_per_layer']:.1f} per layer, "
          f"{res['dispatch']['us_per_op_min']:.2f} us/op (min), "
          f"{res['dispatch']['us_per_op_median']:.2f} (median)", flush=True)
    del tiny
    for name in a.models:
        layers, d, heads = SIZES[name]
        t0 = time.perf_counter()
        m = build(layers, d, heads)
        built = time.perf_counter() - t0
        gemv.times = []
        ts = decode_times(m, a.prompt, a.steps, 50257, gemv)[2:]  # first steps warm up
        bw = gemv.result()
        r = {"ms_min": min(ts) * 1e3, "ms_median": statistics.median(ts) * 1e3,
             "gemv_gb_s_best": bw["gb_s_best"], "gemv_gb_s_median": bw["gb_s_median"],
             "kv_len_first": a.prompt + 2, "kv_len_last": a.prompt + a.steps - 1,
             "ops_per_step": count_ops(m, 8, 50257), "build_s": built,
             "params": sum(p.numel() for p in m.parameters())}
        res["models"][name] = r
        print(f"{name}: {r['ms_min']:.1f} ms/token min, {r['ms_median']:.1f} median "
              f"({r['ops_per_step']} ops/step); GEMV beside it {bw['gb_s_best']:.1f} GB/s best, "
              f"{bw['gb_s_median']:.1f} median", flush=True)
        del m
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
