"""Run an experiment in a child process, seen from here as a plain iterator of snapshots.

An experiment thread in the app's own process competes with drawing for Python's GIL:
on two cores the GUI then costs over half the training speed. In a child process the
experiment has a core of its own and the GUI thread keeps the GIL, so the lab trains at
almost headless speed while it draws.

`RemoteRun(module, config, state)` is an iterator that the Runner's worker thread
advances like any generator: each `next()` asks the child for its next snapshot. Before
each request the live settings of `config` (the object the lab edits) are compared with
what the child has and changes are sent along, so dragging the learning rate still
applies at the next step. `abort()`, from any thread, ends the child at once, even in
the middle of a long step.

`remote_first_snapshot` computes a lab's preview (its first snapshot) in a child of its
own, which a newer preview can end at once. `shutdown()` ends every child, the fork
server and the resource tracker, all at once rather than one after another.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from engine.experiments.base import settings_of
from engine.experiments.preview import first_snapshot

log = logging.getLogger(__name__)

# How long to wait for a child that should stop before it is terminated.
STOP_TIMEOUT_S = 0.5
# How often a waiting preview checks whether it has been superseded.
_PREVIEW_POLL_S = 0.02

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
            _context.set_forkserver_preload(["numpy", "engine", "engine.experiments"])
        else:
            _context = multiprocessing.get_context("spawn")
    return _context


class RemoteError(RuntimeError):
    """An exception raised in the child. ``str()`` is the original message, ``type_name``
    the original exception's class name, ``details`` its traceback text."""

    def __init__(self, message: str, details: str = "", type_name: str = "") -> None:
        super().__init__(message)
        self.details = details
        self.type_name = type_name


def describe_error(exc: BaseException) -> str:
    """One line for a user: the original exception's type and message, wherever it ran."""
    if isinstance(exc, RemoteError):
        return f"{exc.type_name}: {exc}" if exc.type_name else str(exc)
    return f"{type(exc).__name__}: {exc}"


def _error_payload(exc: BaseException) -> tuple[str, str, str]:
    return str(exc), traceback.format_exc(), type(exc).__name__


class _CurveMirror:
    """The parent's copy of a snapshot's growing `curves`, fed only the new rows.

    Curves (one row per snapshot) grow without end; sending them whole with every
    snapshot would cost O(rows) each time. The child sends the rows added since the last
    snapshot, and this mirror appends them to buffers of its own and hands out read-only
    views, as engine.experiments.history does inside one process.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, np.ndarray] = {}
        self.length = 0

    def extend(self, new_rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        added = len(next(iter(new_rows.values()))) if new_rows else 0
        for name, rows in new_rows.items():
            buffer = self.buffers.get(name)
            if buffer is None or len(buffer) < self.length + added:
                bigger = np.empty((max(2 * (self.length + added), 64), *rows.shape[1:]),
                                  dtype=rows.dtype)
                if buffer is not None:
                    bigger[: self.length] = buffer[: self.length]
                self.buffers[name] = buffer = bigger
            buffer[self.length: self.length + added] = rows
        self.length += added
        views = {}
        for name, buffer in self.buffers.items():
            view = buffer[: self.length].view()
            view.flags.writeable = False
            views[name] = view
        return views


def _split_curves(snapshot: Any, rows_sent: int) -> tuple[Any, dict | None, int]:
    """The snapshot without its curves, the curve rows not sent yet, and the new count."""
    curves = getattr(snapshot, "curves", None)
    if not isinstance(curves, dict) or not curves:
        return snapshot, None, rows_sent
    length = len(next(iter(curves.values())))
    new_rows = {name: np.array(values[rows_sent:]) for name, values in curves.items()}
    return dataclasses.replace(snapshot, curves=None), new_rows, length


def _child(connection, module_name: str, config: Any, state: Any) -> None:
    """The child process: advance the experiment one snapshot per request."""
    rows_sent = 0
    try:
        module = importlib.import_module(module_name)
        generator = module.run(config, state=state) if state is not None else module.run(config)
        while True:
            request = connection.recv()
            if request[0] == "stop":
                generator.close()
                break
            for name, value in request[1].items():  # live settings changed by the user
                setattr(config, name, value)
            try:
                snapshot = next(generator)
            except StopIteration:
                connection.send(("done", None))
                break
            snapshot, new_rows, rows_sent = _split_curves(snapshot, rows_sent)
            connection.send(("snapshot", (snapshot, new_rows)))
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


def _live_values(config: Any, names: list[str]) -> dict[str, Any]:
    return {name: getattr(config, name) for name in names}


def _child_name(module_name: str) -> str:
    return f"vizlab-{module_name.rsplit('.', 1)[-1]}"


class RemoteRun:
    """An iterator of the experiment's snapshots, computed in a child process.

    One request, one snapshot: the child never runs ahead, so a pause or a Step sees
    the settings as they were when it was asked for. The child starts at the first
    ``next()`` (on the thread that iterates). ``close()`` stops it politely; ``abort()``
    ends it at once from any thread, after which iteration simply stops.
    """

    def __init__(self, module_name: str, config: Any, state: Any = None) -> None:
        self.module_name = module_name
        self.config = config
        self.state = state
        self._live = [info.name for info in settings_of(config) if info.live]
        self._process = None
        self._connection = None
        self._fallback: Iterator[Any] | None = None
        self._aborted = threading.Event()
        self._started = False  # the child has sent its first answer
        self._finished = False
        self._sent: dict[str, Any] = {}
        self._curves = _CurveMirror()

    def __iter__(self) -> RemoteRun:
        return self

    def __next__(self) -> Any:
        if self._fallback is not None:
            return next(self._fallback)
        if self._finished or self._aborted.is_set():
            self.close()
            raise StopIteration
        if self._process is None:
            try:
                self._process, self._connection = _start_child(
                    _child, (self.module_name, dataclasses.replace(self.config), self.state),
                    _child_name(self.module_name))
            except Exception:  # e.g. a script without a __main__ guard under spawn/forkserver
                log.warning("could not start an experiment process; training in this one",
                            exc_info=True)
                return self._train_here()
            self._sent = _live_values(self.config, self._live)
            if self._aborted.is_set():  # aborted while the child was starting
                self.close()
                raise StopIteration
        current = _live_values(self.config, self._live)
        changes = {k: v for k, v in current.items() if v != self._sent.get(k)}
        self._sent = current
        try:
            self._connection.send(("next", changes))
            kind, payload = self._connection.recv()
        except (EOFError, BrokenPipeError, OSError):
            if self._aborted.is_set():
                self.close()
                raise StopIteration from None
            if not self._started:  # the child died before its first snapshot
                log.warning("the experiment process did not start; training in this one")
                self.close()
                return self._train_here()
            self.close()
            raise RemoteError("the experiment process ended unexpectedly") from None
        self._started = True
        if kind == "snapshot":
            snapshot, new_rows = payload
            if new_rows is not None:
                snapshot = dataclasses.replace(snapshot, curves=self._curves.extend(new_rows))
            return snapshot
        self._finished = True
        self.close()
        if kind == "done":
            raise StopIteration
        raise RemoteError(*payload)

    def _train_here(self) -> Any:
        self._fallback = _in_this_process(self.module_name, self.config, self.state)
        return next(self._fallback)

    def abort(self) -> None:
        """End the child now, mid-step too (safe from any thread)."""
        self._aborted.set()
        process = self._process
        if process is not None:
            _signal(process, signal.SIGTERM)

    def close(self) -> None:
        """Stop the child (politely, then by force after STOP_TIMEOUT_S)."""
        if self._fallback is not None:
            close = getattr(self._fallback, "close", None)
            if close is not None:
                close()
        process, connection = self._process, self._connection
        if process is None:
            return
        self._process = self._connection = None
        if self._aborted.is_set():
            _end(process, connection)
        else:
            _stop(process, connection)


def remote_run(module_name: str, config: Any, state: Any = None) -> RemoteRun:
    """The experiment's snapshots, computed in a child process (see RemoteRun)."""
    return RemoteRun(module_name, config, state)


def remote_first_snapshot(module_name: str, config: Any,
                          cancelled: threading.Event | None = None) -> Any:
    """The experiment's first snapshot for ``config``, computed in a child process.

    Returns None as soon as ``cancelled`` is set (the child is ended at once, however far
    it got). An error in the experiment raises RemoteError with the original message.
    """
    cancelled = cancelled or threading.Event()
    try:
        process, connection = _start_child(_preview_child, (module_name, config),
                                           _child_name(module_name) + "-preview")
    except Exception:
        log.warning("could not start a preview process; computing it in this one",
                    exc_info=True)
        return first_snapshot(module_name, config)
    try:
        while not connection.poll(_PREVIEW_POLL_S):
            if cancelled.is_set():
                return None
            if not process.is_alive() and not connection.poll(0):
                raise RemoteError("the preview process ended unexpectedly")
        kind, payload = connection.recv()
    except (EOFError, OSError):
        if cancelled.is_set():
            return None
        raise RemoteError("the preview process ended unexpectedly") from None
    finally:
        _end(process, connection)  # done or superseded: nothing to wait for
    if kind == "snapshot":
        return payload
    raise RemoteError(*payload)


def _in_this_process(module_name: str, config: Any, state: Any) -> Iterator[Any]:
    module = importlib.import_module(module_name)
    return module.run(config, state=state) if state is not None else module.run(config)


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
