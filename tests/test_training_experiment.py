"""The training experiment headless: it learns, its snapshots carry real probe numbers,
live settings apply at the next step, and saved experiments round-trip or are refused."""

import dataclasses
import zipfile

import numpy as np
import pytest

from engine.experiments import SettingError, apply_settings, files, training


def run_to(config, step):
    last = None
    for snap in training.run(config):
        last = snap
        if snap.step >= step:
            break
    return last


def test_spiral_is_learned_and_snapshots_are_consistent():
    config = training.Config(steps=400, snapshot_every=50)
    snaps = list(training.run(config))
    assert [s.step for s in snaps] == list(range(0, 401, 50))
    first, last = snaps[0], snaps[-1]
    assert last.curves["train_acc"][-1] > 0.85 > first.curves["train_acc"][0]
    assert last.curves["train_loss"][-1] < 0.5 * first.curves["train_loss"][0]
    # Curves grow with the steps and share the buffer: the first snapshot's view is a prefix.
    assert len(last.curves["step"]) == 9 and len(first.curves["step"]) == 1
    assert first.curves["train_loss"][0] == last.curves["train_loss"][0]
    assert [w.shape for w in last.weights] == [(2, 16), (16, 16), (16, 2)]
    assert last.boundary.shape == (64, 64, 2)
    np.testing.assert_allclose(last.boundary.sum(axis=2), 1.0, rtol=1e-5)
    assert last.confusion.sum() == len(training.load_data(config).y_test)
    assert last.dead_layers == ("dense_1", "dense_2")
    assert all(0.0 <= f <= 1.0 for f in last.dead_fractions)
    counts, _ = last.histograms[0]
    train_size = len(training.load_data(config).y_train)  # 480 of 600, under PROBE_SIZE
    assert counts.sum() == min(train_size, training.PROBE_SIZE) * 16


def test_weights_in_snapshot_are_copies_not_live_views():
    gen = training.run(training.Config(steps=20, snapshot_every=1))
    first = next(gen)
    kept = first.weights[0].copy()
    for _ in range(5):
        next(gen)
    np.testing.assert_array_equal(first.weights[0], kept)


def test_same_seed_same_run_different_seed_differs():
    a = run_to(training.Config(steps=30, snapshot_every=30), 30)
    b = run_to(training.Config(steps=30, snapshot_every=30), 30)
    c = run_to(training.Config(steps=30, snapshot_every=30, seed=1), 30)
    np.testing.assert_array_equal(a.weights[1], b.weights[1])
    assert not np.array_equal(a.weights[1], c.weights[1])


def test_learning_rate_change_applies_at_next_step():
    config = training.Config(optimizer="sgd", learning_rate=0.1, steps=100, snapshot_every=1)
    gen = training.run(config)
    start = next(gen)
    moved = next(gen)  # one step at lr 0.1
    assert not np.array_equal(start.weights[0], moved.weights[0])
    config.learning_rate = 0.0  # what the app does when the user drags the slider to 0
    frozen = next(gen)
    assert frozen.learning_rate == 0.0
    np.testing.assert_array_equal(frozen.weights[0], moved.weights[0])


def test_high_learning_rate_kills_relus():
    low = run_to(training.Config(optimizer="sgd", learning_rate=0.01, steps=300, hidden=(32, 32),
                                 snapshot_every=300), 300)
    high = run_to(training.Config(optimizer="sgd", learning_rate=3.0, steps=300, hidden=(32, 32),
                                  snapshot_every=300), 300)
    assert max(high.dead_fractions) > max(low.dead_fractions)


def test_digits_gets_confusion_and_no_boundary():
    snap = run_to(training.Config(dataset="digits", hidden=(32,), steps=150, snapshot_every=150), 150)
    assert snap.boundary is None and snap.confusion.shape == (10, 10)
    assert np.trace(snap.confusion) / snap.confusion.sum() > 0.8


def test_bad_settings_refused():
    config = training.Config()
    with pytest.raises(SettingError, match="csv_path"):
        apply_settings(config, {"dataset": "csv"})
    with pytest.raises(SettingError, match="one per hidden layer"):
        apply_settings(config, {"activations": "relu,tanh,relu"})
    with pytest.raises(SettingError, match="not one of"):
        apply_settings(config, {"activations": "swish"})
    assert config == training.Config()


def test_save_and_load_round_trip(tmp_path):
    config = training.Config(hidden=(8, 4), learning_rate=0.05, steps=40, snapshot_every=20)
    snap = run_to(config, 40)
    path = tmp_path / "run.vizlab"
    files.save_experiment(path, "training", config, snap)
    saved = files.load_experiment(path)
    assert saved.lab == "training" and saved.step == 40
    restored = training.Config()
    apply_settings(restored, saved.settings)
    assert restored == config
    for name, value in snap.variables.items():
        np.testing.assert_array_equal(saved.state[name], value)
    # Continuing from the file starts from exactly those weights, at that step.
    resumed = next(training.run(restored, state=saved.state))
    assert resumed.step == 40
    for a, b in zip(resumed.weights, snap.weights):
        np.testing.assert_array_equal(a, b)
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("damage", ["garbage", "not_zip", "no_manifest", "foreign", "newer",
                                    "bad_setting", "wrong_shape", "bad_npz"])
def test_damaged_or_foreign_files_are_refused(tmp_path, damage):
    config = training.Config(hidden=(8,), steps=5, snapshot_every=5)
    good = tmp_path / "good.vizlab"
    files.save_experiment(good, "training", config, run_to(config, 5))
    path = tmp_path / "bad.vizlab"
    with zipfile.ZipFile(good) as z:
        manifest = z.read("manifest.json").decode()
        state = z.read("state.npz")

    def write(manifest_text=manifest, state_bytes=state, with_manifest=True):
        with zipfile.ZipFile(path, "w") as z:
            if with_manifest:
                z.writestr("manifest.json", manifest_text)
            z.writestr("state.npz", state_bytes)

    if damage == "garbage":
        path.write_bytes(good.read_bytes()[:100])
    elif damage == "not_zip":
        path.write_text("hello")
    elif damage == "no_manifest":
        write(with_manifest=False)
    elif damage == "foreign":
        write(manifest.replace("vizlab-experiment", "something-else"))
    elif damage == "newer":
        write(manifest.replace('"version": 1', '"version": 99'))
    elif damage == "bad_setting":
        write(manifest.replace('"optimizer": "adam"', '"optimizer": "magic"'))
    elif damage == "wrong_shape":
        write(manifest.replace('"hidden": [\n      8\n    ]', '"hidden": [\n      9\n    ]'))
    else:
        write(state_bytes=b"PK\x03\x04broken")
    with pytest.raises(ValueError) as info:
        files.load_experiment(path)
    assert "bad.vizlab" in str(info.value)


def test_config_is_a_plain_dataclass_with_seed_defaults():
    config = training.Config()
    assert dataclasses.asdict(config)["optimizer"] == "adam"
    assert config.dataset == "spiral" and config.hidden == (16, 16)
