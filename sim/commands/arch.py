"""`sim arch ARCH [--json]`: every component's per-action energy, area and leak power
as resolved (cost models run), and the model or citation behind each number: what
Accelergy calls the energy and area reference tables (ERT, ART)."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yamlspec import COMMANDS

console = Console()


def reference_tables(architecture) -> dict:
    """{"components": {NAME: {"class", "actions": {ACTION: {"energy_pj", "source"}},
    "area_mm2", "leak_mw", "source": {field: citation}}}}."""
    out = {}
    for c in architecture.components:
        source = c.source if isinstance(c.source, dict) else {"all": c.source}
        out[c.name] = {
            "class": c.class_name,
            "actions": {a: {"energy_pj": pj, "source": c.cited(field)}
                        for a, (pj, field) in c.actions().items()},
            "area_mm2": c.area_mm2(), "leak_mw": c.leak_mw,
            "model": c.model, "source": source}
    return {"architecture": architecture.name, "technology_nm": architecture.technology_nm,
            "leakage": architecture.leakage, "components": out}


@COMMANDS.register("arch")
@click.command("arch")
@click.argument("arch_name", required=False, default="default", metavar="[NAME|FILE]")
@click.option("--json", "as_json", is_flag=True, help="Print the tables as JSON.")
def command(arch_name, as_json):
    """Print every component's energy per action, area and leak power of architecture
    NAME|FILE (default: the 'default' preset), and which model or citation gave each."""
    import arch

    tables = reference_tables(arch.load(arch_name))
    if as_json:
        click.echo(json.dumps(tables, indent=2))
        return
    console.print(f"[bold]{tables['architecture']}[/] at {tables['technology_nm']} nm, "
                  f"leakage {'on' if tables['leakage'] else 'off'}", highlight=False)
    table = Table(show_lines=False)
    for col in ("component", "class", "action", "pJ", "area mm²", "leak mW", "source"):
        table.add_column(col, justify="right" if col in ("pJ", "area mm²", "leak mW") else "left",
                         overflow="fold")
    for name, c in tables["components"].items():
        first = True
        for action, a in (c["actions"] or {"-": {"energy_pj": None, "source": ""}}).items():
            table.add_row(name if first else "", c["class"] if first else "", escape(action),
                          "-" if a["energy_pj"] is None else f"{a['energy_pj']:.4g}",
                          f"{c['area_mm2']:.4g}" if first else "",
                          f"{c['leak_mw']:.4g}" if first else "", escape(a["source"]))
            first = False
    console.print(table)
