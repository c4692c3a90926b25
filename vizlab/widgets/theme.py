"""The public look of the lab widgets: palette, fonts, colour maps and presentation mode.

Presentation mode (``set_presentation(True)``) makes every text bigger (ticks at 16 pt)
and every line and marker thicker, for a projector at the back of a lecture hall. Every
widget that exists restyles at once (each registers its ``restyle`` with
``on_theme_changed``) and new widgets are built that way. Lab views register their own
callbacks to restyle the text items they made.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QGraphicsItem
from shiboken6 import Shiboken, isValid

# Sizes on a desktop screen; presentation mode uses the second set.
TICK_PT = 10
LABEL_PT = 11
TITLE_PT = 12
_PRESENTATION_PT = {"tick": 16, "label": 18, "title": 20}
#: Lines and markers are this much thicker in presentation mode.
PRESENTATION_LINE_SCALE = 1.75

# Series colours, safe for the common forms of colour blindness and none of them grey (grey
# is for guide and reference lines, GUIDE_COLOR). The first six are Paul Tol's "bright"
# scheme, the next four the darker colours of his "muted" scheme that none of the first
# six resembles (P. Tol, "Colour Schemes", SRON technical note SRON/EPS/TN/09-002, 2021,
# https://personal.sron.nl/~pault/), then the orange of his "vibrant" scheme and black.
PALETTE = (
    "#4477AA",  # blue
    "#EE6677",  # red
    "#228833",  # green
    "#CCBB44",  # yellow
    "#66CCEE",  # cyan
    "#AA3377",  # purple
    "#332288",  # indigo
    "#999933",  # olive
    "#882255",  # wine
    "#44AA99",  # teal
    "#EE7733",  # orange
    "#000000",  # black
)
#: Reference lines (chance level, a keep probability): a grey no series uses.
GUIDE_COLOR = "#666666"
#: Dash styles for series past the palette's length: colour i + k * len(PALETTE) is drawn
#: with DASHES[k], so no two series in a plot look alike.
DASHES = ("solid", "dash", "dot", "dashdot")

# ColorBrewer RdBu, reversed so negative weights are blue and positive ones red, with a
# near-white centre: zero reads as "nothing", whatever the sign convention of the lab.
_RDBU_R = (
    "#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
    "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f",
)  # fmt: skip

_presentation = False
_callbacks: list[Callable[[], object] | weakref.WeakMethod] = []


# -- presentation mode ------------------------------------------------------------------


def presentation() -> bool:
    """Whether presentation mode is on."""
    return _presentation


def set_presentation(on: bool) -> None:
    """Turn presentation mode on or off; every widget and registered callback restyles."""
    global _presentation
    on = bool(on)
    if on == _presentation:
        return
    _presentation = on
    for entry in list(_callbacks):
        callback = entry() if isinstance(entry, weakref.WeakMethod) else entry
        owner = getattr(callback, "__self__", None)
        if callback is None or (isinstance(owner, Shiboken.Object) and not isValid(owner)):
            # Gone, or a Qt object whose C++ side was deleted (its window closed).
            _callbacks.remove(entry)
            continue
        try:
            callback()
        except RuntimeError as exc:
            # The Qt object behind a bound method was deleted (its widget closed).
            if "already deleted" not in str(exc):
                raise
            _callbacks.remove(entry)


def on_theme_changed(callback: Callable[[], object]) -> None:
    """Run ``callback()`` after every change of presentation mode. A bound method is held
    weakly, so registering does not keep a widget alive."""
    if len(_callbacks) % 256 == 255:  # forget widgets that are gone, now and then
        _callbacks[:] = [c for c in _callbacks
                         if not isinstance(c, weakref.WeakMethod) or c() is not None]
    if hasattr(callback, "__self__") and hasattr(callback, "__func__"):
        _callbacks.append(weakref.WeakMethod(callback))
    else:
        _callbacks.append(callback)


def tick_pt() -> int:
    return _PRESENTATION_PT["tick"] if _presentation else TICK_PT


def label_pt() -> int:
    return _PRESENTATION_PT["label"] if _presentation else LABEL_PT


def title_pt() -> int:
    return _PRESENTATION_PT["title"] if _presentation else TITLE_PT


def line_width(base: float = 1.0) -> float:
    """The width to draw a line of ``base`` pixels at on a desktop screen."""
    return base * (PRESENTATION_LINE_SCALE if _presentation else 1.0)


def marker_size(base: float) -> float:
    """The size to draw a marker (scatter symbol) of ``base`` pixels at."""
    return base * (PRESENTATION_LINE_SCALE if _presentation else 1.0)


def scaled_pt(base_pt: float) -> int:
    """A font size given for the desktop (``base_pt``), scaled like the tick labels."""
    return round(base_pt * tick_pt() / TICK_PT)


# -- colours ----------------------------------------------------------------------------


def palette_color(index: int) -> str:
    """Series colour ``index`` (it repeats after ``len(PALETTE)``; see ``series_style``)."""
    return PALETTE[index % len(PALETTE)]


def series_style(index: int) -> tuple[str, str]:
    """(colour, dash style) of series ``index``: the palette first solid, then dashed, ..."""
    return palette_color(index), DASHES[(index // len(PALETTE)) % len(DASHES)]


def diverging_cmap() -> pg.ColorMap:
    """Blue - white - red, white exactly at the middle of the levels."""
    return pg.ColorMap(np.linspace(0.0, 1.0, len(_RDBU_R)), list(_RDBU_R), name="RdBu_r")


def sequential_cmap() -> pg.ColorMap:
    """Perceptually uniform, for non-negative data such as counts."""
    return pg.colormap.get("viridis")


# -- fonts and plot styling -------------------------------------------------------------


def font(point_size: float) -> QFont:
    f = QFont()
    f.setPointSize(round(point_size))
    return f


def style_plot(plot: pg.PlotItem, title: str = "", x_label: str = "", y_label: str = "") -> None:
    """Readable title, axis labels and tick fonts for a plot."""
    set_title(plot, title)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setTickFont(font(tick_pt()))
        # Otherwise pyqtgraph rescales unit-less axes spanning 0..1 to "(x0.001)", which
        # turns fractions and losses into puzzles.
        axis.enableAutoSIPrefix(False)
        # The finest tick level adds little on a slide but, with a grid shown, costs
        # ~8 ms a frame to paint.
        axis.setStyle(maxTickLevel=1)
    set_axis_label(plot, "bottom", x_label)
    set_axis_label(plot, "left", y_label)


def restyle_plot(plot: pg.PlotItem) -> None:
    """Apply the current sizes to a plot's title, axis labels and ticks, keeping its texts."""
    title = plot.titleLabel
    if title.isVisibleTo(plot) and title.text:
        plot.setTitle(title.text, size=f"{title_pt()}pt")
    for side in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(side)
        axis.setTickFont(font(tick_pt()))
        if axis.label.isVisibleTo(axis) and axis.labelText:
            style = dict(axis.labelStyle)
            style["font-size"] = f"{label_pt()}pt"
            axis.setLabel(axis.labelText, axis.labelUnits or None, **style)


def set_title(plot: pg.PlotItem, title: str) -> None:
    # An empty title hides the title row instead of leaving a blank band.
    plot.setTitle(title or None, size=f"{title_pt()}pt")


def set_axis_label(plot: pg.PlotItem, side: str, text: str) -> None:
    if text:
        plot.setLabel(side, text, **{"font-size": f"{label_pt()}pt"})
    else:
        plot.getAxis(side).showLabel(False)


def restyle_axis(axis: pg.AxisItem, label_size: float | None = None) -> None:
    """Current tick font on a lone axis (a colour bar's), and its label at ``label_size``
    points (default: the axis-label size)."""
    axis.setTickFont(font(tick_pt()))
    if axis.label.isVisibleTo(axis) and axis.labelText:
        style = dict(axis.labelStyle)
        style["font-size"] = f"{label_size or label_pt()}pt"
        axis.setLabel(axis.labelText, axis.labelUnits or None, **style)


class Axis(pg.AxisItem):
    """An AxisItem that re-renders its label only when the label's text changes, and is
    painted from a pixmap of itself until it changes.

    pyqtgraph re-parses the label's HTML on every range change, even for a hidden label
    (~0.3 ms each): a tenth of building a plot, and again every frame a plot auto-ranges.
    """

    _label_html: str | None = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # An axis's grid lines cross the whole plot, so any change to a curve repainted
        # the axis too: its recorded drawing replayed, text laid out again, a quarter of
        # a plot's paint. On screen it is now drawn once per change of the axis and
        # copied otherwise (pictures and exports render it afresh, at their own scale).
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph API)
        # pyqtgraph picks about log(pixels) ticks whatever the font: on a short axis with
        # presentation-size text, "0.2 0.4 0.6 0.8" then overlap. Labels are kept a line
        # and a half apart (the major spacing grows in 1, 2, 5 steps), or 0.8 lines apart if
        # that is what leaves a label away from the axis's ends (pyqtgraph hides those).
        levels = super().tickSpacing(minVal, maxVal, size)
        if not levels or self.logMode or self.orientation not in ("left", "right"):
            return levels
        span = abs(maxVal - minVal)
        if span <= 0 or size <= 0:
            return levels
        height = QFontMetricsF(self.style["tickFont"] or QFont()).height()
        pixels = size / span  # per unit
        major = previous = levels[0][0]
        while major > 0 and major * pixels < 1.5 * height:
            previous, major = major, _next_round(major)
        if major == levels[0][0]:
            return levels
        low, high = min(minVal, maxVal), max(minVal, maxVal)
        margin = height / 2 / pixels

        def labelled(step: float) -> bool:
            first = math.ceil((low + margin) / step)
            return first * step <= high - margin

        if not labelled(major) and previous * pixels >= 0.8 * height and labelled(previous):
            major = previous
        return [(major, 0), (major / 2, 0)]

    def _updateMaxTextSize(self, x: int) -> None:  # noqa: N802 (pyqtgraph override)
        # pyqtgraph measures tick text at 0.8 of its line height but draws it at full
        # height from the top of that box: the descenders of "g", "p" and "y" hang below a
        # bottom axis and, in large type, are cut at the plot's edge ("siqmoid"). The
        # axis is made as tall as the whole line.
        if self.orientation in ("bottom", "top") and x > 0:
            x = self._line_height()
        super()._updateMaxTextSize(x)

    def setTickFont(self, font) -> None:  # noqa: N802 (pyqtgraph API)
        super().setTickFont(font)
        # The height for the new font now, not after the first paint: a change of the
        # axis's height after painting resizes the plot area once more, a turn of the
        # event loop after the lines' labels were placed for the old one.
        if self.orientation in ("bottom", "top") and self.style["showValues"]:
            self.textHeight = self._line_height()
            self._updateHeight()

    def _line_height(self) -> int:
        return math.ceil(QFontMetricsF(self.style["tickFont"] or QFont()).height())

    def _updateLabel(self) -> None:  # noqa: N802 (pyqtgraph override)
        html = self.labelString()
        if html != self._label_html:
            self._label_html = html
            self.label.setHtml(html)
        self._adjustSize()
        self.picture = None
        self.update()


def _next_round(step: float) -> float:
    """The next of 1, 2, 5 times a power of ten above ``step``."""
    power = 10.0 ** math.floor(math.log10(step) + 1e-9)
    mantissa = step / power
    for m in (2.0, 5.0, 10.0):
        if m > mantissa * (1 + 1e-9):
            return m * power
    return 20.0 * power


def plot_axes(**given: pg.AxisItem) -> dict[str, pg.AxisItem]:
    """The four axes of a plot: ``given`` ones, ``Axis`` for the rest."""
    return {side: given.get(side) or Axis(side) for side in ("left", "bottom", "right", "top")}


class LogFriendlyAxis(Axis):
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
