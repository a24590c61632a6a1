"""`sim sweep SWEEP.yaml`: evaluate every point of a sweep into a SQLite store."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from yamlspec import COMMANDS, check_writable

console = Console(stderr=True)


def default_store(sweep_name: str) -> Path:
    return Path("results") / f"{sweep_name}.db"


@COMMANDS.register("sweep")
@click.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite results store (several sweeps may share one). Default: "
                   "results/NAME.db in the working folder, NAME being the sweep's name.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Run on a Dask distributed cluster, e.g. tcp://10.0.0.5:8786 "
                   "(workers need accelsim installed and the workload files).")
@click.option("-j", "--jobs", type=click.IntRange(1), default=None,
              help="Local worker processes. Default: 2 (or 1 on a one-core machine).")
@click.option("--retry-failed", is_flag=True, help="Evaluate again points stored as failed.")
@click.option("--export", "export_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Also write this sweep's results to a .csv or .parquet file (repeatable).")
@click.option("--dry-run", is_flag=True, help="Count the points and stop.")
def command(sweep_file, store_path, scheduler, jobs, retry_failed, export_paths, dry_run):
    """Run the sweep in SWEEP_FILE; finished points are stored at once, so an
    interrupted sweep resumes where it stopped."""
    import importlib.util

    import sim.sweep as sweeps

    for path in export_paths:
        if Path(path).suffix not in (".csv", ".parquet"):
            raise click.BadParameter(f"'{path}' must end in .csv or .parquet",
                                     param_hint="--export")
    if scheduler is not None:
        sweeps.check_scheduler(scheduler)  # its form, before anything is read or contacted
    sweep = sweeps.load(sweep_file)
    store_path = Path(store_path) if store_path else default_store(sweep.name)
    if dry_run:
        points = sweep.points()
        for note in sweep.skipped:
            console.print(f"[yellow]skipped:[/] {note}", highlight=False)
        click.echo(f"{sweep.name}: {len(points)} points")
        return
    # Everything the end of the run needs is checked now, not after hours of points.
    for path in export_paths:
        check_writable(path, "--export")
        if path.endswith(".parquet") and importlib.util.find_spec("pyarrow") is None:
            raise click.UsageError(f"cannot write {path}: Parquet needs pyarrow "
                                   f"(pip install 'accelsim[parquet]')")
    if scheduler is not None:
        sweeps.probe_scheduler(scheduler)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("failed {task.fields[failed]}  infeasible {task.fields[infeasible]}"),
               TextColumn("{task.fields[rate]:.2f} points/s"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task_id = bar.add_task(sweep.name, total=None, failed=0, infeasible=0, rate=0.0)

        def show(stats):
            done = stats.cached + stats.evaluated
            bar.update(task_id, total=stats.total, completed=done, failed=stats.failed,
                       infeasible=stats.infeasible, rate=stats.points_per_s)

        stats = sweeps.run(sweep, store_path, scheduler=scheduler, jobs=jobs,
                           retry_failed=retry_failed, progress=show)
    for note in stats.skipped:
        console.print(f"[yellow]skipped:[/] {note}", highlight=False)
    console.print(
        f"{sweep.name}: {stats.total} points ({stats.cached} already stored, {stats.evaluated} "
        f"evaluated in {stats.wall_s:.1f} s = {stats.points_per_s:.2f} points/s); "
        f"{stats.ok} ok, {stats.infeasible} infeasible, {stats.failed} failed; store {store_path}",
        highlight=False)
    if export_paths:
        df = sweeps.load_results(store_path, sweep.name)
        for path in export_paths:
            try:
                sweeps.export(df, path)
            except ImportError:  # Parquet needs pyarrow, an optional extra
                raise click.UsageError(f"cannot write {path}: Parquet needs pyarrow "
                                       f"(pip install 'accelsim[parquet]'); the store "
                                       f"{store_path} holds every point") from None
            console.print(f"wrote {path}")
