"""The Training lab's views: the data and the untrained network before Run, test points
drawn apart from training points, image data as images, a confusion matrix that shows
errors with the classes' names, and a dead-ReLU panel that says when it does not apply."""

import dataclasses

import numpy as np
import pytest

from engine.experiments import training


def run_snapshots(**settings):
    settings = {"steps": 20, "snapshot_every": 10, **settings}
    config = dataclasses.replace(training.Config(), **settings)
    return list(training.run(config))


def test_opening_the_lab_shows_the_data_and_untrained_network_without_run(shown_lab):
    view = shown_lab("training")  # waits for the preview, computed off the GUI thread
    assert view.runner.state not in ("running", "paused")
    assert view.draw_error is None
    snap = view.last_snapshot
    assert snap is not None and snap.step == 0
    assert view.shown is snap
    # the boundary of the untrained network over the plane, with all the training points
    image = view.boundary_plot.export_data()["image_rgb"]
    assert image.shape == (64, 64, 3)
    assert len(view.boundary_plot.export_data()["points"]) == len(snap.points) == 480
    # every layer's weights are drawn, as they start
    assert len(view.weight_maps) == 3
    np.testing.assert_array_equal(view.weight_maps[0].data(), snap.weights[0].T)
    # the curves hold the one point of step 0
    steps, loss = view.loss_plot.curve_data("train")
    assert steps.tolist() == [0] and loss[0] == pytest.approx(snap.curves["train_loss"][0])


def test_a_setting_change_previews_the_new_data_without_run(qtbot, shown_lab, previewed):
    view = shown_lab("training")
    view.apply_settings({"dataset": "moons", "hidden": (8,)})
    previewed(view)
    snap = view.last_snapshot
    assert snap.step == 0 and view.draw_error is None
    assert [w.shape for w in snap.weights] == [(2, 8), (8, 2)]
    assert len(view.weight_maps) == 2
    # moons lie in about [-1, 2] x [-0.5, 1]: not the spiral's square
    x0, x1, y0, y1 = snap.boundary_extent
    assert x1 - x0 > 1.3 * (y1 - y0)


@pytest.fixture
def drawn(qtbot):
    """A Training view at 1280x800 (no preview) that draws the given snapshots."""
    from vizlab.labs.training import View

    def make(snaps, **settings):
        view = View()
        view.disable_previews()
        qtbot.addWidget(view)
        view.apply_settings(settings)
        view.resize(1280, 800)
        view.show()
        for snap in snaps:
            view.draw_now(snap)
        return view

    return make


def test_2d_data_keeps_equal_aspect_and_draws_test_points_apart(drawn):
    snaps = run_snapshots(dataset="moons")
    view = drawn(snaps)
    last = snaps[-1]
    box = view.boundary_plot.plot_item.getViewBox()
    assert box.state["aspectLocked"] == 1.0
    (x0, x1), (y0, y1) = box.viewRange()
    rect = box.boundingRect()
    # one unit of x1 as many pixels as one unit of x2
    assert rect.width() / (x1 - x0) == pytest.approx(rect.height() / (y1 - y0), rel=0.02)
    # the held-out points: their own item, hollow rings outlined in their class colour
    x, y = view.test_scatter.getData()
    np.testing.assert_array_equal(np.c_[x, y], last.test_points)
    assert len(x) == 120 and len(view.boundary_plot.export_data()["points"]) == 480
    spots = view.test_scatter.points()
    assert spots[0].brush().color().name() == "#ffffff"
    assert spots[0].pen().widthF() >= 1.5
    assert view.test_scatter.isVisible()
    assert "○ test" in view.boundary_plot.title()


def test_show_test_points_toggles_them_on_the_drawn_snapshot(drawn):
    snaps = run_snapshots()
    view = drawn(snaps)
    frames = view.frames_drawn
    view.apply_settings({"show_test_points": False})
    assert not view.test_scatter.isVisible()
    assert "test" not in view.boundary_plot.title()
    assert view.frames_drawn == frames + 1 and view.shown is snaps[-1]  # redrawn, no preview
    assert not view.preview_pending
    view.apply_settings({"show_test_points": True})
    assert view.test_scatter.isVisible()


@pytest.mark.parametrize("dataset", ["digits", "glyphs47"])
def test_image_data_shows_samples_weight_tiles_errors_and_confusion(drawn, dataset):
    snaps = run_snapshots(dataset=dataset, n_samples=1000)
    last = snaps[-1]
    view = drawn(snaps)
    assert view.draw_error is None and view.image_mode
    assert not view.boundary_plot.isVisible()
    side = 8 if dataset == "digits" else 28
    assert last.image_shape == (side, side)
    # sample inputs: training images with their classes as captions
    assert view.samples.tile_count() == len(last.sample_images)
    assert view.samples.captions()[:12] == [last.class_names[k] for k in last.sample_labels[:12]]
    assert 0 < view.samples.shown_count() <= view.samples.tile_count()
    # first-layer weights: one tile per hidden unit, the kernel's columns as images
    np.testing.assert_array_equal(last.weight_tiles[3], last.weights[0][:, 3].reshape(side, side))
    assert view.first_tiles.tile_count() == 16
    assert len(view.weight_maps) == 2  # the other layers stay heatmaps
    # misclassified: predicted differs from true and is the network's argmax
    assert len(last.misclassified_images) == min(training.MAX_MISCLASSIFIED,
                                                 last.misclassified_count)
    assert np.all(last.misclassified_predicted != last.misclassified_true)
    wrong = last.confusion.sum() - np.trace(last.confusion)
    assert last.misclassified_count == wrong
    names = last.class_names
    assert view.misclassified.captions() == [
        f"{names[t]}→{names[p]}"
        for t, p in zip(last.misclassified_true, last.misclassified_predicted)]
    # the confusion matrix as row shares, class names on the axes
    rates = view.confusion.data()
    rows = last.confusion.sum(axis=1) > 0
    np.testing.assert_allclose(rates.sum(axis=1)[rows], 1.0, rtol=1e-6)
    np.testing.assert_allclose(rates, last.confusion / np.maximum(
        last.confusion.sum(axis=1, keepdims=True), 1), rtol=1e-6)
    assert view.confusion.levels() == (0.0, 1.0)
    labels = [text for _, text in view.confusion.plot_item.getAxis("left")._tickLevels[0]]
    assert labels and set(labels) <= set(names)


def test_misclassified_images_are_the_networks_argmax_errors():
    config = dataclasses.replace(training.Config(), dataset="digits", steps=30,
                                 snapshot_every=30, hidden=(32,))
    gen = training.run(config)
    snap = next(gen)
    data = training.load_data(config)
    model = training.build_model(config, data.x_train.shape[1], len(data.class_names))
    for var in model.trainable_variables:
        var.assign(snap.variables[var.name])
    flat = snap.misclassified_images.reshape(len(snap.misclassified_images), -1)
    predicted = training._probabilities(model, flat).argmax(axis=1)
    np.testing.assert_array_equal(predicted, snap.misclassified_predicted)
    assert np.all(snap.misclassified_predicted != snap.misclassified_true)
    # the images are test images of the true class given
    for image, label in zip(flat, snap.misclassified_true):
        match = np.flatnonzero(np.all(data.x_test == image, axis=1))
        assert len(match) >= 1 and label in data.y_test[match]


def test_class_names_are_the_characters_of_each_data_set(tmp_path):
    glyphs = training.load_data(training.Config(dataset="glyphs47", n_samples=300))
    assert len(glyphs.class_names) == 47
    assert "".join(glyphs.class_names) == (
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt")
    assert training.idx_class_names("emnist-balanced-train-images-idx3-ubyte", 47)[36:] == \
        tuple("abdefghnqrt")
    byclass = training.idx_class_names("emnist-byclass-train-images-idx3-ubyte", 62)
    assert byclass[10] == "A" and byclass[36] == "a" and byclass[-1] == "z"
    assert training.idx_class_names("emnist-letters-train-images", 27)[1:3] == ("A", "B")
    assert training.idx_class_names("fashion-train-images-idx3-ubyte", 10)[9] == "Boot"
    assert training.idx_class_names("train-images-idx3-ubyte", 10) == tuple("0123456789")


def test_dead_relu_panel_says_it_does_not_apply_with_tanh(drawn):
    snaps = run_snapshots(activations=("tanh",))
    view = drawn(snaps)
    assert snaps[-1].dead_layers == ()
    assert view.dead_plot.curve_names() == []
    assert view.dead_note.toPlainText().startswith("Does not apply: no ReLU layer (tanh)")
    legend = view.dead_plot.plot_item.legend
    assert legend is None or not legend.isVisible()
    # back to ReLU: the curves return and the note goes
    relu = run_snapshots()
    view.draw_now(relu[-1])
    assert view.dead_plot.curve_names() == ["dense_1", "dense_2"]
    assert view.dead_note.toPlainText() == ""


@pytest.mark.parametrize("scale", training.HEATMAP_SCALES)
def test_heatmap_scale_sets_the_weight_colour_levels(drawn, scale):
    snaps = run_snapshots(hidden=(32, 32))
    view = drawn(snaps, heatmap_scale=scale)
    kernels = snaps[-1].weights
    levels = [heatmap.levels() for heatmap in view.weight_maps]
    largest = [float(np.abs(k).max()) for k in kernels]
    if scale == "shared":
        assert levels == [(-max(largest), max(largest))] * 3
    elif scale == "per matrix":
        assert levels == [(-m, m) for m in largest]
    else:  # symmetric, out to the larger of the 1st and 99th percentiles
        for (low, high), kernel in zip(levels, kernels):
            p1, p99 = np.percentile(kernel, [1.0, 99.0])
            assert high == pytest.approx(max(-p1, p99), rel=1e-5)
            assert low == -high and high < np.abs(kernel).max()


@pytest.mark.parametrize("dataset", ["spiral", "digits"])
def test_no_legend_or_annotation_covers_data_in_the_default_snapshot(qtbot, drawn, dataset):
    from PySide6.QtWidgets import QApplication

    from vizlab.widgets.layout_check import plot_items, plot_overlaps

    snaps = run_snapshots(dataset=dataset, steps=100, snapshot_every=50)
    view = drawn(snaps)
    qtbot.waitUntil(lambda: view.views.isVisible())
    QApplication.processEvents()  # the layouts settle around the drawn data
    # every shown plot, the histogram's filled bins included
    plots = [plot for plot in plot_items(view.views) if plot.isVisible()]
    assert view.hist_plot.plot_item in plots
    assert len(plots) >= 9
    for plot in plots:
        assert plot_overlaps(plot) == []


def test_reset_previews_again_but_loaded_weights_are_not_previewed_over(qtbot, shown_lab,
                                                                         previewed):
    view = shown_lab("training")
    first = view.last_snapshot
    view.reset()  # back to step 0 of the current settings, drawn without Run
    assert view.preview_pending
    previewed(view)
    assert view.last_snapshot is not first and view.last_snapshot.step == 0
    assert view.draw_error is None
    # weights loaded from a file: Run continues from them, so no untrained preview
    shown = view.last_snapshot
    view.restore_state = dict(shown.variables)
    view.apply_settings({"learning_rate": 0.05})  # a live setting: the weights still fit
    qtbot.waitUntil(lambda: not view.preview_pending)
    assert view.last_snapshot is shown and not view.previewer.busy
    # a new network: the loaded weights no longer fit, so its preview is drawn
    view.apply_settings({"hidden": (16, 16), "seed": 3})
    assert view.restore_state is None
    previewed(view)
    assert view.last_snapshot is not shown and view.last_snapshot.weights[1].shape == (16, 16)


def test_no_misclassified_images_says_so(drawn):
    snap = run_snapshots(dataset="digits")[-1]
    perfect = dataclasses.replace(
        snap, misclassified_images=np.zeros((0, 8, 8), np.float32),
        misclassified_predicted=np.zeros(0, np.int64), misclassified_true=np.zeros(0, np.int64),
        misclassified_count=0)
    view = drawn([snap, perfect])
    assert view.draw_error is None
    assert view.misclassified.tile_count() == 0 and view.misclassified.captions() == []
    assert view.misclassified.note() == "every test image is right"
    assert view.misclassified.title().startswith(("0 of", "0/"))
