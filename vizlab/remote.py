"""Run an experiment generator in a child process, seen from here as a plain generator.

An experiment thread in the app's own process competes with drawing for Python's GIL:
on two cores the GUI then costs over half the training speed. In a child process the
experiment has a core of its own and the GUI thread keeps the GIL, so the lab trains at
almost headless speed while it draws.

`remote_run(module, config, state)` returns a generator that the Runner's worker thread
iterates like any other: each `next()` asks the child for its next snapshot. Before each
request the live settings of `config` (the object the lab edits) are compared with what
the child has and changes are sent along, so dragging the learning rate still applies at
the next step. Closing the generator stops the child within a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import multiprocessing
import os
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np

from engine.experiments.base import settings_of

log = logging.getLogger(__name__)

# How long to wait for a child that should stop before it is terminated.
STOP_TIMEOUT_S = 0.5

_context = None


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
    """An exception raised in the child; its message is the original one."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details


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
            connection.send(("error", (f"{exc}", traceback.format_exc())))
        except (BrokenPipeError, OSError):
            pass
    finally:
        connection.close()


def _live_values(config: Any, names: list[str]) -> dict[str, Any]:
    return {name: getattr(config, name) for name in names}


def remote_run(module_name: str, config: Any, state: Any = None) -> Iterator[Any]:
    """A generator of the experiment's snapshots, computed in a child process.

    One request, one snapshot: the child never runs ahead, so a pause or a Step sees
    the settings as they were when it was asked for.
    """
    live = [info.name for info in settings_of(config) if info.live]
    parent_end, child_end = _mp_context().Pipe()
    process = _mp_context().Process(
        target=_child, args=(child_end, module_name, dataclasses.replace(config), state),
        daemon=True, name=f"vizlab-{module_name.rsplit('.', 1)[-1]}",
    )
    try:
        process.start()
    except Exception:  # e.g. a script without a __main__ guard under spawn/forkserver
        log.warning("could not start an experiment process; training in this one",
                    exc_info=True)
        yield from _in_this_process(module_name, config, state)
        return
    child_end.close()
    sent = _live_values(config, live)
    curves = _CurveMirror()
    started = False
    try:
        while True:
            current = _live_values(config, live)
            changes = {k: v for k, v in current.items() if v != sent.get(k)}
            sent = current
            try:
                parent_end.send(("next", changes))
                kind, payload = parent_end.recv()
            except (EOFError, BrokenPipeError, OSError):
                if not started:  # the child died before its first snapshot
                    log.warning("the experiment process did not start; training in this one")
                    yield from _in_this_process(module_name, config, state)
                    return
                raise RemoteError("the experiment process ended unexpectedly", "") from None
            started = True
            if kind == "snapshot":
                snapshot, new_rows = payload
                if new_rows is not None:
                    snapshot = dataclasses.replace(snapshot, curves=curves.extend(new_rows))
                yield snapshot
            elif kind == "done":
                return
            else:
                message, details = payload
                raise RemoteError(message, details)
    finally:
        _stop(process, parent_end)


def _in_this_process(module_name: str, config: Any, state: Any) -> Iterator[Any]:
    module = importlib.import_module(module_name)
    return module.run(config, state=state) if state is not None else module.run(config)


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
