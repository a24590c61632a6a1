"""`sim plot STORE-OR-CSV --kind KIND`: one plot of sweep results, PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import click

from yamlspec import COMMANDS, check_writable

# the kinds sim.plots draws (a test keeps them equal), named here so that `sim --help`
# loads no numpy or matplotlib
KINDS = ("speedup", "energy", "area", "pareto", "roofline", "scaling")


@COMMANDS.register("plot")
@click.command("plot")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", type=click.Choice(KINDS), required=True, help="Which plot to draw.")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Output path without suffix (writes .png and .svg). Default: "
                   "RESULTS-KIND beside the results file.")
@click.option("--sweep", "sweep_name", default=None,
              help="Only this sweep's points (a store shared by several sweeps).")
@click.option("--baseline", default=None,
              help="speedup: the design to compare against (default: the slowest design, "
                   "by geometric-mean latency over the workloads); energy/area: a design "
                   "always drawn.")
@click.option("--design", default=None, help="roofline: the design to place (default: the fastest with a 2D array).")
@click.option("--x", "x", default=None,
              help="pareto: x objective (default seconds); scaling: the swept parameter.")
@click.option("--y", "y", default=None, help="pareto: y objective (default energy_j).")
@click.option("--metric", default=None,
              help="speedup/scaling: the metric column (default seconds).")
@click.option("--workload", default=None, help="Only the points of this workload label.")
def command(results, kind, out, sweep_name, baseline, design, x, y, metric, workload):
    """Plot RESULTS (a sweep store .db or an exported .csv/.parquet)."""
    import sim.plots as plots
    from sim.sweep import load_results

    path = Path(results)
    target = Path(out) if out else path.with_name(f"{path.stem}-{kind}")
    for suffix in (".png", ".svg"):  # before reading and drawing
        check_writable(target.with_suffix(suffix), "--out")
    try:
        df = load_results(path, sweep_name)
    except (ValueError, OSError, ImportError) as exc:  # pandas' parse errors are ValueErrors
        raise click.BadParameter(str(exc), param_hint="RESULTS") from None
    if df.empty:
        raise click.UsageError(f"{path} holds no points"
                               + (f" of sweep '{sweep_name}'" if sweep_name else ""))
    if workload is not None:
        if workload not in set(df["workload"]):
            raise click.BadParameter(f"no workload '{workload}' (have: "
                                     f"{', '.join(sorted(set(df['workload'])))})",
                                     param_hint="--workload")
        df = df[df["workload"] == workload]
    options = {"speedup": {"baseline": baseline, "metric": metric},
               "energy": {"baseline": baseline}, "area": {"baseline": baseline},
               "pareto": {"x": x, "y": y}, "roofline": {"design": design},
               "scaling": {"x": x, "metric": metric}}[kind]
    for column in (metric, x if kind != "scaling" else None, y):
        if column is not None and column not in df:
            raise click.BadParameter(f"no column '{column}' in {path}",
                                     param_hint="--metric/--x/--y")
    try:
        written = plots.plot(kind, df, target, **options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for p in written:
        click.echo(f"wrote {p}")
