"""Heatmap of a 2-D array (e.g. a weight matrix) with a colour bar and a hover read-out.

Diverging colours centred on zero by default (levels ±max|value|), so the sign of every
weight is visible at a glance; ``sequential=True`` for non-negative data such as counts.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QLabel, QWidget

from vizlab.widgets import theme
from vizlab.widgets._base import PlotWidgetBase

Levels = tuple[float, float]


def symmetric_levels(values: np.ndarray) -> Levels:
    """``(-m, m)`` with ``m = max|finite value|``, so zero sits at the colour map's centre."""
    finite = np.abs(values[np.isfinite(values)])
    m = float(finite.max()) if finite.size else 0.0
    # An all-zero matrix (e.g. a fresh bias) still needs a non-empty range to draw.
    return (-m, m) if m > 0 else (-1.0, 1.0)


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
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, menu=False)
        self._fixed_levels = _check_levels(levels) if levels is not None else None
        self._sequential = sequential
        self._data = np.zeros((1, 1), dtype=np.float32)
        self._levels: Levels = (0.0, 1.0) if sequential else (-1.0, 1.0)
        self._hover_cell: tuple[int, int] | None = None

        plot = self._plot
        theme.style_plot(plot, title, x_label, y_label)
        plot.invertY(True)  # row 0 at the top, as a matrix is written
        plot.setAspectLocked(lock_aspect)
        plot.hideButtons()

        self._image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self._image)
        cmap = theme.sequential_cmap() if sequential else theme.diverging_cmap()
        self._bar = pg.ColorBarItem(
            values=self._levels,
            colorMap=cmap,
            label=value_label or None,
            interactive=False,
            width=16,
            colorMapMenu=False,
        )
        self._bar.setImageItem(self._image, insert_in=plot)
        self._bar.axis.setTickFont(theme.font(theme.tick_pt()))
        self._bar.axis.enableAutoSIPrefix(False)
        self._image.setImage(self._data, levels=self._levels, autoLevels=False)
        self._place_cells()

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
        self._data = data
        self._levels = lv
        self._image.setImage(data, levels=lv, autoLevels=False)
        if shape_changed:
            self._place_cells()
        self._bar.setLevels(lv)
        self._update_info()

    def _place_cells(self) -> None:
        # Cell (row, col) is centred on the integer point (col, row), so axis ticks name
        # cells rather than fall on the borders between them.
        rows, cols = self._data.shape
        self._image.setRect(QRectF(-0.5, -0.5, cols, rows))
        self._plot.getViewBox().autoRange(padding=0.02)
        # Cells are whole numbers: never label half a row or column.
        for side, count in (("bottom", cols), ("left", rows)):
            step = max(1, int(np.ceil(count / 6)))
            if step in (3, 4):
                step = 5
            elif step > 5:
                step = int(np.ceil(step / 5) * 5)
            self._plot.getAxis(side).setTicks([[(i, str(i)) for i in range(0, count, step)], []])

    def set_title(self, title: str) -> None:
        theme.set_title(self._plot, title)

    def restyle(self) -> None:
        super().restyle()
        theme.restyle_axis(self._bar.axis)
        self._info.setFont(theme.font(theme.tick_pt()))

    def levels(self) -> Levels:
        return self._levels

    def data(self) -> np.ndarray:
        return self._data

    @property
    def image_item(self) -> pg.ImageItem:
        return self._image

    @property
    def color_bar(self) -> pg.ColorBarItem:
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
        return f"row {row}, col {col}: {self.value_at(row, col):.4g}"

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
            text = f"{rows} × {cols}, colours {lo:.3g} … {hi:.3g}"
        self._info.setText(text)
        self._view.setToolTip(text if cell is not None else "")


def _check_levels(levels: Levels) -> Levels:
    lo, hi = (float(v) for v in levels)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"levels must be finite with low < high, got {levels!r}")
    return lo, hi
