"""The Training lab's views: the data and the untrained network before Run, test points
drawn apart from training points, image data as images, a confusion matrix that shows
errors with the classes' names, and a dead-ReLU panel that says when it does not apply."""

import dataclasses

import numpy as np
import pytest

from engine.experiments import training


def run_snapshots(**settings):
    config = dataclasses.replace(training.Config(), steps=20, snapshot_every=10, **settings)
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
