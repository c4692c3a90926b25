"""The Dropout lab: which weights a dropout mask lets an optimizer change (two optimizers
side by side, same masks), and a worked example of inverted versus original dropout."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGridLayout, QTabWidget, QVBoxLayout, QWidget

from engine.experiments import dropout as experiment
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, Heatmap, _style
from vizlab.widgets.text import note_label

HELP = """
<p><b>Dropout lab.</b> At every step dropout draws a random mask over a layer's units:
each unit is kept with probability p, the others output 0 for that step. A dropped
unit is disconnected, so it passes no gradient back.</p>
<ul>
<li><b>Weights</b>: two copies of one network (64 digit pixels, a hidden tanh layer,
dropout on its outputs, 10 classes) learn the digits from the same start, on the
same examples with the same masks; only the optimizer differs (top and bottom). For
the watched Dense layer you see its weights, the weights this step changed (yellow)
and how many steps each has changed in. Columns are the hidden units, lined up with
the mask strip below (yellow = kept). With plain SGD exactly the kept units' weights change,
about p of them; Adagrad and RMSprop also move only weights with a gradient. With
momentum or Adam almost every weight changes at every step: their running average of
past gradients keeps moving the weights of dropped units. A network whose loss
overflows (a learning rate far too high) is marked "diverged at step N" and frozen;
the other one trains on.</li>
<li><b>Worked example</b>: units 1..8, p = 0.5, a mask keeping units 1, 4, 5, 7.
Inverted dropout (TensorFlow, the engine's <code>dropout</code>) divides the kept
units by p at train time and does nothing at test time; the original paper keeps them
as they are and multiplies by p at test time. Either way the expected sum at train
time equals the sum at test time: the average over many random masks shows it.</li>
</ul>
<p>Batch 1 (or one mask shared by the batch) makes the changed weights exactly the
mask; with one mask per example a unit counts as kept if any example kept it. Keep
probability, learning rates and the example apply at once; the optimizers, the
watched layer and the network apply on <b>Reset</b>.</p>
"""

LEFT_COLOR = _style.palette_color(0)
RIGHT_COLOR = _style.palette_color(1)
KEEP_COLOR = "#555555"
KEPT_BAR = _style.palette_color(2)
DROPPED_BAR = "#cccccc"


def _fixed_share_range(plot: CurvePlot) -> None:
    plot.plot_item.setYRange(0, 1.05, padding=0)
    plot.plot_item.enableAutoRange(y=False)


def _accuracy(side: experiment.Side) -> str:
    """The side's accuracy, or when it diverged (its loss overflowed; it is frozen)."""
    if side.diverged_at is not None:
        return f"<b>diverged at step {side.diverged_at}</b> (frozen)"
    return f"{side.accuracy:.0%}"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


class View(LabView):
    lab_name = "dropout"
    help_html = HELP
    preview_on_change = True

    # -- building ------------------------------------------------------------------------
    def build_views(self) -> QWidget:
        self._drawn_example: tuple | None = None
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_weights(), "Weights")
        self.tabs.addTab(self._build_example(), "Worked example")
        self.bind_tabs(self.tabs, experiment.TABS)
        return self.tabs

    def _build_weights(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.maps: dict[str, dict[str, Heatmap]] = {}
        for row, side in enumerate(("left", "right")):
            weights = Heatmap("weights", x_label="hidden unit", y_label="class",
                              value_label="weight")
            changed = Heatmap("changed", x_label="hidden unit", y_label="class",
                              sequential=True, levels=(0.0, 1.0), value_label="changed")
            counts = Heatmap("changes so far", x_label="hidden unit", y_label="class",
                             sequential=True, value_label="steps")
            self.maps[side] = {"weights": weights, "changed": changed, "counts": counts}
            for col, widget in enumerate((weights, changed, counts)):
                grid.addWidget(widget, row, col)
        self.mask_map = Heatmap("dropout mask", x_label="hidden unit", y_label="example",
                                sequential=True, levels=(0.0, 1.0), value_label="kept")
        # Two colours only (yellow kept, purple dropped, as in "changed"): no colour bar.
        self.mask_map.color_bar.hide()
        self.share_plot = CurvePlot("Share changed per step",
                                    x_label="step", y_label="share changed")
        _fixed_share_range(self.share_plot)
        # One row at the bottom, below the shares (they stay near p or near 1).
        self.share_plot.plot_item.legend.anchor(itemPos=(1, 1), parentPos=(1, 1),
                                                offset=(-10, -10))
        self.share_plot.plot_item.legend.setColumnCount(2)
        self.keep_marker = self.share_plot.add_marker(y=0.5, label="keep prob", color=KEEP_COLOR)
        self.keep_marker.label.setPosition(0.2)  # clear of the y axis
        self.loss_plot = CurvePlot("Loss, 500 digits, no dropout", x_label="step",
                                   y_label="cross-entropy")
        # Top right: the losses start high on the left and fall.
        self.loss_plot.plot_item.legend.anchor(itemPos=(1, 0), parentPos=(1, 0),
                                               offset=(-10, 10))
        grid.addWidget(self.mask_map, 2, 0)
        grid.addWidget(self.share_plot, 2, 1)
        grid.addWidget(self.loss_plot, 2, 2)
        for row in range(3):
            grid.setRowStretch(row, 1)
        for col in range(3):
            grid.setColumnStretch(col, 1)
        self.weights_note = note_label()
        grid.addWidget(self.weights_note, 3, 0, 1, 3)
        return page

    def _build_example(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self.example_table = note_label()
        layout.addWidget(self.example_table)
        grid = QGridLayout()
        self.inverted_bars = BarPlot("Inverted, train: x · mask / p",
                                     x_label="unit", y_label="output", value_format="{:.4g}")
        self.original_bars = BarPlot("Original, train: x · mask", x_label="unit",
                                     y_label="output", value_format="{:.4g}")
        self.sum_plot = CurvePlot("Mean sum at train time",
                                  x_label="random masks (log scale)", y_label="mean sum")
        self.sum_plot.plot_item.setLogMode(x=True)
        self.sum_plot.plot_item.legend.anchor(itemPos=(1, 0.5), parentPos=(1, 0.5),
                                              offset=(-10, 0))
        self.full_marker = self.sum_plot.add_marker(y=36.0, label="inverted test",
                                                    color=LEFT_COLOR)
        self.scaled_marker = self.sum_plot.add_marker(y=18.0, label="original test",
                                                      color=RIGHT_COLOR)
        grid.addWidget(self.inverted_bars, 0, 0)
        grid.addWidget(self.original_bars, 0, 1)
        grid.addWidget(self.sum_plot, 0, 2)
        layout.addLayout(grid, 1)
        return page

    def clear_views(self) -> None:
        for name in list(self.share_plot.curve_names()):
            self.share_plot.remove_curve(name)
        for name in list(self.loss_plot.curve_names()):
            self.loss_plot.remove_curve(name)

    # -- drawing ---------------------------------------------------------------------------
    def draw(self, snap: experiment.Snapshot) -> None:
        if snap.example_key != self._drawn_example:
            self._draw_example(snap.example)
            self._drawn_example = snap.example_key
        self._draw_weights(snap)

    def _draw_weights(self, snap: experiment.Snapshot) -> None:
        other = "class" if snap.watch == "output" else "pixel"
        for side in ("left", "right"):
            s: experiment.Side = getattr(snap, side)
            maps = self.maps[side]
            maps["weights"].set_data(s.weights)
            gone = "" if s.diverged_at is None else f", diverged at step {s.diverged_at}"
            maps["weights"].set_title(f"{s.optimizer}, lr {s.learning_rate:g}: weights{gone}")
            maps["changed"].set_data(s.changed)
            maps["changed"].set_title(f"{s.optimizer}: changed now, {s.changed_share:.0%}")
            maps["counts"].set_data(s.counts)
            maps["counts"].set_title(f"{s.optimizer}: changes in {snap.step} steps")
            for heatmap in maps.values():
                heatmap.plot_item.setLabel("left", other)
        kept = int(snap.kept.sum())
        self.mask_map.set_data(snap.mask)
        self.mask_map.set_title(f"mask: {kept} of {len(snap.kept)} kept"
                                if snap.step else "mask: none before step 1")
        steps = snap.shares["step"]
        self.share_plot.set_curve(snap.left.optimizer + " (top)", steps, snap.shares["left"],
                                  color=LEFT_COLOR)
        self.share_plot.set_curve(snap.right.optimizer + " (bottom)", steps,
                                  snap.shares["right"], color=RIGHT_COLOR)
        self._keep_names(self.share_plot, {snap.left.optimizer + " (top)",
                                           snap.right.optimizer + " (bottom)"})
        self.keep_marker.setPos(snap.keep_prob)
        self.keep_marker.label.setFormat(f"keep prob {snap.keep_prob:g}")
        loss_steps = snap.losses["step"]
        self.loss_plot.set_curve(snap.left.optimizer + " (top)", loss_steps,
                                 snap.losses["left"], color=LEFT_COLOR)
        self.loss_plot.set_curve(snap.right.optimizer + " (bottom)", loss_steps,
                                 snap.losses["right"], color=RIGHT_COLOR)
        self._keep_names(self.loss_plot, {snap.left.optimizer + " (top)",
                                          snap.right.optimizer + " (bottom)"})
        mean = {side: float(np.mean(snap.shares[side])) if len(steps) else float("nan")
                for side in ("left", "right")}
        self.weights_note.setText(
            f"Step {snap.step}: the mask kept <b>{kept}</b> of {len(snap.kept)} hidden units "
            f"(keep prob {snap.keep_prob:g}). Share of the {snap.watch} kernel's weights "
            f"changed, this step / mean so far: <b>{snap.left.optimizer}</b> "
            f"{snap.left.changed_share:.0%} / {mean['left']:.0%}, "
            f"<b>{snap.right.optimizer}</b> {snap.right.changed_share:.0%} / "
            f"{mean['right']:.0%}. Accuracy on 500 digits: {_accuracy(snap.left)} / "
            f"{_accuracy(snap.right)}."
        )

    @staticmethod
    def _keep_names(plot: CurvePlot, names: set[str]) -> None:
        for name in plot.curve_names():
            if name not in names:
                plot.remove_curve(name)

    def _draw_example(self, ex: experiment.WorkedExample) -> None:
        n = len(ex.units)
        labels = [str(i + 1) for i in range(n)]
        colors = [KEPT_BAR if m else DROPPED_BAR for m in ex.mask]
        self.inverted_bars.set_bars(labels, ex.inverted_train, colors)
        self.original_bars.set_bars(labels, ex.original_train, colors)
        self.sum_plot.set_curve("inverted, train", ex.running_at, ex.running_inverted,
                                color=LEFT_COLOR)
        self.sum_plot.set_curve("original, train", ex.running_at, ex.running_original,
                                color=RIGHT_COLOR)
        self.full_marker.setPos(ex.full_sum)
        self.scaled_marker.setPos(float(ex.original_test.sum()))
        p = ex.keep_prob
        rows = [
            ("unit", labels, ""),
            ("x", [_fmt(v) for v in ex.units], _fmt(ex.units.sum())),
            ("mask (1 = kept)", [str(int(m)) for m in ex.mask], str(int(ex.mask.sum()))),
            (f"inverted, train: x · mask / {p:g}", [_fmt(v) for v in ex.inverted_train],
             _fmt(ex.inverted_train.sum())),
            ("inverted, test: x", [_fmt(v) for v in ex.inverted_test],
             _fmt(ex.inverted_test.sum())),
            ("original, train: x · mask", [_fmt(v) for v in ex.original_train],
             _fmt(ex.original_train.sum())),
            (f"original, test: {p:g} · x", [_fmt(v) for v in ex.original_test],
             _fmt(ex.original_test.sum())),
        ]
        cells = []
        for i, (name, values, total) in enumerate(rows):
            tag = "th" if i == 0 else "td"
            line = "".join(f"<{tag} align='right'>{v}</{tag}>" for v in values)
            total_cell = "<th>sum</th>" if i == 0 else f"<td align='right'><b>{total}</b></td>"
            cells.append(f"<tr><th align='left'>{name}</th>{line}{total_cell}</tr>")
        self.example_table.setText(
            "<table cellspacing='0' cellpadding='3' border='1' style='border-collapse: "
            "collapse'>" + "".join(cells) + "</table>"
            f"<p>Expected sums at train time, averaged over {ex.masks} random masks: "
            f"inverted <b>{ex.mean_inverted_train:.4g}</b> (test: {_fmt(ex.full_sum)}), "
            f"original <b>{ex.mean_original_train:.4g}</b> (test: "
            f"{_fmt(ex.original_test.sum())} = {p:g} · {_fmt(ex.full_sum)}). Every output "
            "row comes from the engine's <code>dropout</code> with this mask.</p>"
        )
