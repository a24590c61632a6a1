"""Checks that a rendered matplotlib figure explains itself, on the figure object (not
pixels): every data axes has labelled axes with units, a legend that covers no data
axes, texts that overlap neither each other nor leave the figure, the names expected."""

from __future__ import annotations

import re
from itertools import combinations

UNIT = re.compile(r"\(.+\)|×|/|fraction|share|cycle|design|model|rank")


def render(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _texts(fig, renderer):
    """(text, bbox) of every visible, non-empty label drawn inside the axes: point
    labels and annotations, the texts a bar label or note adds."""
    out = []
    for ax in fig.axes:
        for t in ax.texts:
            if t.get_visible() and t.get_text().strip():
                out.append((t.get_text(), t.get_window_extent(renderer)))
    return out


def _covers(box, ax, renderer) -> bool:
    """Whether `box` (display coordinates) holds a data point of `ax`: a line's vertex,
    a marker, a bar, a band's corner."""
    import numpy as np

    pts = []
    for line in ax.lines:
        if line.get_visible():
            pts.append(line.get_transform().transform(line.get_xydata()))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        offsets = coll.get_offsets()
        if len(offsets):
            pts.append(coll.get_offset_transform().transform(offsets))
        for path in coll.get_paths():
            pts.append(coll.get_transform().transform(path.vertices))
    for patch in ax.patches:
        if patch.get_visible() and patch.get_window_extent(renderer).overlaps(box):
            extent = patch.get_window_extent(renderer)
            if extent.width < ax.bbox.width * 0.9:  # a bar, not a full-width band
                return True
    if not pts:
        return False
    xy = np.concatenate([p for p in pts if len(p)]) if any(len(p) for p in pts) else []
    return bool(len(xy)) and bool(np.any((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1)
                                         & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)))


def all_text(fig) -> str:
    """Every string the figure shows: titles, axis and tick labels, legends, texts."""
    parts = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        parts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        parts += [t.get_text() for t in ax.texts]
        if ax.get_legend():
            parts += [t.get_text() for t in ax.get_legend().get_texts()]
    for leg in fig.legends:
        parts += [t.get_text() for t in leg.get_texts()]
    return "\n".join(parts)


def check(fig, names=(), units=True, legend=True, tight=False) -> None:
    """Assert the figure reads on its own; `names` must each appear somewhere in it;
    `legend`: whether it needs one (a single series does not); `tight`: saved with
    bbox_inches="tight", which grows the page to hold everything drawn."""
    renderer = render(fig)
    axes = [ax for ax in fig.axes if ax.has_data()]
    assert axes, "no axes with data"
    for ax in axes:
        xlabel = ax.get_xlabel() or next((a.get_xlabel() for a in axes
                                          if a.get_xlabel() and a.get_subplotspec()
                                          and ax.get_subplotspec()
                                          and a.get_subplotspec().colspan == ax.get_subplotspec().colspan), "")
        assert xlabel, f"axes '{ax.get_title()}' has no x label"
        assert ax.get_ylabel() or any(a.get_ylabel() and a.bbox.y0 == ax.bbox.y0 for a in axes), \
            f"axes '{ax.get_title()}' has no y label"
        if units:
            for label in (xlabel, ax.get_ylabel()):
                assert not label or UNIT.search(label), f"no unit in axis label '{label}'"
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    assert legends or not legend, "no legend"
    frames = [ax.get_window_extent(renderer) for ax in axes]
    for leg in legends:
        box = leg.get_window_extent(renderer)
        inside = [ax for ax in axes if leg in (ax.get_legend(),)]
        for ax, frame in zip(axes, frames):
            if ax in inside:  # a legend inside its axes must avoid the data
                assert not _covers(box, ax, renderer), "the legend covers data"
            else:
                assert not box.overlaps(frame), "a legend covers another panel"
    texts = _texts(fig, renderer)
    for (ta, a), (tb, b) in combinations(texts, 2):
        assert not a.overlaps(b), f"labels overlap: {ta!r} and {tb!r}"
    page = fig.bbox if not tight else fig.get_tightbbox(renderer).transformed(
        fig.dpi_scale_trans)
    for t, box in texts + [(leg.get_texts()[0].get_text() if leg.get_texts() else "legend",
                            leg.get_window_extent(renderer)) for leg in legends]:
        assert box.x0 >= page.x0 - 2 and box.x1 <= page.x1 + 2 and box.y0 >= page.y0 - 2 \
            and box.y1 <= page.y1 + 2, f"{t!r} leaves the figure"
    if fig._suptitle is not None:
        box = fig._suptitle.get_window_extent(renderer)
        assert box.x0 >= page.x0 - 2 and box.x1 <= page.x1 + 2, "the title leaves the figure"
    shown = all_text(fig)
    missing = [n for n in names if n not in shown]
    assert not missing, f"not named in the figure: {missing}"
