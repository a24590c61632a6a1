"""`sim report SWEEP.yaml`: one self-contained HTML page of a sweep's tables and plots."""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

import click

from yamlspec import COMMANDS, check_writable


@COMMANDS.register("report")
@click.command("report")
@click.argument("sweep_file", type=click.Path(dir_okay=False))
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="The sweep's results store. Default: results/NAME.db (as `sim sweep`).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="HTML file to write. Default: results/NAME.html.")
@click.option("--run", "run_missing", is_flag=True,
              help="Evaluate points missing from the store first (as `sim sweep`).")
def command(sweep_file, store_path, out, run_missing):
    """Write an HTML report of the sweep in SWEEP_FILE from its results store."""
    import sim.sweep as sweeps
    from sim.commands.sweep import default_store

    sweep = sweeps.load(sweep_file)
    store_path = Path(store_path) if store_path else default_store(sweep.name)
    out = Path(out) if out else store_path.with_suffix(".html")
    check_writable(out, "--out")  # before --run evaluates anything
    if run_missing:
        stats = sweeps.run(sweep, store_path)
        click.echo(f"evaluated {stats.evaluated} points ({stats.cached} already stored)",
                   err=True)
    if not store_path.is_file():
        raise click.UsageError(f"no results store at {store_path}: run `sim sweep {sweep_file}` "
                               f"first (or pass --run)")
    df = sweeps.load_results(store_path, sweep.name)
    expected = len(sweep.points())
    if df.empty:
        raise click.UsageError(f"{store_path} holds no points of sweep '{sweep.name}'")
    out.write_text(render(sweep, df, expected))
    click.echo(f"wrote {out} ({len(df)} of {expected} points)")


def render(sweep, df, expected: int) -> str:
    import sim.plots as plots

    spec = sweep.spec
    parts = [f"<h1>Sweep {html.escape(spec.name)}</h1>",
             f"<p>{html.escape(spec.description)}</p>",
             f"<p>Sweep file <code>{html.escape(sweep.file)}</code>; base architecture "
             f"<code>{html.escape(spec.base)}</code>; mapper "
             f"{html.escape(str(spec.mapper.model_dump()))}.</p>"]
    for note in sweep.skipped:
        parts.append(f"<p class=note>Skipped: {html.escape(note)}</p>")
    counts = df["status"].value_counts().reindex(["ok", "infeasible", "failed"], fill_value=0)
    parts.append(f"<p>{len(df)} of {expected} points stored: {counts['ok']} ok, "
                 f"{counts['infeasible']} infeasible, {counts['failed']} failed.</p>")
    parts.append("<h2>Axes</h2>" + _table([
        {"param": ", ".join(a.params),
         "values": a.values if a.values is not None else
         (a.range.values() if a.range is not None else f"random {a.random.model_dump()}")}
        for a in spec.axes]))
    parts.append("<h2>Constraints</h2>" + _table([spec.constraints.model_dump()]))
    ok = df[df["status"] == "ok"]
    objectives = [o for o in spec.objectives if o in df]
    show = ["design", "workload", "seconds", "energy_j", "area_mm2", "power_w",
            "utilization.PE2D"]
    show = [c for c in show if c in df]
    if not ok.empty:
        parts.append("<h2>Best point per workload and objective</h2>")
        rows = []
        for wl, part in ok.groupby("workload", sort=False):
            for obj in objectives:
                best = part.loc[part[obj].idxmin()]
                rows.append({"workload": wl, "objective": obj, **{c: best[c] for c in show
                                                                   if c != "workload"}})
        parts.append(_table(rows))
        if len(objectives) >= 2:
            x, y = objectives[:2]
            parts.append(f"<h2>Pareto front ({html.escape(x)} vs {html.escape(y)})</h2>")
            for wl, part in ok.groupby("workload", sort=False):
                front = plots.pareto_front(part[x].to_numpy(), part[y].to_numpy())
                parts.append(f"<h3>{html.escape(wl)}</h3>"
                             + _table(part.iloc[front][show].to_dict("records")))
    bad = df[df["status"] != "ok"]
    if not bad.empty:
        parts.append("<h2>Infeasible and failed points (by reason)</h2>")
        reasons = bad.assign(reason=bad["reason"].str.replace(r"[\d.]+ (mm²|W|s|J) >",
                                                              "… \\1 >", regex=True))
        summary = reasons.groupby(["status", "reason"]).size().reset_index(name="points")
        parts.append(_table(summary.to_dict("records")))
    parts.append("<h2>Plots</h2>")
    parts += _plots(df, sweep)
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
             "th{background:#eee}.note{color:#a60}svg{max-width:100%;height:auto}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(spec.name)}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def _plots(df, sweep) -> list[str]:
    import sim.plots as plots

    spec = sweep.spec
    baseline = spec.baseline if spec.baseline in set(df["design"]) else None
    wanted = [("speedup", {"baseline": baseline}), ("energy", {"baseline": baseline}),
              ("area", {"baseline": baseline})]
    if len(spec.objectives) >= 2:
        wanted.append(("pareto", {"x": spec.objectives[0], "y": spec.objectives[1]}))
    wanted.append(("roofline", {}))
    for axis in spec.axes:
        param = axis.params[0]
        if param != "arch" and param in df and df[param].nunique() > 1:
            wanted.append(("scaling", {"x": param, "metric": spec.objectives[0]}))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (kind, options) in enumerate(wanted):
            try:
                paths = plots.plot(kind, df, Path(tmp) / f"{i}-{kind}", formats=("svg",),
                                   **options)
            except (ValueError, KeyError) as exc:
                out.append(f"<p class=note>No {kind} plot: {html.escape(str(exc))}</p>")
                continue
            svg = paths[0].read_text()
            out.append(f"<h3>{kind}</h3>" + svg[svg.index("<svg"):])
    return out


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(none)</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>"
                                    for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
