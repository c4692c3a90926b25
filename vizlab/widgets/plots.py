"""Line, histogram and bar plots for the labs: named series, created once, updated in place.

Long curves (a training history of 10^5-10^6 steps) are drawn decimated: each curve hands
pyqtgraph at most ``MAX_DRAWN_POINTS`` points, the minimum and maximum of each run of
consecutive points, so peaks and the data bounds survive. The exact data stays with the
plot for ``curve_data``, ``export_data`` and the CSV export.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QWidget

from vizlab.widgets import theme
from vizlab.widgets._base import PlotWidgetBase, remember_base
from vizlab.widgets.layout_check import data_hits
from vizlab.widgets.legend import OutsideLegend

#: Most points one curve hands to pyqtgraph; longer curves are decimated to min/max pairs.
MAX_DRAWN_POINTS = 2048
# Two points per bucket, plus the first and last point and the incomplete tail's two.
_MAX_BUCKETS = (MAX_DRAWN_POINTS - 4) // 2

_LINE_STYLES = {"solid": Qt.PenStyle.SolidLine, "dash": Qt.PenStyle.DashLine,
                "dot": Qt.PenStyle.DotLine, "dashdot": Qt.PenStyle.DashDotLine}  # fmt: skip
_STYLE_NAMES = {v: k for k, v in _LINE_STYLES.items()}

# Where along a reference line its label may sit (0 = left/bottom end, 1 = right/top),
# in order of preference: the first place that covers no curve wins.
_LABEL_PLACES = (0.92, 0.08, 0.5, 0.75, 0.25, 0.62, 0.38, 0.97, 0.03)


def _legend(plot: pg.PlotItem) -> OutsideLegend:
    # Outside the plot area, so it can never cover a curve, whatever the data does.
    return OutsideLegend(plot)


def _next_series_style(used: set[tuple[str, str]]) -> tuple[str, str]:
    """The first (colour, dash) of the series order that no series in ``used`` has."""
    total = len(theme.PALETTE) * len(theme.DASHES)
    for i in range(total):
        color, dash = theme.series_style(i)
        if (color.lower(), dash) not in used:
            return color, dash
    return theme.series_style(len(used))


def _bucket_size(count: int) -> int:
    """The smallest power of two that groups ``count`` points into few enough buckets."""
    size = 1
    while count // size > _MAX_BUCKETS:
        size *= 2
    return size


def _bucket_extrema(y: np.ndarray, start: int, stop: int, size: int) -> np.ndarray:
    """Indices of the minimum and maximum of each bucket of ``size`` points in
    ``y[start:stop]`` (``stop - start`` a multiple of ``size``), in index order."""
    if stop <= start:
        return np.empty(0, dtype=np.intp)
    part = y[start:stop].reshape(-1, size)
    nan = np.isnan(part)
    # NaN is neither min nor max; an all-NaN bucket yields NaN points (a gap, as drawn).
    low = np.argmin(np.where(nan, np.inf, part), axis=1)
    high = np.argmax(np.where(nan, -np.inf, part), axis=1)
    offsets = start + size * np.arange(part.shape[0])
    return (np.sort(np.stack([low, high], axis=1), axis=1) + offsets[:, None]).ravel()


def _tail_extrema(y: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Indices of the minimum and maximum of the incomplete last bucket, in index order."""
    if stop - start <= 2:
        return np.arange(start, stop)
    values = y[start:stop]
    if np.isnan(values).all():
        return np.array([start])
    return start + np.sort([np.nanargmin(values), np.nanargmax(values)])


def window_indices(x: np.ndarray, y: np.ndarray, low: float, high: float) -> np.ndarray:
    """Indices of the points to draw of a curve with increasing ``x`` seen from ``low`` to
    ``high`` (one point beyond each side, so the line runs to the edges): every point
    there, or min/max pairs when there are more than ``MAX_DRAWN_POINTS``."""
    start = max(int(np.searchsorted(x, low, side="left")) - 1, 0)
    stop = min(int(np.searchsorted(x, high, side="right")) + 1, x.shape[0])
    if stop - start <= MAX_DRAWN_POINTS:
        return np.arange(start, stop)
    size = _bucket_size(stop - start)
    done = stop - (stop - start) % size
    return np.concatenate([[start], _bucket_extrema(y, start, done, size),
                           _tail_extrema(y, done, stop), [stop - 1]])


class _MinMaxDecimator:
    """Min/max decimation of one whole curve, kept up to date incrementally for appended data.

    Points are grouped in buckets of a power-of-two size, few enough that at most
    ``_MAX_BUCKETS`` are complete; each complete bucket is drawn as its minimum and
    maximum point, the incomplete tail likewise, plus the first and last point (so the
    curve's bounds are exact and do not depend on the view: no auto-range feedback).
    When new data extends the old, only the newly completed buckets are computed.
    """

    def __init__(self) -> None:
        self._size = 0  # points per bucket; 0 when nothing is cached
        self._done = 0  # points covered by complete buckets
        self._indices = np.empty(0, dtype=np.intp)  # their extrema, in index order
        self._seen_x = np.empty(0)
        self._seen_y = np.empty(0)

    def indices(self, x: np.ndarray, y: np.ndarray, extends: bool) -> np.ndarray | None:
        """Indices of the points to draw, or None to draw every point."""
        n = y.shape[0]
        if n <= MAX_DRAWN_POINTS:
            self._size = 0
            return None
        size = _bucket_size(n)
        if not (extends and size == self._size and self._is_prefix(x, y)):
            self._size, self._done = size, 0
            self._indices = np.empty(0, dtype=np.intp)
        done = n - n % size
        if done > self._done:
            new = _bucket_extrema(y, self._done, done, size)
            self._indices = np.concatenate([self._indices, new])
            self._done = done
            # What the cached buckets were made from: checked before they are reused.
            self._seen_x, self._seen_y = x[self._indices], y[self._indices]
        return np.concatenate([[0], self._indices, _tail_extrema(y, self._done, n), [n - 1]])

    def _is_prefix(self, x: np.ndarray, y: np.ndarray) -> bool:
        # The caller says the data only grew; a Reset or a scrub back in time breaks that,
        # and shows as a shorter curve or changed values at the cached points.
        if y.shape[0] < self._done:
            return False
        idx = self._indices
        return bool(np.array_equal(x[idx], self._seen_x, equal_nan=True)
                    and np.array_equal(y[idx], self._seen_y, equal_nan=True))


class _Curve(pg.PlotDataItem):
    """A PlotDataItem drawn from decimated data that reports the exact data to exporters."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decimator = _MinMaxDecimator()
        self.exact: tuple[np.ndarray, np.ndarray] | None = None

    def getOriginalDataset(self):  # noqa: N802 (pyqtgraph override)
        # pyqtgraph's CSVExporter reads this: export every point, not the drawn ones.
        if self.exact is None:
            return super().getOriginalDataset()
        return self.exact


def _increasing(x: np.ndarray) -> bool:
    return bool(x.shape[0] < 2 or np.all(x[1:] >= x[:-1]))


# Ends of a growing x range: each at most 25% past the one before.
_ROUND_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def _round_up(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten >= value > 0."""
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in _ROUND_MANTISSAS if m * power >= value * (1 - 1e-12))


class CurvePlot(PlotWidgetBase):
    """Named curves with a legend, optional log-y, and labelled reference lines.

    ``grow_x=True`` suits curves that grow to the right (a training history): instead of
    auto-ranging, the x range runs from the first x to a round number past the last and
    moves only when the data passes it, so the axes are not redrawn with every new point
    (a third of a Training-lab frame). Zooming or panning stops the following; the
    auto-range button ("A") resumes it.

    ``labels_placed`` is emitted each time the reference lines' labels have been placed
    (once per turn of the event loop after the data or the view changed), for a lab that
    arranges its own texts around them.
    """

    labels_placed = Signal()

    def __init__(
        self,
        title: str = "",
        *,
        x_label: str = "",
        y_label: str = "",
        log_y: bool = False,
        legend: bool = True,
        grow_x: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, axis_items={"left": theme.LogFriendlyAxis("left")})
        plot = self._plot
        theme.style_plot(plot, title, x_label, y_label)
        plot.showGrid(x=True, y=True, alpha=0.15)
        # Long histories are decimated here (see _MinMaxDecimator), not by pyqtgraph: its
        # auto-downsampling and clip-to-view depend on the view range, which auto-range
        # derives from the downsampled data, and the two can chase each other forever.
        self._legend = _legend(plot) if legend else None
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._markers: list[tuple[pg.InfiniteLine, str, float]] = []
        # Lines whose label sits right of the plot area (no free place along them).
        self._outside_labels: list[pg.InfiniteLine] = []
        self._placing = False
        # Labels are placed once per turn of the event loop, after the data and the
        # view range of that turn are known, however many curves changed.
        self._place_timer = QTimer(self)
        self._place_timer.setSingleShot(True)
        self._place_timer.setInterval(0)
        self._place_timer.timeout.connect(self._place_marker_labels)
        self._log_y = False
        # The x range the user zoomed or panned to (auto-range off), else None: long
        # curves are then decimated over what is in view, so zooming in shows detail.
        self._zoom: tuple[float, float] | None = None
        self._grow_x = grow_x
        self._following = grow_x  # grow_x and the user has not zoomed
        self._x_set: tuple[float, float] | None = None  # the range last set by following
        if grow_x:
            plot.enableAutoRange(x=False)
            plot.vb.sigResized.connect(self._refollow)
        plot.getViewBox().sigXRangeChanged.connect(self._on_x_range_changed)
        self.set_log_y(log_y)

    def set_curve(
        self,
        name: str,
        x: np.ndarray | Sequence[float],
        y: np.ndarray | Sequence[float] | None = None,
        *,
        color: str | None = None,
        width: float = 2.0,
        style: str = "solid",
        extends: bool = False,
    ) -> pg.PlotDataItem:
        """Create curve ``name`` on first use, then just replace its data.

        With ``y`` omitted, ``x`` is taken as y and plotted against 0, 1, 2, ...
        ``extends=True`` says the data starts with the data last given for this curve
        (an append-only history): a long curve then decimates only the new points.
        """
        if y is None:
            yv = np.asarray(x, dtype=float)
            xv = np.arange(yv.shape[0], dtype=float)
        else:
            xv, yv = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if xv.shape != yv.shape or xv.ndim != 1:
            raise ValueError(
                f"curve {name!r}: x and y must be 1-D of equal length, "
                f"got {xv.shape} and {yv.shape}"
            )
        curve = self._curves.get(name)
        if curve is None:
            if color is None:
                # Per plot, by series order: no two series alike (past the palette's
                # length the colours come again dashed).
                color, auto_dash = _next_series_style(self._series_styles())
                if style == "solid":
                    style = auto_dash
            pen = pg.mkPen(color, width=theme.line_width(width), style=_LINE_STYLES[style])
            segmented = width > 1 and style == "solid"
            if segmented:
                # Flat caps: segments then meet without the darker overlaps at the joints.
                pen.setCapStyle(Qt.PenCapStyle.FlatCap)
            curve = _Curve(name=name, pen=pen)
            remember_base(curve, width=width, symbol=0.0)
            self._plot.addItem(curve)
            if segmented:
                # Qt strokes wide antialiased polylines very slowly (~30 ms for a noisy
                # 5,000-point loss curve); separate segments draw in a few ms.
                curve.curve.setSegmentedLineMode("on")
            self._curves[name] = curve
        self._data[name] = (xv, yv)
        curve.exact = (xv, yv)
        self._show(curve, extends)
        if self._following:
            self._follow_x()
        if self._markers:
            self._place_timer.start()
        return curve

    def _series_styles(self) -> set[tuple[str, str]]:
        """(colour, dash) of every curve in the plot."""
        used = set()
        for curve in self._curves.values():
            pen = curve.opts["pen"]
            used.add((pen.color().name().lower(), _STYLE_NAMES.get(pen.style(), "solid")))
        return used

    def set_equal_aspect(self, on: bool) -> None:
        """Lock the aspect ratio so one unit of x is as long on screen as one unit of y
        (circles stay circles); off lets each axis fit its data."""
        self._plot.setAspectLocked(bool(on), ratio=1.0)

    @property
    def equal_aspect(self) -> bool:
        return bool(self._plot.vb.state["aspectLocked"])

    def _follow_x(self) -> None:
        ends = [(xv[0], xv[-1]) for xv, _ in self._data.values() if xv.shape[0]]
        if not ends:
            return
        low = float(np.nanmin([first for first, _ in ends]))
        last = float(np.nanmax([end for _, end in ends]))
        if not (math.isfinite(low) and math.isfinite(last)):
            return
        high = low + _round_up(last - low) if last > low else low + 1.0
        target = (low - self._room_left(low, high - low), high)
        if target != self._x_set:
            self._x_set = target
            self._plot.setXRange(*target, padding=0)

    def _room_left(self, low: float, span: float) -> float:
        """Room left of the first point: 2% of the span, or more where half the first
        x tick's text needs it (pyqtgraph drops a label that crosses the axis's end, and
        a step axis of a narrow plot lost its 0)."""
        axis = self._plot.getAxis("bottom")
        half = QFontMetricsF(axis.style["tickFont"] or theme.font(theme.tick_pt())) \
            .horizontalAdvance(f"{low:g}") / 2 + 1
        pixels = self._plot.vb.width()
        need = half * span / (pixels - half) if pixels > 2 * half else 0.0
        return max(0.02 * span, need)

    def _refollow(self) -> None:
        """Resized: the room for the first tick's text is another share of the span."""
        if self._following and self._x_set is not None:
            self._follow_x()

    def _show(self, curve: _Curve, extends: bool) -> None:
        """Hand the curve's data to pyqtgraph, decimated when long."""
        xv, yv = curve.exact
        drawn = curve.decimator.indices(xv, yv, extends)
        zoom = self._zoom
        if (drawn is not None and zoom is not None and not zoom[0] <= xv[0] <= xv[-1] <= zoom[1]
                and _increasing(xv)):
            # Zoomed in: the part in view (a view of the whole curve keeps the cached one).
            drawn = window_indices(xv, yv, *zoom)
        if drawn is not None:
            xv, yv = xv[drawn], yv[drawn]
        if self._log_y:
            # log10 of zeros or negatives: show a gap rather than warn every frame.
            yv = np.where(yv > 0, yv, np.nan)
        # Qt strokes a dashed antialiased pen 3-5 times slower than a plain one: ~150 ms a
        # frame for a noisy test-loss curve of 4,000 points. Past a few points per pixel
        # column the dashes merge into a band anyway, so such curves go without.
        dashed = curve.opts["pen"].style() != Qt.PenStyle.SolidLine
        dense = drawn is not None and len(drawn) > MAX_DRAWN_POINTS // 2
        curve.setData(xv, yv, connect="finite",
                      antialias=not (dense and dashed) and pg.getConfigOption("antialias"))

    def _on_x_range_changed(self, view: pg.ViewBox, x_range: tuple[float, float]) -> None:
        # Under auto-range the drawn data sets the range, so it must not depend on the
        # range (that loop is what froze long runs); a range the user chose is fixed, and
        # decimating the part in view cannot move it.
        x_range = (float(x_range[0]), float(x_range[1]))
        if self._grow_x:
            if view.autoRangeEnabled()[0]:
                # The auto-range button: follow the data again, without auto-range.
                self._following, self._x_set = True, None
                view.enableAutoRange(x=False)
                self._follow_x()
            elif self._following and not self._is_followed_range(x_range):
                self._following = False  # the user zoomed or panned
        zoom = None if view.autoRangeEnabled()[0] or self._following else x_range
        if zoom == self._zoom:
            return
        self._zoom = zoom
        for curve in self._curves.values():
            if curve.exact is not None and curve.exact[0].shape[0] > MAX_DRAWN_POINTS:
                self._show(curve, extends=True)

    def _is_followed_range(self, x_range: tuple[float, float]) -> bool:
        if self._x_set is None:
            return False
        tolerance = 1e-9 * (self._x_set[1] - self._x_set[0])
        return all(abs(a - b) <= tolerance for a, b in zip(x_range, self._x_set, strict=True))

    def remove_curve(self, name: str) -> None:
        curve = self._curves.pop(name, None)
        self._data.pop(name, None)
        if curve is not None:
            self._plot.removeItem(curve)

    def curve_names(self) -> list[str]:
        return list(self._curves)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self._data[name]

    @property
    def log_y(self) -> bool:
        return self._log_y

    def set_log_y(self, on: bool) -> None:
        self._log_y = bool(on)
        self._plot.setLogMode(y=self._log_y)
        for name, (xv, yv) in list(self._data.items()):
            self.set_curve(name, xv, yv)
        for line, _, value in self._markers:
            line.setValue(self._marker_pos(line.angle, value))
        if self._outside_labels:
            self._update_outside_labels()

    def add_marker(
        self,
        x: float | None = None,
        y: float | None = None,
        label: str = "",
        *,
        color: str = theme.GUIDE_COLOR,
    ) -> pg.InfiniteLine:
        """A dashed reference line at ``x=...`` (vertical) or ``y=...`` (horizontal).

        Its label goes where along the line it covers no curve (see ``_LABEL_PLACES``),
        and moves when the data or the view changes.
        """
        if (x is None) == (y is None):
            raise ValueError("give exactly one of x or y")
        angle, value = (90, float(x)) if x is not None else (0, float(y))  # type: ignore[arg-type]
        line = pg.InfiniteLine(
            pos=self._marker_pos(angle, value),
            angle=angle,
            movable=False,
            pen=pg.mkPen(color, width=theme.line_width(1.5), style=Qt.PenStyle.DashLine),
            label=label or None,
            labelOpts={
                "position": 0.92 if angle == 90 else 0.08,
                "color": color,
                "fill": pg.mkBrush(255, 255, 255, 200),
                "movable": False,
            },
        )
        remember_base(line, width=1.5)
        if line.label is not None:
            line.label.setFont(theme.font(theme.tick_pt()))
            remember_base(line.label, pt=float(theme.TICK_PT))
        self._plot.addItem(line, ignoreBounds=True)
        self._markers.append((line, label, value))
        if len(self._markers) == 1:
            vb = self._plot.vb
            vb.sigTransformChanged.connect(self._place_timer.start)
            vb.sigResized.connect(self._place_timer.start)
        self._place_timer.start()
        return line

    def _place_marker_labels(self, *_args) -> None:
        """Move each reference line's label to the first place along it that covers no
        curve, above or below the line (left or right of a vertical one). A horizontal
        line with no such place (curves all along it) gets its label right of the plot
        area instead, as a tick of the right axis, and keeps it there."""
        if self._placing:
            return
        area = self._plot.vb.sceneBoundingRect()
        if area.width() < 20 or area.height() < 20:
            return  # not laid out yet
        self._placing = True
        try:
            for line, _, _ in self._markers:
                label = line.label
                if (label is None or not line.isVisible() or not label.toPlainText()
                        or line in self._outside_labels):
                    continue
                if not self._find_free_place(line, area) and line.angle == 0:
                    self._outside_labels.append(line)
                    label.hide()
                    line.sigPositionChanged.connect(self._update_outside_labels)
                    self._update_outside_labels()
        finally:
            self._placing = False
        self.labels_placed.emit()

    def _find_free_place(self, line: pg.InfiniteLine, area) -> bool:
        label = line.label
        sides = [(0.5, 1.0), (0.5, 0.0)] if line.angle == 0 else [(1.0, 0.5), (0.0, 0.5)]
        for place in _LABEL_PLACES:
            for side in sides:
                label.anchors = [side, side]
                label.setPosition(place)
                box = label.sceneBoundingRect()
                if area.contains(box) and not data_hits(self._plot, box.adjusted(1, 1, -1, -1)):
                    return True
        label.anchors = [sides[0], sides[0]]  # nowhere free: the first choice
        label.setPosition(_LABEL_PLACES[0])
        return False

    def _update_outside_labels(self, *_args) -> None:
        """The right axis shows the labels moved out of the plot area, at their lines."""
        axis = self._plot.getAxis("right")
        ticks = [(line.value(), line.label.toPlainText()) for line in self._outside_labels]
        if not ticks:
            self._plot.hideAxis("right")
            return
        axis.setTicks([ticks, []])
        font = theme.font(theme.tick_pt())
        axis.setTickFont(font)
        axis.setTextPen(pg.mkPen(theme.GUIDE_COLOR))
        axis.setPen(pg.mkPen(None))
        axis.setStyle(tickLength=0)
        # As wide as the longest label: pyqtgraph would widen the axis only after drawing
        # its text, and an axis of width 0 draws none.
        metrics = QFontMetricsF(font)
        text = max(metrics.horizontalAdvance(t) for _, t in ticks)
        axis.setWidth(math.ceil(text + axis.style["tickTextOffset"][0] + 4))
        self._plot.showAxis("right")
        self._plot.layout.activate()  # now, not a turn of the event loop later

    def restyle(self) -> None:
        super().restyle()
        if self._outside_labels:
            self._update_outside_labels()

    def clear_markers(self) -> None:
        for line, _, _ in self._markers:
            self._plot.removeItem(line)
        self._markers.clear()
        self._outside_labels.clear()
        self._update_outside_labels()

    def _marker_pos(self, angle: float, value: float) -> float:
        # pyqtgraph's log mode transforms data items only; lines are placed in log10 space.
        if angle == 0 and self._log_y:
            return math.log10(value) if value > 0 else float("nan")
        return value

    def export_data(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, (xv, yv) in self._data.items():
            out[f"{name}_x"] = xv.copy()
            out[f"{name}_y"] = yv.copy()
        return out


class HistogramPlot(PlotWidgetBase):
    """Histograms as filled steps, one per named series (e.g. activations per layer)."""

    def __init__(
        self,
        title: str = "",
        *,
        x_label: str = "",
        y_label: str = "count",
        legend: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        theme.style_plot(self._plot, title, x_label, y_label)
        self._plot.showGrid(y=True, alpha=0.15)
        self._legend = _legend(self._plot) if legend else None
        self._series: dict[str, pg.PlotDataItem] = {}
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def set_histogram(
        self,
        counts: np.ndarray | Sequence[float],
        edges: np.ndarray | Sequence[float],
        name: str = "counts",
        *,
        color: str | None = None,
    ) -> pg.PlotDataItem:
        """Show ``counts`` (n) over bin ``edges`` (n + 1), as ``np.histogram`` returns them."""
        c = np.asarray(counts, dtype=float)
        e = np.asarray(edges, dtype=float)
        if c.ndim != 1 or e.shape != (c.shape[0] + 1,):
            raise ValueError(
                f"histogram {name!r}: need n counts and n+1 edges, got {c.shape} and {e.shape}"
            )
        item = self._series.get(name)
        if item is None:
            used = {(pg.mkColor(i.opts["pen"].color()).name().lower(), "solid")
                    for i in self._series.values()}
            qc = pg.mkColor(color or _next_series_style(used)[0])
            fill = pg.mkColor(qc)
            fill.setAlpha(90)  # translucent, so overlapping series stay visible
            item = self._plot.plot(
                name=name,
                stepMode="center",
                fillLevel=0,
                pen=pg.mkPen(qc, width=theme.line_width(1.5)),
                brush=pg.mkBrush(fill),
            )
            remember_base(item, width=1.5, symbol=0.0)
            self._series[name] = item
        self._data[name] = (c, e)
        item.setData(e, c)
        return item

    def remove_series(self, name: str) -> None:
        item = self._series.pop(name, None)
        self._data.pop(name, None)
        if item is not None:
            self._plot.removeItem(item)

    def export_data(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, (c, e) in self._data.items():
            out[f"{name}_counts"] = c.copy()
            out[f"{name}_edges"] = e.copy()
        return out


#: Value labels over narrow bars may be set down to this share of the tick size, and
#: never below MIN_VALUE_PT points, before they are left out.
MIN_VALUE_SCALE = 0.7
MIN_VALUE_PT = 7


class BarPlot(PlotWidgetBase):
    """Labelled bars, e.g. the fraction of dead ReLUs per layer."""

    def __init__(
        self,
        title: str = "",
        *,
        x_label: str = "",
        y_label: str = "",
        color: str | None = None,
        show_values: bool = True,
        value_format: str = "{:.3g}",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        theme.style_plot(self._plot, title, x_label, y_label)
        self._plot.showGrid(y=True, alpha=0.15)
        self._plot.setMouseEnabled(x=False, y=False)
        self._color = color or theme.palette_color(0)
        self._show_values = show_values
        self._value_format = value_format
        self._labels: list[str] = []
        self._values = np.zeros(0)
        self._bars = pg.BarGraphItem(
            x=[], height=[], width=0.7, brush=self._color, pen=pg.mkPen(None)
        )
        self._plot.addItem(self._bars)
        self._texts: list[pg.TextItem] = []
        self._name_step = 0  # every how many bars a name is written under them
        self._value_pt = theme.tick_pt()  # the value labels' size (see _fit_texts)
        self._plot.vb.sigResized.connect(self._fit_texts)

    def set_bars(
        self,
        labels: Sequence[str],
        values: np.ndarray | Sequence[float],
        colors: Sequence[str] | None = None,
    ) -> None:
        v = np.asarray(values, dtype=float)
        labels = [str(s) for s in labels]
        if v.ndim != 1 or len(labels) != v.shape[0]:
            raise ValueError(f"need one label per value, got {len(labels)} and {v.shape}")
        x = np.arange(len(labels), dtype=float)
        brushes = [pg.mkBrush(c) for c in colors] if colors is not None else None
        if brushes is not None and len(brushes) != len(labels):
            raise ValueError("need one colour per bar")
        self._bars.setOpts(x=x, height=v, brushes=brushes, brush=None if brushes else self._color)
        if labels != self._labels:
            self._name_step = 0
            self._plot.setXRange(-0.6, len(labels) - 0.4, padding=0)
        self._labels, self._values = labels, v
        if self._show_values:
            self._update_texts(x, v)
        self._fit_texts()
        lo, hi = (
            min(0.0, float(np.nanmin(v, initial=0.0))),
            max(0.0, float(np.nanmax(v, initial=0.0))),
        )
        span = (hi - lo) or 1.0
        # Headroom above (and below) the bars for their value labels.
        self._plot.setYRange(lo - (0.12 if lo < 0 else 0.02) * span, hi + 0.12 * span, padding=0)

    def _update_texts(self, x: np.ndarray, v: np.ndarray) -> None:
        # Reuse the text items; only add or remove when the number of bars changes.
        while len(self._texts) < len(v):
            t = pg.TextItem(color="k")
            t.setFont(theme.font(theme.tick_pt()))
            remember_base(t, pt=float(theme.TICK_PT))
            self._plot.addItem(t)
            self._texts.append(t)
        while len(self._texts) > len(v):
            self._plot.removeItem(self._texts.pop())
        for t, xi, vi in zip(self._texts, x, v, strict=True):
            t.setText(self._value_format.format(vi) if np.isfinite(vi) else "")
            t.setAnchor((0.5, 1.0) if vi >= 0 else (0.5, 0.0))
            t.setPos(xi, vi if np.isfinite(vi) else 0.0)

    def _fit_texts(self, *_args) -> None:
        """Value labels at the tick size when each fits over its bar, else a smaller size
        (down to ``MIN_VALUE_SCALE`` of it), else none rather than a run of digits; names
        under every bar, or every 2nd, 5th, ... when they would collide."""
        if not self._labels:
            return
        vb = self._plot.vb
        slot = vb.width() / (len(self._labels) + 0.2)  # pixels per bar (see set_bars)
        if slot <= 0:
            return
        full = theme.tick_pt()
        point_size, show = full, False
        values = [t.toPlainText() for t in self._texts]
        if values:
            smallest = max(MIN_VALUE_PT, math.floor(full * MIN_VALUE_SCALE))
            for point_size in range(full, smallest - 1, -1):
                metrics = QFontMetricsF(theme.font(point_size))
                if max(metrics.horizontalAdvance(v) for v in values) + 4 <= slot:
                    show = True
                    break
            if not show:
                point_size = full
        self._value_pt = point_size
        font = theme.font(point_size)
        for t, value in zip(self._texts, values, strict=True):
            if t.textItem.font().pointSize() != point_size:
                t.setFont(font)
            t.setVisible(show and bool(value))
        # Names: under every bar at the tick size, else a little smaller (as the values),
        # else every 2nd, 5th, ... bar's at the tick size.
        smallest = max(MIN_VALUE_PT, math.floor(full * MIN_VALUE_SCALE))
        for name_pt in [*range(full, smallest - 1, -1), full]:
            metrics = QFontMetricsF(theme.font(name_pt))
            name = max(metrics.horizontalAdvance(n) for n in self._labels) + 8
            if name <= slot:
                break
        axis = self._plot.getAxis("bottom")
        if axis.style["tickFont"] is None or axis.style["tickFont"].pointSize() != name_pt:
            axis.setTickFont(theme.font(name_pt))
        step = next(k for k in (1, 2, 5, 10, 20, 50, 100, 10**9) if k * slot >= name)
        if step != self._name_step:
            self._name_step = step
            ticks = [(i, n) for i, n in enumerate(self._labels) if i % step == 0]
            self._plot.getAxis("bottom").setTicks([ticks])

    def values_shown(self) -> bool:
        """Whether the value labels are drawn (they fit over their bars)."""
        return bool(self._texts) and any(t.isVisible() for t in self._texts)

    def value_point_size(self) -> int:
        """The point size the value labels are drawn at (below the tick size on narrow
        bars)."""
        return self._value_pt

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)  # may set every text item to the theme's size
        self._fit_texts()

    def restyle(self) -> None:
        super().restyle()
        self._name_step = 0
        self._fit_texts()

    def export_data(self) -> dict[str, np.ndarray]:
        return {"labels": np.array(self._labels, dtype=str), "values": self._values.copy()}
