"""Pictures and recordings of the Training lab, from the app and from the CLI."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox


def test_screenshot_has_the_lab_size_and_double_at_2x(qtbot, window, tmp_path):
    lab = window.lab
    one, two = tmp_path / "one.png", tmp_path / "two.png"
    assert window.save_screenshot(str(one))
    window.hires_action.setChecked(True)
    assert window.save_screenshot(str(two))
    assert Image.open(one).size == (lab.width(), lab.height())
    assert Image.open(two).size == (2 * lab.width(), 2 * lab.height())


def test_recording_the_training_lab_writes_a_looping_gif(qtbot, window, tmp_path):
    lab = window.lab
    lab.apply_settings({"steps": 100_000})
    window.speed_slider.setValue(5)  # 50 steps/s, each one shown
    window.start_recording()
    lab.run()
    # However loaded the machine, record until six frames are in, then stop.
    qtbot.waitUntil(lambda: lab.frames_drawn >= 6, timeout=20_000)
    lab.pause()
    qtbot.waitUntil(lambda: lab.runner.state != "running", timeout=5_000)
    path = tmp_path / "training.gif"
    assert window.stop_recording(str(path), fps=5)
    gif = Image.open(path)
    assert gif.info["loop"] == 0 and gif.info["duration"] == 200
    assert gif.size == (lab.width(), lab.height())
    # Every frame drawn while recording is in (Pillow merges a repeated last frame).
    assert 6 <= gif.n_frames <= lab.frames_drawn
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    assert np.abs(frames[-1] - frames[0]).mean() > 0.5  # training changed the picture
    assert lab.recorder is None


def test_failing_export_leaves_no_file_and_says_why(qtbot, window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda p, t, text, *a: shown.append(text)))
    missing = tmp_path / "no" / "such" / "folder" / "x.png"
    assert not window.save_screenshot(str(missing))
    assert shown and "x.png" in shown[0]
    assert not missing.parent.exists()
    csv = tmp_path / "loss.csv"
    lab = window.lab
    lab.apply_settings({"steps": 20})
    lab.run()
    qtbot.waitUntil(lambda: lab.runner.state == "finished", timeout=5000)
    lab.finish_drawing()  # the heatmaps come with the first snapshot drawn whole
    # loss, accuracy, dead ReLUs, activations, boundary and a heatmap per layer
    assert len(lab.plots()) == 5 + 3
    assert window.export_plot(lab.loss_plot, "csv", path=str(csv))
    text = csv.read_text()
    assert text.count("\n") >= 2 and not list(tmp_path.glob(".*part*"))


def run_cli(*args, cwd):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "vizlab.cli", *args], capture_output=True,
                          text=True, timeout=120, env=env, cwd=cwd)


def test_cli_screenshot_and_record_headless(tmp_path):
    shot = tmp_path / "shot.png"
    result = run_cli("screenshot", "training", "--steps", "30", "--size", "800x500",
                     "--out", str(shot), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Image.open(shot).size == (800, 500)
    gif = tmp_path / "run.gif"
    result = run_cli("record", "training", "--steps", "40", "--every", "10", "--size", "900x560",
                     "--set", "hidden=8", "--out", str(gif), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    image = Image.open(gif)
    assert image.size == (900, 560) and image.n_frames == 5 and image.info["loop"] == 0
    frames = []
    for i in (0, 4):
        image.seek(i)
        frames.append(np.asarray(image.convert("RGB"), dtype=np.int16))
    assert np.abs(frames[1] - frames[0]).mean() > 0.5


@pytest.mark.parametrize("args,message", [
    (("screenshot", "nosuch", "--out", "x.png"), "unknown lab 'nosuch'"),
    (("screenshot", "training", "--set", "optimizer=magic", "--out", "x.png"), "not one of"),
    (("screenshot", "training", "--set", "steps", "--out", "x.png"), "key=value"),
    (("record", "training", "--out", "x.bmp"), "must end in"),
    (("screenshot", "training", "--out", "missing/x.png"), "does not exist"),
    (("record", "training", "--every", "0", "--out", "x.gif"), "at least 1"),
])
def test_cli_bad_input_exits_nonzero_with_a_message(tmp_path, args, message):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert not list(tmp_path.iterdir())


def test_cli_list_names_labs_and_settings(tmp_path):
    result = run_cli("list", cwd=tmp_path)
    assert result.returncode == 0
    assert "training: Training" in result.stdout and "learning_rate=0.01" in result.stdout


def test_app_without_display_explains_headless_use(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "vizlab.cli"], capture_output=True, text=True,
                            timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "no display" in result.stderr and "vizlab screenshot" in result.stderr
