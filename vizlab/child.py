"""The child process: an experiment's Session runs there, free, on a core of its own.

An experiment thread in the app's own process competes with drawing for Python's GIL:
on two cores the GUI then costs over half the training speed. In a child process the
experiment has a core of its own and the GUI thread keeps the GIL, so the lab trains at
almost headless speed while it draws.

`ChildSession(module, config, state)` is driven like a `Session` (see
engine/experiments/session.py): the Runner's worker thread calls `drive()`, which starts
the child and receives its snapshots; live changes, pause, single steps and the pace
are sent to the child as messages. The child does not wait to be asked: it trains at
its own pace and keeps only its newest snapshot, which it sends as soon as the previous
one was taken, with only the rows of its growing histories that were not sent yet. So
the bytes per snapshot stay flat however long the run. `stop()`, from any thread, ends
the child at once, even in the middle of a long step.

`child_first_snapshot` computes a lab's preview (its first snapshot) in a child of its
own, which a newer preview can end at once. `shutdown()` ends every child, the fork
server and the resource tracker, all at once rather than one after another.
"""

from __future__ import annotations

import copy
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from engine.experiments.history import HistoryDecoder, HistoryEncoder
from engine.experiments.session import Session, first_snapshot
from engine.experiments.settings import SettingError, apply_settings, settings_of

log = logging.getLogger(__name__)

# How long to wait for a child that should stop before it is terminated.
STOP_TIMEOUT_S = 0.5
# How often a waiting preview checks whether it has been superseded.
_PREVIEW_POLL_S = 0.02
# How much lower than the app a child runs (Unix nice increment). On a machine with few
# cores the children and the GUI thread compete for CPU; at equal priority the GUI thread
# got about half a core and a first paint took 0.3 s. Lowered, the child yields the core
# while the window draws and takes it back between frames.
CHILD_NICENESS = 10

_context = None
# Every child process started here and not yet joined, so shutdown() can end them all.
_children: set[Any] = set()
_children_lock = threading.Lock()


def _mp_context():
    """Forkserver where available: children fork from a small clean server process (no Qt,
    no threads), which is quick and safe; spawn elsewhere."""
    global _context
    if _context is None:
        # One BLAS thread per experiment: the other core draws. With two BLAS threads
        # spinning in the child, training ran at half speed and frames came late
        # (bench/bench_app.py: GUI cost 55% -> 24%, p95 frame 104 ms -> 40 ms).
        # Set before the fork server starts, so its numpy reads it; a user's own
        # setting wins.
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(variable, "1")
        methods = multiprocessing.get_all_start_methods()
        if "forkserver" in methods:
            _context = multiprocessing.get_context("forkserver")
            # sympy too (0.3 s to import): the Gradients lab's children then start in
            # 0.15 s instead of 0.4 s, and its symbolic work stays out of this process,
            # where it held the GIL against the GUI thread.
            _context.set_forkserver_preload(["numpy", "engine", "engine.experiments", "sympy"])
        else:
            _context = multiprocessing.get_context("spawn")
    return _context


class ChildError(RuntimeError):
    """An exception raised in the child. ``str()`` is the original message, ``type_name``
    the original exception's class name, ``details`` its traceback text."""

    def __init__(self, message: str, details: str = "", type_name: str = "") -> None:
        super().__init__(message)
        self.details = details
        self.type_name = type_name


def describe_error(exc: BaseException) -> str:
    """One line for a user: the original exception's type and message, wherever it ran."""
    if isinstance(exc, ChildError):
        return f"{exc.type_name}: {exc}" if exc.type_name else str(exc)
    return f"{type(exc).__name__}: {exc}"


def _error_payload(exc: BaseException) -> tuple[str, str, str]:
    return str(exc), traceback.format_exc(), type(exc).__name__


def _apply(session: Any, message: tuple) -> None:
    """One request from the parent (or its backlog) applied to a Session."""
    kind = message[0]
    if kind == "change":
        session.change(*message[1:])
    elif kind == "pause":
        session.pause()
    elif kind == "resume":
        session.resume()
    elif kind == "step":
        session.step()
    elif kind == "rate":
        session.set_max_steps_per_second(message[1])


class _Sender:
    """The child's one way out: the newest snapshot, sent as soon as the parent took the
    one before (so at most one is in flight and older ones are simply dropped), then how
    the run ended. Called by the training thread after each snapshot and by the request
    thread when the parent took one; nothing waits on a clock."""

    def __init__(self, connection, session: Session) -> None:
        self._lock = threading.RLock()
        self._connection = connection
        self._session = session
        self._encoder = HistoryEncoder()
        self._sent = 0
        self._taken = True
        self._ended: tuple | None = None

    def offer(self, *_snapshot: Any) -> None:
        with self._lock:
            if not self._taken:
                return
            count, snapshot = self._session.latest()
            try:
                if count > self._sent:
                    self._connection.send(("snapshot", (count, self._encoder.encode(snapshot),
                                                        self._session.steps_per_second())))
                    self._sent, self._taken = count, False
                elif self._ended is not None:
                    self._connection.send(self._ended)
                    self._taken = False
            except (BrokenPipeError, OSError):
                pass  # the parent is gone; the request thread sees it too

    def took(self) -> None:
        with self._lock:
            self._taken = True
            self.offer()

    def end(self, message: tuple) -> None:
        with self._lock:
            self._ended = message
            self.offer()


def _lower_priority() -> None:
    """Let the app's GUI thread go first when both want the CPU (see CHILD_NICENESS)."""
    try:
        os.nice(CHILD_NICENESS)
    except (AttributeError, OSError):  # no nice() on Windows; a refused nice is harmless
        pass


def _child(connection, module_name: str, config: Any, state: Any, first_step: int,
           backlog: list) -> None:
    """The child process: a Session runs free on a thread of its own and offers each
    snapshot to the sender; this thread only takes the parent's requests."""
    _lower_priority()
    try:
        session = Session(module_name, config, state=state, first_step=first_step)
        for message in backlog:
            _apply(session, message)
        sender = _Sender(connection, session)
        session.on_snapshot = sender.offer

        def drive() -> None:
            ended: tuple = ("stopped", None)
            try:
                ended = ("done", None) if session.drive() else ("stopped", None)
            except Exception as exc:
                ended = ("error", _error_payload(exc))
            finally:
                sender.end(ended)

        driver = threading.Thread(target=drive, name="experiment", daemon=True)
        driver.start()
        while True:
            message = connection.recv()
            if message[0] == "stop":
                session.stop()
                driver.join(STOP_TIMEOUT_S)
                return
            if message[0] == "taken":
                sender.took()
            else:
                _apply(session, message)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass  # the parent went away or asked us to go
    except Exception as exc:
        try:
            connection.send(("error", _error_payload(exc)))
        except (BrokenPipeError, OSError):
            pass
    finally:
        connection.close()


def _preview_child(connection, module_name: str, config: Any) -> None:
    """The child process of one preview: compute the first snapshot, send it, end."""
    _lower_priority()
    try:
        connection.send(("snapshot", first_snapshot(module_name, config)))
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    except Exception as exc:
        try:
            connection.send(("error", _error_payload(exc)))
        except (BrokenPipeError, OSError):
            pass
    finally:
        connection.close()


def _start_child(target, args: tuple, name: str):
    """Start a registered daemon child with one end of a new pipe; return (process, end)."""
    parent_end, child_end = _mp_context().Pipe()
    process = _mp_context().Process(target=target, args=(child_end, *args), daemon=True,
                                    name=name)
    try:
        process.start()
    except BaseException:
        parent_end.close()
        child_end.close()
        raise
    child_end.close()
    with _children_lock:
        _children.add(process)
    return process, parent_end


def _child_name(module_name: str) -> str:
    return f"vizlab-{module_name.rsplit('.', 1)[-1]}"


class ChildSession:
    """A Session in a child process, driven from here like a Session in this one.

    `drive()` (on the thread that owns the run) starts the child and receives its newest
    snapshots until the run ends; `latest()`, `change()`, `pause()`, `resume()`,
    `step()` and `set_max_steps_per_second()` work from any thread, before the child
    started too. `stop()` ends the child at once, even in the middle of a long step.
    If no child can be started, the run goes on in a Session in this process.
    """

    def __init__(self, module_name: str, config: Any, state: Any = None,
                 first_step: int = 0) -> None:
        self.module_name = module_name
        self.config = copy.deepcopy(config)
        self.state = state
        self.first_step = first_step
        self._lock = threading.Lock()
        self._connection = None
        self._process = None
        self._local: Session | None = None
        self._backlog: list[tuple] = []  # requests made before the child started
        self._stopped = threading.Event()
        self._latest: tuple[int, Any] = (0, None)
        self._rate = 0.0
        self._paused = False
        self.on_single_step: Callable[[int, Any], None] | None = None

    # -- requests, from any thread -------------------------------------------------------

    def change(self, name: str, value: Any, at_step: int | None = None) -> Any:
        value = _validated_change(self.config, name, value)
        self._send(("change", name, value, at_step))
        return value

    def pause(self) -> None:
        self._paused = True
        self._send(("pause",))

    def resume(self) -> None:
        self._paused = False
        self._send(("resume",))

    def step(self) -> None:
        self._send(("step",))

    def set_max_steps_per_second(self, rate: float | None) -> None:
        self._send(("rate", rate))

    def latest(self) -> tuple[int, Any]:
        local = self._local
        return local.latest() if local is not None else self._latest

    def steps_per_second(self) -> float:
        local = self._local
        return local.steps_per_second() if local is not None else self._rate

    def stop(self) -> None:
        """End the run now: the child is ended mid-step (safe from any thread)."""
        self._stopped.set()
        with self._lock:
            local, process = self._local, self._process
        if local is not None:
            local.stop()
        if process is not None:
            _signal(process, signal.SIGTERM)

    def _send(self, message: tuple) -> None:
        with self._lock:
            if self._local is not None:
                _apply(self._local, message)
            elif self._connection is None:
                self._backlog.append(message)
            else:
                try:
                    self._connection.send(message)
                except (BrokenPipeError, OSError):
                    pass  # the child is gone; drive() reports how

    # -- the run, on the thread that owns it ---------------------------------------------

    def drive(self) -> bool:
        """Run the child until the experiment ends (True) or `stop()` (False)."""
        with self._lock:
            if self._stopped.is_set():
                return False
            backlog, self._backlog = self._backlog, []
        try:
            process, connection = _start_child(
                _child, (self.module_name, self.config, self.state, self.first_step, backlog),
                _child_name(self.module_name))
        except Exception:  # e.g. a script without a __main__ guard under spawn/forkserver
            log.warning("could not start an experiment process; training in this one",
                        exc_info=True)
            with self._lock:
                self._backlog[:0] = backlog
            return self._drive_here()
        with self._lock:  # requests made while the child started go after the others
            self._process, self._connection = process, connection
            for message in self._backlog:
                connection.send(message)
            self._backlog.clear()
        if self._stopped.is_set():  # stopped while the child was starting
            with self._lock:
                self._process = self._connection = None
            _end(process, connection)
            return False
        try:
            return self._receive(process, connection)
        finally:
            with self._lock:
                self._process = self._connection = None
            if self._stopped.is_set():
                _end(process, connection)
            else:
                _stop(process, connection)

    def _receive(self, process, connection) -> bool:
        decoder = HistoryDecoder()
        started = False
        while True:
            try:
                kind, payload = connection.recv()
            except (EOFError, BrokenPipeError, OSError):
                if self._stopped.is_set():
                    return False
                if not started:  # the child died before its first snapshot
                    log.warning("the experiment process did not start; training in this one")
                    with self._lock:
                        self._process = self._connection = None
                    _end(process, connection)
                    return self._drive_here()
                raise ChildError("the experiment process ended unexpectedly") from None
            started = True
            if kind == "snapshot":
                count, snapshot, rate = payload
                snapshot = decoder.decode(snapshot)
                self._latest, self._rate = (count, snapshot), rate
                self._send(("taken",))
                if self._paused and self.on_single_step is not None:
                    self.on_single_step(count, snapshot)
            elif kind == "done":
                return True
            elif kind == "stopped":
                return False
            else:
                raise ChildError(*payload)

    def _drive_here(self) -> bool:
        with self._lock:
            local = self._local = Session(self.module_name, self.config, state=self.state,
                                          first_step=self.first_step)
            for message in self._backlog:
                _apply(local, message)
            self._backlog.clear()
        local.on_single_step = self.on_single_step
        if self._stopped.is_set():
            local.stop()
        return local.drive()


def _validated_change(config: Any, name: str, value: Any) -> Any:
    """What Session.change checks, here before the request crosses to the child."""
    live = {info.name for info in settings_of(config) if info.live}
    if name not in live:
        if name in {info.name for info in settings_of(config)}:
            raise SettingError(f"{name} needs a new network: it applies on Reset")
        raise SettingError(f"unknown setting {name!r}")
    scratch = copy.copy(config)
    apply_settings(scratch, {name: value})
    return getattr(scratch, name)


def child_first_snapshot(module_name: str, config: Any,
                          cancelled: threading.Event | None = None) -> Any:
    """The experiment's first snapshot for ``config``, computed in a child process.

    Returns None as soon as ``cancelled`` is set (the child is ended at once, however far
    it got). An error in the experiment raises ChildError with the original message.
    """
    cancelled = cancelled or threading.Event()
    try:
        process, connection = _start_child(_preview_child, (module_name, config),
                                           _child_name(module_name) + "-preview")
    except Exception:
        if cancelled.is_set():  # superseded or closing (the fork server may be gone)
            return None
        log.warning("could not start a preview process; computing it in this one",
                    exc_info=True)
        return first_snapshot(module_name, config)
    try:
        while not connection.poll(_PREVIEW_POLL_S):
            if cancelled.is_set():
                return None
            if not process.is_alive() and not connection.poll(0):
                raise ChildError("the preview process ended unexpectedly")
        kind, payload = connection.recv()
    except (EOFError, OSError):
        if cancelled.is_set():
            return None
        raise ChildError("the preview process ended unexpectedly") from None
    finally:
        _end(process, connection)  # done or superseded: nothing to wait for
    if kind == "snapshot":
        return payload
    raise ChildError(*payload)


def _signal(process, signum: int) -> None:
    try:
        if process.pid is not None and process.exitcode is None:
            os.kill(process.pid, signum)
    except (ProcessLookupError, OSError, ValueError):
        pass


def _forget(process) -> None:
    with _children_lock:
        _children.discard(process)


def _stop(process, connection) -> None:
    try:
        connection.send(("stop", None))
    except (BrokenPipeError, OSError):
        pass
    process.join(STOP_TIMEOUT_S)
    if process.is_alive():  # mid-step: no need to wait for the step to finish
        process.terminate()
        process.join(STOP_TIMEOUT_S)
    connection.close()
    _forget(process)


def _end(process, connection) -> None:
    """End a child whose work is over or no longer wanted, without waiting for it."""
    _signal(process, signal.SIGTERM)
    process.join(STOP_TIMEOUT_S)
    if process.is_alive():
        _signal(process, signal.SIGKILL)
        process.join(STOP_TIMEOUT_S)
    connection.close()
    _forget(process)


def stop_children(timeout: float = STOP_TIMEOUT_S) -> None:
    """End every child process started here, all at once; wait at most about ``timeout``."""
    with _children_lock:
        processes = list(_children)
    for process in processes:
        _signal(process, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            _signal(process, signal.SIGKILL)
            process.join(0.1)
        _forget(process)


def helper_pids() -> dict[str, int]:
    """Process ids of multiprocessing's fork server and resource tracker, when running."""
    from multiprocessing import forkserver, resource_tracker

    pids = {}
    server = getattr(forkserver, "_forkserver", None)
    if getattr(server, "_forkserver_pid", None) is not None:
        pids["forkserver"] = server._forkserver_pid
    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if getattr(tracker, "_pid", None) is not None:
        pids["resource tracker"] = tracker._pid
    return pids


def shutdown(timeout: float = 0.8) -> None:
    """End every child, then the fork server and the resource tracker (at app exit).

    Left alone they outlive the app by seconds. Both are started again by the next
    child, should one be started after this.
    """
    deadline = time.monotonic() + timeout
    stop_children(timeout / 2)
    _stop_forkserver(deadline)
    _stop_resource_tracker(deadline)


def _wait_for_pid(pid: int, deadline: float) -> None:
    """Reap our child ``pid``; SIGKILL it if it is still there at ``deadline``."""
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        if time.monotonic() >= deadline:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            return
        time.sleep(0.005)


def _stop_forkserver(deadline: float) -> None:
    # multiprocessing has no public way to stop its fork server; these are the fields
    # its own ForkServer._stop() uses. Skipped quietly where they do not exist.
    from multiprocessing import forkserver, util

    server = getattr(forkserver, "_forkserver", None)
    lock = getattr(server, "_lock", None)
    if lock is None or getattr(server, "_forkserver_pid", None) is None:
        return
    with lock:
        pid, alive_fd = server._forkserver_pid, server._forkserver_alive_fd
        if pid is None:
            return
        # Closing the "alive" pipe asks it to exit; SIGTERM makes sure it does not first
        # finish importing its preloaded modules. Its children are already gone.
        try:
            os.close(alive_fd)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _wait_for_pid(pid, deadline)
        address = server._forkserver_address
        server._forkserver_alive_fd = server._forkserver_pid = None
        server._forkserver_address = None
        if address and not util.is_abstract_socket_namespace(address):
            try:
                os.unlink(address)
            except OSError:
                pass


def _stop_resource_tracker(deadline: float) -> None:
    # As for the fork server: the fields resource_tracker's own _stop() uses. The tracker
    # ignores SIGTERM and ends when every holder of its pipe has closed it.
    from multiprocessing import resource_tracker

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    lock = getattr(tracker, "_lock", None)
    if lock is None or getattr(tracker, "_fd", None) is None:
        return
    with lock:
        fd, pid = tracker._fd, tracker._pid
        if fd is None:
            return
        try:
            os.close(fd)
        except OSError:
            pass
        tracker._fd = None
        if pid is not None:
            _wait_for_pid(pid, deadline)
        tracker._pid = None
