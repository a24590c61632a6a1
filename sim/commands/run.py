"""`sim run WORKLOAD.yaml`: simulate one workload and print a summary (or JSON)."""

from __future__ import annotations

import functools
import gc
import re
import time
from pathlib import Path

import click
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from yamlspec import COMMANDS, SpecError, check_writable

console = Console()
LAYER_PREFIX = re.compile(r"^(t\d+_)?(l\d+_)?")  # t3_l11_qk -> qk


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
@click.option("--no-fusion", is_flag=True,
              help="On a memory hierarchy, run every Einsum unfused (its operands read from "
                   "and its output written to DRAM) instead of letting the mapper fuse blocks of Einsums.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON instead of a summary.")
@click.option("--explain", "explain", default=None, metavar="EINSUM",
              help="Also print how the mapper chose EINSUM's mapping: the candidates "
                   "simulated, their lower bounds and exact costs, and the bound that "
                   "stopped the search.")
def run(workload, arch_name, objective, mapping_file, save_mapping, no_fusion, as_json, explain):
    """Simulate WORKLOAD (a YAML file, e.g. workloads/gpt2.yaml) and print a summary."""
    import arch
    import mapper
    import workloads
    from sim.simulate import simulate

    _freeze_imports()
    start = time.perf_counter()
    if save_mapping:
        check_writable(save_mapping, "--save-mapping")  # before simulating, not after
    cascade = workloads.load(workload)
    architecture = arch.load(arch_name)
    if no_fusion:
        from arch.hierarchy import without_fusion
        architecture = without_fusion(architecture)
    fixed = mapper.load_mappings(mapping_file) if mapping_file else None
    if explain is not None and explain not in {e.name for e in cascade.einsums}:
        raise SpecError(f"--explain names Einsum '{explain}', which is not in workload "
                        f"'{cascade.name}'", workload, "einsums")
    if as_json or not console.is_terminal:  # a spinner only where someone watches it
        result = simulate(cascade, architecture, fixed, objective)
    else:
        with console.status(f"simulating {len(cascade.einsums)} Einsums of {cascade.name}"):
            result = simulate(cascade, architecture, fixed, objective)
    if save_mapping:
        mapper.save_mappings({e.name: e.mapping for e in result.einsums}, save_mapping)
    if as_json:
        click.echo(result.to_json(indent=2))
        return
    _summary(result, time.perf_counter() - start, _arch_label(architecture))
    if save_mapping:
        console.print(f"mapping written to {save_mapping}")
    if explain is not None:
        _explain(cascade, architecture, fixed or {}, objective, explain, result)


@functools.cache  # once: a long-lived caller's later garbage stays collectable
def _freeze_imports():
    """What the process imported lives until it ends: out of the collector's way, its
    full collections (and the one at exit) walk only what the run makes (~50 ms of a
    GPT-2 run, docs/benchmarks.md "Fourth pass")."""
    gc.freeze()


def _explain(cascade, architecture, fixed, objective, name, result):
    """The candidates best_mapping simulated for one Einsum, in bound order."""
    from sim.simulate import OBJECTIVE_KEYS, best_mapping

    einsum = next(e for e in cascade.einsums if e.name == name)
    chosen = next(e for e in result.einsums if e.name == name).mapping
    if name in fixed:
        console.print(f"{name}: mapping fixed by --mapping ({chosen.describe()}); not searched")
        return
    if "engine" in result.meta:  # a whole-cascade engine (PIM, roofline) maps on its own
        console.print(f"{name}: mapped by the {result.meta['engine']} engine, not the search")
        return
    found = best_mapping(einsum, architecture, objective)
    key = OBJECTIVE_KEYS[objective]
    fields = {"latency": ("cycles", "J"), "energy": ("J", "cycles"), "edp": ("cycles x J",)}[objective]
    scored = (f"{found.scored:,} mappings scored" if found.shared is None else
              f"{found.scored:,} mappings scored at a larger buffer")
    table = Table(title=f"{name}: {scored}, {len(found.tried)} simulated in order of their "
                        f"lower bound (objective {objective})", title_justify="left")
    for col in ("#", "mapping", *(f"bound {f}" for f in fields), "cycles", "energy J", ""):
        table.add_column(col, justify="left" if col in ("mapping", "") else "right",
                         no_wrap=True)
    best = key(found.result)
    shown = sorted(found.tried, key=lambda br: key(br[1]))[:TOP]  # the best first
    for bound, r in shown:
        table.add_row(str(found.tried.index((bound, r)) + 1), r.mapping.describe(),
                      # an engine with its own schedule had no search, so no bound
                      *(["-"] * len(fields) if found.own_schedule
                        else (f"{b:.6g}" for b in bound)),
                      f"{r.cycles:,}", f"{r.energy_j:.6g}",
                      "chosen" if r is found.result else "")
    Console(width=max(console.width, 150)).print(table)
    if len(found.tried) > TOP:
        console.print(f"(the best {TOP} of the {len(found.tried)} simulated; # is the order "
                      f"of their bounds)")
    if found.shared is not None:
        console.print(f"answered from the search at a buffer of {found.shared:,} bytes: "
                      f"its mappings of least cycles that fit this buffer (bound J 0: the "
                      f"prices differ); whatever else fits here has more cycles")
    elif found.stop is not None:
        console.print(f"stopped: the next candidate's bound {_fmt(found.stop)} is at least the "
                      f"best exact {_fmt(best)}, and every later bound is at least that")
    elif found.own_schedule:
        console.print("simulated once: this unit's engine chooses its own schedule, "
                      "whatever the objective; the mapping shown is the schedule it ran")
    elif not found.bounded:
        console.print("simulated the best few by bound: this unit's engine does not take the "
                      "mapper's bounds")
    else:
        console.print("every candidate was simulated")
    if objective == "edp" and chosen != found.result.mapping:
        console.print(f"the cascade's EDP chose {chosen.describe()} instead (the product of "
                      f"total cycles and energy is not a sum over Einsums)")


TOP = 10  # candidates --explain lists


def _fmt(key) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in key) + ")"


def _arch_label(architecture) -> str:
    """The preset's name, or the file an architecture came from (its `name:` beside)."""
    from arch.spec import PRESETS_DIR

    file = Path(architecture.file) if architecture.file else None
    if file is None or file.resolve().parent == PRESETS_DIR.resolve():
        return architecture.name
    return f"{file} (name: {architecture.name})"


def _summary(result, wall: float, arch_label: str | None = None):
    from sim.units import fmt, prefix_for, sig

    # the figures the summary shows, each computed once (to_dict would build every
    # Einsum's mapping too)
    d = {"cycles": result.cycles, "seconds": result.seconds, "energy_j": result.energy_j,
         "energy_breakdown": result.energy_breakdown_j, "area_breakdown": result.area_breakdown_mm2,
         "dram_bytes": result.dram_bytes}
    console.print(f"[bold]{result.workload}[/] on [bold]{arch_label or result.arch}[/]  "
                  f"(simulated in {wall:.2f} s)", highlight=False)
    totals = Table(show_header=False, box=None)
    clock = result.meta.get("clock", "")
    totals.add_row("cycles", f"{d['cycles']:,} at {result.clock_ghz:g} GHz"
                   + (f" ({clock})" if clock else ""))
    totals.add_row("time", fmt(d["seconds"], "s"))
    totals.add_row("energy", fmt(d["energy_j"], "J"))
    totals.add_row("area", f"{sig(result.area_mm2)} mm²" if d["area_breakdown"]
                   else "n/a (no area model for this device)")
    totals.add_row("MACs", f"{result.macs:,}")
    totals.add_row("DRAM traffic", f"{fmt(d['dram_bytes'], 'B')} "
                   f"(compulsory {fmt(result.compulsory_dram_bytes, 'B')})")
    for unit, u in result.utilization.items():
        totals.add_row(f"utilization {unit}", f"{u:.1%}")
    console.print(totals)
    by: dict[tuple[str, str], list] = {}  # (op, unit) -> [n, cycles, stall, macs, J]; no pandas
    for e in result.einsums:
        row = by.setdefault((LAYER_PREFIX.sub("", e.name), e.unit), [0, 0, 0, 0, 0.0])
        for i, v in enumerate((1, e.cycles, e.stall_cycles, e.macs, e.energy_j)):
            row[i] += v
    table = Table(title="by Einsum, summed over layers (mappings: --save-mapping or --json)",
                  title_justify="left")
    mac_scale, mac_unit = prefix_for(max((r[3] for r in by.values()), default=0), "MAC")
    j_scale, j_unit = prefix_for(max((r[4] for r in by.values()), default=0.0), "J")
    total_cycles = max(1, d["cycles"])
    rows = [(op, unit, str(n), f"{cycles:,}", f"{cycles / total_cycles:.1%}", f"{stall:,}",
             sig(macs / mac_scale), sig(joules / j_scale))
            for (op, unit), (n, cycles, stall, macs, joules) in by.items()]
    header = ("Einsum", "unit", "n", "cycles", "share", "stall", f"{mac_unit}s", j_unit)
    for i, col in enumerate(header):
        # the widths given, so rich does not measure each cell (a third of its time here)
        width = max(cell_len(c) for c in (col, *(r[i] for r in rows)))
        table.add_column(col, justify="left" if col in ("Einsum", "unit") else "right",
                         no_wrap=True, width=width)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    energy = Table(title="energy by component", title_justify="left")
    energy.add_column("component")
    j_scale, j_unit = prefix_for(max(d["energy_breakdown"].values(), default=0.0), "J")
    energy.add_column(j_unit, justify="right")
    energy.add_column("share", justify="right")
    for comp, j in sorted(d["energy_breakdown"].items(), key=lambda kv: -kv[1]):
        energy.add_row(comp, sig(j / j_scale, 4),
                       f"{j / d['energy_j']:.1%}" if d["energy_j"] else "-")
    console.print(energy)
