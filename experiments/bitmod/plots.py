"""Plots shaped like BitMoD's Fig. 7 (speedup over FP16) and Fig. 8 (energy breakdown)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sim.figstyle import save  # noqa: E402

LABEL = {"fp16-baseline": "FP16", "ant": "ANT", "olive": "OliVe", "bitmod": "BitMoD"}
COLOR = {"fp16-baseline": "#9e9e9e", "ant": "#4c72b0", "olive": "#dd8452", "bitmod": "#55a868"}
PARTS = [("compute_j", "compute", "#4c72b0"), ("buffer_j", "buffers", "#dd8452"),
         ("dram_j", "DRAM", "#8172b3")]


TITLE = {"discriminative": "discriminative (256-token prefill)",
         "generative": "generative (prefill + 20 decoded tokens)"}


def _save(fig, out: Path, stem: str):
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    save(fig, out / stem)


def speedup_plot(get, models, accels, tasks, out: Path):
    """Grouped bars: speedup over the FP16 baseline per model, one panel per task."""
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 3.6), squeeze=False)
    width = 0.8 / len(accels)
    for ax, task in zip(axes[0], tasks):
        names = models + ["geomean"]
        for i, a in enumerate(accels):
            vals = [get[(m, task, "fp16-baseline")].gemm_cycles / get[(m, task, a)].gemm_cycles
                    for m in models]
            g = 1.0
            for v in vals:
                g *= v
            vals.append(g ** (1 / len(models)))
            xs = [j + (i - (len(accels) - 1) / 2) * width for j in range(len(names))]
            ax.bar(xs, vals, width, label=LABEL[a], color=COLOR[a])
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_xlabel("model")
        ax.set_ylabel("speedup over FP16 (×, GEMM cycles)")
        ax.set_title(TITLE.get(task, task))
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(accels), fontsize=9)
    _save(fig, out, "speedup")


def energy_plot(get, models, accels, tasks, out: Path):
    """Stacked bars: energy (compute, buffers, DRAM) normalized to the FP16 baseline."""
    fig, axes = plt.subplots(1, len(tasks), figsize=(7 * len(tasks), 3.8), squeeze=False)
    width = 0.8 / len(accels)
    for ax, task in zip(axes[0], tasks):
        for j, m in enumerate(models):
            base = get[(m, task, "fp16-baseline")].gemm_energy_j
            for i, a in enumerate(accels):
                r = get[(m, task, a)]
                x = j + (i - (len(accels) - 1) / 2) * width
                bottom = 0.0
                for attr, label, color in PARTS:
                    v = getattr(r, attr) / base
                    ax.bar(x, v, width * 0.95, bottom=bottom, color=color,
                           label=label if (j, i) == (0, 0) else None, edgecolor="white",
                           linewidth=0.3)
                    bottom += v
                ax.text(x, bottom + 0.02, LABEL[a][0], ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(models)), models, rotation=30, ha="right")
        ax.set_xlabel("model")
        ax.set_ylabel("GEMM energy / FP16 baseline's")
        ax.set_title(f"{TITLE.get(task, task)}\nbars: F=FP16 A=ANT O=OliVe B=BitMoD", fontsize=10)
        ax.set_ylim(0, 1.15)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(PARTS), fontsize=9)
    _save(fig, out, "energy_breakdown")
