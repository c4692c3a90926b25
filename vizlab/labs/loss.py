"""The Softmax & Loss lab: cross-entropy curves, naive versus stable losses, multi-class
versus multi-label outputs, in three tabs.

Everything it draws is in the snapshot (computed by engine.experiments.loss); the first
snapshot carries all of it, so the lab previews on every setting change. Run animates
the logit-scale sweep of the "Naive vs stable" tab, one scale per step.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QTabWidget, QWidget

from engine.experiments.loss import Snapshot, Sweep
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, _style
from vizlab.widgets._style import PALETTE, palette_color

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
becomes inf or nan (a gap in the curve, and a dashed line where it starts). The stable
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

DTYPE_COLORS = {
    "float32": ("#1f77b4", "#ff7f0e"),  # stable, naive
    "float64": ("#2ca02c", "#d62728"),
}
TRUE_COLOR = "#2ca02c"
FALSE_COLOR = "#9a9a9a"
CURSOR_COLOR = "#444444"
TEXT_STYLE = "font-size: 10pt; background: white; padding: 6px;"


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    """Non-finite values as nan: the curve shows a gap there."""
    return np.where(np.isfinite(values), values, np.nan)


def _fmt(value: float, dtype: str = "float64", digits: int | None = None) -> str:
    """The shortest text that reads back as the same number of that type (float32 or
    float64), so two different floats never look equal; or `digits` significant ones."""
    if digits is not None and np.isfinite(value):
        return f"{value:.{digits}g}"
    return str(np.dtype(dtype).type(value))


def _vector(values: np.ndarray, digits: int = 3) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"


def _text_panel() -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet(TEXT_STYLE)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
    return label


def _legend_top_left(plot: CurvePlot) -> None:
    plot.plot_item.legend.anchor((0, 0), (0, 0), offset=(10, 10))


def _legend_bottom_right(plot: CurvePlot) -> None:
    plot.plot_item.legend.anchor((1, 1), (1, 1), offset=(-10, -10))


class View(LabView):
    lab_name = "loss"
    help_html = HELP
    preview_on_change = True

    def build_views(self) -> QWidget:
        self._animating = False
        self._grad_key: tuple = ()
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_cross_entropy_tab(), "Cross-entropy")
        self.tabs.addTab(self._build_sweep_tab(), "Naive vs stable")
        self.tabs.addTab(self._build_multi_tab(), "Multi-class vs multi-label")
        return self.tabs

    # -- building ---------------------------------------------------------------------
    def _build_cross_entropy_tab(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        self.bce_plot = CurvePlot("Binary cross-entropy, p = sigmoid(z)",
                                  x_label="p = sigmoid(z)", y_label="loss")
        self.bce_plot.plot_item.legend.anchor((0.5, 0), (0.5, 0), offset=(0, 10))
        self.softmax_plot = CurvePlot("Softmax cross-entropy vs one-hot",
                                      x_label="p of the true class", y_label="loss")
        self.grad_plot = CurvePlot("Gradient d loss / d logits = p − onehot",
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

    def _build_sweep_tab(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        self.sweep_plot = CurvePlot("Softmax cross-entropy as logits grow: naive vs stable",
                                    x_label="logit scale s (logits = s × sweep logits)",
                                    y_label="loss", log_y=True)
        # Short titles: a pyqtgraph title never shrinks below its text, and would clip the plot.
        self.diff_plot = CurvePlot("|naive − stable|",
                                   x_label="logit scale s", y_label="absolute difference",
                                   log_y=True)
        self.rel_plot = CurvePlot("Relative error",
                                  x_label="logit scale s", y_label="|naive − stable| / stable", log_y=True,
                                  legend=False)  # the eps lines, in the same colours, name them
        for plot in (self.sweep_plot, self.diff_plot, self.rel_plot):
            self._log_x(plot)
        _legend_top_left(self.sweep_plot)
        # Bottom right: the naive loss is either equal to the stable one there or not finite.
        self.diff_plot.plot_item.legend.anchor((1, 1), (1, 1), offset=(-10, -10))
        # Machine epsilon of each type: a relative error near it is as good as it gets.
        for dtype, (_, naive_color) in DTYPE_COLORS.items():
            eps = float(np.finfo(dtype).eps)
            line = self.rel_plot.add_marker(y=eps, label=f"{dtype} eps {eps:.3g}",
                                            color=naive_color)
            line.label.setPosition(0.6)
        # Where the naive loss first stops being finite, one line per type.
        self.bad_markers = {
            dtype: self.sweep_plot.add_marker(x=0.0, label="naive", color=naive_color)
            for dtype, (_, naive_color) in DTYPE_COLORS.items()
        }
        for i, line in enumerate(self.bad_markers.values()):
            line.label.setPosition(0.2 - 0.1 * i)  # low: below the rising loss curve
        self.cursors = [plot.add_marker(x=0.0, label="s", color=CURSOR_COLOR)
                        for plot in (self.sweep_plot, self.diff_plot, self.rel_plot)]
        for line in self.cursors[1:]:
            line.label.hide()  # the loss plot names the scale; the small plots need the room
        self.numbers_text = _text_panel()
        self.small_text = _text_panel()
        grid.addWidget(self.sweep_plot, 0, 0, 1, 2)
        grid.addWidget(self.numbers_text, 0, 2)
        grid.addWidget(self.diff_plot, 1, 0)
        grid.addWidget(self.rel_plot, 1, 1)
        grid.addWidget(self.small_text, 1, 2)
        for column in range(3):
            grid.setColumnStretch(column, 1)
        return page

    def _build_multi_tab(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        # Short titles: a pyqtgraph title never shrinks below its text, and would clip the plot.
        self.softmax_bars = BarPlot("Multi-class: softmax", y_label="probability (sum 1)")
        self.sigmoid_bars = BarPlot("Multi-label: sigmoids", y_label="probability (each 0..1)")
        self.softmax_grad_bars = BarPlot("Gradient of softmax CE", y_label="p − onehot")
        self.bce_grad_bars = BarPlot("Gradient of Σ BCE", y_label="sigmoid − target")
        self.multi_text = _text_panel()
        grid.addWidget(self.softmax_bars, 0, 0)
        grid.addWidget(self.sigmoid_bars, 0, 1)
        grid.addWidget(self.multi_text, 0, 2, 2, 1)
        grid.addWidget(self.softmax_grad_bars, 1, 0)
        grid.addWidget(self.bce_grad_bars, 1, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 4)
        return page

    @staticmethod
    def _log_x(plot: CurvePlot) -> None:
        """Log x with ticks at 1, 2, 5 per decade at most (pyqtgraph's own labels every
        digit when few decades show, and they run into each other)."""
        item = plot.plot_item
        label = item.getAxis("bottom").labelText
        axis = _style.LogFriendlyAxis("bottom")
        item.setAxisItems({"bottom": axis})
        axis.setTickFont(_style.font(_style.TICK_PT))
        axis.enableAutoSIPrefix(False)
        _style.set_axis_label(item, "bottom", label)
        item.setLogMode(x=True)

    # -- drawing ----------------------------------------------------------------------
    def draw(self, snap: Snapshot) -> None:
        self._draw_cross_entropy(snap)
        self._draw_sweep(snap)
        self._draw_multi(snap)
        if snap.cursor is None:
            self._animating = False
        elif not self._animating:
            # Run animates the sweep: show it when the animation starts (once, so the
            # user may still switch tabs while it runs).
            self._animating = True
            self.tabs.setCurrentIndex(1)

    def _draw_cross_entropy(self, snap: Snapshot) -> None:
        b = snap.binary
        self.bce_plot.set_curve("y = 1: −log p", b.p, b.loss_y1, color=PALETTE[0])
        self.bce_plot.set_curve("y = 0: −log(1 − p)", b.p, b.loss_y0, color=PALETTE[1])

        s, m = snap.softmax, snap.multi
        names = m.names
        true = m.true_class
        self.softmax_plot.set_curve("−log p(true)", s.p_true, s.loss, color=PALETTE[0])
        p_now = float(s.current_probs[true])
        self.softmax_plot.set_curve("your logits", [p_now], [s.current_loss], color=PALETTE[3])
        self._as_dot(self.softmax_plot, "your logits", PALETTE[3], line=False)
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

    def _draw_sweep(self, snap: Snapshot) -> None:
        n = snap.revealed
        scales = snap.scales[:n]
        self._fix_sweep_ranges(snap)
        for sw in snap.sweeps:
            stable_color, naive_color = DTYPE_COLORS[sw.dtype]
            self.sweep_plot.set_curve(f"stable {sw.dtype}", scales,
                                      _finite_or_nan(sw.stable[:n]), color=stable_color, width=5)
            self.sweep_plot.set_curve(f"naive {sw.dtype}", scales,
                                      _finite_or_nan(sw.naive[:n]), color=naive_color,
                                      style="dash")
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
                line.label.setFormat(
                    f"naive → {sw.first_bad_kind} at s≈{sw.first_bad_scale:.4g} ({sw.dtype})")
        for line in self.cursors:
            line.setVisible(snap.cursor is not None)
            if snap.cursor is not None:
                line.setValue(np.log10(snap.scales[snap.cursor]))
        if snap.cursor is not None:
            self.cursors[0].label.setFormat(f"s = {snap.scales[snap.cursor]:.4g}")
        self.numbers_text.setText(self._numbers_html(snap))
        self.small_text.setText(self._small_html(snap))

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
                low, high = np.log10(positive.min()), np.log10(positive.max())
                plot.plot_item.setYRange(low, max(high, low + 1), padding=0.05)
        # The legend goes where the loss curve is not: top left when it rises, else bottom.
        stable = snap.sweeps[-1].stable
        rising = stable[-1] >= stable[0]
        legend = self.sweep_plot.plot_item.legend
        if rising:
            legend.anchor((0, 0), (0, 0), offset=(10, 10))
        else:
            legend.anchor((0, 1), (0, 1), offset=(10, -10))

    @staticmethod
    def _numbers_html(snap: Snapshot) -> str:
        """The sweep in numbers: a row per fact, a column per type."""
        logits = ", ".join(f"{v:g}" for v in snap.sweep_logits)
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
            return f"{sw.first_bad_kind} at s≈{sw.first_bad_scale:.4g}"

        def worst(sw: Sweep) -> str:
            finite = sw.rel_err[:n][np.isfinite(sw.rel_err[:n])]
            return f"{finite.max():.3g}" if finite.size else "–"

        head = "<tr><th></th>" + "".join(f"<th>{sw.dtype}</th>" for sw in snap.sweeps) + "</tr>"
        return (
            f"<b>Logits</b> s × [{logits}], true class {snap.sweep_label}<br>"
            f"<table style='margin-top: 4px;' cellspacing='0' cellpadding='2'>{head}"
            + row("e<sup>z</sup> overflows beyond s", lambda sw: f"{sw.overflow_scale:.5g}")
            + row("naive first non-finite", first_bad)
            + row("stable always finite", lambda sw: "yes" if np.isfinite(sw.stable[:n]).all()
                  else "no")
            + row("largest relative error", worst)
            + row(f"naive at s = {s_at}", lambda sw: _fmt(float(sw.naive[at]), sw.dtype, 8))
            + row(f"stable at s = {s_at}", lambda sw: _fmt(float(sw.stable[at]), sw.dtype, 8))
            + "</table>"
        )

    @staticmethod
    def _small_html(snap: Snapshot) -> str:
        """The small-scale example, a block per type (the numbers are long)."""
        n = f"{snap.small[0].n:g}"
        parts = [f"<b>Small scale</b>, n = {n}: a = 2/n and b = (1 + 1/n) − (1 − 1/n), "
                 "equal on paper.<table cellspacing='0' cellpadding='2'>"]
        for sm in snap.small:
            parts.append(
                f"<tr><td colspan='2'><b>{sm.dtype}</b></td></tr>"
                f"<tr><td>a</td><td>{_fmt(sm.direct, sm.dtype)}</td></tr>"
                f"<tr><td>b</td><td>{_fmt(sm.via_difference, sm.dtype)}</td></tr>"
                f"<tr><td>b − a</td><td>{sm.difference:.3g}</td></tr>"
                f"<tr><td>|b − a| / a&nbsp;</td><td>{sm.rel_error:.3g}</td></tr>")
        parts.append("</table>")
        return "".join(parts)

    def _draw_multi(self, snap: Snapshot) -> None:
        m = snap.multi
        names = list(m.names)
        k = len(names)
        onehot = np.arange(k) == m.true_class
        multi_colors = [TRUE_COLOR if t else FALSE_COLOR for t in onehot]
        label_colors = [TRUE_COLOR if t else FALSE_COLOR for t in m.targets > 0.5]
        self.softmax_bars.set_bars(names, m.softmax_probs, multi_colors)
        self.sigmoid_bars.set_bars(names, m.sigmoid_probs, label_colors)
        self.softmax_grad_bars.set_bars(names, m.softmax_grad, multi_colors)
        self.bce_grad_bars.set_bars(names, m.bce_grad, label_colors)
        for plot in (self.softmax_bars, self.sigmoid_bars):
            plot.plot_item.setYRange(0, 1.12, padding=0)  # probabilities: always 0..1
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{m.logits[i]:g}</td>"
            f"<td>{m.softmax_probs[i]:.4f}</td><td>{int(onehot[i])}</td>"
            f"<td>{m.sigmoid_probs[i]:.4f}</td><td>{int(m.targets[i])}</td>"
            f"<td>{m.bce_terms[i]:.4f}</td></tr>"
            for i, name in enumerate(names)
        )
        cell = "style='padding: 1px 5px;'"
        self.multi_text.setText(
            "<b>Same scores, two readings.</b><br>"
            f"<table {cell}><tr><th>label</th><th>logit</th><th>softmax</th><th>onehot</th>"
            "<th>sigmoid</th><th>target</th><th>BCE</th></tr>" + rows
            + f"<tr><td><b>sum</b></td><td></td><td><b>{m.softmax_probs.sum():.4f}</b></td>"
            f"<td>1</td><td><b>{m.sigmoid_probs.sum():.4f}</b></td>"
            f"<td>{int(m.targets.sum())}</td><td>{m.bce_sum:.4f}</td></tr></table><br>"
            f"<b>Multi-class</b>: exactly one true class "
            f"({html.escape(names[m.true_class])}); softmax cross-entropy "
            f"−log p = <b>{m.softmax_ce:.4f}</b>.<br>"
            f"<b>Multi-label</b>: each label on its own, {int(m.targets.sum())} true here; "
            f"binary cross-entropy summed over labels = <b>{m.bce_sum:.4f}</b>, "
            f"mean = <b>{m.bce_mean:.4f}</b> (torch's default).<br><br>"
            "Raising one softmax score lowers every other probability; a sigmoid only moves "
            "its own label."
        )

    def clear_views(self) -> None:
        # Reset: back to the complete static picture of the current settings.
        self.preview()
