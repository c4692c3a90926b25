"""Run experiments and previews off the GUI thread and feed the GUI their newest values.

An experiment (``engine.experiments.<lab>.run(config)``) is a plain generator that yields
small frozen snapshot dataclasses and never sleeps. ``Runner`` drives one such generator at
a time: run, pause, single-step, stop, and an optional speed limit. The worker thread only
ever stores the newest snapshot in a one-item slot; a ~30 Hz timer on the GUI thread emits
``snapshot`` when the slot holds something new. However fast the experiment runs, the GUI
draws at most ~30 frames a second and memory stays bounded (no queue of snapshots).

The worker is superqt's ``GeneratorWorker`` (the one napari uses), extended with single
steps, a speed limit and the latest-value slot.

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
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal
from superqt.utils import GeneratorWorker

# Not re-exported by superqt.utils, but it is the documented default SignalsClass of
# GeneratorWorker; we only add one signal to it.
from superqt.utils._qthreading import GeneratorWorkerSignals

from vizlab.remote import describe_error

__all__ = ["LatestSlot", "Previewer", "Runner", "SnapshotWorker", "STATES"]

log = logging.getLogger(__name__)

#: The values ``Runner.state`` takes and ``Runner.state_changed`` carries.
STATES = ("idle", "running", "paused", "finished", "error")

GeneratorSource = Callable[[], Iterable[Any]] | Iterator[Any]

# Longest single sleep of the worker while paused or throttled. Waits are also woken at once
# by pause/resume/step/stop, so this only bounds how stale a speed change can be.
_MAX_WAIT_S = 0.05
_thread_ids = itertools.count(1)


class LatestSlot:
    """A thread-safe slot holding only the newest item and how many items were put.

    The worker overwrites it at full speed; the GUI reads it when it wants to draw. Older
    items are simply dropped, which is what bounds memory.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: Any = None
        self._count = 0

    def put(self, item: Any) -> int:
        """Store ``item`` as the newest one; return the running count of items put."""
        with self._lock:
            self._item = item
            self._count += 1
            return self._count

    def get(self) -> tuple[int, Any]:
        """Return ``(count, newest_item)``; ``(0, None)`` before the first put."""
        with self._lock:
            return self._count, self._item


class _SnapshotSignals(GeneratorWorkerSignals):
    # (count, snapshot) after a single step taken while paused, so the GUI can draw it at
    # once instead of waiting for the next timer tick.
    stepped = Signal(object)


class SnapshotWorker(GeneratorWorker):
    """superqt ``GeneratorWorker`` that can single-step, throttle, and keeps only the newest item.

    Pause/resume/quit keep superqt's API (``pause()``, ``resume()``, ``quit()``,
    ``is_paused``, signals ``paused``/``resumed``/``aborted``/``errored``/``finished``), but
    the state lives behind one condition variable so that a pause followed at once by a
    resume can never be lost, and so every wait wakes as soon as the GUI asks for something.
    ``yielded`` is deliberately not emitted: one queued signal per step is exactly the
    unbounded queue this worker exists to avoid.
    """

    def __init__(
        self,
        source: GeneratorSource,
        slot: LatestSlot,
        *,
        max_steps_per_second: float | None = None,
        paused: bool = False,
    ) -> None:
        def _pull() -> Iterator[Any]:
            # Calling the factory here (not in __init__) runs the experiment's set-up on the
            # worker thread, and turns set-up errors into ``errored`` like any other.
            iterable = source() if callable(source) else source
            self._source = iterable
            if self.abort_requested:
                _abort(iterable)
            return (yield from iterable)

        super().__init__(_pull, SignalsClass=_SnapshotSignals)
        self._slot = slot
        self._cond = threading.Condition()
        self._want_pause = paused
        self._step_credits = 0
        self._interval = _interval(max_steps_per_second)
        self._last_pull = float("-inf")
        self._source: Any = None

    # -- requests from the GUI thread -------------------------------------------------

    def pause(self) -> None:
        with self._cond:
            self._want_pause = True
            self._step_credits = 0
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._want_pause = False
            self._step_credits = 0
            self._cond.notify_all()

    def toggle_pause(self) -> None:
        with self._cond:
            want = not self._want_pause
        if want:
            self.pause()
        else:
            self.resume()

    def request_step(self) -> None:
        """While paused, let the worker pull exactly one more item."""
        with self._cond:
            if self._want_pause:
                self._step_credits += 1
                self._cond.notify_all()

    def set_max_steps_per_second(self, rate: float | None) -> None:
        with self._cond:
            self._interval = _interval(rate)
            self._cond.notify_all()

    def quit(self) -> None:
        with self._cond:
            super().quit()
            self._cond.notify_all()
        # A source that can be ended from outside (a child process mid-step) is ended
        # now, so stopping never waits for a long step.
        _abort(self._source)

    # -- the loop on the worker thread --------------------------------------------------

    def work(self) -> Any:
        # superqt's run() records warnings with the "always" filter; a numpy overflow
        # inside a training loop would then queue one signal per step. Report each
        # distinct warning once instead.
        warnings.simplefilter("default")
        gen = self._gen
        while True:
            single = self._wait_for_turn()
            if single is None:
                self._close(gen)
                self.aborted.emit()
                return None
            try:
                item = gen.send(None)
            except StopIteration as stop:
                return stop.value
            count = self._slot.put(item)
            if single:
                self.stepped.emit((count, item))

    def _wait_for_turn(self) -> bool | None:
        """Block until the next item may be pulled.

        Returns True for a single step taken while paused, False for a normal step, and
        None when the worker should abort.
        """
        # Fast path, running flat out with nothing asked of us: plain attribute reads are
        # atomic, and a request that races this check is seen on the next step.
        if not (self._want_pause or self._paused or self._abort_requested) and (
            self._interval is None
        ):
            return False
        with self._cond:
            while True:
                if self.abort_requested:
                    return None
                if self._want_pause:
                    if not self._paused:
                        self._paused = True
                        self.paused.emit()
                    if self._step_credits > 0:
                        self._step_credits -= 1
                        self._last_pull = time.monotonic()
                        return True
                    self._cond.wait(_MAX_WAIT_S)
                    continue
                if self._paused:
                    self._paused = False
                    self.resumed.emit()
                now = time.monotonic()
                interval = self._interval
                if interval is None:
                    self._last_pull = now
                    return False
                due = self._last_pull + interval
                if now >= due:
                    # Keep to the schedule (no drift from wake-up latency), but after a
                    # pause or a slow step start afresh instead of bursting to catch up.
                    self._last_pull = due if now - due < interval else now
                    return False
                self._cond.wait(min(due - now, _MAX_WAIT_S))

    @staticmethod
    def _close(gen: Any) -> None:
        # Close on this thread, so the experiment's finally-blocks don't run later on the
        # GUI thread when the generator is garbage collected.
        try:
            gen.close()
        except Exception:  # an experiment that misbehaves while closing must not hang stop()
            log.exception("experiment raised while being closed")


def _abort(source: Any) -> None:
    abort = getattr(source, "abort", None)
    if abort is not None:
        abort()


def _interval(rate: float | None) -> float | None:
    if rate is None:
        return None
    rate = float(rate)
    if not rate > 0:
        raise ValueError(f"max steps per second must be positive or None, got {rate!r}")
    return 1.0 / rate


class Runner(QObject):
    """Drive one experiment generator at a time on a background thread.

    Signals:
        snapshot(object): the newest snapshot, at most ~30 times a second, plus at once
            after each ``step()``.
        error(str, str): message and traceback text of an exception in the experiment.
        finished(): the generator ran to its end (not emitted after ``stop()`` or errors).
        state_changed(str): one of ``STATES``.
    """

    snapshot = Signal(object)
    error = Signal(str, str)
    finished = Signal()
    state_changed = Signal(str)

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
        self._worker: SnapshotWorker | None = None
        self._thread: threading.Thread | None = None
        # Threads whose stop() timed out (an experiment step that would not end); joined
        # again by shutdown(). Their late signals are ignored thanks to _generation.
        self._orphans: list[tuple[SnapshotWorker, threading.Thread]] = []
        self._generation = 0
        self._slot = LatestSlot()
        self._emitted_count = 0
        self._max_sps: float | None = None
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=256)
        self._frame_times: deque[float] = deque(maxlen=256)

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
        """True while a generator is being advanced (not paused)."""
        return self._state == "running"

    @property
    def is_paused(self) -> bool:
        return self._state == "paused"

    @property
    def is_active(self) -> bool:
        """True while a generator is loaded, running or paused."""
        return self._state in ("running", "paused")

    def latest(self) -> Any:
        """The newest snapshot the experiment produced (None before the first)."""
        return self._slot.get()[1]

    def step_count(self) -> int:
        """How many snapshots the current (or last) run has produced."""
        return self._slot.get()[0]

    def steps_per_second(self) -> float:
        """Experiment steps per second over about the last second (0 when not running)."""
        if not self.is_active or len(self._rate_samples) < 2:
            return 0.0
        t_new, c_new = self._rate_samples[-1]
        t_old, c_old = self._rate_samples[0]
        for t, c in self._rate_samples:
            if t >= t_new - 1.0:
                t_old, c_old = t, c
                break
        dt = t_new - t_old
        return (c_new - c_old) / dt if dt > 0 else 0.0

    def snapshots_per_second(self) -> float:
        """How many ``snapshot`` signals went out over about the last second."""
        now = time.monotonic()
        return float(sum(1 for t in self._frame_times if t >= now - 1.0))

    def max_steps_per_second(self) -> float | None:
        return self._max_sps

    def set_max_steps_per_second(self, rate: float | None) -> None:
        """Limit the experiment's pace; None runs it as fast as it goes."""
        _interval(rate)  # validate before storing
        self._max_sps = None if rate is None else float(rate)
        if self._worker is not None:
            self._worker.set_max_steps_per_second(self._max_sps)

    # -- transport ------------------------------------------------------------------------

    def start(self, generator_factory: GeneratorSource, *, paused: bool = False) -> None:
        """Stop whatever runs, then run ``generator_factory()`` on a fresh thread.

        ``generator_factory`` is a zero-argument callable returning the experiment's
        generator (e.g. ``functools.partial(run, config)``); a generator object is also
        accepted. With ``paused=True`` nothing is pulled until ``step()`` or ``resume()``.
        """
        self.stop(self.QUICK_STOP_S)
        self._generation += 1
        gen_id = self._generation
        self._slot = LatestSlot()
        self._emitted_count = 0
        self._rate_samples.clear()
        self._frame_times.clear()

        worker = SnapshotWorker(
            generator_factory, self._slot, max_steps_per_second=self._max_sps, paused=paused
        )
        worker.setAutoDelete(False)  # Python owns it; Qt never runs it from a pool
        worker.errored.connect(functools.partial(self._on_errored, gen_id))
        worker.finished.connect(functools.partial(self._on_worker_finished, gen_id))
        worker.stepped.connect(functools.partial(self._on_stepped, gen_id))
        worker.warned.connect(_log_warning)
        # A dedicated Python thread rather than QThreadPool: stop() can join exactly this
        # thread, and the thread is gone from threading.enumerate() when it ends (a pool
        # thread that ever logged stays listed as a _DummyThread forever).
        thread = threading.Thread(
            target=worker.run, name=f"vizlab-runner-{next(_thread_ids)}", daemon=True
        )
        self._worker, self._thread = worker, thread
        self._set_state("paused" if paused else "running")
        thread.start()
        self._rate_samples.append((time.monotonic(), 0))
        self._timer.start()

    def pause(self) -> None:
        if self._worker is not None and self._state == "running":
            self._worker.pause()
            self._set_state("paused")

    def resume(self) -> None:
        if self._worker is not None and self._state == "paused":
            self._worker.resume()
            self._set_state("running")

    def toggle_pause(self) -> None:
        if self._state == "running":
            self.pause()
        elif self._state == "paused":
            self.resume()

    def step(self) -> None:
        """Advance exactly one snapshot while paused (while running, this just pauses)."""
        if self._worker is None:
            return
        if self._state == "running":
            self.pause()
        elif self._state == "paused":
            self._worker.request_step()

    def stop(self, timeout: float = 2.0) -> bool:
        """Abort the run and join its thread; the state becomes "idle".

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

    def _detach(self) -> tuple[SnapshotWorker, threading.Thread] | None:
        """Abort the current worker and forget it; return it to be joined, if any."""
        self._prune_orphans()
        worker, thread = self._worker, self._thread
        if worker is None or thread is None:
            if self._state in ("running", "paused"):
                self._set_state("idle")
            return None
        self._generation += 1  # queued signals of this worker are now stale
        self._worker = self._thread = None
        self._timer.stop()
        worker.quit()
        self._set_state("idle")
        return worker, thread

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop and join every thread this runner started (call on application close)."""
        deadline = time.monotonic() + timeout
        self.begin_shutdown()
        for worker, thread in self._orphans:
            worker.quit()
            thread.join(max(0.0, deadline - time.monotonic()))
        self._prune_orphans()
        return not self._orphans

    # -- GUI-thread slots -------------------------------------------------------------

    def _on_tick(self) -> None:
        count, item = self._slot.get()
        now = time.monotonic()
        self._rate_samples.append((now, count))
        if count > self._emitted_count:
            self._emit(count, item)

    def _emit(self, count: int, item: Any) -> None:
        self._emitted_count = count
        self._frame_times.append(time.monotonic())
        self.snapshot.emit(item)

    def _on_stepped(self, gen_id: int, payload: tuple[int, Any]) -> None:
        count, item = payload
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

    def _on_worker_finished(self, gen_id: int) -> None:
        # superqt emits ``finished`` after ``errored`` too; only a clean end is ours.
        if gen_id != self._generation or self._worker is None:
            return
        self._end_run()
        self._set_state("finished")
        self.finished.emit()

    def _end_run(self) -> None:
        """The worker ended on its own: show its last snapshot and join its thread."""
        thread = self._thread
        self._worker = self._thread = None
        self._timer.stop()
        count, item = self._slot.get()
        self._rate_samples.append((time.monotonic(), count))
        if count > self._emitted_count:
            self._emit(count, item)
        if thread is not None:
            # run() emits finished/errored as its last acts, so this is immediate.
            thread.join(1.0)
            if thread.is_alive():
                log.warning("experiment thread %s still alive after finishing", thread.name)

    def _prune_orphans(self) -> None:
        self._orphans = [(w, t) for w, t in self._orphans if t.is_alive()]

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
                self._done.emit(generation, ok, result)

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
