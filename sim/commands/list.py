"""`sim list`: the architecture presets and the shipped workloads."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from yamlspec import COMMANDS

console = Console()


@COMMANDS.register("list")
@click.command("list")
def list_cmd():
    """List the architecture presets and the shipped workload files."""
    import arch
    import workloads.loader as wl

    console.print("[bold]architecture presets[/] (use with --arch):")
    for name in arch.presets():
        console.print(f"  {name}")
    console.print("[bold]shipped workloads[/]:")
    for path in sorted(Path(wl.SHIPPED_DIR).glob("*.yaml")):
        console.print(f"  workloads/{path.name}")
