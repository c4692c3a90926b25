"""A computation graph drawn with pyqtgraph: labelled boxes for nodes, lines for values.

Used by the Gradient lab. Nodes sit in layers (inputs on the left, the output on the
right); each box is a `TextItem` with a fill and border, so its text stays readable at
any zoom, and edges are one line item drawn beneath them. The items are made once
per graph shape; stepping through the backward pass only changes texts and colours.

Boxes keep their size in pixels whatever the view's range, so ``fit`` measures them and
chooses the range (and, when even the whole view cannot hold them apart, a smaller font)
so that no two boxes overlap and none crosses the plot's edge; it runs again on resize.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QWidget

from vizlab.widgets import theme
from vizlab.widgets._base import PlotWidgetBase, remember_base

# Fill and border of a node in each state of the backward pass.
STATES = {
    "pending": ("#ffffff", "#9a9a9a", 1.2),  # adjoint not computed yet
    "shown": ("#dcf5e0", "#2f9e44", 1.5),  # adjoint known
    "current": ("#ffd8a8", "#e8590c", 3.0),  # adjoint computed by this step
    "constant": ("#f1f3f5", "#c0c0c0", 1.0),  # a number: needs no adjoint
}
EDGE_COLOR = "#8a8a8a"
HIGHLIGHT_COLOR = "#e8590c"
BOX_GAP_PX = 6  # at least this many pixels between two boxes
EDGE_PX = 10  # and between a box and the plot's edge
BOX_MARGIN_PX = 2  # between a box's border and its text
SMALLEST_PT = 6  # boxes' text shrinks to fit the view, down to this size (desktop points)


def layered_layout(inputs: Sequence[Sequence[int]], constant: Sequence[bool]) -> np.ndarray:
    """(N, 2) positions: x = layer (longest path from an input), y = rank in the layer.

    Nodes must come in topological order. Constants take no layer: each sits half a
    layer left of its first consumer and a little below (above, for a second one), next
    to where it is used. Within a layer nodes are ordered by the mean height of their
    inputs (and leaves by that of their consumers), which keeps crossings few.
    """
    n = len(inputs)
    layer = np.zeros(n, dtype=int)
    consumers: list[list[int]] = [[] for _ in range(n)]
    for i, ins in enumerate(inputs):
        for j in ins:
            consumers[j].append(i)
        real = [j for j in ins if not constant[j]]
        if real:
            layer[i] = 1 + max(layer[j] for j in real)
    laid = [i for i in range(n) if not constant[i]]
    key = np.arange(n, dtype=float)
    y = np.zeros(n)

    def place() -> None:
        for level in range(int(layer.max(initial=0)) + 1):
            members = sorted((i for i in laid if layer[i] == level), key=lambda i: key[i])
            for rank, i in enumerate(members):
                y[i] = (len(members) - 1) / 2 - rank  # first at the top

    place()
    for _ in range(2):  # inputs' heights order ops; consumers' heights order leaves
        for i in laid:
            real = [j for j in inputs[i] if not constant[j]]
            if real:
                key[i] = -np.mean([y[j] for j in real])
        place()
        for i in laid:
            if not inputs[i] and consumers[i]:
                key[i] = -np.mean([y[c] for c in consumers[i]]) + 1e-3 * i
        place()
    x = layer.astype(float)
    placed: dict[int, int] = {}
    for i in range(n):
        if constant[i]:
            owner = consumers[i][0] if consumers[i] else i
            k = placed.get(owner, 0)
            placed[owner] = k + 1
            x[i] = x[owner] - 0.5 if owner != i else 0.0
            y[i] = y[owner] + (-0.55 if k % 2 == 0 else 0.55) * (1 + k // 2)
    return np.stack([x, y], axis=1)


class GraphView(PlotWidgetBase):
    """Nodes as labelled boxes, edges as lines; one node and its edges can be highlighted."""

    #: Emitted after ``fit`` chose a new range or font (boxes moved on screen).
    fitted = Signal()

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent, menu=False)
        self._box_pt = 9.0  # desktop size of the boxes' text before any fitting
        self._fit_pt = 9.0  # the size fit chose (desktop points)
        self._scale = (1.0, 1.0)  # pixels per unit of x and y after the last fit
        self._origin = (0.0, 0.0)  # the data point at the view's top left corner
        self._constant: tuple[bool, ...] = ()
        self._laid_out = np.zeros((0, 2))
        self._fitting = False
        plot = self._plot
        theme.style_plot(plot, title)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.hideButtons()
        self._edges = pg.PlotDataItem(pen=pg.mkPen(EDGE_COLOR, width=1.5), connect="pairs")
        self._hot_edges = pg.PlotDataItem(pen=pg.mkPen(HIGHLIGHT_COLOR, width=3.5),
                                          connect="pairs")
        self._edges.setZValue(0)
        self._hot_edges.setZValue(1)
        plot.addItem(self._edges)
        plot.addItem(self._hot_edges)
        plot.vb.sigResized.connect(self.fit)
        self._boxes: list[pg.TextItem] = []
        self._edge_labels: list[pg.TextItem] = []
        self._shape: tuple | None = None
        self.positions = np.zeros((0, 2))
        self.inputs: tuple[tuple[int, ...], ...] = ()
        self.texts: list[str] = []
        self.states: list[str] = []

    def set_graph(self, inputs: Sequence[Sequence[int]], constant: Sequence[bool]) -> bool:
        """Lay out a graph; items are made again only when its shape changed. True if it did."""
        shape = (tuple(tuple(i) for i in inputs), tuple(bool(c) for c in constant))
        if shape == self._shape:
            return False
        self._shape = shape
        self.inputs = shape[0]
        self.positions = layered_layout(self.inputs, shape[1])
        for box in self._boxes:
            self._plot.removeItem(box)
        self._boxes = []
        size = 9 if len(self.inputs) <= 12 else 8
        self._box_pt = self._fit_pt = float(size)
        for _ in self.inputs:
            box = pg.TextItem("", color="k", anchor=(0.5, 0.5))
            # Qt's 4 px around the text made a small graph's boxes too wide for their
            # layers at full size in a 1024x640 window.
            box.textItem.document().setDocumentMargin(BOX_MARGIN_PX)
            box.setFont(theme.font(theme.scaled_pt(size)))
            remember_base(box, pt=float(size))
            box.setZValue(2)
            self._plot.addItem(box)
            self._boxes.append(box)
        for box, (x, y) in zip(self._boxes, self.positions):
            box.setPos(float(x), float(y))
        self.texts = [""] * len(self.inputs)
        self.states = [""] * len(self.inputs)  # so the first set_node styles every box
        self._constant = shape[1]
        self._laid_out = self.positions.copy()  # constants move from here in fit
        self._draw_edges()
        self._hot_edges.setData([], [])
        if len(self.positions):
            lo, hi = self.positions.min(axis=0), self.positions.max(axis=0)
            self._plot.setXRange(lo[0] - 0.55, hi[0] + 0.55, padding=0)
            # At least 3.2 units tall, so a box is never taller than the gap to the next.
            half = max((hi[1] - lo[1]) / 2 + 0.7, 1.6)
            middle = (hi[1] + lo[1]) / 2
            self._plot.setYRange(middle - half, middle + half, padding=0)
        return True

    def _draw_edges(self) -> None:
        xy = []
        for i, ins in enumerate(self.inputs):
            for j in ins:
                xy.extend([self.positions[j], self.positions[i]])
        xy = np.array(xy, dtype=float).reshape(-1, 2)
        self._edges.setData(xy[:, 0], xy[:, 1])

    # -- fitting the boxes into the view ------------------------------------------------

    def _clashes(self, sizes: np.ndarray, sx: float, sy: float) -> np.ndarray:
        """(N, N) whether boxes i and j come closer than BOX_GAP_PX at these scales."""
        x, y = self.positions[:, 0] * sx, self.positions[:, 1] * sy
        dx = np.abs(x[:, None] - x[None, :])
        dy = np.abs(y[:, None] - y[None, :])
        need_x = (sizes[:, 0][:, None] + sizes[:, 0][None, :]) / 2 + BOX_GAP_PX
        need_y = (sizes[:, 1][:, None] + sizes[:, 1][None, :]) / 2 + BOX_GAP_PX
        clash = (dx < need_x - 1e-6) & (dy < need_y - 1e-6)
        np.fill_diagonal(clash, False)
        return clash

    def _move_constants(self, sizes: np.ndarray, sx: float, sy: float) -> bool:
        """Move each constant that touches another box to a free place near its consumer
        (left of it, above or below, a little further each try); True if any moved."""
        moved = False
        clash = self._clashes(sizes, sx, sy)
        for i in np.flatnonzero(np.asarray(self._constant) & clash.any(axis=1)):
            consumers = [c for c, ins in enumerate(self.inputs) if i in ins]
            if not consumers:
                continue
            cx, cy = self.positions[consumers[0]]
            home = self._laid_out[i]
            side = 1.0 if home[1] >= cy else -1.0  # the side fit's layout chose first
            for dx, dy in ((-0.5, 0.55), (-0.5, 0.8), (-0.35, 0.8), (-0.5, 1.1),
                           (-0.7, 0.3), (-0.25, 1.1), (-0.5, 1.4)):
                for sign in (side, -side):
                    self.positions[i] = (cx + dx, cy + sign * dy)
                    if not self._clashes(sizes, sx, sy)[i].any():
                        break
                else:
                    continue
                moved = True
                break
            else:
                self.positions[i] = home
        return moved

    def box_sizes(self) -> np.ndarray:
        """(N, 2) width and height of each box in pixels, its border included."""
        sizes = np.zeros((len(self._boxes), 2))
        for i, box in enumerate(self._boxes):
            rect = box.textItem.boundingRect()
            border = box.border.widthF() if box.border is not None else 0.0
            sizes[i] = (rect.width() + border, rect.height() + border)
        return sizes

    def _view_pixels(self) -> tuple[float, float]:
        vb = self._plot.vb
        return float(vb.width()), float(vb.height())

    def _ranges_for(self, sizes: np.ndarray, width: float, height: float):
        """The view's x and y ranges that give every box room (each axis scaled on its
        own) and whether, at that scale, no two boxes overlap."""
        pos = self.positions
        ranges, scales = [], []
        for axis, pixels in ((0, width), (1, height)):
            values, half = pos[:, axis], sizes[:, axis] / 2 + EDGE_PX
            lo, hi = float(values.min()), float(values.max())
            span = hi - lo
            if span <= 0:  # one layer, or one node a layer: centre it
                scale = pixels / (3.2 if axis == 1 else 1.1)
            else:
                # First guess: room for the biggest half box at both ends; then the
                # margins the boxes near each end need at that scale.
                scale = max((pixels - 2 * half.max()) / span, 1e-6)
                low = max(float(np.max(half - (values - lo) * scale)), 0.0)
                high = max(float(np.max(half - (hi - values) * scale)), 0.0)
                scale = max((pixels - low - high) / span, 1e-6)
                low = max(float(np.max(half - (values - lo) * scale)), 0.0)
                high = max(float(np.max(half - (hi - values) * scale)), 0.0)
            if span <= 0:
                ranges.append((lo - pixels / 2 / scale, lo + pixels / 2 / scale))
            else:
                ranges.append((lo - low / scale, hi + high / scale))
            scales.append(scale)
        sx, sy = scales
        fits = self._apart(sizes, sx, sy)
        for (r0, r1), pixels, s in zip(ranges, (width, height), scales, strict=True):
            fits = fits and (r1 - r0) * s <= pixels + 0.5
        return fits, ranges, (sx, sy)

    def _apart(self, sizes: np.ndarray, sx: float, sy: float) -> bool:
        """Whether no two boxes come closer than BOX_GAP_PX at these scales."""
        return len(sizes) < 2 or not self._clashes(sizes, sx, sy).any()

    def _set_box_size(self, size: int) -> None:
        """The boxes' text at ``size`` points (on screen, the theme's scale applied)."""
        self._fit_pt = size * theme.TICK_PT / theme.tick_pt()
        for box in self._boxes:
            if box.textItem.font().pointSize() != size:
                box.setFont(theme.font(size))

    def restyle(self) -> None:
        super().restyle()  # boxes back at their desktop size, scaled: fit them again
        self.fit()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.fit()

    def fit(self, *_args) -> bool:
        """Set the view's range so every box is inside it and apart from the others,
        shrinking the boxes' text (not below SMALLEST_PT) when the view is too small
        for them; True if the boxes fit without overlapping."""
        width, height = self._view_pixels()
        if self._fitting or not self._boxes or width < 20 or height < 20:
            return False
        self._fitting = True
        try:
            size = theme.scaled_pt(self._box_pt)
            smallest = theme.scaled_pt(SMALLEST_PT)
            self.positions[:] = self._laid_out
            while True:
                self._set_box_size(size)
                sizes = self.box_sizes()
                fits, ranges, scale = self._ranges_for(sizes, width, height)
                if not fits and self._move_constants(sizes, *scale):
                    fits, ranges, scale = self._ranges_for(sizes, width, height)
                if fits or size <= smallest:
                    break
                self.positions[:] = self._laid_out
                size -= 1
            self._draw_edges()
            for box, (x, y) in zip(self._boxes, self.positions, strict=True):
                box.setPos(float(x), float(y))
            (x0, x1), (y0, y1) = ranges
            self._plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            self._scale = scale
            self._origin = (x0, y1)  # data point at the view's top left corner
        finally:
            self._fitting = False
        self.fitted.emit()
        return fits

    def full_pt(self) -> float:
        """The boxes' text size before any shrinking to fit, in desktop points."""
        return self._box_pt

    def box_pt(self) -> float:
        """The boxes' text size after fitting, in desktop points (9 or 8 when it fits)."""
        return self._fit_pt

    def pixel_rect(self, x: float, y: float, width: float, height: float) -> QRectF:
        """A ``width`` x ``height`` pixel box centred on data point (x, y), in pixels
        from the view's top left corner (y down), as the last ``fit`` laid it out."""
        sx, sy = self._scale
        x0, y1 = self._origin
        cx, cy = (x - x0) * sx, (y1 - y) * sy
        return QRectF(cx - width / 2, cy - height / 2, width, height)

    def box_rects(self) -> list[QRectF]:
        """Each box's rectangle in pixels from the view's top left (see ``pixel_rect``)."""
        return [self.pixel_rect(float(x), float(y), w, h)
                for (x, y), (w, h) in zip(self.positions, self.box_sizes())]

    def label_spot(self, a: int, b: int, width: float, height: float,
                   taken: Sequence[QRectF] = ()) -> tuple[float, float] | None:
        """A point along the edge from node ``a`` to node ``b`` (data coordinates) where
        a ``width`` x ``height`` pixel label covers no box, none of ``taken`` and stays in
        the view; None if there is none. The middle first, then nearer the ends."""
        boxes = self.box_rects()
        view_w, view_h = self._view_pixels()
        area = QRectF(0, 0, view_w, view_h)
        pa, pb = self.positions[a], self.positions[b]
        for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.25, 0.75):
            x, y = (pa + (pb - pa) * t).tolist()
            rect = self.pixel_rect(x, y, width, height)
            if not area.contains(rect):
                continue
            if any(rect.intersects(r) for r in boxes) or any(rect.intersects(r) for r in taken):
                continue
            return x, y
        return None

    def set_node(self, index: int, lines: Sequence[str], state: str = "pending",
                 bold: int | None = None) -> None:
        """Set a node's text (its first line, or the first ``bold`` characters of it, in
        bold) and state: "pending", "shown", "current" or "constant"."""
        fill, border, width = STATES[state]
        box = self._boxes[index]
        text = "\n".join(lines)
        if text != self.texts[index]:
            body = "<br>".join(html.escape(line) for line in lines[1:])
            head = (f"<b>{html.escape(lines[0][:bold])}</b>"
                    f"{html.escape(lines[0][bold:]) if bold is not None else ''}"
                    if lines else "")
            box.setHtml(f'<div style="color:#000">{head}{"<br>" if body else ""}{body}</div>')
            self.texts[index] = text
        if state != self.states[index]:
            box.fill = pg.mkBrush(fill)
            box.border = pg.mkPen(border, width=width)
            box.update()
        self.states[index] = state

    def highlight_edges(self, edges: Sequence[tuple[int, int]], labels: Sequence[str] = ()) -> None:
        """Draw edges (from, to) in the highlight colour, with an optional label at each middle."""
        xy = []
        for a, b in edges:
            xy.extend([self.positions[a], self.positions[b]])
        xy = np.array(xy, dtype=float).reshape(-1, 2)
        self._hot_edges.setData(xy[:, 0], xy[:, 1])
        if not self._room_for_edge_labels():
            labels = ()
        while len(self._edge_labels) < len(labels):
            label = pg.TextItem("", color=HIGHLIGHT_COLOR, anchor=(0.5, 0.5),
                                fill=pg.mkBrush(255, 255, 255, 220))
            label.setFont(theme.font(theme.scaled_pt(9)))
            remember_base(label, pt=9.0)
            label.setZValue(3)
            self._plot.addItem(label)
            self._edge_labels.append(label)
        for k, label in enumerate(self._edge_labels):
            if k < len(labels):
                a, b = edges[k]
                middle = (self.positions[a] + self.positions[b]) / 2
                label.setText(labels[k], color=HIGHLIGHT_COLOR)
                label.setPos(float(middle[0]), float(middle[1]))
                label.show()
            else:
                label.hide()

    def _room_for_edge_labels(self) -> bool:
        """Whether a label fits between two neighbouring layers' boxes at this size."""
        (x0, x1), _ = self._plot.viewRange()
        pixels_per_layer = self._plot.vb.width() / max(x1 - x0, 1e-9)
        widest = max((box.boundingRect().width() for box in self._boxes), default=0.0)
        return pixels_per_layer > widest + 60

    def export_data(self) -> dict[str, np.ndarray]:
        return {"x": self.positions[:, 0].copy(), "y": self.positions[:, 1].copy(),
                "label": np.array([t.split("\n")[0] for t in self.texts], dtype=str)}
