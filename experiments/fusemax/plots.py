"""Figures shaped like the FuseMax paper's: utilization (Fig. 6), speedup and energy
normalised to Unfused (Figs. 8-11), ours vs paper vs FLAT, utilization over time."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.fusemax import paper  # noqa: E402
from sim.figstyle import log_ticks, save  # noqa: E402

COLORS = {"unfused": "#999999", "flat": "#d95f02", "fusemax": "#1b9e77",
          "flat-exp6": "#7570b3"}
LABELS = {"unfused": "Unfused", "flat": "FLAT", "fusemax": "FuseMax",
          "flat-exp6": "FLAT, exp = 6 MACs"}


def _save(fig, out: Path, name: str):
    fig.tight_layout()
    save(fig, out / name, dpi=130)


def all_figures(out: Path, rows, points, models, seqs, timeline):
    by = {(p["model"], p["seq"]): p for p in points}
    _utilization(out, by, seqs)
    _normalised(out, by, models, seqs)
    _vs_flat(out, by, models, seqs)
    _timeline(out, timeline)
    _energy_breakdown(out, rows, models[0], seqs)


def _utilization(out, by, seqs):
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    x = np.arange(len(seqs))
    for col, model in enumerate(("BERT", "XLM")):
        for row, (unit, ref) in enumerate((("1d", paper.UTIL_1D), ("2d", paper.UTIL_2D))):
            ax = axes[row, col]
            for d in ("unfused", "flat", "fusemax"):
                ys = [by[(model, s)][f"util_{unit}.{d}"] if (model, s) in by else np.nan
                      for s in seqs]
                ax.plot(x, ys, "o-", color=COLORS[d], label=f"{LABELS[d]} (ours)")
                if d in ref[model]:
                    pv = [ref[model][d][paper.SEQS.index(s)] for s in seqs]
                    ax.plot(x, pv, "x--", color=COLORS[d], alpha=0.6,
                            label=f"{LABELS[d]} (paper)")
            ax.set_title(f"{model}: {unit.upper()} array utilization")
            ax.set_ylim(0, 1.05)
            ax.set_ylabel(f"{unit.upper()} utilization (busy / all PE-cycles)")
            ax.set_xticks(x, seqs)
            ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[1, 0].set_xlabel("sequence length (tokens)")
    axes[1, 1].set_xlabel("sequence length (tokens)")
    _save(fig, out, "fig6_utilization")


def _normalised(out, by, models, seqs):
    for scope, fig_name in (("attention", "fig8_9_attention"), ("e2e", "fig10_11_end_to_end")):
        fig, axes = plt.subplots(2, 1, figsize=(max(8, 1.6 * len(models) * len(seqs) / 2), 7))
        labels = [f"{m}\n{s}" for m in models for s in seqs]
        x = np.arange(len(labels))
        w = 0.27
        for i, d in enumerate(("unfused", "flat", "fusemax")):
            sp = [by[(m, s)][f"{scope}_speedup_over_unfused.{d}"] for m in models for s in seqs]
            en = [by[(m, s)][f"{scope}_energy_vs_unfused.{d}"] for m in models for s in seqs]
            axes[0].bar(x + (i - 1) * w, sp, w, color=COLORS[d], label=LABELS[d])
            axes[1].bar(x + (i - 1) * w, en, w, color=COLORS[d], label=LABELS[d])
        axes[0].set_yscale("log")
        log_ticks(axes[0])
        axes[0].set_ylabel("speedup over Unfused (×, log)")
        axes[1].set_ylabel("energy / Unfused energy")
        axes[0].set_title(f"{scope}: speedup (Figs. 8/10 convention)")
        axes[1].set_title(f"{scope}: energy (Figs. 9/11 convention)")
        for ax in axes:
            ax.set_xticks(x, labels, fontsize=7)
            ax.set_xlabel("model and sequence length (tokens)")
            ax.grid(axis="y", alpha=0.3)
        axes[0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        _save(fig, out, fig_name)


def _vs_flat(out, by, models, seqs):
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    x = np.arange(len(seqs))
    refs = {"attention": paper.ATTN_VS_FLAT, "e2e": paper.E2E_VS_FLAT}
    for col, scope in enumerate(("attention", "e2e")):
        for model in models:
            sp = [by[(model, s)][f"{scope}_speedup_vs_flat"] for s in seqs]
            en = [by[(model, s)][f"{scope}_energy_ratio_vs_flat"] for s in seqs]
            line, = axes[0, col].plot(x, sp, "o-", label=f"{model} ours")
            axes[1, col].plot(x, en, "o-", color=line.get_color(), label=f"{model} ours")
            ref = [refs[scope][model][paper.SEQS.index(s)] for s in seqs]
            axes[0, col].plot(x, [r[0] for r in ref], "x--", color=line.get_color(), alpha=0.6,
                              label=f"{model} paper")
            axes[1, col].plot(x, [r[1] for r in ref], "x--", color=line.get_color(), alpha=0.6,
                              label=f"{model} paper")
        axes[0, col].set_title(f"{scope}: FuseMax speedup over FLAT")
        axes[1, col].set_title(f"{scope}: FuseMax energy / FLAT")
        axes[0, col].set_ylabel("speedup over FLAT (× lower latency)")
        axes[1, col].set_ylabel("energy / FLAT energy")
        axes[1, col].set_xlabel("sequence length (tokens)")
        for ax in axes[:, col]:
            ax.set_xticks(x, seqs)
            ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, out, "fusemax_vs_flat")


def _timeline(out, timeline):
    fig, axes = plt.subplots(2, 1, figsize=(10, 5))
    for ax, d in zip(axes, ("fusemax", "flat")):
        for unit, color in (("2D", "#1b9e77"), ("1D", "#d95f02")):
            y = timeline[d][unit]
            bucket = max(1, len(y) // 400)
            yb = y[: len(y) // bucket * bucket].reshape(-1, bucket).mean(axis=1)
            ax.plot(np.arange(len(yb)) * bucket, yb, color=color, label=f"{unit} array")
        ax.set_title(f"{LABELS[d]}: utilization over time, one BERT head, 1K tokens "
                     f"({len(timeline[d]['2D']):,} cycles, cycle-level run)")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("busy fraction of PEs")
        ax.set_xlabel("cycle")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, out, "utilization_over_time")


def _energy_breakdown(out, rows, model, seqs):
    """Attention energy by component (2D / 1D array ops, their PE register files and
    on-array network, buffer, DRAM), normalised to FLAT."""
    comps = ("PE2D", "PE2D_RF", "PE2D_NoC", "VEC", "VEC_RF", "VEC_NoC", "GLB", "DRAM")
    shades = {"PE2D": "#1b9e77", "PE2D_RF": "#66c2a5", "PE2D_NoC": "#b3e2cd",
              "VEC": "#7570b3", "VEC_RF": "#a6a1d3", "VEC_NoC": "#d9d6ee",
              "GLB": "#e6ab02", "DRAM": "#666666"}
    att = {(r["seq"], r["design"]): r for r in rows
           if r["model"] == model and r["scope"] == "attention"}
    fig, ax = plt.subplots(figsize=(11.5, 4))
    designs = ("unfused", "flat", "fusemax")
    w = 0.27
    for si, s in enumerate(seqs):
        flat_total = att[(s, "flat")]["energy_j"]
        for di, d in enumerate(designs):
            bottom = 0.0
            for c in comps:
                v = att[(s, d)].get(f"energy_j.{c}", 0.0) / flat_total
                ax.bar(si + (di - 1) * w, v, w, bottom=bottom, color=shades[c],
                       edgecolor="white", linewidth=0.5,
                       label=c if (si, di) == (0, 0) else None)
                bottom += v
            ax.text(si + (di - 1) * w, bottom, {"unfused": "U", "flat": "FL", "fusemax": "FM"}[d],
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(seqs)), seqs)
    ax.set_xlabel("sequence length (tokens)")
    ax.set_ylabel("energy / FLAT energy")
    ax.set_title(f"{model} attention energy by component (U = Unfused, FL = FLAT, FM = FuseMax)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, out, "energy_breakdown")
