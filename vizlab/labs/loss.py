"""The Softmax & Loss lab: cross-entropy curves, naive versus stable losses, multi-class
versus multi-label outputs, in three tabs.

Everything it draws is in the snapshot (computed by engine.experiments.loss); the first
snapshot carries all of it, so the lab previews on every setting change. Run animates
the logit-scale sweep of the "Naive vs stable" tab, one scale per step.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Generator, Iterator

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QFontMetrics, QTextDocument
from PySide6.QtWidgets import (
    QBoxLayout,
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.experiments.loss import TABS, Snapshot, Sweep
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, theme
from vizlab.widgets._base import remember_base
from vizlab.widgets.layout_check import AxisLabels, data_hits
from vizlab.widgets.text import WrappedLabel
from vizlab.widgets.theme import palette_color

HELP = """
<p><b>Softmax &amp; Loss lab.</b> Every number is computed by the engine; gradients come
from <code>en.gradients</code>.</p>
<ul>
<li><b>Cross-entropy</b>: for one sigmoid output p = sigmoid(z), the loss is −log p
when the label is 1 and −log(1 − p) when it is 0 (z from −5 to 5 in steps of 0.2).
For a softmax over several classes against a one-hot label it is −log p of the true
class: the true class's logit moves, the others keep your <i>logits</i>. The gradient
of the loss with respect to the logits is p − onehot: the true class is pulled up by
1 − p, every other class pushed down by its own p.</li>
<li><b>Naive vs stable</b>: the logits are <i>s</i> × <i>sweep logits</i>. The naive loss
computes e<sup>z</sup> / Σ e<sup>z</sup> and then its log; e<sup>z</sup> overflows once z
passes log(largest float), about 88.7 in float32 and 709.8 in float64, and the loss
becomes inf or nan (its markers stop, and a dashed line marks where). The stable loss
is drawn as two lines, float64 wide and pale beneath float32 narrow; the naive loss as
markers on every few scales, the two types at alternate scales, so all four show where
they agree and the markers end where naive parts from stable. A naive loss rounded to
exactly 0 sits on the plot's floor (a log axis has no 0). The stable
loss works from the logits with log-sum-exp and stays finite. Where both are finite the
lower plots show how far apart they are, next to each type's machine epsilon. With
<i>sweep label</i> 0 the true class has the largest logit: the loss shrinks towards 0,
the naive form runs out of digits first (log p rounds to 0 once 1 − p is below
float32's resolution next to 1; float64 holds it longer) and turns nan (inf / inf)
where e<sup>s</sup> overflows, while the stable form, which takes log1p of the other
classes' small terms, keeps the tiny loss accurate. <b>Run</b> sweeps the scale step by step.</li>
<li>The <b>small-scale example</b>: 2/n and (1 + 1/n) − (1 − 1/n) are equal on paper
but not in floating point: subtracting two nearly equal numbers loses digits.</li>
<li><b>Multi-class vs multi-label</b>: one softmax (probabilities sum to 1, exactly one
true class, softmax cross-entropy) against one sigmoid per label (each 0..1 on its own,
any number of labels true, a binary cross-entropy per label). Green bars are true.</li>
</ul>
"""

# Four series on the sweep plot, four colours: (stable, naive) per type.
DTYPE_COLORS = {
    "float64": (palette_color(0), palette_color(2)),
    "float32": (palette_color(1), palette_color(5)),  # not 3: yellow text is faint on white
}
# The naive loss as markers on every few sweep scales (about this many per curve), the two
# types at interleaved scales, so neither hides the other nor the stable lines beneath.
NAIVE_MARKERS = 24
NAIVE_SYMBOLS = {"float64": "t", "float32": "o"}
TRUE_COLOR = "#2ca02c"
FALSE_COLOR = "#9a9a9a"
CURSOR_COLOR = "#444444"
TEXT_STYLE = "font-size: {pt}pt; background: white; padding: 6px;"  # pt: text_pt()


def text_pt() -> int:
    """The text panels' size: the ticks' on a desktop, a little below them in
    presentation mode (14 pt), where the panels' tables must still fit."""
    return theme.tick_pt() if not theme.presentation() else theme.tick_pt() - 2


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    """Non-finite values as nan: the curve shows a gap there."""
    return np.where(np.isfinite(values), values, np.nan)


def _fmt(value: float, dtype: str = "float64", digits: int | None = None) -> str:
    """The shortest text that reads back as the same number of that type (float32 or
    float64), so two different floats never look equal; or `digits` significant ones."""
    if digits is not None and np.isfinite(value):
        return _num(value, f".{digits}g")
    if value == 0:
        return "0.0"
    return str(np.dtype(dtype).type(value))


def _num(value: float, spec: str) -> str:
    """`value` formatted by `spec`, with a rounded -0 written as 0 (a minus on nothing
    reads as a sign error on a slide)."""
    text = format(value, spec)
    if text.startswith("-") and np.isfinite(value) and float(text) == 0:
        text = text[1:]
    return text


def _vector(values: np.ndarray, digits: int = 3) -> str:
    return "[" + ", ".join(_num(v, f".{digits}f") for v in values) + "]"


def sweep_y_range(positive: np.ndarray) -> tuple[float, float]:
    """A log10 y range around these positive values with room for markers and labels:
    an eighth of the span (at least a fifth of a decade) below, a fifth above."""
    low, high = float(np.log10(positive.min())), float(np.log10(positive.max()))
    span = max(high - low, 1.0)
    return low - max(span / 8, 0.2), high + max(span / 5, 0.3)


def naive_marker_indices(count: int, dtype: str) -> np.ndarray:
    """Which of `count` sweep scales carry a naive-loss marker of this type: every k-th,
    float64's halfway between float32's."""
    every = max(1, int(np.ceil(count / NAIVE_MARKERS)))
    phase = every // 2 if dtype == "float64" else 0
    return np.arange(phase, count, every)


def _text_panel() -> QLabel:
    label = WrappedLabel()
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(TEXT_STYLE.format(pt=text_pt()))
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
    return label


NUMBERS_TABLE_WIDTH = 300  # pixels the sweep's three-column table needs
PROSE_WIDTH = 260  # pixels the multi-label prose needs beside the table


def multi_table_html(m) -> str:
    """The multi-class / multi-label table: a row per quantity, a column per class (the
    plots above have a bar per class), the sums last."""
    onehot = (np.arange(len(m.names)) == m.true_class).astype(float)
    ce_terms = -onehot * np.log(np.where(onehot > 0, m.softmax_probs, 1.0))

    def row(title: str, values, fmt: str, total: str) -> str:
        cells = "".join(f"<td align='right'>{_num(v, fmt)}</td>" for v in values)
        return f"<tr><td>{title}</td>{cells}<td align='right'>{total}</td></tr>"

    head = "".join(f"<th align='right'>{html.escape(name)}</th>" for name in m.names)
    return (
        "<table cellspacing='0' cellpadding='2'><tr><th></th>" + head
        + "<th align='right'>sum</th></tr>"
        + row("logit z", m.logits, "g", "")
        + row("<b>softmax</b>", m.softmax_probs, ".3f", f"<b>{m.softmax_probs.sum():.3f}</b>")
        + row("one-hot", onehot, ".0f", "1")
        + row("CE term", ce_terms, ".3f", f"{m.softmax_ce:.3f}")
        + row("<b>sigmoid</b>", m.sigmoid_probs, ".3f", f"<b>{m.sigmoid_probs.sum():.3f}</b>")
        + row("target", m.targets, ".0f", f"{int(m.targets.sum())}")
        + row("BCE term", m.bce_terms, ".3f", f"{m.bce_sum:.3f}")
        + "</table>")


class _OnResize(QObject):
    """Calls ``callback()`` after each resize of ``widget``."""

    def __init__(self, widget: QWidget, callback) -> None:
        super().__init__(widget)
        self._callback = callback
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
        if event.type() == QEvent.Type.Resize:
            self._callback()
        return False


def _text_height(text: str, width: int) -> int:
    """Pixels a text panel of this width needs to show all of `text`."""
    doc = QTextDocument()
    doc.setDefaultFont(theme.font(text_pt()))
    doc.setHtml(text)
    padding = 2 * 6
    doc.setTextWidth(max(width - padding, 50))
    return int(np.ceil(doc.size().height())) + padding


def _legend_top_left(plot: CurvePlot) -> None:
    plot.plot_item.legend.anchor((0, 0), (0, 0), offset=(10, 10))


def _legend_bottom_right(plot: CurvePlot) -> None:
    plot.plot_item.legend.anchor((1, 1), (1, 1), offset=(-10, -10))


class BarValueLabels:
    """Value labels above (or below) a BarPlot's bars, and the class names under them,
    each shown only when it fits its bar's width: with many classes the names become
    class numbers and the values are left to the table, rather than running together."""

    def __init__(self, bars: BarPlot, value_format: str,
                 span: tuple[float, float] | None = None) -> None:
        self.bars = bars
        self.value_format = value_format
        self.span = span  # a y range always shown (probabilities: 0..1), else the data's
        self.items: list[pg.TextItem] = []
        self.names: list[str] = []
        self.values = np.zeros(0)
        self.colors: list[str] = []
        self.show_names = True
        self.show_values = True
        bars.plot_item.vb.sigResized.connect(lambda *_: self._place())

    def set(self, names: list[str], values: np.ndarray, colors: list[str]) -> None:
        self.names, self.values, self.colors = list(names), np.asarray(values, float), colors
        self._place()

    def texts(self) -> list[str]:
        return [_num(v, self.value_format) for v in self.values]

    def _slot_pixels(self) -> float:
        """How many pixels wide each bar's slot is on screen."""
        vb = self.bars.plot_item.vb
        (x0, x1), _ = vb.viewRange()
        return vb.width() / max(x1 - x0, 1e-9)

    def _fit_y(self, room: float) -> None:
        """A y range holding the bars (and the span) with `room` pixels above the highest
        and below the lowest, where the value labels go."""
        lo = min(0.0, float(np.nanmin(self.values)))
        hi = max(0.0, float(np.nanmax(self.values)))
        if self.span is not None:
            lo, hi = min(lo, self.span[0]), max(hi, self.span[1])
        pixels = max(self.bars.plot_item.vb.height(), 40.0)
        share = min(room / pixels, 0.3)  # of the whole range, per padded side
        sides = 1 + (lo < 0)
        total = (hi - lo or 1.0) / (1 - sides * share)
        bottom = lo - share * total if lo < 0 else lo
        self.bars.plot_item.setYRange(bottom, hi + share * total, padding=0)

    def _place(self) -> None:
        if not len(self.values):
            return
        metrics = QFontMetrics(theme.font(theme.tick_pt()))
        slot = self._slot_pixels()
        texts = self.texts()
        self.show_names = max(metrics.horizontalAdvance(n) for n in self.names) + 6 <= slot
        self.show_values = max(metrics.horizontalAdvance(t) for t in texts) + 4 <= slot
        shown = self.names if self.show_names else [str(i) for i in range(len(self.names))]
        self.bars.set_bars(shown, self.values, self.colors)
        while len(self.items) < len(texts):
            item = pg.TextItem(color="k")
            self.bars.plot_item.addItem(item)
            self.items.append(item)
        self._fit_y(metrics.height() + 6 if self.show_values else 4)
        for i, item in enumerate(self.items):
            item.setFont(theme.font(theme.tick_pt()))  # presentation mode: bigger
            visible = self.show_values and i < len(texts)
            item.setVisible(visible)
            if visible:
                value = self.values[i]
                item.setText(texts[i])
                item.setAnchor((0.5, 1.0) if value >= 0 else (0.5, 0.0))
                item.setPos(float(i), float(value))


class View(LabView):
    lab_name = "loss"
    help_html = HELP
    preview_on_change = True

    def build_views(self) -> Generator[None, None, QWidget]:  # a plot per turn in the app
        self._grad_key: tuple = ()
        self._floor = 1.0  # the sweep plot's lowest visible loss (naive zeros go there)
        self.tabs = QTabWidget()
        yield  # the attributes above exist once the view does
        # Each tab is built a plot per turn (a whole tab took up to 100 ms on a busy
        # machine).
        self.tabs.addTab((yield from self._build_cross_entropy_tab()), "Cross-entropy")
        yield
        self.tabs.addTab((yield from self._build_sweep_tab()), "Naive vs stable")
        yield
        self.tabs.addTab((yield from self._build_multi_tab()), "Multi-class vs multi-label")
        yield
        self.bind_tabs(self.tabs, TABS)
        theme.on_theme_changed(self._restyle)
        return self.tabs

    def _restyle(self) -> None:
        """Presentation mode on or off: this lab's own texts follow the theme's sizes."""
        self._stretch_sweep_columns()
        self.floor_note.setFont(theme.font(theme.tick_pt()))
        for panel in (self.ce_text, self.numbers_text, self.small_text, self.multi_table,
                      self.multi_text):
            panel.setStyleSheet(TEXT_STYLE.format(pt=text_pt()))
        if self.last_snapshot is not None:
            self.draw_now(self.last_snapshot)  # bar labels and table widths, at the new size

    def run(self) -> None:
        # Run animates the sweep: show it (the user may still switch tabs while it runs).
        if self.is_built:
            self.tabs.setCurrentIndex(TABS.index("naive vs stable"))
        super().run()

    # -- building ---------------------------------------------------------------------
    def _build_cross_entropy_tab(self) -> Generator[None, None, QWidget]:
        page = QWidget()
        grid = QGridLayout(page)
        self.bce_plot = CurvePlot("Binary cross-entropy",
                                  x_label="p = sigmoid(z)", y_label="loss")
        self.bce_plot.plot_item.legend.anchor((0.5, 0), (0.5, 0), offset=(0, 10))
        yield
        self.softmax_plot = CurvePlot("Softmax cross-entropy vs one-hot",
                                      x_label="p of the true class", y_label="loss")
        yield
        self.grad_plot = CurvePlot("Gradient = p − onehot",
                                   x_label="p of the true class", y_label="d loss / d z")
        _legend_bottom_right(self.grad_plot)
        self.softmax_marker = self.softmax_plot.add_marker(x=0.5, label="your logits")
        self.grad_marker = self.grad_plot.add_marker(x=0.5, label="your logits")
        for line in (self.softmax_marker, self.grad_marker):
            line.label.setPosition(0.6)  # below the legend
        self.ce_text = _text_panel()
        grid.addWidget(self.bce_plot, 0, 0)
        grid.addWidget(self.softmax_plot, 0, 1)
        grid.addWidget(self.grad_plot, 1, 0)
        grid.addWidget(self.ce_text, 1, 1)
        return page

    def _build_sweep_tab(self) -> Generator[None, None, QWidget]:
        page = QWidget()
        grid = QGridLayout(page)
        self.sweep_plot = CurvePlot("Loss as logits grow: naive vs stable",
                                    x_label="logit scale s (logits = s × sweep logits)",
                                    y_label="loss", log_y=True)
        yield
        # Short titles: a pyqtgraph title never shrinks below its text, and would clip the plot.
        self.diff_plot = CurvePlot("|naive − stable|",
                                   x_label="logit scale s", y_label="absolute difference",
                                   log_y=True)
        yield
        self.rel_plot = CurvePlot("Relative error",
                                  x_label="logit scale s", y_label="|naive − stable| / stable", log_y=True,
                                  legend=False)  # the eps lines, in the same colours, name them
        for plot in (self.sweep_plot, self.diff_plot, self.rel_plot):
            self._log_x(plot)
        # In large type the two small plots are short: short y labels.
        self._sweep_labels = AxisLabels(
            (self.diff_plot.plot_item, "absolute difference", "|difference|"),
            (self.rel_plot.plot_item, "|naive − stable| / stable", "relative"))
        _legend_top_left(self.sweep_plot)
        # Bottom right: the naive loss is either equal to the stable one there or not finite.
        self.diff_plot.plot_item.legend.anchor((1, 1), (1, 1), offset=(-10, -10))
        # Machine epsilon of each type: a relative error near it is as good as it gets.
        for dtype, (_, naive_color) in DTYPE_COLORS.items():
            eps = float(np.finfo(dtype).eps)
            # Short labels: the plot is narrow; the numbers panel spells the values out.
            self.rel_plot.add_marker(y=eps, label=f"ε{dtype[-2:]}", color=naive_color)
        # Where the naive loss first stops being finite, one line per type.
        self.bad_markers = {
            dtype: self.sweep_plot.add_marker(x=0.0, label="naive", color=naive_color)
            for dtype, (_, naive_color) in DTYPE_COLORS.items()
        }
        # The naive loss rounded to 0 (a true class far ahead) has no place on a log axis.
        self.floor_note = pg.TextItem("× naive = 0: log axis has no 0", color="#333333",
                                      anchor=(0, 1.15), fill=pg.mkBrush(255, 255, 255, 200))
        self.floor_note.setFont(theme.font(theme.tick_pt()))
        # Its desktop size, so presentation mode scales it once (from 10 pt, not from 16).
        remember_base(self.floor_note, pt=float(theme.TICK_PT))
        self.floor_note.setZValue(4)
        self.floor_note.hide()
        self.sweep_plot.plot_item.addItem(self.floor_note, ignoreBounds=True)
        self.cursors = [plot.add_marker(x=0.0, label="s", color=CURSOR_COLOR)
                        for plot in (self.sweep_plot, self.diff_plot, self.rel_plot)]
        for line in self.cursors[1:]:
            line.label.hide()  # the loss plot names the scale; the small plots need the room
        # The line labels of the loss plot are placed one by one, each off the curves;
        # then none may sit on another ("float32: nan" beside "s = 307.3").
        # Run after the plot's own placing, and after any change of the view (which moves
        # the labels along their lines without placing them again).
        self._separate_timer = QTimer(self.sweep_plot)
        self._separate_timer.setSingleShot(True)
        self._separate_timer.setInterval(0)
        self._separate_timer.timeout.connect(self._separate_marker_labels)
        # Straight after the plot's placing (in the same turn: a picture may be next).
        self.sweep_plot.labels_placed.connect(self._separate_marker_labels)
        vb = self.sweep_plot.plot_item.vb
        vb.sigTransformChanged.connect(self._separate_timer.start)
        vb.sigResized.connect(self._separate_timer.start)
        # The two text panels share the right column, each as tall as its text (the
        # table needs more height than half the column once the type is large).
        self.numbers_text = _text_panel()
        self.small_text = _text_panel()
        column = QWidget()
        column.setStyleSheet("background: white;")
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 0, 0)
        column_layout.setSpacing(0)
        for panel in (self.numbers_text, self.small_text):
            panel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            column_layout.addWidget(panel)
        column_layout.addStretch(1)
        # In a scroll area: text never makes the window grow past the size asked for.
        self.text_column = QScrollArea()
        self.text_column.setWidget(column)
        self.text_column.setWidgetResizable(True)
        self.text_column.setFrameShape(QFrame.Shape.NoFrame)
        self.text_column.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._column_watch = _OnResize(self.text_column.viewport(), self._fit_text_column)
        grid.addWidget(self.sweep_plot, 0, 0, 1, 2)
        grid.addWidget(self.text_column, 0, 2, 2, 1)
        grid.addWidget(self.diff_plot, 1, 0)
        grid.addWidget(self.rel_plot, 1, 1)
        self.sweep_grid = grid
        self._stretch_sweep_columns()
        return page

    def _stretch_sweep_columns(self) -> None:
        """Thirds on a desktop; in presentation mode the text column gets 3/7, so that
        its table's rows wrap less and the small-scale example fits under it."""
        for column, (desktop, presenting) in enumerate(((1, 2), (1, 2), (1, 3))):
            self.sweep_grid.setColumnStretch(
                column, presenting if theme.presentation() else desktop)

    def _separate_marker_labels(self) -> None:
        """Move a reference-line label of the loss plot that overlaps an earlier one (or
        the floor note, or a curve, or crosses the plot's edge) to the first place along
        its line that is free; hide it where none is (the numbers panel has it too)."""
        plot = self.sweep_plot.plot_item
        area = plot.vb.sceneBoundingRect()
        placed = ([self.floor_note.sceneBoundingRect().adjusted(-8, -2, 8, 2)]
                  if self.floor_note.isVisible() else [])
        for line in (*self.bad_markers.values(), self.cursors[0]):
            label = line.label
            if not (line.isVisible() and label.toPlainText()):
                continue
            if not label.isVisible():  # hidden by an earlier call: room again?
                label.show()
                label.valueChanged()  # a hidden label's text and place do not follow
            label.updateTransform(force=True)  # its box now, not at the next paint
            box = label.sceneBoundingRect()
            if (any(box.intersects(b) for b in placed) or not area.contains(box)
                    or data_hits(plot, box.adjusted(1, 1, -1, -1))):
                for place, side in itertools.product(
                        (0.92, 0.75, 0.62, 0.5, 0.38, 0.25, 0.08), ((1.0, 0.5), (0.0, 0.5))):
                    label.anchors = [side, side]
                    label.setPosition(place)
                    label.updateTransform(force=True)
                    box = label.sceneBoundingRect()
                    if (area.contains(box) and not any(box.intersects(b) for b in placed)
                            and not data_hits(plot, box.adjusted(1, 1, -1, -1))):
                        break
                else:  # nowhere free: the numbers panel says it too
                    label.hide()
                    continue
            # A little air around it: two labels that only touch read as one.
            placed.append(box.adjusted(-8, -2, 8, 2))

    def _build_multi_tab(self) -> Generator[None, None, QWidget]:
        page = QWidget()
        grid = QGridLayout(page)
        # Short titles: a pyqtgraph title never shrinks below its text, and would clip the plot.
        self.softmax_bars = BarPlot("Multi-class: softmax", y_label="probability",
                                    show_values=False)
        yield
        self.sigmoid_bars = BarPlot("Multi-label: sigmoids", y_label="probability",
                                    show_values=False)
        yield
        self.softmax_grad_bars = BarPlot("Gradient of softmax CE", y_label="p − onehot",
                                         show_values=False)
        yield
        self.bce_grad_bars = BarPlot("Gradient of Σ BCE", y_label="sigmoid − target",
                                     show_values=False)
        self._multi_labels = AxisLabels(
            (self.softmax_grad_bars.plot_item, "p − onehot", "p − onehot"),
            (self.bce_grad_bars.plot_item, "sigmoid − target", "σ − target"))
        # Two decimals: short enough to stand over a bar; the table has four.
        self.bar_labels = {
            self.softmax_bars: BarValueLabels(self.softmax_bars, ".2f", span=(0.0, 1.0)),
            self.sigmoid_bars: BarValueLabels(self.sigmoid_bars, ".2f", span=(0.0, 1.0)),
            self.softmax_grad_bars: BarValueLabels(self.softmax_grad_bars, ".2f"),
            self.bce_grad_bars: BarValueLabels(self.bce_grad_bars, ".2f"),
        }
        # Below the plots: the table (a column per class, so it grows sideways, where the
        # plots have room) and the prose, beside it or, when the table is wide, under it.
        self.multi_table = _text_panel()
        self.multi_table.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.multi_text = _text_panel()
        self.multi_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.multi_bottom = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        self.multi_bottom.addWidget(self.multi_table)
        self.multi_bottom.addWidget(self.multi_text, 1)
        grid.addWidget(self.softmax_bars, 0, 0)
        grid.addWidget(self.sigmoid_bars, 0, 1)
        grid.addWidget(self.softmax_grad_bars, 1, 0)
        grid.addWidget(self.bce_grad_bars, 1, 1)
        grid.addLayout(self.multi_bottom, 2, 0, 1, 2)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        return page

    @staticmethod
    def _log_x(plot: CurvePlot) -> None:
        """Log x with ticks at 1, 2, 5 per decade at most (pyqtgraph's own labels every
        digit when few decades show, and they run into each other)."""
        item = plot.plot_item
        label = item.getAxis("bottom").labelText
        axis = theme.LogFriendlyAxis("bottom")
        item.setAxisItems({"bottom": axis})
        axis.setTickFont(theme.font(theme.tick_pt()))
        axis.enableAutoSIPrefix(False)
        theme.set_axis_label(item, "bottom", label)
        item.setLogMode(x=True)

    # -- drawing ----------------------------------------------------------------------
    def draw(self, snap: Snapshot) -> Iterator[None]:
        self._draw_cross_entropy(snap)
        yield
        yield from self._draw_sweep(snap)  # a plot or two per piece
        yield
        self._draw_multi(snap)
        yield

    def _draw_cross_entropy(self, snap: Snapshot) -> None:
        b = snap.binary
        self.bce_plot.set_curve("y = 1: −log p", b.p, b.loss_y1, color=palette_color(0))
        self.bce_plot.set_curve("y = 0: −log(1 − p)", b.p, b.loss_y0, color=palette_color(1))

        s, m = snap.softmax, snap.multi
        names = m.names
        true = m.true_class
        self.softmax_plot.set_curve("−log p(true)", s.p_true, s.loss, color=palette_color(0))
        p_now = float(s.current_probs[true])
        self.softmax_plot.set_curve("your logits", [p_now], [s.current_loss], color=palette_color(1))
        self._as_dot(self.softmax_plot, "your logits", palette_color(1), line=False)
        if (names, true) != self._grad_key:
            # One gradient curve per class, named in the legend: made again only when the
            # classes or the true one change.
            for old in self.grad_plot.curve_names():
                self.grad_plot.remove_curve(old)
            self._grad_key = (names, true)
        for k, name in enumerate(names):
            self.grad_plot.set_curve(self.grad_curve_name(name, k == true), s.p_true,
                                     s.grads[:, k], color=palette_color(k))
        for line in (self.softmax_marker, self.grad_marker):
            line.setValue(p_now)
            line.label.setFormat(f"your logits: p = {p_now:.3f}")

        onehot = np.eye(len(names))[true]
        mid = int(np.argmin(np.abs(b.z)))
        self.ce_text.setText(
            "<b>Your logits</b> z = " + _vector(s.logits, 2)
            + f", true class <b>{html.escape(names[true])}</b><br>"
            + "softmax p = " + _vector(s.current_probs) + "<br>"
            + f"loss = −log p<sub>true</sub> = <b>{s.current_loss:.4f}</b><br>"
            + "gradient (en.gradients) = " + _vector(s.current_grad, 4) + "<br>"
            + "p − onehot = " + _vector(s.current_probs - onehot, 4) + "<br><br>"
            + "<b>Sigmoid output</b> (top left): at z = 0, p = "
            + f"{b.p[mid]:.4f} and both losses are log 2 = {b.loss_y1[mid]:.4f}; "
            + "a confident wrong answer costs "
            + f"{b.loss_y1[0]:.2f} at p = {b.p[0]:.4f}.<br>"
            + "The gradient of −log p with respect to z is p − 1 "
            + f"(from en.gradients at z = {b.z[0]:g}: {b.grad_y1[0]:.4f}),"
            + " so the loss never pushes harder than 1 per unit of z.")

    @staticmethod
    def grad_curve_name(name: str, true: bool) -> str:
        return f"∂/∂z {name}" + (" (true)" if true else "")

    @staticmethod
    def _as_dot(plot: CurvePlot, name: str, color: str, line: bool = True,
                size: float = 10) -> None:
        """Give curve `name` round symbols (once), so isolated points stay visible."""
        item = plot._curves[name]
        if item.opts.get("symbol") is None:
            item.setSymbol("o")
            item.setSymbolSize(size)
            item.setSymbolBrush(pg.mkBrush(color))
            item.setSymbolPen(pg.mkPen("w"))
            if not line:
                item.setPen(None)  # a lone point: a dot, without a line in the legend

    def _draw_sweep(self, snap: Snapshot) -> Iterator[None]:
        n = snap.revealed
        scales = snap.scales[:n]
        self._fix_sweep_ranges(snap)
        by_type = {sw.dtype: sw for sw in snap.sweeps}
        # Where the two types agree their stable lines coincide: float64 wide and pale
        # underneath, float32 narrow on top, so both show.
        for dtype, width, alpha, z in (("float64", 8, 110, 1), ("float32", 2.5, 255, 2)):
            if dtype not in by_type:
                continue
            name = f"stable {dtype}"
            new = name not in self.sweep_plot.curve_names()
            item = self.sweep_plot.set_curve(name, scales, _finite_or_nan(by_type[dtype].stable[:n]),
                                             color=DTYPE_COLORS[dtype][0], width=width)
            if new:
                color = pg.mkColor(DTYPE_COLORS[dtype][0])
                color.setAlpha(alpha)
                item.setPen(pg.mkPen(color, width=width))
                item.setZValue(z)
        for dtype in ("float64", "float32"):
            if dtype in by_type:
                picks = naive_marker_indices(len(snap.scales), dtype)
                picks = picks[picks < n]
                naive = by_type[dtype].naive[picks]
                self._naive_markers(dtype, snap.scales[picks], _finite_or_nan(naive))
                # A naive loss rounded to exactly 0 has no place on the log axis: its
                # markers sit on the floor instead, named so in the legend.
                zero = (naive == 0) & (by_type[dtype].stable[picks] > 0)
                name = f"naive {dtype} = 0 (on the floor)"
                if zero.any() or name in self.sweep_plot.curve_names():
                    x = snap.scales[picks][zero]
                    new = name not in self.sweep_plot.curve_names()
                    item = self.sweep_plot.set_curve(name, x, np.full(x.shape, self._floor),
                                                     color=DTYPE_COLORS[dtype][1], width=1)
                    if new and self.sweep_plot.plot_item.legend is not None:
                        self.sweep_plot.plot_item.legend.removeItem(item)  # the note says
                    item.setPen(None)
                    item.setSymbol("x")
                    item.setSymbolSize(10)
                    item.setSymbolPen(pg.mkPen(DTYPE_COLORS[dtype][1], width=2))
                    item.setZValue(3)
        yield
        for sw in snap.sweeps:
            _, naive_color = DTYPE_COLORS[sw.dtype]
            for plot, values in ((self.diff_plot, sw.abs_diff), (self.rel_plot, sw.rel_err)):
                # Log y: 0 (the two agree exactly) and inf have no place on the axis (a
                # gap); with no point left at all, no data rather than all-NaN dots,
                # which have no bounds.
                y = values[:n]
                drawn = np.isfinite(y) & (y > 0)
                x, y = (scales, np.where(drawn, y, np.nan)) if drawn.any() else ([], [])
                plot.set_curve(sw.dtype, x, y, color=naive_color, width=1.5)
                self._as_dot(plot, sw.dtype, naive_color, size=6)
            line = self.bad_markers[sw.dtype]
            shown = sw.first_bad_index is not None and sw.first_bad_index < n
            line.setVisible(shown)
            if shown:
                line.setValue(np.log10(sw.first_bad_scale))
                # Short: the two lines' labels share the plot; the panel has the scale.
                line.label.setFormat(f"{sw.dtype}: {sw.first_bad_kind}")
        # The moving marker while Run reveals the sweep; at its end it would only sit on
        # the right edge.
        moving = snap.cursor is not None and snap.cursor < len(snap.scales) - 1
        for line in self.cursors:
            line.setVisible(moving)
            if snap.cursor is not None:
                line.setValue(np.log10(snap.scales[snap.cursor]))
        if snap.cursor is not None:
            self.cursors[0].label.setFormat(f"s = {snap.scales[snap.cursor]:.4g}")
        zeros = [x for dtype in ("float32", "float64")
                 if (x := self._curve_x(f"naive {dtype} = 0 (on the floor)")).size]
        self.floor_note.setVisible(bool(zeros))
        if zeros:
            # Just above the floor's markers, from the left edge (the loss is high there).
            self.floor_note.setPos(float(np.log10(snap.scales[0])),
                                   float(np.log10(self._floor)))
        self._text_snap = snap
        self._fit_text_column()

    def _fit_text_column(self) -> None:
        """The sweep's numbers (a table where the column is wide enough) and the
        small-scale example, each panel as tall as its text; the example gives way
        (hidden) when both do not fit the column (large type in a small window): the
        sweep's numbers are this tab's lesson, and a cut-off paragraph would read as a
        fault. Again whenever the column's size changes (it is measured only once laid
        out: a tab drawn while another is in front has no size yet)."""
        snap = getattr(self, "_text_snap", None)
        if snap is None:
            return
        width = self.text_column.viewport().width()
        self.numbers_text.setText(self._numbers_html(
            snap, as_table=width >= NUMBERS_TABLE_WIDTH))
        self.small_text.setText(self._small_html(snap))
        available = self.text_column.viewport().height()
        needed = [_text_height(p.text(), width) for p in (self.numbers_text,
                                                           self.small_text)]
        self.numbers_text.setMinimumHeight(min(needed[0], available))
        fits = sum(needed) <= available
        self.small_text.setVisible(fits)
        self.small_text.setMinimumHeight(needed[1] if fits else 0)

    def _curve_x(self, name: str) -> np.ndarray:
        if name not in self.sweep_plot.curve_names():
            return np.zeros(0)
        return self.sweep_plot.curve_data(name)[0]

    def _naive_markers(self, dtype: str, x: np.ndarray, y: np.ndarray) -> None:
        """The naive loss of one type as markers only (none where it is not finite)."""
        name = f"naive {dtype}"
        color = DTYPE_COLORS[dtype][1]
        if not np.isfinite(y).any():
            x, y = x[:0], y[:0]  # no points rather than all-nan ones, which have no bounds
        new = name not in self.sweep_plot.curve_names()
        item = self.sweep_plot.set_curve(name, x, y, color=color, width=1)
        if new:
            item.setPen(None)
            item.setSymbol(NAIVE_SYMBOLS[dtype])
            item.setSymbolSize(10)
            if NAIVE_SYMBOLS[dtype] == "o":  # hollow: the line beneath shows through
                item.setSymbolBrush(pg.mkBrush(255, 255, 255, 0))
                item.setSymbolPen(pg.mkPen(color, width=2))
            else:
                item.setSymbolBrush(pg.mkBrush(color))
                item.setSymbolPen(pg.mkPen("w", width=0.8))
            item.setZValue(3)

    def _fix_sweep_ranges(self, snap: Snapshot) -> None:
        """Axes spanning the whole sweep, so they hold still while Run reveals it."""
        x = np.log10([snap.scales[0], snap.scales[-1]])
        columns = {
            self.sweep_plot: [a for sw in snap.sweeps for a in (sw.stable, sw.naive)],
            self.diff_plot: [sw.abs_diff for sw in snap.sweeps],
            self.rel_plot: [sw.rel_err for sw in snap.sweeps]
            + [np.finfo(sw.dtype).eps for sw in snap.sweeps],  # keep the eps lines in view
        }
        for plot, arrays in columns.items():
            values = np.concatenate([np.ravel(a).astype(np.float64) for a in arrays])
            positive = values[np.isfinite(values) & (values > 0)]
            plot.plot_item.setXRange(*x, padding=0.02)
            if positive.size:
                low, high = sweep_y_range(positive)
                plot.plot_item.setYRange(low, high, padding=0)
                if plot is self.sweep_plot:
                    self._floor = 10.0 ** (low + 0.02 * (high - low))
        # The legend goes where the loss curve is not: top left when it rises, else bottom.
        stable = snap.sweeps[-1].stable
        rising = stable[-1] >= stable[0]
        legend = self.sweep_plot.plot_item.legend
        if rising:
            legend.anchor((0, 0), (0, 0), offset=(10, 10))
        else:
            legend.anchor((0, 1), (0, 1), offset=(10, -10))

    @staticmethod
    def _numbers_html(snap: Snapshot, as_table: bool = True) -> str:
        """The sweep in numbers: a row per fact, a column per type (or, `as_table` False,
        a paragraph per type)."""
        logits = ", ".join(_num(v, "g") for v in snap.sweep_logits)
        at = snap.cursor if snap.cursor is not None else len(snap.scales) - 1
        s_at = f"{snap.scales[at]:.4g}"

        def row(title: str, cell) -> str:
            return f"<tr><td>{title}</td>" + "".join(
                f"<td>{cell(sw)}</td>" for sw in snap.sweeps) + "</tr>"

        # While Run reveals the sweep, say only what the revealed part shows.
        n = snap.revealed

        def first_bad(sw: Sweep) -> str:
            if sw.first_bad_index is None or sw.first_bad_index >= n:
                return "never" if n == len(snap.scales) else "not yet"
            return f"{sw.first_bad_kind} from s ≈ {sw.first_bad_scale:.4g}"

        def worst(sw: Sweep) -> str:
            finite = sw.rel_err[:n][np.isfinite(sw.rel_err[:n])]
            return f"{finite.max():.3g}" if finite.size else "–"

        finite = all(np.isfinite(sw.stable[:n]).all() for sw in snap.sweeps)
        title = (f"<b>Logits</b> s × [{logits}], true class {snap.sweep_label}. Stable loss "
                 + ("finite everywhere" if finite else "<b>not</b> finite everywhere")
                 + ".<br>")
        if not as_table:  # too narrow for three columns: a paragraph per type
            return title + "".join(
                f"<b>{sw.dtype}</b>: e<sup>z</sup> overflows past s = {sw.overflow_scale:.5g}; "
                f"naive non-finite: {first_bad(sw)}; stable "
                + ("always finite" if np.isfinite(sw.stable[:n]).all() else "not finite")
                + f"; worst relative error {worst(sw)}; at s = {s_at} naive "
                f"{_fmt(float(sw.naive[at]), sw.dtype, 8)}, stable "
                f"{_fmt(float(sw.stable[at]), sw.dtype, 8)}.<br>"
                for sw in snap.sweeps)
        head = "<tr><th></th>" + "".join(f"<th>{sw.dtype}</th>" for sw in snap.sweeps) + "</tr>"
        return (
            title +
            f"<table style='margin-top: 4px;' cellspacing='0' cellpadding='2'>{head}"
            + row("e<sup>z</sup> overflows past s", lambda sw: f"{sw.overflow_scale:.5g}")
            + row("naive non-finite", first_bad)
            + row("worst rel. error", worst)
            + row("machine ε (ε32, ε64)", lambda sw: f"{np.finfo(sw.dtype).eps:.3g}")
            + row(f"naive at s = {s_at}", lambda sw: _fmt(float(sw.naive[at]), sw.dtype, 8))
            + row(f"stable at s = {s_at}", lambda sw: _fmt(float(sw.stable[at]), sw.dtype, 8))
            + "</table>"
        )

    @staticmethod
    def _small_html(snap: Snapshot) -> str:
        """The small-scale example, a block per type (the numbers are long)."""
        n = f"{snap.small[0].n:g}"
        a = _fmt(snap.small[0].direct, snap.small[0].dtype)
        # The shortest exact text of each: two different floats never look alike.
        seconds = " and ".join(
            f"{_fmt(sm.via_difference, sm.dtype)} in <b>{sm.dtype}</b> (relative error "
            f"{_num(sm.rel_error, '.3g')})" for sm in snap.small)
        return (f"<b>Small scale</b> (n = {n}): 2/n = {a} and (1 + 1/n) − (1 − 1/n) are "
                f"equal on paper; the second is {seconds}.")

    def _draw_multi(self, snap: Snapshot) -> None:
        m = snap.multi
        names = list(m.names)
        k = len(names)
        onehot = np.arange(k) == m.true_class
        multi_colors = [TRUE_COLOR if t else FALSE_COLOR for t in onehot]
        label_colors = [TRUE_COLOR if t else FALSE_COLOR for t in m.targets > 0.5]
        for plot, values, colors in (
                (self.softmax_bars, m.softmax_probs, multi_colors),
                (self.sigmoid_bars, m.sigmoid_probs, label_colors),
                (self.softmax_grad_bars, m.softmax_grad, multi_colors),
                (self.bce_grad_bars, m.bce_grad, label_colors)):
            self.bar_labels[plot].set(names, values, colors)
        table = multi_table_html(m)
        self.multi_table.setText(table)
        self.multi_text.setText(
            "<b>Same scores, two readings</b> (green: true). "
            f"<b>Multi-class</b>: exactly one true class "
            f"({html.escape(names[m.true_class])}); softmax cross-entropy "
            f"−log p = <b>{m.softmax_ce:.4f}</b>.<br>"
            f"<b>Multi-label</b>: each label on its own, {int(m.targets.sum())} true here; "
            f"binary cross-entropy summed over labels = <b>{m.bce_sum:.4f}</b>, "
            f"mean = <b>{m.bce_mean:.4f}</b> (torch's default). "
            "Raising one softmax score lowers every other probability; a sigmoid only moves "
            "its own label."
        )
        self._fit_multi_text(table)

    def _fit_multi_text(self, table: str) -> None:
        """The table at its full size (no column cut off); the prose beside it when at
        least PROSE_WIDTH is left, else under it, at the height its lines need."""
        doc = QTextDocument()
        doc.setDefaultFont(theme.font(text_pt()))  # TEXT_STYLE's size
        doc.setHtml(table)
        padding = 2 * 6 + 4  # the panel's padding, and a little air
        width = int(np.ceil(doc.idealWidth())) + padding
        self.multi_table.setFixedSize(width, int(np.ceil(doc.size().height())) + padding)
        available = self.softmax_bars.parentWidget().width() - 30
        beside = available - width >= PROSE_WIDTH
        self.multi_bottom.setDirection(QBoxLayout.Direction.LeftToRight if beside
                                       else QBoxLayout.Direction.TopToBottom)
        prose = QTextDocument()
        prose.setDefaultFont(theme.font(text_pt()))
        prose.setHtml(self.multi_text.text())
        prose.setTextWidth(max(available - width if beside else available, 100) - padding)
        height = int(np.ceil(prose.size().height())) + padding
        # The text may take at most half the tab's height: the bars are the picture. If
        # the prose under the table would pass that (large type in a small window), it
        # gives way; the table holds the same sums.
        room = self.softmax_bars.parentWidget().height() // 2
        below = 0 if beside else self.multi_table.height()
        shown = max(height, self.multi_table.height() if beside else 0) + below <= room
        self.multi_text.setVisible(shown)
        self.multi_text.setMinimumHeight(height if shown else 0)

    def clear_views(self) -> None:
        # Reset: back to the complete static picture of the current settings.
        self.preview()
