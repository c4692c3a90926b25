"""A light colour bar for a heatmap: a gradient strip and one axis, nothing else.

pyqtgraph's ``ColorBarItem`` is a whole ``PlotItem`` (a view box with its menu, four
axes, the plot-options form): building one takes 30-70 ms on the GUI thread, a third of
a heatmap and most of the first visit of a lab with twelve of them. This bar draws the
same thing (the colour map's gradient beside value ticks, a label) from a gradient strip
and a single ``AxisItem``, and offers the calls labs make on the colour bar:
``axis``, ``setColorMap``, ``colorMap``, ``setLevels``, ``levels``, ``hide``.
"""

from __future__ import annotations

import weakref

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsGridLayout

from vizlab.widgets import theme

_LUT_POINTS = 256


class _GradientStrip(pg.GraphicsWidget):
    """The colour map, low values at the bottom, filling its (fixed-width) box."""

    def __init__(self, width: float) -> None:
        super().__init__()
        self.setFixedWidth(width)
        self._pixmap = QPixmap()

    def set_lut(self, lut: np.ndarray) -> None:
        # One column, top row = highest value.
        rgba = np.ascontiguousarray(lut[::-1, np.newaxis, :])
        image = QImage(rgba.data, 1, rgba.shape[0], 4, QImage.Format.Format_RGBA8888)
        self._pixmap = QPixmap.fromImage(image.copy())
        self.update()

    def paint(self, painter: QPainter, *args) -> None:
        if self._pixmap.isNull():
            return
        rect = self.boundingRect()
        painter.drawPixmap(rect, self._pixmap, QRectF(self._pixmap.rect()))
        painter.setPen(pg.mkPen("#666666", width=0.8))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)


class ColorBar(pg.GraphicsWidget):
    """A vertical colour bar beside an image: ``levels`` are the ends of its axis, and the
    image it is attached to is drawn with the same colour map and levels."""

    def __init__(
        self,
        color_map: pg.ColorMap,
        levels: tuple[float, float] = (0.0, 1.0),
        *,
        label: str | None = None,
        width: float = 16,
    ) -> None:
        super().__init__()
        layout = QGraphicsGridLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setHorizontalSpacing(0)
        self.setLayout(layout)
        self.strip = _GradientStrip(width)
        self.axis = theme.Axis("right")
        self.axis.enableAutoSIPrefix(False)
        if label:
            self.axis.setLabel(label, **{"font-size": f"{theme.tick_pt()}pt"})
        layout.addItem(self.strip, 0, 0)
        layout.addItem(self.axis, 0, 1)
        self._images: list[weakref.ref] = []
        self._levels = (float(levels[0]), float(levels[1]))
        self._color_map = color_map
        self.axis.setRange(*self._levels)
        self._apply_color_map()

    def attach(self, image: pg.ImageItem, plot: pg.PlotItem) -> None:
        """Colour ``image`` with this bar's map and levels, and sit right of ``plot``'s
        view box (where pyqtgraph's colour bar goes, a few pixels from the right axis)."""
        self._images.append(weakref.ref(image))
        self._apply_color_map()
        plot.layout.addItem(self, 2, 5)
        plot.layout.setColumnFixedWidth(4, 5)

    def setColorMap(self, color_map: pg.ColorMap | str) -> None:  # noqa: N802 (pyqtgraph API)
        if isinstance(color_map, str):
            color_map = pg.colormap.get(color_map)
        self._color_map = color_map
        self._apply_color_map()

    def colorMap(self) -> pg.ColorMap:  # noqa: N802 (pyqtgraph API)
        return self._color_map

    def setLevels(self, values: tuple[float, float]) -> None:  # noqa: N802 (pyqtgraph API)
        self._levels = (float(values[0]), float(values[1]))
        self.axis.setRange(*self._levels)
        for ref in self._images:
            image = ref()
            if image is not None:
                image.setLevels(self._levels)

    def levels(self) -> tuple[float, float]:
        return self._levels

    def _apply_color_map(self) -> None:
        lut = self._color_map.getLookupTable(nPts=_LUT_POINTS, alpha=True)
        self.strip.set_lut(np.asarray(lut, dtype=np.uint8))
        for ref in self._images:
            image = ref()
            if image is not None:
                image.setColorMap(self._color_map)
