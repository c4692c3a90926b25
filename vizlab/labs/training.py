"""The Training lab: a network learning a data set, seen from every side while it trains."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QStackedWidget, QWidget

from vizlab.labs.base import LabView
from vizlab.widgets import CurvePlot, Heatmap, HistogramPlot
from vizlab.widgets.boundary import BoundaryPlot

HELP = """
<p><b>Training lab.</b> A multilayer perceptron learns the chosen data set. Press
<b>Run</b> and watch, or <b>Step</b> one update at a time.</p>
<ul>
<li><b>Loss and accuracy</b>: on a fixed sample of the training data and on held-out
test data. A widening gap means the network memorises rather than generalises.</li>
<li><b>Weights</b>: one heatmap per layer, a row per unit and a column per input.
Blue is negative, red positive, white zero; hover for a value.</li>
<li><b>Dead ReLUs</b>: the share of ReLU units whose input is negative for every
probe example. They output zero and get no gradient, so they never recover. Raise the
learning rate and watch this climb.</li>
<li><b>Activations</b>: histograms of each hidden layer's outputs.</li>
<li><b>Decision boundary</b> (2-D data): the class the network predicts at each point
of the plane, pale where it hesitates. For images: the <b>confusion matrix</b>, rows
the true class, columns the predicted one.</li>
</ul>
<p>Too high a learning rate makes the network diverge: its loss overflows, training
stops there and the loss plot's title says at which step.</p>
<p>Learning rate, batch size, regularizer and its strength apply while training;
other settings apply when you press <b>Reset</b>.</p>
"""


# Settings that only choose how a snapshot is drawn (no new training needed).
DISPLAY_SETTINGS = ("show_test_points", "heatmap_scale")


class View(LabView):
    lab_name = "training"
    help_html = HELP
    # The data and the untrained network (boundary, weights) show before Run: step 0 is
    # one forward pass over the probe batches, computed off the GUI thread.
    preview_on_change = True

    def build_views(self) -> QWidget:
        self.shown = None  # the snapshot on screen (display settings redraw it)
        area = QWidget()
        grid = QGridLayout(area)
        grid.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = CurvePlot("Loss", x_label="step", y_label="cross-entropy", log_y=True,
                                   grow_x=True)
        self.acc_plot = CurvePlot("Accuracy", x_label="step", y_label="share correct",
                                  grow_x=True)
        # Shares live in 0..1: fixed ranges read better and spare a re-layout per frame.
        self.acc_plot.plot_item.setYRange(0, 1.02, padding=0)
        self.acc_plot.plot_item.enableAutoRange(y=False)
        self.dead_plot = CurvePlot("Dead ReLUs", x_label="step", y_label="share of units",
                                   grow_x=True)
        self.dead_plot.plot_item.setYRange(0, 1.02, padding=0)
        self.dead_plot.plot_item.enableAutoRange(y=False)
        self.hist_plot = HistogramPlot("Activations", x_label="output")
        self.boundary_plot = BoundaryPlot()
        self.confusion = Heatmap("Confusion (test)", x_label="predicted", y_label="true",
                                 sequential=True, value_label="count", lock_aspect=True)
        self.right_stack = QStackedWidget()
        self.right_stack.addWidget(self.boundary_plot)
        self.right_stack.addWidget(self.confusion)
        self.weights_row = QHBoxLayout()
        self.weight_maps: list[Heatmap] = []
        weights_box = QWidget()
        weights_box.setLayout(self.weights_row)
        self.weights_row.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.acc_plot, 0, 1)
        grid.addWidget(self.right_stack, 0, 2, 2, 1)
        grid.addWidget(self.dead_plot, 1, 0)
        grid.addWidget(self.hist_plot, 1, 1)
        grid.addWidget(weights_box, 2, 0, 1, 3)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 3)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(2, 1)
        return area

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
        return self.weight_maps

    def draw(self, snap) -> None:
        self.shown = snap
        diverged = getattr(snap, "diverged_at", None)
        self.loss_plot.plot_item.setTitle(
            "Loss" if diverged is None else f"Loss: diverged at step {diverged}")
        curves = snap.curves
        steps = curves["step"]
        # The curves are an append-only history: long ones decimate only the new points
        # (a scrub back in time or a Reset is noticed by the plot and redone in full).
        self.loss_plot.set_curve("train", steps, curves["train_loss"], extends=True)
        self.loss_plot.set_curve("test", steps, curves["test_loss"], style="dash", extends=True)
        self.acc_plot.set_curve("train", steps, curves["train_acc"], extends=True)
        self.acc_plot.set_curve("test", steps, curves["test_acc"], style="dash", extends=True)
        # A column per ReLU layer (one layer's history comes back as a single column).
        dead = np.asarray(curves["dead"]).reshape(len(steps), -1)
        for i, name in enumerate(snap.dead_layers):
            self.dead_plot.set_curve(name, steps, dead[:, i], extends=True)
        for i, (counts, edges) in enumerate(snap.histograms):
            self.hist_plot.set_histogram(counts, edges, name=f"hidden {i + 1}")
        for heatmap, kernel in zip(self._weight_maps_for(snap.layer_names), snap.weights):
            heatmap.set_data(kernel.T)  # a row per unit reads like the layer's diagram
        if snap.boundary is not None:
            self.right_stack.setCurrentWidget(self.boundary_plot)
            self.boundary_plot.set_boundary(snap.boundary, snap.boundary_extent, snap.points,
                                            snap.point_labels)
        else:
            self.right_stack.setCurrentWidget(self.confusion)
            self.confusion.set_data(snap.confusion.astype(np.float32))

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

    def _on_setting_changed(self, name: str, value) -> None:
        # Display choices only change how the snapshot on screen is drawn: redraw it,
        # rather than preview step 0 over a trained run.
        if name in DISPLAY_SETTINGS and self.shown is not None:
            if self.runner.is_active and self.run_config is not None:
                setattr(self.run_config, name, value)
            self._draw(self.shown)
            return
        super()._on_setting_changed(name, value)
