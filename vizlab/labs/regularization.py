"""The Regularization lab: none / L1 / L2 / elastic net fits of a line with outliers,
the weight matrices, the near-zero weights, the errors, and pruning what L1 cut off."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF
from PySide6.QtWidgets import (
    QApplication,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.experiments import regularization as experiment
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, Heatmap, theme
from vizlab.widgets._base import remember_base
from vizlab.widgets.layout_check import TextHeadroom
from vizlab.widgets.text import note_label

HELP = """
<p><b>Regularization lab.</b> A 1-10-10-10-1 network learns points on a straight line
that has a few outliers above it, by SGD on one point at a time, minimising a data loss
plus a penalty on its weights. Four kinds of networks, each trained five times from
different starting weights (all 20 at once):</p>
<ul>
<li><b>none</b>: no penalty;</li>
<li><b>L1</b> (lasso), lambda &middot; sum |w|: every step pulls each weight towards 0
by the same amount, so weights the data does not need end at (nearly) exactly 0 and
whole units disconnect;</li>
<li><b>L2</b> (ridge), lambda &middot; sum w<sup>2</sup>: the pull is proportional to
the weight, so all weights shrink together but few reach 0;</li>
<li><b>elastic net</b>: a mix of both (l1_ratio).</li>
</ul>
<p><b>Outliers: the data loss decides, not the penalty.</b> With data_loss = squared
(default), (prediction - y)<sup>2</sup>, a point's pull grows with its distance, so the
few outliers lift every fit towards them, penalised or not. With absolute,
|prediction - y| (the original experiment's cost), every point pulls with the same
force whatever its distance, so the many points on the line win and every fit ignores
the outliers. L1 and L2 on the weights decide something else: how many weights are
(near) zero and how large they are. The fits' <i>pull</i> is how far up towards the
outliers they pass at the outliers' x: 0% on the clean line, 100% through the
outliers.</p>
<p>Two tabs (the view setting picks one): <b>Fits and errors</b> shows what the data
loss does, <b>Weights and near-zero counts</b> what the penalty does. <b>Fits</b>: the
bold line of each kind is one run (shown_run), the faint ones the others; dashed, the
pruned L1 network retrained. <b>Total error</b>: the data loss summed over the points,
without the penalty (bars: the mean of the runs, dots: each run; <i>pruned</i>: the
pruned network retrained). <b>Weights</b>: the kernel of each layer of the kind chosen
in weights_of (rows: inputs, columns: units; white = 0). <b>Near-zero weights</b>: how
many kernel weights are below zero_threshold (&asymp; 0 in the matrices' titles). When
a network's weights are all within a hundred times the threshold, the count says more
about the threshold than about the network, and the lab says so ("all |w| &lt; 1e-2:
the count depends on the threshold"). <b>norm</b>: the root of the sum of the squared
kernel weights.</p>
<p><b>Diverged</b>: with too large a learning rate (try 1.0 with linear units) a
network's weights grow until its error overflows. Such a run is frozen and marked
"diverged at step N": its fit is no longer drawn, a cross stands for it in the errors,
and a kind whose runs all diverged gets a hatched bar.</p>
<p><b>Pruning</b>: after training, the units of one L1 run that have no input or no
output left are removed (a unit with no input is a constant: it goes into the next
layer's bias), which leaves the function unchanged; the smaller network is then
trained again from scratch, five times, and its errors are compared.</p>
<p>lambda is the original experiment's 0.3. With penalty_per = "data set" (default) it is added once
to the cost summed over the n points, so each one-point step carries lambda / n; with
"step", the whole of it at every step, strong enough to flatten every penalised
network. Plain SGD never lands exactly on 0: a weight L1 has zeroed jumps back and
forth by about lr &middot; lambda per step, so with a strong penalty raise
zero_threshold above that to count (and prune) such weights. lambda, l1_ratio, the
learning rate and the threshold apply while training; the rest (data_loss too) on
<b>Reset</b>.</p>
"""

# Okabe-Ito colours: told apart with every common colour-vision deficiency.
COLORS = {"none": "#555555", "l1": "#d55e00", "l2": "#0072b2", "elastic net": "#009e73"}
LABELS = {"none": "none", "l1": "L1", "l2": "L2", "elastic net": "elastic net"}
# Settings that only choose what is drawn (no new training needed).
DISPLAY_SETTINGS = ("weights_of", "shown_run", "view")
PRUNED_COLOR = "#cc79a7"  # the pruned network retrained: its fit and its error bar
DATA_COLOR = "#222222"
OUTLIER_COLOR = "#e69f00"
LOSS_WORDS = {"squared": "squared error", "absolute": "absolute error"}
# Weights all within this factor of the threshold: the near-zero count mostly measures
# where the threshold sits, and the lab says so.
SMALL_WEIGHTS_FACTOR = 100.0


def _faint(color: str, alpha: int = 70) -> pg.QtGui.QColor:
    c = pg.mkColor(color)
    c.setAlpha(alpha)
    return c


def _shapes(shapes) -> str:
    return "[" + ", ".join(f"({a},{b})" for a, b in shapes) + "]"


def diverged_text(steps: np.ndarray) -> str:
    """"diverged at step 7" or "diverged at steps 6-9" for the steps runs diverged at."""
    low, high = int(np.min(steps)), int(np.max(steps))
    return f"diverged at step {low}" if low == high else f"diverged at steps {low}-{high}"


def runs_summary(errors: np.ndarray, diverged_at: np.ndarray) -> str:
    """Mean error of the runs that did not diverge, and which did (never "nan")."""
    bad = diverged_at >= 0
    if bad.all():
        return f"all {len(bad)} runs {diverged_text(diverged_at)}"
    text = f"error {np.mean(errors[~bad]):.2f}"
    if bad.any():
        text += f" ({int(bad.sum())} of {len(bad)} runs {diverged_text(diverged_at[bad])})"
    return text


def small_weights_text(largest: float, threshold: float) -> str:
    """"all |w| < 1e-2: the count depends on the threshold" when every weight is within
    SMALL_WEIGHTS_FACTOR of the threshold (the bound is the next power of ten above the
    largest |w|), else ""."""
    if not np.isfinite(largest) or largest >= SMALL_WEIGHTS_FACTOR * threshold:
        return ""
    return f"all |w| &lt; 1e{_decade_above(largest)}: the count depends on the threshold"


def _decade_above(value: float) -> int:
    """The exponent of the smallest power of ten above `value` (> 0): 0.004 -> -2."""
    return int(np.floor(np.log10(value))) + 1 if value > 0 else -8


def pull_text(pulls: np.ndarray) -> str:
    """"19%" or "18-25%" for the fits' pull towards the outliers (shares of 1)."""
    low, high = (int(round(100 * v)) for v in (np.min(pulls), np.max(pulls)))
    return f"{low}%" if low == high else f"{low}-{high}%"


class View(LabView):
    lab_name = "regularization"
    help_html = HELP
    preview_on_change = True  # step 0 is a forward pass of 20 small networks

    # -- building ------------------------------------------------------------------------
    def build_views(self) -> Generator[None, None, QWidget]:  # a plot per turn in the app
        self.shown: experiment.Snapshot | None = None  # the snapshot on screen
        # The fits are the lesson: the largest panel, with a key of the kinds, the data
        # and the outliers. The faint lines (the other runs) stay out of the key.
        self.fit_plot = CurvePlot("Fits over the data", x_label="x", y_label="y")
        self.data_item = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(DATA_COLOR),
                                            pen=pg.mkPen("w", width=0.5), name="data")
        self.outlier_item = pg.ScatterPlotItem(size=10, symbol="t1",
                                               brush=pg.mkBrush(OUTLIER_COLOR),
                                               pen=pg.mkPen("k", width=0.5), name="outliers")
        self.fit_plot.plot_item.addItem(self.data_item)
        self.fit_plot.plot_item.addItem(self.outlier_item)
        self.faint_fits: dict[str, pg.PlotDataItem] = {}  # "l2 run 3": the other runs' fits
        self.lesson = note_label()
        yield

        # The title is a row of the grid of its own: a word-wrapped label in the same
        # widget as the heatmaps would make their height follow its height-for-width.
        self.weights_title = note_label()
        self.weights_box = QWidget()
        self.weights_grid = QGridLayout(self.weights_box)
        self.weights_grid.setContentsMargins(0, 0, 0, 0)
        self.weights_grid.setSpacing(2)
        self.heatmaps: list[Heatmap] = []

        self.zero_plot = CurvePlot("Near-zero weights", x_label="step", y_label="count")
        self.marked_count = -1  # the weight count the "all N" line marks (none yet)
        yield

        # The value labels are this lab's own, over each kind's highest run dot (the
        # BarPlot's would sit at the mean, on the dots).
        self.error_bars = BarPlot("Total error", y_label="data loss summed, no penalty",
                                  show_values=False)
        self.error_values: list[pg.TextItem] = []
        self._headroom = TextHeadroom(self.error_bars.plot_item)  # the labels whole
        self.error_dots = pg.ScatterPlotItem(size=6, brush=pg.mkBrush("k"),
                                             pen=pg.mkPen("w", width=0.5))
        self.error_bars.plot_item.addItem(self.error_dots)
        # Diverged runs: a cross each at the top; a kind whose runs all diverged: a hatched
        # bar, so that it is not simply missing.
        self.error_crosses = pg.ScatterPlotItem(size=11, symbol="x", brush=pg.mkBrush("k"),
                                                pen=pg.mkPen("k", width=1))
        self.error_bars.plot_item.addItem(self.error_crosses)
        self.diverged_bars = pg.BarGraphItem(x=[], height=[], width=0.7,
                                             brush=QBrush(QColor("#555555"),
                                                          Qt.BrushStyle.BDiagPattern),
                                             pen=pg.mkPen("#555555", width=1))
        self.error_bars.plot_item.addItem(self.diverged_bars)
        self.diverged_labels: list[pg.TextItem] = []
        yield

        self.prune_note = note_label()
        self.note = note_label()

        # Two tabs, one lesson each: the fits and their errors (outliers: the data loss
        # decides), the weights and their near-zero counts (sparsity: the penalty
        # decides). The run's numbers and the pruning sit under both.
        fits_page = QWidget()
        fits = QGridLayout(fits_page)
        fits.setContentsMargins(0, 0, 0, 0)
        # The lesson under the bars, beside the fits: under both it took the fits a
        # tenth of their height at 1024x640.
        fits.addWidget(self.fit_plot, 0, 0, 2, 1)
        fits.addWidget(self.error_bars, 0, 1)
        fits.addWidget(self.lesson, 1, 1)
        self.lesson.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        fits.setRowStretch(0, 1)
        fits.setColumnStretch(0, 3)  # the fits get the most room
        fits.setColumnStretch(1, 2)
        weights_page = QWidget()
        weights = QGridLayout(weights_page)
        weights.setContentsMargins(0, 0, 0, 0)
        weights.addWidget(self.weights_title, 0, 0, 1, 2)
        weights.addWidget(self.weights_box, 1, 0)
        weights.addWidget(self.zero_plot, 1, 1)
        weights.setRowStretch(1, 1)
        weights.setColumnStretch(0, 3)
        weights.setColumnStretch(1, 2)
        # The plots share what the notes leave by stretch alone (their size hints would
        # otherwise win when the window is small).
        for widget in (self.fit_plot, self.zero_plot, self.error_bars, self.weights_box):
            widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.tabs = QTabWidget()
        self.tabs.addTab(fits_page, "Fits and errors")
        self.tabs.addTab(weights_page, "Weights and near-zero counts")
        self.bind_tabs(self.tabs, experiment.TABS)
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.tabs, 1)
        column.addWidget(self.note)
        column.addWidget(self.prune_note)
        theme.on_theme_changed(self._restyle_notes)
        self._restyle_notes()
        return page

    def _notes(self) -> list[QLabel]:
        return [self.lesson, self.weights_title, self.note, self.prune_note]

    def _restyle_notes(self) -> None:
        """The notes in the theme's type: large in presentation mode like the plots'
        text (the application's font else), and in their short forms there."""
        font = (theme.font(theme.tick_pt() - 2) if theme.presentation()
                else QApplication.font())
        for label in self._notes():
            label.setFont(font)
        for label, texts in getattr(self, "_note_texts", {}).items():
            self._set_note(label, *texts)

    def _set_note(self, label: QLabel, full: str, short: str | None = None) -> None:
        """A note's text: in presentation mode its ``short`` form (none: hidden), so the
        plots keep the height (in large type the notes took a third of it at 1024x640),
        with the full text as the label's tooltip; else the full text."""
        if not hasattr(self, "_note_texts"):
            self._note_texts: dict[QLabel, tuple[str, str | None]] = {}
        self._note_texts[label] = (full, short)
        shown = short if theme.presentation() and short is not None else full
        label.setText(shown)
        label.setVisible(bool(shown))
        label.setToolTip(full if shown != full else "")

    def _ensure_heatmaps(self, count: int) -> Iterator[None]:
        """One heatmap per layer, created again only when the number of layers changes
        (a heatmap per turn of the event loop in the app)."""
        if len(self.heatmaps) == count:
            return
        for h in self.heatmaps:
            self.weights_grid.removeWidget(h)
            h.deleteLater()
        self.heatmaps = []
        columns = int(np.ceil(np.sqrt(count)))  # 4 layers: 2 x 2, near-square cells
        for i in range(count):
            h = Heatmap(f"layer {i + 1}", x_label="unit", y_label="input")
            self.weights_grid.addWidget(h, i // columns, i % columns)
            self.heatmaps.append(h)
            yield

    def _on_setting_changed(self, name: str, value: Any) -> None:
        # Display choices only pick what to show of the snapshot on screen: redraw it,
        # rather than let the base preview step 0 over a trained run.
        if name in DISPLAY_SETTINGS and self.timeline.items and self.shown is not None:
            if self.runner.is_active and self.run_config is not None:
                setattr(self.run_config, name, value)
            self._draw(self.shown)
            return
        super()._on_setting_changed(name, value)

    def clear_views(self) -> None:
        for name in self.zero_plot.curve_names():
            self.zero_plot.remove_curve(name)

    # -- drawing ---------------------------------------------------------------------------
    def shown_member(self, snap: experiment.Snapshot, method: str) -> int:
        run = min(int(self.config.shown_run), snap.runs - 1)
        return snap.methods.index(method) * snap.runs + run

    def draw(self, snap: experiment.Snapshot) -> Iterator[None]:
        # A panel at a time: the first snapshot with new layers makes heatmaps and a line
        # per run, too much for one turn of the event loop.
        self.shown = snap
        yield from self._ensure_heatmaps(len(snap.kernels))
        for draw_panel in (self._draw_fits, self._draw_lesson, self._draw_weights,
                           self._draw_zeros, self._draw_errors, self._draw_prune,
                           self._draw_note):
            draw_panel(snap)
            yield

    def _faint_fit(self, name: str, color: str) -> pg.PlotDataItem:
        """The thin line of one other run: no name, so it stays out of the key."""
        item = self.faint_fits.get(name)
        if item is None:
            item = pg.PlotDataItem(pen=pg.mkPen(_faint(color), width=1))
            item.setZValue(-1)
            self.fit_plot.plot_item.addItem(item)
            self.faint_fits[name] = item
        return item

    def _draw_fits(self, snap) -> None:
        plot = self.fit_plot
        keep = snap.outlier
        self.data_item.setData(snap.x[~keep], snap.y[~keep])
        self.outlier_item.setData(snap.x[keep], snap.y[keep])
        wanted, faint = set(), set()
        for m, method in enumerate(snap.methods):
            members = np.flatnonzero(snap.member_method == m)
            bold = self.shown_member(snap, method)
            for k in members:
                if k == bold or snap.diverged[k]:
                    continue  # a diverged run has no fit to draw
                name = f"{method} run {k - members[0]}"
                self._faint_fit(name, COLORS[method]).setData(snap.grid, snap.fits[k])
                faint.add(name)
            if not snap.diverged[bold]:
                plot.set_curve(LABELS[method], snap.grid, snap.fits[bold],
                               color=COLORS[method], width=2.5)
                wanted.add(LABELS[method])
        run = min(int(self.config.shown_run), snap.runs - 1)
        if snap.prune is not None and not snap.prune.retrain_diverged[run]:
            plot.set_curve("pruned, retrained", snap.grid, snap.prune.retrain_fits[run],
                           color=PRUNED_COLOR, width=2.5, style="dash")
            wanted.add("pruned, retrained")
        for name in plot.curve_names():
            if name not in wanted:
                plot.remove_curve(name)
        for name in list(self.faint_fits):
            if name not in faint:
                plot.plot_item.removeItem(self.faint_fits.pop(name))

    def _draw_lesson(self, snap) -> None:
        """What the fits show about the outliers, and where that comes from."""
        loss = LOSS_WORDS[snap.data_loss]
        ok = ~snap.diverged & np.isfinite(snap.outlier_pull)
        if not snap.outlier.any():
            seen = "there are no outliers (n_outliers = 0)"
        elif not ok.any():
            seen = "no run is left to fit them"
        else:
            seen = (f"at their x the fits are {pull_text(snap.outlier_pull[ok])} of the way "
                    f"up to them (0%: on the line)")
        other = "absolute" if snap.data_loss == "squared" else "squared"
        if snap.outlier.any() and ok.any():
            seen_short = f"the fits pass {pull_text(snap.outlier_pull[ok])} of the way up to them"
        else:
            seen_short = seen
        self._set_note(
            self.lesson,
            f"<b>Outliers</b>, {loss}: {seen}. Robustness to outliers comes from the data "
            f"loss (try {other}); L1/L2 on the weights decide how many are near 0 and how "
            f"large they are.",
            f"<b>Outliers</b>, {loss}: {seen_short}. The data loss decides that (try "
            f"{other}), not L1/L2.")

    def _draw_weights(self, snap) -> None:
        method = self.config.weights_of
        k = self.shown_member(snap, method)
        threshold = snap.threshold
        for i, (h, kernel) in enumerate(zip(self.heatmaps, snap.kernels)):
            w = kernel[k]
            zeros = int((np.abs(w) < threshold).sum())
            largest = float(np.abs(w).max())
            if small_weights_text(largest, threshold) and zeros < w.size:
                # The count says more about the threshold: give the weights' bound.
                h.set_title(f"layer {i + 1}: all &lt; 1e{_decade_above(largest)}")
            else:
                h.set_title(f"layer {i + 1}: {zeros} ≈ 0")
            h.set_data(w)
        if snap.diverged[k]:
            state = f", {diverged_text(snap.diverged_at[k:k + 1])}: its last weights"
        else:
            small = small_weights_text(float(snap.largest_weight[k]), threshold)
            state = f" ({small})" if small else ""
        self.weights_title.setText(
            f"<b>Kernel weights of the {LABELS[method]} network</b>, run {k % snap.runs}"
            f"{state} (white 0, red +, blue &minus;; &asymp; 0 and near 0: |w| &lt; "
            f"{threshold:g})")

    def _draw_zeros(self, snap) -> None:
        steps = snap.curves["step"]
        near = np.reshape(snap.curves["near_zero"], (len(steps), -1))
        for m, method in enumerate(snap.methods):
            mean = near[:, snap.member_method == m].mean(axis=1)
            self.zero_plot.set_curve(LABELS[method], steps, mean, color=COLORS[method])
        if snap.weight_count != self.marked_count:  # a new network shape: a new line
            self.zero_plot.clear_markers()
            self.zero_plot.add_marker(y=snap.weight_count, label=f"all {snap.weight_count}")
            self.marked_count = snap.weight_count
        # Counts against the whole: 0 to all the weights.
        self.zero_plot.plot_item.setYRange(-0.04 * snap.weight_count, snap.weight_count * 1.1,
                                           padding=0)

    def _draw_errors(self, snap) -> None:
        """Bars: the mean total error of each kind's runs, then (after training) the pruned
        network retrained; dots: each run; crosses: diverged runs; hatched bars: kinds
        whose runs all diverged. (The pruned network before retraining computes what the
        L1 run did: the pruning note gives its largest change, not a bar.)"""
        labels = ["none", "L1", "L2", "EN"]
        groups = [snap.total_error[snap.member_method == m] for m in range(len(snap.methods))]
        gone = [snap.diverged[snap.member_method == m] for m in range(len(snap.methods))]
        colors = [COLORS[m] for m in snap.methods]
        p = snap.prune
        if p is not None:
            labels.append("pruned")
            groups.append(p.retrain_errors)
            gone.append(p.retrain_diverged)
            colors.append(PRUNED_COLOR)
        means = [float(g[~bad].mean()) if not bad.all() else np.nan
                 for g, bad in zip(groups, gone)]
        self.error_bars.set_bars(labels, means, colors=colors)
        xs, ys, cross_x = [], [], []
        for i, (g, bad) in enumerate(zip(groups, gone)):
            offsets = (np.arange(len(g)) - (len(g) - 1) / 2) * 0.1
            xs.append(i + offsets[~bad])
            ys.append(g[~bad])
            cross_x.append(i + offsets[bad])
        dots = np.concatenate(ys)
        self.error_dots.setData(np.concatenate(xs), dots)
        self._place_error_values(means, ys)
        top = float(dots.max()) if dots.size else 0.0
        top = top * 1.12 if top > 0 else 1.0  # the labels' own room: TextHeadroom
        crosses = np.concatenate(cross_x)
        self.error_crosses.setData(crosses, np.full(len(crosses), 0.93 * top))
        whole = [i for i, bad in enumerate(gone) if bad.all()]
        self.diverged_bars.setOpts(x=np.array(whole, dtype=float),
                                   height=np.full(len(whole), 0.85 * top))
        # The word inside the hatched bar (on white), clear of the crosses above it.
        while len(self.diverged_labels) < len(whole):
            label = pg.TextItem("diverged", color="k", anchor=(0.5, 0.5),
                                fill=pg.mkBrush(255, 255, 255, 230))
            self.error_bars.plot_item.addItem(label)
            self.diverged_labels.append(label)
        for i, label in enumerate(self.diverged_labels):
            label.setVisible(i < len(whole))
            if i < len(whole):
                label.setPos(whole[i], 0.45 * top)
        self.error_bars.plot_item.setYRange(0, top, padding=0)

    def _place_error_values(self, means: list[float], ys: list[np.ndarray]) -> None:
        """Each bar's mean, written above the highest of its runs' dots (a dot's radius
        and a little more clear of it), or none when the labels would run together."""
        plot = self.error_bars.plot_item
        while len(self.error_values) < len(means):
            label = pg.TextItem("", color="k", anchor=(0.5, 1.0))
            label.setFont(theme.font(theme.tick_pt()))
            remember_base(label, pt=float(theme.TICK_PT))
            plot.addItem(label)
            self.error_values.append(label)
        texts = [f"{m:.1f}" if np.isfinite(m) else "" for m in means]
        metrics = QFontMetricsF(theme.font(theme.tick_pt()))
        vb = plot.vb
        (x0, x1), _ = vb.viewRange()
        slot = vb.width() / max(x1 - x0, 1e-9)
        fits = max((metrics.horizontalAdvance(t) for t in texts), default=0.0) + 4 <= slot
        for i, label in enumerate(self.error_values):
            shown = fits and i < len(texts) and bool(texts[i])
            label.setVisible(shown)
            if not shown:
                continue
            label.setText(texts[i])
            top = float(ys[i].max()) if ys[i].size else means[i]
            # Above the dot's top: the anchor lifts the text by its own height times this.
            dot = theme.marker_size(6) / 2 + 2
            label.setAnchor((0.5, 1.0 + dot / max(metrics.height(), 1.0)))
            label.setPos(float(i), top)

    def _draw_prune(self, snap) -> None:
        p = snap.prune
        if snap.prune_skipped:
            self._set_note(self.prune_note, f"<b>Pruning</b> skipped: {snap.prune_skipped}.")
            return
        source = snap.methods.index("l1") * snap.runs + int(self.config.prune_run)
        if p is None and self.config.prune and source < len(snap.diverged) \
                and snap.diverged[source]:
            self._set_note(
                self.prune_note,
                f"<b>Pruning</b>: L1 run {self.config.prune_run} "
                f"{diverged_text(snap.diverged_at[source:source + 1])}: it will not be pruned.")
            return
        if p is None:
            where = (f"after step {snap.train_steps}, L1 run {self.config.prune_run} "
                     "loses the units it disconnected and is trained again"
                     if self.config.prune else "off")
            # In large type nothing until there is something pruned to show.
            self._set_note(self.prune_note, f"<b>Pruning</b> {where}.", "")
            return
        self._set_note(
            self.prune_note,
            f"<b>Pruning</b> L1 run {p.source_member % snap.runs} (|w| &lt; {p.threshold:g}): "
            f"{_shapes(p.original_shapes)} &rarr; <b>{_shapes(p.pruned_shapes)}</b> "
            f"({sum(len(f) for f in p.folded)} constant units folded into the next bias; "
            f"predictions change by at most {p.max_prediction_change:.1e}, error "
            f"{p.pruned_error:.2f}). <b>pruned</b> bar: retrained from fresh weights "
            f"({p.retrain_method}, {len(p.retrain_errors)} runs), step {p.retrain_step} of "
            f"{p.retrain_steps}: {self._retrain_errors(p)}, against {p.unpruned_error:.2f} "
            f"unpruned.",
            f"<b>Pruning</b> L1 run {p.source_member % snap.runs}: "
            f"{_shapes(p.original_shapes)} &rarr; <b>{_shapes(p.pruned_shapes)}</b>; "
            f"<b>pruned</b> bar: retrained from fresh weights.")

    @staticmethod
    def _retrain_errors(p: experiment.PruneResult) -> str:
        ok = p.retrain_errors[~p.retrain_diverged]
        text = runs_summary(p.retrain_errors, p.retrain_diverged_at)
        if len(ok) > 1:
            text += f", runs {ok.min():.2f} to {ok.max():.2f}"
        return text

    def _draw_note(self, snap) -> None:
        parts = []
        for m, method in enumerate(snap.methods):
            sel = snap.member_method == m
            ok = sel & ~snap.diverged
            text = runs_summary(snap.total_error[sel], snap.diverged_at[sel])
            if ok.any():  # the words once, in the head: two lines, not three, at 1024x640
                text = text.removeprefix("error ")
                text += (f", {snap.weight_norm[ok].mean():.2f}, "
                         f"{snap.near_zero[ok].mean():.0f}")
                small = small_weights_text(float(np.max(snap.largest_weight[ok])),
                                           snap.threshold)
                if small:
                    text += f" ({small})"
            parts.append(
                f"<span style='color:{COLORS[method]}'><b>{LABELS[method]}</b></span> {text}")
        words = f"error, norm, near 0 of {snap.weight_count}"
        if not snap.diverged.any():
            means = f"Means of {snap.runs} runs ({words})"
        elif snap.diverged.all():
            means = "Every run diverged"
        else:
            means = f"Means of the runs that did not diverge ({words})"
        phase = {"train": "training", "retrain": "retraining the pruned network",
                 "done": "done"}[snap.phase]
        head = (f"Step {snap.step} (epoch "
                f"{min(snap.epoch, snap.train_steps / len(snap.x)):.1f}, {phase}), "
                f"lr {snap.learning_rate:g}, lambda {snap.lam:g}.")
        gone = int(snap.diverged.sum())
        self._set_note(
            self.note, f"{head} {means}: " + "; ".join(parts) + ".",
            # In large type the run's settings only (the bars give the errors), and
            # what diverged; each kind's numbers in the tooltip.
            head + (f" {gone} of {len(snap.diverged)} runs diverged." if gone else ""))
