"""The Activation lab: activation functions and their derivatives, vanishing gradients,
dying ReLUs and a softmax calculator, one tab each."""

from __future__ import annotations

import math
from collections.abc import Generator, Iterator

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.experiments import activations as experiment
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, theme
from vizlab.widgets.layout_check import AxisLabels, TextHeadroom
from vizlab.widgets.text import note_label
from vizlab.widgets.theme import GUIDE_COLOR, palette_color

HELP = """
<p><b>Activation lab.</b> Four views of the functions a unit applies to its input.</p>
<ul>
<li><b>Curves</b>: each activation f(x) (left) and its derivative f'(x) (right), four
of them at first (the buttons above the plots show all eleven, or type a list into
<i>functions</i>). The derivative lines come from the engine's reverse-mode
<code>gradients</code>; the dots are central differences (f(x+h) - f(x-h)) / 2h
through the engine, a check. The
sigmoid's derivative is at most 0.25, at x = 0. The grey dotted lines are leaky ReLU
with slope 0.01 and 1/5.5 (the better value Xu et al. found). RReLU draws a random
slope between 1/8 and 1/3 for every element in training (the shaded band and the
small crosses) and uses their mean at test time (the line).</li>
<li><b>Vanishing gradients</b>: an error signal arrives at the top of a stack of
layers and is back-propagated to the bottom; the plot shows how much of it reaches
each layer (log scale). Each sigmoid layer passes back at most a quarter of it.</li>
<li><b>Dying ReLU</b>: a small ReLU network learns a toy set with plain SGD. A unit
whose input is negative for every example outputs 0 and gets no gradient: it is
dead, for good. Raise the learning rate (it applies while training) and watch the
dead share climb. The sweep trains one network per learning rate and counts the dead
units at the end. Too high a rate makes a network diverge (its loss overflows): a
sweep network is then frozen and drawn as a cross at the top, and the live network
stops, its note saying at which step.</li>
<li><b>Softmax</b>: type logits (or click an example), set a temperature: the
probabilities sum to 1, the largest is the predicted class (its one-hot label on the
right). A high temperature flattens them towards uniform; a low one sharpens them
towards the one-hot.</li>
</ul>
<p>The curves, the stack and the softmax follow every setting at once; the learning
rate, batch size and steps apply while training; the network, data set and sweep
settings apply on <b>Reset</b>.</p>
"""

# One colour per activation, the same in every plot, no two alike: the palette has a
# colour for each of the 11.
COLORS = {name: palette_color(i) for i, name in enumerate(experiment.ACTIVATION_NAMES)}
REFERENCE_COLOR = GUIDE_COLOR  # the leaky-ReLU guide lines: grey, which no series uses
# The buttons over the curves: label -> the functions setting.
FUNCTION_CHOICES = {"relu, sigmoid, tanh, gelu": experiment.DEFAULT_FUNCTIONS,
                    f"all {len(experiment.ACTIVATION_NAMES)}": "all"}
HIGHLIGHT = "#d62728"
MUTED = "#9ecae1"


def _dots(plot: CurvePlot, name: str, x, y, color: str, symbol: str = "o", size: int = 6,
          legend: bool = False) -> pg.PlotDataItem:
    """Points without a line, created once as a named curve of the plot, then updated."""
    new = name not in plot.curve_names()
    item = plot.set_curve(name, x, y, color=color, width=1)
    if new:
        item.setPen(None)
        item.setSymbol(symbol)
        item.setSymbolSize(size)
        item.setSymbolBrush(pg.mkBrush(color))
        item.setSymbolPen(pg.mkPen(color) if symbol == "x" else pg.mkPen("w", width=0.5))
        legend_item = plot.plot_item.legend
        if not legend and legend_item is not None:
            legend_item.removeItem(item)
    return item


def diverged_steps(diverged_at: np.ndarray | None, members: np.ndarray) -> str:
    """", at step 12" or ", at steps 3-40" for these members ("" when not known)."""
    if diverged_at is None or not len(members):
        return ""
    low, high = int(diverged_at[members].min()), int(diverged_at[members].max())
    return f", at step {low}" if low == high else f", at steps {low}-{high}"


def _no_legend_for(plot: CurvePlot, item: pg.PlotDataItem) -> None:
    if plot.plot_item.legend is not None:
        plot.plot_item.legend.removeItem(item)


class View(LabView):
    lab_name = "activations"
    help_html = HELP
    preview_on_change = True

    # -- building ------------------------------------------------------------------------
    def build_views(self) -> Generator[None, None, QWidget]:  # a plot per turn in the app
        self._drawn_keys: dict[str, tuple] = {}
        self._headroom: list[TextHeadroom] = []  # bar plots' value labels kept whole
        self.tabs = QTabWidget()
        yield  # the attributes above exist once the view does
        # Each tab is built a plot per turn (a whole tab took up to 150 ms on a busy
        # machine).
        self.tabs.addTab((yield from self._build_curves()), "Curves")
        yield
        self.tabs.addTab((yield from self._build_vanishing()), "Vanishing gradients")
        yield
        self.tabs.addTab((yield from self._build_dying()), "Dying ReLU")
        yield
        self.tabs.addTab((yield from self._build_softmax()), "Softmax")
        yield
        self.bind_tabs(self.tabs, experiment.TABS)
        theme.on_theme_changed(self._restyle)
        self._restyle()
        return self.tabs

    def _restyle(self) -> None:
        """Presentation mode on or off: the notes, the softmax table and the buttons at
        the theme's text size (14 pt when presenting, the application's font else)."""
        font = (theme.font(theme.tick_pt() - 2) if theme.presentation()
                else QApplication.font())
        for widget in (*self.tabs.findChildren(QLabel), *self.tabs.findChildren(QPushButton)):
            widget.setFont(font)

    def _build_curves(self) -> Generator[None, None, QWidget]:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        choices = QHBoxLayout()
        choices.addWidget(QLabel("Show:"))
        self.function_buttons: dict[str, QPushButton] = {}
        for label, functions in FUNCTION_CHOICES.items():
            button = QPushButton(label)
            button.setToolTip(f"functions = {functions}")
            button.clicked.connect(
                lambda _=False, v=functions: self.apply_settings({"functions": v}))
            choices.addWidget(button)
            self.function_buttons[label] = button
        choices.addStretch(1)
        layout.addLayout(choices)
        row = QHBoxLayout()
        self.f_plot = CurvePlot("Activation f(x)", x_label="x", y_label="f(x)")
        yield
        legend = self.f_plot.plot_item.legend
        # Top left: above the flat negative halves, where no curve goes.
        legend.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(10, 10))
        legend.setColumnCount(2)
        self.df_plot = CurvePlot("Derivative f'(x)", x_label="x", y_label="f'(x)",
                                 legend=False)
        self.sigmoid_marker = self.df_plot.add_marker(y=0.25, label="sigmoid' ≤ 0.25",
                                                      color=COLORS["sigmoid"])
        self.sigmoid_marker.label.setPosition(0.75)
        self.band_fill: pg.FillBetweenItem | None = None
        row.addWidget(self.f_plot, 1)
        row.addWidget(self.df_plot, 1)
        layout.addLayout(row, 1)
        self.curves_note = note_label()
        layout.addWidget(self.curves_note)
        return page

    def _build_vanishing(self) -> Generator[None, None, QWidget]:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self.vanishing_plot = CurvePlot(
            "Gradient reaching each layer", x_label="layer (1 = next to the input)",
            y_label="gradient norm", log_y=True)
        legend = self.vanishing_plot.plot_item.legend
        legend.anchor(itemPos=(1, 1), parentPos=(1, 1), offset=(-10, -10))
        legend.setColumnCount(2)
        yield
        self.shrink_bars = BarPlot("Share of the gradient passed down, per layer",
                                   y_label="norm ratio l / l+1", value_format="{:.3f}")
        self._headroom.append(TextHeadroom(self.shrink_bars.plot_item))
        self._shrink_label = AxisLabels(
            (self.shrink_bars.plot_item, "norm ratio l / l+1", "ratio"))
        # Unlabelled (a label would sit on a bar): the note below names it.
        self.quarter_line = pg.InfiniteLine(
            pos=0.25, angle=0, movable=False,
            pen=pg.mkPen(COLORS["sigmoid"], width=1.5, style=Qt.PenStyle.DashLine))
        self.shrink_bars.plot_item.addItem(self.quarter_line, ignoreBounds=True)
        layout.addWidget(self.vanishing_plot, 3)
        layout.addWidget(self.shrink_bars, 2)
        self.vanishing_note = note_label()
        layout.addWidget(self.vanishing_note)
        return page

    def _build_dying(self) -> Generator[None, None, QWidget]:
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        self.dead_plot = CurvePlot("Dead ReLUs while training", x_label="step",
                                   y_label="share of the layer's units")
        self.dead_plot.plot_item.setYRange(0, 1)  # a share: keep 0..1 so 0 reads as none
        self.dead_plot.plot_item.enableAutoRange(y=False)
        yield
        self.loss_plot = CurvePlot("Loss on the whole set", x_label="step",
                                   y_label="cross-entropy", log_y=True)
        yield
        self.sweep_plot = CurvePlot("Dead after training, by rate",
                                    x_label="learning rate (log scale)",
                                    y_label="share of units dead")
        self.sweep_plot.plot_item.setLogMode(x=True)
        # Fixed ticks: 1, 2 and 5 times a power of ten written, the other digits marked
        # only (in large type pyqtgraph wrote 0.02 … 0.09 all, run together).
        self.sweep_plot.plot_item.getAxis("bottom").setTicks(_log_rate_ticks())
        # Short y labels in large type (these plots are about 200 pixels tall).
        self._axis_labels = AxisLabels(
            (self.dead_plot.plot_item, "share of the layer's units", "share dead"),
            (self.sweep_plot.plot_item, "share of units dead", "share dead"))
        self.sweep_plot.plot_item.setYRange(0, 1)
        self.sweep_plot.plot_item.enableAutoRange(y=False)
        self.sweep_plot.plot_item.legend.anchor(itemPos=(0, 0), parentPos=(0, 0),
                                                offset=(10, 10))
        self.lr_marker = self.sweep_plot.add_marker(x=0.0, label="live rate", color="#333333")
        # Diverged sweep networks: crosses at the top (PlotDataItems follow the log x).
        self.sweep_crosses = self.sweep_plot.plot_item.plot(
            [], [], pen=None, symbol="x", symbolSize=11, symbolPen=pg.mkPen("k", width=1.5),
            symbolBrush=None)
        _no_legend_for(self.sweep_plot, self.sweep_crosses)
        yield
        self.dead_bars = BarPlot("Dead now, per layer", y_label="share of units",
                                 value_format="{:.0%}")
        self._headroom.append(TextHeadroom(self.dead_bars.plot_item))
        grid.addWidget(self.dead_plot, 0, 0)
        grid.addWidget(self.sweep_plot, 0, 1)
        grid.addWidget(self.loss_plot, 1, 0)
        grid.addWidget(self.dead_bars, 1, 1)
        self.dying_note = note_label()
        grid.addWidget(self.dying_note, 2, 0, 1, 2)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        return page

    def _build_softmax(self) -> Generator[None, None, QWidget]:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        presets = QHBoxLayout()
        presets.addWidget(QLabel("Examples:"))
        self.preset_buttons: dict[str, QPushButton] = {}
        for label, logits in experiment.SOFTMAX_PRESETS.items():
            button = QPushButton(label)
            button.setToolTip(f"logits = {logits}")
            button.clicked.connect(lambda _=False, v=logits: self.apply_settings({"logits": v}))
            presets.addWidget(button)
            self.preset_buttons[label] = button
        presets.addStretch(1)
        layout.addLayout(presets)
        grid = QGridLayout()
        self.logit_bars = BarPlot("Logits z", x_label="class", y_label="score",
                                  value_format="{:.3g}", color=MUTED)
        yield
        self.prob_bars = BarPlot("softmax(z / T)", x_label="class", y_label="probability",
                                 value_format="{:.3f}")
        yield
        self.onehot_bars = BarPlot("One-hot of argmax", x_label="class",
                                   y_label="target", value_format="{:.0f}")
        self._headroom += [TextHeadroom(bars.plot_item) for bars in
                           (self.logit_bars, self.prob_bars, self.onehot_bars)]
        yield
        self.temperature_plot = CurvePlot("Probabilities against temperature",
                                          x_label="temperature T (log scale)",
                                          y_label="probability")
        self.temperature_plot.plot_item.setLogMode(x=True)
        self.temperature_marker = self.temperature_plot.add_marker(x=0.0, label="T",
                                                                   color="#333333")
        self.softmax_table = note_label()
        self.softmax_table.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        grid.addWidget(self.logit_bars, 0, 0)
        grid.addWidget(self.prob_bars, 0, 1)
        grid.addWidget(self.onehot_bars, 0, 2)
        grid.addWidget(self.temperature_plot, 1, 0, 1, 2)
        grid.addWidget(self.softmax_table, 1, 2)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        # The probabilities are the point: their bars (and value labels) get the room.
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 2)
        layout.addLayout(grid, 1)
        return page

    # -- drawing ---------------------------------------------------------------------------
    def draw(self, snap: experiment.Snapshot) -> Iterator[None]:
        # The static parts are the same in every snapshot of a run until one of their
        # settings changes: redraw them only then (drawing them all costs ~10 ms a frame).
        for part, draw_part in (("curves", self._draw_curves),
                                ("vanishing", self._draw_vanishing),
                                ("softmax", self._draw_softmax)):
            key = snap.static_keys[part]
            if self._drawn_keys.get(part) != key:
                draw_part(snap)
                self._drawn_keys[part] = key
                yield
        self._draw_dying(snap)

    def _draw_curves(self, snap) -> None:
        shown = [c.name for c in snap.activations]
        keep = set(shown) | {f"{n} numerical" for n in shown}
        if "rrelu" in shown:
            keep |= {"rrelu training draws", "rrelu slope 1/8", "rrelu slope 1/3"}
        if "leaky_relu" in shown:
            keep |= set(snap.references)
        for plot in (self.f_plot, self.df_plot):
            for name in plot.curve_names():
                if name not in keep:
                    plot.remove_curve(name)
        if "rrelu" not in shown and self.band_fill is not None:
            self.f_plot.plot_item.removeItem(self.band_fill)
            self.band_fill = None

        for curve in snap.activations:
            color = COLORS[curve.name]
            self.f_plot.set_curve(curve.name, curve.x, curve.y, color=color)
            self.df_plot.set_curve(curve.name, curve.x, curve.dy, color=color)
            _dots(self.df_plot, f"{curve.name} numerical", curve.check_x, curve.check_numerical,
                  color)
        if "leaky_relu" in shown:
            x = snap.activations[0].x
            for label, y in snap.references.items():
                # Only the negative side differs from ReLU: draw just that part.
                new = label not in self.f_plot.curve_names()
                item = self.f_plot.set_curve(label, x, np.where(x <= 0, y, np.nan),
                                             color=REFERENCE_COLOR, width=1.5, style="dot")
                if new:
                    item.setZValue(-1)
        if "rrelu" in shown:
            self._draw_rrelu(snap.rrelu)
        self.sigmoid_marker.setVisible("sigmoid" in shown)

        worst = max(snap.activations, key=lambda c: c.max_check_error)
        band = snap.rrelu
        peak_x, peak = snap.sigmoid_peak
        parts = [
            f"sigmoid'(0) = <b>{snap.sigmoid_grad_at_zero:.7f}</b>, the largest on the grid "
            f"is {peak:.7f} at x = {peak_x:.3g}: each sigmoid layer passes back at most a "
            "quarter of the error."]
        if "rrelu" in shown:
            parts.append(f"RReLU: training slopes in [{band.lower:.4g}, {band.upper:.4g}], "
                         f"test slope <b>{band.test_slope:.6g}</b> = (lower + upper) / 2.")
        parts.append(f"f'(x): lines by en.gradients, dots by central differences; they "
                     f"differ by at most {worst.max_check_error:.1e} ({worst.name}).")
        self.curves_note.setText(" &nbsp; ".join(parts))

    def _draw_rrelu(self, band) -> None:
        color = COLORS["rrelu"]
        new = "rrelu slope 1/8" not in self.f_plot.curve_names()
        low = self.f_plot.set_curve("rrelu slope 1/8", band.x, band.y_lower, color=color,
                                    width=1, style="dash")
        high = self.f_plot.set_curve("rrelu slope 1/3", band.x, band.y_upper, color=color,
                                     width=1, style="dash")
        if new:
            _no_legend_for(self.f_plot, low)
            _no_legend_for(self.f_plot, high)
            fill = pg.mkColor(color)
            fill.setAlpha(50)
            self.band_fill = pg.FillBetweenItem(low, high, brush=pg.mkBrush(fill))
            self.f_plot.plot_item.addItem(self.band_fill)
        _dots(self.f_plot, "rrelu training draws", band.sample_x, band.sample_y, color,
              symbol="x", size=6, legend=True)
        _dots(self.df_plot, "rrelu training draws", band.sample_x, band.sample_dy, color,
              symbol="x", size=6)

    def _draw_vanishing(self, snap) -> None:
        van = snap.vanishing
        for name in self.vanishing_plot.curve_names():
            if name not in van.norms:
                self.vanishing_plot.remove_curve(name)
        for name, norms in van.norms.items():
            new = name not in self.vanishing_plot.curve_names()
            item = self.vanishing_plot.set_curve(name, van.depth, norms, color=COLORS[name])
            if new:
                item.setSymbol("o")
                item.setSymbolSize(6)
                item.setSymbolBrush(pg.mkBrush(COLORS[name]))
                item.setSymbolPen(pg.mkPen("w", width=0.5))
        names = list(van.shrink)
        self.shrink_bars.set_bars(names, [van.shrink[n] for n in names],
                                  colors=[COLORS[n] for n in names])
        parts = []
        if "sigmoid" in van.norms and len(van.depth) > 1:
            n = van.norms["sigmoid"]
            parts.append(
                f"sigmoid keeps <b>{van.shrink['sigmoid']:.3f}</b> of the gradient per layer: "
                f"of what arrives at layer {len(n)}, a share of {n[0] / n[-1]:.2e} reaches "
                f"layer 1.")
        self.vanishing_note.setText(
            f"{len(van.depth)} Dense layers of {van.width} units ({van.initializer}) on a "
            "random input batch; the same random error signal arrives at the top layer for "
            "every activation and en.gradients carries it down. The dashed line is 0.25, "
            "the most a sigmoid layer can pass back. " + " ".join(parts))

    def _draw_dying(self, snap) -> None:
        hist = snap.curves
        steps = hist["step"]
        labels = [f"layer {i + 1}" for i in range(len(snap.layer_names))]
        for plot in (self.dead_plot, self.sweep_plot):
            for name in plot.curve_names():
                if name not in labels and name != "all hidden units":
                    plot.remove_curve(name)
        # History keeps a one-layer network's column 1-D: make it (steps, layers) again.
        dead = np.reshape(hist["dead"], (len(steps), -1))
        for i, label in enumerate(labels):
            self.dead_plot.set_curve(label, steps, dead[:, i],
                                     color=palette_color(i))
        self.dead_plot.set_curve("all hidden units", steps, hist["dead_total"], color="#000000",
                                 style="dash")
        self.loss_plot.set_curve("loss", steps, hist["loss"], color=palette_color(0))

        sweep = snap.sweep
        for i, label in enumerate(labels):
            self._line_with_points(self.sweep_plot, label, sweep.rates, sweep.dead[:, i],
                                   palette_color(i), width=1.5)
        self._line_with_points(self.sweep_plot, "all hidden units", sweep.rates,
                               sweep.dead_total, "#000000", width=3)
        bad = sweep.diverged
        self.sweep_crosses.setData(sweep.rates[bad], np.full(int(bad.sum()), 0.97))
        self.lr_marker.setValue(math.log10(snap.learning_rate))
        self.lr_marker.label.setFormat(f"live rate {snap.learning_rate:g}")

        self.dead_bars.set_bars([*labels, "all"], [*snap.dead_fractions, snap.dead_total],
                                colors=[*(palette_color(i) for i in range(len(labels))),
                                        "#000000"])
        self.dying_note.setText(self._live_text(snap) + " " + self._sweep_text(sweep))

    @staticmethod
    def _live_text(snap) -> str:
        if snap.diverged_at is not None:
            return (f"Step {snap.step}, learning rate {snap.learning_rate:g}: the network "
                    f"<b>diverged at step {snap.diverged_at}</b> (its loss overflowed) and "
                    "training stopped; lower the learning rate and press Reset.")
        return (f"Step {snap.step}, learning rate {snap.learning_rate:g}: loss "
                f"{snap.loss:.4f}, accuracy {snap.accuracy:.1%}, <b>{snap.dead_total:.0%}</b> "
                "of the hidden units dead.")

    @staticmethod
    def _sweep_text(sweep) -> str:
        ok = np.flatnonzero(~sweep.diverged)
        text = (f"Sweep ({len(sweep.rates)} networks from the same start, {sweep.steps} SGD "
                "steps each): ")
        if ok.size:
            first, top = ok[0], ok[np.argmax(sweep.dead_total[ok])]
            text += (f"{sweep.dead_total[first]:.0%} dead at rate {sweep.rates[first]:.3g}, "
                     f"{sweep.dead_total[top]:.0%} at {sweep.rates[top]:.3g}")
        else:
            text += "every network diverged"
        bad = np.flatnonzero(sweep.diverged)
        if bad.size:
            text += (f"; {bad.size} diverged (rates from {sweep.rates[bad].min():.3g}"
                     + diverged_steps(sweep.diverged_at, bad) + ") and were frozen: "
                     "crosses at the top")
        return text + "."

    @staticmethod
    def _line_with_points(plot: CurvePlot, name: str, x, y, color: str, width: float) -> None:
        if not np.isfinite(y).any():  # every network diverged: nothing to draw, no NaN bounds
            x, y = x[:0], y[:0]
        new = name not in plot.curve_names()
        item = plot.set_curve(name, x, y, color=color, width=width)
        if new:
            item.setSymbol("o")
            item.setSymbolSize(7)
            item.setSymbolBrush(pg.mkBrush(color))
            item.setSymbolPen(pg.mkPen("w", width=0.5))

    def _draw_softmax(self, snap) -> None:
        soft = snap.softmax
        classes = [str(i) for i in range(len(soft.logits))]
        self.logit_bars.set_bars(classes, soft.logits)
        colors = [HIGHLIGHT if i == soft.argmax else MUTED for i in range(len(classes))]
        self.prob_bars.set_bars(classes, soft.probabilities, colors=colors)
        self.onehot_bars.set_bars(classes, soft.one_hot, colors=colors)
        theme.set_title(self.prob_bars.plot_item, f"softmax(z / T), T = {soft.temperature:g}")

        for name in self.temperature_plot.curve_names():
            if int(name.split()[-1]) >= len(classes):
                self.temperature_plot.remove_curve(name)
        # Many classes: a wider, shorter legend, kept in the top right (above 1/classes).
        self.temperature_plot.plot_item.legend.setColumnCount(max(1, math.ceil(len(classes) / 6)))
        for i in range(len(classes)):
            self.temperature_plot.set_curve(f"class {i}", soft.temperatures,
                                            soft.probabilities_vs_temperature[:, i],
                                            color=palette_color(i))
        self.temperature_marker.setValue(math.log10(soft.temperature))
        self.temperature_marker.label.setFormat(f"T = {soft.temperature:g}")

        rows = "".join(
            f"<tr><td>{i}</td><td align='right'>{z:g}</td>"
            f"<td align='right'>{'<b>' if i == soft.argmax else ''}{p:.8f}"
            f"{'</b>' if i == soft.argmax else ''}</td>"
            f"<td align='center'>{int(t)}</td></tr>"
            for i, (z, p, t) in enumerate(zip(soft.logits, soft.probabilities, soft.one_hot))
        )
        self.softmax_table.setText(
            "<table cellspacing='0' cellpadding='2'>"
            "<tr><th>class</th><th>z</th><th>probability</th><th>one-hot</th></tr>"
            f"{rows}<tr><td colspan='2'>sum</td>"
            f"<td align='right'>{float(np.sum(soft.probabilities)):.8f}</td><td></td></tr>"
            f"</table><p>argmax = class <b>{soft.argmax}</b></p>"
        )

    def clear_views(self) -> None:
        # A new run starts from step 0: show its first snapshot (every static part) now.
        if not self.runner.is_active:
            self.preview()


def _log_rate_ticks() -> list[list[tuple[float, str]]]:
    """Ticks of a log10 learning-rate axis (1e-6 to 100): 1, 2 and 5 times each power of
    ten with their numbers, the other digits as unlabelled minor ticks."""
    major, minor = [], []
    for exponent in range(-6, 3):
        for digit in range(1, 10):
            value = digit * 10.0 ** exponent
            place = math.log10(value)
            if digit in (1, 2, 5):
                major.append((place, f"{value:g}"))
            else:
                minor.append((place, ""))
    return [major, minor]
