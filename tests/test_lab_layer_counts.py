"""The Training lab draws with one hidden layer and with deep stacks, with and without
ReLU layers: every view takes whatever number of layers the settings give."""

import dataclasses
import struct

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
        view.draw_now(snap)  # raises where a view indexes layers wrongly
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


def _write_idx(path, arr: np.ndarray) -> str:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())
    return str(path)


def _dataset_settings(dataset: str, tmp_path) -> dict:
    """Settings that make `dataset` loadable: files written for idx and csv."""
    if dataset == "idx":
        # an EMNIST-balanced-like file: 47 classes of 12x12 images, 4 of each
        rng = np.random.default_rng(0)
        labels = np.repeat(np.arange(47), 4)
        images = rng.integers(0, 256, size=(len(labels), 12, 12))
        return {"idx_images_path": _write_idx(tmp_path / "emnist-balanced-images", images),
                "idx_labels_path": _write_idx(tmp_path / "emnist-balanced-labels", labels)}
    if dataset == "csv":
        rng = np.random.default_rng(0)
        rows = [f"{x:.3f},{y:.3f},{int(x > 0)}" for x, y in rng.normal(size=(60, 2))]
        path = tmp_path / "points.csv"
        path.write_text("x1,x2,label\n" + "\n".join(rows) + "\n")
        return {"csv_path": str(path)}
    if dataset == "glyphs47":
        return {"n_samples": 300}
    return {}


@pytest.mark.parametrize("hidden", [(8,), (6, 6, 6, 6, 6)], ids=["one-layer", "deep"])
@pytest.mark.parametrize("dataset", training.DATASET_CHOICES)
def test_every_data_set_draws_with_one_layer_and_deep(qtbot, tmp_path, dataset, hidden):
    from vizlab.labs.training import View

    settings = {"dataset": dataset, "hidden": hidden, **_dataset_settings(dataset, tmp_path)}
    runs = snapshots(**settings)
    view = View()
    view.disable_previews()
    qtbot.addWidget(view)
    view.resize(1024, 640)
    view.show()
    for snap in runs:
        view._draw(snap)  # as the lab draws: a failure is kept in draw_error
        assert view.draw_error is None, view.draw_error
    last = runs[-1]
    images = dataset in ("digits", "glyphs47", "idx")
    assert view.image_mode == images
    assert (last.image_shape is not None) == images
    if images:
        assert view.first_tiles.tile_count() == hidden[0]
        assert len(view.weight_maps) == len(hidden)  # the layers after the first
        assert view.confusion.data().shape == last.confusion.shape
    else:
        assert len(view.weight_maps) == len(hidden) + 1
        assert view.boundary_plot.export_data()["image_rgb"].shape[:2] == (64, 64)
    if dataset == "idx":
        assert last.class_names[36:] == tuple("abdefghnqrt")
        assert last.image_shape == (12, 12)


# Every other lab with a depth or width setting, at its smallest and its deep/wide end:
# a few snapshots each, drawn by the lab's view (the Training and Regularization labs
# have their own tests above and in test_lab_regularization.py).
OTHER_LABS = [
    ("activations", {"hidden": (4,), "depth": 1, "width": 2, "steps": 6}),
    ("activations", {"hidden": (6,) * 8, "depth": 30, "width": 64, "steps": 6}),
    ("dropout", {"hidden_units": 2, "steps": 6}),
    ("dropout", {"hidden_units": 128, "steps": 6}),
    ("optimizers", {"model": "conv", "rates": 2, "train_samples": 16, "test_samples": 10,
                    "window": 2}),
    ("style", {"features": "random", "blocks": 1, "size": 32, "width_scale": 1 / 16,
               "steps": 3}),
    ("style", {"features": "random", "blocks": 5, "size": 32, "width_scale": 1 / 64,
               "steps": 3}),
]


@pytest.mark.parametrize("lab, settings", OTHER_LABS,
                         ids=[f"{lab}-{i}" for i, (lab, _) in enumerate(OTHER_LABS)])
def test_every_lab_draws_at_its_shallowest_and_deepest(qtbot, lab, settings):
    from engine import experiments
    from engine.experiments.session import Session
    from vizlab.labs import view_class

    experiment = experiments.get(lab)
    config = experiment.Config()
    experiments.apply_settings(config, settings)
    runs = []
    for snap in Session(experiment, config):
        runs.append(snap)
        if len(runs) == 4:
            break
    view = view_class(lab)()
    qtbot.addWidget(view)
    view.resize(1024, 640)
    view.show()
    view.previewer.cancel()
    view.apply_settings(settings)
    view.previewer.cancel()
    for snap in runs:
        view.show_snapshot(snap)
        assert view.draw_error is None, view.draw_error
    assert view.frames_drawn >= len(runs) and view.error_banner.isHidden()
    view.runner.stop()
    view.previewer.shutdown()
