"""Garbage is collected on the GUI thread only while a window is open, and full
collections skip the objects of built labs (vizlab/collector.py)."""

import gc
import threading

from vizlab.collector import MIN_FULL_INTERVAL_S, GuiThreadCollector


class Cycle:
    """An object in a reference cycle that notes the thread its finaliser ran on."""

    finalised_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        Cycle.finalised_on.append(threading.current_thread().name)


def test_cycles_made_on_a_worker_thread_are_collected_on_the_gui_thread(window, qtbot):
    assert not gc.isenabled()
    Cycle.finalised_on.clear()

    def churn() -> None:
        for _ in range(20_000):  # far past the youngest generation's threshold
            Cycle()

    worker = threading.Thread(target=churn, name="worker")
    worker.start()
    worker.join()
    assert Cycle.finalised_on == []  # nothing collected on the worker
    qtbot.waitUntil(lambda: len(Cycle.finalised_on) > 0, timeout=5000)
    assert set(Cycle.finalised_on) == {threading.current_thread().name}


def test_built_labs_are_frozen_and_closing_frees_them_and_restores_collection(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from vizlab.app import MainWindow

    gc.enable()  # as in a script that opens the window (the suite's Qt tests turn it off)
    window = MainWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    before = gc.get_freeze_count()
    view = window.show_lab("activations")
    qtbot.waitUntil(lambda: view.is_built, timeout=10_000)
    assert gc.get_freeze_count() > before  # the built lab's objects left the full passes
    window.close()
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_collects_the_oldest_generation_due_and_full_passes_at_most_every_interval(qapp):
    collector = GuiThreadCollector()
    collector.thresholds = (100, 2, 2)
    gc.collect()
    gc.disable()
    try:
        assert collector.collect_due() == -1  # nothing made since
        made, passes = [], []
        for _ in range(12):
            made += [[] for _ in range(150)]  # lists are tracked: each counts
            passes.append(collector.collect_due())
        # Young passes, generation 1 every fourth, but no full pass: one ran just now (at
        # construction), as far as the clock goes.
        assert passes[:4] == [0, 0, 0, 1] and max(passes) == 1
        assert gc.get_count()[2] > 2
        collector._last_full -= MIN_FULL_INTERVAL_S
        made += [[] for _ in range(150)]
        assert collector.collect_due() == 2
        for _ in range(12):  # due again by the counts soon, but not by the clock
            made += [[] for _ in range(150)]
            assert collector.collect_due() in (0, 1)
    finally:
        gc.enable()
