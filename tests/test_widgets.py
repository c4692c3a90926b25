"""The shared plot widgets: data round-trips, levels, hover read-out, exports, rendering."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (registers pg.exporters)
import pytest
from PySide6.QtCore import QPoint, QPointF
from PySide6.QtGui import QImage

from vizlab.widgets import BarPlot, CurvePlot, Heatmap, HistogramPlot, ImageView


def shown(qtbot, widget, w=480, h=360):
    qtbot.addWidget(widget)
    widget.resize(w, h)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.wait(10)
    return widget


def pixel_at_view(widget, view_box: pg.ViewBox, x: float, y: float) -> tuple[int, int, int]:
    """Colour of the rendered widget at plot coordinates (x, y)."""
    gv = view_box.scene().views()[0]
    p = gv.mapFromScene(view_box.mapViewToScene(QPointF(x, y)))
    p = gv.viewport().mapTo(widget, p)
    img: QImage = widget.grab().toImage()
    dpr = img.devicePixelRatio()
    c = img.pixelColor(QPoint(int(p.x() * dpr), int(p.y() * dpr)))
    return c.red(), c.green(), c.blue()


# -- Heatmap ---------------------------------------------------------------------------


def test_heatmap_levels_are_symmetric_around_zero(qtbot):
    hm = Heatmap("weights")
    qtbot.addWidget(hm)
    w = np.array([[0.1, -0.5], [0.3, 0.2], [0.0, 0.25]], dtype=np.float32)
    image = hm.image_item
    hm.set_data(w)
    np.testing.assert_array_equal(hm.image_item.image, w)
    assert hm.levels() == pytest.approx((-0.5, 0.5))
    assert tuple(hm.image_item.getLevels()) == pytest.approx((-0.5, 0.5))
    assert hm.color_bar.levels() == pytest.approx((-0.5, 0.5))

    hm.set_data(w * 4)  # the same item is updated, never re-created
    assert hm.image_item is image
    assert hm.levels() == pytest.approx((-2.0, 2.0))

    hm.set_data(w, levels=(-1, 3))  # explicit levels win for this call
    assert tuple(image.getLevels()) == pytest.approx((-1, 3))

    hm.set_data(np.zeros((2, 2)))  # all zero still gets a drawable range
    assert hm.levels() == (-1.0, 1.0)

    hm.set_data(np.array([[np.nan, 0.3], [-0.1, 0.0]]))
    assert hm.levels() == pytest.approx((-0.3, 0.3))


def test_heatmap_fixed_and_sequential_levels(qtbot):
    fixed = Heatmap(levels=(-2, 2))
    qtbot.addWidget(fixed)
    fixed.set_data(np.array([[0.1, -0.3]]))
    assert fixed.levels() == (-2.0, 2.0)

    counts = Heatmap(sequential=True)
    qtbot.addWidget(counts)
    counts.set_data(np.array([[0, 3], [7, 1]]))
    assert counts.levels() == (0.0, 7.0)
    assert counts.image_item.image.dtype == np.float32

    with pytest.raises(ValueError):
        Heatmap(levels=(1, 1))
    with pytest.raises(ValueError):
        counts.set_data(np.zeros((2, 2, 2)))


def test_diverging_colour_map_is_white_at_zero_blue_below_red_above(qtbot):
    hm = Heatmap()
    qtbot.addWidget(hm)
    cmap = hm.color_bar.colorMap()
    mid = cmap.map(0.5, mode="byte")[:3]
    lo = cmap.map(0.0, mode="byte")[:3]
    hi = cmap.map(1.0, mode="byte")[:3]
    assert min(mid) > 240  # near white
    assert lo[2] > lo[0]  # blue for negative
    assert hi[0] > hi[2]  # red for positive


def test_heatmap_renders_centred_colours_and_a_colour_bar(qtbot):
    hm = shown(qtbot, Heatmap("w", value_label="weight"))
    w = np.zeros((4, 6))
    w[:, :2] = -1.0
    w[:, 4:] = 1.0
    hm.set_data(w)
    qtbot.wait(20)
    vb = hm.plot_item.getViewBox()
    r, g, b = pixel_at_view(hm, vb, 0, 1)  # cell (row 1, col 0) = -1
    assert b > 80 and b > r + 40, (r, g, b)
    r, g, b = pixel_at_view(hm, vb, 2.5, 1)  # a zero cell
    assert min(r, g, b) > 230, (r, g, b)
    r, g, b = pixel_at_view(hm, vb, 5, 3)  # cell (row 3, col 5) = +1
    assert r > 80 and r > b + 40, (r, g, b)
    # The colour bar is part of the plot (so PlotItem exports include it) and visible.
    assert hm.color_bar.isVisible()
    assert hm.color_bar.parentItem() is not None


def test_heatmap_hover_lookup(qtbot):
    hm = shown(qtbot, Heatmap())
    w = np.arange(12, dtype=float).reshape(3, 4) - 5.5
    hm.set_data(w)
    # Cells are centred on integer coordinates: x is the column, y the row.
    assert hm.cell_at(3.2, 1.9) == (2, 3)
    assert hm.cell_at(-0.4, -0.4) == (0, 0)
    assert hm.cell_at(4.6, 0) is None
    assert hm.cell_at(0, -0.6) is None
    assert hm.value_at(2, 3) == w[2, 3]
    assert hm.hover_text(1, 2) == "row 1, col 2: 0.5"

    # A mouse move over cell (1, 2) shows its value in the read-out line.
    vb = hm.plot_item.getViewBox()
    hm._view.scene().sigMouseMoved.emit(vb.mapViewToScene(QPointF(2.1, 0.8)))
    assert hm._info.text() == "row 1, col 2: 0.5"
    hm.set_data(w * 2)  # the read-out follows new data under a still mouse
    assert hm._info.text() == "row 1, col 2: 1"


def test_heatmap_export_data_is_a_copy(qtbot):
    hm = Heatmap()
    qtbot.addWidget(hm)
    w = np.random.default_rng(0).normal(size=(5, 3))
    hm.set_data(w)
    out = hm.export_data()
    np.testing.assert_array_equal(out["values"], w)
    out["values"][0, 0] = 99
    assert hm.value_at(0, 0) == w[0, 0]


# -- CurvePlot ----------------------------------------------------------------------


def test_curve_data_round_trips_and_items_are_reused(qtbot):
    cp = CurvePlot("loss", x_label="step", y_label="loss")
    qtbot.addWidget(cp)
    x = np.arange(50.0)
    y = np.exp(-x / 10)
    item = cp.set_curve("train", x, y)
    xd, yd = item.getData()
    np.testing.assert_allclose(xd, x)
    np.testing.assert_allclose(yd, y)
    assert cp.set_curve("train", x[:10], y[:10]) is item
    assert len(item.getData()[0]) == 10
    cp.set_curve("test", [1, 2, 3])  # y only: plotted against 0, 1, 2
    np.testing.assert_array_equal(cp.curve_data("test")[0], [0, 1, 2])
    assert cp.curve_names() == ["train", "test"]
    legend_labels = [label.text for _, label in cp.plot_item.legend.items]
    assert legend_labels == ["train", "test"]

    out = cp.export_data()
    assert set(out) == {"train_x", "train_y", "test_x", "test_y"}
    np.testing.assert_allclose(out["train_y"], y[:10])

    cp.remove_curve("test")
    assert cp.curve_names() == ["train"]
    with pytest.raises(ValueError):
        cp.set_curve("bad", [1, 2], [1, 2, 3])


def test_curve_log_y_keeps_data_and_moves_markers(qtbot):
    cp = CurvePlot(log_y=True)
    qtbot.addWidget(cp)
    cp.set_curve("loss", [0, 1, 2], [1.0, 0.0, 0.01])
    assert cp.log_y
    # Zero cannot be drawn on a log axis; it is a gap, and the exported data is untouched.
    np.testing.assert_array_equal(cp.export_data()["loss_y"], [1.0, 0.0, 0.01])
    marker = cp.add_marker(y=0.1, label="target")
    assert marker.value() == pytest.approx(-1.0)  # log10(0.1): lines live in log space
    vline = cp.add_marker(x=1.5, label="lr drop")
    assert vline.value() == pytest.approx(1.5) and vline.angle == 90
    cp.set_log_y(False)
    assert marker.value() == pytest.approx(0.1)
    with pytest.raises(ValueError):
        cp.add_marker()
    cp.clear_markers()
    assert marker.scene() is None


# -- ImageView, HistogramPlot, BarPlot ------------------------------------------------


def test_image_view_accepts_uint8_and_float_images(qtbot):
    iv = ImageView("input")
    qtbot.addWidget(iv)
    assert iv.plot_item is None
    rgb = np.zeros((8, 10, 3), dtype=np.uint8)
    rgb[..., 0] = 255
    iv.set_image(rgb)
    assert iv.image_item.image.shape == (8, 10, 3)
    assert tuple(iv.image_item.getLevels()) == (0, 255)

    f = np.linspace(-0.5, 1.5, 20, dtype=np.float32).reshape(4, 5)
    iv.set_image(f)
    img = iv.image_item.image
    assert img.min() == 0.0 and img.max() == 1.0  # clipped to 0..1
    assert tuple(iv.image_item.getLevels()) == (0.0, 1.0)
    np.testing.assert_array_equal(iv.export_data()["image"], np.clip(f, 0, 1))

    iv.set_image(np.ones((3, 3, 1)))
    assert iv.image_item.image.shape == (3, 3)
    with pytest.raises(ValueError):
        iv.set_image(np.ones((3, 3, 2)))


def test_image_view_draws_the_image_with_locked_aspect(qtbot):
    iv = shown(qtbot, ImageView(), 400, 300)
    img = np.zeros((10, 10, 3), dtype=np.float32)
    img[:, :5, 0] = 1.0  # left half red
    img[:, 5:, 2] = 1.0  # right half blue
    iv.set_image(img)
    qtbot.wait(20)
    vb = iv._vb
    assert vb.state["aspectLocked"]
    r, g, b = pixel_at_view(iv, vb, 2, 5)
    assert r > 200 and b < 50, (r, g, b)
    r, g, b = pixel_at_view(iv, vb, 8, 5)
    assert b > 200 and r < 50, (r, g, b)


def test_histogram_series(qtbot):
    hp = HistogramPlot("activations")
    qtbot.addWidget(hp)
    counts, edges = np.histogram(np.random.default_rng(1).normal(size=500), bins=12)
    item = hp.set_histogram(counts, edges)
    xd, yd = item.getData()
    np.testing.assert_allclose(xd, edges)
    np.testing.assert_allclose(yd, counts)
    assert item.opts["stepMode"] == "center"
    assert hp.set_histogram(counts * 2, edges) is item
    hp.set_histogram(counts, edges, name="layer 2")
    out = hp.export_data()
    assert set(out) == {"counts_counts", "counts_edges", "layer 2_counts", "layer 2_edges"}
    np.testing.assert_allclose(out["counts_counts"], counts * 2)
    with pytest.raises(ValueError):
        hp.set_histogram(counts, edges[:-1])


def test_bar_plot(qtbot):
    bp = BarPlot("dead ReLUs", y_label="fraction")
    qtbot.addWidget(bp)
    bp.set_bars(["layer 1", "layer 2", "layer 3"], [0.1, 0.4, 0.25])
    np.testing.assert_allclose(bp._bars.opts["height"], [0.1, 0.4, 0.25])
    np.testing.assert_allclose(bp._bars.opts["x"], [0, 1, 2])
    ticks = bp.plot_item.getAxis("bottom")._tickLevels[0]
    assert [t[1] for t in ticks] == ["layer 1", "layer 2", "layer 3"]
    assert [t.toPlainText() for t in bp._texts] == ["0.1", "0.4", "0.25"]
    bp.set_bars(["a", "b"], [1, -2], colors=["#ff0000", "#0000ff"])
    assert len(bp._texts) == 2
    out = bp.export_data()
    assert list(out["labels"]) == ["a", "b"]
    np.testing.assert_array_equal(out["values"], [1.0, -2.0])
    with pytest.raises(ValueError):
        bp.set_bars(["a"], [1, 2])


def test_export_items_work_with_pyqtgraph_exporters(qtbot, tmp_path):
    hm = shown(qtbot, Heatmap("w"))
    hm.set_data(np.eye(3) - 0.5)
    iv = shown(qtbot, ImageView("img"))
    iv.set_image(np.full((6, 6), 0.5))
    for name, widget in (("heatmap", hm), ("image", iv)):
        path = tmp_path / f"{name}.png"
        pg.exporters.ImageExporter(widget.export_item).export(str(path))
        img = QImage(str(path))
        assert not img.isNull() and img.width() > 50 and img.height() > 50
    assert hm.export_item is hm.plot_item


def test_context_menus_are_built_on_the_first_hover_only_where_wanted(qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QEnterEvent

    curve, heatmap = CurvePlot("c"), Heatmap("h")
    for widget in (curve, heatmap):
        qtbot.addWidget(widget)
        # Nothing is built while a lab builds: neither menu exists yet.
        assert not widget.plot_item.menuEnabled() and widget.plot_item.vb.menu is None
        point = QPointF(5, 5)
        widget.event(QEnterEvent(point, point, point))
    assert curve.plot_item.menuEnabled() and curve.plot_item.vb.menu is not None
    assert not heatmap.plot_item.menuEnabled() and heatmap.plot_item.vb.menu is None


def _pixels_per_unit(view_box: pg.ViewBox) -> tuple[float, float]:
    px, py = view_box.viewPixelSize()  # one pixel's size in data units
    return 1.0 / px, 1.0 / py


def test_curve_plot_equal_aspect_draws_a_circle_round(qtbot):
    plot = CurvePlot("circle", legend=False)
    t = np.linspace(0, 2 * np.pi, 100)
    plot.set_curve("circle", np.cos(t), 0.5 * np.sin(t) + 0.5)
    plot.set_equal_aspect(True)
    shown(qtbot, plot, 600, 300)  # a wide widget: the view widens x, not squeezes y
    assert plot.equal_aspect
    assert plot.plot_item.vb.state["aspectLocked"] == 1.0
    px, py = _pixels_per_unit(plot.plot_item.vb)
    assert px == pytest.approx(py, rel=1e-3)
    plot.set_equal_aspect(False)
    assert not plot.equal_aspect
    plot.plot_item.autoRange()
    qtbot.waitUntil(lambda: abs(np.subtract(*_pixels_per_unit(plot.plot_item.vb))) > 1.0,
                    timeout=2000)


def test_decision_boundary_plot_keeps_equal_aspect(qtbot):
    from vizlab.widgets.boundary import BoundaryPlot

    plot = BoundaryPlot()
    probs = np.full((8, 8, 2), 0.5, dtype=np.float32)
    points = np.array([[-1.0, -0.5], [1.0, 0.5]])
    plot.set_boundary(probs, (-2.0, 2.0, -1.0, 1.0), points, np.array([0, 1]))
    shown(qtbot, plot, 300, 500)  # tall: x must not stretch to fill it
    assert plot.plot_item.vb.state["aspectLocked"] == 1.0
    px, py = _pixels_per_unit(plot.plot_item.vb)
    assert px == pytest.approx(py, rel=1e-3)
    (x0, x1), (y0, y1) = plot.plot_item.vb.viewRange()
    assert x0 <= -2.0 and x1 >= 2.0 and y0 <= -1.0 and y1 >= 1.0  # the whole plane shows


def test_plots_show_only_their_left_and_bottom_axes(qtbot):
    for widget in (CurvePlot("c"), Heatmap("h"), BarPlot("b"), HistogramPlot("h")):
        shown(qtbot, widget, 300, 200)
        visible = {side for side in ("left", "bottom", "right", "top")
                   if widget.plot_item.getAxis(side).isVisible()}
        assert visible == {"left", "bottom"}, type(widget).__name__


def test_bar_values_and_names_show_only_where_they_fit(qtbot):
    bars = BarPlot("softmax", value_format="{:.3f}")
    names = [f"class {i}" for i in range(10)]
    bars.set_bars(names, np.linspace(0.05, 0.15, 10))
    shown(qtbot, bars, 1200, 300)
    qtbot.waitUntil(lambda: bars.plot_item.vb.width() > 1000, timeout=2000)
    assert bars.values_shown() and all(t.isVisible() for t in bars._texts)
    ticks = bars.plot_item.getAxis("bottom")._tickLevels[0]
    assert [n for _, n in ticks] == names
    bars.resize(300, 300)
    qtbot.waitUntil(lambda: bars.plot_item.vb.width() < 300, timeout=2000)
    assert not bars.values_shown()  # "0.050" in a 26-pixel slot would run together
    ticks = bars.plot_item.getAxis("bottom")._tickLevels[0]
    assert 1 < len(ticks) < 10 and ticks[0] == (0, "class 0")
