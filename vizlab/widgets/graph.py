"""A computation graph drawn with pyqtgraph: labelled boxes for nodes, lines for values.

Used by the Gradient lab. Nodes sit in layers (inputs on the left, the output on the
right); each box is a `TextItem` with a fill and border, so its text stays readable at
any zoom, and edges are one line item drawn beneath them. The items are made once
per graph shape; stepping through the backward pass only changes texts and colours.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
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

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent, menu=False)
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
        for _ in self.inputs:
            box = pg.TextItem("", color="k", anchor=(0.5, 0.5))
            box.setFont(theme.font(theme.scaled_pt(size)))
            remember_base(box, pt=float(size))
            box.setZValue(2)
            self._plot.addItem(box)
            self._boxes.append(box)
        for box, (x, y) in zip(self._boxes, self.positions):
            box.setPos(float(x), float(y))
        self.texts = [""] * len(self.inputs)
        self.states = [""] * len(self.inputs)  # so the first set_node styles every box
        xy = []
        for i, ins in enumerate(self.inputs):
            for j in ins:
                xy.extend([self.positions[j], self.positions[i]])
        xy = np.array(xy, dtype=float).reshape(-1, 2)
        self._edges.setData(xy[:, 0], xy[:, 1])
        self._hot_edges.setData([], [])
        if len(self.positions):
            lo, hi = self.positions.min(axis=0), self.positions.max(axis=0)
            self._plot.setXRange(lo[0] - 0.55, hi[0] + 0.55, padding=0)
            # At least 3.2 units tall, so a box is never taller than the gap to the next.
            half = max((hi[1] - lo[1]) / 2 + 0.7, 1.6)
            middle = (hi[1] + lo[1]) / 2
            self._plot.setYRange(middle - half, middle + half, padding=0)
        return True

    def set_node(self, index: int, lines: Sequence[str], state: str = "pending") -> None:
        """Set a node's text (first line in bold) and state: "pending", "shown", "current"
        or "constant"."""
        fill, border, width = STATES[state]
        box = self._boxes[index]
        text = "\n".join(lines)
        if text != self.texts[index]:
            body = "<br>".join(html.escape(line) for line in lines[1:])
            head = f"<b>{html.escape(lines[0])}</b>" if lines else ""
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
