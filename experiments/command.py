"""`sim experiment NAME [--quick]`: run a paper reproduction under experiments/."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.console import Console

from yamlspec import COMMANDS, check_writable

console = Console()
WALL_TIME = "wall_time.json"  # the one output that differs between runs; git-ignored


def scratch_dir(name: str) -> Path:
    """Where `--quick` writes without --out: beside the sweep stores (results/, ignored)."""
    return Path("results") / "experiments" / f"{name}-quick"


@COMMANDS.register("experiment")
@click.command("experiment")
@click.argument("name", required=False)
@click.option("--quick", is_flag=True,
              help="A reduced grid that runs in under a minute (CI). Writes to "
                   "results/experiments/NAME-quick/ unless --out names a folder, so the "
                   "committed full-run results stay as they are.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder. Default: experiments/NAME/out/ (the committed results), "
                   "or results/experiments/NAME-quick/ with --quick.")
@click.option("--list", "list_only", is_flag=True, help="Name every experiment and stop.")
def command(name, quick, out_dir, list_only):
    """Run experiment NAME (see --list); writes results.csv, plots and headline.json.

    Outputs are byte-identical when the numbers are (no dates or run times inside), so
    re-running on an unchanged checkout changes no committed file; the run time goes to
    wall_time.json beside them, which git ignores."""
    from experiments import EXPERIMENTS, ROOT, describe

    if list_only or name is None:
        for exp, run in EXPERIMENTS.items():
            console.print(f"  [bold]{exp}[/]  {describe(run)}", highlight=False)
        if name is None and not list_only:
            raise click.UsageError("name an experiment (listed above)")
        return
    run = EXPERIMENTS.get(name, path="NAME")
    out = Path(out_dir) if out_dir else (scratch_dir(name) if quick else ROOT / name / "out")
    check_writable(out / "headline.json", "--out")  # before the run, not after it
    start = time.perf_counter()
    headline = run(out, quick)
    wall = time.perf_counter() - start
    (out / "headline.json").write_text(json.dumps(headline, indent=2) + "\n")
    (out / WALL_TIME).write_text(json.dumps({"experiment": name, "quick": quick,
                                             "seconds": round(wall, 1)}) + "\n")
    console.print(f"[bold]{name}[/] finished in {wall:.1f} s; results in {out}/")
    for key, value in headline.items():
        console.print(f"  {key}: {value}", highlight=False)
