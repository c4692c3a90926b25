"""Soak: a minute of seeded random use of every lab, as a restless student would.

Switching labs, Run/Pause/Step/Reset, setting changes through the controls, Compare on
and off, saving and opening files, and a Training run whose steps are long. Meanwhile a
50 ms heartbeat on the GUI thread must never stall more than 200 ms, nothing may raise,
and closing must end the window and every process within a second.
"""

import logging
import multiprocessing
import os
import random
import sys
import time

import numpy as np
import pytest
from processes import alive
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QMessageBox, QSpinBox

from vizlab import child
from vizlab.labs import LAB_NAMES

# VIZLAB_SOAK_SEED picks another sequence of actions (to try a change on several).
SEED = int(os.environ.get("VIZLAB_SOAK_SEED", "20261129"))
SOAK_S = float(os.environ.get("VIZLAB_SOAK_SECONDS", "60"))
HEARTBEAT_MS = 50
MAX_STALL_S = 0.200
# Dialogs this soak may meet that are known and open (text fragment -> why). While one is
# listed, its dialog makes the test an expected failure that names it (exceptions,
# tracebacks, stalls and the clean exit stay strict). Empty it when fixed.
KNOWN_MESSAGES: dict[str, str] = {}


class Recorder(logging.Handler):
    """Keeps every log record that carries a traceback, and every error (an experiment
    that stopped with an error, for one)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.tracebacks.append(self.format(record))




class Soak:
    """The random actions, taken one at a time from a timer on the GUI thread."""

    def __init__(self, window, folder, rng: random.Random) -> None:
        self.window, self.folder, self.rng = window, folder, rng
        self.saved: list[str] = []
        self.done: dict[str, int] = {}
        self.busy = False
        self.last = "start"  # the last action taken, to name the cause of a stall
        self.actions = [
            (12, self.switch_lab), (12, self.run), (8, self.pause), (10, self.step),
            (6, self.reset), (30, self.change_setting), (6, self.compare),
            (4, self.save), (3, self.open),
        ]

    def act(self) -> None:
        if self.busy:  # an action that runs the event loop (building a lab) is not done
            return
        self.busy = True
        try:
            weights, actions = zip(*self.actions)
            action = self.rng.choices(actions, weights)[0]
            lab = self.window.lab.lab_name
            action()
            self.last = f"{action.__name__} in {lab} -> {self.window.lab.lab_name}"
            self.done[action.__name__] = self.done.get(action.__name__, 0) + 1
        finally:
            self.busy = False

    def switch_lab(self) -> None:
        # A click on the lab list, as a user switches (select_lab builds at once).
        self.window.lab_list.setCurrentRow(LAB_NAMES.index(self.rng.choice(LAB_NAMES)))

    def run(self) -> None:
        self.window.run_action.trigger()

    def pause(self) -> None:
        self.window.pause_action.trigger()

    def step(self) -> None:
        self.window.step_action.trigger()

    def reset(self) -> None:
        self.window.reset_action.trigger()

    def compare(self) -> None:
        self.window.compare_action.trigger()

    def save(self) -> None:
        path = str(self.folder / f"soak-{len(self.saved)}.vizlab")
        if self.window.save_experiment(path):
            self.saved.append(path)

    def open(self) -> None:
        if self.saved:
            self.window.open_experiment(self.rng.choice(self.saved))

    def change_setting(self) -> None:
        """What a user does to a control: tick a box, pick an item, nudge a number."""
        lab = self.rng.choice(self.window.active_labs())
        controls = [c for c in lab.settings_panel.controls.values()
                    if isinstance(c, QCheckBox | QComboBox | QSpinBox | QDoubleSpinBox)]
        control = self.rng.choice(controls)
        if isinstance(control, QCheckBox):
            control.toggle()
        elif isinstance(control, QComboBox):
            control.setCurrentIndex(self.rng.randrange(control.count()))
        else:
            value = control.value() * self.rng.choice([0.5, 0.8, 1.25, 2.0])
            value = min(max(value, control.minimum()), control.maximum())
            control.setValue(int(round(value)) if isinstance(control, QSpinBox) else value)


@pytest.mark.timeout(SOAK_S + 90)
def test_a_minute_of_random_use_never_freezes_raises_or_leaves_a_process(
        qtbot, tmp_path, monkeypatch):
    from vizlab.app import MainWindow

    rng = random.Random(SEED)
    uncaught: list[str] = []
    monkeypatch.setattr(sys, "excepthook",
                        lambda kind, value, tb: uncaught.append(f"{kind.__name__}: {value}"))
    dialogs: list[str] = []  # a modal box would block the soak; record its text instead
    for kind in ("warning", "information", "critical"):
        monkeypatch.setattr(QMessageBox, kind,
                            lambda *args, kind=kind: dialogs.append(f"{kind}: {args[2]}"))
    recorder = Recorder()
    logging.getLogger().addHandler(recorder)

    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()

    # A Training run whose steps are long: a wide network on the digits.
    training = window.select_lab("training")
    training.apply_settings({"dataset": "digits", "hidden": (512, 512), "batch_size": 256,
                             "steps": 1_000_000})
    training.run()

    soak = Soak(window, tmp_path, rng)
    beats: list[float] = []
    stalls: list[tuple[float, str]] = []  # (gap, the action before it)

    def beat() -> None:
        now = time.monotonic()
        if now - beats[-1] > HEARTBEAT_MS / 1000 + MAX_STALL_S:
            stalls.append((now - beats[-1], soak.last))
        beats.append(now)

    heartbeat = QTimer()
    heartbeat.setInterval(HEARTBEAT_MS)
    heartbeat.timeout.connect(beat)
    actions = QTimer()
    actions.timeout.connect(lambda: (soak.act(), actions.setInterval(rng.randint(80, 400))))
    try:
        start = time.monotonic()
        beats.append(start)
        heartbeat.start()
        actions.start(200)
        qtbot.waitUntil(lambda: time.monotonic() - start >= SOAK_S,
                        timeout=int(SOAK_S * 1000) + 30_000)
        actions.stop()
        heartbeat.stop()
        beats.append(time.monotonic())

        pids = [p.pid for p in multiprocessing.active_children()]
        pids += list(child.helper_pids().values())
        closing = time.monotonic()
        window.close()
        closed = time.monotonic() - closing
        lingering = [pid for pid in pids if alive(pid)]
        gone = time.monotonic() - closing
    finally:
        logging.getLogger().removeHandler(recorder)

    gaps = np.diff(beats)
    stall = float(gaps.max()) - HEARTBEAT_MS / 1000
    print(f"\nsoak: {sum(soak.done.values())} actions {soak.done}; heartbeat stall "
          f"{stall * 1000:.0f} ms (p99 gap {np.percentile(gaps, 99) * 1000:.0f} ms); "
          f"close {closed:.2f} s, processes gone {gone:.2f} s")
    assert sum(soak.done.values()) > SOAK_S * 2
    assert uncaught == []
    assert recorder.tracebacks == []
    assert closed < 1.0 and lingering == [] and gone < 1.0
    assert multiprocessing.active_children() == []
    known = []
    unknown_dialogs = [text for text in dialogs
                       if not any(key in text for key in KNOWN_MESSAGES)]
    assert unknown_dialogs == []
    known += sorted({KNOWN_MESSAGES[key] for key in KNOWN_MESSAGES
                     for text in dialogs if key in text})
    worst = ", ".join(f"{gap * 1000:.0f} ms after {cause}"
                      for gap, cause in sorted(stalls, reverse=True)[:4])
    assert stall < MAX_STALL_S, f"the GUI thread stalled {len(stalls)} times: {worst}"
    if known:
        pytest.xfail("; ".join(known))
