"""Serving plots: latency CDFs of runs; capacity and latency against offered load."""

from __future__ import annotations

from pathlib import Path

from sim.figstyle import log_ticks
from sim.figstyle import save as _save

PALETTE = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377")  # Tol's


def latency_cdf(runs: dict):
    """Per run (label -> server.Run): CDFs of TTFT and of the time between tokens."""
    import matplotlib
    matplotlib.use("Agg")
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for (label, run), colour in zip(runs.items(), PALETTE * 4):
        ttft = np.sort([r.token_times[0] - r.arrival for r in run.requests]) * 1e3
        tbt = np.sort(np.concatenate([np.diff(r.token_times) for r in run.requests])) * 1e3
        for ax, x in zip(axes, (ttft, tbt)):
            ax.plot(x, np.arange(1, len(x) + 1) / max(1, len(x)), color=colour, label=label)
    for ax, what in zip(axes, ("time to first token (ms)", "time between tokens (ms)")):
        ax.set_xscale("log")
        log_ticks(ax, "x")
        ax.set_xlabel(what)
        ax.set_ylabel("fraction of requests" if "first" in what else "fraction of tokens")
        ax.grid(alpha=0.3)
    axes[1].legend(loc="lower right", fontsize="small")
    return fig


def save(fig, out: str | Path) -> list[Path]:
    return _save(fig, Path(out).with_suffix(""))


def capacity(found: list[dict]):
    """--find-capacity results of several architectures: each one's capacity (bars) and
    its p99 TTFT and TBT at every rate the search tried (latency against load)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.6), layout="constrained")
    bars, ttft, tbt = fig.subplots(1, 3)
    names = [f["arch"] for f in found]
    colours = PALETTE[:len(found)]
    bars.bar(names, [f["capacity_rate_per_s"] for f in found], color=colours)
    for i, f in enumerate(found):
        bars.annotate(f"{f['capacity_rate_per_s']:.3g}", (i, f["capacity_rate_per_s"]),
                      ha="center", va="bottom", fontsize="small")
    bars.set_ylabel("capacity (requests/s)")
    slo = found[0]["slo"]
    bars.set_title(f"{found[0]['attain']:.0%} within TTFT {slo['ttft_s']:g} s, "
                   f"p99 TBT {slo['tbt_p99_s'] * 1e3:g} ms", fontsize="small")
    for f, colour in zip(found, colours):
        tried = sorted(f["tried"], key=lambda t: t["rate_per_s"])
        rates = [t["rate_per_s"] for t in tried]
        ttft.plot(rates, [t["ttft_p99_s"] * 1e3 for t in tried], marker=".", color=colour,
                  label=f["arch"])
        tbt.plot(rates, [t["tbt_p99_s"] * 1e3 for t in tried], marker=".", color=colour)
    for ax, what, limit in ((ttft, "p99 time to first token (ms)", slo["ttft_s"]),
                            (tbt, "p99 time between tokens (ms)", slo["tbt_p99_s"])):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arrival rate (requests/s)")
        ax.set_ylabel(what)
        ax.axhline(limit * 1e3, color="#777777", linestyle="--", linewidth=1)
        ax.grid(alpha=0.3)
        log_ticks(ax, "x")
        log_ticks(ax, "y")
    ttft.legend(fontsize="small")
    return fig
