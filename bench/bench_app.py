"""What the GUI costs: training steps/s headless vs in the app while it draws, the p95
interval between drawn frames, and the time from launch to the window shown.

Run: python bench/bench_app.py   (uses Qt's offscreen platform; no display needed)
Targets: the GUI costs at most 20% of headless speed; p95 frame interval <= 50 ms;
launch to window shown <= 2 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SECONDS = 6.0


def steady_rate(marks: list[tuple[float, int]]) -> float:
    """Steps per second from the first snapshot to the last: set-up (data, the network,
    the child process starting) is left out on both sides, as it is not training."""
    (t0, s0), (t1, s1) = marks[0], marks[-1]
    return (s1 - s0) / (t1 - t0)


def headless_steps_per_second(config) -> float:
    from engine.experiments import training

    marks: list[tuple[float, int]] = []
    for snapshot in training.run(config):
        marks.append((time.perf_counter(), snapshot.step))
        if marks[-1][0] - marks[0][0] > SECONDS:
            break
    return steady_rate(marks)


def gui_run(config_changes: dict) -> tuple[float, np.ndarray, int]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from vizlab.app import MainWindow

    app = QApplication.instance() or QApplication([])
    folder = tempfile.mkdtemp()
    window = MainWindow(QSettings(os.path.join(folder, "s.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()
    lab = window.lab
    lab.apply_settings(config_changes)
    marks: list[tuple[float, int]] = []  # (when drawn, step) of every frame
    drawn = lab._drawn  # called when a snapshot is drawn whole (it may take a few turns)

    def timed_drawn(snapshot):
        drawn(snapshot)
        if lab.timeline.items:  # a run's snapshot, not the preview drawn before it
            marks.append((time.perf_counter(), snapshot.step))

    lab._drawn = timed_drawn
    lab.run()
    while not marks or time.perf_counter() - marks[0][0] < SECONDS:
        app.processEvents()
        time.sleep(0.001)
    pace = lab.run_config.snapshot_every
    window.close()
    draws = np.array([when for when, _ in marks])
    return steady_rate(marks), np.diff(draws), pace


def launch_seconds() -> float:
    """From starting Python to the window shown (its first events handled), as the
    parent sees it: the time the started app takes to close afterwards is not counted."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtCore import QSettings\n"
        "app = QApplication(sys.argv)\n"
        "from vizlab.app import MainWindow\n"
        "w = MainWindow(QSettings(sys.argv[1], QSettings.Format.IniFormat)); w.show()\n"
        "app.processEvents()\n"
        "print('shown', flush=True)\n"
        "w.close()\n"
    )
    # As a user starts it: Python's compiled modules cached (an installed wheel has them
    # from the install; here the first start writes them), so the best of three starts
    # counts no compiling, even where PYTHONDONTWRITEBYTECODE is set for the tests.
    env = {key: value for key, value in os.environ.items()
           if key != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as folder:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            app = subprocess.Popen([sys.executable, "-c", code, os.path.join(folder, "s.ini")],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   env=env, text=True)
            line = app.stdout.readline()
            times.append(time.perf_counter() - start)
            app.communicate()
            if line.strip() != "shown" or app.returncode != 0:
                raise RuntimeError(f"the app did not start (exit code {app.returncode})")
    return min(times)


def main() -> None:
    from engine.experiments import training

    workloads = {
        "spiral 16-16 (default)": {},
        "digits 64-64": {"dataset": "digits", "hidden": (64, 64)},
    }
    # The app spaces snapshots out to ~60 a second; headless runs at the same spacing so
    # the comparison is of the GUI's cost alone.
    print(f"{'workload':<24}{'snapshot every':>15}{'headless steps/s':>18}{'GUI steps/s':>13}"
          f"{'GUI cost':>10}{'median / p95 frame ms':>23}")
    for name, changes in workloads.items():
        gui, intervals, pace = gui_run({**changes, "steps": 10_000_000})
        config = training.Config(steps=10_000_000, snapshot_every=pace)
        for key, value in changes.items():
            setattr(config, key, value)
        headless = headless_steps_per_second(config)
        median, p95 = (np.percentile(intervals, [50, 95]) * 1000) if len(intervals) else (0, 0)
        print(f"{name:<24}{pace:>15}{headless:>18.0f}{gui:>13.0f}{1 - gui / headless:>9.0%}"
              f"{median:>12.0f} / {p95:.0f}")
    print(f"launch to window shown: {launch_seconds():.2f} s (including Python start-up)")


if __name__ == "__main__":
    main()
