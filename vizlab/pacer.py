"""Work the GUI thread does a piece at a time, all of it sharing one budget per turn.

Building a lab's views, drawing a big snapshot, repainting the plots after a resize and
laying out run B are each cut into pieces. Run from timers of their own, every piece
that was due ran in the same turn of the event loop (Qt fires all due timers together):
a lab drawing its first snapshot while run B was being built held the GUI thread for
250-320 ms. Here one timer runs the pieces, round robin, until the turn's budget is
spent (at least one piece a turn, so everything moves on), and leaves the rest to the
next turn; painting, input and the heartbeat of the window come in between.

`pacer().task(callback)` gives a PacedTask, started and stopped like a repeating QTimer:
while started, its callback runs once per slot it gets. `pacer().once(callback)` runs a
callback once, in a later turn. A piece that calls `pacer().end_turn()` is the turn's
last: Qt handles what it posted (layouts, a plot scene's changes) before the next piece.
"""

from __future__ import annotations

import inspect
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QTimer

log = logging.getLogger(__name__)

# Python work per turn of the event loop, leaving room for the paint it causes within
# the 200 ms a window may take to answer on a loaded two-core machine.
TURN_BUDGET_S = 0.025


class PacedTask:
    """A callback the pacer runs a slot at a time while the task is started.

    A bound method is held weakly: a task must not keep its view alive (a view kept
    alive by a connection to its own `destroyed` outlived its tests and crashed a later
    paint); once the view is gone, the task ends.
    """

    def __init__(self, pacer: Pacer, callback: Callable[[], object], once: bool) -> None:
        self._pacer, self.once = pacer, once
        self._method = weakref.WeakMethod(callback) if inspect.ismethod(callback) else None
        self._function = None if self._method is not None else callback
        self.active = False

    def callback(self) -> None:
        function = self._function if self._method is None else self._method()
        if function is None:  # its object is gone
            self.active = False
            return
        function()

    def start(self) -> None:
        if not self.active:
            self.active = True
            self._pacer._schedule(self)

    def stop(self) -> None:
        self.active = False

    def isActive(self) -> bool:  # noqa: N802 - as QTimer says it
        return self.active


class Pacer(QObject):
    """Runs the started tasks' callbacks, round robin, within TURN_BUDGET_S a turn."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: deque[PacedTask] = deque()
        self._turn_ended = False
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._run_a_turn)

    def task(self, callback: Callable[[], object]) -> PacedTask:
        """A task that runs `callback` while started (a bound method: while its object
        lives)."""
        return PacedTask(self, callback, once=False)

    def once(self, callback: Callable[[], object]) -> PacedTask:
        """Run `callback` once, in a later turn (unless stopped first)."""
        task = PacedTask(self, callback, once=True)
        task.start()
        return task

    def end_turn(self) -> None:
        """Let no other piece run in this turn after the one now running."""
        self._turn_ended = True

    def _schedule(self, task: PacedTask) -> None:
        if task not in self._queue:
            self._queue.append(task)
        if not self._timer.isActive():
            self._timer.start()

    def _run_a_turn(self) -> None:
        start = time.perf_counter()
        ran = 0
        self._turn_ended = False
        while self._queue:
            if ran and (self._turn_ended or time.perf_counter() - start >= TURN_BUDGET_S):
                break
            task = self._queue.popleft()
            if not task.active:
                continue
            if task.once:
                task.active = False
            else:
                self._queue.append(task)  # its next slot, after the others' (round robin)
            ran += 1
            try:
                task.callback()
            except RuntimeError as exc:  # its Qt object was deleted meanwhile
                task.stop()
                log.debug("a paced task ended: %s", exc)
            except Exception:  # a bug in one piece must not stop everyone's
                task.stop()
                log.exception("a paced task failed")
        # Tasks stopped while waiting leave the queue now.
        self._queue = deque(task for task in self._queue if task.active)
        if not self._queue:
            self._timer.stop()


_pacer: Pacer | None = None


def pacer() -> Pacer:
    """The application's pacer (made with the first task, owned by the application)."""
    global _pacer
    if _pacer is None:
        _pacer = Pacer(QCoreApplication.instance())
        _pacer.destroyed.connect(_forget)
    return _pacer


def _forget(*_: object) -> None:
    global _pacer
    _pacer = None
