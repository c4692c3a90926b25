"""A legend that lives outside the plot area, so it never covers a point or a line.

pyqtgraph's ``LegendItem`` floats over the view box at a fixed corner, which is wrong for
every curve that happens to pass there (a rising accuracy under a top-right legend).
``OutsideLegend`` sits in the plot item's own layout, in a row between the title and the
view box, and wraps its entries into as many columns as fit the plot's width. Each row
of entries is laid out on its own, every entry as wide as its own text: a long name
("elastic net") widens only its row, not a column under every other row's entries.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from pyqtgraph.graphicsItems.ScatterPlotItem import drawSymbol
from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import QPolygonF
from PySide6.QtWidgets import QGraphicsLinearLayout, QGraphicsWidget

from vizlab.widgets import theme

# The plot item's layout has the title in row 0, the top axis in row 1 and the view box
# in row 2, all in column 1, between the left (0) and right (2) axes: the legend takes
# row 1 from the (never shown) top axis, across the axes' columns too, so a narrow plot
# has the width of its tick labels as well for the legend's columns.
_ROW, _COLUMN, _SPAN = 1, 0, 3
_ENTRY_GAP = 14  # pixels between one entry and the next in a row
# A key's sample line at most this thick (desktop pixels, scaled in presentation mode),
# and its marker at most this big: a line drawn wide and pale under others (the Softmax
# & Loss lab's stable float64) was a 14 px bar in the key in large type.
SAMPLE_LINE_PX = 3.0
SAMPLE_SYMBOL_PX = 16.0  # the sample's box is 20 px square
_TIGHT_GAP = 6  # ... where that keeps a row of key that the usual gap would add


class KeySample(pg.ItemSample):
    """pyqtgraph's legend sample with its line and marker no bigger than a key needs
    (``SAMPLE_LINE_PX``, ``SAMPLE_SYMBOL_PX``); thinner lines and smaller markers are
    drawn as they are in the plot."""

    def paint(self, p, *args) -> None:
        item = self.item
        if not item.isVisible():
            super().paint(p, *args)  # pyqtgraph's hidden-curve eye
            return
        opts = item.opts
        if opts.get("antialias"):
            p.setRenderHint(p.RenderHint.Antialiasing)
        if not isinstance(item, pg.ScatterPlotItem):
            pen = pg.mkPen(opts["pen"])
            pen.setWidthF(min(pen.widthF(), theme.line_width(SAMPLE_LINE_PX)))
            p.setPen(pen)
            p.drawLine(QPointF(0, 11), QPointF(20, 11))
            if opts.get("fillLevel") is not None and opts.get("fillBrush") is not None:
                p.setBrush(pg.mkBrush(opts["fillBrush"]))
                p.drawPolygon(QPolygonF([QPointF(2, 18), QPointF(18, 2), QPointF(18, 18)]))
        symbol = opts.get("symbol")
        if symbol is not None:
            if isinstance(item, pg.PlotDataItem):
                opts = item.scatter.opts
            p.translate(10, 10)
            pen = pg.mkPen(opts["pen"])
            pen.setWidthF(min(pen.widthF(), theme.line_width(SAMPLE_LINE_PX)))
            drawSymbol(p, symbol, min(float(opts["size"]), SAMPLE_SYMBOL_PX), pen,
                       pg.mkBrush(opts["brush"]))
        if isinstance(item, pg.BarGraphItem):
            p.setBrush(pg.mkBrush(opts["brush"]))
            p.drawRect(QRectF(2, 2, 18, 18))


class OutsideLegend(pg.LegendItem):
    """The legend of one ``pg.PlotItem``, in a wrapped row above its view box.

    It is the plot item's ``legend``, so curves added with a name appear in it as with
    pyqtgraph's own. ``anchor``/``setOffset`` (placing a floating legend) and
    ``setColumnCount`` do nothing: the place is fixed and the columns follow the width.
    """

    def __init__(self, plot: pg.PlotItem, *, beside: bool = False) -> None:
        """``beside``: one column right of the view box (where a colour bar goes), for a
        key of a few entries on a plot short of height, rather than a row above it."""
        super().__init__(
            offset=None,
            labelTextSize=f"{theme.tick_pt()}pt",
            labelTextColor="k",
            frame=False,
            horSpacing=4,
            sampleType=KeySample,
        )
        self.setFlag(self.GraphicsItemFlag.ItemIgnoresTransformations, False)
        self.layout.setContentsMargins(4, 2, 4, 2)
        self._plot = plot
        self._columns = 1
        self._gap = _ENTRY_GAP  # between entries in a row: the usual, or tight
        self._rows: list[QGraphicsWidget] = []  # a widget per row of entries (a pool)
        self._min_width = 0.0
        self.beside = None
        plot.legend = self
        # The top axis is never shown in the labs; its cell is the legend's.
        top = plot.getAxis("top")
        top.hide()
        plot.layout.removeItem(top)
        self.set_beside(beside)
        plot.vb.sigResized.connect(self._fit_columns)

    def set_beside(self, beside: bool) -> None:
        """Place the legend in a wrapped row above the view box, or (``beside``) in one
        column right of it, where a colour bar goes."""
        if beside == self.beside:
            return
        layout = self._plot.layout
        if self.beside is not None:
            layout.removeItem(self)
        self.beside = beside
        if beside:
            # Row 2 (the view box's), after the right axis and a gap: a colour bar's place.
            layout.addItem(self, 2, 5)
            layout.setColumnFixedWidth(4, 5)
            layout.setAlignment(self, Qt.AlignmentFlag.AlignVCenter)
        else:
            self.setMinimumWidth(0)
            layout.addItem(self, _ROW, _COLUMN, 1, _SPAN)
            layout.setAlignment(self, Qt.AlignmentFlag.AlignHCenter)
        self._fit_columns()

    # -- placing: fixed ---------------------------------------------------------------

    def anchor(self, *args, **kwargs) -> None:
        """Ignored: the legend is laid out outside the plot area."""

    def setOffset(self, offset) -> None:  # noqa: N802 (pyqtgraph API)
        self.opts["offset"] = None

    def setColumnCount(self, columnCount: int) -> None:  # noqa: N802,N803 (pyqtgraph API)
        """Ignored: the entries wrap to the plot's width."""

    def mouseDragEvent(self, ev) -> None:  # noqa: N802 (Qt override)
        ev.ignore()  # not draggable into the data

    # -- entries ------------------------------------------------------------------------

    def addItem(self, item, name) -> None:  # noqa: N802 (pyqtgraph API)
        super().addItem(item, name)
        self._reflow(self._columns)
        self._fit_columns()

    def removeItem(self, item) -> None:  # noqa: N802 (pyqtgraph API)
        super().removeItem(item)
        self._reflow(self._columns)
        self._fit_columns()

    def clear(self) -> None:
        super().clear()
        self._reflow(self._columns)

    def _addItemToLayout(self, sample, label) -> None:  # noqa: N802 (pyqtgraph API)
        """Entries go into their rows in ``_reflow``."""
        sample.setParentItem(self)
        label.setParentItem(self)

    def _removeItemFromLayout(self, *items) -> None:  # noqa: N802 (pyqtgraph API)
        for item in items:
            for row in self._rows:
                row.layout().removeItem(item)
            item.close()
            scene = item.scene()
            if scene:  # PySide does not take a closed item out of its scene
                scene.removeItem(item)

    def restyle(self) -> None:
        """Text at the current tick size (presentation mode), columns fitted again."""
        self.setLabelTextSize(f"{theme.tick_pt()}pt")
        for _, label in self.items:
            label.setText(label.text, size=f"{theme.tick_pt()}pt")
        self._reflow(self._columns)
        self._fit_columns()

    def entry_names(self) -> list[str]:
        """The entries' texts as shown."""
        return [label.text for _, label in self.items]

    def set_entry_names(self, names: list[str]) -> None:
        """Show the entries under other texts (shorter forms of their curves' names),
        in order; the curves keep their names. Rows are fitted again."""
        for (_, label), name in zip(self.items, names, strict=True):
            if label.text != name:
                label.setText(name, size=f"{theme.tick_pt()}pt")
        self._reflow(self._columns)
        self._fit_columns()

    def rows_for(self, available: float) -> int:
        """Rows the entries take in ``available`` pixels as they are named now."""
        return math.ceil(len(self.items) / self._layout_for(available)[0]) \
            if self.items else 0

    def entry_width(self) -> float:
        """Width of the widest entry (sample and label), in pixels."""
        return max(self._entry_widths(), default=0.0)

    def _entry_widths(self, gap: float | None = None) -> list[float]:
        """Each entry's width (sample, spacing, label and the gap to the next entry)."""
        gap = self._gap if gap is None else gap
        # The label's text, not its box: a laid-out label is as wide as its column.
        return [sample.boundingRect().width() + label.item.boundingRect().width()
                + self.layout.horizontalSpacing() + gap
                for sample, label in self.items]

    def width_for(self, columns: int, gap: float | None = None) -> float:
        """Pixels the entries need at ``columns`` entries a row: entries fill the rows
        left to right, each row as wide as its own entries (a long name in one row
        does not widen the others), the last of a row needs no gap after it."""
        gap = self._gap if gap is None else gap
        widths = self._entry_widths(gap)
        if not widths:
            return 0.0
        columns = max(1, min(columns, len(widths)))
        total = max(sum(widths[r:r + columns]) for r in range(0, len(widths), columns))
        left, _, right, _ = self.layout.getContentsMargins()
        return total - gap + left + right

    def columns_that_fit(self, available: float, gap: float | None = None) -> int:
        """The most entries a row (up to all) whose rows fit in ``available`` pixels, then
        evened out over the rows that takes (six entries in two rows: three and three,
        not five and one) where the even rows fit too."""
        count = len(self.items)
        for columns in range(count, 1, -1):
            if self.width_for(columns, gap) <= available:
                even = math.ceil(count / math.ceil(count / columns))
                return even if self.width_for(even, gap) <= available else columns
        return 1

    def _layout_for(self, available: float) -> tuple[int, float]:
        """Entries a row and the gap between them: the usual gap, or a tight one where
        that saves a row (four entries in a narrow plot: two rows, not four)."""
        usual = self.columns_that_fit(available, _ENTRY_GAP)
        tight = self.columns_that_fit(available, _TIGHT_GAP)
        rows = math.ceil(len(self.items) / usual) if self.items else 0
        if self.items and math.ceil(len(self.items) / tight) < rows:
            return tight, _TIGHT_GAP
        return usual, _ENTRY_GAP

    def available_width(self) -> float:
        """Pixels of the legend's row: the view box and the shown axes beside it."""
        plot = self._plot
        width = plot.vb.width()
        if width <= 0:
            return plot.width()
        for side in ("left", "right"):
            axis = plot.getAxis(side)
            if axis.isVisible():
                width += axis.width()
        return width

    def _fit_columns(self, *_args) -> None:
        columns, gap = (1, _ENTRY_GAP) if self.beside else \
            self._layout_for(self.available_width())
        if (columns, gap) != (self._columns, self._gap):
            self._gap = gap
            self._reflow(columns)
        self._size_to_contents()

    def _reflow(self, columns: int) -> None:
        """``columns`` entries a row, each row a layout of its own (centred)."""
        self._columns = columns
        self.columnCount = columns  # pyqtgraph's own count, for its readers
        while self.layout.count():
            self.layout.removeAt(0)
        for row in self._rows:
            while row.layout().count():
                row.layout().removeAt(0)
        groups = [self.items[i:i + columns] for i in range(0, len(self.items), columns)]
        while len(self._rows) < len(groups):
            row = QGraphicsWidget(self)
            line = QGraphicsLinearLayout(Qt.Orientation.Horizontal, row)
            line.setContentsMargins(0, 0, 0, 0)
            self._rows.append(row)
        for r, row in enumerate(self._rows):
            row.setVisible(r < len(groups))
        for r, group in enumerate(groups):
            row = self._rows[r]
            line = row.layout()
            line.setSpacing(0)
            for sample, label in group:
                line.addItem(sample)
                line.setAlignment(sample, Qt.AlignmentFlag.AlignVCenter)
                line.setItemSpacing(line.count() - 1, self.layout.horizontalSpacing())
                line.addItem(label)
                line.setItemSpacing(line.count() - 1, self._gap)
            line.setItemSpacing(line.count() - 1, 0)
            # As wide as its entries, centred in the legend: a long name in another row
            # leaves this row's entries together.
            line.invalidate()
            row.setMaximumWidth(line.effectiveSizeHint(Qt.SizeHint.PreferredSize).width())
            self.layout.addItem(row, r, 0)
            self.layout.setAlignment(row, Qt.AlignmentFlag.AlignHCenter)
        self.rowCount = len(groups)

    def updateSize(self) -> None:  # noqa: N802 (pyqtgraph API)
        # pyqtgraph's version moves the legend to (0, 0) of its parent; here the plot's
        # layout places it, and only needs to know its size.
        self._size_to_contents()

    def _size_to_contents(self) -> None:
        if not self.items:
            # No entries: no row at all, rather than an empty box.
            self.setMinimumSize(QSizeF(0, 0))
            self.setPreferredSize(QSizeF(0, 0))
            self.setMaximumHeight(0)
            self.setVisible(False)
            return
        self.setVisible(True)
        self.setMaximumSize(QSizeF(16777215, 16777215))
        self.layout.invalidate()
        hint = self.layout.effectiveSizeHint(Qt.SizeHint.PreferredSize)
        if self.beside:
            # Its whole width, taken from the view box (which stretches) if need be.
            hint.setWidth(max(hint.width(), self._min_width))
            self.setMinimumWidth(hint.width())
        self.setMinimumHeight(hint.height())
        self.setPreferredSize(hint)
        self.setMaximumSize(hint)  # centred in the row by the plot's layout
        self.updateGeometry()

    def content_width(self) -> float:
        """Pixels the entries need in the current columns."""
        return self.width_for(self._columns)

    def set_min_width(self, width: float) -> None:
        """A key beside the plot at least ``width`` wide: keys of different texts in one
        column of plots then leave their view boxes the same width (cells line up)."""
        self._min_width = float(width)
        self._size_to_contents()

    def paint(self, p, *args) -> None:
        pass  # no frame: it is outside the data
