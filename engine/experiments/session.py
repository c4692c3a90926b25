"""One run of one experiment, owned by a `Session`: the same object drives it in a test,
in the CLI, on a worker thread and in the child process.

The Session holds its own copy of the config; nobody else reads or writes it. Live
changes are sent in as messages (`change(name, value)`, from any thread): validated at
once, queued, and applied by the Session before its next step, so the experiment sees a
change exactly between two snapshots. It keeps only the newest snapshot, paces itself by
its own clock (at most `max_steps_per_second` training steps a second), meters steps/s,
can pause and single-step, and starts from saved weights when the experiment is
resumable.

Two ways to drive it:
- `advance()` takes one snapshot now (tests, the CLI: `for snapshot in session`);
- `drive()` loops until the run ends or `stop()` is called, obeying pause, step and
  pace: what a worker thread or the child process runs, while others call `latest()`.

No Qt here; threads only through the lock every request takes.
"""

from __future__ import annotations

import copy
import importlib
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from engine.experiments.contract import is_resumable
from engine.experiments.settings import SettingError, apply_settings, settings_of

# Longest single wait while paused or paced: every request wakes waits at once anyway.
_MAX_WAIT_S = 0.05


class RateMeter:
    """Events per second over about the last `window` seconds, from (time, count) samples.

    One thread adds samples while another (the GUI's) reads the rate."""

    def __init__(self, window: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._samples: deque[tuple[float, float]] = deque(maxlen=512)

    def add(self, count: float, now: float | None = None) -> None:
        self._samples.append((self.clock() if now is None else now, count))

    def clear(self) -> None:
        self._samples.clear()

    def rate(self) -> float:
        # A copy taken in one step: iterating the deque itself while the run's thread
        # appends raises "deque mutated during iteration".
        samples = tuple(self._samples)
        if len(samples) < 2:
            return 0.0
        t_new, c_new = samples[-1]
        t_old, c_old = samples[0]
        for t, c in samples:
            if t >= t_new - self.window:
                t_old, c_old = t, c
                break
        dt = t_new - t_old
        return (c_new - c_old) / dt if dt > 0 else 0.0


def _check_rate(rate: float | None) -> float | None:
    if rate is None:
        return None
    rate = float(rate)
    if not rate > 0:
        raise ValueError(f"max steps per second must be positive or None, got {rate!r}")
    return rate


class Session:
    """One run: the config, live changes, pacing, the newest snapshot and the step rate."""

    def __init__(self, experiment: ModuleType | str | None, config: Any = None, *,
                 state: Any = None, max_steps_per_second: float | None = None,
                 paused: bool = False, first_step: int = 0,
                 source: Callable[[], Iterator[Any]] | None = None) -> None:
        """`experiment` (a module or its name) runs on a private copy of `config`, from
        saved `state` if given; snapshots of steps before `first_step` are passed over
        (a lab whose preview already showed them). `source` instead drives any generator
        factory (no settings, no live changes): the app's runner uses it for plain
        generators."""
        if source is None:
            module = (importlib.import_module(experiment) if isinstance(experiment, str)
                      else experiment)
            if state is not None and not is_resumable(module):
                raise SettingError(f"{module.__name__} cannot start from saved weights")
            self.experiment: ModuleType | None = module
            self.config = copy.deepcopy(config if config is not None else module.Config())
            self._live = {info.name for info in settings_of(self.config) if info.live}
        else:
            self.experiment, self.config, self._live = None, None, set()
        self.state = state
        self.first_step = first_step
        self._source = source
        self._generator: Iterator[Any] | None = None
        self._cond = threading.Condition()
        self._changes: list[tuple[str, Any, int | None]] = []
        self._latest: Any = None
        self._count = 0  # snapshots produced
        self._finished = False
        self._stop = False
        self._paused = paused
        self._step_credits = 0
        self._rate = _check_rate(max_steps_per_second)
        self._next_due = float("-inf")
        self.meter = RateMeter()
        # Called by drive() on its thread after a single step taken while paused, with
        # (count, snapshot), so a front end can show it at once.
        self.on_single_step: Callable[[int, Any], None] | None = None
        # Called with (count, snapshot) after every snapshot, on the thread that took it
        # (the child process sends it from there when the app is ready for one).
        self.on_snapshot: Callable[[int, Any], None] | None = None

    # -- requests, from any thread -------------------------------------------------------

    def change(self, name: str, value: Any, at_step: int | None = None) -> Any:
        """Queue a live setting change; it applies before the next step (or before the
        first step after snapshot step `at_step`). Returns the value as it will apply.
        A setting that needs a new network, or a bad value, raises SettingError."""
        if self.config is None:
            raise SettingError("this run has no settings")
        if name not in self._live:
            known = {info.name for info in settings_of(self.config)}
            if name in known:
                raise SettingError(f"{name} needs a new network: it applies on Reset")
            raise SettingError(f"unknown setting {name!r}")
        with self._cond:
            scratch = copy.copy(self.config)
            apply_settings(scratch, {name: value})  # validates; the run's config is untouched
            value = getattr(scratch, name)
            self._changes.append((name, value, at_step))
            self._cond.notify_all()
        return value

    def pause(self) -> None:
        with self._cond:
            self._paused, self._step_credits = True, 0
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused, self._step_credits = False, 0
            self._next_due = float("-inf")
            self._cond.notify_all()

    def step(self) -> None:
        """While paused, let `drive()` take exactly one more snapshot."""
        with self._cond:
            if self._paused:
                self._step_credits += 1
                self._cond.notify_all()

    def set_max_steps_per_second(self, rate: float | None) -> None:
        """Limit the pace in training steps per second; None runs flat out."""
        with self._cond:
            self._rate = _check_rate(rate)
            self._next_due = float("-inf")
            self._cond.notify_all()

    def stop(self) -> None:
        """Ask `drive()` to end after the current step."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def latest(self) -> tuple[int, Any]:
        """(how many snapshots so far, the newest one); (0, None) before the first."""
        with self._cond:
            return self._count, self._latest

    def steps_per_second(self) -> float:
        """Training steps per second over about the last second."""
        return self.meter.rate()

    # -- driving -------------------------------------------------------------------------

    def advance(self) -> Any:
        """Apply due changes, take the next snapshot, keep it and return it; None once
        the experiment has ended. Call from one thread at a time."""
        if self._finished:
            return None
        if self._generator is None:
            self._generator = self._start()
        self._apply_changes()
        try:
            snapshot = next(self._generator)
            while getattr(snapshot, "step", self.first_step) < self.first_step:
                snapshot = next(self._generator)
        except StopIteration:
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            return None
        step = getattr(snapshot, "step", self._count)
        self.meter.add(step)
        with self._cond:
            self._latest = snapshot
            self._count += 1
            count = self._count
            self._cond.notify_all()
        if self.on_snapshot is not None:
            self.on_snapshot(count, snapshot)
        return snapshot

    def __iter__(self) -> Iterator[Any]:
        while (snapshot := self.advance()) is not None:
            yield snapshot

    def drive(self) -> bool:
        """Take snapshots until the run ends (True) or `stop()` is asked (False),
        obeying pause, single steps and the pace. Errors of the experiment propagate."""
        warnings.simplefilter("default")  # a warning once per place, not once per step
        try:
            while True:
                turn = self._wait_for_turn()
                if turn is None:
                    return False
                before = self._latest
                snapshot = self.advance()
                if snapshot is None:
                    return True
                self._schedule(before)
                if turn == "single" and self.on_single_step is not None:
                    self.on_single_step(self._count, snapshot)
        finally:
            self.close()

    def _wait_for_turn(self) -> str | None:
        """"single" for a single step while paused, "next" for the next step of a
        running session, None to stop."""
        with self._cond:
            while True:
                if self._stop:
                    return None
                if self._paused:
                    if self._step_credits > 0:
                        self._step_credits -= 1
                        return "single"
                    self._cond.wait(_MAX_WAIT_S)
                    continue
                now = time.monotonic()
                if now >= self._next_due:
                    return "next"
                self._cond.wait(min(self._next_due - now, _MAX_WAIT_S))

    def _schedule(self, before: Any) -> None:
        """The next snapshot is due when the steps just taken fit the pace."""
        if self._rate is None:
            return
        steps = max(1, getattr(self._latest, "step", 1) - getattr(before, "step", 0)) \
            if before is not None else 1
        now = time.monotonic()
        due = self._next_due + steps / self._rate
        # Keep to the schedule, but after a pause or a slow step start afresh.
        self._next_due = due if now - due < steps / self._rate else now + steps / self._rate

    def close(self) -> None:
        """End the experiment's generator (on the calling thread: its finally-blocks run here)."""
        generator, self._generator = self._generator, None
        if generator is not None and hasattr(generator, "close"):
            generator.close()

    def _start(self) -> Iterator[Any]:
        if self._source is not None:
            return iter(self._source())
        if self.state is not None:
            return self.experiment.run(self.config, state=self.state)
        return self.experiment.run(self.config)

    def _apply_changes(self) -> None:
        with self._cond:
            if not self._changes:
                return
            step = getattr(self._latest, "step", -1)
            due = [c for c in self._changes if c[2] is None or step >= c[2]]
            self._changes = [c for c in self._changes if not (c[2] is None or step >= c[2])]
        for name, value, _ in due:
            setattr(self.config, name, value)


def first_snapshot(experiment: ModuleType | str, config: Any) -> Any:
    """Step 0 of the experiment for `config` (the caller's config is untouched): what a
    lab shows before Run."""
    session = Session(experiment, config)
    try:
        snapshot = session.advance()
    finally:
        session.close()
    if snapshot is None:
        raise ValueError(f"{session.experiment.__name__} produced no snapshot for these settings")
    return snapshot


__all__ = ["RateMeter", "Session", "first_snapshot"]
