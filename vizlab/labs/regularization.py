"""The Regularization lab: none / L1 / L2 / elastic net fits of a line with outliers,
the weight matrices, the near-zero weights, the errors, and pruning what L1 cut off."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QVBoxLayout, QWidget

from engine.experiments import regularization as experiment
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, Heatmap
from vizlab.widgets.text import note_label

HELP = """
<p><b>Regularization lab.</b> A 1-10-10-10-1 network learns points on a straight line
that has a few outliers above it, by SGD on one point at a time, minimising
|prediction - y| plus a penalty on its weights. Four kinds of networks, each trained
five times from different starting weights (all 20 at once):</p>
<ul>
<li><b>none</b>: no penalty;</li>
<li><b>L1</b> (lasso), lambda &middot; sum |w|: every step pulls each weight towards 0
by the same amount, so weights the data does not need end at (nearly) exactly 0 and
whole units disconnect;</li>
<li><b>L2</b> (ridge), lambda &middot; sum w<sup>2</sup>: the pull is proportional to
the weight, so all weights shrink together but few reach 0;</li>
<li><b>elastic net</b>: a mix of both (l1_ratio).</li>
</ul>
<p><b>Fits</b>: the bold line of each kind is one run (shown_run), the faint ones the
others. <b>Weights</b>: the kernel of each layer of the kind chosen in weights_of
(rows: inputs, columns: units; white = 0). <b>Near-zero weights</b>: how many kernel
weights are below the threshold. <b>Total error</b>: sum |prediction - y| over the
points, without the penalty (bars: the mean of the runs, dots: each run).</p>
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
zero_threshold above that to count (and prune) such weights. lambda, l1_ratio, the learning rate and the threshold apply while training;
the rest on <b>Reset</b>.</p>
"""

COLORS = {"none": "#555555", "l1": "#d62728", "l2": "#1f77b4", "elastic net": "#2ca02c"}
LABELS = {"none": "none", "l1": "L1", "l2": "L2", "elastic net": "elastic net"}
# Settings that only choose what is drawn (no new training needed).
DISPLAY_SETTINGS = ("weights_of", "shown_run")
PRUNED_COLOR = "#9467bd"
DATA_COLOR = "#222222"
OUTLIER_COLOR = "#ff7f0e"


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


class View(LabView):
    lab_name = "regularization"
    help_html = HELP
    preview_on_change = True  # step 0 is a forward pass of 20 small networks

    # -- building ------------------------------------------------------------------------
    def build_views(self) -> QWidget:
        self.shown: experiment.Snapshot | None = None  # the snapshot on screen
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        # No legend of its own: the outliers sit where one would go, and the near-zero
        # plot's key and the coloured error bars name the same colours.
        self.fit_plot = CurvePlot("Fits over the data", x_label="x",
                                  y_label="y (dashed: pruned L1, retrained)", legend=False)
        self.data_item = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(DATA_COLOR),
                                            pen=pg.mkPen("w", width=0.5))
        self.outlier_item = pg.ScatterPlotItem(size=10, symbol="t1",
                                               brush=pg.mkBrush(OUTLIER_COLOR),
                                               pen=pg.mkPen("k", width=0.5))
        self.fit_plot.plot_item.addItem(self.data_item)
        self.fit_plot.plot_item.addItem(self.outlier_item)

        self.weights_box = QWidget()
        box = QVBoxLayout(self.weights_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.weights_title = note_label()
        box.addWidget(self.weights_title)
        self.weights_row = QHBoxLayout()
        self.weights_row.setSpacing(2)
        box.addLayout(self.weights_row, 1)
        self.heatmaps: list[Heatmap] = []

        self.zero_plot = CurvePlot("Near-zero weights", x_label="step",
                                   y_label="weights with |w| < threshold")
        self.zero_plot.plot_item.legend.anchor(itemPos=(0, 0), parentPos=(0, 0), offset=(8, 8))
        self.total_marker = self.zero_plot.add_marker(y=0.0, label="all weights")
        self.total_marker.label.setPosition(0.8)  # clear of the key at the top left

        self.error_bars = BarPlot("Total error",
                                  y_label="sum |pred - y|, no penalty",
                                  value_format="{:.2f}")
        self.error_dots = pg.ScatterPlotItem(size=7, brush=pg.mkBrush("k"),
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

        self.prune_note = note_label()

        grid.addWidget(self.fit_plot, 0, 0)
        grid.addWidget(self.zero_plot, 0, 1)
        grid.addWidget(self.error_bars, 0, 2)
        grid.addWidget(self.weights_box, 1, 0, 1, 3)
        grid.addWidget(self.prune_note, 2, 0, 1, 3)
        self.note = note_label()
        grid.addWidget(self.note, 3, 0, 1, 3)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)
        for col, stretch in enumerate((3, 3, 4)):
            grid.setColumnStretch(col, stretch)
        return page

    def _ensure_heatmaps(self, count: int) -> None:
        """One heatmap per layer, created again only when the number of layers changes."""
        if len(self.heatmaps) == count:
            return
        for h in self.heatmaps:
            self.weights_row.removeWidget(h)
            h.deleteLater()
        self.heatmaps = []
        for i in range(count):
            h = Heatmap(f"layer {i + 1}", x_label="unit", y_label="input")
            self.weights_row.addWidget(h, 1)
            self.heatmaps.append(h)

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

    def draw(self, snap: experiment.Snapshot) -> None:
        self.shown = snap
        self._draw_fits(snap)
        self._draw_weights(snap)
        self._draw_zeros(snap)
        self._draw_errors(snap)
        self._draw_prune(snap)
        self._draw_note(snap)

    def _draw_fits(self, snap) -> None:
        plot = self.fit_plot
        keep = snap.outlier
        self.data_item.setData(snap.x[~keep], snap.y[~keep])
        self.outlier_item.setData(snap.x[keep], snap.y[keep])
        wanted = set()
        for m, method in enumerate(snap.methods):
            members = np.flatnonzero(snap.member_method == m)
            bold = self.shown_member(snap, method)
            for k in members:
                if k == bold or snap.diverged[k]:
                    continue  # a diverged run has no fit to draw
                name = f"{method} run {k - members[0]}"
                new = name not in plot.curve_names()
                item = plot.set_curve(name, snap.grid, snap.fits[k], color=COLORS[method],
                                      width=1)
                if new:
                    item.setPen(pg.mkPen(_faint(COLORS[method]), width=1))
                    item.setZValue(-1)
                wanted.add(name)
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

    def _draw_weights(self, snap) -> None:
        self._ensure_heatmaps(len(snap.kernels))
        method = self.config.weights_of
        k = self.shown_member(snap, method)
        threshold = snap.threshold
        for i, (h, kernel) in enumerate(zip(self.heatmaps, snap.kernels)):
            w = kernel[k]
            zeros = int((np.abs(w) < threshold).sum())
            h.set_data(w)
            h.set_title(f"layer {i + 1}: {zeros} near 0")
        state = (f", {diverged_text(snap.diverged_at[k:k + 1])}: its last weights"
                 if snap.diverged[k] else "")
        self.weights_title.setText(
            f"<b>Kernel weights of the {LABELS[method]} network</b>, run "
            f"{k % snap.runs}{state} (rows: inputs, columns: units; white: 0, red: positive, blue: "
            f"negative; each matrix coloured to its own largest |w|)")

    def _draw_zeros(self, snap) -> None:
        steps = snap.curves["step"]
        near = np.reshape(snap.curves["near_zero"], (len(steps), -1))
        for m, method in enumerate(snap.methods):
            mean = near[:, snap.member_method == m].mean(axis=1)
            self.zero_plot.set_curve(LABELS[method], steps, mean, color=COLORS[method])
        self.total_marker.setValue(snap.weight_count)
        # Counts against the whole: 0 to all the weights.
        self.zero_plot.plot_item.setYRange(-0.04 * snap.weight_count, snap.weight_count * 1.1,
                                           padding=0)
        self.total_marker.label.setFormat(f"all {snap.weight_count} weights")

    def _draw_errors(self, snap) -> None:
        """Bars: the mean total error of each kind's runs, then (after training) the pruned
        L1 run before retraining and the retrained pruned network; dots: each run; crosses:
        diverged runs; hatched bars: kinds whose runs all diverged."""
        labels = [LABELS[m].replace(" net", "") for m in snap.methods]
        groups = [snap.total_error[snap.member_method == m] for m in range(len(snap.methods))]
        gone = [snap.diverged[snap.member_method == m] for m in range(len(snap.methods))]
        colors = [COLORS[m] for m in snap.methods]
        p = snap.prune
        if p is not None:
            labels += ["pruned", "retrained"]
            groups += [np.array([p.pruned_error]), p.retrain_errors]
            gone += [np.zeros(1, dtype=bool), p.retrain_diverged]
            colors += [_faint(PRUNED_COLOR, 140), PRUNED_COLOR]
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
        top = float(dots.max()) if dots.size else 0.0
        top = top * 1.15 if top > 0 else 1.0
        crosses = np.concatenate(cross_x)
        self.error_crosses.setData(crosses, np.full(len(crosses), 0.93 * top))
        whole = [i for i, bad in enumerate(gone) if bad.all()]
        self.diverged_bars.setOpts(x=np.array(whole, dtype=float),
                                   height=np.full(len(whole), 0.85 * top))
        while len(self.diverged_labels) < len(whole):
            label = pg.TextItem("diverged", color="k", anchor=(0.5, 1.0))
            self.error_bars.plot_item.addItem(label)
            self.diverged_labels.append(label)
        for i, label in enumerate(self.diverged_labels):
            label.setVisible(i < len(whole))
            if i < len(whole):
                label.setPos(whole[i], 0.85 * top)
        self.error_bars.plot_item.setYRange(0, top, padding=0)

    def _draw_prune(self, snap) -> None:
        p = snap.prune
        if snap.prune_skipped:
            self.prune_note.setText(f"<b>Pruning</b> skipped: {snap.prune_skipped}.")
            return
        source = snap.methods.index("l1") * snap.runs + int(self.config.prune_run)
        if p is None and self.config.prune and source < len(snap.diverged) \
                and snap.diverged[source]:
            self.prune_note.setText(
                f"<b>Pruning</b>: L1 run {self.config.prune_run} "
                f"{diverged_text(snap.diverged_at[source:source + 1])}: it will not be pruned.")
            return
        if p is None:
            where = (f"after training (step {snap.train_steps}), the units L1 run "
                     f"{self.config.prune_run} disconnected are removed and the smaller "
                     "network is trained again" if self.config.prune else "pruning is off")
            self.prune_note.setText(f"<b>Pruning</b>: {where}.")
            return
        kept = ", ".join(str(len(k)) for k in p.kept)
        self.prune_note.setText(
            f"<b>Pruning</b> L1 run {p.source_member % snap.runs} (|w| &lt; {p.threshold:g}): "
            f"kernels {_shapes(p.original_shapes)} &rarr; <b>{_shapes(p.pruned_shapes)}</b>; "
            f"hidden units kept: {kept}; {sum(len(f) for f in p.folded)} removed as "
            f"constants into the next bias. Largest change of a prediction by pruning: "
            f"{p.max_prediction_change:.1e}. Retraining ({p.retrain_method}, fresh weights, "
            f"{len(p.retrain_errors)} runs): step {p.retrain_step} of {p.retrain_steps}; "
            f"{self._retrain_errors(p)} against {p.unpruned_error:.2f} unpruned."
        )

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
            if ok.any():
                text += (f", |w| {snap.weight_norm[ok].mean():.2f}, "
                         f"{snap.near_zero[ok].mean():.0f}/{snap.weight_count} near 0")
            parts.append(
                f"<span style='color:{COLORS[method]}'><b>{LABELS[method]}</b></span>: {text}")
        if not snap.diverged.any():
            means = f"Means of {snap.runs} runs"
        elif snap.diverged.all():
            means = "Every run diverged"
        else:
            means = "Means of the runs that did not diverge"
        phase = {"train": "training", "retrain": "retraining the pruned network",
                 "done": "done"}[snap.phase]
        self.note.setText(
            f"Step {snap.step} (epoch {min(snap.epoch, snap.train_steps / len(snap.x)):.1f}, "
            f"{phase}), lr {snap.learning_rate:g}, lambda {snap.lam:g}. {means}: "
            + "; ".join(parts) + ". (|w|: root of the sum of the "
            "squared kernel weights.)")
