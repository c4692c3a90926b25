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
