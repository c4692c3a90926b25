"""Pieces of GUI-thread work share one budget per turn of the event loop
(vizlab/pacer.py)."""

import sys
import time

from vizlab.pacer import TURN_BUDGET_S, Pacer


def test_tasks_take_turns_within_the_budget_and_at_least_one_piece_runs(qapp):
    pacer = Pacer()
    ran: list[str] = []

    def piece(name: str, seconds: float):
        def run():
            ran.append(name)
            time.sleep(seconds)
        return run

    slow = pacer.task(piece("slow", TURN_BUDGET_S * 2))
    quick = [pacer.task(piece(f"quick{i}", TURN_BUDGET_S / 4)) for i in range(2)]
    slow.start()
    for task in quick:
        task.start()
    pacer._run_a_turn()
    assert ran == ["slow"]  # over the budget alone, but it ran: everything moves on
    ran.clear()
    pacer._run_a_turn()
    # Round robin: the others go first now, as many as the budget allows.
    assert ran[:2] == ["quick0", "quick1"] and len(ran) <= 4
    slow.stop()
    for task in quick:
        task.stop()
    ran.clear()
    pacer._run_a_turn()
    assert ran == [] and not pacer._queue


def test_once_runs_once_and_stopped_or_orphaned_tasks_do_not_run(qapp, qtbot):
    pacer = Pacer()
    ran: list[str] = []
    pacer.once(lambda: ran.append("once"))
    cancelled = pacer.once(lambda: ran.append("cancelled"))
    cancelled.stop()

    class View:
        def piece(self) -> None:
            ran.append("orphan")

    view = View()
    orphan = pacer.task(view.piece)
    orphan.start()
    assert sys.getrefcount(view) == 2  # the task holds no reference: only `view` does
    del view  # gone: its task ends rather than keep it alive
    qtbot.waitUntil(lambda: not pacer._queue, timeout=2000)
    assert ran == ["once"] and not orphan.isActive()


def test_a_failing_piece_stops_its_task_only(qapp, caplog):
    pacer = Pacer()
    ran: list[str] = []

    def broken():
        raise ValueError("a bug in one view")

    bad = pacer.task(broken)
    good = pacer.task(lambda: ran.append("good"))
    bad.start()
    good.start()
    pacer._run_a_turn()
    assert not bad.isActive() and good.isActive() and ran  # many slots: it is quick
    ran.clear()
    pacer._run_a_turn()
    assert ran and set(ran) == {"good"}
    assert "a paced task failed" in caplog.text
    good.stop()


def test_a_piece_that_ends_the_turn_is_its_last(qapp):
    pacer = Pacer()
    ran: list[str] = []
    first = pacer.task(lambda: (ran.append("first"), pacer.end_turn()))
    second = pacer.task(lambda: ran.append("second"))
    first.start()
    second.start()
    pacer._run_a_turn()
    assert ran == ["first"]  # quick pieces, yet the turn ended after the first
    pacer._run_a_turn()
    assert ran == ["first", "second", "first"]  # the next turn goes on round robin
    first.stop()
    pacer._run_a_turn()
    assert ran[3:] and set(ran[3:]) == {"second"}  # no end asked: the budget decides
    second.stop()
