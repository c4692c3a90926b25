"""The thin Qt adapter over a Session: runs it off the GUI thread and feeds the GUI its
newest snapshot.

A Session (engine/experiments/session.py, or vizlab/child.py's ChildSession for a run in
the child process) does the work: pause, single steps, pace, live changes, the newest
snapshot, the step rate. ``Runner`` runs its ``drive()`` on a worker thread with superqt's
public ``FunctionWorker``, and a ~30 Hz timer on the GUI thread emits ``snapshot`` when
the Session holds something new. However fast the experiment runs, the GUI draws at most
~30 frames a second and memory stays bounded (no queue of snapshots).

``Previewer`` computes what a lab shows before Run (its first snapshot) on a worker
thread: only the newest request counts, a superseded one is cancelled and its result
dropped, and the GUI receives the snapshot as a value to draw.
"""

from __future__ import annotations

import functools
import itertools
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from superqt.utils import FunctionWorker

from engine.experiments.session import Session
from vizlab.child import describe_error

__all__ = ["Previewer", "Runner", "STATES"]

log = logging.getLogger(__name__)

#: The values ``Runner.state`` takes and ``Runner.state_changed`` carries.
STATES = ("idle", "running", "paused", "finished", "error")

GeneratorSource = Callable[[], Iterable[Any]] | Iterator[Any]
_thread_ids = itertools.count(1)


def _as_session(source: Any) -> Any:
    """A Session-like object (has ``drive``) as it is; a generator factory or an iterator
    wrapped in a Session without settings."""
    if hasattr(source, "drive"):
        return source
    if callable(source):
        return Session(None, source=source)
    return Session(None, source=lambda: source)


class Runner(QObject):
    """Drive one Session at a time on a background thread.

    Signals:
        snapshot(object): the newest snapshot, at most ~30 times a second, plus at once
            after each ``step()``.
        error(str, str): message and traceback text of an exception in the experiment.
        finished(): the run went to its end (not emitted after ``stop()`` or errors).
        state_changed(str): one of ``STATES``.
    """

    snapshot = Signal(object)
    error = Signal(str, str)
    finished = Signal()
    state_changed = Signal(str)
    _stepped = Signal(int, int, object)  # generation, count, snapshot (from the worker)

    #: How long the GUI thread waits for a run it replaces or resets. A step in this
    #: process that takes longer ends on its own (its signals are ignored) and is joined
    #: by ``shutdown()``; a child process is ended at once anyway.
    QUICK_STOP_S = 0.05

    def __init__(self, parent: QObject | None = None, *, frame_interval_ms: int = 33) -> None:
        super().__init__(parent)
        # The experiment thread runs Python most of the time; with the default 5 ms GIL
        # switch interval the GUI thread waits up to 5 ms at each of the many GIL hand-offs
        # of a repaint. 1 ms keeps painting brisk (measured in bench/bench_app.py).
        if sys.getswitchinterval() > 0.001:
            sys.setswitchinterval(0.001)
        self._state = "idle"
        self._session: Any = None
        self._worker: FunctionWorker | None = None
        self._thread: threading.Thread | None = None
        # Threads whose stop() timed out (an experiment step that would not end); joined
        # again by shutdown(). Their late signals are ignored thanks to _generation.
        self._orphans: list[tuple[Any, threading.Thread]] = []
        self._generation = 0
        self._last: tuple[int, Any] = (0, None)  # the newest (count, snapshot) seen
        self._emitted_count = 0
        self._max_sps: float | None = None
        self._stepped.connect(self._on_stepped)

        self._timer = QTimer(self)
        self._timer.setInterval(frame_interval_ms)
        self._timer.timeout.connect(self._on_tick)

        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -- state --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def is_running(self) -> bool:
        """True while a run is being advanced (not paused)."""
        return self._state == "running"

    @property
    def is_paused(self) -> bool:
        return self._state == "paused"

    @property
    def is_active(self) -> bool:
        """True while a run is loaded, running or paused."""
        return self._state in ("running", "paused")

    def _newest(self) -> tuple[int, Any]:
        if self._session is not None:
            self._last = self._session.latest()
        return self._last

    def latest(self) -> Any:
        """The newest snapshot the experiment produced (None before the first)."""
        return self._newest()[1]

    def step_count(self) -> int:
        """How many snapshots the current (or last) run has produced."""
        return self._newest()[0]

    def training_steps_per_second(self) -> float:
        """Training steps per second, as the Session meters them (0 when not running)."""
        if not self.is_running or self._session is None:
            return 0.0
        return self._session.steps_per_second()

    def max_steps_per_second(self) -> float | None:
        return self._max_sps

    def set_max_steps_per_second(self, rate: float | None) -> None:
        """Limit the experiment's pace; None runs it as fast as it goes."""
        if rate is not None and not float(rate) > 0:
            raise ValueError(f"max steps per second must be positive or None, got {rate!r}")
        self._max_sps = None if rate is None else float(rate)
        if self._session is not None:
            self._session.set_max_steps_per_second(self._max_sps)

    def change(self, name: str, value: Any) -> Any:
        """Send a live setting change to the run (applies before its next step)."""
        if self._session is None:
            return value
        return self._session.change(name, value)

    # -- transport ------------------------------------------------------------------------

    def start(self, source: Any, *, paused: bool = False) -> None:
        """Stop whatever runs, then drive ``source`` on a fresh thread.

        ``source`` is a Session (or a ChildSession), or a zero-argument callable returning
        a generator of snapshots (a generator object is also accepted). With
        ``paused=True`` nothing is taken until ``step()`` or ``resume()``.
        """
        self.stop(self.QUICK_STOP_S)
        self._generation += 1
        gen_id = self._generation
        session = _as_session(source)
        session.set_max_steps_per_second(self._max_sps)
        if paused:
            session.pause()
        session.on_single_step = functools.partial(self._stepped.emit, gen_id)
        self._last = (0, None)
        self._emitted_count = 0

        worker = FunctionWorker(session.drive)
        worker.setAutoDelete(False)  # Python owns it; Qt never runs it from a pool
        worker.errored.connect(functools.partial(self._on_errored, gen_id))
        worker.returned.connect(functools.partial(self._on_returned, gen_id))
        worker.warned.connect(_log_warning)
        # A dedicated Python thread rather than QThreadPool: stop() can join exactly this
        # thread, and the thread is gone from threading.enumerate() when it ends (a pool
        # thread that ever logged stays listed as a _DummyThread forever).
        thread = threading.Thread(
            target=worker.run, name=f"vizlab-runner-{next(_thread_ids)}", daemon=True
        )
        self._session, self._worker, self._thread = session, worker, thread
        self._set_state("paused" if paused else "running")
        thread.start()
        self._timer.start()

    def pause(self) -> None:
        if self._session is not None and self._state == "running":
            self._session.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self._session is not None and self._state == "paused":
            self._session.resume()
            self._set_state("running")

    def toggle_pause(self) -> None:
        if self._state == "running":
            self.pause()
        elif self._state == "paused":
            self.resume()

    def step(self) -> None:
        """Advance exactly one snapshot while paused (while running, this just pauses)."""
        if self._session is None:
            return
        if self._state == "running":
            self.pause()
        elif self._state == "paused":
            self._session.step()

    def stop(self, timeout: float = 2.0) -> bool:
        """End the run and join its thread; the state becomes "idle".

        Returns as soon as the experiment's current step ends (at once for a child
        process, which is ended mid-step). Returns False if the thread did not end within
        ``timeout`` seconds; it is then joined again by ``shutdown()`` and its signals
        are ignored.
        """
        detached = self._detach()
        if detached is None:
            return True
        worker, thread = detached
        thread.join(timeout)
        ok = not thread.is_alive()
        if not ok:
            if timeout > self.QUICK_STOP_S:
                log.warning("experiment thread %s did not stop within %.1f s",
                            thread.name, timeout)
            self._orphans.append((worker, thread))
        return ok

    def begin_shutdown(self) -> None:
        """Ask the run to end without waiting for it (``shutdown()`` then joins), so that
        many runners stop in parallel rather than one after another."""
        detached = self._detach()
        if detached is not None:
            self._orphans.append(detached)

    def _detach(self) -> tuple[Any, threading.Thread] | None:
        """End the current run and forget it; return it to be joined, if any."""
        self._prune_orphans()
        session, worker, thread = self._session, self._worker, self._thread
        if session is None or worker is None or thread is None:
            if self._state in ("running", "paused"):
                self._set_state("idle")
            return None
        self._last = session.latest()
        self._generation += 1  # queued signals of this run are now stale
        self._session = self._worker = self._thread = None
        self._timer.stop()
        worker.quit()
        session.stop()
        self._set_state("idle")
        return session, thread

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop and join every thread this runner started (call on application close)."""
        deadline = time.monotonic() + timeout
        self.begin_shutdown()
        for session, thread in self._orphans:
            session.stop()
            thread.join(max(0.0, deadline - time.monotonic()))
        self._prune_orphans()
        return not self._orphans

    # -- GUI-thread slots -------------------------------------------------------------

    def _on_tick(self) -> None:
        count, item = self._newest()
        if count > self._emitted_count:
            self._emit(count, item)

    def _emit(self, count: int, item: Any) -> None:
        self._emitted_count = count
        self.snapshot.emit(item)

    def _on_stepped(self, gen_id: int, count: int, item: Any) -> None:
        # The timer may already have shown this step (or a later one); never go backwards.
        if gen_id == self._generation and count > self._emitted_count:
            self._emit(count, item)

    def _on_errored(self, gen_id: int, exc: BaseException) -> None:
        if gen_id != self._generation:
            return
        self._end_run()
        message = describe_error(exc)
        text = getattr(exc, "details", "") or "".join(
            traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.error("experiment failed: %s", message)
        self._set_state("error")
        self.error.emit(message, text)

    def _on_returned(self, gen_id: int, ran_to_end: bool) -> None:
        # drive() returns False when stopped; only a run that went to its end finishes.
        if gen_id != self._generation or self._session is None or not ran_to_end:
            return
        self._end_run()
        self._set_state("finished")
        self.finished.emit()

    def _end_run(self) -> None:
        """The run ended on its own: show its last snapshot and join its thread."""
        thread = self._thread
        count, item = self._newest()
        self._session = self._worker = self._thread = None
        self._timer.stop()
        if count > self._emitted_count:
            self._emit(count, item)
        if thread is not None:
            # run() emits returned/errored as its last acts, so this is immediate.
            thread.join(1.0)
            if thread.is_alive():
                log.warning("experiment thread %s still alive after finishing", thread.name)

    def _prune_orphans(self) -> None:
        self._orphans = [(s, t) for s, t in self._orphans if t.is_alive()]

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)


PreviewJob = Callable[[threading.Event], Any]


class Previewer(QObject):
    """Compute previews on a worker thread; only the newest request is ever delivered.

    ``request(job)`` replaces whatever was asked before: a job still waiting is dropped,
    a job already computing is told to stop through its ``threading.Event`` (a child
    process is ended at once), and a result that comes back anyway is dropped. So rapid
    setting changes cost the GUI thread nothing but the one redraw of the newest result.

    A job is ``job(cancelled) -> snapshot``; it may return early (None) once ``cancelled``
    is set. The thread exists only while there is work.

    Signals:
        ready(object): the newest request's result.
        failed(str, str): the newest request raised: one-line message and traceback.
    """

    ready = Signal(object)
    failed = Signal(str, str)
    _done = Signal(int, bool, object)  # generation, ok, result or exception (any thread)

    def __init__(self, parent: QObject | None = None, name: str = "preview") -> None:
        super().__init__(parent)
        self._name = name
        self._lock = threading.Lock()
        self._generation = 0
        self._delivered = 0  # generation of the last result delivered or dropped
        self._job: tuple[int, PreviewJob] | None = None
        self._cancel: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._done.connect(self._on_done)

    @property
    def busy(self) -> bool:
        """True from a request until its result is delivered (or it is cancelled)."""
        return self._delivered < self._generation

    def request(self, job: PreviewJob) -> None:
        """Compute ``job`` off this thread, superseding every earlier request."""
        with self._lock:
            self._generation += 1
            if self._cancel is not None:
                self._cancel.set()
            self._job = (self._generation, job)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name=f"vizlab-{self._name}-{next(_thread_ids)}",
                    daemon=True)
                self._threads.append(self._thread)
                self._thread.start()

    def cancel(self) -> None:
        """Forget every request; one computing is told to stop."""
        with self._lock:
            self._generation += 1
            self._delivered = self._generation
            self._job = None
            if self._cancel is not None:
                self._cancel.set()

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Cancel, then join the worker thread; False if it did not end in ``timeout``."""
        self.cancel()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]
        return not self._threads

    def _work(self) -> None:
        while True:
            with self._lock:
                if self._job is None:
                    self._thread = None
                    return
                generation, job = self._job
                self._job = None
                cancel = self._cancel = threading.Event()
            try:
                result, ok = job(cancel), True
            except Exception as exc:  # shown by the lab as a message, never a crash
                result, ok = exc, False
            with self._lock:
                self._cancel = None
                stale = cancel.is_set() or generation != self._generation
            if not stale:
                try:
                    self._done.emit(generation, ok, result)
                except RuntimeError:  # the lab view was deleted while this was computing
                    return

    def _on_done(self, generation: int, ok: bool, result: Any) -> None:
        if generation != self._generation:
            return  # superseded while the signal was queued
        self._delivered = generation
        self._threads = [t for t in self._threads if t.is_alive()]
        if ok:
            self.ready.emit(result)
        else:
            text = getattr(result, "details", "") or "".join(
                traceback.format_exception(type(result), result, result.__traceback__))
            self.failed.emit(str(result), text)


def _log_warning(args: tuple) -> None:
    message, category, filename, lineno = args[:4]
    log.warning("%s:%s: %s: %s", filename, lineno, category.__name__, message)
