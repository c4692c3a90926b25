"""One Session drives an experiment the same way in this process, on a thread and in the
child process; live changes are messages applied between steps; the bytes of a snapshot
crossing to the app stay flat however long the run (only new history rows cross)."""

from __future__ import annotations

import dataclasses
import pickle
import threading

import numpy as np
import pytest

from engine import experiments
from engine.experiments import dropout, training
from engine.experiments.history import History, HistoryDecoder, HistoryEncoder, HistoryView
from engine.experiments.session import Session
from engine.experiments.settings import SettingError
from vizlab.child import ChildSession

# Live changes at fixed steps: a learning rate, the keep probability, the pace.
CHANGES = [("left_lr", 0.2, 10), ("keep_prob", 0.8, 18), ("snapshot_every", 4, 24)]


def small_dropout() -> dropout.Config:
    return dropout.Config(steps=40, snapshot_every=1, example_masks=50)


def assert_same(a, b, where="snapshot"):
    if dataclasses.is_dataclass(a):
        assert type(a) is type(b), where
        for field in dataclasses.fields(a):
            assert_same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def with_changes(session):
    for name, value, at_step in CHANGES:
        session.change(name, value, at_step=at_step)
    return session


def stepped_one_by_one(session, count: int) -> list:
    """Drive `session` on a thread of its own, paused, one single step at a time."""
    got, arrived = [], threading.Semaphore(0)

    def on_step(_count, snapshot):
        got.append(snapshot)
        arrived.release()

    session.on_single_step = on_step
    session.pause()
    ended = []
    thread = threading.Thread(target=lambda: ended.append(session.drive()), daemon=True)
    thread.start()
    try:
        for _ in range(count):
            session.step()
            assert arrived.acquire(timeout=30), f"no snapshot after {len(got)}"
        session.resume()  # run to the end, free
        thread.join(60)
        assert ended == [True]
    finally:
        session.stop()
        thread.join(5)
    return got, session.latest()[1]


def test_in_process_on_a_thread_and_in_the_child_give_identical_snapshots():
    reference = list(with_changes(Session(dropout, small_dropout())))
    steps = [s.step for s in reference]
    assert steps[:12] == list(range(12)) and steps[-1] == 40
    assert steps[-4:] == [28, 32, 36, 40]  # snapshot_every=4 from step 24 on
    by_step = {s.step: s for s in reference}
    # The changes reached the run: the left network's rate and the keep probability.
    assert reference[5].keep_prob == 0.5 and reference[-1].keep_prob == 0.8

    for make in (lambda: Session(dropout, small_dropout()),
                 lambda: ChildSession("engine.experiments.dropout", small_dropout())):
        stepped, last = stepped_one_by_one(with_changes(make()), 20)
        assert [s.step for s in stepped] == steps[:20]
        for snapshot in stepped:
            assert_same(by_step[snapshot.step], snapshot, f"step {snapshot.step}")
        assert last.step == 40
        assert_same(reference[-1], last, "last")


def test_a_change_is_validated_at_once_and_applied_between_steps():
    session = Session(training, training.Config(steps=20, snapshot_every=5))
    caller_config = session.config
    with pytest.raises(SettingError, match="needs a new network"):
        session.change("hidden", (4,))
    with pytest.raises(SettingError):
        session.change("learning_rate", -1.0)
    assert session.change("learning_rate", "0.5") == 0.5
    assert caller_config.learning_rate == training.Config().learning_rate  # queued only
    first = session.advance()
    assert first.step == 0 and session.config.learning_rate == 0.5
    session.close()


def test_the_session_keeps_its_own_config():
    config = training.Config(steps=10, snapshot_every=5)
    session = Session(training, config)
    config.learning_rate = 9.0  # the caller's object is not the run's
    assert session.config.learning_rate != 9.0
    assert [s.step for s in session] == [0, 5, 10]


@dataclasses.dataclass(frozen=True)
class Snap:
    step: int
    rows: dict


def test_history_deltas_round_trip_and_restart():
    history = History({"step": 1, "pair": 2})
    encoder, decoder = HistoryEncoder(), HistoryDecoder()
    for step in range(1, 2500):
        history.append(step=step, pair=[step, -step])
        if step % 7 == 0:
            sent = encoder.encode(Snap(step, history.view()))
            assert len(sent.rows.rows["step"]) <= 7  # only the new rows cross
            got = decoder.decode(pickle.loads(pickle.dumps(sent)))
            assert isinstance(got.rows, HistoryView)
            np.testing.assert_array_equal(got.rows["pair"], history.view()["pair"])
            assert not got.rows["step"].flags.writeable
    restarted = History({"step": 1, "pair": 2})
    restarted.append(step=1, pair=[1, 1])
    got = decoder.decode(encoder.encode(Snap(1, restarted.view())))
    assert got.rows["step"].tolist() == [1.0]


def payload_bytes(encoder: HistoryEncoder, snapshot) -> int:
    """What the child sends for a snapshot (vizlab/child.py encodes it the same way)."""
    return len(pickle.dumps(encoder.encode(snapshot), protocol=pickle.HIGHEST_PROTOCOL))


def test_the_dropout_payload_stays_flat_to_step_2000():
    encoder, sizes = HistoryEncoder(), {}
    for snapshot in Session(dropout, dropout.Config(steps=2000, example_masks=50)):
        size = payload_bytes(encoder, snapshot)
        if snapshot.step in (100, 2000):
            sizes[snapshot.step] = size
    assert sizes[2000] <= 1.5 * sizes[100], sizes


# Every lab, long enough for its histories to grow well past the early snapshot.
LONG_RUNS = {
    "training": dict(steps=600, snapshot_every=5),
    "activations": dict(steps=400, snapshot_every=2, sweep_steps=5),
    "gradients": {},
    "loss": {},
    "dropout": dict(steps=300, example_masks=50),
    "optimizers": dict(rates=2, train_samples=64, test_samples=20, snapshot_every=1),
    "regularization": dict(epochs=6, snapshot_every=2),
    "style": dict(steps=80, snapshot_every=1, size=32, blocks=2, width_scale=0.25),
}


@pytest.mark.parametrize("name", experiments.LAB_NAMES)
def test_every_labs_payload_stays_flat(name):
    module = experiments.get(name)
    fields = {f.name for f in dataclasses.fields(module.Config)}
    config = module.Config(**{k: v for k, v in LONG_RUNS.get(name, {}).items() if k in fields})
    encoder, sizes = HistoryEncoder(), []
    for snapshot in Session(module, config):
        sizes.append(payload_bytes(encoder, snapshot))
    assert len(sizes) >= 2
    early = sizes[min(10, len(sizes) - 2)]
    assert max(sizes[-3:]) <= 1.5 * early, (name, early, sizes[-3:], len(sizes))


def test_the_rate_meter_counts_steps_over_the_last_second():
    from engine.experiments.session import RateMeter

    now = [0.0]
    meter = RateMeter(clock=lambda: now[0])
    assert meter.rate() == 0.0
    for step in range(0, 5001, 100):  # 100 steps every 0.1 s for 5 s
        meter.add(5000 + step)  # a run resumed at step 5000: no spike from 0
        now[0] += 0.1
    assert meter.rate() == pytest.approx(1000.0)


def test_the_rate_meter_is_read_safely_while_a_run_adds_samples():
    """The GUI thread asks for the rate while the run's thread adds samples: no
    "deque mutated during iteration", and every rate is a real rate."""
    from engine.experiments.session import RateMeter

    meter = RateMeter(window=1e-6)  # rate() walks nearly the whole deque to its newest samples
    stop = threading.Event()

    def add() -> None:
        count = 0
        while not stop.is_set():
            count += 1
            meter.add(count)

    adder = threading.Thread(target=add)
    adder.start()
    rates, errors = [], []
    try:
        for _ in range(20_000):
            try:
                rates.append(meter.rate())
            except RuntimeError as error:
                errors.append(str(error))
    finally:
        stop.set()
        adder.join()
    assert errors == []
    assert len(rates) == 20_000 and all(rate >= 0.0 and np.isfinite(rate) for rate in rates)
