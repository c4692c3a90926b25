"""Heatmap of a 2-D array (e.g. a weight matrix) with a colour bar and a hover read-out.

Diverging colours centred on zero by default (levels ±max|value|), so the sign of every
weight is visible at a glance; ``sequential=True`` for non-negative data such as counts;
``mask_key=("kept", "dropped")`` for a binary mask, in two colours with a two-entry key.
Labs choose a colour scale per matrix (the default), shared by several matrices
(``shared_levels``) or clipped to the 1st-99th percentile (``percentile_levels``), so
that one outlying weight does not wash out the rest.

The colour bar's ticks are round numbers written with as many significant digits as
they need (an exponent for very small or large ones), and its axis is as wide as its
widest tick text, so no label is cut.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QLabel, QWidget

from vizlab.widgets import theme
from vizlab.widgets._base import PlotWidgetBase
from vizlab.widgets.colorbar import ColorBar
from vizlab.widgets.legend import OutsideLegend

Levels = tuple[float, float]

#: Colours of a mask's two values: set (kept) and not set (dropped, a pale grey).
MASK_COLORS = (theme.PALETTE[0], "#DDDDDD")
# Pixels beside the widest tick text of the colour bar (the tick mark and a margin).
_BAR_TEXT_MARGIN = 6


def symmetric_levels(values: np.ndarray) -> Levels:
    """``(-m, m)`` with ``m = max|finite value|``, so zero sits at the colour map's centre."""
    finite = np.abs(values[np.isfinite(values)])
    m = float(finite.max()) if finite.size else 0.0
    # An all-zero matrix (e.g. a fresh bias) still needs a non-empty range to draw.
    return (-m, m) if m > 0 else (-1.0, 1.0)


def percentile_levels(values: np.ndarray, percentile: float = 99.0) -> Levels:
    """Symmetric levels ``(-m, m)`` clipped to the ``100 - percentile``-th and
    ``percentile``-th percentiles of the finite values (``m`` the larger of their sizes),
    so a few outliers saturate instead of washing out everything else."""
    if not 50.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (50, 100], got {percentile!r}")
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return (-1.0, 1.0)
    low, high = np.percentile(finite, [100.0 - percentile, percentile])
    m = float(max(abs(low), abs(high)))
    return (-m, m) if m > 0 else symmetric_levels(finite)


def shared_levels(arrays) -> Levels:
    """One symmetric scale ``(-m, m)`` over several arrays (``m`` the largest
    ``|finite value|`` of any), so the same colour means the same value in each."""
    m = 0.0
    for array in arrays:
        values = np.asarray(array, dtype=float)
        finite = np.abs(values[np.isfinite(values)])
        if finite.size:
            m = max(m, float(finite.max()))
    return (-m, m) if m > 0 else (-1.0, 1.0)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) from ``low`` to ``high``,
    at most ``count`` of them and at least two."""
    span = high - low
    if not (math.isfinite(span) and span > 0):
        return [low]
    raw = span / max(count - 1, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 5.0, 10.0)
                if span / (m * magnitude) <= count - 1 + 1e-9)

    def multiples(step: float) -> list[float]:
        first = math.ceil(low / step - 1e-9)
        last = math.floor(high / step + 1e-9)
        return [k * step for k in range(first, last + 1)]

    ticks = multiples(step)
    # Few of them inside (±0.49 has only 0 at a step of 0.5): the next smaller round
    # steps, while they stay at most `count` (±0.49: -0.4, -0.2, 0, 0.2, 0.4).
    smaller = step
    while len(ticks) < 3:
        smaller = smaller / 2.5 if str(round(smaller / magnitude, 6)).startswith("5") \
            else smaller / 2
        finer = multiples(smaller)
        if len(finer) > count:
            break
        ticks, step = finer, smaller
    if len(ticks) < 2:  # a narrow range between two round numbers: its ends
        ticks = [low, high]
    # k * step, rounded to the step's digits: 0.30000000000000004 is 0.3.
    digits = max(0, -math.floor(math.log10(step)) + 2)
    return [round(t, digits) + 0.0 for t in ticks]


def thinned(values: list[float], most: int) -> list[float]:
    """Every 2nd, 3rd, ... of the round ``values`` (keeping 0 where it is one of them),
    so that at most ``most`` are left (two at least): -0.4, 0, 0.4 of five from -0.4
    to 0.4, where asking ``nice_ticks`` for fewer would give the range's ends."""
    if len(values) <= most:
        return list(values)
    anchor = values.index(0.0) if 0.0 in values else 0
    for every in range(2, len(values)):
        kept = [v for i, v in enumerate(values) if (i - anchor) % every == 0]
        if len(kept) <= max(most, 2):
            # Two at least: the outermost round values rather than 0 alone.
            return kept if len(kept) >= 2 else [values[0], values[-1]]
    return [values[0], values[-1]]


def tick_strings(values: list[float]) -> list[str]:
    """The shortest texts that tell ``values`` apart and read back as them: 100, 200, 300
    (never "30 / 20"), 0.0005 and 0.001, and an exponent when all are below 0.001 or one
    is 100000 or more: 2e-5 (never "0.0")."""
    largest = max((abs(v) for v in values), default=0.0)
    exponent = largest >= 1e5 or 0.0 < largest < 1e-3
    for digits in range(0, 11):
        if exponent:
            texts = [_exponent_text(v, digits + 1) for v in values]
        else:
            texts = [_plain_text(v, digits) for v in values]
        exact = all(abs(float(t) - v) <= 1e-9 * max(abs(v), 1e-300)
                    for t, v in zip(texts, values, strict=True))
        if exact and len(set(texts)) == len(texts):
            return texts
    return [f"{v:.12g}" for v in values]


def spaced_ticks(low: float, high: float, pixels: float, metrics: QFontMetricsF,
                 most: int = 7) -> list[tuple[float, str]]:
    """(value, text) ticks at round values (multiples of 1, 2, 2.5, 4 or 5 times a power
    of ten) over ``low .. high`` on an axis ``pixels`` long: the closest that keep each
    text a space and a bit wider than itself apart from the next, so no two numbers run
    together ("-4-2 0 2"), with none whose text would cross the axis's ends (pyqtgraph
    leaves those out). At most ``most``; at least two where two fit, else one."""
    if not (high > low and pixels > 0 and math.isfinite(high - low)):
        return []
    per_unit = pixels / (high - low)
    gap = metrics.horizontalAdvance(" ") + 4

    def width(text: str) -> float:
        return metrics.horizontalAdvance(text)

    best: list[tuple[float, str]] = []
    for exponent in range(math.floor(math.log10((high - low) / most)) - 1,
                          math.ceil(math.log10(high - low)) + 1):
        for mantissa in (1.0, 2.0, 2.5, 4.0, 5.0):
            step = mantissa * 10.0 ** exponent
            first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
            if last - first + 1 > most:
                continue
            digits = max(0, 2 - exponent)
            values = [round(k * step, digits) + 0.0 for k in range(first, last + 1)]
            ticks = [(v, t) for v, t in zip(values, tick_strings(values), strict=True)
                     if (v - low) * per_unit >= width(t) / 2
                     and (high - v) * per_unit >= width(t) / 2]
            if not all((b - a) * per_unit >= (width(ta) + width(tb)) / 2 + gap
                       for (a, ta), (b, tb) in zip(ticks, ticks[1:])):
                continue
            if len(ticks) >= 2:
                return ticks
            if len(ticks) > len(best):  # a narrow axis: one label rather than none
                best = ticks
    return best


class SpacedTicks:
    """Keeps a plot's horizontal axis labelled at round values spaced for their text
    (``spaced_ticks``), fitted again when the range or the plot's size changes."""

    def __init__(self, plot: pg.PlotItem, side: str = "bottom") -> None:
        self._plot = plot
        self._axis = plot.getAxis(side)
        self._fitted: tuple | None = None
        plot.vb.sigXRangeChanged.connect(self.fit)
        plot.vb.sigResized.connect(self.fit)

    def fit(self, *_args) -> None:
        vb, axis = self._plot.vb, self._axis
        low, high = vb.viewRange()[0]
        font = axis.style["tickFont"] or theme.font(theme.tick_pt())
        key = (low, high, vb.width(), font.pointSizeF())
        if key == self._fitted or vb.width() < 10:
            return
        self._fitted = key
        axis.setTicks([spaced_ticks(low, high, vb.width(), QFontMetricsF(font)), []])

    def ticks(self) -> list[tuple[float, str]]:
        return list(self._axis._tickLevels[0]) if self._axis._tickLevels else []


def cell_ticks(count: int, pixels: float, span: float, low: float,
               metrics: QFontMetricsF, vertical: bool, reach: float = 0.0,
               ) -> list[tuple[int, str]]:
    """(index, text) labels of ``count`` cells on an axis ``pixels`` long showing ``span``
    cells from ``low``: every 1st, 2nd, 5th, 10th ... cell, at most 6 of them, no closer
    than their text allows (rows a line and a quarter apart, columns half their widths
    and a gap), and none whose text would cross the axis's ends by more than ``reach``
    pixels (pyqtgraph leaves those out: 32 columns in 70 px kept only "20"). The
    smallest step that keeps two labels where any does; before the axis is laid out,
    the step by count alone."""
    steps = [k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if k >= math.ceil(count / 6)]
    fallback = [(i, str(i)) for i in range(0, count, steps[0] if steps else 10**9)]
    if not (pixels > 0 and span > 0):
        return fallback
    per_cell = pixels / span

    def size(text: str) -> float:
        return metrics.height() if vertical else metrics.horizontalAdvance(text)

    def inside(i: int, text: str) -> bool:
        at = (i - low) * per_cell
        half = size(text) / 2 - reach - 0.5
        return at >= half and pixels - at >= half

    def apart(a: str, b: str, step: int) -> bool:
        need = 1.25 * metrics.height() if vertical else (size(a) + size(b)) / 2 + 4
        return step * per_cell >= need

    best: list[tuple[int, str]] = []
    for step in steps:
        kept = [(i, str(i)) for i in range(0, count, step) if inside(i, str(i))]
        if not all(apart(a, b, step) for (_, a), (_, b) in zip(kept, kept[1:])):
            continue
        if len(kept) >= 2:
            return kept
        if kept and not best:
            best = kept
    return best or fallback


def _plain_text(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0") else text


def _exponent_text(value: float, digits: int) -> str:
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    if "e" in text:  # 2e-05 -> 2e-5, 1e+06 -> 1e6
        mantissa, exp = text.split("e")
        text = f"{mantissa}e{int(exp)}"
    return text


def sequential_levels(values: np.ndarray) -> Levels:
    """``(0, max)`` for non-negative data, ``(min, max)`` if something is negative."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return (0.0, 1.0)
    lo = min(0.0, float(finite.min()))
    hi = float(finite.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


class Heatmap(PlotWidgetBase):
    """Show a 2-D array: rows top to bottom, columns left to right, one cell per value."""

    def __init__(
        self,
        title: str = "",
        *,
        x_label: str = "column",
        y_label: str = "row",
        value_label: str = "",
        levels: Levels | None = None,
        sequential: bool = False,
        lock_aspect: bool = False,
        mask_key: tuple[str, str] | None = None,
        key_beside: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, menu=False)
        if mask_key is not None:
            if len(mask_key) != 2:
                raise ValueError(f"mask_key needs two labels (set, not set), got {mask_key!r}")
            levels = (0.0, 1.0)
        self._mask_key = tuple(mask_key) if mask_key is not None else None
        self._key_beside = key_beside  # the mask's key right of the cells, not above
        self._fixed_levels = _check_levels(levels) if levels is not None else None
        self._sequential = sequential
        self._data = np.zeros((1, 1), dtype=np.float32)
        self._levels: Levels = self._fixed_levels or ((0.0, 1.0) if sequential else (-1.0, 1.0))
        self._hover_cell: tuple[int, int] | None = None

        plot = self._plot
        theme.style_plot(plot, title, x_label, y_label)
        plot.invertY(True)  # row 0 at the top, as a matrix is written
        plot.setAspectLocked(lock_aspect)
        plot.hideButtons()

        self._image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self._image)
        self._bar: ColorBar | None = None
        self._key: OutsideLegend | None = None
        self._bar_ticks: list[tuple[float, str]] = []
        self._bar_count = 5  # how many ticks the colour bar was given room for
        if self._mask_key is not None:
            self._levels = (0.0, 1.0)
            self._make_mask_key()
        else:
            cmap = theme.sequential_cmap() if sequential else theme.diverging_cmap()
            self._bar = ColorBar(cmap, self._levels, label=value_label or None, width=16)
            self._bar.attach(self._image, plot)
            self._style_bar()
            self._set_bar_ticks(self._levels)
        self._image.setImage(self._data, levels=self._levels, autoLevels=False)
        self._place_cells()
        plot.vb.sigResized.connect(self._fit_cell_ticks)
        plot.vb.sigResized.connect(self._refit_bar_ticks)

        self._info = QLabel(" ")
        self._info.setFont(theme.font(theme.tick_pt()))
        self._info.setContentsMargins(6, 0, 6, 2)
        self._layout.addWidget(self._info)
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # -- data ---------------------------------------------------------------------------

    def set_data(self, array: np.ndarray, levels: Levels | None = None) -> None:
        """Show ``array`` (2-D). ``levels`` overrides the automatic or fixed ones for this call."""
        data = np.asarray(array)
        if data.ndim == 1:
            data = data[np.newaxis, :]
        if data.ndim != 2:
            raise ValueError(f"Heatmap needs a 2-D array, got shape {data.shape}")
        if not np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float32)
        if levels is not None:
            lv = _check_levels(levels)
        elif self._fixed_levels is not None:
            lv = self._fixed_levels
        elif self._sequential:
            lv = sequential_levels(data)
        else:
            lv = symmetric_levels(data)
        shape_changed = data.shape != self._data.shape
        levels_changed = lv != self._levels
        self._data = data
        self._levels = lv
        self._image.setImage(data, levels=lv, autoLevels=False)
        if shape_changed:
            self._place_cells()
        if self._bar is not None:
            self._bar.setLevels(lv)
            if levels_changed:
                self._set_bar_ticks(lv)
        self._update_info()

    # -- colour bar and mask key ----------------------------------------------------------

    def _set_bar_ticks(self, levels: Levels) -> None:
        """Round ticks over ``levels``, as many as the bar's height keeps a line and a
        quarter apart (at most five: a short bar in large type ran "150100 50" together),
        and an axis wide enough for the widest of them."""
        self._bar_count = self._bar_tick_count()
        values = thinned(nice_ticks(*levels), self._bar_count)
        self._bar_ticks = list(zip(values, tick_strings(values), strict=True))
        self._bar.axis.setTicks([self._bar_ticks, []])
        self._fit_bar_axis()

    def _bar_tick_count(self) -> int:
        """At most five ticks; fewer where the bar is short for its tick text."""
        height = self._plot.vb.height()
        if height <= 0:
            return 5
        line = QFontMetricsF(self._bar.axis.style["tickFont"]
                             or theme.font(theme.tick_pt())).height()
        return int(max(2, min(5, height // (1.25 * line) + 1)))

    def _style_bar(self) -> None:
        # The label at tick size too: room beside a narrow bar is short.
        theme.restyle_axis(self._bar.axis, theme.tick_pt())

    def _fit_bar_axis(self) -> None:
        axis = self._bar.axis
        metrics = QFontMetricsF(axis.style["tickFont"] or theme.font(theme.tick_pt()))
        # Whoever set the ticks last (a lab may write its own, "50%"), the widest text.
        ticks = axis._tickLevels[0] if axis._tickLevels else self._bar_ticks
        text = max((metrics.horizontalAdvance(t) for _, t in ticks), default=0.0)
        width = text + axis.style["tickTextOffset"][0] + max(0, axis.style["tickLength"])
        label = axis.label.boundingRect().height() * 0.8  # as pyqtgraph measures it
        # The bar's label ("weight") only where the cells keep room: on a narrow heatmap
        # (five in a row at 1024x640) it would push the plot past the widget's edge.
        cells = (self.width() - width - label - _BAR_TEXT_MARGIN - self._bar.strip.width()
                 - self._plot.getAxis("left").width() - 12)
        show = bool(axis.labelText) and cells >= max(60.0, 3 * label)
        if show != axis.label.isVisibleTo(axis):  # restyling shows it again: check
            axis.showLabel(show)
        if show:
            width += label
        axis.setWidth(math.ceil(width + _BAR_TEXT_MARGIN))

    def bar_ticks(self) -> list[tuple[float, str]]:
        """The colour bar's (value, text) ticks; empty for a mask."""
        return list(self._bar_ticks)

    def _make_mask_key(self) -> None:
        # Two colours for 1 and 0 (levels 0..1 map 0 to the first entry, 1 to the last).
        set_color, unset_color = (pg.mkColor(c) for c in MASK_COLORS)
        lut = np.array([unset_color.getRgb()[:3], set_color.getRgb()[:3]], dtype=np.uint8)
        self._image.setLookupTable(lut)
        self._key = OutsideLegend(self._plot, beside=self._key_beside)
        for color, label in zip((set_color, unset_color), self._mask_key, strict=True):
            swatch = pg.PlotDataItem([0], [0], pen=None, symbol="s", symbolSize=12,
                                     symbolBrush=pg.mkBrush(color),
                                     symbolPen=pg.mkPen("#888888", width=0.8))
            self._key.addItem(swatch, label)

    @property
    def mask_key(self) -> tuple[str, str] | None:
        return self._mask_key

    def set_key_beside(self, beside: bool) -> None:
        """A mask's key right of the cells (a colour bar's place) or above them."""
        self._key_beside = beside
        if self._key is not None:
            self._key.set_beside(beside)

    @property
    def key(self) -> OutsideLegend | None:
        """The two-entry key of a mask (above the plot), else None."""
        return self._key

    def _place_cells(self) -> None:
        # Cell (row, col) is centred on the integer point (col, row), so axis ticks name
        # cells rather than fall on the borders between them.
        rows, cols = self._data.shape
        self._image.setRect(QRectF(-0.5, -0.5, cols, rows))
        self._plot.getViewBox().autoRange(padding=0.02)
        self._fit_cell_ticks()

    def _fit_cell_ticks(self, *_args) -> None:
        """Cells are whole numbers: label every 1st, 2nd, 5th, 10th ... row and column,
        at most 6 of them, and no closer than their text allows at the plot's size (see
        ``cell_ticks``)."""
        rows, cols = self._data.shape
        metrics = QFontMetricsF(theme.font(theme.tick_pt()))
        vb = self._plot.vb
        (x0, x1), (y0, y1) = vb.viewRange()
        for side, count, pixels, span, low in (("bottom", cols, vb.width(), x1 - x0, x0),
                                               ("left", rows, vb.height(), y1 - y0, y0)):
            axis = self._plot.getAxis(side)
            # How far pyqtgraph lets a label reach past the axis's ends.
            hide = axis.style["hideOverlappingLabels"]
            reach = 0 if hide is True else 15 if hide is False else int(hide)
            ticks = cell_ticks(count, pixels, span, low, metrics, side == "left", reach)
            if getattr(axis, "_vizlab_ticks", None) != ticks:
                axis._vizlab_ticks = ticks
                axis.setTicks([ticks, []])

    def set_title(self, title: str) -> None:
        theme.set_title(self._plot, title)

    def restyle(self) -> None:
        super().restyle()
        self._fit_cell_ticks()
        if self._bar is not None:
            self._style_bar()
            self._refit_bar_ticks()
            self._fit_bar_axis()
        self._fit_info()

    def levels(self) -> Levels:
        return self._levels

    def data(self) -> np.ndarray:
        return self._data

    @property
    def image_item(self) -> pg.ImageItem:
        return self._image

    @property
    def color_bar(self) -> ColorBar | None:
        """The colour bar (None for a mask, which has a key instead)."""
        return self._bar

    def export_data(self) -> dict[str, np.ndarray]:
        return {"values": np.array(self._data, copy=True)}

    # -- hover read-out -------------------------------------------------------------------

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, col) under plot coordinates ``(x, y)``, or None outside the array."""
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        row, col = math.floor(y + 0.5), math.floor(x + 0.5)
        rows, cols = self._data.shape
        if 0 <= row < rows and 0 <= col < cols:
            return row, col
        return None

    def value_at(self, row: int, col: int) -> float:
        return float(self._data[row, col])

    def hover_text(self, row: int, col: int) -> str:
        value = self.value_at(row, col)
        if self._mask_key is not None:
            return f"row {row}, col {col}: {self._mask_key[0 if value >= 0.5 else 1]}"
        return f"row {row}, col {col}: {value:.4g}"

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        vb = self._plot.getViewBox()
        cell = None
        if vb.sceneBoundingRect().contains(scene_pos):
            p = vb.mapSceneToView(scene_pos)
            cell = self.cell_at(p.x(), p.y())
        self._hover_cell = cell
        self._update_info()

    def _update_info(self) -> None:
        cell = self._hover_cell
        if cell is not None and self.cell_at(cell[1], cell[0]) is not None:
            text = self.hover_text(*cell)
        else:
            rows, cols = self._data.shape
            lo, hi = self._levels
            if self._mask_key is not None:
                count = int(np.count_nonzero(self._data >= 0.5))
                text = f"{rows} × {cols}, {self._mask_key[0]} {count} of {self._data.size}"
            else:
                text = f"{rows} × {cols}, colours {lo:.3g} … {hi:.3g}"
        self._info_text = text
        self._fit_info()
        self._view.setToolTip(text if cell is not None else "")

    def _fit_info(self) -> None:
        """The read-out line in the tick size; where it does not fit, up to six points
        smaller, then broken after its comma into two lines, then smaller still: never
        cut at the widget's edge."""
        room = self.width() - 14  # the label's margins
        full = getattr(self, "_info_text", self._info.text())
        tick = theme.tick_pt()
        shapes = [(pt, full) for pt in range(tick, max(tick - 7, 6), -1)]
        lines = full.replace(", ", ",\n", 1)
        shapes += [(pt, lines) for pt in range(tick - 2, 6, -1)]
        for pt, text in shapes:
            metrics = QFontMetricsF(theme.font(pt))
            if max(metrics.horizontalAdvance(line) for line in text.split("\n")) <= room:
                break
        if self._info.font().pointSize() != pt:
            self._info.setFont(theme.font(pt))
        if self._info.text() != text:
            self._info.setText(text)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if self._bar is not None:
            self._fit_bar_axis()
        self._fit_info()

    def _refit_bar_ticks(self, *_args) -> None:
        """The colour bar's ticks again when its height changed how many fit (unless
        a lab wrote its own: "50%")."""
        if self._bar is None or self._bar_tick_count() == self._bar_count:
            return
        levels = self._bar.axis._tickLevels
        if levels and list(levels[0]) == self._bar_ticks:
            self._set_bar_ticks(self._levels)


def _check_levels(levels: Levels) -> Levels:
    lo, hi = (float(v) for v in levels)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"levels must be finite with low < high, got {levels!r}")
    return lo, hi
