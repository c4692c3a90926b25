"""vizlab.widgets.theme: presentation mode restyles existing and new widgets, the series
palette is colour-blind safe with no two series alike in one plot, guide lines are grey."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QGraphicsItem

from vizlab.widgets import BarPlot, CurvePlot, Heatmap, theme


@pytest.fixture(autouse=True)
def desktop_mode():
    """Every test starts and ends in desktop mode, so no other test sees big fonts."""
    theme.set_presentation(False)
    yield
    theme.set_presentation(False)


def _tick_pt(plot: pg.PlotItem, side: str = "left") -> int:
    return plot.getAxis(side).style["tickFont"].pointSize()


def _widgets(qtbot):
    curve = CurvePlot("loss", x_label="step", y_label="loss")
    curve.set_curve("train", [0, 1, 2], [3.0, 2.0, 1.0], width=2.0)
    marker = curve.add_marker(y=1.5, label="chance")
    heat = Heatmap("weights", value_label="weight")
    heat.set_data(np.arange(12.0).reshape(3, 4))
    bars = BarPlot("dead", y_label="share")
    bars.set_bars(["a", "b"], [0.25, 0.5])
    for w in (curve, heat, bars):
        qtbot.addWidget(w)
    return curve, marker, heat, bars


def _assert_presentation_sizes(curve, marker, heat, bars):
    for plot in (curve.plot_item, heat.plot_item, bars.plot_item):
        assert _tick_pt(plot, "left") >= 16 and _tick_pt(plot, "bottom") >= 16
        assert plot.titleLabel.opts["size"] == f"{theme.title_pt()}pt"
        assert plot.getAxis("left").labelStyle["font-size"] == f"{theme.label_pt()}pt"
    assert heat.color_bar.axis.style["tickFont"].pointSize() >= 16
    assert curve._curves["train"].opts["pen"].widthF() == pytest.approx(2.0 * 1.75)
    assert marker.pen.widthF() == pytest.approx(1.5 * 1.75)
    assert marker.label.textItem.font().pointSize() >= 16
    assert all(t.textItem.font().pointSize() >= 16 for t in bars._texts)
    assert curve.plot_item.legend.items[0][1].opts["size"] == "16pt"


def test_sizes_follow_the_mode():
    assert (theme.tick_pt(), theme.label_pt(), theme.title_pt()) == (10, 11, 12)
    assert theme.line_width(2.0) == 2.0
    theme.set_presentation(True)
    assert theme.presentation()
    assert theme.tick_pt() >= 16 and theme.label_pt() > 16 and theme.title_pt() > theme.label_pt()
    assert theme.line_width(2.0) == pytest.approx(3.5)
    assert theme.font(theme.tick_pt()).pointSize() == 16


def test_existing_widgets_restyle_and_restore(qtbot):
    curve, marker, heat, bars = _widgets(qtbot)
    assert _tick_pt(curve.plot_item) == 10
    assert curve._curves["train"].opts["pen"].widthF() == 2.0
    theme.set_presentation(True)
    _assert_presentation_sizes(curve, marker, heat, bars)
    # Back to desktop sizes, not compounded by the round trip.
    theme.set_presentation(False)
    for plot in (curve.plot_item, heat.plot_item, bars.plot_item):
        assert _tick_pt(plot) == 10
    assert curve._curves["train"].opts["pen"].widthF() == 2.0
    assert marker.pen.widthF() == 1.5
    assert marker.label.textItem.font().pointSize() == 10
    assert heat.color_bar.axis.style["tickFont"].pointSize() == 10
    theme.set_presentation(True)
    theme.set_presentation(True)  # no change: nothing grows twice
    assert curve._curves["train"].opts["pen"].widthF() == pytest.approx(3.5)


def test_widgets_built_in_presentation_mode(qtbot):
    theme.set_presentation(True)
    curve, marker, heat, bars = _widgets(qtbot)
    _assert_presentation_sizes(curve, marker, heat, bars)


def test_items_a_lab_adds_are_scaled_too(qtbot):
    curve = CurvePlot("points")
    qtbot.addWidget(curve)
    dots = curve.plot_item.plot([0, 1], [0, 1], pen=None, symbol="o", symbolSize=6)
    text = pg.TextItem("note")
    text.setFont(theme.font(10))
    curve.plot_item.addItem(text)
    theme.set_presentation(True)
    assert dots.opts["symbolSize"] == pytest.approx(6 * 1.75)
    assert text.textItem.font().pointSize() == 16
    theme.set_presentation(False)
    assert dots.opts["symbolSize"] == 6


def test_callbacks_run_after_a_change_and_bound_methods_are_weak(qtbot):
    calls = []

    class Owner:
        def restyle(self):
            calls.append(theme.presentation())

    owner = Owner()
    theme.on_theme_changed(owner.restyle)
    theme.on_theme_changed(lambda: calls.append("plain"))
    theme.set_presentation(True)
    assert calls == [True, "plain"]
    del owner  # held weakly: no call after its owner is gone
    theme.set_presentation(False)
    assert calls == [True, "plain", "plain"]


def test_old_style_module_is_the_theme():
    from vizlab.widgets import _style

    assert _style is theme
    assert _style.palette_color(1) == theme.PALETTE[1]


# ----------------------------------------------------------------------------------
# colours


def _luminance(hex_color: str) -> float:
    r, g, b = (int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_palette_has_twelve_distinct_non_grey_colours():
    colors = [c.lower() for c in theme.PALETTE]
    assert len(colors) == 12 and len(set(colors)) == 12
    # Paul Tol's "bright" scheme first, in his order.
    assert colors[:6] == ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377"]
    for c in colors:
        r, g, b = (int(c[i:i + 2], 16) for i in (1, 3, 5))
        grey = max(r, g, b) - min(r, g, b) < 24
        assert not grey or c == "#000000", f"{c} reads as a guide line's grey"
        assert _luminance(c) < 0.8, f"{c} is too pale on white"
    assert theme.GUIDE_COLOR.lower() not in colors


def _pen_key(item: pg.PlotDataItem) -> tuple[str, object]:
    pen = item.opts["pen"]
    return pen.color().name(), pen.style()


def test_twelve_curves_in_one_plot_all_look_different(qtbot):
    plot = CurvePlot("many")
    qtbot.addWidget(plot)
    x = np.arange(3.0)
    for i in range(12):
        plot.set_curve(f"s{i}", x, x + i)
    keys = [_pen_key(plot._curves[f"s{i}"]) for i in range(12)]
    assert len({color for color, _ in keys}) == 12  # twelve colours, no dashes needed
    assert [c for c, _ in keys] == [c.lower() for c in theme.PALETTE]


def test_past_the_palette_colours_come_again_dashed(qtbot):
    plot = CurvePlot("more")
    qtbot.addWidget(plot)
    x = np.arange(3.0)
    for i in range(14):
        plot.set_curve(f"s{i}", x, x + i)
    keys = [_pen_key(plot._curves[f"s{i}"]) for i in range(14)]
    assert len(set(keys)) == 14
    assert keys[12] == (theme.PALETTE[0].lower(), pg.QtCore.Qt.PenStyle.DashLine)


def test_auto_colours_skip_the_ones_a_lab_chose(qtbot):
    plot = CurvePlot("mixed")
    qtbot.addWidget(plot)
    x = np.arange(3.0)
    plot.set_curve("chosen", x, x, color=theme.PALETTE[0])
    plot.set_curve("auto", x, x + 1)
    assert _pen_key(plot._curves["auto"])[0] == theme.PALETTE[1].lower()
    # A removed series frees its colour for the next one.
    plot.remove_curve("chosen")
    plot.set_curve("next", x, x + 2)
    assert _pen_key(plot._curves["next"])[0] == theme.PALETTE[0].lower()


def test_reference_lines_are_grey_not_a_series_colour(qtbot):
    plot = CurvePlot("guides")
    qtbot.addWidget(plot)
    line = plot.add_marker(y=0.5, label="chance")
    assert line.pen.color().name() == theme.GUIDE_COLOR.lower()
    assert line.pen.color().name() not in {c.lower() for c in theme.PALETTE}


def test_widgets_never_shown_restyle_too(qtbot):
    """A lab's other tabs are hidden when the mode changes: their plots restyle all the same."""
    curve = CurvePlot("hidden tab", x_label="step", y_label="loss")
    heat = Heatmap("weights", value_label="weight")
    qtbot.addWidget(curve)
    qtbot.addWidget(heat)
    theme.set_presentation(True)
    assert curve.plot_item.titleLabel.opts["size"] == f"{theme.title_pt()}pt"
    assert curve.plot_item.getAxis("left").labelStyle["font-size"] == f"{theme.label_pt()}pt"
    assert heat.color_bar.axis.labelStyle["font-size"] == f"{theme.tick_pt()}pt"


def test_a_long_title_shrinks_to_the_widget_instead_of_pushing_the_plot_out(qtbot):
    theme.set_presentation(True)
    plot = CurvePlot("Accuracy vs learning rate (training, running mean)", y_label="accuracy")
    plot.set_curve("a", [0, 1], [0, 1])
    qtbot.addWidget(plot)
    plot.resize(360, 240)
    plot.show()
    qtbot.waitExposed(plot)
    qtbot.waitUntil(lambda: plot.plot_item.width() <= plot.width(), timeout=2000)
    assert plot.title_point_size() < theme.title_pt()
    assert plot.plot_item.titleLabel.itemRect().width() <= plot.width()
    # Room again: the title goes back to its full size.
    plot.resize(1400, 240)
    qtbot.waitUntil(lambda: plot.width() == 1400, timeout=2000)
    assert plot.title_point_size() == theme.title_pt(), (plot.width(), plot.title_point_size())
    # A lab's own title size is kept when it fits.
    plot.plot_item.setTitle("short", size="11pt")
    assert plot.title_point_size() == 11


def test_tick_labels_on_a_short_axis_do_not_overlap_in_presentation_mode(qtbot):
    from PySide6.QtGui import QFontMetricsF

    plot = CurvePlot("share")
    qtbot.addWidget(plot)
    axis = plot.plot_item.getAxis("left")
    assert axis.tickSpacing(0.0, 1.0, 200)[0][0] == pytest.approx(0.2)  # room: as before
    theme.set_presentation(True)
    height = QFontMetricsF(axis.style["tickFont"]).height()
    for size in (80, 90, 150):  # pixels for the range 0..1.02, as the accuracy plots have
        major = axis.tickSpacing(0.0, 1.02, size)[0][0]
        pixels = major * size / 1.02
        assert pixels >= 0.8 * height, (size, major)  # labels apart
        # ... and one of them away from the ends (pyqtgraph hides those that stick out).
        assert any(height / 2 <= k * pixels <= size - height / 2 for k in range(1, 6))
        assert major in (0.2, 0.5)
    assert axis.tickSpacing(0.0, 1.0, 400)[0][0] == pytest.approx(0.2)  # tall: unchanged


def test_heatmap_read_out_shrinks_to_fit_a_narrow_heatmap(qtbot):
    from PySide6.QtGui import QFontMetricsF

    theme.set_presentation(True)
    heat = Heatmap("weights")
    qtbot.addWidget(heat)
    heat.resize(230, 200)
    heat.show()
    qtbot.waitExposed(heat)
    heat.set_data(np.array([[-0.80312, 0.80312]]))
    font = heat._info.font()
    assert font.pointSize() < 16
    assert QFontMetricsF(font).horizontalAdvance(heat._info.text()) <= heat.width() - 12
    heat.resize(800, 200)
    qtbot.waitUntil(lambda: heat._info.font().pointSize() == 16, timeout=2000)


def test_a_deleted_widget_is_not_restyled(qtbot):
    import weakref

    import shiboken6

    curve = CurvePlot("closed")

    def registered() -> bool:
        return any(isinstance(c, weakref.WeakMethod) and c() is not None
                   and c().__self__ is curve for c in theme._callbacks)

    assert registered()
    shiboken6.delete(curve)  # the C++ side gone, the Python wrapper still here
    theme.set_presentation(True)  # no crash: the deleted plot is skipped and forgotten
    assert not shiboken6.isValid(curve)
    assert not registered()


def test_an_axis_is_painted_from_its_pixmap_while_only_the_curves_change(qtbot,
                                                                         monkeypatch):
    """The grid crosses the plot: without a cache every change to a curve replayed the
    axes' drawing. Changed curves repaint; the axes redraw only when their range does."""
    painted: list[str] = []
    axis_paint = theme.Axis.paint
    monkeypatch.setattr(theme.Axis, "paint",
                        lambda self, *a: (painted.append("axis"), axis_paint(self, *a)))

    class PlotPaints(QObject):
        def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint:
                painted.append("plot")
            return False

    plot = CurvePlot("cached axes", x_label="x", y_label="y")
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.show()
    plot.plot_item.setXRange(0, 10, padding=0)
    plot.plot_item.setYRange(0, 1, padding=0)
    plot.plot_item.disableAutoRange()
    x = np.linspace(0, 10, 50)
    plot.set_curve("a", x, 0.5 + 0.1 * np.sin(x))
    plot.repaint()
    qtbot.wait(50)
    assert "axis" in painted  # drawn once, into its pixmap
    counter = PlotPaints()
    plot._view.viewport().installEventFilter(counter)
    painted.clear()
    plot.set_curve("a", x, 0.5 + 0.2 * np.cos(x))
    plot._view.viewport().repaint()
    assert "plot" in painted and "axis" not in painted
    painted.clear()
    plot.plot_item.setYRange(0, 2, padding=0)  # new ticks: the axes are drawn anew
    plot._view.viewport().repaint()
    assert "axis" in painted
    assert (plot.plot_item.getAxis("left").cacheMode()
            == QGraphicsItem.CacheMode.DeviceCoordinateCache)
