"""The app with the Training lab, offscreen: run, pause, step, live settings, errors,
closing while training, and saving / opening experiments."""

import time

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from engine.experiments import files
from vizlab.app import MainWindow


@pytest.fixture
def warnings_shown(monkeypatch):
    """Capture QMessageBox.warning instead of opening a modal dialog."""
    shown = []
    monkeypatch.setattr(QMessageBox, "warning",
                        staticmethod(lambda parent, title, text, *a: shown.append((title, text))))
    return shown


def wait_for_step(qtbot, lab, step, timeout=10_000):
    qtbot.waitUntil(lambda: lab.last_snapshot is not None and lab.last_snapshot.step >= step,
                    timeout=timeout)


def test_window_lists_the_training_lab(window):
    assert window.lab_list.count() >= 1
    assert window.lab_list.item(0).text() == "Training"
    assert window.lab.lab_name == "training"
    assert window.windowTitle() == "vizlab — Training"


def test_run_updates_curves_and_heatmaps_with_engine_numbers(qtbot, window):
    lab = window.lab
    lab.config.steps = 100_000
    window.run_action.trigger()
    wait_for_step(qtbot, lab, 50)
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: lab.runner.state == "paused", timeout=2000)
    snap = lab.last_snapshot  # what is drawn; nothing is drawn between here and the checks
    lab.go_live()
    lab.finish_drawing()  # the app draws a big snapshot over several turns of the loop
    x, y = lab.loss_plot.curve_data("train")
    np.testing.assert_array_equal(x, snap.curves["step"])
    np.testing.assert_array_equal(y, snap.curves["train_loss"])
    assert len(x) >= 10 and y[-1] < y[0]
    np.testing.assert_array_equal(lab.weight_maps[0].data(), snap.weights[0].T)
    lo, hi = lab.weight_maps[0].levels()
    assert lo == -hi and hi == pytest.approx(np.abs(snap.weights[0]).max())
    assert window.rate_label.text().endswith("steps/s")


def test_pause_stops_and_step_advances_exactly_one(qtbot, window):
    lab = window.lab
    lab.config.steps = 100_000
    lab.run()
    wait_for_step(qtbot, lab, 20)
    lab.pause()
    qtbot.waitUntil(lambda: lab.runner.state == "paused", timeout=2000)
    qtbot.wait(200)
    paused_at = lab.last_snapshot.step
    qtbot.wait(300)
    assert lab.last_snapshot.step == paused_at
    lab.step()
    wait_for_step(qtbot, lab, paused_at + 1, timeout=3000)
    qtbot.wait(200)
    assert lab.last_snapshot.step == paused_at + 1
    lab.step()
    wait_for_step(qtbot, lab, paused_at + 2, timeout=3000)
    qtbot.wait(200)
    assert lab.last_snapshot.step == paused_at + 2


def test_learning_rate_change_reaches_the_running_optimizer(qtbot, window):
    lab = window.lab
    lab.config.steps = 100_000
    lab.run()
    wait_for_step(qtbot, lab, 10)
    lab.settings_panel.controls["learning_rate"].setValue(0.0005)
    target = lab.last_snapshot.step + 20
    wait_for_step(qtbot, lab, target)
    assert lab.last_snapshot.learning_rate == pytest.approx(0.0005)
    assert lab.runner.is_running  # no reset was needed
    # A setting that needs a new network says so instead of applying silently.
    lab.settings_panel.controls["hidden"].setText("8")
    lab.settings_panel.controls["hidden"].editingFinished.emit()
    assert lab.pending_label.isVisibleTo(lab) and "Reset" in lab.pending_label.text()
    assert lab.last_snapshot.weights[0].shape == (2, 16)


def test_stop_and_close_while_training_return_quickly(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    lab = win.lab
    lab.apply_settings({"dataset": "digits", "hidden": (256, 256), "steps": 100_000})
    lab.run()
    wait_for_step(qtbot, lab, 5)
    start = time.monotonic()
    win.close()
    assert time.monotonic() - start < 1.0
    assert lab.runner.state == "idle"


def test_error_in_experiment_is_shown_and_app_keeps_working(qtbot, window, tmp_path):
    lab = window.lab
    bad = tmp_path / "points.csv"
    bad.write_text("x1,x2,label\n1,2,0\nnot,a,number\n")
    lab.apply_settings({"dataset": "csv", "csv_path": str(bad)})
    lab.run()
    qtbot.waitUntil(lambda: lab.error_banner.isVisibleTo(lab), timeout=5000)
    assert "points.csv" in lab.error_banner.text()
    assert lab.runner.state == "error"
    # Fix the setting and run again: the same window trains normally.
    lab.apply_settings({"dataset": "moons"})
    lab.reset()
    assert not lab.error_banner.isVisibleTo(lab)
    lab.run()
    wait_for_step(qtbot, lab, 10)
    assert lab.last_snapshot.curves["train_acc"][-1] > 0


def test_save_then_open_round_trips_settings_and_weights(qtbot, window, tmp_path):
    lab = window.lab
    lab.apply_settings({"hidden": (12,), "learning_rate": 0.02, "steps": 30})
    lab.run()
    qtbot.waitUntil(lambda: lab.runner.state == "finished", timeout=10_000)
    snap = lab.last_snapshot
    path = tmp_path / "saved.vizlab"
    files.save_experiment(path, "training", lab.config, snap)

    lab.reset()
    lab.apply_settings({"hidden": (4, 4), "learning_rate": 0.5})
    assert window.load_experiment_file(str(path))
    assert lab.config.hidden == (12,) and lab.config.learning_rate == 0.02
    assert lab.settings_panel.controls["hidden"].text() == "12"
    lab.step()  # the first snapshot shows the loaded weights
    wait_for_step(qtbot, lab, snap.step, timeout=5000)
    for name, value in snap.variables.items():
        np.testing.assert_array_equal(lab.last_snapshot.variables[name], value)


def test_a_new_network_after_opening_a_file_starts_fresh_instead_of_failing(qtbot, window,
                                                                            tmp_path):
    lab = window.lab
    lab.apply_settings({"dataset": "digits", "hidden": (16,), "steps": 5})
    lab.run()
    qtbot.waitUntil(lambda: lab.runner.state == "finished", timeout=10_000)
    path = tmp_path / "digits.vizlab"
    files.save_experiment(path, "training", lab.config, lab.last_snapshot)
    lab.reset()
    assert window.load_experiment_file(str(path))
    assert lab.restore_state is not None
    lab.apply_settings({"learning_rate": 0.05})  # live: the loaded weights still fit
    assert lab.restore_state is not None
    lab.apply_settings({"dataset": "spiral"})  # 2 inputs, not 64: they no longer do
    assert lab.restore_state is None
    assert "weights opened from the file" in lab.pending_label.text()
    lab.step()
    qtbot.waitUntil(lambda: lab.last_snapshot is not None and lab.last_snapshot.step == 0
                    and lab.last_snapshot.weights[0].shape == (2, 16), timeout=10_000)
    assert lab.runner.state != "error" and lab.error_banner.isHidden()


def test_damaged_file_is_refused_with_a_message_and_changes_nothing(window, tmp_path,
                                                                    warnings_shown):
    lab = window.lab
    lab.apply_settings({"hidden": (5,)})
    path = tmp_path / "broken.vizlab"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    assert not window.load_experiment_file(str(path))
    assert warnings_shown and "broken.vizlab" in warnings_shown[0][1]
    assert lab.config.hidden == (5,)


def test_timeline_scrubs_back_and_live_returns(qtbot, window):
    lab = window.lab
    lab.apply_settings({"steps": 200, "snapshot_every": 5})
    window.speed_slider.setValue(7)  # 200 steps/s: a second of frames to scrub through
    lab.run()
    qtbot.waitUntil(lambda: lab.runner.state == "finished", timeout=10_000)
    assert len(lab.timeline) >= 5  # the last snapshot was shown before "finished"
    lab.slider.setValue(0)
    lab.finish_drawing()  # the app draws a panel per event-loop turn
    first = lab.timeline.items[0]
    assert lab.timeline_label.text() == f"step {first.step}"
    x, _ = lab.loss_plot.curve_data("train")
    assert len(x) == len(first.curves["step"])
    lab.go_live()
    lab.finish_drawing()
    assert lab.timeline_label.text() == "step 200"


def test_compare_mode_runs_two_settings_side_by_side(qtbot, window):
    lab = window.lab
    lab.apply_settings({"steps": 60, "optimizer": "sgd", "learning_rate": 0.05})
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    twin = window.twin
    assert twin is not None and twin is not lab and twin.config == lab.config
    assert "same settings" in twin.pending_label.text()
    twin.settings_panel.controls["learning_rate"].setValue(0.0)
    assert "learning_rate=0.0" in twin.pending_label.text()
    # One Step advances both, one training step each (the first shows step 0).
    for step in range(6):
        window.step_action.trigger()
        qtbot.waitUntil(lambda s=step: lab.last_snapshot is not None
                        and twin.last_snapshot is not None
                        and lab.last_snapshot.step == twin.last_snapshot.step == s,
                        timeout=5000)
    assert [snap.step for snap in lab.timeline.items] == list(range(6))
    # Same seed and data: B (learning rate 0) still holds the weights both runs started from.
    start = lab.timeline.items[0]
    np.testing.assert_array_equal(twin.last_snapshot.weights[0], start.weights[0])
    assert not np.array_equal(lab.last_snapshot.weights[0], start.weights[0])
    np.testing.assert_array_equal(twin.timeline.items[0].weights[0], start.weights[0])
    lab.slider.setValue(2)  # scrubbing A shows B at the same step
    lab.finish_drawing()
    twin.finish_drawing()
    assert lab.timeline_label.text() == twin.timeline_label.text() == "step 2"
    assert not twin.following_live
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    assert window.twin is None and not twin.isVisibleTo(window)


def test_experiment_runs_in_a_child_process_and_reports_its_errors(qtbot, window):
    import multiprocessing

    lab = window.lab
    assert lab.run_in_process
    lab.apply_settings({"steps": 100_000})
    lab.run()
    wait_for_step(qtbot, lab, 10)
    children = multiprocessing.active_children()
    assert any(child.name == "vizlab-training" for child in children)
    lab.reset()
    qtbot.waitUntil(lambda: not any(c.name == "vizlab-training"
                                    for c in multiprocessing.active_children()), timeout=2000)


def test_every_lab_opens_in_the_window_with_its_help(window):
    from vizlab.labs import LAB_NAMES

    assert window.lab_list.count() == len(LAB_NAMES) == 8
    for row, name in enumerate(LAB_NAMES):
        window.lab_list.setCurrentRow(row)
        lab = window.lab
        assert lab.lab_name == name and lab.isVisibleTo(window)
        assert window.windowTitle() == f"vizlab — {lab.title}"
        assert len(lab.help_html) > 200  # a real "what am I looking at" text
