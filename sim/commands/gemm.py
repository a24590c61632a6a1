"""`sim gemm`: one GEMM on one 2D systolic array, native or SCALE-Sim timing."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from yamlspec import COMMANDS

console = Console()


def _array(ctx, param, value):
    from sim.gemm import parse_array

    try:
        return parse_array(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@COMMANDS.register("gemm")
@click.command("gemm")
@click.option("--m", "m", type=click.IntRange(min=1), required=True, help="Rows of A and C.")
@click.option("--k", "k", type=click.IntRange(min=1), required=True,
              help="The reduced rank: columns of A, rows of B.")
@click.option("--n", "n", type=click.IntRange(min=1), required=True, help="Columns of B and C.")
@click.option("--array", "array", required=True, callback=_array, metavar="RxC",
              help="PE array: rows x columns, e.g. 32x32.")
@click.option("--dataflow", type=click.Choice(["os", "ws", "is"]), required=True,
              help="Output-, weight- or input-stationary.")
@click.option("--arch", "arch_name", default=None, metavar="NAME|FILE",
              help="Architecture giving the buffer, DRAM and energy tables (native timing). "
                   "Default: the 'default' preset. Its 2D array is resized to --array.")
@click.option("--timing", type=click.Choice(["native", "scalesim"]), default="native",
              show_default=True,
              help="native: our model (overlapping folds, tiling, DRAM); scalesim: "
                   "SCALE-Sim v3's conventions, equal to its compute cycles.")
@click.option("--format", "fmt", default=None,
              help="Operand number format. Default: int8 (SCALE-Sim's one-byte word) when "
                   "the array has it, else the array's first format (fp16 on bitmod).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def command(m, k, n, array, dataflow, arch_name, timing, fmt, as_json):
    """Simulate C[M,N] = A[M,K] x B[K,N] on a systolic array and print its cycles,
    utilization (MACs over the array's peak MACs per cycle x cycles) and buffer/DRAM
    traffic (counts in words)."""
    from sim.gemm import simulate_gemm

    rows, cols = array
    try:
        report = simulate_gemm(m, k, n, rows, cols, dataflow, arch_name, timing, fmt)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    table = Table(title=f"GEMM {m}x{k}x{n} on {rows}x{cols}, {dataflow}, {timing} timing",
                  title_justify="left", show_header=False)
    for key in ("compute_cycles", "stall_cycles", "total_cycles"):
        table.add_row(key.replace("_", " "), f"{getattr(report, key):,}")
    table.add_row("utilization", f"{report.utilization:.1%}")
    for key in ("sram_reads", "sram_writes", "dram_reads", "dram_writes"):
        table.add_row(key.replace("_", " ") + " (words)", f"{getattr(report, key):,}")
    table.add_row("mapping", report.mapping)
    console.print(table)
