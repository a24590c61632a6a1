"""Plots of sweep results (a DataFrame from sim.sweep.load_results), PNG and SVG.

Each function draws one kind and returns the matplotlib Figure; plot() saves it:
speedup (bars against a named baseline design), energy (stacked by component), area
(stacked by component), pareto (two objectives, the frontier highlighted), roofline
(each operation of one design placed under its unit's roof), scaling (a metric
against a swept parameter).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where drawn: `sim plot`'s --kind choices need only KINDS
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

KINDS = ("speedup", "energy", "area", "pareto", "roofline", "scaling")
MAX_BARS = 12  # more designs than this: the baseline and the fastest others
MAX_ROOFLINE_PANELS = 3
METRIC_UNITS = {  # column -> (axis label, scale to the unit shown)
    "seconds": ("latency (ms)", 1e3),
    "energy_j": ("energy (mJ)", 1e3),
    "area_mm2": ("area (mm²)", 1.0),
    "power_w": ("average power (W)", 1.0),
    "edp_js": ("energy-delay product (mJ·ms)", 1e6),
    "cycles": ("cycles", 1.0),
    "dram_bytes": ("DRAM traffic (MB)", 1e-6),
    "macs_per_s": ("throughput (TMAC/s)", 1e-12),
}


def metric_label(column: str) -> tuple[str, float]:
    return METRIC_UNITS.get(column, (column, 1.0))


def short_labels(designs) -> dict[str, str]:
    """'default,PE2D.rows=32,GLB.capacity_kib=512' -> 'rows=32 capacity_kib=512' when
    every design starts from the same architecture."""
    designs = list(dict.fromkeys(designs))
    parts = {d: d.split(",") for d in designs}
    same_base = len({p[0] for p in parts.values()}) == 1 and all(len(p) > 1 for p in parts.values())
    out = {}
    for d, p in parts.items():
        keep = p[1:] if same_base else p
        out[d] = " ".join(s.split(".", 1)[-1] if "=" in s else s for s in keep)
    return out


def feasible(df: pd.DataFrame) -> pd.DataFrame:
    ok = df[df["status"] == "ok"] if "status" in df else df
    if ok.empty:
        raise ValueError("no feasible points to plot (every point failed or is infeasible)")
    return ok


def _figure(**kw) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kw)


def save(fig: Figure, out: Path, formats=("png", "svg")) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(f".{fmt}") for fmt in formats]
    for path in paths:
        fig.savefig(path, dpi=150)
    return paths


def _complete(ok: pd.DataFrame, metric: str = "seconds") -> pd.DataFrame:
    """design x workload table of `metric`, only designs feasible on every workload."""
    table = ok.pivot_table(index="design", columns="workload", values=metric, aggfunc="min")
    return table[list(dict.fromkeys(ok["workload"]))].dropna()


def default_baseline(ok: pd.DataFrame) -> str:
    """The slowest design (geometric mean over workloads), so speedups read as >= 1."""
    import numpy as np
    table = _complete(ok)
    if table.empty:
        raise ValueError("no design is feasible on every workload")
    return np.log(table).mean(axis=1).idxmax()


def _pick_designs(ok: pd.DataFrame, baseline: str | None, n: int = MAX_BARS) -> list[str]:
    """Designs feasible on every workload: all if few, else the baseline plus the
    fastest (geometric mean of latency over workloads)."""
    import numpy as np
    order = np.log(_complete(ok)).mean(axis=1).sort_values().index.tolist()
    if len(order) <= n:
        return sorted(order, key=lambda d: (d != baseline, order.index(d)))
    picked = [d for d in order if d != baseline][: n - (baseline in order)]
    return ([baseline] if baseline in order else []) + picked


def speedup(df: pd.DataFrame, baseline: str | None = None,
            metric: str = "seconds") -> Figure:
    import numpy as np
    ok = feasible(df)
    designs = list(dict.fromkeys(ok["design"]))
    baseline = baseline or default_baseline(ok)
    if baseline not in designs:
        raise ValueError(f"baseline design '{baseline}' has no feasible point (designs: "
                         f"{', '.join(designs[:8])}{' ...' if len(designs) > 8 else ''})")
    table = ok.pivot_table(index="design", columns="workload", values=metric, aggfunc="min")
    table = table[list(dict.fromkeys(ok["workload"]))]
    ratio = (table.loc[baseline] / table).dropna(how="all")
    picked = [d for d in _pick_designs(ok, baseline) if d in ratio.index]
    ratio = ratio.loc[picked]
    labels = short_labels(ratio.index)
    fig_height = 0.45 * len(ratio) * max(1, len(ratio.columns)) ** 0.5 + 1.8
    label_chars = max(len(v) for v in labels.values())
    fig = _figure(figsize=(6 + 0.09 * label_chars, fig_height), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / len(ratio.columns)
    y = np.arange(len(ratio))
    for i, wl in enumerate(ratio.columns):
        ax.barh(y + i * height - 0.4 + height / 2, ratio[wl], height, label=wl)
    ax.axvline(1.0, color="black", lw=0.8, ls="--")
    ax.set_yticks(y, [labels[d] for d in ratio.index])
    ax.invert_yaxis()
    name = metric_label(metric)[0].split(" (")[0]
    ax.set_xlabel(f"speedup over the baseline (× lower {name})")
    fig.suptitle(f"Speedup over baseline {labels[baseline]}"
                 + (f"\n(the baseline and the {len(ratio) - 1} fastest of {len(designs)} designs)"
                    if len(designs) > MAX_BARS else ""), fontsize="medium")
    ax.legend(title="workload", loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _stacked_bars(ok: pd.DataFrame, prefix: str, designs: list[str], xlabel: str,
                  scale: float, title: str, per_workload: bool) -> Figure:
    """Horizontal bars stacked by component, one panel per workload (or one panel)."""
    import numpy as np
    cols = [c for c in ok.columns if c.startswith(prefix) and ok[c].fillna(0).gt(0).any()]
    panels = list(dict.fromkeys(ok["workload"])) if per_workload else [None]
    labels = short_labels(designs)
    label_chars = max(len(v) for v in labels.values())
    fig = _figure(figsize=(1.5 + 0.09 * label_chars + 4.0 * len(panels), 0.42 * len(designs) + 1.9),
                  layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, wl in zip(axes, panels):
        part = ok if wl is None else ok[ok["workload"] == wl]
        table = part.groupby("design")[cols].first().reindex(designs).fillna(0) * scale
        left = np.zeros(len(designs))
        for col in cols:
            ax.barh([labels[d] for d in designs], table[col], left=left, label=col[len(prefix):])
            left += table[col].to_numpy()
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(title if wl is None else wl)
    axes[0].invert_yaxis()
    axes[-1].legend(title="component", loc="upper left", bbox_to_anchor=(1.01, 1),
                    fontsize="small")
    if per_workload:
        fig.suptitle(title)
    return fig


def energy(df: pd.DataFrame, baseline: str | None = None) -> Figure:
    ok = feasible(df)
    designs = _pick_designs(ok, baseline, n=10)
    return _stacked_bars(ok, "energy_j.", designs, "energy (mJ)", 1e3,
                         "Energy breakdown by component", per_workload=True)


def area(df: pd.DataFrame, baseline: str | None = None) -> Figure:
    """Designs with distinct area breakdowns: all if few, else an even spread from the
    smallest to the largest total area (and the baseline)."""
    import numpy as np
    ok = feasible(df)
    cols = [c for c in ok.columns if c.startswith("area_mm2.")]
    distinct = ok.drop_duplicates(subset=cols).sort_values("area_mm2")
    designs = list(distinct["design"])
    if len(designs) > MAX_BARS:
        pick = np.unique(np.round(np.linspace(0, len(designs) - 1, MAX_BARS - 1)).astype(int))
        designs = [designs[i] for i in pick]
    if baseline in set(ok["design"]) and baseline not in designs:
        designs = [baseline] + designs
    return _stacked_bars(ok, "area_mm2.", designs, "area (mm²)", 1.0,
                         "Area breakdown by component", per_workload=False)


def _axis_scale(ax, which: str, values):
    """Log scale with plain numbers when values span more than 10x, else linear."""
    import numpy as np
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > 10:
        getattr(ax, f"set_{which}scale")("log")
        axis = getattr(ax, f"{which}axis")
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both x and y (both minimized),
    sorted by x."""
    import numpy as np
    order = np.lexsort((y, x))
    front, best_y = [], np.inf
    for i in order:
        if y[i] < best_y:
            front.append(i)
            best_y = y[i]
    return np.array(front, dtype=int)


def pareto(df: pd.DataFrame, x: str = "seconds", y: str = "energy_j") -> Figure:
    import numpy as np
    ok = feasible(df)
    workloads = list(dict.fromkeys(ok["workload"]))
    fig = _figure(figsize=(5.2 * len(workloads), 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(workloads)))
    (xl, xs), (yl, ys) = metric_label(x), metric_label(y)
    bad = df[df["status"] == "infeasible"] if "status" in df else df.iloc[:0]
    for ax, wl in zip(axes, workloads):
        part = ok[ok["workload"] == wl]
        xv, yv = part[x].to_numpy() * xs, part[y].to_numpy() * ys
        ax.scatter(xv, yv, s=12, color="tab:gray", alpha=0.5, label=f"feasible ({len(part)})")
        bad_wl = bad[(bad["workload"] == wl) & bad[x].notna() & bad[y].notna()] if len(bad) else bad
        if len(bad_wl):
            ax.scatter(bad_wl[x] * xs, bad_wl[y] * ys, s=14, marker="x", color="tab:red",
                       alpha=0.6, label=f"infeasible ({len(bad_wl)})")
        front = pareto_front(xv, yv)
        ax.plot(xv[front], yv[front], "-o", color="tab:blue", ms=5,
                label=f"Pareto front ({len(front)})")
        _axis_scale(ax, "x", xv)
        _axis_scale(ax, "y", yv)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(wl)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.suptitle(f"Pareto front: {xl.split(' (')[0]} vs {yl.split(' (')[0]} (lower is better)")
    return fig


def roofline(df: pd.DataFrame, design: str | None = None) -> Figure:
    """Each operation (summed over layers) of one design at (MACs or vector ops per DRAM
    byte, achieved rate) under the roofs of the 2D array and the vector unit."""
    import numpy as np
    ok = feasible(df)
    design = design or ok.loc[ok["seconds"].idxmin(), "design"]
    part = ok[ok["design"] == design]
    if part.empty:
        raise ValueError(f"design '{design}' has no feasible point")
    part = part.head(MAX_ROOFLINE_PANELS)  # choose others with --workload
    fig = _figure(figsize=(5.6 * len(part), 4.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(part)))
    for ax, (_, row) in zip(axes, part.iterrows()):
        info = json.loads(row["detail"])
        clock = info["clock_ghz"] * 1e9
        bw = row["dram_gb_s"] * 1e9
        pts = [(op["macs"] if op["kind"] == "contraction" else op["ops"], op) for op in info["ops"]]
        xs = [w / max(op["dram_bytes"], 1) for w, op in pts]
        roofs = [(name, row.get(col), color) for name, col, color in
                 (("2D array", "peak_macs_per_s", "tab:blue"),
                  ("vector unit", "vec_peak_ops_per_s", "tab:orange"))]
        roofs = [r for r in roofs if r[1] is not None and np.isfinite(r[1]) and np.isfinite(bw)]
        ridges = [peak / bw for _, peak, _ in roofs]  # where each unit becomes compute-bound
        lo, hi = min(xs + ridges + [1.0]) / 3, max(xs + ridges + [1.0]) * 4
        grid = np.geomspace(lo, hi, 200)
        for name, peak, color in roofs:
            ax.plot(grid, np.minimum(peak, grid * bw) / 1e12, color=color,
                    label=f"{name} roof ({peak / 1e12:.3g} T/s, DRAM {bw / 1e9:.0f} GB/s)")
        spots: dict[tuple, list[str]] = {}  # ops at nearly the same place share a label
        for (work, op), xi in zip(pts, xs):
            rate = work / (op["cycles"] / clock) / 1e12 if op["cycles"] else 0
            is_mac = op["kind"] == "contraction"
            ax.scatter(xi, rate, marker="o" if is_mac else "s",
                       color="tab:blue" if is_mac else "tab:orange", s=30, zorder=3)
            spot = (round(np.log10(xi) * 8), round(np.log10(max(rate, 1e-12)) * 8))
            spots.setdefault(spot, [xi, rate]).append(op["op"])
        for xi, rate, *names in spots.values():
            text = ", ".join(names[:4]) + (f" +{len(names) - 4}" if len(names) > 4 else "")
            ax.annotate(text, (xi, rate), fontsize=6.5, xytext=(4, 2),
                        textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("operational intensity (MACs or vector ops per DRAM byte)")
        ax.set_ylabel("achieved rate (TMAC/s or Tops/s)")
        ax.set_title(f"{row['workload']}", fontsize="medium")
        ax.grid(alpha=0.3)
        if roofs:
            ax.legend(fontsize="x-small", loc="upper left")
        else:
            ax.set_title(f"{row['workload']} (no 2D-array or vector-unit roof)",
                         fontsize="medium")
    fig.suptitle(f"Roofline of {short_labels([design])[design] or design} "
                 f"(circles: contractions, squares: vector ops)")
    return fig


def scaling(df: pd.DataFrame, x: str | None = None,
            metric: str = "seconds") -> Figure:
    """`metric` against swept parameter `x`, one line per workload: the best value at
    each x and the range over the other swept parameters."""
    ok = feasible(df)
    x = x or _first_swept(ok)
    if x not in ok:
        raise ValueError(f"no column '{x}' (swept parameters: {', '.join(_swept(ok)) or 'none'})")
    ylabel, scale = metric_label(metric)
    fig = _figure(figsize=(7, 4.6), layout="constrained")
    ax = fig.subplots()
    for wl, part in ok.groupby("workload", sort=False):
        stats = part.groupby(x)[metric].agg(["min", "max"]).sort_index() * scale
        line = ax.plot(stats.index, stats["min"], "-o", ms=4, label=f"{wl} (best)")
        if (stats["max"] > stats["min"]).any():
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.15,
                            color=line[0].get_color(), label=f"{wl} (range over other axes)")
    from pandas.api.types import is_numeric_dtype

    numeric = is_numeric_dtype(ok[x])
    if numeric and ok[x].max() / max(ok[x].min(), 1e-12) >= 8:
        from matplotlib.ticker import NullFormatter, ScalarFormatter
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(ok[x].unique()))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yscale("log")
    ax.set_xlabel(_param_label(x))
    ax.set_ylabel(ylabel)
    ax.set_title(f"{ylabel.split(' (')[0].capitalize()} against {x}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    return fig


PARAM_UNITS = {"capacity_kib": "KiB", "bandwidth_gb_s": "GB/s", "clock_ghz": "GHz",
               "seq_len": "tokens", "kv_len": "tokens", "rows": "PEs", "cols": "PEs",
               "lanes": "lanes"}


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


def plot(kind: str, df: pd.DataFrame, out: Path, formats=("png", "svg"),
         **options) -> list[Path]:
    """Draw `kind` (one of KINDS) to out.png and out.svg; options go to that kind."""
    drawers = {"speedup": speedup, "energy": energy, "area": area, "pareto": pareto,
               "roofline": roofline, "scaling": scaling}
    if kind not in drawers:
        raise ValueError(f"unknown plot kind '{kind}' (known: {', '.join(KINDS)})")
    fig = drawers[kind](df, **{k: v for k, v in options.items() if v is not None})
    return save(fig, Path(out), formats)
