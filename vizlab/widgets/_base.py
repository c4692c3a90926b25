"""Common frame of the lab widgets: a pyqtgraph plot inside a QWidget, plus export hooks.

Every widget restyles itself when presentation mode changes (``restyle``): fonts of the
title, axes, legend and text items, and the widths of lines and sizes of markers of
every item in the plot, its own and those a lab added. Each item's desktop size is
remembered on first sight (``_vizlab_base``) and scaled from that, never compounded.
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QPen, QTextDocument
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from vizlab.widgets import theme

#: The smallest size a title is shrunk to before it is shortened instead.
MIN_TITLE_PT = 7.0
#: Pixels a title keeps from the widget's left and right edges.
TITLE_MARGIN_PX = 4

#: Every lab widget alive, for tests and tools that look at all of them.
WIDGETS: weakref.WeakSet[PlotWidgetBase] = weakref.WeakSet()


def remember_base(item: object, **sizes: float) -> dict[str, float]:
    """Record an item's desktop sizes (the first record of each wins) and return them."""
    base = item.__dict__.setdefault("_vizlab_base", {})
    for key, value in sizes.items():
        base.setdefault(key, value)
    return base


def _scaled_pen(pen: QPen | None, base_width: float) -> QPen | None:
    if pen is None:
        return None
    pen = QPen(pen)
    pen.setWidthF(theme.line_width(base_width))
    return pen


def restyle_item(item: QGraphicsItem) -> None:
    """Scale one plot item's line width, marker size or font to the current theme."""
    if isinstance(item, pg.PlotDataItem):
        pen = item.opts.get("pen")
        pen = pg.mkPen(pen) if pen is not None else None
        width = pen.widthF() if pen is not None and pen.style() != Qt.PenStyle.NoPen else 0.0
        base = remember_base(item, width=width, symbol=float(item.opts.get("symbolSize") or 0))
        if pen is not None and base["width"] > 0:
            item.setPen(_scaled_pen(pen, base["width"]))
        if item.opts.get("symbol") is not None and base["symbol"] > 0:
            item.setSymbolSize(theme.marker_size(base["symbol"]))
    elif isinstance(item, pg.ScatterPlotItem):
        base = remember_base(item, symbol=float(item.opts.get("size") or 0))
        if base["symbol"] > 0:
            item.setSize(theme.marker_size(base["symbol"]))
    elif isinstance(item, pg.InfiniteLine):
        base = remember_base(item, width=item.pen.widthF())
        item.setPen(_scaled_pen(item.pen, base["width"]))
        if getattr(item, "label", None) is not None:
            restyle_item(item.label)
    elif isinstance(item, pg.TextItem):
        font = item.textItem.font()
        base = remember_base(item, pt=float(font.pointSizeF()))
        if base["pt"] > 0:
            font.setPointSizeF(base["pt"] * theme.tick_pt() / theme.TICK_PT)
            item.setFont(font)


def _font(point_size: float) -> QFont:
    font = QFont()
    font.setPointSizeF(point_size)
    return font


def _plain(html: str) -> str:
    """The text of a title that may hold HTML (entities, <b>...)."""
    if "<" not in html and "&" not in html:
        return html
    doc = QTextDocument()
    doc.setHtml(html)
    return doc.toPlainText()


class PlotWidgetBase(QWidget):
    """A QWidget holding one ``pg.PlotWidget``.

    ``plot_item`` is the pyqtgraph PlotItem (for pyqtgraph's exporters), ``export_item``
    the graphics item to hand to an exporter, ``export_data()`` the plotted numbers.
    """

    def __init__(
        self,
        parent: QWidget | None = None,
        axis_items: dict[str, pg.AxisItem] | None = None,
        *,
        menu: bool = True,
    ) -> None:
        super().__init__(parent)
        # pyqtgraph builds two context menus for every plot, a fifth of the time a lab
        # takes to build on the GUI thread: they are built on the first hover instead.
        self._view = pg.PlotWidget(axisItems=theme.plot_axes(**(axis_items or {})),
                                   enableMenu=False)
        self._plot: pg.PlotItem = self._view.getPlotItem()
        for side in ("right", "top"):  # pyqtgraph shows every axis it is handed
            if side not in (axis_items or {}):
                self._plot.hideAxis(side)
        self._menu_wanted = menu
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._layout.addWidget(self._view)
        self._restyled_shown = False
        self._fitting_title = False
        self._title_pt: float | None = None  # the size the title was asked for
        self._title_text = ""  # the title as asked for
        self._title_shown: str | None = None  # its shortened form drawn, if any
        self._let_title_shrink()
        WIDGETS.add(self)
        theme.on_theme_changed(self.restyle)

    # -- a title never wider than the widget ------------------------------------------

    def _let_title_shrink(self) -> None:
        """pyqtgraph makes a title's text width the plot's minimum width, so a long title
        (or a big one, in presentation mode) pushes the plot past the widget's right edge,
        where its axis and data are cut off. Here the title asks for no width. It stays
        centred over the data when it fits there, else it moves left over the y axis (the
        row beside it is empty); when it does not fit the widget's width either, it is set
        in a smaller size, and below ``MIN_TITLE_PT`` it is shortened with an ellipsis
        (``_fit_title``): a title is never cut at the widget's edge."""
        label = self._plot.titleLabel
        owner = weakref.ref(self)

        def update_min() -> None:  # replaces LabelItem.updateMin: no minimum width
            bounds = label.itemRect()
            label.setMinimumWidth(0)
            label.setMinimumHeight(bounds.height())
            label._sizeHint = {
                Qt.SizeHint.MinimumSize: (0, bounds.height()),
                Qt.SizeHint.PreferredSize: (bounds.width(), bounds.height()),
                Qt.SizeHint.MaximumSize: (-1, -1),
                Qt.SizeHint.MinimumDescent: (0, 0),
            }
            label.updateGeometry()

        set_text = label.setText
        place = label.resizeEvent

        def set_text_and_fit(text: str, **style) -> None:  # replaces LabelItem.setText
            widget = owner()
            if widget is not None and not widget._fitting_title:
                if text != widget._title_shown:  # not the shortened form given back
                    widget._title_text = text
            set_text(text, **style)
            if widget is not None and not widget._fitting_title:
                label.text = widget._title_text
                size = str(label.opts.get("size", ""))
                widget._title_pt = float(size[:-2]) if size.endswith("pt") else None
                widget._fit_title()

        def place_inside(event) -> None:  # replaces LabelItem.resizeEvent
            place(event)
            widget = owner()
            if widget is not None:
                widget._keep_title_inside()

        label.updateMin = update_min
        label.setText = set_text_and_fit
        label.resizeEvent = place_inside

    def _keep_title_inside(self) -> None:
        """Move the title's text left (or right) until it is inside the plot item."""
        label = self._plot.titleLabel
        bounds = self._plot.rect()
        if bounds.width() <= 2 * TITLE_MARGIN_PX:
            return
        box = label.mapRectToItem(self._plot, label.itemRect())
        shift = 0.0
        if box.right() > bounds.right() - TITLE_MARGIN_PX:
            shift = bounds.right() - TITLE_MARGIN_PX - box.right()
        if box.left() + shift < bounds.left() + TITLE_MARGIN_PX:
            shift = bounds.left() + TITLE_MARGIN_PX - box.left()
        if shift:
            label.item.moveBy(shift, 0.0)

    def _fit_title(self) -> None:
        label = self._plot.titleLabel
        wanted = self._title_pt
        text = self._title_text
        if self._fitting_title or wanted is None or not text:
            return
        self._fitting_title = True
        try:
            available = max(self.width() - 2 * TITLE_MARGIN_PX, 40)

            def draw(shown: str, size: float) -> float:
                if label.opts.get("size") != f"{size:g}pt" or label.item.toPlainText() != \
                        _plain(shown):
                    label.setText(shown, size=f"{size:g}pt")
                label.text = text
                return label.itemRect().width()

            size = wanted
            width = draw(text, size)
            if width > available:
                size = max(MIN_TITLE_PT, math.floor(10 * wanted * available / width) / 10)
                width = draw(text, size)
                while width > available and size > MIN_TITLE_PT:  # HTML runs a bit wider
                    size = max(MIN_TITLE_PT, round(size - 0.5, 1))
                    width = draw(text, size)
            shown = text
            if width > available and "<" not in text:
                # Not even the smallest size fits: the title's start and an ellipsis.
                metrics = QFontMetricsF(_font(size))
                margin = label.itemRect().width() - metrics.horizontalAdvance(text)
                shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight,
                                           available - max(margin, 0.0))
                draw(shown, size)
            self._title_shown = shown if shown != text else None
            self._keep_title_inside()
        finally:
            self._fitting_title = False

    def title_text_shown(self) -> str:
        """The title as drawn: the whole title, or its shortened form when even the
        smallest size would not fit."""
        return self._plot.titleLabel.item.toPlainText()

    def title_point_size(self) -> float | None:
        """The point size the title is drawn at now (smaller than asked when it would
        not fit the widget's width)."""
        size = str(self._plot.titleLabel.opts.get("size", ""))
        return float(size[:-2]) if size.endswith("pt") else None

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_title()

    def restyle(self) -> None:
        """Apply the current theme (presentation mode or not) to this widget."""
        theme.restyle_plot(self._plot)
        legend = self._plot.legend
        if legend is not None and hasattr(legend, "restyle"):
            legend.restyle()
        for item in self._plot.vb.childGroup.childItems():
            restyle_item(item)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        # Items a lab added after building the widget were made at desktop sizes.
        if not self._restyled_shown and theme.presentation():
            self._restyled_shown = True
            for item in self._plot.vb.childGroup.childItems():
                restyle_item(item)
        super().showEvent(event)

    def enterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self._menu_wanted and not self._plot.menuEnabled():
            self._plot.setMenuEnabled(True)
        super().enterEvent(event)

    def settle(self) -> None:
        """Settle now what pyqtgraph leaves to the start of a paint (auto-ranges): a
        range changed inside a paint asks for a second paint of the plot at once."""
        self._view.scene().prepareForPaint()

    @property
    def plot_item(self) -> pg.PlotItem | None:
        return self._plot

    @property
    def export_item(self) -> QGraphicsItem:
        """What to pass to ``pg.exporters.ImageExporter`` / ``SVGExporter``."""
        return self._plot

    def export_data(self) -> dict[str, np.ndarray]:
        """The plotted data, one 1-D or 2-D array per column group (for CSV export)."""
        raise NotImplementedError

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(420, 320)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(100, 80)
