"""A plain image view (network input, style-transfer output): no axes, aspect locked."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from vizlab.widgets import theme


class ImageView(QWidget):
    """Show an HxW (grey) or HxWx3/4 (colour) image, float in 0..1 or uint8."""

    def __init__(self, title: str = "", *, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._gl = pg.GraphicsLayoutWidget()
        self._title = self._gl.addLabel(title, row=0, col=0, size=f"{theme.title_pt()}pt")
        self._title.setVisible(bool(title))
        self._vb: pg.ViewBox = self._gl.addViewBox(
            row=1, col=0, lockAspect=True, invertY=True, enableMouse=False
        )
        self._vb.setMenuEnabled(False)
        self._image = pg.ImageItem(axisOrder="row-major")
        self._vb.addItem(self._image)
        self._data = np.zeros((1, 1), dtype=np.float32)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._gl)
        theme.on_theme_changed(self.restyle)

    def restyle(self) -> None:
        """Title at the current size (presentation mode)."""
        self.set_title(self._title.text if self._title.isVisibleTo(self._gl.ci) else "")

    def set_image(self, arr: np.ndarray) -> None:
        a = np.asarray(arr)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
            raise ValueError(f"expected HxW, HxWx3 or HxWx4, got shape {a.shape}")
        if a.dtype == np.uint8:
            levels: tuple[float, float] = (0, 255)
        else:
            # Optimised images drift outside 0..1; clip rather than rescale so colours
            # mean the same thing from one frame to the next.
            a = np.clip(a.astype(np.float32, copy=False), 0.0, 1.0)
            levels = (0.0, 1.0)
        shape_changed = a.shape[:2] != self._data.shape[:2]
        self._data = a
        self._image.setImage(a, levels=levels, autoLevels=False)
        if shape_changed:
            self._vb.autoRange(padding=0)

    def set_title(self, title: str) -> None:
        self._title.setText(title, size=f"{theme.title_pt()}pt")
        self._title.setVisible(bool(title))

    @property
    def image_item(self) -> pg.ImageItem:
        return self._image

    @property
    def plot_item(self) -> pg.PlotItem | None:
        return None  # no axes; export via export_item

    @property
    def export_item(self) -> QGraphicsItem:
        return self._gl.ci

    def export_data(self) -> dict[str, np.ndarray]:
        return {"image": np.array(self._data, copy=True)}

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(320, 320)
