"""`sim serve MODEL.yaml --trace TRACE`: simulate an inference server on an architecture."""

from __future__ import annotations

import json

import click

from yamlspec import COMMANDS, SpecError


@COMMANDS.register("serve")
@click.command("serve")
@click.argument("workload", type=click.Path(dir_okay=False))
@click.option("--arch", "arch_name", default=None, metavar="NAME|FILE",
              help="Architecture: a preset name or a YAML file (default: 'default').")
@click.option("--trace", "trace", required=True, type=click.Path(dir_okay=False),
              help="Requests: a CSV or YAML trace (arrival_s, prompt_tokens, "
                   "output_tokens) or a YAML generator (see docs/serve.md).")
@click.option("--policy", default="chunked", show_default=True,
              help="Batching policy: static, prepack, continuous, chunked.")
@click.option("--max-batch", type=click.IntRange(1, 1 << 16), default=None,
              help="Most requests in a batch (default: the policy's).")
@click.option("--token-budget", type=click.IntRange(1, 1 << 20), default=None,
              help="Tokens per iteration (chunked), per prefill (continuous) or per "
                   "packed sequence (prepack); default: the policy's.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True, max=1e6), default=None,
              help="Arrival rate in requests/s, replacing a generator's rate_per_s.")
@click.option("--dram-gib", type=click.FloatRange(min=0, min_open=True, max=1 << 20),
              default=None, help="DRAM capacity (default: from the DRAM's type).")
@click.option("--exact", is_flag=True,
              help="Simulate every iteration shape exactly (no interpolation between "
                   "grid points; slow on long traces).")
@click.option("--slo", default=None, metavar="ttft=S,tbt=S",
              help="Latency targets: time to first token, and each request's p99 time "
                   "between tokens (seconds, or with suffix ms); reports goodput.")
@click.option("--find-capacity", is_flag=True,
              help="Search (bisection) the highest arrival rate at which --attain of the "
                   "requests meet --slo (needs a generator).")
@click.option("--attain", type=click.FloatRange(0, 1, min_open=True), default=0.9,
              show_default=True, help="Fraction of requests that must meet the SLO.")
@click.option("--cdf", "cdf_file", default=None, type=click.Path(dir_okay=False),
              help="Also write a latency CDF plot (PNG and SVG) to this path.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def serve(workload, arch_name, trace, policy, max_batch, token_budget, rate, dram_gib, exact,
          slo, find_capacity, attain, cdf_file, as_json):
    """Serve the requests of TRACE with the model of WORKLOAD (a model YAML, e.g.
    workloads/gpt2.yaml) on an architecture; print TTFT, TBT, latency, throughput,
    energy per token, utilization and KV-cache occupancy."""
    from sim.serve import metrics, session

    target = metrics.SLO.parse(slo) if slo else None
    if find_capacity and target is None:
        raise SpecError("--find-capacity needs --slo", None, "--slo")
    setup = session.Session(workload, arch_name, trace, policy, max_batch, token_budget,
                            dram_gib, exact)
    if find_capacity:
        found = session.find_capacity(setup, target, attain, progress=not as_json)
        if as_json:
            click.echo(json.dumps(found, indent=2))
        else:
            session.print_capacity(found)
        return
    result = setup.run(rate, target, progress=not as_json)
    if cdf_file:
        from sim.serve import plots
        plots.save(plots.latency_cdf({setup.policy_name: setup.last_run}), cdf_file)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        session.print_summary(result)
