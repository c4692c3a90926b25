"""The Training lab draws with one hidden layer and with deep stacks, with and without
ReLU layers: every view takes whatever number of layers the settings give."""

import dataclasses

import numpy as np
import pytest

from engine.experiments import training


def snapshots(**settings):
    config = dataclasses.replace(training.Config(), steps=20, snapshot_every=5, **settings)
    return list(training.run(config))


@pytest.mark.parametrize("settings", [
    {"hidden": (64,)},
    {"hidden": (3,)},
    {"hidden": (8, 8, 8, 8, 8, 8)},
    {"hidden": (12,), "activations": ("tanh",)},
    {"hidden": (16, 16), "activations": ("relu", "tanh")},
], ids=["one-relu", "one-narrow", "deep", "one-tanh", "mixed"])
def test_training_view_draws_every_layer_count(qtbot, settings):
    from vizlab.labs.training import View

    runs = snapshots(**settings)
    view = View()
    qtbot.addWidget(view)
    view.resize(1280, 800)
    view.show()
    for snap in runs:
        view.draw(snap)  # raises where a view indexes layers wrongly
    last = runs[-1]
    relu_count = sum(1 for a in np.broadcast_to(
        settings.get("activations", ("relu",)), len(settings["hidden"])) if a == "relu")
    assert len(last.dead_layers) == relu_count
    assert view.dead_plot.curve_names() == list(last.dead_layers)
    dead = np.asarray(last.curves["dead"]).reshape(len(last.curves["step"]), -1)
    for i, name in enumerate(last.dead_layers):
        steps, shown = view.dead_plot.curve_data(name)
        np.testing.assert_array_equal(steps, last.curves["step"])
        np.testing.assert_array_equal(shown, dead[:, i])
        assert np.all((shown >= 0) & (shown <= 1))
    assert len(last.weights) == len(settings["hidden"]) + 1
