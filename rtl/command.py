"""`sim rtl BLOCK --arch FILE --out DIR [--cosim]`: Verilog, synthesis and co-simulation
of one hardware block built from an architecture (see docs/rtl.md)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from yamlspec import COMMANDS, check_writable, parse_yaml_text

console = Console()


def _parse_sets(values: tuple[str, ...]) -> dict:
    changes = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{item}' is not KEY=VALUE (e.g. PE2D.rows=4)",
                                     param_hint="--set")
        changes[key.strip()] = parse_yaml_text(raw, f"--set {key.strip()}")
    return changes


@COMMANDS.register("rtl")
@click.command("rtl")
@click.argument("block", required=False)
@click.option("--arch", "arch_name", default="default", show_default=True,
              help="Architecture preset name or YAML file the block is built from.")
@click.option("--set", "sets", multiple=True, metavar="COMPONENT.FIELD=VALUE",
              help="Change an architecture field first (repeatable), e.g. PE2D.rows=4.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Output folder for Verilog, logs and the area table. Default: rtl_out/BLOCK.")
@click.option("--dataflow", type=click.Choice(["os", "ws", "is"]), default=None,
              help="array2d: dataflow (default: the array's first).")
@click.option("--format", "fmt", default=None, help="MAC format (default: the array's first).")
@click.option("--family", type=click.Choice(["ecp5", "ice40"]), default="ecp5", show_default=True,
              help="FPGA family for synthesis and place-and-route.")
@click.option("--no-synth", is_flag=True, help="Write Verilog only; skip yosys and nextpnr.")
@click.option("--no-pnr", is_flag=True, help="Skip place-and-route (no achieved clock).")
@click.option("--cosim", is_flag=True, help="Also co-simulate random cases against sim's models.")
@click.option("--cases", default=3, show_default=True, help="Co-simulation cases.")
@click.option("--workload", type=click.Path(dir_okay=False), default=None,
              help="engine: the workload YAML whose contraction it runs.")
@click.option("--mapping", "mapping_file", type=click.Path(dir_okay=False), default=None,
              help="engine: mapping YAML (as `sim run --save-mapping` writes); default: the "
                   "mapper's choice.")
@click.option("--einsum", "einsum_name", default=None,
              help="engine: which contraction of the workload (default: the first).")
@click.option("--list", "list_only", is_flag=True, help="List the blocks and stop.")
def command(block, arch_name, sets, out_dir, dataflow, fmt, family, no_synth, no_pnr, cosim,
            cases, workload, mapping_file, einsum_name, list_only):
    """Build BLOCK from an architecture: Verilog, yosys resource counts (FPGA + generic
    gates), the achieved clock from nextpnr, and optionally co-simulation."""
    import arch as arch_pkg
    from rtl.blocks import BLOCKS, BlockOptions

    if list_only or block is None:
        for name, blk in BLOCKS.items():
            console.print(f"  [bold]{name}[/]  {blk.doc}", highlight=False)
        if block is None and not list_only:
            raise click.UsageError("name a block (listed above)")
        return
    spec = BLOCKS.get(block, path="BLOCK")
    out = Path(out_dir or Path("rtl_out") / block)
    check_writable(out / "top.v", "--out")  # before co-simulation and synthesis, not after
    architecture = arch_pkg.load(arch_name)
    if sets:
        architecture = architecture.with_changes(**_parse_sets(sets))
    einsums = ()
    if block == "vector1d":  # programmed for FuseMax's 1-pass softmax Einsums
        from rtl.cosim import fusemax_vector_einsums

        einsums = tuple(fusemax_vector_einsums(architecture.array1d))
    options = BlockOptions(dataflow, fmt, einsums)
    engine_result = None
    if block == "engine":
        einsum, engine_result, vector = _engine_inputs(architecture, arch_name, sets, out,
                                                       workload, mapping_file, einsum_name)
        options = BlockOptions(einsum=einsum, mapping=engine_result.mapping,
                               vector=tuple((e, r.mapping) for e, r in vector))
    try:
        with console.status(f"elaborating {block}"):
            dut = spec.build(architecture, options)
    except ValueError as exc:  # unsupported format, missing component, ...
        raise click.UsageError(f"cannot build '{block}' from {architecture.file or arch_name}: {exc}")
    config = spec.describe(dut)
    console.print(f"[bold]{block}[/] from {architecture.name} ({architecture.file}): {config}",
                  highlight=False)

    if cosim:
        from rtl.cosim import CosimMismatch, cosim_block, cosim_engine

        start = time.perf_counter()
        try:
            with console.status(f"co-simulating {block}"):
                if block == "engine":
                    lines = cosim_engine(dut, options.einsum, architecture, options.mapping,
                                         engine_result.cycles, cases, vector=options.vector)
                else:
                    lines = cosim_block(block, dut, cases, arch=architecture)
        except CosimMismatch as exc:
            raise click.ClickException(f"co-simulation MISMATCH: {exc}")
        for line in lines:
            console.print(f"  cosim: {line}", highlight=False)
        console.print(f"  co-simulation: {len(lines)} random cases agree with the golden model "
                      f"and sim's cycle model ({time.perf_counter() - start:.1f} s)")
        dut = spec.build(architecture, options)  # fresh for Verilog

    from rtl.synth import ToolMissing, estimate, synthesize_block, write_area_table, write_verilog

    if no_synth:
        start = time.perf_counter()
        with console.status("writing Verilog"):
            path = write_verilog(dut, out)
        console.print(f"Verilog: {path} ({time.perf_counter() - start:.1f} s)")
        return
    fit = estimate(dut, family)
    if fit is not None:
        console.print(f"  estimate: {fit.describe()}", highlight=False)
        if not fit.fits:
            dut._MustUse__silence = True  # built to be measured, never elaborated
            console.print(f"[bold]does not fit[/] {fit.device}: synthesis not attempted "
                          f"(shrink it with --set, or --no-synth for Verilog only)")
            return
    start = time.perf_counter()
    try:
        with console.status(f"{block}: writing Verilog") as status:
            results = synthesize_block(dut, out, family, pnr=not no_pnr,
                                       progress=lambda text: status.update(f"{block}: {text}"))
    except ToolMissing as exc:
        raise click.ClickException(f"{exc}. Verilog is in {out}/top.v; --no-synth skips synthesis.")
    except RuntimeError as exc:
        raise click.ClickException(str(exc))
    table = Table(title=f"{block}: yosys resources ({time.perf_counter() - start:.0f} s)")
    for col in ("target", "LUT4", "carry", "FF", "DSP/mult", "BRAM", "gates", "Fmax (MHz)"):
        table.add_column(col, justify="right")
    for r in results:
        generic = r.target == "generic"
        fmax = f"{r.fmax_mhz:.1f}" if r.fmax_mhz else ("-" if generic else r.pnr_note or "-")
        table.add_row(r.target, "-" if generic else str(r.luts), "-" if generic else str(r.carries),
                      str(r.ffs), str(r.dsps), str(r.brams), str(r.gates) if generic else "-", fmax)
    console.print(table)
    for r in results:
        for note in (r.synth_note, r.pnr_note if r.fmax_mhz else ""):
            if note:
                console.print(f"  {r.target}: {note}", highlight=False)
    area_table = out / "area_fpga.csv"
    write_area_table(area_table, block, architecture.name, config, results)
    console.print(f"Verilog {out}/top.v; logs in {out}/; area table {area_table}", highlight=False)


def _engine_inputs(architecture, arch_name, sets, out, workload, mapping_file, einsum_name):
    """The engine's contraction and `sim run`'s result for it (mapping and cycles): sim
    runs the workload on the same architecture (written to OUT/arch.yaml when --set
    changed it) with the mapping file, or the mapper's choice."""
    import yaml

    from rtl.cosim import engine_case

    if workload is None:
        raise click.UsageError("the engine needs --workload (a YAML file with a contraction)")
    arch_file = arch_name
    if sets:
        out.mkdir(parents=True, exist_ok=True)
        arch_file = str(out / "arch.yaml")
        Path(arch_file).write_text(yaml.safe_dump({"architecture": architecture.to_dict()},
                                                  sort_keys=False))
    with console.status("sim run: the mapping and its cycles"):
        try:
            einsum, result, vector = engine_case(workload, arch_file, mapping_file,
                                                 einsum_name, architecture)
        except ValueError as exc:
            raise click.UsageError(str(exc))
    if result.mapping is None or getattr(result.mapping, "role", "") != "array2d":
        raise click.UsageError(f"Einsum '{einsum.name}' did not run on the 2D array in sim "
                               f"(mapping {result.mapping}); the engine runs array mappings")
    console.print(f"sim run: {einsum.name} {result.mapping.describe()}: {result.cycles:,} cycles "
                  f"({result.compute_cycles:,} compute)", highlight=False)
    for e, r in vector:
        console.print(f"sim run: {e.name} on the 1D unit, {r.mapping.describe()}: "
                      f"{r.cycles:,} cycles ({r.compute_cycles:,} compute)", highlight=False)
    return einsum, result, vector
