"""Common frame of the lab widgets: a pyqtgraph plot inside a QWidget, plus export hooks."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget


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
        self._view = pg.PlotWidget(axisItems=axis_items, enableMenu=False)
        self._plot: pg.PlotItem = self._view.getPlotItem()
        self._menu_wanted = menu
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._layout.addWidget(self._view)

    def enterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self._menu_wanted and not self._plot.menuEnabled():
            self._plot.setMenuEnabled(True)
        super().enterEvent(event)

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
