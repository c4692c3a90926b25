"""The GUI thread only draws: previews, Compare, File > Open and closing never stall it.

A 50 ms heartbeat timer runs on the GUI thread while the app does the heavy thing; the
longest gap between two beats, less the 50 ms period, is how long the thread was stuck.
"""

import math
import multiprocessing
import threading
import time

import numpy as np
import pytest
from processes import alive
from PySide6.QtCore import QTimer

from engine import experiments
from engine.experiments import files

HEARTBEAT_MS = 50
MAX_STALL_S = 0.200


class Heartbeat:
    """Ticks every 50 ms on the GUI thread and remembers when."""

    def __init__(self) -> None:
        self.beats: list[float] = []
        self.cpu: list[float] = []  # the GUI thread's CPU time at each beat
        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self.beat)

    def beat(self) -> None:
        self.beats.append(time.monotonic())
        self.cpu.append(time.thread_time())

    def __enter__(self) -> "Heartbeat":
        self.beat()
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.stop()
        self.beat()

    def cpu_stall(self) -> float:
        return float(np.diff(self.cpu).max()) if len(self.cpu) > 1 else 0.0

    def stall(self) -> float:
        """The longest time the GUI thread was kept from a beat, in seconds."""
        gaps = np.diff(self.beats)
        return float(gaps.max()) - HEARTBEAT_MS / 1000 if len(gaps) else 0.0


def beats_for(qtbot, heartbeat: Heartbeat, seconds: float) -> None:
    """Keep the event loop running until the heartbeat has ticked for ``seconds``."""
    start = len(heartbeat.beats)
    qtbot.waitUntil(lambda: len(heartbeat.beats) - start >= seconds * 1000 / HEARTBEAT_MS,
                    timeout=int(seconds * 1000) + 10_000)


def drawn(lab) -> bool:
    return not lab.preview_pending and lab.last_snapshot is not None


@pytest.fixture
def gui_thread_runs(monkeypatch):
    """Every experiment's ``run`` started on the GUI thread during the test (by lab)."""
    from vizlab.labs import LAB_NAMES

    calls: list[str] = []
    for name in LAB_NAMES:
        module = experiments.get(name)

        def run(*args, _run=module.run, _name=name, **kwargs):
            if threading.current_thread() is threading.main_thread():
                calls.append(_name)
            return _run(*args, **kwargs)

        monkeypatch.setattr(module, "run", run)
    return calls


# -- Compare ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["activations", "style"])
def test_compare_on_runs_no_experiment_on_the_gui_thread(qtbot, window, gui_thread_runs,
                                                         name):
    lab = window.select_lab(name)
    qtbot.waitUntil(lambda: drawn(lab), timeout=20_000)
    # The first time, run B's widgets are built: GUI work of the view code, whose cost
    # (0.2-1.3 s on a loaded 2-core machine) is measured by tests/test_soak.py. No
    # experiment code may run here, though: the preview is computed elsewhere.
    window.compare_action.trigger()
    twin = window.twin
    assert twin is not None and twin is not lab
    qtbot.waitUntil(lambda: drawn(twin), timeout=20_000)
    assert gui_thread_runs == []
    assert twin.last_snapshot.step == 0
    assert type(twin.last_snapshot) is type(lab.last_snapshot)

    # With run B built, Compare off and on, and a setting changed in run B, keep the
    # heartbeat: they cost a redraw at most.
    window.compare_action.trigger()
    with Heartbeat() as heartbeat:
        window.compare_action.trigger()  # laid out a turn later
        qtbot.waitUntil(lambda: window.twin is twin and twin.isVisible(), timeout=2000)
        twin.settings_panel.controls["seed"].setValue(7)  # as a user does
        qtbot.waitUntil(lambda: drawn(twin), timeout=20_000)
        beats_for(qtbot, heartbeat, 0.3)
    assert heartbeat.stall() < MAX_STALL_S
    assert gui_thread_runs == []
    assert "seed=7" in twin.pending_label.text()


# -- File > Open -----------------------------------------------------------------------


def test_opening_an_activations_file_previews_it_off_the_gui_thread(qtbot, window, tmp_path,
        gui_thread_runs):
    path = tmp_path / "activations.vizlab"
    config = experiments.get("activations").Config()
    experiments.apply_settings(config, {"elu_alpha": 1.5, "functions": "relu,elu"})
    files.save_experiment(path, "activations", config)
    # The lab's widgets exist already (building and first drawing them is view work,
    # see test_compare_on...): what is measured is what opening a file costs.
    built = window.select_lab("activations")
    qtbot.waitUntil(lambda: drawn(built), timeout=20_000)
    with Heartbeat() as heartbeat:
        assert window.open_experiment(str(path))
        qtbot.waitUntil(lambda: not window.files.busy, timeout=10_000)  # read off this thread
        lab = window.lab
        assert lab.lab_name == "activations" and lab.config.elu_alpha == 1.5
        qtbot.waitUntil(lambda: drawn(lab), timeout=20_000)
    assert heartbeat.stall() < MAX_STALL_S
    assert gui_thread_runs == []
    # the preview drawn is the file's settings: ELU with alpha 1.5
    x, y = lab.f_plot.curve_data("elu")
    assert y[0] == pytest.approx(1.5 * math.expm1(x[0]))


def test_opening_a_big_style_file_keeps_the_gui_thread_free(qtbot, window, tmp_path,
        gui_thread_runs):
    path = tmp_path / "style.vizlab"
    config = experiments.get("style").Config()
    experiments.apply_settings(config, {"size": 256, "width_scale": 1.0, "blocks": 5})
    files.save_experiment(path, "style", config)
    built = window.select_lab("style")
    qtbot.waitUntil(lambda: drawn(built), timeout=20_000)
    with Heartbeat() as heartbeat:
        assert window.open_experiment(str(path))
        qtbot.waitUntil(lambda: not window.files.busy, timeout=10_000)  # read off this thread
        lab = window.lab
        assert (lab.lab_name, lab.config.size, lab.config.blocks) == ("style", 256, 5)
        # Its preview takes many seconds: it is being computed while the window answers.
        qtbot.waitUntil(lambda: lab.timeline_label.text() == "computing the preview…")
        assert lab.preview_pending
        beats_for(qtbot, heartbeat, 1.0)
    assert heartbeat.stall() < MAX_STALL_S
    assert gui_thread_runs == []
    # Pressing Run instead of waiting drops the preview: the run owns the views.
    lab.apply_settings({"size": 24, "blocks": 2, "width_scale": 0.125})
    lab.step()
    assert not lab.preview_pending
    qtbot.waitUntil(lambda: lab.last_snapshot is not None
                    and lab.last_snapshot.image.shape == (24, 24, 3), timeout=20_000)
    lab.reset()


# -- settings changed in a burst -----------------------------------------------------------


def test_a_burst_of_setting_changes_costs_one_preview_of_the_newest(qtbot, window,
                                                                     gui_thread_runs):
    lab = window.select_lab("activations")
    lab.apply_settings({"functions": "relu,elu"})  # elu's curve shows its alpha
    qtbot.waitUntil(lambda: drawn(lab), timeout=20_000)
    delivered = []
    lab.previewer.ready.connect(delivered.append)
    alphas = [round(1.0 + 0.05 * i, 2) for i in range(1, 21)]
    spin = lab.settings_panel.controls["elu_alpha"]
    changer = QTimer()
    changer.setInterval(20)  # a user dragging through values: a change every 20 ms
    pending = list(alphas)
    changer.timeout.connect(lambda: spin.setValue(pending.pop(0)) if pending else changer.stop())
    with Heartbeat() as heartbeat:
        changer.start()
        qtbot.waitUntil(lambda: not pending and drawn(lab), timeout=30_000)
    assert heartbeat.stall() < MAX_STALL_S
    assert gui_thread_runs == []
    assert lab.config.elu_alpha == alphas[-1]
    # only a few previews were computed to the end, and the one drawn is the newest
    assert 1 <= len(delivered) < len(alphas)
    assert delivered[-1][1] is lab.last_snapshot  # (its settings, the snapshot)
    x, y = lab.f_plot.curve_data("elu")
    assert y[0] == pytest.approx(alphas[-1] * math.expm1(x[0]))


def test_preview_of_an_in_process_lab_is_computed_on_a_worker_thread(qtbot, window,
                                                                     gui_thread_runs):
    lab = window.select_lab("gradients")
    lab.run_in_process = False  # trains on a thread of this process, as VIZLAB_IN_PROCESS=1
    qtbot.waitUntil(lambda: drawn(lab), timeout=20_000)
    edit = lab.settings_panel.controls["expression"]
    with Heartbeat() as heartbeat:
        for expression in ("x**2 * y", "x**3 * y", "sin(x) * y"):
            edit.setText(expression)
            edit.editingFinished.emit()
        qtbot.waitUntil(lambda: drawn(lab), timeout=20_000)
    assert heartbeat.stall() < MAX_STALL_S
    assert gui_thread_runs == []
    assert lab.last_snapshot.expression == "sin(x) * y"


# -- messages ------------------------------------------------------------------------------


def test_banner_shows_the_experiments_own_error_not_remote_error(qtbot, window, tmp_path):
    lab = window.lab
    assert lab.run_in_process  # the error happens in the child process
    bad = tmp_path / "points.csv"
    bad.write_text("x1,x2,label\n1,2,0\nnot,a,number\n")
    lab.apply_settings({"dataset": "csv", "csv_path": str(bad)})
    lab.run()
    qtbot.waitUntil(lambda: lab.error_banner.isVisibleTo(lab), timeout=10_000)
    text = lab.error_banner.text()
    assert text.startswith("The experiment stopped with an error: ")
    assert "RemoteError" not in text
    assert "points.csv" in text
    assert "RemoteError" not in lab.error_banner.toolTip().splitlines()[-1]


# -- closing -------------------------------------------------------------------------------




def test_closing_ends_the_window_and_every_process_within_a_second(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from vizlab import child
    from vizlab.app import MainWindow

    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    training = window.select_lab("training")
    training.apply_settings({"steps": 1_000_000})
    training.run()
    qtbot.waitUntil(lambda: training.last_snapshot is not None, timeout=30_000)
    for name in ("activations", "dropout", "style"):
        window.select_lab(name)  # pauses the run left behind; its process stays
    window.compare_action.trigger()  # a twin of the Style lab
    style, twin = window.lab, window.twin
    style.run()
    twin.run()
    qtbot.waitUntil(lambda: all(lab.last_snapshot is not None and lab.runner.is_active
                                for lab in (style, twin, training)), timeout=30_000)
    # a preview being computed when the window closes ends too
    activations = window.labs["activations"]
    activations.apply_settings({"elu_alpha": 1.7})
    qtbot.waitUntil(lambda: activations.previewer.busy
                    and not activations._preview_timer.isActive(), timeout=5000)

    children = [p.pid for p in multiprocessing.active_children()]
    helpers = child.helper_pids()
    assert len(children) >= 3 and set(helpers) == {"forkserver", "resource tracker"}
    pids = children + list(helpers.values())

    start = time.monotonic()
    window.close()
    closed = time.monotonic() - start
    assert closed < 1.0
    assert all(not alive(pid) for pid in pids), [pid for pid in pids if alive(pid)]
    assert time.monotonic() - start < 1.0
    assert multiprocessing.active_children() == []
    assert child.helper_pids() == {}


# -- saving what is on screen --------------------------------------------------------------


def test_a_save_after_an_edit_waiting_for_reset_opens_again(qtbot, window, tmp_path):
    lab = window.lab  # Training: hidden layers and dataset need a new network
    lab.apply_settings({"hidden": (6,), "dataset": "moons"})
    lab.step()
    qtbot.waitUntil(lambda: lab.last_snapshot is not None, timeout=10_000)
    lab.apply_settings({"hidden": (4, 4), "dataset": "circles"})  # waits for Reset
    path = tmp_path / "run.vizlab"
    assert window.save_experiment(str(path))
    saved = files.load_experiment(path)
    assert saved.settings["hidden"] == (6,) and saved.settings["dataset"] == "moons"
    assert saved.state is not None
    assert window.open_experiment(str(path))
    qtbot.waitUntil(lambda: not window.files.busy, timeout=10_000)  # read off this thread
    assert lab.config.hidden == (6,) and lab.restore_state is not None


def test_file_open_reads_the_file_off_the_gui_thread_and_refuses_a_bad_one_there_too(
        qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: warnings.append(args[2]))
    readers = []
    load = files.load_experiment
    monkeypatch.setattr(files, "load_experiment",
                        lambda path: (readers.append(threading.current_thread()), load(path))[1])
    good = tmp_path / "good.vizlab"
    config = experiments.get("loss").Config()
    experiments.apply_settings(config, {"true_class": 2})
    files.save_experiment(good, "loss", config)
    bad = tmp_path / "bad.vizlab"
    bad.write_bytes(b"PK\x03\x04 not a zip at all")
    lab = window.lab
    assert window.open_experiment(str(bad))
    qtbot.waitUntil(lambda: not window.files.busy, timeout=10_000)
    assert len(warnings) == 1 and "bad.vizlab" in warnings[0]
    assert window.lab is lab  # nothing changed
    assert window.open_experiment(str(good))
    assert window.lab is lab  # shown once read, not before
    qtbot.waitUntil(lambda: not window.files.busy, timeout=10_000)
    assert window.lab.lab_name == "loss" and window.lab.config.true_class == 2
    assert len(readers) == 2 and threading.main_thread() not in readers
    assert len(warnings) == 1


def test_a_preview_for_other_settings_is_not_saved_as_their_weights(qtbot, window, tmp_path,
                                                                     previewed):
    lab = window.lab  # Training
    lab.apply_settings({"hidden": (6,)})
    previewed(lab)
    assert lab.preview_config.hidden == (6,) and lab.last_snapshot is not None
    path = tmp_path / "previewed.vizlab"
    assert window.save_experiment(str(path))
    assert files.load_experiment(path).state is not None  # the preview's weights fit
    lab.apply_settings({"hidden": (4, 4)})
    lab._cancel_preview()  # as when Run starts before the new preview came
    assert not lab.preview_pending and lab.last_snapshot is not None
    path = tmp_path / "changed.vizlab"
    assert window.save_experiment(str(path))
    saved = files.load_experiment(path)  # opens: it was saved without the old weights
    assert saved.settings["hidden"] == (4, 4) and saved.state is None
