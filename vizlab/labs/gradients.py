"""The Gradient lab: a typed expression's graph, its backward pass step by step, and its
derivative three ways (numerical, symbolic, automatic), plus compute / edit / apply."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QBoxLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.experiments.gradients import PRESETS, split_terms
from vizlab.labs.base import LabView
from vizlab.widgets import CurvePlot, theme
from vizlab.widgets.graph import HIGHLIGHT_COLOR, STATES, GraphView
from vizlab.widgets.heatmap import SpacedTicks
from vizlab.widgets.layout_check import AxisLabels
from vizlab.widgets.page import ResizeAware
from vizlab.widgets.text import WrappedLabel, note_label

HELP = """
<p><b>Gradient lab.</b> Type an expression in some variables (<i>sin(x) - y**3</i>) and the
point to look at (<i>x=3, y=5</i>). The engine records every operation it computes.</p>
<ul>
<li><b>Computation graph</b>: inputs on the left, the output on the right; each box shows
the value the forward pass computed and, once the backward pass has reached it, its
adjoint (<i>adj</i> where room is short). Press <b>Step</b> to run the backward pass one
node at a time: the output starts with adjoint 1 (df/df), and each node's adjoint
d f / d node is the sum of what its consumers send back (orange), each consumer
applying its registered gradient rule (the gradient of Sin is grad × cos x). Each edge
the pass has reached keeps a label (green once done): the consumer's local derivative
(cos x = -0.99, 3y^2 = 75) over what it sends, that derivative times the consumer's
adjoint. When every node is done, the adjoints of the variables are the gradient.</li>
<li><b>Kinks</b>: at a point where abs, relu, maximum or minimum switch branches, f has
no derivative. Central differences then average the slopes on the two sides while the
engine takes one side's (a subgradient); the lab flags the disagreement in red and
says so, and the error against h stays flat instead of forming a V.</li>
<li><b>Three derivatives</b>: numerical (central differences with step h), symbolic (sympy
rewrites the expression) and automatic (the engine's reverse mode).</li>
<li><b>Error of central differences</b> against h: too large an h and the formula's
truncation error dominates (falls as h²); too small and rounding errors of f divided by
h grow as 1/h. The best h sits in the middle of the V.</li>
<li><b>f and its derivative</b> along one variable, the others held: the derivative is
<code>en.gradients</code> on a whole grid at once.</li>
<li><b>compute / edit / apply</b>: an optimizer's <code>minimize</code> is
<code>compute_gradients</code> then <code>apply_gradients</code>; in between you can edit
the gradients (zero, clip or negate some of them) and see where the variables go.</li>
</ul>
<p>The expression is parsed safely: only numbers, lowercase names, + - * / ** and the
listed functions are accepted; anything else is refused with the reason.</p>
"""

DONE_EDGE_COLOR = STATES["shown"][1]  # an edge the backward pass has been through
FLAG_COLOR = "#c92a2a"  # numerical and automatic disagree
EDGE_LABEL_PT = 9  # at the theme's usual tick size; scaled with it (presentation mode)
ROW_PX = 24  # a table row on a desktop
ROW_PAD_PX = 5  # in presentation mode: the text's height and this (no scrolling at 1024x640)
BIG_GRAPH_NODES = 12  # more nodes than this: the graph gets the whole top row
NARROW_PX = 720  # a view narrower than this gives its right column more of the width
CELL_PAD_PX = 10  # a table cell's text keeps this much of its column's width free

# Rows of the two tables; their columns are the variables.
ROWS_DERIVATIVES = ("numerical", "symbolic", "automatic", "|num − auto|")
ROWS_APPLY = ("start", "gradient", "edited gradient", "after apply",
              "after minimize")


def fmt(value: float, digits: int = 5) -> str:
    """A number for a label: short, nan spelled out."""
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


class NumberTable(QTableWidget):
    """A read-only table of numbers that keeps each number's digits whole: a cell shows
    as many significant digits as its column has room for (up to the cell's own most),
    never a number cut short with "...". Resizing fits them again (a few cells' texts,
    no drawing work)."""

    _NUMBER = Qt.ItemDataRole.UserRole  # (value, most digits, prefix, exponent)

    def set_number(self, row: int, col: int, value: float, most: int,
                   color: str | None = None, prefix: str = "",
                   exponent: bool = False) -> None:
        """``value`` with up to ``most`` significant digits (``exponent``: always in
        exponent form, 4.4e-10)."""
        _set_cell(self, row, col, prefix + fmt(value, most), color)
        self.item(row, col).setData(self._NUMBER,
                                    (float(value), int(most), prefix, bool(exponent)))
        self._fit_cell(row, col)

    def refit(self) -> None:
        for row in range(self.rowCount()):
            for col in range(self.columnCount()):
                self._fit_cell(row, col)

    def _fit_cell(self, row: int, col: int) -> None:
        item = self.item(row, col)
        number = item.data(self._NUMBER) if item is not None else None
        if not number:
            return
        value, most, prefix, exponent = number
        metrics = QFontMetrics(self.font())
        room = self.columnWidth(col) - CELL_PAD_PX - metrics.horizontalAdvance(prefix)
        item.setText(prefix + fit_digits(value, most, room, metrics, exponent=exponent))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.refit()


def fit_digits(value: float, most: int, width: float, metrics: QFontMetrics,
               fewest: int = 3, exponent: bool = False) -> str:
    """``value`` with the most significant digits (``most`` down to ``fewest``; in
    exponent form down to one) whose text is at most ``width`` pixels wide in
    ``metrics``' font."""
    if exponent:
        texts = [f"{value:.{d - 1}e}" for d in range(most, 0, -1)]
    else:
        texts = [fmt(value, d) for d in range(most, fewest - 1, -1)]
    return next((t for t in texts if metrics.horizontalAdvance(t) <= width), texts[-1])


def _table(rows: tuple[str, ...]) -> NumberTable:
    """A read-only table with named rows and one column per variable."""
    table = NumberTable(len(rows), 0)
    table.setVerticalHeaderLabels(list(rows))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    header.setMinimumSectionSize(40)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(ROW_PX)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    table.setFixedHeight(_table_height(table))
    header.sectionResized.connect(lambda *_: table.refit())  # stretched columns resized
    return table


def _table_height(table: QTableWidget) -> int:
    rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
    return rows + table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth() + 2


def _set_columns(table: QTableWidget, names: list[str]) -> None:
    if table.columnCount() != len(names):
        table.setColumnCount(len(names))
        # New sections do not inherit the header's resize mode: share the width again.
        for col in range(len(names)):
            table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
    table.setHorizontalHeaderLabels(names)


def _set_cell(table: QTableWidget, row: int, col: int, text: str,
              color: str | None = None) -> None:
    item = table.item(row, col)
    if item is None:
        item = QTableWidgetItem()
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        table.setItem(row, col, item)
    item.setText(text)
    item.setForeground(QColor(color or "#000000"))


def _panel(title: str) -> tuple[QWidget, QVBoxLayout]:
    """A titled column of widgets."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(2, 2, 2, 2)
    layout.setSpacing(3)  # the right column holds two of these in 1024x640
    heading = WrappedLabel(f"<b>{title}</b>")  # large type: wrap, not widen the column
    layout.addWidget(heading)
    return box, layout


class View(LabView):
    lab_name = "gradients"
    help_html = HELP
    preview_on_change = True

    def build_views(self) -> Generator[None, None, QWidget]:  # a panel per turn in the app
        area = ResizeAware(self._fit_columns)
        grid = QGridLayout(area)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)

        graph_box, graph_layout = _panel("Computation graph: forward values, backward adjoints")
        self.graph = GraphView()
        # Labels on the edges the backward pass went through: local derivative and message.
        self.edge_labels: list[pg.TextItem] = []
        self._edge_snap = None  # what the edge labels were last drawn for
        self.graph.fitted.connect(self._on_graph_fitted)
        # Resized, the boxes' texts are chosen again (after the graph's own fit).
        self._box_texts: list = []
        self.graph.plot_item.vb.sigResized.connect(self._choose_box_texts)
        self.step_label = note_label()
        self.step_label.setMinimumHeight(52)
        self.step_label.setAlignment(Qt.AlignmentFlag.AlignTop)
        graph_layout.addWidget(self.graph, 1)
        graph_layout.addWidget(self.step_label)
        yield

        deriv_box, deriv_layout = _panel("Three ways to the derivative")
        self.point_label = note_label()
        self.derivative_table = _table(ROWS_DERIVATIVES)
        self.symbolic_label = note_label()
        self._symbolic_snap = None  # the snapshot its text is of
        self._narrow = False  # a view narrower than NARROW_PX
        self.mismatch_label = note_label()
        self.mismatch_label.hide()
        deriv_layout.addWidget(self.point_label)
        deriv_layout.addWidget(self.derivative_table)
        deriv_layout.addWidget(self.mismatch_label)
        deriv_layout.addWidget(self.symbolic_label)
        deriv_layout.addStretch(1)
        yield

        self.f_plot = CurvePlot("f", x_label="", y_label="f", legend=False)
        yield  # a plot per turn
        self.df_plot = CurvePlot("df", x_label="x", y_label="derivative", legend=False)
        self.df_plot.plot_item.setXLink(self.f_plot.plot_item)
        # Round x ticks as far apart as their text needs: in large type the two plots
        # are side by side, a couple of hundred pixels wide each.
        self._x_ticks = [SpacedTicks(plot.plot_item) for plot in (self.f_plot, self.df_plot)]
        self.f_marker = self._point_marker(self.f_plot)
        self.df_marker = self._point_marker(self.df_plot)
        # f over df on a desktop; side by side in large type, where two plots one over
        # the other under the graph are left a few pixels of data each.
        self.curves_layout = QBoxLayout(QBoxLayout.Direction.TopToBottom)
        self.curves_layout.setContentsMargins(0, 0, 0, 0)
        self.curves_layout.setSpacing(2)
        self.curves_layout.addWidget(self.f_plot)
        self.curves_layout.addWidget(self.df_plot)
        yield

        self.error_plot = CurvePlot("Error vs h", x_label="step h",
                                    y_label="|num − auto|", log_y=True)
        self.error_plot.plot_item.setLogMode(x=True)
        # Bottom left: the V leaves it empty (small h errs by round-off, up high).
        self.error_plot.plot_item.legend.anchor((0, 1), (0, 1), offset=(8, -8))
        # Its label goes where along the line it covers no curve (it sat on the V); in
        # large type, where the plot is a couple of hundred pixels wide, it is just "h".
        self.h_marker = self.error_plot.add_marker(x=-5.0, label="your h")
        # In large type the plots under the graph are short: short y labels.
        self._axis_labels = AxisLabels(
            (self.df_plot.plot_item, "derivative", "df"),
            (self.error_plot.plot_item, "|num − auto|", "error"))
        self.error_note = note_label()
        self.error_note.hide()
        errors_layout = QVBoxLayout()
        errors_layout.setContentsMargins(0, 0, 0, 0)
        errors_layout.setSpacing(2)
        errors_layout.addWidget(self.error_plot, 1)
        errors_layout.addWidget(self.error_note)
        # The plots under the graph: the f and df column (two of them side by side in
        # large type) and the error plot, each plot as wide as the others.
        plots = QWidget()
        self.plots_layout = QHBoxLayout(plots)
        self.plots_layout.setContentsMargins(0, 0, 0, 0)
        self.plots_layout.setSpacing(6)
        self.plots_layout.addLayout(self.curves_layout, 1)
        self.plots_layout.addLayout(errors_layout, 1)
        yield

        apply_box, apply_layout = _panel("minimize = compute_gradients + apply_gradients")
        self.apply_code = note_label()
        self.apply_table = _table(ROWS_APPLY)
        self.apply_result = note_label()
        apply_layout.addWidget(self.apply_code)
        apply_layout.addWidget(self.apply_table)
        apply_layout.addWidget(self.apply_result)
        apply_layout.addStretch(1)
        yield

        # The right column: the derivatives over compute / apply. Its notes can outgrow
        # a small window: it scrolls rather than overlap.
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(2)
        side_layout.addWidget(deriv_box, 11)
        side_layout.addWidget(apply_box, 10)
        self.side_scroll = QScrollArea()
        self.side_scroll.setWidget(side)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.graph_box = graph_box
        self.layout_grid = grid
        grid.addWidget(plots, 1, 0, 1, 2)
        # Rows share the height by their stretch, not by the plots' preferred sizes
        # (which left the plots under the graph 80 px in large type at 1024x640).
        for plot in (self.graph, self.f_plot, self.df_plot, self.error_plot):
            plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        for col in range(3):
            grid.setColumnStretch(col, 4)
        self.big_graph = None
        self._lay_out(big_graph=False)
        self.area = area
        theme.on_theme_changed(self._restyle)
        self._restyle()
        return area

    def _restyle(self) -> None:
        """Presentation mode on or off: the texts and tables take the theme's size, and a
        redraw puts the edge labels at the new size only where they still fit."""
        restyle_texts(self.area)
        if theme.presentation():
            # The right column a point smaller than the rest: at 1024x640 it holds two
            # tables, the formulas and the code without scrolling.
            restyle_texts(self.side_scroll, theme.tick_pt() - 3)
        self.h_marker.label.setFormat("h" if theme.presentation() else "your h")
        self._fit_columns()
        self.curves_layout.setDirection(
            QBoxLayout.Direction.LeftToRight if theme.presentation()
            else QBoxLayout.Direction.TopToBottom)
        self.plots_layout.setStretch(0, 2 if theme.presentation() else 1)
        self.big_graph = None  # the rows' share of the height follows the mode
        self._lay_out(self._graph_is_big)
        if self.last_snapshot is not None:
            self.draw_now(self.last_snapshot)

    def _fit_columns(self) -> None:
        """The right column's share of the width: more in large type (its code lines do
        not wrap) and in a narrow view (the whole window at 1024x640 with the settings
        shown left it 177 px, narrower than its tables and code)."""
        if not hasattr(self, "area"):
            return  # still being built
        narrow = self.area.width() < NARROW_PX
        if narrow != self._narrow:
            self._narrow = narrow
            self._write_methods()
        share = 6 if narrow else 5 if theme.presentation() else 4
        if self.layout_grid.columnStretch(2) != share:
            self.layout_grid.setColumnStretch(2, share)
        # In large type or a narrow view the f values after apply / minimize give way
        # to the table above them (its rows have the variables after both).
        self.apply_result.setVisible(not (theme.presentation() or narrow))

    def _lay_out(self, big_graph: bool) -> None:
        """A small graph shares the top row with the derivatives; a big one (many nodes)
        takes the whole top row and more of the height, so its boxes keep apart and
        readable, and the derivatives move down beside the plots."""
        self._graph_is_big = big_graph
        if big_graph == self.big_graph:
            return
        self.big_graph = big_graph
        grid = self.layout_grid
        grid.removeWidget(self.graph_box)
        grid.removeWidget(self.side_scroll)
        if big_graph:
            grid.addWidget(self.graph_box, 0, 0, 1, 3)
            grid.addWidget(self.side_scroll, 1, 2)
            grid.setRowStretch(0, 2)
            grid.setRowStretch(1, 1)
        else:
            grid.addWidget(self.graph_box, 0, 0, 1, 2)
            grid.addWidget(self.side_scroll, 0, 2, 2, 1)
            # In large type the step text under the graph takes more of the top row.
            grid.setRowStretch(0, 7 if theme.presentation() else 11)
            grid.setRowStretch(1, 5 if theme.presentation() else 10)

    @staticmethod
    def _point_marker(plot: CurvePlot) -> pg.InfiniteLine:
        line = pg.InfiniteLine(angle=90, movable=False,
                               pen=pg.mkPen(HIGHLIGHT_COLOR, width=1.5, style=Qt.PenStyle.DashLine))
        plot.plot_item.addItem(line, ignoreBounds=True)
        return line

    # -- presets: choosing one fills in expression and values; editing those leaves it ----
    def _on_setting_changed(self, name: str, value: Any) -> None:
        config = self.config
        if name == "preset" and config.preset != "custom":
            config.expression, config.values = PRESETS[config.preset]
            self.settings_panel.refresh("expression")
            self.settings_panel.refresh("values")
        elif (name in ("expression", "values") and config.preset != "custom"
              and (config.expression, config.values) != PRESETS[config.preset]):
            config.preset = "custom"
            self.settings_panel.refresh("preset")
        super()._on_setting_changed(name, value)

    # -- drawing -------------------------------------------------------------------------
    def draw(self, snap) -> Iterator[None]:
        for draw_panel in (self._draw_graph, self._draw_derivatives, self._draw_curves,
                           self._draw_errors, self._draw_apply):
            draw_panel(snap)
            yield

    def _draw_graph(self, snap) -> None:
        nodes = snap.nodes
        self._edge_snap = None  # the old labels' edges may not exist in this graph
        self._lay_out(big_graph=len(nodes) > BIG_GRAPH_NODES)
        self.graph.set_graph([n.inputs for n in nodes], [n.kind == "constant" for n in nodes])
        output = len(nodes) - 1
        current = snap.current
        # Big graphs get terse boxes so neighbouring layers do not overlap.
        compact = len(nodes) > 10
        value_key, adjoint_key = ("val ", "adj ") if compact else ("value = ", "adjoint = ")
        digits = 3 if compact else 4
        big = len(nodes) > BIG_GRAPH_NODES
        # Each box's texts in order of preference, its state and how much of its first
        # line is the name (bold; a value beside it is not: the box stays narrow).
        boxes: list[tuple[list[list[str]], str, int | None]] = []
        for i, node in enumerate(nodes):
            if node.kind == "constant":
                lines = [node.label] if node.label == fmt(node.value) else \
                    [node.label, f"= {fmt(node.value, 4)}"]
                boxes.append(([lines], "constant", None))
                continue
            title = node.label + (" = f" if i == output else "")
            shown = snap.shown(i)
            adjoint = fmt(node.adjoint, digits) if shown else "?"
            state = "current" if i == current else ("shown" if shown else "pending")
            value = fmt(node.value, digits)
            lines = [title, value_key + value, adjoint_key + adjoint]
            if big:  # value and adjoint side by side: layers stack less tall
                variants = [[title, f"{lines[1]}  {lines[2]}"], lines]
            else:  # a line less tall with the value beside the name, then narrower
                variants = [lines, [f"{title} = {value}", lines[2]],
                            [f"{title} = {value}", f"adj {adjoint}"]]
            boxes.append((variants, state, len(title)))
        self._set_boxes(boxes)

        if current is None or current == output:
            self.graph.highlight_edges([])
        else:
            incoming = [m for m in snap.messages if m[2] == current]
            self.graph.highlight_edges([(m[2], m[0]) for m in incoming])
        self._draw_edge_labels(snap, compact)
        self.step_label.setText(self._step_text(snap))

    def _set_boxes(self, boxes: list[tuple[list[list[str]], str, int | None]]) -> None:
        """Give the graph's boxes their texts and fit them into the view: the first of
        each box's variants whose text keeps its full size, else the one that needs the
        least shrinking to keep the boxes apart (the text stays readable)."""
        graph = self.graph
        self._box_texts = boxes
        count = max((len(box[0]) for box in boxes), default=1)

        def set_texts(choice: int) -> None:
            for i, (variants, state, name) in enumerate(boxes):
                graph.set_node(i, variants[min(choice, len(variants) - 1)], state, name)

        best = None
        for choice in range(count):
            set_texts(choice)
            fits = graph.fit()
            if best is None or graph.box_pt() > best[1] + 1e-9:
                best = (choice, graph.box_pt())
            if fits and graph.box_pt() >= graph.full_pt():
                break
        if best is not None and best[0] != choice:
            set_texts(best[0])
            graph.fit()

    def _choose_box_texts(self, *_: Any) -> None:
        """At a new size, the texts that keep the boxes largest (more room: the full
        ones again)."""
        if any(len(box[0]) > 1 for box in self._box_texts):
            edges, self._edge_snap = self._edge_snap, None  # drawn once, at the end
            self._set_boxes(self._box_texts)
            self._edge_snap = edges
            self._on_graph_fitted()

    def _on_graph_fitted(self) -> None:
        """The graph was resized: its edge labels go where the boxes left room now."""
        if self._edge_snap is not None:
            self._draw_edge_labels(*self._edge_snap)

    def _draw_edge_labels(self, snap, compact: bool) -> None:
        """A label on each edge the backward pass has reached: the consumer's local
        derivative (cos x = −0.99) over what it sends back (→ −0.99). On a big graph only
        the current step's, so they do not pile up. A label goes where along its edge it
        covers no box and no other label; else only what the edge sends; else none (the
        step text says it all)."""
        self._edge_snap = (snap, compact)
        current = snap.current
        font = _scaled_font(EDGE_LABEL_PT)
        metrics = QFontMetrics(font)
        wanted, taken = [], []
        for k, (consumer, _position, source, message) in enumerate(snap.messages):
            if not snap.shown(source) or (compact and source != current):
                continue
            full = edge_label_text(snap.local_texts[k], snap.local_values[k], message)
            for text in (full, f"→ {fmt(message, 4)}"):
                lines = text.split("\n")
                width = max(metrics.horizontalAdvance(line) for line in lines) + 8
                height = metrics.lineSpacing() * len(lines) + 8
                spot = self.graph.label_spot(source, consumer, width, height, taken)
                if spot is not None:
                    break
            else:
                continue
            taken.append(self.graph.pixel_rect(*spot, width, height))
            color = HIGHLIGHT_COLOR if source == current else DONE_EDGE_COLOR
            wanted.append((text, color, spot))
        while len(self.edge_labels) < len(wanted):
            label = pg.TextItem("", anchor=(0.5, 0.5), fill=pg.mkBrush(255, 255, 255, 230))
            label.setZValue(3)
            self.graph.plot_item.addItem(label)
            self.edge_labels.append(label)
        for k, label in enumerate(self.edge_labels):
            if k < len(wanted):
                text, color, spot = wanted[k]
                label.setFont(font)
                label.setText(text, color=color)
                label.setPos(float(spot[0]), float(spot[1]))
                label.show()
            else:
                label.hide()

    def _step_text(self, snap) -> str:
        nodes = snap.nodes
        total = len(snap.reverse_order)
        if snap.step == 0:
            return (f"Forward pass done: f = <b>{fmt(snap.output)}</b>. Press <b>Step</b> to "
                    f"run the backward pass one node at a time ({total} nodes), or Run.")
        current = snap.current
        node = nodes[current]
        head = f"Step {snap.step} of {total}: <b>{node.label}</b>. "
        if current == len(nodes) - 1:
            text = head + "The output starts the backward pass: its adjoint is df/df = 1."
        else:
            incoming = [k for k, m in enumerate(snap.messages) if m[2] == current]
            parts = " + ".join(
                f"{nodes[snap.messages[k][0]].label} sends "
                f"{_escape(local_derivative(snap.local_texts[k], snap.local_values[k]))} "
                f"× {fmt(nodes[snap.messages[k][0]].adjoint, 4)} = "
                f"{fmt(snap.messages[k][3], 4)}" for k in incoming)
            incoming = [snap.messages[k] for k in incoming]
            text = (head + f"Its adjoint is the sum of what its consumers send back: {parts}"
                    f" → <b>{fmt(node.adjoint)}</b>.")
            rules = dict.fromkeys(nodes[m[0]].label for m in incoming if nodes[m[0]].rule)
            used = {nodes[m[0]].label: nodes[m[0]].rule for m in incoming}
            text += "".join(f" {name}'s registered gradient: <i>{_escape(used[name])}</i>"
                            for name in rules)
        if snap.step == total:
            grads = ", ".join(f"df/d{v} = {fmt(g)}" for v, g in zip(snap.variables, snap.automatic))
            text += f"<br>Done: the variables' adjoints are the gradient: <b>{grads}</b>."
        return text

    def _draw_derivatives(self, snap) -> None:
        point = ", ".join(f"{v} = {fmt(x, 6)}" for v, x in zip(snap.variables, snap.values))
        notes = []
        if snap.defaulted:
            notes.append(f"not in values, so 1: {', '.join(snap.defaulted)}")
        if snap.unused:
            notes.append(f"not in the expression: {', '.join(snap.unused)}")
        extra = f" <span style='color:#8a6d00'>({'; '.join(notes)})</span>" if notes else ""
        self.point_label.setText(
            f"f = {terms_html(snap.expression)} at {unbreakable(point)}: "
            f"f = <b>{fmt(snap.output, 8)}</b>{extra}")
        table = self.derivative_table
        _set_columns(table, [f"df/d{v}" for v in snap.variables])
        # As many digits as the columns have room for: 9 shows where the methods differ.
        digits = _digits(len(snap.variables), 9)
        for col in range(len(snap.variables)):
            numerical, symbolic, automatic = (snap.numerical[col], snap.symbolic[col],
                                              snap.automatic[col])
            table.set_number(0, col, numerical, digits)
            table.set_number(1, col, symbolic, digits)
            table.set_number(2, col, automatic, digits)
            flagged = bool(snap.mismatch_notes[col])
            gap = abs(numerical - automatic)
            table.set_number(3, col, gap, 2, FLAG_COLOR if flagged else None,
                             prefix="⚠ " if flagged else "", exponent=True)
        table.setFixedHeight(_table_height(table))
        flags = [note for note in snap.mismatch_notes if note]
        if snap.kinks and not flags:
            flags.append(f"f has a kink at this point ({'; '.join(snap.kinks)}): it has no "
                         "derivative here. Numerical and automatic agree only because the "
                         "slopes on the two sides average to the engine's choice.")
        self.mismatch_label.setVisible(bool(flags))
        self.mismatch_label.setText("<br>".join(
            f"<span style='color:{FLAG_COLOR}'>⚠ {_escape(f)}</span>" for f in flags))
        self._symbolic_snap = snap
        self._write_methods()
        self.symbolic_label.setToolTip("\n".join(
            [f"f = {snap.sympy_text}"]
            + [f"df/d{v} = {t}" for v, t in zip(snap.variables, snap.symbolic_text)]))

    def _write_methods(self) -> None:
        """How each derivative was found, and sympy's formulas. The column is short for
        large type and for a whole window at 1024x640: there the methods in a line and
        sympy's f left out (the expression heads the column)."""
        snap = self._symbolic_snap
        if snap is None:
            return
        short = theme.presentation() or self._narrow
        # Formulas in a two-column table: a long one wraps between its terms and its
        # continuation lines stay right of its "df/dx =".
        rows = [] if short else [("f =", snap.sympy_text)]
        rows += [(f"df/d{v} =", text) for v, text in zip(snap.variables, snap.symbolic_text)]
        formulas = "".join(
            f"<tr><td valign='top' style='padding-left: 12px;'>{unbreakable(name)}</td>"
            f"<td>{terms_html(text)}</td></tr>" for name, text in rows)
        table = f"<table cellspacing='0' cellpadding='1'>{formulas}</table>"
        if theme.presentation():
            text = f"numerical: h = {snap.h:.0e}; symbolic (sympy):{table}"
        elif short:
            text = (f"numerical: central differences, h = {snap.h:.0e}; automatic: "
                    f"reverse mode; symbolic (sympy):{table}")
        else:
            text = (_escape("numerical: central differences (f(v + h) − f(v − h)) / 2h, "
                            f"h = {snap.h:.0e}") + "<br>symbolic: sympy" + table
                    + "automatic: en.gradients, reverse mode over the recorded graph")
        self.symbolic_label.setText(text)

    def _draw_curves(self, snap) -> None:
        v = snap.curve_variable
        held = [f"{n} = {fmt(x, 4)}" for n, x in zip(snap.variables, snap.values) if n != v]
        held_text = f" ({', '.join(held)})" if 0 < len(held) <= 2 else (
            ", others held" if held else "")
        theme.set_title(self.f_plot.plot_item, f"f along {v}{held_text}")
        theme.set_title(self.df_plot.plot_item, f"df/d{v}")
        self.df_plot.plot_item.setLabel("bottom", v)
        self.f_plot.set_curve("f", snap.curve_x, snap.curve_f)
        self.df_plot.set_curve("df", snap.curve_x, snap.curve_df, color="#d62728")
        x0 = snap.values[snap.variables.index(v)]
        for marker in (self.f_marker, self.df_marker):
            marker.setValue(x0)
        for plot, y in ((self.f_plot, snap.curve_f), (self.df_plot, snap.curve_df)):
            plot.plot_item.setYRange(*_robust_range(y), padding=0)
        self.f_plot.plot_item.setXRange(snap.curve_x[0], snap.curve_x[-1], padding=0.02)

    def _draw_errors(self, snap) -> None:
        for i, v in enumerate(snap.variables):
            self.error_plot.set_curve(f"df/d{v}", snap.h_grid, snap.h_errors[i])
        for name in self.error_plot.curve_names():
            if name.removeprefix("df/d") not in snap.variables:
                self.error_plot.remove_curve(name)
        self.h_marker.setValue(np.log10(snap.h))  # the x axis is in log10 units
        notes = [note for note in snap.error_notes if note]
        self.error_note.setVisible(bool(notes))
        self.error_note.setText("<br>".join(_escape(n) for n in notes))

    def _draw_apply(self, snap) -> None:
        edit = {"none": "(no edit)", "zero": "zero", "clip": "clip to [-1, 1]",
                "negate": "negate"}[snap.edit]
        which = ", ".join(snap.edited) if snap.edited else "nothing"
        self.apply_code.setText(
            f"<code>opt = SGD(lr={fmt(snap.learning_rate)})<br>"
            f"gv = opt.compute_gradients(f, [{', '.join(snap.variables)}])<br>"
            f"edit: {edit} the gradient of {which if snap.edit != 'none' else 'nothing'}<br>"
            f"opt.apply_gradients(gv)</code>")
        table = self.apply_table
        _set_columns(table, list(snap.variables))
        digits = _digits(len(snap.variables), 6)
        for col in range(len(snap.variables)):
            changed = snap.grads_applied[col] != snap.grads_computed[col]
            table.set_number(0, col, snap.values[col], digits)
            table.set_number(1, col, snap.grads_computed[col], digits)
            table.set_number(2, col, snap.grads_applied[col], digits,
                             HIGHLIGHT_COLOR if changed else None)
            table.set_number(3, col, snap.after_apply[col], digits)
            table.set_number(4, col, snap.after_minimize[col], digits)
        table.setFixedHeight(_table_height(table))
        self.apply_result.setText(
            f"f: {fmt(snap.output, 6)} → <b>{fmt(snap.f_after_apply, 6)}</b> after the edited "
            f"apply, {fmt(snap.f_after_minimize, 6)} after minimize.")

    # The preview already shows the forward pass (step 0), so the first Step press goes
    # straight to the output's adjoint.
    first_step = 1

    def clear_views(self) -> None:
        """Reset shows the forward pass again, as the preview does."""
        self.graph.highlight_edges([])
        self.preview()


def restyle_texts(root: QWidget, point_size: int | None = None) -> None:
    """The labels and tables under `root` at the theme's text size: the application's
    own font on a desktop, 14 pt (or `point_size`) in presentation mode (tables' rows
    grow with it)."""
    presenting = theme.presentation()
    font = theme.font(point_size or theme.tick_pt() - 2) if presenting \
        else QApplication.font()
    for label in root.findChildren(QLabel):
        label.setFont(font)
    for table in root.findChildren(QTableWidget):
        table.setFont(font)
        table.horizontalHeader().setFont(font)
        table.verticalHeader().setFont(font)
        row = QFontMetrics(font).height() + ROW_PAD_PX if presenting else ROW_PX
        table.verticalHeader().setDefaultSectionSize(max(row, ROW_PX))
        table.setFixedHeight(_table_height(table))


def _scaled_font(point_size: float):
    """A font of `point_size` at the usual tick size, scaled as the theme's ticks are."""
    return theme.font(point_size * theme.tick_pt() / theme.TICK_PT)


def _digits(columns: int, most: int) -> int:
    """Significant digits that fit a table cell when there are this many columns."""
    return min(most, {1: 12, 2: 9, 3: 6}.get(columns, 4))


def edge_label_text(local_text: str, local_value: float, message: float) -> str:
    """An edge's label: the consumer's local derivative and its value (once, when the
    formula is a number), then what it sends back (the value times the adjoint)."""
    return f"{local_derivative(local_text, local_value)}\n→ {fmt(message, 4)}"


def local_derivative(text: str, value: float) -> str:
    """"cos x = −0.99", or just "1" when the formula is the number."""
    number = fmt(value, 3)
    return text if text == number else f"{text} = {number}"


def terms_html(text: str, limit: int = 160) -> str:
    """sympy's text with line breaks allowed between its terms only (each term kept
    whole); long output ends with … after the last term that fits (the tooltip has it
    all)."""
    terms = list(split_terms(text))
    shown, length = [], 0
    for term in terms:
        if shown and length + len(term) > limit:
            shown.append("…")
            break
        shown.append(term)
        length += len(term) + 1
    return " ".join(unbreakable(_escape(t)) for t in shown)


def unbreakable(text: str) -> str:
    """Text a label will not wrap inside: its spaces non-breaking and its minus signs
    non-breaking hyphens (Qt wraps after a '-' and ignores CSS white-space on spans)."""
    return text.replace(" ", "&nbsp;").replace("-", "\u2011")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _robust_range(y: np.ndarray) -> tuple[float, float]:
    """A y range that shows the curve without letting a pole (1/x at 0) flatten it."""
    finite = y[np.isfinite(y)]
    if finite.size == 0:
        return -1.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    p1, p99 = np.percentile(finite, [1, 99])
    if hi - lo > 10 * (p99 - p1) > 0:  # a few points shoot off: show the bulk
        lo, hi = float(p1), float(p99)
    span = hi - lo
    if span < 1e-9 * max(1.0, abs(hi)):  # flat: centre it
        pad = max(abs(hi), 1.0) * 0.1
        return lo - pad, hi + pad
    return lo - 0.08 * span, hi + 0.08 * span
