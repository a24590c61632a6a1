"""One serving setup (model, architecture, requests, policy, cost model) and what
`sim serve` does with it: run it, search its capacity, print the results."""

from __future__ import annotations

import copy

from yamlspec import SpecError

GRID_PER_OCTAVE = 4  # grid points per doubling of each part's size (tests/test_serve.py)
CAPACITY_STEPS = 12   # bisection steps of --find-capacity


class Session:
    def __init__(self, workload: str, architecture, trace: str, policy: str = "chunked",
                 max_batch: int | None = None, token_budget: int | None = None,
                 dram_gib: float | None = None, exact: bool = False,
                 overrides: dict | None = None):
        """`architecture`: an Architecture, or a preset name or file (None: default);
        `overrides`: top-level keys of the model file replaced (as workloads.load)."""
        import arch
        from sim.serve import kv_capacity_tokens, model_file, requests
        from sim.serve.cost import CostModel
        from sim.serve.schedulers import SCHEDULERS

        self.spec = model_file(workload, overrides)
        self.arch = (architecture if isinstance(architecture, arch.Architecture)
                     else arch.load(architecture))
        self.source = requests.load(trace)
        self.trace = trace
        self.policy_name = policy
        cls = SCHEDULERS.get(policy, None, "--policy")
        options = {k: v for k, v in (("max_batch", max_batch), ("token_budget", token_budget))
                   if v is not None}
        self.make_policy = lambda: cls(**options)
        self.kv = kv_capacity_tokens(self.spec, self.arch, dram_gib)
        self.cost = CostModel(self.spec.model, self.arch, self.spec.format,
                              per_octave=None if exact else GRID_PER_OCTAVE)
        self.last_run = None

    def requests(self, rate: float | None = None) -> list:
        from sim.serve.requests import Generator, generate

        if isinstance(self.source, Generator):
            return generate(self.source, rate)
        if rate is not None:
            raise SpecError("--rate and --find-capacity need a generator trace (top-level "
                            "`generator:`), not a list of requests", self.trace)
        return copy.deepcopy(self.source)

    def run(self, rate: float | None = None, slo=None, progress: bool = False) -> dict:
        from sim.serve.metrics import summarize
        from sim.serve.server import serve

        reqs = self.requests(rate)
        with _progress_bar(reqs, progress) as tick:
            run = serve(reqs, self.make_policy(), self.cost, self.kv["tokens"], tick)
        self.last_run = run
        out = summarize(run, slo)
        out.update(workload=self.spec.model.name, arch=self.arch.name,
                   policy=self.policy_name, rate_per_s=rate or getattr(self.source,
                                                                      "rate_per_s", None),
                   kv_cache=self.kv, shapes_simulated=self.cost.simulated,
                   cost_grid_per_octave=self.cost.per_octave)
        return out


class _progress_bar:
    """A rich progress bar over simulated time, shown for runs of many requests."""

    def __init__(self, reqs: list, show: bool):
        self.show = show and len(reqs) > 2000
        self.end = max((r.arrival for r in reqs), default=0.0) or 1.0

    def __enter__(self):
        if not self.show:
            return None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        self.task = self.bar.add_task("simulated time", total=self.end)
        return lambda now: self.bar.update(self.task, completed=min(now, self.end))

    def __exit__(self, *exc):
        if self.show:
            self.bar.stop()


SWEEP_OPTIONS = ("trace", "policy", "max_batch", "token_budget", "rate", "dram_gib", "slo")


def sweep_metrics(workload: str, overrides: dict, architecture) -> dict:
    """A sweep point's metrics: the model file with `overrides`, whose `serve:` entry
    holds the serving options (SWEEP_OPTIONS; `trace` required). For the sweep's plots,
    `seconds` is the mean end-to-end latency and `energy_j` the energy per output token."""
    from sim.serve.metrics import SLO

    options = dict(overrides)
    serving = options.pop("serve")
    unknown = sorted(set(serving) - set(SWEEP_OPTIONS)) if isinstance(serving, dict) else []
    if not isinstance(serving, dict) or "trace" not in serving or unknown:
        raise SpecError(f"a serving point's `serve:` needs `trace` and takes only "
                        f"{', '.join(SWEEP_OPTIONS)} (got {serving!r})", workload, "serve")
    setup = Session(workload, architecture, serving["trace"], serving.get("policy", "chunked"),
                    serving.get("max_batch"), serving.get("token_budget"),
                    serving.get("dram_gib"), overrides=options)
    slo = SLO.parse(serving["slo"]) if serving.get("slo") else None
    r = setup.run(serving.get("rate"), slo)
    row = {"workload_name": r["workload"], "arch_name": r["arch"],
           "seconds": r["e2e_s"]["mean"], "energy_j": r["energy_per_token_j"]}
    for key in ("ttft_s", "tbt_s", "e2e_s"):
        row.update({f"{key[:-2]}_{p}_s": v for p, v in r[key].items()})
    for key in ("tokens_per_s", "requests_per_s", "energy_per_token_j", "busy_fraction",
                "array_utilization", "kv_peak_tokens", "kv_capacity_tokens", "preemptions"):
        row[key] = r[key]
    if slo is not None:
        row["slo_attained"] = r["slo"]["attained"]
        row["goodput_requests_per_s"] = r["slo"]["goodput_requests_per_s"]
    return row


def find_capacity(setup: Session, slo, attain: float, progress: bool = False) -> dict:
    """The highest arrival rate at which `attain` of the requests meet `slo`: double
    the rate until it fails, then bisect (CAPACITY_STEPS steps)."""
    from sim.serve.requests import Generator

    if not isinstance(setup.source, Generator):
        raise SpecError("--find-capacity needs a generator trace (top-level `generator:`)",
                        setup.trace)
    tried = []

    def ok(rate):
        result = setup.run(rate, slo)
        tried.append({"rate_per_s": rate, "attained": result["slo"]["attained"],
                      "ttft_p99_s": result["ttft_s"]["p99"], "tbt_p99_s": result["tbt_s"]["p99"]})
        if progress:
            from rich.console import Console
            Console(stderr=True).print(f"rate {rate:.4g}/s: {result['slo']['attained']:.1%} "
                                       f"meet the SLO", highlight=False)
        return result["slo"]["attained"] >= attain

    low, high = 0.0, setup.source.rate_per_s
    while ok(high):
        low, high = high, high * 2
        if high > 1e5:
            break
    for _ in range(CAPACITY_STEPS):
        mid = (low + high) / 2
        if ok(mid):
            low = mid
        else:
            high = mid
    return {"workload": setup.spec.model.name, "arch": setup.arch.name,
            "policy": setup.policy_name, "slo": {"ttft_s": slo.ttft_s, "tbt_p99_s": slo.tbt_s},
            "attain": attain, "capacity_rate_per_s": low, "first_failing_rate_per_s": high,
            "tried": tried}


def print_summary(r: dict):
    from rich.console import Console
    from rich.table import Table

    from sim.units import fmt

    console = Console()
    console.print(f"[bold]{r['workload']}[/] on [bold]{r['arch']}[/], policy "
                  f"[bold]{r['policy']}[/]: {r['requests']:,} requests, "
                  f"{r['output_tokens']:,} output tokens over {fmt(r['simulated_s'], 's')} "
                  f"({r['iterations']:,} iterations)", highlight=False)
    table = Table(title="latency", title_justify="left")
    for col in ("", "p50", "p90", "p99", "mean"):
        table.add_column(col, justify="right" if col else "left")
    for key, label in (("ttft_s", "time to first token"), ("tbt_s", "time between tokens"),
                       ("e2e_s", "end to end")):
        table.add_row(label, *(fmt(r[key][p], "s") for p in ("p50", "p90", "p99", "mean")))
    console.print(table)
    totals = Table(show_header=False, box=None)
    totals.add_row("throughput", f"{r['tokens_per_s']:,.1f} tokens/s, "
                                 f"{r['requests_per_s']:,.2f} requests/s")
    totals.add_row("energy per token", fmt(r["energy_per_token_j"], "J"))
    totals.add_row("busy", f"{r['busy_fraction']:.1%} of the time; 2D array "
                           f"{r['array_utilization']:.1%} utilized while busy")
    kv = r["kv_cache"]
    totals.add_row("KV cache", f"{r['kv_capacity_tokens']:,} tokens (DRAM "
                   f"{fmt(kv['dram_bytes'], 'B')} - weights {fmt(kv['weight_bytes'], 'B')}, "
                   f"{kv['kv_bytes_per_token']:,} B/token); peak "
                   f"{r['kv_peak_tokens'] / max(1, r['kv_capacity_tokens']):.1%}; "
                   f"{r['preemptions']} preemptions")
    if "slo" in r:
        s = r["slo"]
        totals.add_row("SLO", f"{s['attained']:.1%} of requests meet it; goodput "
                              f"{s['goodput_requests_per_s']:,.2f} requests/s")
    console.print(totals)


def print_capacity(found: dict):
    from rich.console import Console

    slo = found["slo"]
    Console().print(f"[bold]{found['workload']}[/] on [bold]{found['arch']}[/] "
                    f"({found['policy']}): capacity {found['capacity_rate_per_s']:.4g} "
                    f"requests/s with {found['attain']:.0%} of requests meeting "
                    f"TTFT <= {slo['ttft_s']} s, p99 TBT <= {slo['tbt_p99_s']} s "
                    f"(fails at {found['first_failing_rate_per_s']:.4g}/s)", highlight=False)
