"""The Dropout lab: which weights a dropout mask lets an optimizer change (two optimizers
side by side, same masks), and a worked example of inverted versus original dropout."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import numpy as np
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.experiments import dropout as experiment
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, Heatmap, theme
from vizlab.widgets.heatmap import MASK_COLORS, percentile_levels, shared_levels
from vizlab.widgets.layout_check import TextHeadroom
from vizlab.widgets.page import ResizeAware
from vizlab.widgets.text import note_label

HELP = """
<p><b>Dropout lab.</b> At every step dropout draws a random mask over a layer's units:
each unit is kept with probability p, the others output 0 for that step. A dropped
unit is disconnected, so it passes no gradient back.</p>
<ul>
<li><b>Weights</b>: two copies of one network (64 digit pixels, a hidden tanh layer,
dropout on its outputs, 10 classes) learn the digits from the same start, on the
same examples with the same masks; only the optimizer differs (top and bottom). For
the watched Dense layer you see its weights, the weights this step changed (blue)
and how many steps each has changed in. Columns are the hidden units, lined up with
the mask strip between the two networks (blue = kept, grey = dropped). With plain
SGD exactly the kept units' weights change, about p of them; Adagrad and RMSprop also
move only weights with a gradient. With momentum or Adam almost every weight changes
at every step: their running average of past gradients keeps moving the weights of
dropped units. A network whose loss overflows (a learning rate far too high) is
marked "diverged at step N" and frozen; the other one trains on.</li>
<li><b>Share changed and loss</b>: the share of the watched weights each step changed
(SGD's scatters around the keep probability, Adam's climbs to 1) and the loss of both
networks on 500 digits without dropout.</li>
<li><b>Worked example</b>: units 1..8, p = 0.5, a mask keeping units 1, 4, 5, 7.
Inverted dropout (TensorFlow, the engine's <code>dropout</code>) divides the kept
units by p at train time and does nothing at test time; the original paper keeps them
as they are and multiplies by p at test time. Either way the expected sum at train
time equals the sum at test time: the average over many random masks shows it.</li>
</ul>
<p>Batch 1 (or one mask shared by the batch) makes the changed weights exactly the
mask; with one mask per example a unit counts as kept if any example kept it. Keep
probability, learning rates, the example and the weights' colour scale (heatmap
scale: per matrix, one shared by both networks, or clipped at the 99th percentile of
|weight| so that one large weight does not wash out the rest) apply at once; the
optimizers, the watched layer and the network apply on <b>Reset</b>.</p>
"""

LEFT_COLOR = theme.palette_color(0)
RIGHT_COLOR = theme.palette_color(1)
KEEP_COLOR = theme.GUIDE_COLOR
# The worked example's bars in the colours of the mask strip: kept, dropped.
KEPT_BAR, DROPPED_BAR = MASK_COLORS
# Below this width a heatmap clips its read-out line rather than push the page wider
# than the window.
MIN_MAP_WIDTH = 120
SHORT_PAGE_PX = 560  # a weights page shorter than this leaves its step line out


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


def weight_levels(scale: str, left: np.ndarray, right: np.ndarray
                  ) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """The colour levels of the two weight heatmaps for a `heatmap_scale` setting (None:
    the heatmap's own symmetric scale)."""
    if scale == "shared":
        both = shared_levels([left, right])
        return both, both
    if scale == "clipped 1-99%":
        return percentile_levels(left), percentile_levels(right)
    return None, None


class View(LabView):
    lab_name = "dropout"
    help_html = HELP
    preview_on_change = True

    # -- building ------------------------------------------------------------------------
    def build_views(self) -> Generator[None, None, QWidget]:  # a plot per turn in the app
        self._heatmaps: list[Heatmap] = []
        self._drawn_example: tuple | None = None
        self._drawn_snapshot: experiment.Snapshot | None = None
        self.tabs = QTabWidget()
        yield  # the attributes above exist once the view does
        self.tabs.addTab((yield from self._build_weights()), "Weights")
        yield
        self.tabs.addTab((yield from self._build_curves()), "Share changed and loss")
        yield
        self.tabs.addTab((yield from self._build_example()), "Worked example")
        yield
        self.bind_tabs(self.tabs, experiment.TABS)
        self._fit_to_theme()
        theme.on_theme_changed(self._fit_to_theme)
        # The colour scale is the view's alone: a change redraws what is shown at once.
        self.settings_panel.changed.connect(self._on_view_setting)
        return self.tabs

    def _heatmap(self, title: str, **options) -> Heatmap:
        heatmap = Heatmap(title, **options)
        heatmap.setMinimumWidth(MIN_MAP_WIDTH)
        self._heatmaps.append(heatmap)
        return heatmap

    def _fit_to_theme(self) -> None:
        """Sizes that follow the theme's fonts (presentation mode): every heatmap's y axis
        gets one width, wide enough for its label and two-digit ticks, so the heatmaps of
        a grid column, the mask strip among them, have their cells at the same x; the
        mask strip's height; the notes' type."""
        ticks = QFontMetrics(theme.font(theme.tick_pt()))
        self._fit_axis_widths()
        title = QFontMetrics(theme.font(theme.title_pt())).height()
        # Title, the key (above: a row, and half a row more should it wrap; beside: two
        # rows) and 28 pixels of mask, the axis line without tick labels (the panels
        # above and below have them), read-out line.
        row = ticks.height() + 8
        if theme.presentation():
            cells = max(2 * (ticks.height() + 4) + 4, 28)
        else:
            cells = row + row // 3 + 28
        self.mask_map.setFixedHeight(title + cells + 10 + ticks.height() + 10)
        # In large type the keys of the middle column go beside the cells, where the
        # other panels have a colour bar: above them they would take a row of the
        # cells' height. Then they are one width: the view boxes, and so the cells of the
        # mask and of the "changed now" panels, line up.
        masks = [self.maps[side]["changed"] for side in ("left", "right")] + [self.mask_map]
        for heatmap in masks:
            heatmap.set_key_beside(theme.presentation())
        keys = [heatmap.key for heatmap in masks]
        for key_item in keys:
            key_item.restyle()
        widest = max(key_item.content_width() for key_item in keys)
        for key_item in keys:
            key_item.set_min_width(widest)
        for note in self._notes():
            note.setFont(theme.font(theme.tick_pt()))
        # The table a little smaller than the notes: in large type it would take half
        # the worked example's height from its plots.
        self.example_table.setFont(theme.font(theme.scaled_pt(8)))
        # In large type the weights need the page's height; the same line stays under the
        # curves, and the panels' titles say this step's shares.
        self._share_columns()
        for header in self.headers.values():
            header.setFont(theme.font(theme.label_pt()))

    def _fit_axis_widths(self) -> None:
        """Each heatmap's y axis wide enough for two-digit ticks and its label if it has
        one; the "changed now" panels as wide as the mask strip's (labelled "ex." with a
        mask per example), so their cells line up."""
        ticks = QFontMetrics(theme.font(theme.tick_pt()))
        label = QFontMetrics(theme.font(theme.label_pt())).height()
        width = ticks.horizontalAdvance("88") + 16
        middle = {id(self.mask_map), *(id(self.maps[s]["changed"]) for s in ("left", "right"))}
        mask_named = bool(self.mask_map.plot_item.getAxis("left").labelText)
        for heatmap in self._heatmaps:
            axis = heatmap.plot_item.getAxis("left")
            named = mask_named if id(heatmap) in middle else bool(axis.labelText)
            wanted = width + (label if named else 0)
            if axis.width() != wanted:
                axis.setWidth(wanted)

    def _share_columns(self) -> None:
        """Columns as wide as gives every panel's cells the same width (a colour bar and
        the "class" label take room from the weights panels' cells, which were half as
        wide as the middle column's at 1024x640 with the settings shown), the middle one
        at least as wide as its keys on one line. Runs on resize: stretch factors only."""
        if not hasattr(self, "weights_note"):
            return  # still being built
        grid, page = self.weights_grid, self.weights_page
        # In large type, or on a short page (the whole window at 1024x640 with the
        # settings shown), the weights need its height: the step's line stays under the
        # curves, and the panels' titles say this step's shares.
        self.weights_note.setVisible(not theme.presentation()
                                     and page.height() >= SHORT_PAGE_PX)
        columns = [[self.maps[side][kind] for side in ("left", "right")]
                   for kind in ("weights", "changed", "counts")]
        if any(h.plot_item.vb.width() <= 0 for col in columns for h in col):
            return
        overhead = [max(h.width() - h.plot_item.vb.width() for h in col) for col in columns]
        room = page.width() - 2 * grid.horizontalSpacing()
        cells = max((room - sum(overhead)) / 3, 1.0)
        want = [cells + extra for extra in overhead]
        keys = [self.maps["left"]["changed"].key, self.mask_map.key]
        need = max(key.width_for(2) + 8 for key in keys if key is not None)
        if not keys[0].beside and want[1] < need:  # the keys on one line, above
            want[1] = need
            cells = max((room - need - overhead[0] - overhead[2]) / 2, 1.0)
            want[0], want[2] = cells + overhead[0], cells + overhead[2]
        stretch = [max(1, round(w)) for w in want]
        if [grid.columnStretch(c) for c in range(3)] != stretch:
            for col, value in enumerate(stretch):
                grid.setColumnStretch(col, value)

    def _notes(self) -> list[QLabel]:
        return [self.weights_note, self.curves_note, self.mask_note, self.example_table]

    def _build_weights(self) -> Generator[None, None, QWidget]:  # a map per turn
        page = ResizeAware(self._share_columns)
        grid = QGridLayout(page)
        self.weights_page, self.weights_grid = page, grid
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.maps: dict[str, dict[str, Heatmap]] = {}
        self.headers: dict[str, QLabel] = {}
        # Short titles: a plot's title sets its minimum width, and three columns share
        # 730 pixels at 1024x640. Which network a row shows is said in its header.
        for side, row in (("left", 0), ("right", 3)):
            header = note_label()
            self.headers[side] = header
            grid.addWidget(header, row, 0, 1, 3)
            # The top row's x axes go unnamed: the panels below them, the mask strip and
            # the bottom row, share their columns and the bottom row names them (a row of
            # text less, which presentation mode at 1024x640 needs).
            x_label = "hidden unit" if side == "right" else ""
            # No label on the colour bar: it would stand beside the next panel's "class".
            # "class" once a row, left: the panels right of it share its rows, and the
            # width goes to their cells.
            weights = self._heatmap("weights", x_label=x_label, y_label="class")
            yield  # a heatmap takes 13-16 ms to make on an idle machine, more when busy
            # Binary: two colours and a key (above the plot, so the cells keep the x of
            # the mask strip's).
            changed = self._heatmap("changed now", x_label=x_label, y_label="",
                                    mask_key=("changed", "same"))
            yield
            counts = self._heatmap("changes so far", x_label=x_label, y_label="",
                                   sequential=True, value_label="steps")
            self.maps[side] = {"weights": weights, "changed": changed, "counts": counts}
            for col, widget in enumerate((weights, changed, counts)):
                grid.addWidget(widget, row + 1, col)
            yield
        # The mask strip sits between the two networks, under and over their "changed"
        # panels, which have the same axes and, like it, a key instead of a colour bar:
        # its cells line up with their columns (one per hidden unit).
        self.mask_map = self._heatmap("dropout mask", x_label="", y_label="",
                                      mask_key=("kept", "dropped"))
        yield
        self.mask_note = note_label()
        self.mask_note.setText("This step's dropout mask: one column per hidden unit, "
                               "lined up with the <i>changed now</i> panels above and "
                               "below it.")
        grid.addWidget(self.mask_note, 2, 0)
        grid.addWidget(self.mask_map, 2, 1)
        self.mask_map.plot_item.getAxis("bottom").setStyle(showValues=False)
        for row, stretch in ((1, 1), (4, 1)):
            grid.setRowStretch(row, stretch)
        # The columns share the width by stretch alone (see _share_columns).
        for heatmap in (*self.maps["left"].values(), *self.maps["right"].values(),
                        self.mask_map):
            heatmap.setSizePolicy(QSizePolicy.Policy.Ignored,
                                  heatmap.sizePolicy().verticalPolicy())
        self.mask_note.setSizePolicy(QSizePolicy.Policy.Ignored,
                                     self.mask_note.sizePolicy().verticalPolicy())
        for col, stretch in enumerate((5, 6, 5)):
            grid.setColumnStretch(col, stretch)
        # Once laid out (and whenever a panel's size changes), the columns share again.
        for heatmap in (*self.maps["left"].values(), *self.maps["right"].values()):
            heatmap.plot_item.vb.sigResized.connect(self._share_columns)
        self.weights_note = note_label()
        grid.addWidget(self.weights_note, 5, 0, 1, 3)
        return page

    def _build_curves(self) -> Generator[None, None, QWidget]:  # a plot per turn
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.share_plot = CurvePlot("Share changed per step",
                                    x_label="step", y_label="share changed")
        _fixed_share_range(self.share_plot)
        yield
        self.loss_plot = CurvePlot("Loss on 500 digits, no dropout", x_label="step",
                                   y_label="cross-entropy")
        row.addWidget(self.share_plot)
        row.addWidget(self.loss_plot)
        layout.addLayout(row, 1)
        self.curves_note = note_label()
        layout.addWidget(self.curves_note)
        return page

    def _build_example(self) -> Generator[None, None, QWidget]:  # a plot per turn
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self.example_table = note_label()
        layout.addWidget(self.example_table)
        grid = QGridLayout()
        self.inverted_bars = BarPlot("Inverted, train", x_label="unit",
                                     y_label="x · mask / p", value_format="{:.4g}")
        yield
        self.original_bars = BarPlot("Original, train", x_label="unit",
                                     y_label="x · mask", value_format="{:.4g}")
        yield
        # Value labels whole over the tallest bar.
        self._headroom = [TextHeadroom(bars.plot_item)
                          for bars in (self.inverted_bars, self.original_bars)]
        # Short titles and labels: a plot's title sets its minimum width, and the three
        # plots share 730 pixels at 1024x640.
        self.sum_plot = CurvePlot("Mean sum, train", x_label="masks (log scale)",
                                  y_label="mean of the sum")
        self.sum_plot.plot_item.setLogMode(x=True)
        grid.addWidget(self.inverted_bars, 0, 0)
        grid.addWidget(self.original_bars, 0, 1)
        grid.addWidget(self.sum_plot, 0, 2)
        # The running means a little wider: their legend's four entries then fit in two
        # columns instead of four rows over the plot's height.
        for col, stretch in enumerate((2, 2, 3)):
            grid.setColumnStretch(col, stretch)
        layout.addLayout(grid, 1)
        return page

    def clear_views(self) -> None:
        for name in list(self.share_plot.curve_names()):
            self.share_plot.remove_curve(name)
        for name in list(self.loss_plot.curve_names()):
            self.loss_plot.remove_curve(name)
        self._drawn_snapshot = None

    def _on_view_setting(self, name: str, _value: object = None) -> None:
        if name == "heatmap_scale" and self._drawn_snapshot is not None:
            self._draw_weights(self._drawn_snapshot)

    def apply_settings(self, assignments: dict) -> None:
        super().apply_settings(assignments)
        if "heatmap_scale" in assignments:
            self._on_view_setting("heatmap_scale")

    # -- drawing ---------------------------------------------------------------------------
    def draw(self, snap: experiment.Snapshot) -> Iterator[None]:
        if snap.example_key != self._drawn_example:
            self._draw_example(snap.example)
            self._drawn_example = snap.example_key
            yield
        self._draw_weights(snap)
        self._drawn_snapshot = snap

    def _draw_weights(self, snap: experiment.Snapshot) -> None:
        other = "class" if snap.watch == "output" else "pixel"
        stepped = snap.step > 0
        levels = dict(zip(("left", "right"), weight_levels(
            self.config.heatmap_scale, snap.left.weights, snap.right.weights), strict=True))
        for side, where in (("left", "Top"), ("right", "Bottom")):
            s: experiment.Side = getattr(snap, side)
            gone = ("" if s.diverged_at is None
                    else f": <b>diverged at step {s.diverged_at}</b>, frozen since")
            color = LEFT_COLOR if side == "left" else RIGHT_COLOR
            self.headers[side].setText(
                f"<span style='color:{color}'><b>{where} network: {s.optimizer}</b></span>, "
                f"learning rate {s.learning_rate:g}{gone}; columns: hidden units")
            maps = self.maps[side]
            maps["weights"].set_data(s.weights, levels=levels[side])
            maps["changed"].set_data(s.changed)
            maps["changed"].set_title(f"changed now: {s.changed_share:.0%}"
                                      if stepped else "changed: no step yet")
            maps["counts"].set_data(s.counts)
            maps["counts"].set_title("changes so far")
            # Named once a row, left: the panels right of it share its rows.
            maps["weights"].plot_item.setLabel("left", other)
        kept = int(snap.kept.sum())
        units = len(snap.kept)
        self.mask_map.set_data(snap.mask)
        # One row per example when each has its own mask; one row needs no axis name.
        self.mask_map.plot_item.setLabel("left", "ex." if len(snap.mask) > 1 else "")
        self._fit_axis_widths()
        # Before step 1 no mask has been drawn: an all-"dropped" strip would say otherwise.
        self.mask_map.image_item.setVisible(stepped)
        self.mask_map.set_title(f"mask: {kept} of {units} kept" if stepped
                                else "mask: no step yet")
        names = {side: f"{getattr(snap, side).optimizer} ({where})"
                 for side, where in (("left", "top"), ("right", "bottom"))}
        steps = snap.shares["step"]
        self.share_plot.set_curve(names["left"], steps, snap.shares["left"], color=LEFT_COLOR)
        self.share_plot.set_curve(names["right"], steps, snap.shares["right"],
                                  color=RIGHT_COLOR)
        # The keep probability as a dashed line named in the legend (a label on the line
        # would sit on SGD's share, which scatters around it).
        keep_name = f"keep prob {snap.keep_prob:g}"
        ends = np.array([0.0, max(float(snap.step), 1.0)])
        self.share_plot.set_curve(keep_name, ends, np.full(2, snap.keep_prob),
                                  color=KEEP_COLOR, width=1.5, style="dash")
        self._keep_names(self.share_plot, {*names.values(), keep_name})
        loss_steps = snap.losses["step"]
        self.loss_plot.set_curve(names["left"], loss_steps, snap.losses["left"],
                                 color=LEFT_COLOR)
        self.loss_plot.set_curve(names["right"], loss_steps, snap.losses["right"],
                                 color=RIGHT_COLOR)
        self._keep_names(self.loss_plot, set(names.values()))
        text = self.weights_text(snap)
        self.weights_note.setText(text)
        self.curves_note.setText(text)

    @staticmethod
    def weights_text(snap: experiment.Snapshot) -> str:
        """The line under the weights: this step's mask and shares, or the start."""
        accuracy = (f"Accuracy on 500 digits: {_accuracy(snap.left)} / "
                    f"{_accuracy(snap.right)}.")
        if snap.step == 0:
            return (f"Step 0: no step yet, so no mask and no changed weights: both networks "
                    f"start from the same weights (keep prob {snap.keep_prob:g}). "
                    + accuracy)
        mean = {side: float(np.mean(snap.shares[side])) for side in ("left", "right")}
        return (
            f"Step {snap.step}: the mask kept <b>{int(snap.kept.sum())}</b> of "
            f"{len(snap.kept)} hidden units (keep prob {snap.keep_prob:g}). Share of the "
            f"{snap.watch} kernel's weights changed, this step / mean so far: "
            f"<b>{snap.left.optimizer}</b> {snap.left.changed_share:.0%} / "
            f"{mean['left']:.0%}, <b>{snap.right.optimizer}</b> "
            f"{snap.right.changed_share:.0%} / {mean['right']:.0%}. " + accuracy
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
        # The test-time sums as dashed lines named in the legend: a label on a line
        # would sit on the running mean, which settles onto it.
        ends = ex.running_at[[0, -1]]
        self.sum_plot.set_curve("inverted, test", ends, np.full(2, ex.full_sum),
                                color=LEFT_COLOR, width=1.5, style="dash")
        self.sum_plot.set_curve("original, test", ends, np.full(2, ex.original_test.sum()),
                                color=RIGHT_COLOR, width=1.5, style="dash")
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
