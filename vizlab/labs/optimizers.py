"""The Optimizer lab: loss and accuracy against the learning rate for Adam, Adadelta,
Adagrad and SGD, with and without dropout, and the loss over steps of each one's best rate."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QWidget

from engine.experiments import optimizers as experiment
from vizlab.labs.base import LabView
from vizlab.widgets import CurvePlot
from vizlab.widgets.text import note_label

HELP = """
<p><b>Optimizer lab.</b> The same small classifier (47 classes of 28x28 glyphs, or
EMNIST balanced if you point it at the IDX files) is trained for one epoch with batch 8
by four optimizers -- <b>Adam</b>, <b>Adadelta</b>, <b>Adagrad</b> and plain gradient
descent (<b>SGD</b>) -- each at every learning rate of a sweep log-spaced from 1e-6 to
1e-1, once without dropout (solid lines) and once with dropout before the last layer
(dashed). All runs of one optimizer start from the same weights and see the same
batches: only the learning rate differs.</p>
<p><b>Loss / accuracy vs learning rate</b>: while training, the running mean of the
training loss and batch accuracy over the last steps; when training ends, the loss and
accuracy on held-out test images (without dropout). A cross marks a run whose loss
became infinite or NaN: its optimizer froze it (diverged). The dashed grey lines are
chance: loss ln 47 and accuracy 1/47.</p>
<p><b>Loss over steps</b>: the run with the best accuracy of each optimizer. Things to
see: every optimizer has its own good range (Adam's lies around 1e-3 to 1e-2, SGD's near the
top of the sweep, Adadelta -- made for lr 1 -- barely moves below 1e-2); too small a rate
does not learn in one epoch, too large a one jumps about or diverges; dropout costs
accuracy in so short a training.</p>
<p>Settings apply on <b>Reset</b>. model = conv is the seed's network exactly, but
it is slow: use few rates and samples.</p>
"""

COLORS = {"Adam": "#d62728", "Adadelta": "#2ca02c", "Adagrad": "#ff7f0e", "SGD": "#1f77b4"}
CHANCE_LOSS = float(np.log(experiment.CLASSES))


def curve_name(optimizer: str, dropout: bool) -> str:
    return f"{optimizer} + dropout" if dropout else optimizer


def best_member(accuracy: np.ndarray, loss: np.ndarray) -> int | None:
    """Index of the highest accuracy (ties: the lower loss); None if all are NaN."""
    ok = np.isfinite(accuracy) & np.isfinite(loss)
    if not ok.any():
        return None
    acc = np.where(ok, accuracy, -np.inf)
    los = np.where(ok, loss, np.inf)
    return int(np.lexsort((los, -acc))[0])


def shown_values(snap: experiment.Snapshot) -> tuple[np.ndarray, np.ndarray, bool]:
    """(loss, accuracy, on_test): the test set's numbers once there, else the running
    training means."""
    if snap.test_loss is not None:
        return snap.test_loss, snap.test_accuracy, True
    return snap.loss, snap.accuracy, False


class View(LabView):
    lab_name = "optimizers"
    help_html = HELP

    def build_views(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        # One key for all three plots (a legend of 8 entries would cover the curves).
        self.key = note_label()
        self.key.setText(" &nbsp; ".join(
            f"<span style='color:{c}'><b>&#9644; {name}</b></span>" for name, c in COLORS.items())
            + " &nbsp; &mdash; solid: without dropout, dashed: with dropout (before the last "
            "layer); &times;: diverged")
        self.loss_plot = CurvePlot("Loss vs learning rate", x_label="learning rate",
                                   y_label="cross-entropy loss", legend=False)
        self.acc_plot = CurvePlot("Accuracy vs learning rate", x_label="learning rate",
                                  y_label="accuracy", legend=False)
        self.steps_plot = CurvePlot("Loss over steps, best rate of each optimizer",
                                    x_label="step", y_label="running mean training loss",
                                    legend=False)
        for plot in (self.loss_plot, self.acc_plot):
            plot.plot_item.setLogMode(x=True, y=False)
        self.loss_plot.add_marker(y=CHANCE_LOSS, label="chance")
        self.acc_plot.add_marker(y=1 / experiment.CLASSES, label="chance")
        self.steps_plot.add_marker(y=CHANCE_LOSS, label="chance")
        # Diverged members: crosses (PlotDataItems follow the plot's log x).
        cross = dict(pen=None, symbol="x", symbolSize=11, symbolPen=pg.mkPen("k", width=1.5),
                     symbolBrush=None)
        self.loss_crosses = self.loss_plot.plot_item.plot([], [], **cross)
        self.acc_crosses = self.acc_plot.plot_item.plot([], [], **cross)
        self.note = note_label()
        grid.addWidget(self.key, 0, 0, 1, 2)
        grid.addWidget(self.loss_plot, 1, 0)
        grid.addWidget(self.acc_plot, 1, 1)
        grid.addWidget(self.steps_plot, 2, 0, 1, 2)
        grid.addWidget(self.note, 3, 0, 1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)
        return page

    def clear_views(self) -> None:
        for plot in (self.loss_plot, self.acc_plot, self.steps_plot):
            for name in plot.curve_names():
                plot.remove_curve(name)
        self.loss_crosses.setData([], [])
        self.acc_crosses.setData([], [])
        self.note.setText("")

    # -- drawing ---------------------------------------------------------------------------
    def draw(self, snap: experiment.Snapshot) -> None:
        loss, acc, on_test = shown_values(snap)
        for o, name in enumerate(snap.optimizers):
            for d, drop in enumerate(snap.dropout):
                style = "dash" if drop else "solid"
                label = curve_name(name, drop)
                self.loss_plot.set_curve(label, snap.rates, loss[o, d], color=COLORS[name],
                                         style=style)
                self.acc_plot.set_curve(label, snap.rates, acc[o, d], color=COLORS[name],
                                        style=style)
        self._draw_crosses(snap, loss)
        self._draw_steps(snap, loss, acc)
        what = "test set" if on_test else "training, running mean"
        # log10 units in log mode: the whole sweep, a little margin either side.
        lo, hi = np.log10(snap.rates[0]), np.log10(snap.rates[-1])
        margin = 0.06 * (hi - lo)
        for plot, title in ((self.loss_plot, "Loss"), (self.acc_plot, "Accuracy")):
            plot.plot_item.setTitle(f"{title} vs learning rate ({what})")
            plot.plot_item.setXRange(lo - margin, hi + margin, padding=0)
        self.acc_plot.plot_item.setYRange(0, max(0.1, float(np.nanmax(acc, initial=0)) * 1.1),
                                          padding=0)
        self._draw_note(snap, loss, acc, on_test)

    def _draw_crosses(self, snap, loss) -> None:
        o_i, d_i, r_i = np.nonzero(snap.diverged)
        xs = snap.rates[r_i]
        finite = loss[np.isfinite(loss)]
        top = max(CHANCE_LOSS, float(finite.max()) if finite.size else CHANCE_LOSS) * 1.05
        self.loss_crosses.setData(xs, np.full(len(xs), top))
        self.acc_crosses.setData(xs, np.zeros(len(xs)))

    def _draw_steps(self, snap, loss, acc) -> None:
        steps = snap.curves["step"]
        history = np.reshape(snap.curves["loss"], (len(steps),) + snap.loss.shape)
        for o, name in enumerate(snap.optimizers):
            for d, drop in enumerate(snap.dropout):
                label = curve_name(name, drop)
                k = best_member(acc[o, d], loss[o, d])
                y = history[:, o, d, k] if k is not None else np.full(len(steps), np.nan)
                self.steps_plot.set_curve(label, steps, y, color=COLORS[name],
                                          style="dash" if drop else "solid")

    def _draw_note(self, snap, loss, acc, on_test) -> None:
        parts = []
        for o, name in enumerate(snap.optimizers):
            bits = []
            for d, drop in enumerate(snap.dropout):
                k = best_member(acc[o, d], loss[o, d])
                tag = "with dropout" if drop else "best"
                if k is None:
                    bits.append(f"{tag}: all diverged")
                else:
                    bits.append(f"{tag} lr {snap.rates[k]:.1e}, {100 * acc[o, d, k]:.1f}%")
            bad = int(snap.diverged[o].sum())
            div = f", {bad} diverged" if bad else ""
            parts.append(f"<span style='color:{COLORS[name]}'><b>{name}</b></span> "
                         + " / ".join(bits) + div)
        where = (f"accuracy on {snap.test_samples} held-out images, no dropout" if on_test
                 else "running training accuracy")
        self.note.setText(
            f"Step {snap.step} of {snap.total_steps} ({snap.model}, {len(snap.rates)} rates; "
            f"{where}): " + "; ".join(parts) + ".")
