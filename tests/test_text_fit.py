"""Text of the shared plot widgets kept whole in large type: tick names with descenders
under bar plots, titles wider than their data column, value labels over narrow bars, and
the hook a lab uses to arrange its texts after a plot placed its line labels."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFontMetricsF, QImage, QPainter
from PySide6.QtWidgets import QApplication

from vizlab.widgets import BarPlot, CurvePlot, theme


@pytest.fixture(autouse=True)
def desktop_mode():
    theme.set_presentation(False)
    yield
    theme.set_presentation(False)


def _shown(qtbot, widget, w, h):
    qtbot.addWidget(widget)
    widget.resize(w, h)
    widget.show()
    qtbot.waitExposed(widget)
    for _ in range(3):
        widget.grab()
        QApplication.processEvents()
    return widget


def _tick_text_boxes(axis) -> list[tuple[str, QRectF]]:
    """Each tick label of ``axis`` as drawn: pyqtgraph's box widened to the font's full
    line height (it keeps 0.8 of it and draws from the box's top), in axis coordinates."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        painter.setFont(axis.style["tickFont"])
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    height = QFontMetricsF(axis.style["tickFont"]).height()
    return [(text, QRectF(rect.left(), rect.top(), rect.width(), height))
            for rect, _, text in texts]


@pytest.mark.parametrize("presentation", [False, True])
@pytest.mark.parametrize("x_label", ["", "layer"])
def test_bar_names_with_descenders_are_whole_above_the_widget_edge(qtbot, presentation,
                                                                   x_label):
    theme.set_presentation(presentation)
    bars = BarPlot("Share passed down", x_label=x_label, y_label="ratio")
    bars.set_bars(["layer 1", "sigmoid", "pedestrian"], [0.7, 0.2, 0.5])
    _shown(qtbot, bars, 520, 260)
    axis = bars.plot_item.getAxis("bottom")
    assert axis.style["tickFont"].pointSize() == theme.tick_pt()
    boxes = _tick_text_boxes(axis)
    assert [t for t, _ in boxes] == ["layer 1", "sigmoid", "pedestrian"]
    # The whole line (descenders of "y", "g", "p") inside the axis, above its label.
    bottom = axis.label.mapRectToItem(axis, axis.label.boundingRect()).top() + 2 \
        if x_label else axis.rect().bottom()
    for text, box in boxes:
        assert box.bottom() <= bottom + 0.5, (text, box.bottom(), bottom)
    # And the axis inside the widget.
    scene = axis.mapRectToScene(axis.rect())
    view = bars.plot_item.scene().views()[0]
    assert view.mapFromScene(scene.bottomLeft()).y() <= view.viewport().height()


def _title_box(plot) -> QRectF:
    label = plot.plot_item.titleLabel
    return label.mapRectToItem(plot.plot_item, label.itemRect())


@pytest.mark.parametrize("width", [500, 330])
def test_a_title_wider_than_its_data_column_moves_left_and_stays_whole(qtbot, width):
    theme.set_presentation(True)
    title = "Softmax cross-entropy vs one-hot"
    plot = CurvePlot(title, x_label="p of the true class", y_label="loss")
    plot.set_curve("a", [0, 1], [0, 9])
    _shown(qtbot, plot, width, 260)
    inside = plot.plot_item.rect().adjusted(3.5, 0, -3.5, 0)
    box = _title_box(plot)
    assert inside.left() <= box.left() and box.right() <= inside.right(), (box, inside)
    assert plot.title_text_shown() == title
    data = plot.plot_item.vb.mapRectToItem(plot.plot_item, plot.plot_item.vb.rect())
    if width == 500:
        # It fits the widget: its full size, slid left from the data column's centre.
        assert plot.title_point_size() == theme.title_pt()
        assert box.center().x() < data.center().x() - 5
    else:
        assert 7 <= plot.title_point_size() < theme.title_pt()


def test_a_title_too_long_for_the_smallest_size_is_shortened_not_cut(qtbot):
    theme.set_presentation(True)
    title = "Softmax cross-entropy vs one-hot encoded targets, per class and per step"
    plot = CurvePlot(title, y_label="loss")
    _shown(qtbot, plot, 160, 200)
    shown = plot.title_text_shown()
    assert plot.title_point_size() == 7
    assert shown.endswith("…") and title.startswith(shown[:-1]) and len(shown) > 4
    box = _title_box(plot)
    inside = plot.plot_item.rect().adjusted(3.5, 0, -3.5, 0)
    assert inside.left() <= box.left() and box.right() <= inside.right(), (box, inside)
    # The title asked for stays the title (restyling, tests and exports read it).
    assert plot.plot_item.titleLabel.text == title
    theme.set_presentation(False)
    assert plot.plot_item.titleLabel.text == title
    plot.resize(900, 200)
    qtbot.waitUntil(lambda: plot.title_text_shown() == title, timeout=2000)
    assert plot.title_point_size() == theme.title_pt()


def test_bar_values_over_narrow_bars_are_set_smaller_instead_of_hidden(qtbot):
    bars = BarPlot("Inverted, train", x_label="unit")
    values = [2, 0, 0, 8, 10, 0, 14, 0]
    bars.set_bars([str(i + 1) for i in range(8)], values)
    _shown(qtbot, bars, 180, 300)
    vb = bars.plot_item.vb
    slot = vb.width() / 8.2
    wide = QFontMetricsF(theme.font(theme.tick_pt())).horizontalAdvance("14") + 4
    assert slot < wide, "the test needs bars too narrow for the full-size numbers"
    assert bars.values_shown()
    assert 7 <= bars.value_point_size() < theme.tick_pt()
    boxes = [t.sceneBoundingRect() for t in bars._texts if t.isVisible()]
    assert len(boxes) == 8
    assert all(a.right() <= b.left() for a, b in zip(boxes, boxes[1:])), "numbers touch"
    assert all(t.textItem.font().pointSize() == bars.value_point_size() for t in bars._texts)
    # Room again: the tick size.
    bars.resize(700, 300)
    qtbot.waitUntil(lambda: bars.value_point_size() == theme.tick_pt(), timeout=2000)


def test_curve_plot_says_when_its_line_labels_are_placed(qtbot):
    plot = CurvePlot("loss")
    plot.set_curve("a", np.arange(10.0), np.arange(10.0))
    _shown(qtbot, plot, 400, 300)
    with qtbot.waitSignal(plot.labels_placed, timeout=2000):
        plot.add_marker(x=4.0, label="here")
    assert plot.curve_names() == ["a"]


@pytest.mark.parametrize("pixels", [100, 200, 600])
def test_spaced_ticks_keep_numbers_apart_and_inside_the_axis(qtbot, pixels):
    from vizlab.widgets.heatmap import spaced_ticks

    metrics = QFontMetricsF(theme.font(16))
    low, high = -5.2, 5.2
    ticks = spaced_ticks(low, high, pixels, metrics)
    assert len(ticks) >= 2 if pixels >= 100 else ticks
    per_unit = pixels / (high - low)
    for (a, ta), (b, tb) in zip(ticks, ticks[1:]):
        assert (b - a) * per_unit >= (metrics.horizontalAdvance(ta)
                                      + metrics.horizontalAdvance(tb)) / 2
    for v, t in ticks:
        half = metrics.horizontalAdvance(t) / 2
        assert (v - low) * per_unit >= half and (high - v) * per_unit >= half
        assert float(t) == v and v == round(v, 3)
    if pixels == 600:
        assert len(ticks) >= 5  # room for every other unit at least


def test_layer_names_shorten_only_as_far_as_the_bars_need(qtbot):
    from vizlab.labs.style import bar_names

    metrics = QFontMetricsF(theme.font(12))
    names = ["conv1_1", "conv2_1", "conv3_1"]
    wide = metrics.horizontalAdvance("conv1_1") + 8
    assert bar_names(names, wide, metrics) == (names, "layer")
    assert bar_names(names, wide - 1, metrics) == (["c1_1", "c2_1", "c3_1"], "conv layer")
    assert bar_names(names, 10, metrics) == (["1_1", "2_1", "3_1"], "conv layer")
    assert bar_names(["relu", "pool"], 10, metrics) == (["relu", "pool"], "layer")


def test_cell_ticks_ask_only_for_labels_drawn_inside_the_axis(qtbot):
    from vizlab.widgets.heatmap import cell_ticks

    metrics = QFontMetricsF(theme.font(10))
    # 32 columns in 83 px (range -1.14 .. 32.14): 0 and 30 would cross the ends.
    ticks = cell_ticks(32, 83.0, 33.28, -1.14, metrics, vertical=False)
    assert [t for _, t in ticks] == ["10", "20"]
    # Narrower: still only labels inside the ends (one where two do not fit apart).
    for i, text in cell_ticks(32, 60.0, 33.28, -1.14, metrics, vertical=False):
        at = (i + 1.14) * 60.0 / 33.28
        assert metrics.horizontalAdvance(text) / 2 - 0.5 <= at <= 60.0 - (
            metrics.horizontalAdvance(text) / 2 - 0.5)
    # Wide: every 5th or 10th, from 0.
    wide = cell_ticks(32, 400.0, 33.28, -1.14, metrics, vertical=False)
    assert wide[0] == (0, "0") and len(wide) >= 4
    # A vertical axis may reach past its ends (pyqtgraph's 15 px): 0 stays.
    rows = cell_ticks(10, 95.0, 10.4, -0.7, metrics, vertical=True, reach=15)
    assert rows[0] == (0, "0") and len(rows) >= 2


def test_a_short_colour_bar_keeps_its_tick_numbers_apart(qtbot):
    from vizlab.widgets import Heatmap

    theme.set_presentation(True)
    heat = Heatmap("changes so far", sequential=True, value_label="steps")
    heat.set_data(np.linspace(0.0, 200.0, 10 * 32).reshape(10, 32))
    _shown(qtbot, heat, 300, 170)  # as in the Dropout lab's bottom row
    line = QFontMetricsF(theme.font(theme.tick_pt())).height()
    ticks = heat.bar_ticks()
    assert len(ticks) >= 2
    (low, high) = heat.levels()
    per_unit = heat.plot_item.vb.height() / (high - low)
    gaps = [(b - a) * per_unit for (a, _), (b, _) in zip(ticks, ticks[1:])]
    assert min(gaps) >= line, (ticks, gaps)  # "200 150 100 50 0" ran together
    heat.resize(300, 600)  # tall again: more ticks come back
    _shown(qtbot, heat, 300, 600)
    assert len(heat.bar_ticks()) > len(ticks)


def test_thinned_ticks_stay_round():
    from vizlab.widgets.heatmap import thinned

    five = [-0.4, -0.2, 0.0, 0.2, 0.4]
    assert thinned(five, 5) == five
    assert thinned(five, 3) == [-0.4, 0.0, 0.4]
    assert thinned(five, 2) == [-0.4, 0.4]
    assert thinned([0.0, 50.0, 100.0, 150.0, 200.0], 3) == [0.0, 100.0, 200.0]
