"""No legend or annotation covers plotted data: the check itself (it does report a legend
put over a curve), the placing of CurvePlot legends and reference-line labels, and the
Training, Dropout and Optimizers labs' views after a few steps of a run."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QApplication

from vizlab.widgets import CurvePlot, theme
from vizlab.widgets.layout_check import legend_overlaps, segments_hit_box


@pytest.fixture(autouse=True)
def desktop_mode():
    theme.set_presentation(False)
    yield
    theme.set_presentation(False)


def _shown(qtbot, widget, size=(480, 360)):
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    widget.grab()  # lays out and paints: auto-range and the view range settle
    QApplication.processEvents()  # line labels are placed on the next turn of the loop
    widget.grab()
    return widget


# ----------------------------------------------------------------------------------
# the geometry


def test_segments_against_a_box():
    box = QRectF(10, 10, 10, 10)  # x 10..20, y 10..20
    starts = np.array([[0, 15], [0, 0], [0, 0], [15, 15], [0, 30]], float)
    ends = np.array([[30, 15], [30, 5], [30, 30], [16, 16], [30, 25]], float)
    # through; below; diagonal through; inside; above
    assert segments_hit_box(starts, ends, box).tolist() == [True, False, True, True, False]


# ----------------------------------------------------------------------------------
# the check can fail


def test_a_floating_legend_over_a_curve_is_reported(qtbot):
    plot = CurvePlot("falling", legend=False)
    legend = plot.plot_item.addLegend(offset=(10, 10))  # pyqtgraph's own, top left
    x = np.linspace(0.0, 1.0, 200)
    plot.set_curve("loss", x, 1.0 - x)  # starts in the top left corner
    plot.plot_item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    _shown(qtbot, plot)
    assert legend.items, "the legend has the curve's entry"
    found = legend_overlaps(plot)
    assert len(found) == 1
    assert "legend" in found[0] and "'loss'" in found[0]


def test_a_text_on_a_curve_is_reported_and_one_beside_it_not(qtbot):
    plot = CurvePlot("text")
    x = np.linspace(0.0, 1.0, 50)
    plot.set_curve("up", x, x)
    plot.plot_item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    on = pg.TextItem("on the line", anchor=(0.5, 0.5))
    on.setPos(0.5, 0.5)
    plot.plot_item.addItem(on)
    _shown(qtbot, plot)
    found = legend_overlaps(plot)
    assert len(found) == 1 and "'on the line'" in found[0]
    on.setPos(0.8, 0.1)  # bottom right, far below the diagonal
    _shown(qtbot, plot)
    assert legend_overlaps(plot) == []


def test_points_under_a_box_are_reported(qtbot):
    plot = CurvePlot("dots", legend=False)
    plot.plot_item.plot([0.5], [0.5], pen=None, symbol="o", symbolSize=8, name="dot")
    plot.plot_item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    note = pg.TextItem("here", anchor=(0.5, 0.5))
    note.setPos(0.5, 0.5)
    plot.plot_item.addItem(note)
    _shown(qtbot, plot)
    assert len(legend_overlaps(plot)) == 1


# ----------------------------------------------------------------------------------
# CurvePlot places its legend and its line labels off the data


@pytest.mark.parametrize("presentation", [False, True])
def test_curve_plot_legend_sits_above_the_plot_area(qtbot, presentation):
    theme.set_presentation(presentation)
    plot = CurvePlot("many", x_label="step", y_label="value")
    x = np.linspace(0.0, 1.0, 100)
    for i in range(11):  # rising and falling curves through every corner
        plot.set_curve(f"series {i}", x, x if i % 2 else 1 - x)
    _shown(qtbot, plot, (420, 420))
    legend = plot.plot_item.legend
    area = plot.plot_item.vb.sceneBoundingRect()
    box = legend.sceneBoundingRect()
    assert box.bottom() <= area.top() + 0.5  # above the plot area
    assert box.width() <= plot.plot_item.width()  # wrapped into the plot's width
    assert legend._columns > 1 and len(legend.items) == 11
    assert legend_overlaps(plot) == []
    # Labs' calls that placed the floating legend do nothing now.
    legend.anchor((0, 0), (0, 0), offset=(10, 10))
    legend.setColumnCount(1)
    plot.grab()
    assert legend.sceneBoundingRect().bottom() <= area.top() + 0.5


def test_an_empty_legend_takes_no_room(qtbot):
    plot = CurvePlot("none yet")
    _shown(qtbot, plot)
    assert not plot.plot_item.legend.isVisible()
    assert plot.plot_item.legend.maximumHeight() == 0


def test_a_line_label_moves_off_a_curve(qtbot):
    plot = CurvePlot("rising", legend=False)
    x = np.linspace(0.0, 1.0, 200)
    plot.set_curve("accuracy", x, x)
    plot.plot_item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    plot.plot_item.enableAutoRange(False)
    # The label's first place (right end of y = 0.9) is where the rising curve passes.
    line = plot.add_marker(y=0.9, label="target accuracy")
    _shown(qtbot, plot)
    assert legend_overlaps(plot) == []
    assert line.label.orthoPos != 0.92


# ----------------------------------------------------------------------------------
# the labs


def _small(name: str) -> dict:
    # The Optimizers lab trains 2 x 4 populations of 16 rates on 2000 glyphs a step:
    # fewer rates and samples keep the test to a few seconds; its plots are the same.
    if name == "optimizers":
        return {"rates": 4, "train_samples": 200, "test_samples": 60, "snapshot_every": 2}
    return {}


@pytest.mark.parametrize("name,steps", [("training", 20), ("dropout", 20), ("optimizers", 6)])
@pytest.mark.parametrize("size,presentation", [((1280, 800), False), ((1024, 640), True)])
def test_lab_views_have_no_legend_or_label_over_data(qtbot, name, steps, size, presentation):
    from vizlab.labs import view_class

    theme.set_presentation(presentation)
    view = view_class(name)()
    view.disable_previews()
    if _small(name):
        view.apply_settings(_small(name))
    drawn = 0
    for snap in view.experiment.run(view.config):
        view.show_snapshot(snap)
        drawn += 1
        if snap.step >= steps:
            break
    assert view.draw_error is None
    _shown(qtbot, view, size)
    assert drawn >= 2
    found = legend_overlaps(view)
    assert found == [], "\n".join(found)
    view.shutdown()


def test_a_label_with_curves_all_along_its_line_moves_right_of_the_plot(qtbot):
    plot = CurvePlot("at chance", legend=False)
    x = np.linspace(0.0, 1.0, 50)
    for k in range(20):  # losses at the chance level, closer than a label is tall
        plot.set_curve(f"loss {k}", x, 3.80 + 0.005 * k + 0.001 * np.sin(20 * x))
    line = plot.add_marker(y=3.85, label="chance")
    _shown(qtbot, plot)
    assert not line.label.isVisible()
    axis = plot.plot_item.getAxis("right")
    assert axis.isVisible()
    assert axis._tickLevels[0] == [(pytest.approx(3.85), "chance")]
    assert axis.scenePos().x() >= plot.plot_item.vb.sceneBoundingRect().right() - 0.5
    text = QFontMetricsF(axis.style["tickFont"]).horizontalAdvance("chance")
    assert axis.width() >= text  # room for the whole label
    theme.set_presentation(True)
    qtbot.waitUntil(lambda: axis.width() >= QFontMetricsF(theme.font(16))
                    .horizontalAdvance("chance"), timeout=2000)
    assert legend_overlaps(plot) == []
    plot.clear_markers()
    assert not axis.isVisible()


def test_place_clear_moves_a_note_off_the_curve(qtbot):
    from vizlab.widgets.layout_check import place_clear

    plot = CurvePlot("rising", legend=False)
    x = np.linspace(0.0, 1.0, 100)
    plot.set_curve("up", x, x)
    plot.plot_item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
    note = pg.TextItem("note", anchor=(0.5, 0.5))
    plot.plot_item.addItem(note)
    _shown(qtbot, plot)
    # On the diagonal first (taken), then top left (free), then bottom right.
    assert place_clear(plot.plot_item, note, [(0.5, 0.5), (0.15, 0.85), (0.85, 0.15)])
    assert (note.pos().x(), note.pos().y()) == (0.15, 0.85)
    assert legend_overlaps(plot) == []
    # Nowhere free: back at the first place, and the check says so.
    assert not place_clear(plot.plot_item, note, [(0.5, 0.5), (0.3, 0.3)])
    assert (note.pos().x(), note.pos().y()) == (0.5, 0.5)
    assert len(legend_overlaps(plot)) == 1


def test_a_text_over_a_histogram_bin_is_reported_and_one_above_it_not(qtbot):
    from vizlab.widgets import HistogramPlot

    plot = HistogramPlot("counts", legend=False)
    plot.set_histogram([1.0, 8.0, 2.0, 1.0], [0.0, 1.0, 2.0, 3.0, 4.0], name="layer")
    plot.plot_item.setRange(xRange=(0, 4), yRange=(0, 10), padding=0)
    note = pg.TextItem("note", anchor=(0.5, 0.5))
    note.setPos(1.5, 4.0)  # inside the tall bin's fill, far from its outline
    plot.plot_item.addItem(note)
    _shown(qtbot, plot)
    found = legend_overlaps(plot)
    assert len(found) == 1 and "filled bin" in found[0] and "'layer'" in found[0]
    note.setPos(3.5, 8.0)  # above the short last bin
    _shown(qtbot, plot)
    assert legend_overlaps(plot) == []
    note.setPos(2.0, 5.0)  # on the step down between bins 1 and 2 (no fill there)
    plot.plot_item.listDataItems()[0].setFillLevel(None)
    _shown(qtbot, plot)
    found = legend_overlaps(plot)
    assert len(found) == 1 and "outline" in found[0]


@pytest.mark.parametrize("presentation", [False, True])
def test_a_legend_wraps_into_columns_as_wide_as_their_own_entries(qtbot, presentation):
    # One long name and three short ones: two columns fit where two of the longest do not.
    theme.set_presentation(presentation)
    plot = CurvePlot("near zero", x_label="step", y_label="count")
    x = np.linspace(0.0, 1.0, 20)
    for name in ("none", "L1", "L2", "elastic net"):
        plot.set_curve(name, x, x)
    legend = plot.plot_item.legend
    _shown(qtbot, plot, (260 if presentation else 190, 360))
    room = legend.available_width()
    assert room > plot.plot_item.vb.width()  # the tick labels' column is the legend's too
    # The old rule (columns as wide as the widest entry, over the view box): one column.
    assert 2 * legend.entry_width() > plot.plot_item.vb.width()
    assert legend._columns >= 2
    assert legend.width_for(legend._columns) <= room
    box = legend.sceneBoundingRect()
    assert box.width() <= room + 0.5
    assert plot.plot_item.sceneBoundingRect().contains(box)
    assert box.bottom() <= plot.plot_item.vb.sceneBoundingRect().top() + 0.5
    # Every label whole, inside the legend's box.
    for _, label in legend.items:
        assert box.contains(label.sceneBoundingRect().adjusted(1, 1, -1, -1))


@pytest.mark.parametrize("presentation", [False, True])
def test_a_long_first_entry_widens_only_its_own_row(qtbot, presentation):
    # The grid of old made the first column as wide as its longest name for every row:
    # "data" then a gap the width of "elastic net regularised" before the next entry.
    theme.set_presentation(presentation)
    plot = CurvePlot("fits", x_label="x", y_label="y")
    x = np.linspace(0.0, 1.0, 20)
    names = ("elastic net regularised", "none", "L1", "L2", "data", "outliers")
    for name in names:
        plot.set_curve(name, x, x)
    _shown(qtbot, plot, (560 if presentation else 420, 360))
    legend = plot.plot_item.legend
    room = legend.available_width()
    spacing = legend.layout.horizontalSpacing()
    boxes = {label.text: (sample.sceneBoundingRect(), label.sceneBoundingRect())
             for sample, label in legend.items}
    rows: dict[float, list[tuple]] = {}
    for sample, label in boxes.values():
        rows.setdefault(round(label.center().y()), []).append((sample, label))
    assert len(rows) >= 2
    for entries in rows.values():
        entries.sort(key=lambda e: e[0].left())
        for (sample, label), nxt in zip(entries, entries[1:] + [None]):
            # Each label right after its sample, the next entry right after the label.
            assert label.left() - sample.right() <= spacing + 1
            if nxt is not None:
                assert nxt[0].left() - label.right() <= 14 + spacing + 1
        assert entries[-1][1].right() - entries[0][0].left() <= room
    # Rows evened out: no row of one short entry left over under a full one.
    counts = sorted(len(entries) for entries in rows.values())
    assert counts[-1] - counts[0] <= 1
    box = legend.sceneBoundingRect()
    assert box.bottom() <= plot.plot_item.vb.sceneBoundingRect().top() + 0.5
    for _, label in legend.items:
        assert box.contains(label.sceneBoundingRect().adjusted(1, 1, -1, -1))


def test_a_tight_gap_between_entries_saves_a_row_of_key(qtbot):
    plot = CurvePlot("losses", x_label="step", y_label="loss")
    x = np.linspace(0.0, 1.0, 20)
    for name in ("total", "content", "style", "TV"):
        plot.set_curve(name, x, x)
    legend = plot.plot_item.legend
    _shown(qtbot, plot, (400, 300))
    # Just too narrow for two entries a row with the usual gap, wide enough with less.
    usual, tight = legend.width_for(2, 14), legend.width_for(2, 6)
    assert tight < usual
    room = (usual + tight) / 2
    assert legend.columns_that_fit(room, 14) == 1
    assert legend.rows_for(room) == 2
    legend.set_entry_names(legend.entry_names())  # a reflow at the plot's own width
    assert legend.rows_for(legend.available_width()) == 1
