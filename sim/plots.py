"""Plots of sweep results (a DataFrame from sim.sweep.load_results), PNG and SVG.

Each function draws one kind and returns the matplotlib Figure; plot() saves it:
speedup (bars against a named baseline design), energy (stacked by component), area
(stacked by component), pareto (two objectives, the frontier highlighted), roofline
(each operation of one design placed under its unit's roof), scaling (a metric
against a swept parameter).

One style for every plot of a sweep (Style, built from all of its points): designs in
one order (their swept values, numbers compared as numbers) under one name each,
workloads and components in one colour each; every axis names its unit, picked to fit
the data (µs, ms, s; µJ, mJ, J); legends sit outside the data; point labels are placed
where they overlap nothing (sim.figstyle.place_labels); points a plot cannot show
(infeasible, failed) are counted in its title, never dropped silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.figstyle import log_ticks, place_labels
from sim.figstyle import save as _save_stable
from sim.units import prefix_for

if TYPE_CHECKING:  # imported where drawn
    import pandas as pd
    from matplotlib.figure import Figure

MAX_BARS = 12  # more designs than this: the baseline and the fastest others
MAX_ROOFLINE_PANELS = 3
MAX_LABELLED_POINTS = 12  # pareto: every point named up to this many, else the front only
METRICS = {  # column -> (quantity, SI unit to prefix, or a fixed unit with scale 1)
    "seconds": ("latency", "s"),
    "energy_j": ("energy", "J"),
    "area_mm2": ("area", "mm²"),
    "power_w": ("average power", "W"),
    "edp_js": ("energy-delay product", "J·s"),
    "cycles": ("cycles", "cycles"),
    "dram_bytes": ("DRAM traffic", "B"),
    "macs_per_s": ("throughput", "MAC/s"),
}
FIXED_UNITS = ("mm²", "cycles")
PARAM_UNITS = {"capacity_kib": "KiB", "bandwidth_gb_s": "GB/s", "clock_ghz": "GHz",
               "seq_len": "tokens", "kv_len": "tokens", "rows": "PEs", "cols": "PEs",
               "lanes": "lanes", "batch": "sequences"}
PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb",
           "#ee8866", "#44bb99", "#994455", "#997700", "#6699cc")  # Tol's, colour-blind safe


def metric_label(column: str, values=None) -> tuple[str, float]:
    """('latency (ms)', 1e3): the axis label of `column` and the factor that turns its
    SI values into the unit shown, a prefix chosen from `values` (their largest)."""
    name, unit = METRICS.get(column, (column, None))
    if unit is None:
        return column, 1.0
    if unit in FIXED_UNITS:
        return f"{name} ({unit})", 1.0
    v = np.asarray(values if values is not None else [1.0], dtype=float)
    v = v[np.isfinite(v)]
    scale, shown = prefix_for(float(np.abs(v).max()) if v.size else 1.0, unit)
    return f"{name} ({shown})", 1.0 / scale


def _natural(text: str):
    """Sort key comparing the numbers inside `text` as numbers (rows=8 before rows=16)."""
    return [(0, float(t), "") if re.fullmatch(r"\d+(\.\d+)?", t) else (1, 0.0, t)
            for t in re.split(r"(\d+(?:\.\d+)?)", text) if t]


def _parts(label: str) -> tuple[str, list[tuple[str, str]]]:
    """'default,PE2D.rows=32,GLB.capacity_kib=512' -> ('default', [('PE2D.rows', '32'), ...])."""
    base, *rest = label.split(",")
    return base, [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in rest]


def short_labels(labels) -> dict[str, str]:
    """Design (or workload) labels as read in a plot: what differs between them, each
    parameter under its component: 'default,PE2D.rows=32,PE2D.cols=32,GLB.capacity_kib=512'
    -> 'PE2D rows=32 cols=32 · GLB capacity_kib=512'. Parameters equal in every label are
    left out (the title says the base); the base stays when bases differ."""
    labels = list(dict.fromkeys(labels))
    parsed = {lab: _parts(lab) for lab in labels}
    bases = {b for b, _ in parsed.values()}
    if len(labels) > 1:
        common = set.intersection(*(set(p) for _, p in parsed.values()))
    else:
        common = set()
    out = {}
    for lab, (base, params) in parsed.items():
        groups: dict[str, dict[str, str]] = {}
        for key, value in params:
            if (key, value) not in common:
                comp, _, field = key.rpartition(".")
                groups.setdefault(comp, {})[field] = value
        text = " · ".join(f"{comp} {_fields(f)}".strip() for comp, f in groups.items())
        if len(bases) > 1 or not text:
            text = f"{base} {text}".strip() if text else base
        out[lab] = text
    return out


def _fields(fields: dict[str, str]) -> str:
    """{'rows': '32', 'cols': '32', 'capacity_kib': '512'} -> '32x32 512 KiB': a known
    unit stands for the field's name, rows x cols for the array's shape."""
    fields = dict(fields)
    words = []
    if "rows" in fields and "cols" in fields:
        words.append(f"{fields.pop('rows')}x{fields.pop('cols')}")
    for field, value in fields.items():
        unit = PARAM_UNITS.get(field)
        words.append(f"{value} {unit}" if unit and value and field not in ("rows", "cols")
                     else f"{field}={value}" if value else field)
    return " ".join(words)


@dataclass
class Style:
    """Order, names and colours shared by every plot of one sweep (all its points,
    feasible or not, so that a design keeps its place and name in every plot)."""

    designs: list[str]
    names: dict[str, str]
    workloads: list[str]
    workload_names: dict[str, str]
    workload_colors: dict[str, str]
    component_colors: dict[str, str]

    @classmethod
    def of(cls, df: pd.DataFrame) -> Style:
        designs = sorted(dict.fromkeys(df["design"]), key=_natural)
        workloads = list(dict.fromkeys(df["workload"]))
        comps = sorted({c.split(".", 1)[1] for c in df.columns
                        if c.startswith(("energy_j.", "area_mm2."))})
        return cls(designs, short_labels(designs), workloads, short_labels(workloads),
                   {w: PALETTE[i % len(PALETTE)] for i, w in enumerate(workloads)},
                   {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(comps)})

    def order(self, designs) -> list[str]:
        wanted = set(designs)
        return [d for d in self.designs if d in wanted]


def feasible(df: pd.DataFrame) -> pd.DataFrame:
    ok = df[df["status"] == "ok"] if "status" in df else df
    if ok.empty:
        raise ValueError("no feasible points to plot (every point failed or is infeasible)")
    return ok


def not_shown(df: pd.DataFrame, shown_designs=None) -> str:
    """'not drawn: 4 infeasible points (area_mm2 … > max_area_mm2 4 mm²)': what a plot
    leaves out, by status and reason (numbers of each point's own value elided)."""
    if "status" not in df:
        return ""
    bad = df[df["status"] != "ok"]
    notes = []
    for status, part in bad.groupby("status", sort=True):
        reasons = sorted(set(part["reason"].fillna("")
                             .str.replace(r"^\S+\.ya?ml: ", "", regex=True)  # a local path
                             .str.replace(r"^(\w+) [\d.]+ ", r"\1 … ", regex=True)
                             .str.slice(0, 60)))
        notes.append(f"{len(part)} {status} point{'s' * (len(part) != 1)}"
                     + (f" ({'; '.join(reasons[:2])}{' …' if len(reasons) > 2 else ''})"
                        if reasons and reasons != [""] else ""))
    if shown_designs is not None:
        ok_designs = set(df.loc[df["status"] == "ok", "design"]) if "status" in df else set()
        hidden = len(ok_designs - set(shown_designs))
        if hidden:
            notes.append(f"{hidden} more feasible design{'s' * (hidden != 1)}")
    return ("not drawn: " + ", ".join(notes)) if notes else ""


def _figure(**kw) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kw)


def save(fig: Figure, out: Path, formats=("png", "svg")) -> list[Path]:
    return _save_stable(fig, Path(out), formats)


def _title(fig: Figure, title: str, note: str = ""):
    """The figure's title, and under it a note wrapped to the figure's width."""
    import textwrap

    width = max(40, int(fig.get_figwidth() * 10))  # characters of a medium font per line
    lines = textwrap.wrap(title, width) + (textwrap.wrap(note, width) if note else [])
    fig.suptitle("\n".join(lines), fontsize="medium")


def _complete(ok: pd.DataFrame, metric: str = "seconds") -> pd.DataFrame:
    """design x workload table of `metric`, only designs feasible on every workload."""
    table = ok.pivot_table(index="design", columns="workload", values=metric, aggfunc="min")
    return table[list(dict.fromkeys(ok["workload"]))].dropna()


def default_baseline(ok: pd.DataFrame) -> str:
    """The slowest design (geometric mean over workloads), so speedups read as >= 1."""
    table = _complete(ok)
    if table.empty:
        raise ValueError("no design is feasible on every workload")
    return np.log(table).mean(axis=1).idxmax()


def _pick_designs(ok: pd.DataFrame, baseline: str | None, n: int = MAX_BARS) -> list[str]:
    """Designs feasible on every workload: all if few, else the baseline plus the
    fastest (geometric mean of latency over workloads)."""
    order = np.log(_complete(ok)).mean(axis=1).sort_values().index.tolist()
    if len(order) <= n:
        return order
    picked = [d for d in order if d != baseline][: n - (baseline in order)]
    return ([baseline] if baseline in order else []) + picked


def _outside_legend(ax, **kw):
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                     borderaxespad=0.0, **kw)


def _design_axis(ax, style: Style, designs: list[str], baseline: str | None = None,
                 infeasible=()):
    y = np.arange(len(designs))
    ax.set_yticks(y, [style.names[d] + (" (baseline)" if d == baseline else "")
                      + (" (infeasible)" if d in infeasible else "") for d in designs])
    ax.set_ylim(len(designs) - 0.5, -0.5)  # the first design on top
    ax.set_ylabel("design")
    return y


def speedup(df: pd.DataFrame, baseline: str | None = None,
            metric: str = "seconds") -> Figure:
    style = Style.of(df)
    ok = feasible(df)
    designs = list(dict.fromkeys(ok["design"]))
    baseline = baseline or default_baseline(ok)
    if baseline not in designs:
        raise ValueError(f"baseline design '{baseline}' has no feasible point (designs: "
                         f"{', '.join(designs[:8])}{' ...' if len(designs) > 8 else ''})")
    table = ok.pivot_table(index="design", columns="workload", values=metric, aggfunc="min")
    table = table[list(dict.fromkeys(ok["workload"]))]
    ratio = (table.loc[baseline] / table).dropna(how="all")
    picked = style.order(d for d in _pick_designs(ok, baseline) if d in ratio.index)
    ratio = ratio.loc[picked]
    label_chars = max(len(style.names[d]) for d in picked) + 11
    fig = _figure(figsize=(6.5 + 0.065 * label_chars,
                           0.42 * len(ratio) * max(1, len(ratio.columns)) ** 0.5 + 2.2),
                  layout="constrained")
    ax = fig.subplots()
    height = 0.8 / len(ratio.columns)
    y = _design_axis(ax, style, picked, baseline)
    for i, wl in enumerate(ratio.columns):
        ax.barh(y + i * height - 0.4 + height / 2, ratio[wl], height,
                label=style.workload_names[wl], color=style.workload_colors[wl])
    ax.axvline(1.0, color="black", lw=0.8, ls="--")
    values = ratio.to_numpy(dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > 10:
        ax.set_xscale("log")
        log_ticks(ax, "x")
    name = METRICS.get(metric, (metric,))[0]
    ax.set_xlabel(f"speedup over the baseline (×, baseline {name} / design {name})")
    _outside_legend(ax, title="workload")
    ax.grid(axis="x", alpha=0.3, which="both")
    shown = f"the baseline and the {len(ratio) - 1} fastest of {len(designs)} designs" \
        if len(designs) > MAX_BARS else ""
    _title(fig, f"Speedup over {style.names[baseline]}" + (f" ({shown})" if shown else ""),
           not_shown(df, picked))
    return fig


def _stacked_bars(df: pd.DataFrame, ok: pd.DataFrame, prefix: str, designs: list[str],
                  unit: str, title: str, per_workload: bool, style: Style,
                  baseline: str | None) -> Figure:
    """Horizontal bars stacked by component, one panel per workload (or one panel).
    Designs without a breakdown (infeasible before simulating) get a hatched bar of
    their total when it is known, else nothing, and the title counts them."""
    cols = [c for c in ok.columns if c.startswith(prefix) and ok[c].fillna(0).gt(0).any()]
    cols.sort(key=lambda c: list(style.component_colors).index(c[len(prefix):])
              if c[len(prefix):] in style.component_colors else len(style.component_colors))
    total = prefix.rstrip(".")
    panels = list(dict.fromkeys(ok["workload"])) if per_workload else [None]
    rows = df if "status" not in df else df[df["design"].isin(designs)]
    label_chars = max(len(style.names[d]) for d in designs) + 11
    fig = _figure(figsize=(2.2 + 0.065 * label_chars + 3.8 * len(panels),
                           0.42 * len(designs) + 2.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    hatched = False
    for ax, wl in zip(axes, panels):
        part = rows if wl is None else rows[rows["workload"] == wl]
        label, scale = metric_label(total, part[total])  # each panel its own prefix
        y = np.arange(len(designs))
        table = part.groupby("design")[cols + [total]].first().reindex(designs) * scale
        left = np.zeros(len(designs))
        for col in cols:
            comp = col[len(prefix):]
            ax.barh(y, table[col].fillna(0), left=left, label=comp,
                    color=style.component_colors.get(comp, "0.5"))
            left += table[col].fillna(0).to_numpy()
        missing = (left == 0) & table[total].notna().to_numpy()
        if missing.any():  # a total without its breakdown: the point was rejected early
            ax.barh(y[missing], table[total].to_numpy()[missing], color="white",
                    edgecolor="0.4", hatch="///", label="total, infeasible (no breakdown)")
            hatched = True
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(title if wl is None else style.workload_names[wl], fontsize="medium")
    _design_axis(axes[0], style, designs, baseline, set(designs) - set(ok["design"]))
    for ax in axes[1:]:
        ax.set_ylabel("")
    handles, labels = axes[0].get_legend_handles_labels()
    if hatched and "total, infeasible (no breakdown)" not in labels:
        handles, labels = axes[-1].get_legend_handles_labels()
    axes[-1].legend(handles, labels, title="component", loc="upper left",
                    bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0.0)
    note = not_shown(df[~df["design"].isin(designs)] if hatched else df, designs)
    if per_workload or note:
        _title(fig, title, note)
    return fig


def energy(df: pd.DataFrame, baseline: str | None = None) -> Figure:
    style = Style.of(df)
    ok = feasible(df)
    designs = style.order(_pick_designs(ok, baseline, n=10))
    return _stacked_bars(df, ok, "energy_j.", designs, "J", "Energy by component",
                         per_workload=True, style=style, baseline=baseline)


def area(df: pd.DataFrame, baseline: str | None = None) -> Figure:
    """Designs with distinct areas, infeasible ones too (area is known before
    simulating): all if few, else an even spread from the smallest to the largest."""
    style = Style.of(df)
    ok = feasible(df)
    known = df[df["area_mm2"].notna()] if "area_mm2" in df else ok
    distinct = known.drop_duplicates(subset="design").sort_values("area_mm2")
    designs = list(distinct["design"])
    if len(designs) > MAX_BARS:
        pick = np.unique(np.round(np.linspace(0, len(designs) - 1, MAX_BARS - 1)).astype(int))
        designs = [designs[i] for i in pick]
    if baseline in set(known["design"]) and baseline not in designs:
        designs = [baseline] + designs
    return _stacked_bars(df, ok, "area_mm2.", style.order(designs), "mm²",
                         "Area by component", per_workload=False, style=style,
                         baseline=baseline)


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both x and y (both minimized),
    sorted by x."""
    order = np.lexsort((y, x))
    front, best_y = [], np.inf
    for i in order:
        if y[i] < best_y:
            front.append(i)
            best_y = y[i]
    return np.array(front, dtype=int)


def _log_if_wide(ax, which: str, values):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > 10:
        getattr(ax, f"set_{which}scale")("log")
        log_ticks(ax, which)


def pareto(df: pd.DataFrame, x: str = "seconds", y: str = "energy_j") -> Figure:
    style = Style.of(df)
    ok = feasible(df)
    workloads = [w for w in style.workloads if w in set(ok["workload"])]
    fig = _figure(figsize=(5.4 * len(workloads) + 1.6, 5.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(workloads)))
    both = df[df[x].notna() & df[y].notna()] if x in df and y in df else ok
    (xl, xs), (yl, ys) = metric_label(x, both[x]), metric_label(y, both[y])
    bad = df[df["status"] == "infeasible"] if "status" in df else df.iloc[:0]
    few = ok["design"].nunique() <= MAX_LABELLED_POINTS
    for ax, wl in zip(axes, workloads):
        part = ok[ok["workload"] == wl]
        xv, yv = part[x].to_numpy() * xs, part[y].to_numpy() * ys
        ax.scatter(xv, yv, s=14, color="0.55", alpha=0.7, label="feasible design", zorder=2)
        bad_wl = bad[(bad["workload"] == wl) & bad[x].notna() & bad[y].notna()] if len(bad) else bad
        if len(bad_wl):
            ax.scatter(bad_wl[x] * xs, bad_wl[y] * ys, s=16, marker="x", color="#cc3311",
                       alpha=0.8, label="infeasible (breaks a constraint)", zorder=2)
        front = pareto_front(xv, yv)
        ax.plot(xv[front], yv[front], "-o", color=PALETTE[0], ms=5, zorder=3,
                label="Pareto front")
        _log_if_wide(ax, "x", xv)
        _log_if_wide(ax, "y", yv)
        ax.margins(0.15)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(style.workload_names[wl], fontsize="medium")
        ax.grid(alpha=0.3, which="both")
    _outside_legend(axes[-1])
    qx, qy = xl.split(" (")[0], yl.split(" (")[0]
    _title(fig, f"Pareto front: {qx} vs {qy} (lower is better; "
                f"{'every design' if few else 'the designs on the front'} named)",
           not_shown(df[~(df[x].notna() & df[y].notna())]) if x in df and y in df else "")
    for ax, wl in zip(axes, workloads):  # last: the layout is final once the title is set
        part = ok[ok["workload"] == wl]
        xv, yv = part[x].to_numpy() * xs, part[y].to_numpy() * ys
        named = range(len(part)) if few else pareto_front(xv, yv)
        place_labels(ax, [(xv[i], yv[i], style.names[part["design"].iloc[i]]) for i in named],
                     fontsize=6.5)
    return fig


def roofline(df: pd.DataFrame, design: str | None = None) -> Figure:
    """Each operation (summed over layers) of one design at (MACs or vector ops per DRAM
    byte, achieved rate) under the roofs of the 2D array and the vector unit.
    Contractions and vector ops are labelled apart; ops at the same spot share one
    label naming all of them."""
    style = Style.of(df)
    ok = feasible(df)
    if design is None:  # the fastest design that has roofs to draw (not a PIM or GPU one)
        roofed = ok[np.isfinite(ok["peak_macs_per_s"].astype(float))] \
            if "peak_macs_per_s" in ok else ok
        design = (roofed if len(roofed) else ok).sort_values("seconds")["design"].iloc[0]
    part = ok[ok["design"] == design]
    if part.empty:
        raise ValueError(f"design '{design}' has no feasible point")
    part = part.head(MAX_ROOFLINE_PANELS)  # choose others with --workload
    fig = _figure(figsize=(6.4 * len(part), 5.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(part)))
    labels = [_roofline_panel(ax, row, style) for ax, (_, row) in zip(axes, part.iterrows())]
    _title(fig, f"Roofline of {style.names.get(design, design)}",
           "● contractions (MAC/s)   ■ vector ops (op/s); ops at one spot share a label")
    for ax, points in zip(axes, labels):  # last: the layout is final once the title is set
        place_labels(ax, points, fontsize=6.5, avoid_legend=False)
    return fig


def _roofline_panel(ax, row, style: Style) -> list[tuple[float, float, str]]:
    """Draws one workload's roofs and ops; returns the labels to place."""
    info = json.loads(row["detail"])
    clock = info["clock_ghz"] * 1e9
    bw = row["dram_gb_s"] * 1e9
    ops = []
    for op in info["ops"]:
        mac = op["kind"] == "contraction"
        work = op["macs"] if mac else op["ops"]
        rate = work / (op["cycles"] / clock) if op["cycles"] else 0.0
        ops.append((work / max(op["dram_bytes"], 1), rate, mac, op["op"]))
    roofs = [(name, row.get(col), color, unit) for name, col, color, unit in
             (("2D array", "peak_macs_per_s", PALETTE[0], "MAC/s"),
              ("vector unit", "vec_peak_ops_per_s", PALETTE[1], "op/s"))]
    roofs = [r for r in roofs if r[1] is not None and np.isfinite(r[1]) and np.isfinite(bw)]
    rates = [r for _, r, _, _ in ops if r > 0] + [p for _, p, _, _ in roofs]
    scale, prefix = prefix_for(max(rates, default=1.0), "")
    xs = [x for x, *_ in ops]
    ridges = [peak / bw for _, peak, _, _ in roofs]  # where each unit becomes compute-bound
    lo, hi = min(xs + ridges + [1.0]) / 3, max(xs + ridges + [1.0]) * 4
    grid = np.geomspace(lo, hi, 200)
    for name, peak, color, unit in roofs:
        ax.plot(grid, np.minimum(peak, grid * bw) / scale, color=color, lw=1.4,
                label=f"{name} roof: {peak / scale:.3g} {prefix}{unit}, "
                      f"DRAM {bw / 1e9:.0f} GB/s")
    spots: dict[tuple, list] = {}  # same kind at nearly the same place: one label
    for x, rate, mac, name in ops:
        key = (mac, round(np.log10(x) * 20), round(np.log10(max(rate, 1e-30)) * 20))
        spots.setdefault(key, [x, rate / scale, mac, []])[3].append(name)
    for x, rate, mac, names in spots.values():  # squares under, circles on top
        ax.scatter(x, max(rate, 1e-30), marker="o" if mac else "s", s=34 if mac else 26,
                   color=PALETTE[0] if mac else PALETTE[1], edgecolor="white", lw=0.6,
                   zorder=4 if mac else 3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("operational intensity (MACs or vector ops per DRAM byte)")
    ax.set_ylabel(f"achieved rate ({prefix}MAC/s or {prefix}op/s)")
    ax.set_title(style.workload_names.get(row["workload"], row["workload"])
                 + ("" if roofs else " (no 2D-array or vector-unit roof)"), fontsize="medium")
    ax.grid(alpha=0.3, which="both")
    ax.margins(x=0.05, y=0.25)
    if roofs:
        ax.legend(fontsize="x-small", loc="lower center", bbox_to_anchor=(0.5, 1.06),
                  borderaxespad=0.0, ncol=1)
    labels = []
    for x, rate, mac, names in spots.values():
        lines = [", ".join(names[i:i + 3]) for i in range(0, len(names), 3)]
        labels.append((x, max(rate, 1e-30), ",\n".join(lines)))
    return labels


def scaling(df: pd.DataFrame, x: str | None = None,
            metric: str = "seconds") -> Figure:
    """`metric` against swept parameter `x`, one line per workload: the best value at
    each x and the range over the other swept parameters."""
    style = Style.of(df)
    ok = feasible(df)
    x = x or _first_swept(ok)
    if x not in ok:
        raise ValueError(f"no column '{x}' (swept parameters: {', '.join(_swept(ok)) or 'none'})")
    ylabel, scale = metric_label(metric, ok[metric])
    fig = _figure(figsize=(8.2, 4.8), layout="constrained")
    ax = fig.subplots()
    ranged = False
    # against a workload parameter: one line per workload file, its points being the
    # workloads that differ only in `x` (their labels name it: 'prefill,phase.kv_len=32')
    own = x[len("workload."):] + "=" if x.startswith("workload.") else None
    lines = ok["workload"].map(lambda w: ",".join(p for p in w.split(",")
                                                  if not (own and p.startswith(own))))
    for i, (line, part) in enumerate(ok.groupby(lines, sort=False)):
        wl = part["workload"].iloc[0]
        color = style.workload_colors[wl]
        name = style.workload_names[wl] if own is None else short_labels(
            list(dict.fromkeys(lines)))[line]
        stats = part.groupby(x)[metric].agg(["min", "max"]).sort_index() * scale
        # each workload its own marker, earlier ones bigger: equal lines stay visible
        ax.plot(stats.index, stats["min"], "-", marker="osD^v<>p"[i % 8], ms=max(3, 8 - i),
                lw=max(1.0, 2.6 - 0.4 * i), color=color, label=f"{name}: best", zorder=3)
        if (stats["max"] > stats["min"] * 1.0001).any():
            ranged = True
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.28,
                            color=color, lw=0, label=f"{name}: range over the other axes")
            ax.plot(stats.index, stats["max"], ls=":", lw=1, color=color)
    from pandas.api.types import is_numeric_dtype

    if is_numeric_dtype(ok[x]) and ok[x].max() / max(ok[x].min(), 1e-12) >= 8:
        from matplotlib.ticker import FuncFormatter, NullFormatter
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(ok[x].unique()))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    elif is_numeric_dtype(ok[x]) and ok[x].nunique() <= 12:
        ax.set_xticks(sorted(ok[x].unique()))
    values = ok[metric].to_numpy(dtype=float) * scale
    _log_if_wide(ax, "y", values)
    ax.set_xlabel(_param_label(x))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    _outside_legend(ax, title="workload")
    note = "" if ranged else "the other swept parameters do not change it"
    _title(fig, f"{ylabel.split(' (')[0].capitalize()} against {x}",
           "; ".join(n for n in (note, not_shown(df)) if n))
    return fig


def _param_label(param: str) -> str:
    unit = PARAM_UNITS.get(param.rsplit(".", 1)[-1])
    return f"{param} ({unit})" if unit else param


def _swept(df: pd.DataFrame) -> list[str]:
    fixed = {"design", "workload", "status", "reason", "key", "detail", "code_version"}
    return [c for c in df.columns if "." in c and not c.startswith(("energy_j.", "area_mm2.",
                                                                     "utilization."))
            and c not in fixed and df[c].nunique() > 1]


def _first_swept(df: pd.DataFrame) -> str:
    swept = _swept(df)
    if not swept:
        raise ValueError("the results have no swept parameter to plot against")
    return swept[0]


DRAWERS = {"speedup": speedup, "energy": energy, "area": area, "pareto": pareto,
           "roofline": roofline, "scaling": scaling}  # sim.commands.plot.KINDS names them


def draw(kind: str, df: pd.DataFrame, **options) -> Figure:
    """The Figure of `kind` (one of DRAWERS); options go to that kind."""
    if kind not in DRAWERS:
        raise ValueError(f"unknown plot kind '{kind}' (known: {', '.join(DRAWERS)})")
    return DRAWERS[kind](df, **{k: v for k, v in options.items() if v is not None})


def plot(kind: str, df: pd.DataFrame, out: Path, formats=("png", "svg"),
         **options) -> list[Path]:
    """Draw `kind` (one of DRAWERS) to out.png and out.svg; options go to that kind."""
    return save(draw(kind, df, **options), Path(out), formats)
