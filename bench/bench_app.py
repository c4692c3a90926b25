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


def headless_steps_per_second(config) -> float:
    from engine.experiments import training

    start = time.perf_counter()
    for snap in training.run(config):
        if time.perf_counter() - start > SECONDS:
            break
    return snap.step / (time.perf_counter() - start)


def gui_run(config_changes: dict) -> tuple[float, np.ndarray]:
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
    draws: list[float] = []
    original_draw = lab.draw

    def timed_draw(snapshot):
        original_draw(snapshot)
        draws.append(time.perf_counter())

    lab.draw = timed_draw
    start = time.perf_counter()
    lab.run()
    while time.perf_counter() - start < SECONDS:
        app.processEvents()
        time.sleep(0.001)
    steps = lab.last_snapshot.step
    elapsed = time.perf_counter() - start
    window.close()
    return steps / elapsed, np.diff(np.array(draws))


def launch_seconds() -> float:
    code = (
        "import time, sys; t0 = time.perf_counter()\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtCore import QSettings\n"
        "app = QApplication(sys.argv)\n"
        "from vizlab.app import MainWindow\n"
        "w = MainWindow(QSettings(sys.argv[1], QSettings.Format.IniFormat)); w.show()\n"
        "app.processEvents()\n"
    )
    with tempfile.TemporaryDirectory() as folder:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code, os.path.join(folder, "s.ini")],
                           check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    from engine.experiments import training

    workloads = {
        "spiral 16-16 (default)": {},
        "digits 64-64": {"dataset": "digits", "hidden": (64, 64)},
    }
    print(f"{'workload':<26}{'headless steps/s':>18}{'GUI steps/s':>13}{'GUI cost':>10}"
          f"{'p95 frame ms':>14}")
    for name, changes in workloads.items():
        config = training.Config(steps=10_000_000)
        for key, value in changes.items():
            setattr(config, key, value)
        headless = headless_steps_per_second(config)
        gui, intervals = gui_run({**changes, "steps": 10_000_000})
        p95 = float(np.percentile(intervals, 95) * 1000) if len(intervals) else float("nan")
        print(f"{name:<26}{headless:>18.0f}{gui:>13.0f}{1 - gui / headless:>9.0%}{p95:>14.1f}")
    print(f"launch to window shown: {launch_seconds():.2f} s (including Python start-up)")


if __name__ == "__main__":
    main()
