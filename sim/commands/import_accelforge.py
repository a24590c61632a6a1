"""`sim import-accelforge FILE|EXAMPLE [-o OUT] [--set KEY=VALUE]`: an AccelForge
architecture or workload as our YAML (sim/accelforge/); which one, its top key says."""

from __future__ import annotations

import re
from pathlib import Path

import click
import yaml

from yamlspec import COMMANDS, SpecError


def resolve(name: str) -> Path:
    """A path, or the name of an example AccelForge ships (arches first)."""
    path = Path(name)
    if path.exists():
        return path
    from sim.accelforge.load import accelforge
    examples = accelforge().examples
    for kind in ("arches", "workloads"):
        try:
            found = getattr(getattr(examples, kind), name.replace(".", "_"))
        except ValueError:
            continue
        if isinstance(found, Path):
            return found
    raise SpecError(f"no file and no AccelForge example named '{name}'")


def kind_of(path: Path) -> str:
    text = path.read_text(errors="replace")
    for kind in ("arch", "workload"):
        if re.search(rf"^{kind}\s*:", text, re.MULTILINE):
            return kind
    raise SpecError("neither an AccelForge architecture (top key 'arch:') nor a workload "
                    "(top key 'workload:')", str(path))


def parse_variables(pairs) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set takes KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


@COMMANDS.register("import-accelforge")
@click.command("import-accelforge")
@click.argument("source", metavar="FILE|EXAMPLE")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the YAML here "
              "(default: print it).")
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A Jinja variable of the AccelForge file (repeatable), e.g. N_TOKENS=2048.")
def command(source, output, pairs):
    """Translate an AccelForge architecture or Einsum workload (a file, or the name of an
    example AccelForge ships: tpu_v4i, simple, nvdla, matmuls, gpt3_6.7B, ...) into this
    tool's YAML. Needs `pip install accelsim[peers]`. What has no counterpart here is
    named with its AccelForge key path (exit status 2)."""
    path = resolve(source)
    variables = parse_variables(pairs)
    if kind_of(path) == "arch":
        from sim.accelforge.arch import translate
        key = "architecture"
    else:
        from sim.accelforge.workload import translate
        key = "workload"
    body = translate(path, variables)
    sets = " ".join(f"--set {p}" for p in pairs)
    text = (f"# Translated from AccelForge's {path.name} by `sim import-accelforge "
            f"{source}{' ' + sets if sets else ''}`.\n"
            + yaml.safe_dump({key: body}, sort_keys=False, width=100))
    if output:
        try:
            Path(output).write_text(text)
        except OSError as exc:
            raise SpecError(f"cannot write ({exc.strerror or exc})", output) from None
    else:
        click.echo(text, nl=False)
