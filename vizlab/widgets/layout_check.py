"""Whether a legend or an annotation covers plotted data, measured in scene coordinates.

For every pyqtgraph plot in a widget tree, the boxes of its legend (where it overlaps the
plot area) and of its annotations (text items, reference-line labels) are tested against
what the plot draws: each curve's points and the line segments between them, scatter
points with their symbol size, and bars. A box that only touches data at its edge does
not count (a bar's value label sits on the bar's top).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QImage, QPainter
from PySide6.QtWidgets import QWidget

# Boxes are shrunk by this many pixels on each side before testing, so text that sits
# right on a line's pixel edge is not reported.
_TOLERANCE_PX = 1.0


def plot_items(widget: QWidget) -> list[pg.PlotItem]:
    """Every pyqtgraph PlotItem shown in ``widget`` and its children."""
    views = [widget] if isinstance(widget, pg.GraphicsView) else []
    views += widget.findChildren(pg.GraphicsView)
    found: list[pg.PlotItem] = []
    for view in views:
        scene = view.scene()
        if scene is None:
            continue
        found += [item for item in scene.items() if isinstance(item, pg.PlotItem)]
    return found


def _scene_xy(item: pg.GraphicsObject, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, 2) scene coordinates of points given in ``item``'s coordinates."""
    t = item.sceneTransform()
    sx = t.m11() * x + t.m21() * y + t.dx()
    sy = t.m12() * x + t.m22() * y + t.dy()
    return np.stack([sx, sy], axis=1)


def segments_hit_box(starts: np.ndarray, ends: np.ndarray, box: QRectF) -> np.ndarray:
    """Which segments (n, 2) -> (n, 2) cross or touch the inside of ``box`` (Liang-Barsky)."""
    x0, y0 = starts[:, 0], starts[:, 1]
    dx, dy = ends[:, 0] - x0, ends[:, 1] - y0
    lo = np.zeros(len(starts))
    hi = np.ones(len(starts))
    ok = np.isfinite(starts).all(axis=1) & np.isfinite(ends).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-dx, x0 - box.left()), (dx, box.right() - x0),
                     (-dy, y0 - box.top()), (dy, box.bottom() - y0)):
            parallel = p == 0
            ok &= ~(parallel & (q < 0))
            t = np.where(parallel, np.nan, q / np.where(parallel, 1.0, p))
            lo = np.where(~parallel & (p < 0), np.maximum(lo, t), lo)
            hi = np.where(~parallel & (p > 0), np.minimum(hi, t), hi)
    return ok & (lo <= hi)


def points_in_box(points: np.ndarray, box: QRectF, radius: float = 0.0) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return ((x >= box.left() - radius) & (x <= box.right() + radius)
            & (y >= box.top() - radius) & (y <= box.bottom() + radius))


def _item_name(item: pg.GraphicsObject) -> str:
    name = item.name() if hasattr(item, "name") else None
    return repr(name) if name else type(item).__name__


def data_hits(plot: pg.PlotItem, box: QRectF) -> list[str]:
    """What of ``plot``'s data (curves, points, bars) lies inside scene rectangle ``box``."""
    hits: list[str] = []
    for item in plot.listDataItems():
        if not item.isVisible():
            continue
        if isinstance(item, pg.PlotDataItem):
            x, y = item.getData()
            if x is None or len(x) == 0:
                continue
            x, y = np.asarray(x, float), np.asarray(y, float)
            if len(x) == len(y) + 1:  # a histogram: n + 1 bin edges, n counts
                hit = _steps_hit(item, x, y, box)
                if hit is not None:
                    hits.append(f"{hit} of {_item_name(item)}")
                continue
            xy = _scene_xy(item, x, y)
            pen = item.opts.get("pen")
            drawn_line = pen is not None and pg.mkPen(pen).style() != Qt.PenStyle.NoPen
            if drawn_line and len(xy) > 1:
                crossed = segments_hit_box(xy[:-1], xy[1:], box)
                if crossed.any():
                    k = int(np.argmax(crossed))
                    hits.append(f"line of {_item_name(item)} between points {k} and {k + 1}")
                    continue
            if item.opts.get("symbol") is not None:
                radius = float(item.opts.get("symbolSize") or 0) / 2
                inside = points_in_box(xy, box, radius) & np.isfinite(xy).all(axis=1)
                if inside.any():
                    hits.append(f"point {int(np.argmax(inside))} of {_item_name(item)}")
        elif isinstance(item, pg.ScatterPlotItem):
            x, y = item.getData()
            if len(x) == 0:
                continue
            xy = _scene_xy(item, np.asarray(x, float), np.asarray(y, float))
            radius = float(item.opts.get("size") or 0) / 2
            inside = points_in_box(xy, box, radius) & np.isfinite(xy).all(axis=1)
            if inside.any():
                hits.append(f"point {int(np.argmax(inside))} of {_item_name(item)}")
        elif isinstance(item, pg.BarGraphItem):
            if _bars_hit(item, box):
                hits.append("a bar")
    return hits


def _steps_hit(item: pg.PlotDataItem, edges: np.ndarray, counts: np.ndarray,
               box: QRectF) -> str | None:
    """What of a step plot (``stepMode="center"``: bin ``edges``, ``counts``) lies in
    ``box``: a filled bin (from its count down to the fill level) or its outline."""
    fill = item.opts.get("fillLevel")
    brush = item.opts.get("fillBrush") or item.opts.get("brush")
    if fill is not None and brush is not None:
        a = _scene_xy(item, edges[:-1], counts)
        b = _scene_xy(item, edges[1:], np.full(len(counts), float(fill)))
        ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
        if _rects_hit(a[ok], b[ok], box):
            return "a filled bin"
    # The outline: along each bin's top, and up or down between neighbouring bins.
    xs = np.repeat(edges, 2)[1:-1]
    ys = np.repeat(counts, 2)
    xy = _scene_xy(item, xs, ys)
    if len(xy) > 1 and segments_hit_box(xy[:-1], xy[1:], box).any():
        return "outline"
    return None


def _rects_hit(a: np.ndarray, b: np.ndarray, box: QRectF) -> bool:
    """Whether any rectangle with opposite corners a[i], b[i] (scene) meets ``box``."""
    left, right = np.minimum(a[:, 0], b[:, 0]), np.maximum(a[:, 0], b[:, 0])
    top, bottom = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
    return bool(np.any((left < box.right()) & (right > box.left())
                       & (top < box.bottom()) & (bottom > box.top())))


def _bars_hit(item: pg.BarGraphItem, box: QRectF) -> bool:
    x0, y0, x1, y1 = (np.broadcast_to(np.asarray(v, float), np.shape(v) or (1,))
                      for v in item._getNormalizedCoords())
    x0, y0, x1, y1 = np.broadcast_arrays(x0, y0, x1, y1)
    a = _scene_xy(item, x0.ravel(), y0.ravel())
    b = _scene_xy(item, x1.ravel(), y1.ravel())
    return _rects_hit(a, b, box)


def annotation_boxes(plot: pg.PlotItem) -> list[tuple[str, QRectF]]:
    """(description, scene box) of the legend and of each visible annotation of ``plot``."""
    boxes: list[tuple[str, QRectF]] = []
    legend = plot.legend
    if legend is not None and legend.isVisible() and legend.items:
        boxes.append(("legend", legend.sceneBoundingRect()))
    for item in plot.vb.childGroup.childItems():
        if not item.isVisible():
            continue
        if isinstance(item, pg.TextItem) and item.toPlainText().strip():
            boxes.append((f"text {item.toPlainText()!r}", item.sceneBoundingRect()))
        elif isinstance(item, pg.InfiniteLine) and getattr(item, "label", None) is not None:
            label = item.label
            if label.isVisible() and label.toPlainText().strip():
                boxes.append((f"label {label.toPlainText()!r}", label.sceneBoundingRect()))
    for child in plot.vb.childItems():
        # A floating pyqtgraph legend parented to the view box, added outside addItem.
        if isinstance(child, pg.LegendItem) and child is not legend and child.isVisible():
            boxes.append(("legend", child.sceneBoundingRect()))
    return boxes


def plot_overlaps(plot: pg.PlotItem) -> list[str]:
    """Descriptions of ``plot``'s legend/annotation boxes that overlap its plotted data."""
    area = plot.vb.sceneBoundingRect()
    title = plot.titleLabel.text if plot.titleLabel.isVisible() else ""
    found = []
    for what, box in annotation_boxes(plot):
        box = box.adjusted(_TOLERANCE_PX, _TOLERANCE_PX, -_TOLERANCE_PX, -_TOLERANCE_PX)
        inside = box.intersected(area)
        if inside.isEmpty():
            continue  # outside the plot area: it covers nothing
        for hit in data_hits(plot, inside):
            found.append(f"plot {title!r}: {what} at ({box.x():.0f}, {box.y():.0f}, "
                         f"{box.width():.0f} x {box.height():.0f}) covers the {hit}")
    return found


def legend_overlaps(widget: QWidget) -> list[str]:
    """For every legend or annotation box in ``widget``'s plots, what plotted points or
    lines it overlaps; an empty list means nothing covers any data."""
    found: list[str] = []
    for plot in plot_items(widget):
        if plot.isVisible() and plot.scene() is not None:
            found += plot_overlaps(plot)
    return found


def place_clear(plot: pg.PlotItem, item: pg.TextItem,
                places: list[tuple[float, float]]) -> bool:
    """Move an annotation to the first of ``places`` (data coordinates) where it lies
    inside the plot area and covers no plotted data; True if one was free, else it is
    left at the first place."""
    area = plot.vb.sceneBoundingRect()
    for x, y in places:
        item.setPos(x, y)
        item.updateTransform(force=True)
        box = item.sceneBoundingRect()
        inner = box.adjusted(_TOLERANCE_PX, _TOLERANCE_PX, -_TOLERANCE_PX, -_TOLERANCE_PX)
        if area.contains(box) and not data_hits(plot, inner):
            return True
    if places:
        item.setPos(*places[0])
    return False


# ----------------------------------------------------------------------------------
# room for texts at the top and bottom of a plot (bar value labels)

_TEXT_PAD_PX = 3.0  # between a text and the edge of the plot area


def texts_inside(plot: pg.PlotItem) -> list[str]:
    """The visible text items of ``plot`` whose boxes leave the plot area (cut off)."""
    area = plot.vb.sceneBoundingRect().adjusted(-0.5, -0.5, 0.5, 0.5)
    return [f"text {item.toPlainText()!r} at {item.sceneBoundingRect()}"
            for item in plot.vb.childGroup.childItems()
            if isinstance(item, pg.TextItem) and item.isVisible()
            and item.toPlainText().strip() and not area.contains(item.sceneBoundingRect())]


def needed_y_range(plot: pg.PlotItem) -> tuple[float, float]:
    """The y range (linear axis) that holds every visible text item of ``plot`` whole,
    above and below its position as its anchor puts it: the current range, grown at the
    top or bottom by as much as the texts need in pixels."""
    (low, high) = plot.vb.viewRange()[1]
    pixels = plot.vb.height()
    texts = [item for item in plot.vb.childGroup.childItems()
             if isinstance(item, pg.TextItem) and item.isVisible()
             and item.toPlainText().strip()]
    if pixels <= 1 or not texts or not high > low:
        return low, high
    for _ in range(4):  # growing one end changes the pixels per unit: settle
        top, bottom = high, low
        for item in texts:
            y = float(item.pos().y())
            if not np.isfinite(y):
                continue
            h = item.textItem.boundingRect().height()
            ay = float(item.anchor.y())
            above = (ay * h + _TEXT_PAD_PX) / pixels  # share of the height above y
            below = ((1.0 - ay) * h + _TEXT_PAD_PX) / pixels
            if above < 1.0:
                top = max(top, (y - above * low) / (1.0 - above))
            if below < 1.0:
                bottom = min(bottom, (y - below * high) / (1.0 - below))
        if top == high and bottom == low:
            break
        high, low = top, bottom
    return low, high


class TextHeadroom:
    """Keeps a plot's y range tall enough for its texts (value labels over bars): each
    time the range is set (a redraw) or the plot resized, the range grows as needed.
    The texts, not their number, decide: no fixed share of headroom."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self._plot = plot
        self._busy = False
        plot.vb.sigYRangeChanged.connect(self.fit)
        plot.vb.sigResized.connect(self.fit)

    def fit(self, *_args) -> None:
        if self._busy or self._plot.getAxis("left").logMode:
            return
        low, high = self._plot.vb.viewRange()[1]
        new_low, new_high = needed_y_range(self._plot)
        if (new_low, new_high) == (low, high):
            return
        self._busy = True
        try:
            self._plot.setYRange(new_low, new_high, padding=0)
        finally:
            self._busy = False


# ----------------------------------------------------------------------------------
# at least two labelled ticks on a short axis


def drawn_tick_labels(axis: pg.AxisItem) -> list[str]:
    """The tick labels pyqtgraph would draw on ``axis`` at its current size and range
    (it leaves out labels that would overlap or cross the axis's ends)."""
    image = QImage(1, 1, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [text for _, _, text in specs[2]] if specs else []


def _log_candidates(low: float, high: float) -> list[float]:
    """Round values (1, 2, 3, 5 times a power of ten; then every digit) within
    ``10**low .. 10**high``, in log10 units."""
    found = []
    for mantissas in ((1, 2, 3, 5), (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        for decade in range(math.floor(low) - 1, math.ceil(high) + 1):
            for m in mantissas:
                v = math.log10(m) + decade
                if low <= v <= high:
                    found.append(v)
        if len(found) >= 2:
            break
        found = []
    return sorted(found)


def _linear_ticks(low: float, high: float, gap: float) -> list[float]:
    """Multiples of the smallest round step (1, 2, 2.5 or 5 times a power of ten) at
    least ``gap`` apart that put two or more values within ``low .. high``."""
    if not (high > low and gap > 0):
        return []
    for exponent in range(math.floor(math.log10(gap)), math.ceil(math.log10(high - low)) + 1):
        for mantissa in (1.0, 2.0, 2.5, 5.0):
            step = mantissa * 10.0 ** exponent
            if step < gap:
                continue
            first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
            if last - first >= 1:
                digits = max(0, 2 - exponent)
                return [round(k * step, digits) + 0.0 for k in range(first, last + 1)]
    return []


#: Height, in lines of tick text, from which a linear axis is not checked (see fit).
TALL_AXIS_LINES = 8


class TickKeeper:
    """Keeps at least two labelled ticks on a plot's y axis: when pyqtgraph's own ticks
    leave fewer labels (a short axis in large type; a log axis spanning less than a
    decade), round values a line and a bit apart are labelled instead."""

    def __init__(self, plot: pg.PlotItem, side: str = "left") -> None:
        self._plot = plot
        self._axis = plot.getAxis(side)
        self._custom = False
        self._fitted: tuple | None = None  # (range, height, font) of the last fit
        # At once, not on a later turn of the event loop: a picture may be taken first.
        plot.vb.sigYRangeChanged.connect(self.fit)
        plot.vb.sigResized.connect(self.fit)

    def fit(self, *_args) -> None:
        axis, vb = self._axis, self._plot.vb
        pixels = vb.height()
        if pixels < 10 or not axis.isVisible():
            return
        key = (tuple(vb.viewRange()[1]), pixels, axis.height(),
               axis.style["tickFont"].pointSize() if axis.style["tickFont"] else 0)
        if key == self._fitted:
            return
        self._fitted = key
        if self._custom:
            axis.setTicks(None)
            self._custom = False
        line = QFontMetricsF(axis.style["tickFont"] or QFont()).height()
        if not axis.logMode and pixels >= TALL_AXIS_LINES * line:
            # pyqtgraph labels a tall linear axis several times: asking it which labels
            # it draws costs an axis's whole layout, every frame of a falling loss.
            return
        if len(drawn_tick_labels(axis)) >= 2:
            return
        low, high = sorted(vb.viewRange()[1])
        per_unit = pixels / max(high - low, 1e-300)
        margin = (0.5 * line + 1.0) / per_unit  # a label centred there stays on the axis
        inner = (low + margin, high - margin)
        if axis.logMode:
            kept: list[float] = []
            for v in _log_candidates(*inner):
                if not kept or (v - kept[-1]) * per_unit >= 1.2 * line:
                    kept.append(v)
            values = [10.0 ** v for v in kept]
            positions = kept
        else:
            values = _linear_ticks(*inner, 1.2 * line / per_unit)
            positions = values
        if len(values) < 2:
            return
        from vizlab.widgets.heatmap import tick_strings

        axis.setTicks([list(zip(positions, tick_strings(values), strict=True)), []])
        self._custom = True


# ----------------------------------------------------------------------------------
# axis labels short enough for a short plot in large type


class AxisLabels:
    """Y-axis labels with a short form for presentation mode, where a plot a few hundred
    pixels tall cuts a long label at both ends ("re of the layer's units")."""

    def __init__(self, *labels: tuple[pg.PlotItem, str, str]) -> None:
        from vizlab.widgets import theme

        self._labels = labels
        self._theme = theme
        self.apply()
        theme.on_theme_changed(self.apply)

    def apply(self) -> None:
        short = self._theme.presentation()
        for plot, full, brief in self._labels:
            self._theme.set_axis_label(plot, "left", brief if short else full)
