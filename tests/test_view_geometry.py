"""Geometry of lab views at the smallest supported size and in presentation mode: no
text cut at a widget's edge, no two labels on top of each other, no box over another.

Each test measures item rectangles in scene (pixel) coordinates after the view is laid
out and drawn, so a change that brings a collision back fails here."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtWidgets import QApplication

from vizlab.widgets import theme

BIG_EXPRESSION = ("sin(x*y) + cos(x - y)**2 + exp(-x*x) * log(1 + y*y) + tanh(x + y) * x"
                  " + sqrt(1 + x*x)")


@pytest.fixture(autouse=True)
def desktop_mode():
    theme.set_presentation(False)
    yield
    theme.set_presentation(False)


def _settle(view):
    view.grab()
    QApplication.processEvents()
    view.grab()


def _lab(qtbot, name, size, presentation, settings=None, step=None):
    """A lab view at ``size``, drawn synchronously: its untrained state, or the
    experiment's snapshot at ``step``."""
    from vizlab.labs import view_class

    theme.set_presentation(presentation)
    view = view_class(name)()
    view.disable_previews()
    qtbot.addWidget(view)
    if presentation:
        view.set_views_only(True)
    if settings:
        view.apply_settings(settings)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    for snap in view.experiment.run(view.config):
        if step is None or snap.step >= step:
            break
    view.draw_now(snap)
    _settle(view)
    view.draw_now(snap)  # again, at the size the layout settled on
    _settle(view)
    return view


def _overlapping(rects):
    return [(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(rects), 2)
            if a.intersects(b)]


@pytest.mark.parametrize("presentation", [False, True])
def test_a_25_node_graph_keeps_its_boxes_apart_and_inside_the_view(qtbot, presentation):
    # Into the backward pass: edge labels on the current node's edges.
    view = _lab(qtbot, "gradients", (1024, 640), presentation,
                {"expression": BIG_EXPRESSION, "values": "x=1, y=2"}, step=12)
    graph = view.graph
    assert len(graph.positions) >= 25
    area = graph.plot_item.vb.sceneBoundingRect()
    boxes = [box.sceneBoundingRect() for box in graph._boxes]
    assert _overlapping(boxes) == []
    assert all(area.contains(b) for b in boxes), "a box crosses the plot's edge"
    assert graph.box_pt() >= 6
    # The model fit() lays out with is what Qt draws (to a pixel or two).
    for model, real in zip(graph.box_rects(), boxes):
        assert abs(model.center().x() + area.left() - real.center().x()) < 2
        assert abs(model.center().y() + area.top() - real.center().y()) < 2
    labels = [label.sceneBoundingRect() for label in view.edge_labels if label.isVisible()]
    assert all(not label.intersects(box) for label in labels for box in boxes)
    assert _overlapping(labels) == []
    view.shutdown()


def test_a_small_graph_keeps_its_full_size_text_and_edge_labels(qtbot):
    view = _lab(qtbot, "gradients", (1024, 640), False, step=3)
    assert view.graph.box_pt() == 9
    boxes = [box.sceneBoundingRect() for box in view.graph._boxes]
    labels = [label.sceneBoundingRect() for label in view.edge_labels if label.isVisible()]
    assert labels, "the reverse pass's edges keep their labels"
    assert _overlapping(boxes) == []
    assert all(not label.intersects(box) for label in labels for box in boxes)
    view.shutdown()


@pytest.mark.parametrize("presentation", [False, True])
def test_bar_value_labels_are_whole_inside_their_plots(qtbot, presentation):
    from vizlab.widgets.layout_check import texts_inside

    view = _lab(qtbot, "activations", (1024, 640), presentation, step=20)
    bars = [view.shrink_bars, view.dead_bars, view.logit_bars, view.prob_bars,
            view.onehot_bars]
    for tab in ("vanishing gradients", "dying relu", "softmax"):
        view.apply_settings({"view": tab})
        _settle(view)
    for plot in bars:
        plot.window().show()
        assert plot.values_shown(), plot.plot_item.titleLabel.text
        # Each tab in front in turn: a hidden tab's plots are not laid out.
        view.tabs.setCurrentWidget(next(view.tabs.widget(i) for i in range(view.tabs.count())
                                        if view.tabs.widget(i).isAncestorOf(plot)))
        _settle(view)
        assert texts_inside(plot.plot_item) == [], plot.plot_item.titleLabel.text
    view.shutdown()


@pytest.mark.parametrize("presentation", [False, True])
def test_regularization_error_labels_sit_above_the_run_dots(qtbot, presentation):
    from vizlab.widgets.layout_check import legend_overlaps, texts_inside

    view = _lab(qtbot, "regularization", (1024, 640), presentation, step=200)
    plot = view.error_bars.plot_item
    shown = [label for label in view.error_values if label.isVisible()]
    assert len(shown) == 4
    assert [label.toPlainText() for label in shown] == [
        f"{m:.1f}" for m in view.error_bars.export_data()["values"]]
    assert texts_inside(plot) == []
    assert legend_overlaps(view.error_bars) == []  # no label on a dot or a bar
    view.shutdown()


@pytest.mark.parametrize("presentation", [False, True])
@pytest.mark.parametrize("label", [0, 2])
def test_loss_sweep_line_labels_keep_apart_and_the_small_scale_example_shows(
        qtbot, presentation, label):
    view = _lab(qtbot, "loss", (1024, 640), presentation,
                {"view": "naive vs stable", "sweep_label": label}, step=200)
    QApplication.processEvents()  # the line labels are placed on a turn of the loop
    _settle(view)
    labels = [line.label for line in (*view.bad_markers.values(), view.cursors[0])
              if line.isVisible() and line.label.isVisible()]
    assert labels, "the naive loss's first non-finite scale is marked"
    boxes = [label.sceneBoundingRect() for label in labels]
    if view.floor_note.isVisible():
        boxes.append(view.floor_note.sceneBoundingRect())
    # Apart by a few pixels: two labels that only touch read as one ("inf" + "s = 307").
    assert _overlapping([b.adjusted(-3, -1, 3, 1) for b in boxes]) == []
    area = view.sweep_plot.plot_item.vb.sceneBoundingRect()
    assert all(area.contains(b) for b in boxes)
    # The floor note at the tick size (scaled once in presentation mode).
    assert view.floor_note.textItem.font().pointSize() == theme.tick_pt()
    assert view.small_text.isVisible()
    view.shutdown()


def _tick_gaps(axis) -> list[float]:
    """Pixels between neighbouring tick labels of a heatmap's axis (as set by it)."""
    ticks = [v for v, _ in axis._tickLevels[0]] if axis._tickLevels else []
    vb = axis.linkedView()
    (x0, x1), (y0, y1) = vb.viewRange()
    pixels = vb.height() / abs(y1 - y0) if axis.orientation in ("left", "right") \
        else vb.width() / abs(x1 - x0)
    return [abs(b - a) * pixels for a, b in zip(ticks, ticks[1:])]


def test_dropout_weights_in_presentation_mode_keep_their_panels_and_ticks_apart(qtbot):
    from PySide6.QtGui import QFontMetricsF

    view = _lab(qtbot, "dropout", (1024, 640), True, {"view": "weights"}, step=5)
    line = QFontMetricsF(theme.font(theme.tick_pt())).height()
    for side in ("left", "right"):
        maps = view.maps[side]
        changed = maps["changed"].plot_item.vb.sceneBoundingRect()
        weights = maps["weights"].plot_item.vb.sceneBoundingRect()
        # The key beside the cells: the panel's cells as tall as its neighbours'.
        assert changed.height() >= 0.9 * weights.height()  # above: 2/3 of it
        key = maps["changed"].key.sceneBoundingRect()
        assert key.left() >= changed.right()
        assert maps["changed"].plot_item.sceneBoundingRect().contains(key)
        for heatmap in maps.values():
            gaps = _tick_gaps(heatmap.plot_item.getAxis("left"))
            assert gaps and min(gaps) >= line, heatmap.plot_item.titleLabel.text
    # Cells of the mask strip under those of the "changed now" panels.
    top = view.maps["left"]["changed"].plot_item.vb.sceneBoundingRect()
    mask = view.mask_map.plot_item.vb.sceneBoundingRect()
    top_x = view.maps["left"]["changed"]._view.mapTo(view, top.topLeft().toPoint()).x()
    mask_x = view.mask_map._view.mapTo(view, mask.topLeft().toPoint()).x()
    assert abs(top_x - mask_x) <= 1 and abs(top.width() - mask.width()) <= 1
    view.shutdown()


def test_training_loss_and_histogram_axes_keep_their_numbers_in_presentation_mode(qtbot):
    from vizlab.widgets.layout_check import drawn_tick_labels

    view = _lab(qtbot, "training", (1024, 640), True, step=100)
    for plot in (view.loss_plot, view.hist_plot):
        labels = drawn_tick_labels(plot.plot_item.getAxis("left"))
        assert len(labels) >= 2, (plot.plot_item.titleLabel.text, labels)
    view.shutdown()


def test_tick_keeper_labels_a_log_axis_within_one_decade(qtbot):
    from vizlab.widgets import CurvePlot
    from vizlab.widgets.layout_check import TickKeeper, drawn_tick_labels

    theme.set_presentation(True)
    plot = CurvePlot("loss", y_label="loss", log_y=True)
    x = [0.0, 1.0, 2.0, 3.0]
    plot.set_curve("loss", x, [0.72, 0.6, 0.5, 0.41])
    keeper = TickKeeper(plot.plot_item)
    qtbot.addWidget(plot)
    plot.resize(300, 200)
    plot.show()
    _settle(plot)
    keeper.fit()
    labels = drawn_tick_labels(plot.plot_item.getAxis("left"))
    assert len(labels) >= 2 and set(labels) <= {"0.4", "0.5", "0.6", "0.7"}


@pytest.mark.parametrize("presentation", [False, True])
def test_a_tall_linear_axis_always_gets_two_labels_from_pyqtgraph(qtbot, presentation):
    """TickKeeper leaves a linear axis TALL_AXIS_LINES lines tall or more to pyqtgraph
    without asking it which labels it draws: over random ranges and heights from
    that height up, pyqtgraph draws at least two."""
    import random

    from PySide6.QtGui import QFont, QFontMetricsF

    from vizlab.widgets import CurvePlot
    from vizlab.widgets.layout_check import TALL_AXIS_LINES, drawn_tick_labels

    theme.set_presentation(presentation)
    plot = CurvePlot("loss", y_label="loss")
    qtbot.addWidget(plot)
    plot.show()
    axis = plot.plot_item.getAxis("left")
    line = QFontMetricsF(axis.style["tickFont"] or QFont()).height()
    rng = random.Random(3)
    checked = 0
    for _ in range(60):
        centre = rng.choice([0.0, 1.0, -3.0, 1e-4, 2.5e6]) * rng.uniform(0.5, 2.0)
        span = 10.0 ** rng.uniform(-6, 6)
        plot.resize(300, int(TALL_AXIS_LINES * line * rng.uniform(1.0, 3.0)) + 40)
        plot.plot_item.setYRange(centre - span * rng.random(), centre + span, padding=0)
        _settle(plot)
        height = plot.plot_item.vb.height()
        if height < TALL_AXIS_LINES * line:
            continue
        labels = drawn_tick_labels(axis)
        assert len(labels) >= 2, (plot.plot_item.vb.viewRange()[1], height, labels)
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("presentation", [False, True])
def test_gradients_right_column_does_not_scroll_at_1024x640(qtbot, presentation):
    view = _lab(qtbot, "gradients", (1024, 640), presentation, step=5)
    bar = view.side_scroll.verticalScrollBar()
    assert bar.maximum() == 0, f"the column scrolls by {bar.maximum()} px"
    # Both tables whole, every row.
    for table in (view.derivative_table, view.apply_table):
        assert table.height() >= sum(table.rowHeight(r) for r in range(table.rowCount()))
        assert table.isVisible()
    view.shutdown()


@pytest.mark.parametrize("presentation", [False, True])
def test_gradients_in_a_1024x640_window_fits_its_column_and_keeps_full_size_boxes(
        window, presentation):
    """The whole window at 1024x640 (the lab list and settings beside the lab on a
    desktop; menus and toolbar in presentation mode): the right column without a scroll
    bar, and the graph's boxes at their full size (they were shrunk to 7 and 10 pt)."""
    from vizlab import cli

    window.resize(1024, 640)
    if presentation:
        window.set_presentation(True)
    view = window.select_lab("gradients")
    view.disable_previews()
    for snap in view.experiment.run(view.config):
        if snap.step >= 5:
            break
    view.show_snapshot(snap)
    cli.finish_picture(view, QApplication.instance())
    _settle(window)
    assert view.width() <= 1024 and view.height() < 640  # the room the window leaves
    bar = view.side_scroll.verticalScrollBar()
    assert bar.maximum() == 0, f"the column scrolls by {bar.maximum()} px"
    for table in (view.derivative_table, view.apply_table):
        assert table.height() >= sum(table.rowHeight(r) for r in range(table.rowCount()))
        assert table.visibleRegion().boundingRect().height() == table.height()
    # Not shrunk to fit: the size the mode gives 9 desktop points.
    points = {box.textItem.font().pointSize() for box in view.graph._boxes}
    assert points == {theme.scaled_pt(9)} and min(points) >= (14 if presentation else 9)
    # Every box still shows the node's adjoint (its name and value on the first line).
    x = [n.label for n in snap.nodes].index("x")
    assert view.graph.texts[x].split("\n")[-1] in ("adjoint = -0.99", "adj -0.99")
    assert "3" in view.graph.texts[x]
    # Both columns' texts at the size of the rest of the mode's text.
    assert view.symbolic_label.font().pointSize() >= (13 if presentation else 9)


def test_long_y_labels_have_a_short_form_in_presentation_mode(qtbot):
    from vizlab.widgets import CurvePlot
    from vizlab.widgets.layout_check import AxisLabels

    plot = CurvePlot("dead", y_label="share of the layer's units")
    qtbot.addWidget(plot)
    labels = AxisLabels((plot.plot_item, "share of the layer's units", "share dead"))
    axis = plot.plot_item.getAxis("left")
    assert axis.labelText == "share of the layer's units"
    theme.set_presentation(True)
    assert axis.labelText == "share dead"
    assert axis.labelStyle["font-size"] == f"{theme.label_pt()}pt"
    theme.set_presentation(False)
    assert axis.labelText == "share of the layer's units"
    del labels


def test_loss_sweep_text_column_is_fitted_again_when_its_tab_comes_to_the_front(qtbot):
    # Drawn while another tab is in front (as the gallery does), then shown: the
    # column is measured at its real size, so the small-scale example is there.
    view = _lab(qtbot, "loss", (1280, 800), False, {"view": "cross-entropy"}, step=200)
    view.apply_settings({"view": "naive vs stable"})
    _settle(view)
    assert view.small_text.isVisible()
    assert "<table" in view.numbers_text.text()  # wide enough for the table
    view.shutdown()


@pytest.mark.parametrize("size", [(1024, 640), (1280, 800)])
def test_dying_relu_rate_axis_numbers_do_not_run_together(qtbot, size):
    from PySide6.QtGui import QFontMetricsF

    from vizlab.widgets.layout_check import drawn_tick_labels

    view = _lab(qtbot, "activations", size, True, {"view": "dying relu"}, step=20)
    axis = view.sweep_plot.plot_item.getAxis("bottom")
    vb = view.sweep_plot.plot_item.vb
    (x0, x1), _ = vb.viewRange()
    per_unit = vb.width() / (x1 - x0)
    metrics = QFontMetricsF(axis.style["tickFont"])
    shown = [(v, t) for v, t in axis._tickLevels[0] if x0 <= v <= x1]
    assert len(shown) >= 3
    for (a, ta), (b, tb) in zip(shown, shown[1:]):
        room = (b - a) * per_unit
        assert room >= (metrics.horizontalAdvance(ta) + metrics.horizontalAdvance(tb)) / 2, \
            (ta, tb)
    assert set(drawn_tick_labels(axis)) <= {t for _, t in shown}
    view.shutdown()


def _titles_cut(view) -> list[str]:
    """Titles of ``view``'s shown plots whose text crosses their plot's left or right
    edge (a pixel of tolerance)."""
    from vizlab.widgets._base import PlotWidgetBase

    cut = []
    for widget in view.findChildren(PlotWidgetBase):
        label = widget.plot_item.titleLabel
        if not (widget.isVisible() and label.isVisible() and label.text):
            continue
        box = label.mapRectToScene(label.itemRect())
        edges = widget.plot_item.sceneBoundingRect()
        if box.left() < edges.left() - 1 or box.right() > edges.right() + 1:
            cut.append(label.text)
    return cut


@pytest.mark.parametrize(("lab", "tab"), [("loss", "cross-entropy"),
                                          ("loss", "naive vs stable"), ("style", None)])
def test_titles_are_whole_in_presentation_mode_at_1024x640(qtbot, lab, tab):
    view = _lab(qtbot, lab, (1024, 640), True, {"view": tab} if tab else None)
    assert _titles_cut(view) == []
    if lab == "loss" and tab == "cross-entropy":
        # Room for the whole title at the full size once it may use the y axis's width.
        assert view.softmax_plot.title_point_size() == theme.title_pt()
        assert view.softmax_plot.title_text_shown() == "Softmax cross-entropy vs one-hot"
    view.shutdown()


@pytest.mark.parametrize("presentation", [False, True])
def test_regularization_and_style_notes_follow_the_theme(qtbot, presentation):
    regularization = _lab(qtbot, "regularization", (1024, 640), presentation)
    style = _lab(qtbot, "style", (1024, 640), presentation)
    notes = [*regularization._notes(), style.note]
    wanted = theme.tick_pt() - 2 if presentation else QApplication.font().pointSize()
    assert [note.font().pointSize() for note in notes] == [wanted] * len(notes)
    # Mode changed while shown: they follow.
    theme.set_presentation(not presentation)
    wanted = theme.tick_pt() - 2 if not presentation else QApplication.font().pointSize()
    assert [note.font().pointSize() for note in notes] == [wanted] * len(notes)
    regularization.shutdown()
    style.shutdown()


@pytest.mark.parametrize(("size", "presentation"), [((1024, 640), False),
                                                   ((1024, 640), True),
                                                   ((870, 560), False)])
def test_gradients_plots_get_room_and_tables_keep_their_digits(qtbot, size, presentation):
    # 870x560: the lab's share of the whole window at 1024x640, settings shown.
    from PySide6.QtGui import QFontMetrics

    from vizlab.widgets.layout_check import drawn_tick_labels

    view = _lab(qtbot, "gradients", size, presentation, step=5)
    # Data areas a lecturer can read: in large type f and df sit side by side, each as
    # tall as the error plot beside them (they were 21 and 0 px tall one over the other).
    least = 130 if presentation else 60 if size[0] == 1024 else 45
    for plot in (view.f_plot, view.df_plot, view.error_plot):
        assert plot.plot_item.vb.height() >= least, plot.plot_item.titleLabel.text
    if presentation:
        f, df = (p.plot_item.vb.sceneBoundingRect() for p in (view.f_plot, view.df_plot))
        f_x = view.f_plot.mapTo(view, f.topLeft().toPoint()).x()
        df_x = view.df_plot.mapTo(view, df.topLeft().toPoint()).x()
        assert df_x > f_x + f.width()  # beside, not under
    for plot in (view.f_plot, view.df_plot):
        labels = drawn_tick_labels(plot.plot_item.getAxis("bottom"))
        assert len(labels) >= 2, labels
    # Every number whole: as many digits as the column has room for, no "…"; every
    # table as wide as its column leaves (the right column was narrower than them).
    for table in (view.derivative_table, view.apply_table):
        assert table.width() <= view.side_scroll.viewport().width()
        metrics = QFontMetrics(table.font())
        for row in range(table.rowCount()):
            for col in range(table.columnCount()):
                text = table.item(row, col).text()
                assert "…" not in text and "..." not in text
                assert metrics.horizontalAdvance(text) <= table.columnWidth(col) - 8, text
    numerical = view.derivative_table.item(0, 0).text()
    assert len(numerical.strip("-").replace(".", "")) >= 6, numerical  # -0.98999...
    # The "your h" line's label off the error curves (it sat on the V's arms).
    from vizlab.widgets.layout_check import legend_overlaps

    QApplication.processEvents()
    assert view.h_marker.label.isVisible()
    assert legend_overlaps(view.error_plot) == []
    view.shutdown()


@pytest.mark.parametrize("presentation", [False, True])
def test_regularization_fits_plot_keeps_most_of_the_height_at_1024x640(qtbot, presentation):
    view = _lab(qtbot, "regularization", (1024, 640), presentation, step=40)
    fits = view.fit_plot.plot_item.vb.height()
    # The lesson sits beside the fits, under the bars (under both plots it took the
    # fits a tenth of the height): the fits plot is as tall as the bars and the lesson.
    plot = view.fit_plot.geometry()
    assert view.lesson.geometry().left() >= plot.right()
    assert view.error_bars.geometry().top() == plot.top()
    assert plot.bottom() >= view.lesson.geometry().bottom()
    # The notes under the tabs: the run's numbers and the pruning.
    notes = sum(label.height() for label in (view.note, view.prune_note)
                if label.isVisible())
    assert fits >= 0.6 * view.height(), fits
    assert notes <= 0.1 * view.height(), notes  # with the lesson, 22% on a desktop
    if presentation:
        # The plot is the lesson: more than half the view (it had 240 of 640 px, the
        # notes a third), the run's numbers one hover away.
        assert fits >= 0.5 * view.height(), fits
        assert notes <= 0.16 * view.height(), notes
        assert "near 0" in view.note.toolTip() and "near 0" not in view.note.text()
        assert not view.prune_note.isVisible()  # nothing pruned yet: nothing to say
        assert "data loss" in view.lesson.text()
    else:
        assert "near 0" in view.note.text() and not view.note.toolTip()
        assert view.prune_note.isVisible()
    # Switching the mode brings the other form.
    theme.set_presentation(not presentation)
    assert ("near 0" in view.note.text()) == presentation
    view.shutdown()


@pytest.mark.parametrize(("presentation", "blocks"), [(False, 3), (False, 5), (True, 5)])
def test_style_bars_name_every_layer_at_1024x640(qtbot, presentation, blocks):
    from vizlab.widgets.layout_check import drawn_tick_labels

    view = _lab(qtbot, "style", (1024, 640), presentation, {"blocks": blocks, "steps": 2},
                step=1)
    bars = view.layer_bars.plot_item
    drawn = drawn_tick_labels(bars.getAxis("bottom"))
    # pyqtgraph kept one of five "convN_1" before.
    assert [name[-3:] for name in drawn] == [f"{b + 1}_1" for b in range(blocks)], drawn
    axis = bars.getAxis("bottom")
    if drawn[0] != "conv1_1":  # a short form: the axis says what was cut
        assert "conv" in axis.labelText
    label = axis.label.mapRectToScene(axis.label.boundingRect())
    scene = bars.scene().views()[0].sceneRect()
    assert scene.left() <= label.left() and label.right() <= scene.right() + 0.5
    # The per-layer key in as few rows as the short names allow: the curves keep room.
    legend = view.layer_plot.plot_item.legend
    assert legend.rows_for(legend.available_width()) <= 2
    assert view.layer_plot.plot_item.vb.height() >= 60
    view.shutdown()


def test_dropout_weights_read_in_the_whole_window_at_1024x640(qtbot):
    # The lab's share of the app window at 1024x640 (lab list, menus and transport
    # taken), settings shown: panels were 66 px wide with one x tick, the bottom
    # "changed now" 18 px tall.
    from vizlab.widgets.layout_check import drawn_tick_labels

    view = _lab(qtbot, "dropout", (870, 560), False, {"view": "weights"}, step=30)
    for side in ("left", "right"):
        maps = view.maps[side]
        boxes = {kind: h.plot_item.vb.sceneBoundingRect() for kind, h in maps.items()}
        # Cells of the side panels as wide as each other, and not starved by the middle.
        assert abs(boxes["weights"].width() - boxes["counts"].width()) <= 6
        assert boxes["weights"].width() >= 0.5 * boxes["changed"].width()
        for kind, heatmap in maps.items():
            assert boxes[kind].height() >= 40, (side, kind, boxes[kind].height())
            for axis_side in ("bottom", "left"):
                axis = heatmap.plot_item.getAxis(axis_side)
                asked = [t for _, t in axis._tickLevels[0]]
                assert len(asked) >= 2 and drawn_tick_labels(axis) == asked, \
                    (side, kind, axis_side, asked)
        assert maps["changed"].key.rows_for(maps["changed"].key.available_width()) == 1
        # "class" once a row, on the left.
        assert [h.plot_item.getAxis("left").labelText for h in maps.values()] == \
            ["class", "", ""]
    # The mask strip's cells under the "changed now" panels' still.
    top = view.maps["left"]["changed"]
    a = top.plot_item.vb.sceneBoundingRect()
    b = view.mask_map.plot_item.vb.sceneBoundingRect()
    a_x = top._view.mapTo(view, a.topLeft().toPoint()).x()
    b_x = view.mask_map._view.mapTo(view, b.topLeft().toPoint()).x()
    assert abs(a_x - b_x) <= 1 and abs(a.width() - b.width()) <= 1
    assert not view.weights_note.isVisible()  # its line stays under the curves
    view.shutdown()


def test_style_plots_keep_their_data_and_labels_in_the_whole_window_at_1024x640(qtbot):
    # The lab's share of the window at 1024x640 with the settings shown: the losses'
    # key took four rows (the plot 0 px tall) and the y labels ran past both ends.
    view = _lab(qtbot, "style", (870, 560), False, {"steps": 3}, step=2)
    for plot in (view.loss_plot, view.layer_plot, view.layer_bars):
        item = plot.plot_item
        legend = item.legend
        if legend is not None and legend.items:
            assert legend.rows_for(legend.available_width()) <= 2
        assert item.vb.height() >= 30, item.titleLabel.text
        axis = item.getAxis("left")
        label = axis.label.mapRectToScene(axis.label.boundingRect())
        # The rotated label's text within the plot's height (its box is the text's).
        area = item.sceneBoundingRect()
        assert area.top() - 1 <= label.top() and label.bottom() <= area.bottom() + 1, \
            axis.labelText
    # Two plots a row, not three 160 px wide with 50 px of data: the losses and the
    # per-layer curves side by side, whole in the view under the images; the bars and
    # the note a scroll below them.
    from vizlab.widgets.layout_check import drawn_tick_labels

    assert view.narrow
    viewport = view.scroll.viewport()
    board = view.scroll.widget()
    loss, layer = (p.geometry() for p in (view.loss_plot, view.layer_plot))
    assert loss.top() == layer.top() and loss.right() < layer.left()
    assert view.layer_bars.geometry().top() > loss.bottom()
    assert loss.bottom() <= viewport.height() and view.scroll.verticalScrollBar().maximum() > 0
    assert board.width() == viewport.width()  # no sideways scrolling
    for plot in (view.loss_plot, view.layer_plot, view.layer_bars):
        item = plot.plot_item
        assert item.vb.width() >= 200 and item.vb.height() >= 100, item.titleLabel.text
        for side in ("left", "bottom"):
            assert len(drawn_tick_labels(item.getAxis(side))) >= 2, (item.titleLabel.text, side)
    view.shutdown()


@pytest.mark.parametrize(("size", "presentation"), [((1024, 640), False),
                                                   ((870, 560), False),
                                                   ((1024, 640), True)])
def test_training_step_axes_start_with_a_0_tick(qtbot, size, presentation):
    """The loss and accuracy curves start at step 0, and so do their axes' labels: the
    first point sat 2% of the span in, less than half of "0" in a narrow plot, and
    pyqtgraph drops a label that crosses the axis's end."""
    from vizlab.widgets.layout_check import drawn_tick_labels

    view = _lab(qtbot, "training", size, presentation, {"snapshot_every": 10}, step=200)
    for plot in (view.loss_plot, view.acc_plot):
        item = plot.plot_item
        steps, _ = plot.curve_data("train")
        assert steps[0] == 0 and steps[-1] == 200
        labels = drawn_tick_labels(item.getAxis("bottom"))
        assert len(labels) >= 3, labels
        values = [float(text) for text in labels]
        assert values[0] == 0, labels
        assert values == sorted(values) and values[-1] <= 200
        spacing = values[1] - values[0]
        assert all(b - a == spacing for a, b in zip(values, values[1:])), labels
        # Still a little room left of the first point, and the range ends at a round 200.
        low, high = item.vb.viewRange()[0]
        assert low < 0 and high == 200
    view.shutdown()


def test_legend_samples_are_no_thicker_than_a_key_needs_in_presentation_mode(qtbot):
    """The Softmax & Loss lab draws stable float64 8 px wide and pale, under float32: its key's sample line is as thick as a usual curve's, not a bar; a
    thin curve's sample keeps its own width."""
    from PySide6.QtGui import QImage, QPainter

    from vizlab.widgets import legend as legends

    view = _lab(qtbot, "loss", (1024, 640), True, {"view": "naive vs stable"})
    key = view.sweep_plot.plot_item.legend
    samples = {label.text: sample for sample, label in key.items}
    wide = samples["stable float64"]
    cap = theme.line_width(legends.SAMPLE_LINE_PX)
    assert wide.item.opts["pen"].widthF() >= 8 > cap

    def drawn_rows(sample) -> int:
        """How many pixel rows of the sample's middle column it paints."""
        image = QImage(20, 20, QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        sample.paint(painter)
        painter.end()
        return sum(1 for y in range(20) if image.pixelColor(10, y).alpha() > 0)

    assert drawn_rows(wide) <= cap + 2  # antialiased edges
    thin = samples["stable float32"]
    width = thin.item.opts["pen"].widthF()
    assert width < cap
    assert width - 1 <= drawn_rows(thin) <= width + 2
    view.shutdown()
