"""`sim experiment NAME [--quick]`: run a paper reproduction under experiments/."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.console import Console

from yamlspec import COMMANDS, check_writable

console = Console()


@COMMANDS.register("experiment")
@click.command("experiment")
@click.argument("name", required=False)
@click.option("--quick", is_flag=True, help="A reduced grid that runs in under a minute (CI).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder. Default: experiments/NAME/out/.")
@click.option("--list", "list_only", is_flag=True, help="Name every experiment and stop.")
def command(name, quick, out_dir, list_only):
    """Run experiment NAME (see --list); writes results.csv, plots and headline.json."""
    from experiments import EXPERIMENTS, ROOT, describe

    if list_only or name is None:
        for exp, run in EXPERIMENTS.items():
            console.print(f"  [bold]{exp}[/]  {describe(run)}", highlight=False)
        if name is None and not list_only:
            raise click.UsageError("name an experiment (listed above)")
        return
    run = EXPERIMENTS.get(name, path="NAME")
    out = Path(out_dir) if out_dir else ROOT / name / "out"
    check_writable(out / "headline.json", "--out")  # before the run, not after it
    start = time.perf_counter()
    headline = run(out, quick)
    (out / "headline.json").write_text(json.dumps(headline, indent=2) + "\n")
    console.print(f"[bold]{name}[/] finished in {time.perf_counter() - start:.1f} s; "
                  f"results in {out}/")
    for key, value in headline.items():
        console.print(f"  {key}: {value}", highlight=False)
