"""The Qt side of exporting: screenshots of widgets, single plots, the clipboard, progress.

``grab_image`` paints a widget into a QImage at 1x or 2x device pixels: the image gets
``devicePixelRatio = scale``, so Qt and pyqtgraph draw text, cosmetic pens and images at the
higher resolution exactly as they would on a high-DPI screen — a real 2x picture even under
the offscreen platform, not an upscaled 1x one. ``save_screenshot`` can add a caption strip
(the run's settings) under the picture. ``export_plot`` writes one pyqtgraph plot as PNG, SVG
or CSV. Every file goes through the atomic writer, so a failed export leaves nothing behind.

``run_with_progress`` shows a progress dialog while a long export (GIF/APNG) runs in the GUI
thread, pumping events between frames; see its docstring for why no worker thread.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from xml.dom import minidom

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import CSVExporter, ImageExporter, SVGExporter
from PySide6 import QtCore, QtGui, QtWidgets

from .atomic import ExportError, atomic_open, atomic_path
from .progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = [
    "copy_to_clipboard",
    "export_plot",
    "grab_image",
    "qimage_to_array",
    "run_with_progress",
    "save_screenshot",
]

T = TypeVar("T")

#: Caption text size in logical pixels (so 2x screenshots get 2x text): readable on a slide.
CAPTION_PIXEL_SIZE = 14
_CAPTION_PADDING = 10
_CAPTION_TEXT = QtGui.QColor(40, 40, 40)
_CAPTION_BACKGROUND = QtGui.QColor(255, 255, 255)
_CAPTION_RULE = QtGui.QColor(200, 200, 200)
_DPI = 96.0  # what a 1x screenshot claims in its PNG header; 2x claims twice that


def grab_image(widget: QtWidgets.QWidget, scale: float = 1) -> QtGui.QImage:
    """Paint ``widget`` (with its children) into an opaque QImage of ``size * scale`` pixels.

    Works for hidden widgets too (Qt lays them out before rendering). The image's
    devicePixelRatio is ``scale``, so it draws back at the widget's logical size.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale}")
    size = widget.size()
    if size.width() <= 0 or size.height() <= 0:
        raise ValueError(f"cannot grab a widget of size {size.width()}x{size.height()}")
    image = QtGui.QImage(
        math.ceil(size.width() * scale),
        math.ceil(size.height() * scale),
        QtGui.QImage.Format.Format_ARGB32_Premultiplied,
    )
    image.setDevicePixelRatio(scale)
    # Widgets that do not fill their background would otherwise leave transparent holes.
    image.fill(widget.palette().color(widget.backgroundRole()))
    painter = QtGui.QPainter(image)
    try:
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, True)
        # QWidget's render, named explicitly: a QGraphicsView (every pyqtgraph PlotWidget) has
        # a render() of its own that draws the scene, with another signature.
        QtWidgets.QWidget.render(widget, painter, QtCore.QPoint(0, 0), QtGui.QRegion(widget.rect()))
    finally:
        painter.end()
    _set_dpi(image, scale)
    return image


def _set_dpi(image: QtGui.QImage, scale: float) -> None:
    # Slide software sizes a pasted picture by its DPI: a 2x screenshot then lands at the same
    # size as the 1x one, only sharper.
    dots_per_metre = round(_DPI * scale / 0.0254)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)


def qimage_to_array(image: QtGui.QImage) -> np.ndarray:
    """A QImage as an HxWx3 uint8 RGB array (a copy; transparency composited over white)."""
    if image.isNull():
        raise ValueError("the image is empty")
    if image.hasAlphaChannel():
        opaque = QtGui.QImage(image.size(), QtGui.QImage.Format.Format_RGB32)
        opaque.fill(QtGui.QColor(255, 255, 255))
        painter = QtGui.QPainter(opaque)
        painter.drawImage(0, 0, image)  # pixel for pixel: opaque has no devicePixelRatio
        painter.end()
        image = opaque
    rgb = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    rows = np.frombuffer(rgb.constBits(), np.uint8, count=stride * h).reshape(h, stride)
    return rows[:, : w * 3].reshape(h, w, 3).copy()


def _caption_document(caption: str, width: float) -> QtGui.QTextDocument:
    doc = QtGui.QTextDocument()
    font = QtGui.QFont()
    font.setPixelSize(CAPTION_PIXEL_SIZE)
    doc.setDefaultFont(font)
    doc.setDocumentMargin(0)
    # Plain text: settings such as "lr=<0.1>" must not be read as markup. The default wrap
    # mode breaks at spaces, and inside a word only when one is longer than the line.
    doc.setPlainText(caption)
    doc.setTextWidth(max(width, 20.0))
    return doc


def add_caption(image: QtGui.QImage, caption: str) -> QtGui.QImage:
    """``image`` with a strip under it holding ``caption`` as word-wrapped text."""
    scale = image.devicePixelRatio()
    width, height = image.width() / scale, image.height() / scale  # logical pixels
    doc = _caption_document(caption, width - 2 * _CAPTION_PADDING)
    strip = math.ceil(doc.size().height()) + 2 * _CAPTION_PADDING
    out = QtGui.QImage(
        image.width(),
        image.height() + math.ceil(strip * scale),
        QtGui.QImage.Format.Format_ARGB32_Premultiplied,
    )
    out.setDevicePixelRatio(scale)
    out.fill(_CAPTION_BACKGROUND)
    painter = QtGui.QPainter(out)
    try:
        painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing, True)
        painter.drawImage(QtCore.QPointF(0, 0), image)
        painter.setPen(QtGui.QPen(_CAPTION_RULE, 0))
        painter.drawLine(QtCore.QPointF(0, height + 0.5), QtCore.QPointF(width, height + 0.5))
        painter.translate(_CAPTION_PADDING, height + _CAPTION_PADDING)
        context = QtGui.QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QtGui.QPalette.ColorRole.Text, _CAPTION_TEXT)
        doc.documentLayout().draw(painter, context)
    finally:
        painter.end()
    _set_dpi(out, scale)
    return out


def _png_bytes(image: QtGui.QImage) -> bytes:
    data = QtCore.QByteArray()
    buffer = QtCore.QBuffer(data)
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    ok = image.save(buffer, "PNG")
    buffer.close()
    if not ok:
        raise RuntimeError("Qt could not encode the image as PNG")
    return bytes(data.data())


def save_screenshot(
    widget: QtWidgets.QWidget,
    path: str | os.PathLike[str],
    scale: float = 1,
    caption: str | None = None,
) -> Path:
    """Save ``widget`` as a PNG at ``scale`` (1 or 2) device pixels per logical pixel.

    With ``caption`` (e.g. the run's settings) a strip of word-wrapped text is added under the
    picture. Returns the path written; raises :class:`ExportError`.
    """
    image = grab_image(widget, scale)
    if caption:
        image = add_caption(image, caption)
    # Encoded in memory, then written by Python: a failing write then reports its real reason
    # (QImage.save only says "False"), and the atomic writer keeps old files safe.
    data = _png_bytes(image)
    target = Path(os.path.abspath(os.fspath(path)))
    with atomic_open(target, "wb") as fh:
        fh.write(data)
    return target


def copy_to_clipboard(
    widget: QtWidgets.QWidget, scale: float = 1, caption: str | None = None
) -> QtGui.QImage:
    """Put a picture of ``widget`` on the system clipboard; returns the image."""
    image = grab_image(widget, scale)
    if caption:
        image = add_caption(image, caption)
    QtGui.QGuiApplication.clipboard().setImage(image)
    return image


def _as_plot_item(plot: pg.PlotItem | pg.PlotWidget) -> pg.PlotItem:
    if isinstance(plot, pg.PlotItem):
        return plot
    get = getattr(plot, "getPlotItem", None)
    if get is None:
        raise TypeError(f"expected a pyqtgraph PlotItem or PlotWidget, not {type(plot).__name__}")
    return get()


def _image_items(item: pg.PlotItem) -> list[pg.ImageItem]:
    return [i for i in item.items if isinstance(i, pg.ImageItem) and i.image is not None]


def _has_curves(item: pg.PlotItem) -> bool:
    return any(
        isinstance(i, pg.ErrorBarItem) or (hasattr(i, "implements") and i.implements("plotData"))
        for i in item.items
    )


def _close_paths_explicitly(node: minidom.Element) -> None:
    """Rewrite each "Z" (close path) in the node's <path>s as a line back to the start."""
    for path in node.getElementsByTagName("path"):
        d = path.getAttribute("d")
        if "Z" not in d and "z" not in d:
            continue
        out: list[str] = []
        start: str | None = None
        for token in d.split():
            if token in ("Z", "z"):
                if start is not None:
                    out.append("L" + start)
                continue
            if token[0] in "Mm":
                start = token[1:]
            out.append(token)
        path.setAttribute("d", " ".join(out))


@contextlib.contextmanager
def _explicit_svg_close_paths() -> Iterator[None]:
    # Qt 6.12's SVG generator ends closed shapes (the view box outline) with a "Z" token, and
    # pyqtgraph 0.14's coordinate fix-up, which expects only "x,y" tokens, fails on it. For the
    # duration of one export, hand it paths whose closing segment is an explicit line.
    module: Any = importlib.import_module("pyqtgraph.exporters.SVGExporter")
    original = getattr(module, "correctCoordinates", None)
    if original is None:  # a pyqtgraph that no longer has the fix-up step
        yield
        return

    def correct(node: minidom.Element, *args: Any, **kwargs: Any) -> Any:
        _close_paths_explicitly(node)
        return original(node, *args, **kwargs)

    module.correctCoordinates = correct
    try:
        yield
    finally:
        module.correctCoordinates = original


def export_plot(
    plot: pg.PlotItem | pg.PlotWidget, path: str | os.PathLike[str], scale: float = 1
) -> Path:
    """Write one plot to ``path``; the extension picks the format.

    ``.png``: a picture of the plot (axes, title, legend), ``scale`` times its on-screen size;
    ``.svg``: the same as vector graphics; ``.csv``: the plotted numbers — one x and one y
    column per curve, or, for a heatmap (an ImageItem and no curves), the image array as
    drawn from (rows of the CSV are rows of the array). Returns the path written; raises
    :class:`ExportError`.
    """
    item = _as_plot_item(plot)
    target = Path(os.path.abspath(os.fspath(path)))
    kind = target.suffix.lower()
    if kind == ".png":
        exporter = ImageExporter(item)
        if scale != 1:
            # Setting the width makes pyqtgraph derive the height with the same aspect.
            exporter.parameters()["width"] = max(1, round(exporter.parameters()["width"] * scale))
        image = exporter.export(toBytes=True)
        if image is None or image.isNull():
            raise ExportError(target, "the plot has no size yet (is it laid out?)")
        data = _png_bytes(image)
        with atomic_open(target, "wb") as fh:
            fh.write(data)
    elif kind == ".svg":
        with _explicit_svg_close_paths():
            svg = SVGExporter(item).export(toBytes=True)
        with atomic_open(target, "wb") as fh:
            fh.write(svg)
    elif kind == ".csv":
        if _has_curves(item):
            with atomic_path(target) as tmp:
                CSVExporter(item).export(fileName=str(tmp))
        else:
            images = _image_items(item)
            if not images:
                raise ExportError(target, "the plot has no data to write as CSV")
            array = np.asarray(images[0].image)
            if array.ndim != 2:
                raise ExportError(
                    target, "the image has colour channels; CSV can only hold a 2-D array"
                )
            with atomic_open(target, "w", newline="") as fh:
                np.savetxt(fh, array, delimiter=",", fmt="%.10g")
    else:
        raise ExportError(target, f"unknown file type {kind or '(none)'}; use .png, .svg or .csv")
    return target


def run_with_progress(
    parent: QtWidgets.QWidget | None,
    title: str,
    job: Callable[[ProgressCallback], T],
    label: str | None = None,
) -> T:
    """Run ``job(progress)`` while a window-modal progress dialog with Cancel is shown.

    ``job`` gets a ``progress(done, total) -> bool`` callback (the one the GIF/APNG writers
    take); it returns False once the user pressed Cancel, so the writer stops and leaves no
    file. Returns what ``job`` returns; exceptions from ``job`` propagate.

    The job runs in the GUI thread and the callback pumps Qt events between frames. That is
    the simpler robust choice here: a frame takes tens of milliseconds to encode, so the
    window stays responsive enough; no second thread touches the recorder while the lab may
    still be adding frames; nothing can outlive the dialog when the window closes; and errors
    arrive as ordinary exceptions. The dialog is window-modal, so the user cannot start a
    second export or close the window's lab meanwhile.
    """
    dialog = QtWidgets.QProgressDialog(label or f"{title}…", "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)  # quick exports finish without a flashing dialog
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)

    def progress(done: int, total: int) -> bool:
        if dialog.maximum() != total:
            dialog.setMaximum(total)
        dialog.setValue(min(done, total))
        QtCore.QCoreApplication.processEvents()
        return not dialog.wasCanceled()

    try:
        return job(progress)
    finally:
        dialog.close()
        dialog.setParent(None)  # gone from the parent's children at once, not at deleteLater
        dialog.deleteLater()
