"""What every figure of the project shares: files that are byte-identical when the
numbers are (so committed plots show no diff on a re-run), labels placed where they
overlap neither each other nor the data, and axis formatters that name their units."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SVG_SALT = "accelsim"  # SVG element ids are hashes salted with this, not a random value


def save(fig: Figure, out: Path, formats=("png", "svg"), dpi: int = 150, **kw) -> list[Path]:
    """Write `out`.png and `out`.svg: no date in the SVG, fixed ids, so an unchanged
    figure writes the same bytes. Closes pyplot's hold on `fig` when it has one."""
    import matplotlib

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out.with_suffix(f".{fmt}") for fmt in formats]
    with matplotlib.rc_context({"svg.hashsalt": SVG_SALT}):
        for path, fmt in zip(paths, formats):
            meta = {"Date": None} if fmt in ("svg", "pdf") else {}
            fig.savefig(path, dpi=dpi, metadata=meta, **kw)
    import sys
    number = getattr(fig, "number", None)  # a pyplot figure would stay open otherwise
    if number is not None and "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt
        plt.close(fig)
    return paths


def log_ticks(ax: Axes, which: str = "y") -> None:
    """A log axis labelled at 1-2-5 steps in plain numbers (0.5, 1, 2, 5, 10, 20), not
    only at the powers of ten, so a range of 1 to 30 has more than two labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = getattr(ax, f"{which}axis")
    lo, hi = sorted(getattr(ax, f"get_{which}lim")())
    subs = (1.0, 2.0, 5.0) if hi / max(lo, 1e-300) < 1e4 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _bbox(fig: Figure, artist):
    return artist.get_window_extent(renderer=fig.canvas.get_renderer())


def place_labels(ax: Axes, points: list[tuple[float, float, str]], fontsize: float = 7,
                 avoid_legend: bool = True, color: str = "0.15") -> list:
    """Label each (x, y, text) point of `ax` in data coordinates: each label takes the
    first position, around its point and further out ring by ring, that stays inside the
    axes and overlaps no label already placed, no labelled point's marker and (with
    `avoid_legend`) the axes' legend; a thin line joins a label moved away from its
    point. Call it once the figure's layout is final (title and legends set): labels
    are kept out of the layout so they cannot move the axes afterwards. Matplotlib has
    no such placer of its own, and this one is deterministic (the same figure places
    the same way, so saved files stay byte-identical)."""
    fig = ax.figure
    if not hasattr(fig.canvas, "get_renderer"):  # a bare Figure: give it a raster canvas
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        FigureCanvasAgg(fig)
    fig.canvas.draw()  # the layout engine settles the axes before boxes are measured
    renderer = fig.canvas.get_renderer()
    pix = ax.transData.transform([(x, y) for x, y, _ in points]) if points else np.zeros((0, 2))
    taken = [ax.get_legend().get_window_extent(renderer)] if (
        avoid_legend and ax.get_legend() is not None) else []
    markers = [(px - 4, py - 4, px + 4, py + 4) for px, py in pix]
    frame = ax.get_window_extent(renderer)
    placed = []
    # directions (dx, dy) tried at each ring, right and up first
    dirs = [(1, 0.3), (1, -1), (-1, 0.3), (-1, -1), (0, 1.2), (0, -1.8), (1, 1.2), (-1, 1.2),
            (1, -1.8), (-1, -1.8)]
    for (x, y, text), (px, py) in zip(points, pix):
        label = ax.annotate(text, (x, y), xytext=(6, 2), textcoords="offset points",
                            fontsize=fontsize, color=color, zorder=5,
                            annotation_clip=False)
        label.set_in_layout(False)  # placed after the layout: must not move the axes
        best = None
        for ring in range(1, 12):
            for dx, dy in dirs:
                off = (dx * 6 * ring, dy * 5 * ring)
                label.xyann = off
                label.set_ha("left" if dx > 0 else "right" if dx < 0 else "center")
                box = label.get_window_extent(renderer)
                if not (frame.x0 <= box.x0 and box.x1 <= frame.x1
                        and frame.y0 <= box.y0 and box.y1 <= frame.y1):
                    continue
                if any(box.overlaps(t) for t in taken):
                    continue
                if any(box.x0 < m[2] and m[0] < box.x1 and box.y0 < m[3] and m[1] < box.y1
                       for m in markers):
                    continue
                best = off
                break
            if best is not None:
                break
        if best is None:  # nowhere free inside the axes: the first spot, still legible
            label.xyann = (6, 2)
            label.set_ha("left")
        elif max(abs(best[0]), abs(best[1])) > 12:  # moved away: a leader line
            ax.annotate("", (x, y), xytext=best, textcoords="offset points",
                        arrowprops=dict(arrowstyle="-", lw=0.4, color="0.5",
                                        shrinkA=0, shrinkB=2), zorder=4).set_in_layout(False)
        taken.append(label.get_window_extent(renderer))
        placed.append(label)
    return placed
