"""The Training lab: a network learning a data set, seen from every side while it trains.

Two arrangements of the same panels: for 2-D points the decision boundary takes the
right-hand column; for images the right-hand column holds the confusion matrix, the
misclassified test images and sample inputs, and the first layer's weights show as one
image tile per hidden unit. Everything drawn comes computed in the snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QWidget

from vizlab.labs.base import LabView
from vizlab.widgets import CurvePlot, Heatmap, HistogramPlot, theme
from vizlab.widgets._base import PlotWidgetBase, remember_base
from vizlab.widgets.boundary import BoundaryPlot, class_colors
from vizlab.widgets.heatmap import percentile_levels, shared_levels, symmetric_levels
from vizlab.widgets.layout_check import AxisLabels, TickKeeper

HELP = """
<p><b>Training lab.</b> A multilayer perceptron learns the chosen data set. Before
<b>Run</b> the lab shows the data and the untrained network; press <b>Run</b> and
watch, or <b>Step</b> one update at a time.</p>
<ul>
<li><b>Loss and accuracy</b>: on a fixed sample of the training data and on held-out
test data. A widening gap means the network memorises rather than generalises.</li>
<li><b>Weights</b>: one heatmap per layer, a row per unit and a column per input.
Blue is negative, red positive, white zero; hover for a value. <i>heatmap scale</i>
gives each matrix its own colours, one scale for all layers, or clips at the 99th
percentile so one large weight does not wash out the rest.</li>
<li><b>Dead ReLUs</b>: the share of ReLU units whose input is negative for every
probe example. They output zero and get no gradient, so they never recover. Raise the
learning rate and watch this climb. Other activations have no dead units.</li>
<li><b>Activations</b>: histograms of each hidden layer's outputs.</li>
<li><b>Decision boundary</b> (2-D data): the class the network predicts at each point
of the plane, pale where it hesitates; filled dots are training points, rings the
held-out test points (<i>show test points</i>).</li>
<li><b>Images</b> (digits, glyphs, IDX files): sample inputs; the first layer's
weights as one image per hidden unit (the pattern each unit responds to); the test
images the network gets wrong, labelled <i>true → predicted</i>; and the
<b>confusion matrix</b>, each row the share of a true class predicted as each class,
so the errors off the diagonal show.</li>
</ul>
<p>Too high a learning rate makes the network diverge: its loss overflows, training
stops there and the loss plot's title says at which step.</p>
<p>Learning rate, batch size, regularizer and its strength apply while training;
other settings apply when you press <b>Reset</b>.</p>
"""

# Settings that only choose how a snapshot is drawn (no new training needed).
DISPLAY_SETTINGS = ("show_test_points", "heatmap_scale")
Levels = tuple[float, float]

# Confusion shares: white at zero and most of the colour change below 30%, so a few
# errors in a class show as clearly as the diagonal (ColorBrewer Blues).
CONFUSION_CMAP = pg.ColorMap(
    [0.0, 0.02, 0.1, 0.3, 1.0], ["#ffffff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"])


def weight_levels(kernels: tuple[np.ndarray, ...], scale: str) -> list[Levels]:
    """Colour levels of each layer's weights for a `heatmap_scale` choice."""
    if scale == "shared":
        return [shared_levels(kernels)] * len(kernels)
    if scale == "clipped 1-99%":
        return [percentile_levels(k, 99.0) for k in kernels]
    return [symmetric_levels(k) for k in kernels]


def fitting_title(titles: tuple[str, ...], width: float) -> str:
    """The first (longest) of `titles` that fits `width` pixels at the title font: a
    title wider than its plot would push the plot past its panel's edge."""
    metrics = QFontMetrics(theme.font(theme.title_pt()))
    for title in titles:
        if metrics.horizontalAdvance(title) + 16 <= width:
            return title
    return titles[-1] if titles else ""


class FittedTitle:
    """A plot widget whose title is the longest of a few that fits its width."""

    _titles: tuple[str, ...] = ()
    _title_shown: str | None = None

    def set_titles(self, *titles: str) -> None:
        self._titles = titles
        self._fit_title()

    def _fit_title(self) -> None:
        # The title spans the data column only: axes and a colour bar take the rest.
        plot = self.plot_item
        beside = max(0.0, plot.geometry().width() - plot.titleLabel.geometry().width())
        title = fitting_title(self._titles, self.width() - beside)
        if title != self._title_shown:
            self._title_shown = title
            theme.set_title(self.plot_item, title)

    def title(self) -> str:
        return self._title_shown or ""

    def refit_title(self) -> None:
        """Choose again (the title font changed with presentation mode)."""
        self._title_shown = None
        self._fit_title()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._fit_title()


class TrainingBoundary(FittedTitle, BoundaryPlot):
    """The decision boundary, titled to fit."""


class TileGrid(FittedTitle, PlotWidgetBase):
    """Equal-sized images in a grid, each with an optional caption beneath it: sample
    inputs, a layer's weights as one image per unit, misclassified examples.

    The grid takes as many columns as make the tiles largest in the space it has
    (captions need their width), and lays itself out again when resized.
    """

    GAP = 0.12  # space between tiles, a share of a tile's side
    MIN_TILE_PX = 26  # smaller captioned tiles are left out: a few legible beat many specks

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent, menu=False)
        plot = self._plot
        theme.style_plot(plot, title)
        for side in ("left", "bottom", "right", "top"):
            plot.hideAxis(side)  # pixels of a mosaic are no coordinates to read
        plot.setAspectLocked(True)
        plot.invertY(True)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        self._image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(self._image)
        self._captions: list[pg.TextItem] = []
        self._note = pg.TextItem("", color="#444444", anchor=(0.5, 0.5))
        self._note.setFont(theme.font(theme.tick_pt()))
        self._note.setParentItem(plot.getViewBox())
        plot.getViewBox().sigResized.connect(self._place_note)
        plot.getViewBox().sigResized.connect(self._lay_out)  # tiles and captions to fit
        self._tiles = np.zeros((0, 1, 1), dtype=np.float32)
        self._texts: list[str] = []
        self._levels: Levels | None = None
        self._mosaic = np.ones((1, 1, 3), dtype=np.float32)
        self._shown = 0
        self._geometry_key: tuple | None = None  # what the arrangement was made for
        self._geometry: tuple[int, ...] | None = None
        self._lut: np.ndarray | None = None

    def set_tiles(self, tiles: np.ndarray, captions: list[str] | None = None, *,
                  levels: Levels | None = None, empty_text: str = "") -> None:
        """tiles: (k, H, W). Without levels, images in 0..1 drawn as light ink on black;
        with levels, values on the diverging weight colours (white at zero)."""
        tiles = np.asarray(tiles, dtype=np.float32)
        if tiles.ndim != 3:
            raise ValueError(f"tiles need shape (k, H, W), got {tiles.shape}")
        texts = list(captions or [])
        if (levels == self._levels and texts == self._texts
                and tiles.shape == self._tiles.shape and np.array_equal(tiles, self._tiles)):
            return  # the same tiles (sample inputs from frame to frame)
        self._tiles, self._texts, self._levels = tiles, texts, levels
        self._note.setText(empty_text if len(tiles) == 0 else "")
        self._place_note()
        self._lay_out()

    def shows(self, tiles: np.ndarray | None) -> bool:
        """Whether these tiles are the ones drawn now (captions aside)."""
        return (tiles is not None and np.shape(tiles) == self._tiles.shape
                and np.array_equal(tiles, self._tiles))

    def tile_count(self) -> int:
        """The tiles given; `shown_count()` of them fit on screen."""
        return len(self._tiles)

    def shown_count(self) -> int:
        return self._shown

    def note(self) -> str:
        """What the panel says instead of tiles (there are none)."""
        return self._note.toPlainText()

    def captions(self) -> list[str]:
        return list(self._texts)

    def _place_note(self) -> None:
        self._note.setPos(self._plot.getViewBox().boundingRect().center())

    def _rgb(self) -> np.ndarray:
        tiles = self._tiles
        if self._levels is None:
            grey = np.clip(tiles, 0.0, 1.0)
            return np.repeat(grey[..., None], 3, axis=-1)
        lo, hi = self._levels
        share = np.clip((tiles - lo) / (hi - lo), 0.0, 1.0)
        if self._lut is None:  # the weight colours, 256 steps from low to high
            self._lut = theme.diverging_cmap().getLookupTable(
                0.0, 1.0, 256, alpha=False).astype(np.float32) / 255.0
        return self._lut[np.rint(share * 255).astype(np.intp)]

    def _columns(self, count: int, width: float, height: float, caption_w: float,
                 caption_h: float) -> tuple[int, float]:
        """The column count that makes `count` tiles largest, and their scale (screen
        px per image pixel). A column is at least as wide as the widest caption."""
        _, h, w = self._tiles.shape
        best_cols, best_scale = 1, 0.0
        for cols in range(1, count + 1):
            if cols > 1 and cols * caption_w > width:
                break
            rows = math.ceil(count / cols)
            scale = min(width / (cols * w * (1 + self.GAP)),
                        (height - rows * caption_h) / (rows * h * (1 + self.GAP)))
            if scale > best_scale:
                best_cols, best_scale = cols, scale
        return best_cols, max(best_scale, 0.05)

    def relayout(self) -> None:
        """Lay the tiles out again (the caption font changed)."""
        self._geometry_key = None
        self._lay_out()

    def _lay_out(self) -> None:
        k, h, w = self._tiles.shape
        vb = self._plot.getViewBox()
        if k == 0:
            self._shown, self._geometry = 0, None
            for item in self._captions:
                item.hide()
            self._mosaic = np.ones((1, 1, 3), dtype=np.float32)
            self._image.setImage(self._mosaic, levels=(0.0, 1.0), autoLevels=False)
            return
        rect = vb.boundingRect()
        width = max(rect.width(), 60.0)
        height = max(rect.height(), 60.0)
        font = theme.font(theme.tick_pt())  # captions grow with presentation mode
        metrics = QFontMetrics(font)
        captioned = bool(self._texts)
        # a caption's text item keeps a margin of a few pixels on each side
        caption_w = max((metrics.horizontalAdvance(t) for t in self._texts), default=0) + 14
        caption_h = metrics.height() + 4 if captioned else 0
        key = (k, h, w, round(width), round(height), caption_w, caption_h, font.pointSize())
        moved = key != self._geometry_key
        if moved:  # a new arrangement; frames of the same shape reuse it
            self._geometry_key = key
            self._note.setFont(font)
            self._geometry = self._arrangement(width, height, caption_w, caption_h)
        shown, cols, rows, gap, band, cell_h, cell_w, left = self._geometry
        self._shown = shown
        background = 1.0 if self._levels is None else 0.8
        cells = np.full((rows * cols, cell_h, cell_w, 3), background, dtype=np.float32)
        cells[:shown, :h, left:left + w] = self._rgb()[:shown]
        cells[shown:] = 1.0  # no frame where there is no tile
        mosaic = cells.reshape(rows, cols, cell_h, cell_w, 3).transpose(0, 2, 1, 3, 4)
        self._mosaic = mosaic.reshape(rows * cell_h, cols * cell_w, 3)
        self._image.setImage(self._mosaic, levels=(0.0, 1.0), autoLevels=False)
        if moved:
            self._image.setRect(QRectF(0, 0, cols * cell_w, rows * cell_h))
            vb.setRange(xRange=(0, cols * cell_w - gap), yRange=(0, rows * cell_h - gap),
                        padding=0.01)
        while len(self._captions) < len(self._texts):
            item = pg.TextItem("", color="#222222", anchor=(0.5, 0.0))
            # its desktop size, from which the widget's restyling scales it
            remember_base(item, pt=float(theme.TICK_PT))
            self._plot.addItem(item, ignoreBounds=True)
            self._captions.append(item)
        captions_shown = min(shown, len(self._texts))
        for i, item in enumerate(self._captions):
            if i >= captions_shown:
                item.hide()
                continue
            if item.textItem.font().pointSize() != font.pointSize():
                item.setFont(font)
            if item.toPlainText() != self._texts[i]:
                item.setText(self._texts[i])
            if moved or not item.isVisible():
                row, col = divmod(i, cols)
                item.setPos(col * cell_w + left + w / 2, row * cell_h + h)
                item.show()

    def _arrangement(self, width: float, height: float, caption_w: float,
                     caption_h: float) -> tuple[int, ...]:
        """How many tiles fit, in how many columns and rows, and each cell's size in
        image pixels: (shown, cols, rows, gap, caption band, cell_h, cell_w, left)."""
        k, h, w = self._tiles.shape
        captioned = caption_h > 0
        # Fewer captioned tiles rather than tiles too small to make out (uncaptioned
        # ones, a layer's units, are all shown: their title says how many).
        shown = k
        cols, scale = self._columns(shown, width, height, caption_w, caption_h)
        while captioned and shown > 1 and scale * max(h, w) < self.MIN_TILE_PX:
            shown -= max(1, shown // 10)
            cols, scale = self._columns(shown, width, height, caption_w, caption_h)
        rows = math.ceil(shown / cols)
        gap = max(1, round(self.GAP * w))
        band = math.ceil(caption_h / scale) if captioned else 0
        cell_h = h + band + gap
        cell_w = max(w + gap, math.ceil(caption_w / scale)) if captioned else w + gap
        left = (cell_w - gap - w) // 2  # a tile centred over its caption
        return shown, cols, rows, gap, band, cell_h, cell_w, left

    def export_data(self) -> dict[str, np.ndarray]:
        return {"tiles": self._tiles.copy(), "mosaic_rgb": self._mosaic.copy()}


class ConfusionMap(FittedTitle, Heatmap):
    """The confusion matrix as row shares (true class by row), class names on the axes,
    on a colour scale that makes a few errors show; hover for the counts."""

    def __init__(self) -> None:
        super().__init__("", x_label="predicted",
                         y_label="true", levels=(0.0, 1.0), lock_aspect=True)
        self.color_bar.setColorMap(CONFUSION_CMAP)
        self.color_bar.axis.setTicks(
            [[(v, f"{v:.0%}") for v in (0.0, 0.5, 1.0)], []])
        self.names: tuple[str, ...] = ()
        self.counts = np.zeros((1, 1), dtype=np.int64)
        self.set_titles("Confusion, share of each true class", "Confusion, row shares",
                        "Confusion")
        self.plot_item.getViewBox().sigResized.connect(self.label_axes)

    def set_confusion(self, counts: np.ndarray, rates: np.ndarray,
                      names: tuple[str, ...]) -> None:
        self.counts = counts
        shape_before = self.data().shape
        self.set_data(rates.astype(np.float32))
        if names != self.names or rates.shape != shape_before:
            self.names = names
            self.label_axes()

    def label_axes(self) -> None:
        """Class names on both axes, every step-th so that neighbours stay apart."""
        metrics = QFontMetrics(theme.font(theme.tick_pt()))
        # room for "100%" beside the colour bar at the current font size
        self.color_bar.axis.setWidth(metrics.horizontalAdvance("100%") + 12)
        names = self.names
        if not names:
            return
        short = [n if len(n) <= 3 else n[:3] for n in names]  # column labels side by side
        box = self.plot_item.getViewBox().boundingRect()
        cell = max(min(box.width(), box.height()) / len(names), 1.0)  # square cells
        wide = max(metrics.horizontalAdvance(n) for n in short) + 6
        step_x = max(1, math.ceil(wide / cell))
        step_y = max(1, math.ceil((metrics.height() + 2) / cell))
        self.plot_item.getAxis("bottom").setTicks(
            [[(i, short[i]) for i in range(0, len(names), step_x)], []])
        self.plot_item.getAxis("left").setTicks(
            [[(i, names[i]) for i in range(0, len(names), step_y)], []])

    def hover_text(self, row: int, col: int) -> str:
        if row >= len(self.names) or col >= len(self.names):
            return super().hover_text(row, col)
        total = int(self.counts[row].sum())
        return (f"true {self.names[row]}, predicted {self.names[col]}: "
                f"{self.value_at(row, col):.0%} ({int(self.counts[row, col])} of {total})")


class View(LabView):
    lab_name = "training"
    help_html = HELP
    # The data and the untrained network (boundary, weights) show before Run: step 0 is
    # one forward pass over the probe batches, computed off the GUI thread.
    preview_on_change = True

    def build_views(self) -> Generator[None, None, QWidget]:  # in pieces in the app
        self.shown = None  # the snapshot on screen (display settings redraw it)
        self.image_mode: bool | None = None
        self.boundary_extent = None
        area = QWidget()
        self.grid = grid = QGridLayout(area)
        grid.setContentsMargins(0, 0, 0, 0)
        yield  # the attributes above exist once the view does
        self.loss_plot = CurvePlot("Loss", x_label="step", y_label="cross-entropy", log_y=True,
                                   grow_x=True)
        yield  # a plot or two per piece: a plot takes 10-15 ms to make
        self.acc_plot = CurvePlot("Accuracy", x_label="step", y_label="share correct",
                                  grow_x=True)
        # Shares live in 0..1: fixed ranges read better and spare a re-layout per frame.
        self.acc_plot.plot_item.setYRange(0, 1.02, padding=0)
        self.acc_plot.plot_item.enableAutoRange(y=False)
        yield
        self.dead_plot = CurvePlot("Dead ReLUs", x_label="step", y_label="share of units",
                                   grow_x=True)
        # a little below 0, so a flat line of no dead units shows above the axis
        self.dead_plot.plot_item.setYRange(-0.03, 1.02, padding=0)
        self.dead_plot.plot_item.enableAutoRange(y=False)
        dead_box = self.dead_plot.plot_item.getViewBox()
        self.dead_note = pg.TextItem("", color="#444444", anchor=(0.5, 0.5))
        self.dead_note.setFont(theme.font(theme.tick_pt()))
        self.dead_note.setParentItem(dead_box)
        self.dead_note_html = ""
        dead_box.sigResized.connect(self._place_dead_note)
        yield
        self.hist_plot = HistogramPlot("Activations", x_label="output")
        self.hist_count = 0
        # Short plots in large type: at least two numbers on each y axis (a log loss
        # axis within one decade had none).
        self._tick_keepers = [TickKeeper(plot.plot_item) for plot in (
            self.loss_plot, self.acc_plot, self.dead_plot, self.hist_plot)]
        self._axis_labels = AxisLabels(
            (self.loss_plot.plot_item, "cross-entropy", "loss"),
            (self.acc_plot.plot_item, "share correct", "correct"),
            (self.dead_plot.plot_item, "share of units", "dead"))
        yield

        self.boundary_plot = TrainingBoundary()  # at equal aspect: circles stay circles
        self.test_scatter = pg.ScatterPlotItem(size=7)
        self.boundary_plot.plot_item.addItem(self.test_scatter)
        self.boundary_plot.plot_item.getViewBox().sigResized.connect(self._fit_boundary)
        yield
        self.confusion = ConfusionMap()
        self.misclassified = TileGrid()
        self.samples = TileGrid()
        self.samples.set_titles("Sample inputs", "Samples")
        yield
        self.first_tiles = TileGrid()

        self.weights_row = QHBoxLayout()
        self.weights_row.setContentsMargins(0, 0, 0, 0)
        self.weights_row.addWidget(self.first_tiles)
        self.weight_maps: list[Heatmap] = []
        self.weights_box = QWidget()
        self.weights_box.setLayout(self.weights_row)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.acc_plot, 0, 1)
        grid.addWidget(self.dead_plot, 1, 0)
        grid.addWidget(self.hist_plot, 1, 1)
        for row in range(3):
            grid.setRowStretch(row, 3)
        for col in range(3):
            grid.setColumnStretch(col, 1)
        self._arrange(images=False)
        theme.on_theme_changed(self._on_theme_changed)
        return area

    def _on_theme_changed(self) -> None:
        # Presentation mode on or off: text sizes changed, so titles, captions and
        # class labels are chosen and placed again (the widgets restyle themselves).
        self.dead_note.setFont(theme.font(theme.tick_pt()))
        self._place_dead_note()
        for widget in (self.boundary_plot, self.confusion, self.misclassified, self.samples,
                       self.first_tiles):
            widget.refit_title()
        for grid in (self.misclassified, self.samples, self.first_tiles):
            grid.relayout()
        self.confusion.label_axes()

    def _arrange(self, images: bool) -> None:
        """Place the right-hand column and the weights row for 2-D points or images."""
        if images == self.image_mode:
            return
        self.image_mode = images
        grid = self.grid
        for widget in (self.boundary_plot, self.confusion, self.misclassified, self.samples,
                       self.weights_box):
            grid.removeWidget(widget)
        if images:
            grid.addWidget(self.confusion, 0, 2)
            grid.addWidget(self.misclassified, 1, 2)
            grid.addWidget(self.weights_box, 2, 0, 1, 2)
            grid.addWidget(self.samples, 2, 2)
        else:
            grid.addWidget(self.boundary_plot, 0, 2, 2, 1)
            grid.addWidget(self.weights_box, 2, 0, 1, 3)
        self.boundary_plot.setVisible(not images)
        for widget in (self.confusion, self.misclassified, self.samples, self.first_tiles):
            widget.setVisible(images)

    def _weight_maps_for(self, names: tuple[str, ...]) -> list[Heatmap]:
        """One heatmap per layer, made again only when the number of layers changes."""
        if len(self.weight_maps) != len(names):
            for old in self.weight_maps:
                self.weights_row.removeWidget(old)
                old.deleteLater()
            self.weight_maps = [
                Heatmap(name, x_label="input", y_label="unit", value_label="weight")
                for name in names
            ]
            for heatmap in self.weight_maps:
                self.weights_row.addWidget(heatmap)
                heatmap.show()  # a layout shows new children only at the next event loop turn
        for heatmap, name in zip(self.weight_maps, names):
            heatmap.set_title(name)
        return self.weight_maps

    def _shown_config(self) -> Any:
        return self.run_config if self.runner.is_active and self.run_config else self.config

    def _fit_boundary(self) -> None:
        # With the aspect locked, a resize keeps the old scale: show the whole plane again.
        extent = self.shown.boundary_extent if self.shown is not None else None
        if extent is not None:
            x0, x1, y0, y1 = extent
            self.boundary_plot.plot_item.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def _place_dead_note(self) -> None:
        # Centred in the plot and wrapped to its width, whatever the panel's size.
        rect = self.dead_plot.plot_item.getViewBox().boundingRect()
        self.dead_note.setTextWidth(max(rect.width() - 16, 40))
        self.dead_note.setPos(rect.center())

    # -- drawing ---------------------------------------------------------------------------
    def draw(self, snap) -> Iterator[None]:
        self.shown = snap
        images = getattr(snap, "image_shape", None) is not None
        self._arrange(images)
        diverged = getattr(snap, "diverged_at", None)
        self.loss_plot.plot_item.setTitle(
            "Loss" if diverged is None else f"Loss: diverged at step {diverged}")
        curves = snap.curves
        steps = curves["step"]
        # The curves are an append-only history: long ones decimate only the new points
        # (a scrub back in time or a Reset is noticed by the plot and redone in full).
        for plot, kind in ((self.loss_plot, "loss"), (self.acc_plot, "acc")):
            for part, style in (("train", "solid"), ("test", "dash")):
                curve = plot.set_curve(part, steps, curves[f"{part}_{kind}"], style=style,
                                       extends=True)
                self._mark_lone_point(curve, len(steps) == 1)
        yield
        self._draw_dead(snap)
        yield
        for i, (counts, edges) in enumerate(snap.histograms):
            self.hist_plot.set_histogram(counts, edges, name=f"hidden {i + 1}")
        for i in range(len(snap.histograms), self.hist_count):
            self.hist_plot.remove_series(f"hidden {i + 1}")
        self.hist_count = len(snap.histograms)
        yield
        yield from self._draw_weights(snap, images)
        yield
        if images:
            self._draw_images(snap)
        else:
            self._draw_boundary(snap)

    def _mark_lone_point(self, curve: pg.PlotDataItem, lone: bool) -> None:
        # A line through one point draws nothing: step 0 (before Run) shows as a dot.
        if bool(curve.opts.get("symbol")) != lone:
            if lone:
                curve.setSymbol("o")
                curve.setSymbolSize(7)
                curve.setSymbolPen(curve.opts["pen"])
                curve.setSymbolBrush(pg.mkPen(curve.opts["pen"]).color())
            else:
                curve.setSymbol(None)

    def _draw_dead(self, snap) -> None:
        # A column per ReLU layer (one layer's history comes back as a single column).
        steps = snap.curves["step"]
        dead = np.asarray(snap.curves["dead"]).reshape(len(steps), -1)
        for name in self.dead_plot.curve_names():
            if name not in snap.dead_layers:
                self.dead_plot.remove_curve(name)
        for i, name in enumerate(snap.dead_layers):
            curve = self.dead_plot.set_curve(name, steps, dead[:, i], extends=True)
            self._mark_lone_point(curve, len(steps) == 1)
        legend = self.dead_plot.plot_item.legend
        if legend is not None:
            legend.setVisible(bool(snap.dead_layers))
        note = ""
        if not snap.dead_layers:
            used = ", ".join(dict.fromkeys(getattr(snap, "hidden_activations", ())))
            note = (f"<div style='text-align:center'>Does not apply: no ReLU layer ({used}). "
                    "Only ReLU units die (output and gradient 0 for every input).</div>")
        if note != self.dead_note_html:
            self.dead_note_html = note
            self.dead_note.setHtml(note)
            self._place_dead_note()

    def _draw_weights(self, snap, images: bool) -> Iterator[None]:
        """The weight maps, a map per piece (wide layers' maps took 40-90 ms together on
        a busy machine)."""
        levels = weight_levels(snap.weights, self._shown_config().heatmap_scale)
        first = 1 if images else 0
        maps = self._weight_maps_for(snap.layer_names[first:])
        for heatmap, kernel, lv in zip(maps, snap.weights[first:], levels[first:]):
            heatmap.set_data(kernel.T, levels=lv)  # a row per unit reads like the diagram
            yield
        if images:
            units = snap.weights[0].shape[1]
            shown = len(snap.weight_tiles)
            name, part = snap.layer_names[0], "" if shown == units else f" ({shown}/{units})"
            self.first_tiles.set_titles(f"{name}: the weights of each unit{part}",
                                        f"{name} by unit{part}", name)
            self.first_tiles.set_tiles(snap.weight_tiles, levels=levels[0])

    def plots_a_snapshot_changes(self, snapshot: Any) -> list:
        # The sample inputs stay the same all run: held and painted again with every
        # frame, they were a tenth of a frame's paint on the digits.
        plots = super().plots_a_snapshot_changes(snapshot)
        if self.samples.shows(snapshot.sample_images):
            plots = [plot for plot in plots if plot is not self.samples]
        return plots

    def _draw_images(self, snap) -> None:
        names = snap.class_names
        self.confusion.set_confusion(snap.confusion, snap.confusion_rates, names)
        self.samples.set_tiles(snap.sample_images, [names[k] for k in snap.sample_labels])
        total = int(snap.confusion.sum())
        wrong = snap.misclassified_count
        self.misclassified.set_titles(f"{wrong} of {total} test images wrong: true → predicted",
                                      f"{wrong}/{total} wrong: true → predicted",
                                      f"{wrong}/{total} wrong: true→pred.",
                                      "true → predicted", "true→pred.")
        captions = [f"{names[t]}→{names[p]}" for t, p in
                    zip(snap.misclassified_true, snap.misclassified_predicted)]
        self.misclassified.set_tiles(snap.misclassified_images, captions,
                                     empty_text="every test image is right")

    def _draw_boundary(self, snap) -> None:
        if snap.boundary_extent != self.boundary_extent:
            self.boundary_extent = snap.boundary_extent
            self._fit_boundary()
        self.boundary_plot.set_boundary(snap.boundary, snap.boundary_extent, snap.points,
                                        snap.point_labels)
        show_test = bool(self._shown_config().show_test_points)
        test_points = getattr(snap, "test_points", None)
        if test_points is not None:
            colors = np.round(class_colors(snap.boundary.shape[2]) * 255).astype(int)
            pens = [pg.mkPen(tuple(rgb), width=2.0) for rgb in colors.tolist()]
            self.test_scatter.setData(pos=test_points, brush=pg.mkBrush(255, 255, 255, 220),
                                      pen=[pens[int(k)] for k in snap.test_point_labels])
        self.test_scatter.setVisible(show_test and test_points is not None)
        if show_test:
            self.boundary_plot.set_titles("Decision boundary: ● train  ○ test",
                                          "Boundary: ● train  ○ test", "● train  ○ test")
        else:
            self.boundary_plot.set_titles("Decision boundary: ● training points",
                                          "Decision boundary", "Boundary")

    def clear_views(self) -> None:
        for plot in (self.loss_plot, self.acc_plot, self.dead_plot):
            for name in list(plot.curve_names()):
                plot.remove_curve(name)
        # Reset: back to the data and the untrained network of the current settings.
        if not self.runner.is_active:
            self.preview()

    def _send_preview_request(self) -> None:
        # Weights loaded from a file are where Run continues: a preview of an untrained
        # network would misrepresent them.
        if self.restore_state is None:
            super()._send_preview_request()

    def _on_setting_changed(self, name: str, value: Any) -> None:
        # Display choices only change how the snapshot on screen is drawn: redraw it,
        # rather than preview step 0 over a trained run.
        if name in DISPLAY_SETTINGS and self.shown is not None:
            if self.runner.is_active and self.run_config is not None:
                setattr(self.run_config, name, value)
            self._draw(self.shown)
            return
        super()._on_setting_changed(name, value)

