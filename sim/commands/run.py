"""`sim run WORKLOAD.yaml`: simulate one workload and print a summary (or JSON)."""

from __future__ import annotations

import time

import click
from rich.console import Console
from rich.table import Table

from yamlspec import COMMANDS, check_writable

console = Console()


@COMMANDS.register("run")
@click.command("run")
@click.argument("workload", type=click.Path(dir_okay=False))
@click.option("--arch", "arch_name", default=None, metavar="NAME|FILE",
              help="Architecture: a preset name (see `sim list`) or a YAML file. "
                   "Default: the 'default' preset.")
@click.option("--objective", type=click.Choice(["latency", "energy", "edp"]),
              default="latency", show_default=True,
              help="What the mapper minimizes for each Einsum.")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False), default=None,
              help="YAML file fixing the mapping of some Einsums (as written by --save-mapping).")
@click.option("--save-mapping", type=click.Path(dir_okay=False), default=None,
              help="Write the mapping of every Einsum to this YAML file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON instead of a summary.")
def run(workload, arch_name, objective, mapping_file, save_mapping, as_json):
    """Simulate WORKLOAD (a YAML file, e.g. workloads/gpt2.yaml) and print a summary."""
    import arch
    import mapper
    import workloads
    from sim.simulate import simulate

    start = time.perf_counter()
    if save_mapping:
        check_writable(save_mapping, "--save-mapping")  # before simulating, not after
    cascade = workloads.load(workload)
    architecture = arch.load(arch_name)
    fixed = mapper.load_mappings(mapping_file) if mapping_file else None
    if as_json:
        result = simulate(cascade, architecture, fixed, objective)
    else:
        with console.status(f"simulating {len(cascade.einsums)} Einsums of {cascade.name}"):
            result = simulate(cascade, architecture, fixed, objective)
    if save_mapping:
        mapper.save_mappings({e.name: e.mapping for e in result.einsums}, save_mapping)
    if as_json:
        click.echo(result.to_json(indent=2))
        return
    _summary(result, time.perf_counter() - start)
    if save_mapping:
        console.print(f"mapping written to {save_mapping}")


def _summary(result, wall: float):
    d = result.to_dict()
    console.print(f"[bold]{d['workload']}[/] on [bold]{d['arch']}[/]  "
                  f"(simulated in {wall:.2f} s)")
    totals = Table(show_header=False, box=None)
    totals.add_row("cycles", f"{d['cycles']:,}")
    totals.add_row("time", f"{d['seconds'] * 1e3:.3f} ms")
    totals.add_row("energy", f"{d['energy_j'] * 1e3:.3f} mJ")
    totals.add_row("area", f"{d['area_mm2']:.2f} mm²")
    totals.add_row("MACs", f"{d['macs']:,}")
    totals.add_row("DRAM traffic", f"{d['dram_bytes'] / 1e6:,.1f} MB "
                   f"(compulsory {d['compulsory_dram_bytes'] / 1e6:,.1f} MB)")
    for unit, u in d["utilization"].items():
        totals.add_row(f"utilization {unit}", f"{u:.1%}")
    console.print(totals)
    df = result.to_dataframe()
    df["op"] = df["einsum"].str.replace(r"^(t\d+_)?(l\d+_)?", "", regex=True)
    by = df.groupby(["op", "unit"], sort=False).agg(
        n=("cycles", "size"), cycles=("cycles", "sum"), stall=("stall_cycles", "sum"),
        macs=("macs", "sum"), energy=("energy_j", "sum"))
    table = Table(title="by Einsum, summed over layers (mappings: --save-mapping or --json)",
                  title_justify="left")
    for col in ("Einsum", "unit", "n", "cycles", "share", "stall", "GMACs", "mJ"):
        table.add_column(col, justify="left" if col in ("Einsum", "unit") else "right",
                         no_wrap=True)
    total_cycles = max(1, d["cycles"])
    for row in by.reset_index().itertuples():
        table.add_row(row.op, row.unit, str(row.n), f"{row.cycles:,}",
                      f"{row.cycles / total_cycles:.1%}", f"{row.stall:,}",
                      f"{row.macs / 1e9:.2f}", f"{row.energy * 1e3:.2f}")
    console.print(table)
    energy = Table(title="energy by component", title_justify="left")
    energy.add_column("component")
    energy.add_column("mJ", justify="right")
    energy.add_column("share", justify="right")
    for comp, j in sorted(d["energy_breakdown"].items(), key=lambda kv: -kv[1]):
        energy.add_row(comp, f"{j * 1e3:.3f}", f"{j / d['energy_j']:.1%}")
    console.print(energy)
