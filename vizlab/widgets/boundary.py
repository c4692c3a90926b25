"""A decision boundary over the input plane, with the training points on top."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from vizlab.widgets import theme
from vizlab.widgets._base import PlotWidgetBase, remember_base


def class_colors(count: int) -> np.ndarray:
    """(count, 3) RGB in 0..1 from the shared palette."""
    rgb = [pg.mkColor(theme.palette_color(i)).getRgbF()[:3] for i in range(count)]
    return np.array(rgb, dtype=np.float32)


class BoundaryPlot(PlotWidgetBase):
    """Class probabilities over a grid, as a pale blend of class colours, and the points.

    Where the network is sure, the colour is that class's; where it hesitates, colours
    mix towards grey, so the boundary shows as the band where they meet.
    """

    def __init__(self, title: str = "Decision boundary", parent: QWidget | None = None) -> None:
        super().__init__(parent, menu=False)
        theme.style_plot(self._plot, title, "x1", "x2")
        # One unit of x1 as long as one of x2: circles in the data stay circles.
        self._plot.setAspectLocked(True, ratio=1.0)
        self._image = pg.ImageItem(axisOrder="row-major")
        self._plot.addItem(self._image)
        self._scatter = pg.ScatterPlotItem(size=theme.marker_size(6),
                                           pen=pg.mkPen("#222222", width=0.6))
        remember_base(self._scatter, symbol=6.0)
        self._plot.addItem(self._scatter)
        self._rgb = np.ones((1, 1, 3), dtype=np.float32)
        self._extent: tuple[float, float, float, float] | None = None
        self._points = np.zeros((0, 2))
        self._labels = np.zeros(0, dtype=int)

    def set_boundary(
        self,
        probabilities: np.ndarray,
        extent: tuple[float, float, float, float],
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
    ) -> None:
        """probabilities: (rows=y, cols=x, classes); extent: x0, x1, y0, y1."""
        probs = np.asarray(probabilities, dtype=np.float32)
        colors = class_colors(probs.shape[2])
        rgb = probs @ colors
        self._rgb = 0.45 * rgb + 0.55  # pale, so the points stand out
        self._image.setImage(self._rgb, levels=(0.0, 1.0), autoLevels=False)
        x0, x1, y0, y1 = extent
        if extent != self._extent:
            self._image.setRect(x0, y0, x1 - x0, y1 - y0)
            self._plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            self._extent = extent
        if (
            points is not None
            and labels is not None
            and (points is not self._points or labels is not self._labels)
        ):
            self._points, self._labels = points, labels
            palette = [pg.mkBrush(theme.palette_color(int(k))) for k in range(probs.shape[2])]
            self._scatter.setData(pos=points, brush=[palette[int(k)] for k in labels])

    def export_data(self) -> dict[str, np.ndarray]:
        return {"image_rgb": self._rgb, "points": self._points, "labels": self._labels}
