"""The experiment runner: pace, pause/step/stop, coalescing to ~30 Hz, errors, threads."""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass

import pytest

from vizlab.runner import Runner


@dataclass(frozen=True)
class Snap:
    step: int
    tag: str = ""


def counting(delay: float = 0.0, fail_at: int | None = None, tag: str = "", limit=None,
             begun: list | None = None):
    """A factory for an experiment-like generator yielding Snap(1), Snap(2), ...;
    `begun` gets the number of each step as it begins."""

    def factory():
        i = 0
        while limit is None or i < limit:
            i += 1
            if begun is not None:
                begun.append(i)
            if fail_at is not None and i == fail_at:
                raise ValueError("boom")
            if delay:
                time.sleep(delay)
            yield Snap(i, tag)

    return factory


def runner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vizlab-runner")]


@pytest.fixture
def runner(qtbot):
    r = Runner()
    yield r
    assert r.shutdown()


@pytest.fixture
def received(runner):
    got: list[Snap] = []
    runner.snapshot.connect(got.append)
    return got


def test_snapshots_arrive_with_increasing_steps(qtbot, runner, received):
    states: list[str] = []
    runner.state_changed.connect(states.append)
    runner.start(counting(delay=0.001))
    assert runner.is_running and not runner.is_paused
    qtbot.waitUntil(lambda: len(received) >= 5, timeout=2000)
    steps = [s.step for s in received]
    assert all(b > a for a, b in zip(steps, steps[1:], strict=False))
    assert runner.latest().step >= steps[-1]
    assert runner.step_count() >= steps[-1]
    assert states == ["running"]


def test_gui_gets_only_the_newest_snapshot_about_30_times_a_second(qtbot, runner, received):
    runner.start(counting())
    qtbot.waitUntil(lambda: len(received) >= 2, timeout=5000)
    t0, n0, steps0 = time.monotonic(), len(received), runner.step_count()
    qtbot.waitUntil(lambda: runner.step_count() > steps0 + 20_000, timeout=20_000)
    qtbot.waitUntil(lambda: len(received) > n0 + 3, timeout=5000)
    elapsed = time.monotonic() - t0
    signals, steps = len(received) - n0, runner.step_count() - steps0
    # However loaded the machine, no more than one signal per 33 ms timer tick (and one
    # for a tick late), and the GUI saw only a small share of the steps.
    assert signals <= elapsed / 0.033 + 2, (signals, elapsed)
    assert steps >= 20 * signals, (steps, signals)


def _quiet(runner, begun) -> bool:
    """Paused with no step in flight: the last step begun has landed."""
    return runner.is_paused and runner.step_count() == len(begun)


def test_pause_step_resume(qtbot, runner, received):
    begun: list[int] = []
    runner.start(counting(delay=0.001, begun=begun))
    qtbot.waitUntil(lambda: runner.step_count() > 10, timeout=2000)
    runner.pause()
    assert runner.is_paused and runner.state == "paused"
    qtbot.waitUntil(lambda: _quiet(runner, begun), timeout=2000)  # a step in flight lands
    before = runner.latest().step
    assert runner.step_count() == before == len(begun)

    # The frame timer may still hand over the last snapshot from before the pause:
    # wait for the stepped one.
    with qtbot.waitSignal(runner.snapshot, timeout=1000,
                          check_params_cb=lambda snap: snap.step > before) as blocker:
        runner.step()
    assert blocker.args[0].step == before + 1
    assert len(begun) == before + 1  # exactly one, then paused again
    assert runner.is_paused

    runner.step()
    runner.step()
    qtbot.waitUntil(lambda: runner.latest().step == before + 3, timeout=1000)
    assert len(begun) == before + 3

    runner.resume()
    assert runner.is_running
    qtbot.waitUntil(lambda: runner.latest().step > before + 20, timeout=2000)


def test_step_snapshot_is_emitted_at_once_not_by_the_timer(qtbot, received):
    runner = Runner(frame_interval_ms=5000)  # the timer would take 5 s
    try:
        begun: list[int] = []
        runner.start(counting(begun=begun), paused=True)
        assert runner.step_count() == 0 and begun == []  # started paused: nothing pulled
        t0 = time.monotonic()
        with qtbot.waitSignal(runner.snapshot, timeout=1000) as blocker:
            runner.step()
        assert time.monotonic() - t0 < 0.5
        assert blocker.args[0].step == 1
    finally:
        assert runner.shutdown()


def test_stop_returns_quickly_with_slow_steps_and_joins_the_thread(qtbot, runner):
    begun: list[int] = []
    runner.start(counting(delay=0.3, begun=begun))
    qtbot.waitUntil(lambda: len(begun) >= 2, timeout=5000)  # in its second 0.3 s step
    assert len(runner_threads()) == 1
    t0 = time.monotonic()
    assert runner.stop() is True
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, elapsed
    assert runner_threads() == []
    assert runner.state == "idle" and not runner.is_running


def test_stop_while_paused_is_immediate(qtbot, runner):
    begun: list[int] = []
    runner.start(counting(delay=0.001, begun=begun))
    qtbot.waitUntil(lambda: runner.step_count() > 3, timeout=2000)
    runner.pause()
    qtbot.waitUntil(lambda: _quiet(runner, begun), timeout=2000)
    t0 = time.monotonic()
    assert runner.stop()
    assert time.monotonic() - t0 < 0.2
    assert runner_threads() == []


def test_stop_closes_the_generator_on_its_thread(qtbot, runner):
    closed_on: list[str] = []

    def factory():
        try:
            while True:
                time.sleep(0.001)
                yield Snap(0)
        finally:
            closed_on.append(threading.current_thread().name)

    runner.start(factory)
    qtbot.waitUntil(lambda: runner.step_count() > 0, timeout=2000)
    runner.stop()
    assert len(closed_on) == 1 and closed_on[0].startswith("vizlab-runner")


def test_error_becomes_a_signal_and_the_runner_can_start_again(qtbot, runner, received):
    with qtbot.waitSignal(runner.error, timeout=2000) as blocker:
        runner.start(counting(fail_at=5))
    message, text = blocker.args
    assert "boom" in message and "ValueError" in message
    assert "Traceback" in text and 'raise ValueError("boom")' in text
    assert runner.state == "error"
    assert [s.step for s in received][-1] == 4  # the last good snapshot was shown
    assert runner_threads() == []

    runner.start(counting(delay=0.001, tag="again"))
    assert runner.state == "running"
    qtbot.waitUntil(lambda: runner.step_count() > 5, timeout=2000)
    qtbot.waitUntil(lambda: received[-1].tag == "again", timeout=1000)


def test_error_in_the_factory_itself_is_reported(qtbot, runner):
    def factory():
        raise RuntimeError("no data")

    with qtbot.waitSignal(runner.error, timeout=2000) as blocker:
        runner.start(factory)
    assert "no data" in blocker.args[0]
    assert runner.state == "error"


def test_finished_delivers_the_last_snapshot(qtbot, runner, received):
    states: list[str] = []
    runner.state_changed.connect(states.append)
    with qtbot.waitSignal(runner.finished, timeout=2000):
        runner.start(counting(limit=10))
    assert received[-1].step == 10
    assert runner.latest().step == 10
    assert states == ["running", "finished"]
    assert runner_threads() == []


def test_throttle_limits_steps_per_second(qtbot, runner):
    runner.set_max_steps_per_second(20)
    assert runner.max_steps_per_second() == 20
    t0 = time.monotonic()
    runner.start(counting())
    qtbot.waitUntil(lambda: runner.step_count() >= 15, timeout=10_000)
    n, elapsed = runner.step_count(), time.monotonic() - t0
    assert elapsed >= (n - 1) / 20 * 0.9, (n, elapsed)  # never faster than the pace
    # Lifting the limit takes effect at once, even mid-wait.
    runner.set_max_steps_per_second(None)
    qtbot.waitUntil(lambda: runner.step_count() > n + 1000, timeout=5000)


def test_invalid_speed_is_rejected(runner):
    with pytest.raises(ValueError):
        runner.set_max_steps_per_second(0)
    with pytest.raises(ValueError):
        runner.set_max_steps_per_second(-3)


def test_start_while_running_replaces_the_run(qtbot, runner, received):
    runner.start(counting(delay=0.001, tag="a"))
    qtbot.waitUntil(lambda: len(received) > 2, timeout=2000)
    runner.start(counting(delay=0.001, tag="b"))
    n_before = len(received)
    qtbot.waitUntil(lambda: len(received) > n_before + 3, timeout=2000)
    assert {s.tag for s in received[n_before:]} == {"b"}
    assert len(runner_threads()) == 1


def test_controls_without_a_run_do_nothing(runner):
    runner.pause()
    runner.resume()
    runner.step()
    assert runner.stop()
    assert runner.state == "idle"
    assert runner.latest() is None
    assert runner.training_steps_per_second() == 0.0


def test_a_warning_every_step_is_logged_once(qtbot, runner, caplog):
    def factory():
        for i in range(200):
            warnings.warn("overflow-ish", RuntimeWarning, stacklevel=1)
            yield Snap(i)

    with caplog.at_level(logging.WARNING, logger="vizlab.runner"):
        with qtbot.waitSignal(runner.finished, timeout=2000):
            runner.start(factory)

        def hits():
            return [r for r in caplog.records if "overflow-ish" in r.getMessage()]

        qtbot.waitUntil(lambda: len(hits()) >= 1, timeout=2000)  # a queued signal
    assert len(hits()) == 1


def test_a_preview_finishing_after_its_lab_was_deleted_is_dropped_quietly(qtbot, monkeypatch):
    """Closing a lab while its preview computes: the result has nowhere to go, and the
    preview thread must end without an exception (it used to print a traceback)."""
    import shiboken6

    from vizlab.runner import Previewer

    thread_errors: list[str] = []
    monkeypatch.setattr(threading, "excepthook",
                        lambda args: thread_errors.append(repr(args.exc_value)))
    started, release = threading.Event(), threading.Event()

    def job(cancelled):
        started.set()
        release.wait(5)
        return "late result"

    previewer = Previewer(name="deleted")
    previewer.request(job)
    assert started.wait(5)
    worker = previewer._threads[0]
    shiboken6.delete(previewer)
    release.set()
    worker.join(5)
    assert not worker.is_alive()
    assert thread_errors == []
