"""Shared look of the lab widgets: fonts, line colours, colour maps and plot styling."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont

TICK_PT = 10
LABEL_PT = 11
TITLE_PT = 12

# Tableau 10: distinct on a white background and familiar from matplotlib slides.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip

# ColorBrewer RdBu, reversed so negative weights are blue and positive ones red, with a
# near-white centre: zero reads as "nothing", whatever the sign convention of the lab.
_RDBU_R = (
    "#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
    "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f",
)  # fmt: skip


def palette_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def diverging_cmap() -> pg.ColorMap:
    """Blue - white - red, white exactly at the middle of the levels."""
    return pg.ColorMap(np.linspace(0.0, 1.0, len(_RDBU_R)), list(_RDBU_R), name="RdBu_r")


def sequential_cmap() -> pg.ColorMap:
    """Perceptually uniform, for non-negative data such as counts."""
    return pg.colormap.get("viridis")


def font(point_size: int) -> QFont:
    f = QFont()
    f.setPointSize(point_size)
    return f


def style_plot(plot: pg.PlotItem, title: str = "", x_label: str = "", y_label: str = "") -> None:
    """Readable title, axis labels and tick fonts for a plot."""
    set_title(plot, title)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setTickFont(font(TICK_PT))
        # Otherwise pyqtgraph rescales unit-less axes spanning 0..1 to "(x0.001)", which
        # turns fractions and losses into puzzles.
        axis.enableAutoSIPrefix(False)
        # The finest tick level adds little on a slide but, with a grid shown, costs
        # ~8 ms a frame to paint.
        axis.setStyle(maxTickLevel=1)
    set_axis_label(plot, "bottom", x_label)
    set_axis_label(plot, "left", y_label)


def set_title(plot: pg.PlotItem, title: str) -> None:
    # An empty title hides the title row instead of leaving a blank band.
    plot.setTitle(title or None, size=f"{TITLE_PT}pt")


def set_axis_label(plot: pg.PlotItem, side: str, text: str) -> None:
    if text:
        plot.setLabel(side, text, **{"font-size": f"{LABEL_PT}pt"})
    else:
        plot.getAxis(side).showLabel(False)


class LogFriendlyAxis(pg.AxisItem):
    """An axis whose log mode labels 1, 2, 5 per decade instead of every digit 1..9.

    pyqtgraph labels all nine minor ticks when less than ~3 decades are visible, which on
    a loss curve stacks "0.9 0.8 0.7 ..." on top of each other.
    """

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802,N803 (pyqtgraph API)
        wide = [(spacing, t) for spacing, t in stdTicks if spacing >= 1.0]
        if wide:  # several decades visible: the standard integer ticks are decades
            return wide
        lo, hi = math.floor(minVal), math.ceil(maxVal)

        def inside(factors: tuple[int, ...]) -> list[float]:
            vals = (d + math.log10(k) for d in range(lo, hi + 1) for k in factors)
            return [v for v in vals if minVal <= v <= maxVal]

        # Three levels: labelled decades, labelled 2 and 5, unlabelled rest (maxTextLevel=1).
        decades, two_five, rest = inside((1,)), inside((2, 5)), inside((3, 4, 6, 7, 8, 9))
        if len(decades) + len(two_five) < 3:  # a narrow range: label every digit
            two_five, rest = sorted(two_five + rest), []
        return [(1.0, decades), (None, two_five), (None, rest)]

    def setLogMode(self, *args, **kwargs):  # noqa: N802 (pyqtgraph API)
        super().setLogMode(*args, **kwargs)
        self.setStyle(maxTextLevel=1 if self.logMode else 2)
