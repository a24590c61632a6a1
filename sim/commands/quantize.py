"""`sim quantize --format NAME --group-size N FILE.npy`: quantization error and bits per
weight of one weight matrix."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
from rich.console import Console

from yamlspec import COMMANDS

if TYPE_CHECKING:  # imported where used: `sim --help` needs no numpy
    import numpy as np

console = Console()


def load_matrix(path: str) -> np.ndarray:
    """A 2-D real matrix from a .npy file, or a BadParameter naming the file."""
    import numpy as np
    try:
        w = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise click.BadParameter(f"{path}: not a readable .npy array ({exc})",
                                 param_hint="FILE") from None
    if not isinstance(w, np.ndarray) or w.ndim != 2:
        shape = getattr(w, "shape", "?")
        raise click.BadParameter(f"{path}: expected a 2-D weight matrix, got shape {shape}",
                                 param_hint="FILE")
    if not np.issubdtype(w.dtype, np.floating) and not np.issubdtype(w.dtype, np.integer):
        raise click.BadParameter(f"{path}: expected real numbers, got dtype {w.dtype}",
                                 param_hint="FILE")
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)):
        raise click.BadParameter(f"{path}: the matrix holds NaN or infinite values",
                                 param_hint="FILE")
    return w


@COMMANDS.register("quantize")
@click.command("quantize")
@click.argument("file", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--format", "format_name", required=True, metavar="NAME",
              help="Number format or scheme, e.g. bitmod_fp3, int4_asym, ant4, olive4, mxfp4 "
                   "(`--format list` names them all).")
@click.option("--group-size", type=int, default=None, metavar="N",
              help="Weights per group along each row (default: the format's own, 128; "
                   "MX 32). Must divide the number of columns.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(file, format_name, group_size, as_json):
    """Quantize the 2-D weight matrix in FILE.npy; print MSE, SQNR and bits per weight.
    `--format list` names the formats and needs no FILE."""
    import numpy as np
    import arch.numformats as nf

    if format_name == "list":
        for name in nf.available():
            console.print(f"  [bold]{name}[/]  {nf.get_format(name).description}", highlight=False)
        return
    if file is None:
        raise click.UsageError("Missing argument 'FILE' (a .npy weight matrix); only "
                               "`--format list` runs without one")
    try:
        scheme = nf.get_format(format_name)
    except KeyError:
        raise click.BadParameter(f"unknown format {format_name!r}; known formats: "
                                 f"{', '.join(nf.available())}", param_hint="--format") from None
    if group_size is not None and group_size <= 0:
        raise click.BadParameter(f"must be a positive integer, got {group_size}",
                                 param_hint="--group-size")
    w = load_matrix(file)
    g = group_size or scheme.default_group_size
    if g is not None and w.shape[1] % g:
        raise click.BadParameter(
            f"group size {g} does not divide the {w.shape[1]} columns of {file} "
            f"(shape {w.shape[0]}x{w.shape[1]}); groups run along rows", param_hint="--group-size")
    result = scheme.quantize(w, g)
    stats = nf.error_stats(w, result.dequantized)
    report = {"file": file, "format": scheme.name, "shape": list(w.shape), "group_size": g,
              "mse": stats["mse"], "sqnr_db": stats["sqnr_db"],
              "bits_per_weight": result.bits_per_weight}
    candidates = getattr(scheme, "candidates", None)
    if candidates is not None and result.choice is not None:
        counts = np.bincount(result.choice, minlength=len(candidates))
        report["choices"] = {c.name: int(n) for c, n in zip(candidates, counts)}
    if as_json:
        click.echo(json.dumps(report))
        return
    console.print(f"[bold]{scheme.name}[/] on {file} ({w.shape[0]}x{w.shape[1]}, "
                  f"group size {g if g is not None else 'none'})", highlight=False)
    console.print(f"  MSE              {stats['mse']:.4e}", highlight=False)
    console.print(f"  SQNR             {stats['sqnr_db']:.2f} dB", highlight=False)
    console.print(f"  bits per weight  {result.bits_per_weight:.4f}", highlight=False)
    if "choices" in report:
        unit = "groups" if isinstance(scheme, nf.schemes.PerGroupMixture) else "tensor"
        picked = ", ".join(f"{k} {v}" for k, v in report["choices"].items())
        console.print(f"  type chosen ({unit}): {picked}", highlight=False, soft_wrap=True)
