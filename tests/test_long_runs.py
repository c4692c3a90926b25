"""Long runs stay smooth: curves of 10^5-10^6 points draw in bounded time, the Training lab
keeps the GUI thread answering at 200k+ steps, and view ranges settle instead of flipping."""

import dataclasses
import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from engine.experiments import training
from vizlab.export import export_plot
from vizlab.widgets import CurvePlot
from vizlab.widgets.plots import MAX_DRAWN_POINTS

HEARTBEAT_MS = 50
MAX_STALL_S = 0.2


def _loss_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=float)
    return x, np.exp(-x / (n / 5)) + 0.1 * rng.random(n) + 0.01


def _x_range(plot: CurvePlot) -> tuple[float, float]:
    return tuple(plot.plot_item.getViewBox().viewRange()[0])


class Heartbeat:
    """A QTimer on the GUI thread that records the longest gap between its ticks."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self.ticks = 0
        self._last = time.monotonic()
        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.max_gap = max(self.max_gap, now - self._last)
        self._last = now
        self.ticks += 1

    def stop(self) -> None:
        self.timer.stop()


def test_curve_of_a_million_points_draws_few_points_in_bounded_time(qtbot, tmp_path):
    plot = CurvePlot("Loss", x_label="step", log_y=True)
    qtbot.addWidget(plot)
    plot.resize(420, 320)
    plot.show()
    qtbot.waitExposed(plot)
    x, y = _loss_like(1_000_000)
    start = time.perf_counter()
    item = plot.set_curve("train", x, y)
    plot.set_curve("test", x, y * 1.5, style="dash")
    qtbot.wait(1)  # let queued updates through
    image = plot.grab()
    elapsed = time.perf_counter() - start
    assert not image.isNull() and image.width() == 420
    assert elapsed < 1.5, f"two curves of 10^6 points took {elapsed:.2f} s to draw"

    drawn_x, drawn_y = item.getData()
    assert len(drawn_x) <= MAX_DRAWN_POINTS
    assert len(drawn_x) > MAX_DRAWN_POINTS // 2  # decimated, not thinned to nothing
    # Min/max decimation keeps the first and last step and the extremes of the loss.
    assert drawn_x[0] == 0 and drawn_x[-1] == 999_999
    assert 10 ** np.nanmin(drawn_y) == pytest.approx(y.min())  # log mode draws log10
    assert 10 ** np.nanmax(drawn_y) == pytest.approx(y.max())

    # Appending to the history redoes only the new points: cheap per frame.
    start = time.perf_counter()
    for extra in range(1, 21):
        plot.set_curve("train", x[: 990_000 + 500 * extra], y[: 990_000 + 500 * extra],
                       extends=True)
    per_frame = (time.perf_counter() - start) / 20
    assert per_frame < 0.05, f"appending took {per_frame * 1000:.0f} ms a frame"
    assert len(item.getData()[0]) <= MAX_DRAWN_POINTS

    # The exact values, every one of them, are what gets exported.
    exact = plot.export_data()
    np.testing.assert_array_equal(exact["train_y"], y)
    np.testing.assert_array_equal(exact["test_y"], y * 1.5)


def test_appended_curve_matches_a_fresh_decimation_and_survives_a_rewind(qtbot):
    plot = CurvePlot("Accuracy")
    qtbot.addWidget(plot)
    x, y = _loss_like(300_000, seed=1)
    y[100_000:100_050] = np.nan  # a stretch of missing values must not break decimation
    item = plot.set_curve("acc", x[:150_000], y[:150_000], extends=True)
    for n in (150_001, 151_000, 200_000, 299_999, 300_000):
        plot.set_curve("acc", x[:n], y[:n], extends=True)
    incremental = [a.copy() for a in item.getData()]
    fresh = CurvePlot("Accuracy")
    qtbot.addWidget(fresh)
    reference = fresh.set_curve("acc", x, y).getData()
    for got, want in zip(incremental, reference, strict=True):
        np.testing.assert_array_equal(got, want)
    # Scrubbing back in time hands a shorter history: drawn from it, not from the cache.
    plot.set_curve("acc", x[:50_000], y[:50_000], extends=True)
    drawn_x, drawn_y = item.getData()
    assert drawn_x[-1] == 49_999
    assert np.nanmax(drawn_y) == np.nanmax(y[:50_000])
    # Different values of the same length (a Reset) are noticed too.
    plot.set_curve("acc", x[:50_000], 2 * y[:50_000], extends=True)
    assert np.nanmax(item.getData()[1]) == np.nanmax(2 * y[:50_000])


def test_zooming_into_a_long_curve_shows_every_point_in_view(qtbot):
    plot = CurvePlot("Loss", x_label="step")
    qtbot.addWidget(plot)
    plot.resize(420, 320)
    plot.show()
    qtbot.waitExposed(plot)
    x, y = _loss_like(1_000_000, seed=4)
    item = plot.set_curve("train", x, y, extends=True)
    assert len(item.getData()[0]) <= MAX_DRAWN_POINTS
    view = plot.plot_item.getViewBox()
    view.setXRange(500_000, 501_000, padding=0)  # as a mouse zoom does: auto-range off
    drawn_x, drawn_y = item.getData()
    np.testing.assert_array_equal(drawn_x, x[499_999:501_002])  # one beyond each edge
    np.testing.assert_array_equal(drawn_y, y[499_999:501_002])
    # New data while zoomed: still the window, and the range the user chose stays put.
    plot.set_curve("train", x, y * 2, extends=True)
    np.testing.assert_array_equal(item.getData()[1], 2 * y[499_999:501_002])
    assert view.viewRange()[0] == pytest.approx([500_000, 501_000])
    # A wide zoom is decimated over the window only.
    view.setXRange(100_000, 900_000, padding=0)
    drawn_x, _ = item.getData()
    assert len(drawn_x) <= MAX_DRAWN_POINTS
    assert drawn_x[0] == 99_999 and drawn_x[-1] == 900_001
    # Zoomed out past the data: the whole curve, decimated.
    view.setXRange(-1000, 2_000_000, padding=0)
    drawn_x, _ = item.getData()
    assert len(drawn_x) <= MAX_DRAWN_POINTS and drawn_x[0] == 0 and drawn_x[-1] == 999_999
    # Back to auto-range: the whole curve, decimated, and a range that settles.
    view.enableAutoRange(x=True)
    qtbot.waitUntil(lambda: item.getData()[0][-1] == 999_999, timeout=2000)
    plot.grab()
    settled = _x_range(plot)
    for _ in range(5):
        qtbot.wait(1)
        plot.grab()
    assert _x_range(plot) == settled and settled[0] <= 0 and settled[1] >= 999_999
    assert len(item.getData()[0]) <= MAX_DRAWN_POINTS


def test_a_growing_x_range_moves_to_round_numbers_and_gives_way_to_a_zoom(qtbot):
    plot = CurvePlot("Loss", x_label="step", grow_x=True)
    qtbot.addWidget(plot)
    plot.resize(420, 320)
    plot.show()
    view = plot.plot_item.getViewBox()
    changes = []
    view.sigXRangeChanged.connect(lambda _vb, r: changes.append(tuple(r)))
    x, y = _loss_like(200_000, seed=6)
    plot.set_curve("train", x[:1000], y[:1000], extends=True)
    assert _x_range(plot) == pytest.approx((-20, 1000))  # 2% room left of the first point
    plot.set_curve("train", x[:1100], y[:1100], extends=True)
    assert _x_range(plot) == pytest.approx((-24, 1200))  # past 1000: the next round end
    changes.clear()
    for n in range(1101, 1201, 10):  # up to 1200 the range stays: the axes are not redrawn
        plot.set_curve("train", x[:n], y[:n], extends=True)
    assert changes == []
    for n in range(2000, 200_001, 1000):
        plot.set_curve("train", x[:n], y[:n], extends=True)
    assert _x_range(plot) == pytest.approx((-4000, 200_000))
    # 1.2k to 200k in round steps of at most 25%: few range changes for 200 updates.
    assert len(changes) <= 25
    assert not view.autoRangeEnabled()[0]

    # A zoom stops the following; new data leaves the chosen range alone.
    view.setXRange(50_000, 51_000, padding=0)
    item = plot.set_curve("train", x, y * 2, extends=True)
    assert _x_range(plot) == pytest.approx((50_000, 51_000))
    np.testing.assert_array_equal(item.getData()[0], x[49_999:51_002])
    # The auto-range button follows the data again.
    view.enableAutoRange(x=True)
    qtbot.waitUntil(lambda: not view.autoRangeEnabled()[0], timeout=2000)  # at the paint
    assert _x_range(plot) == pytest.approx((-4000, 200_000))
    plot.set_curve("train", x[:100_000], y[:100_000], extends=True)  # a scrub back
    assert _x_range(plot) == pytest.approx((-2000, 100_000))
    assert len(item.getData()[0]) <= MAX_DRAWN_POINTS


def test_csv_export_of_a_decimated_curve_writes_every_point(qtbot, tmp_path):
    plot = CurvePlot("Loss", log_y=True)
    qtbot.addWidget(plot)
    plot.resize(420, 320)
    plot.show()
    x, y = _loss_like(20_000, seed=2)
    y[7] = 0.0  # a zero cannot be drawn on a log axis, but it is data and is exported
    item = plot.set_curve("train", x, y)
    assert len(item.getData()[0]) <= MAX_DRAWN_POINTS
    path = export_plot(plot.plot_item, tmp_path / "loss.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "train_x,train_y"
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    assert data.shape == (20_000, 2)
    np.testing.assert_array_equal(data[:, 0], x)
    # Every point, at the CSV's precision (ten digits after the point).
    np.testing.assert_allclose(data[:, 1], y, rtol=0, atol=5.1e-11)
    assert data[7, 1] == 0.0


def test_drawn_points_do_not_depend_on_the_view_under_auto_range(qtbot):
    # pyqtgraph's auto-downsampling chose its factor from the view range and the plot's
    # width, while auto-range set the view range from the downsampled points: a loop that
    # could flip the range between two values forever. What is drawn must not depend on
    # the view, or the loop can close again.
    plot = CurvePlot("Loss", x_label="step", log_y=True)
    qtbot.addWidget(plot)
    plot.resize(420, 260)
    plot.show()
    qtbot.waitExposed(plot)
    x, y = _loss_like(150_000, seed=5)
    item = plot.set_curve("train", 20 * x, y)
    plot.grab()
    narrow = [a.copy() for a in item.getData()]
    plot.resize(1100, 500)
    qtbot.waitUntil(lambda: plot.plot_item.getViewBox().width() > 900, timeout=2000)
    plot.grab()
    for before, after in zip(narrow, item.getData(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert narrow[0][0] == 0 and narrow[0][-1] == 20 * 149_999


@pytest.mark.parametrize("n", [3451, 3452, 5000, 93_000])
def test_view_range_settles_where_pyqtgraph_downsampling_flipped_it(qtbot, n):
    # At 3451 points 20 steps apart in a 420 px plot, pyqtgraph's auto-downsampling and
    # auto-range chased each other: the x range flipped between two values forever.
    plot = CurvePlot("Loss", x_label="step")
    qtbot.addWidget(plot)
    plot.resize(420, 260)
    plot.show()
    qtbot.waitExposed(plot)
    steps = np.arange(n, dtype=float) * 20
    _, y = _loss_like(n)
    plot.set_curve("train", steps, y)
    changes = []
    plot.plot_item.getViewBox().sigXRangeChanged.connect(lambda _vb, r: changes.append(r))
    qtbot.waitUntil(lambda: _x_range(plot)[1] >= steps[-1], timeout=2000)
    changes.clear()
    settled = _x_range(plot)
    for _ in range(20):
        qtbot.wait(1)
        plot.grab()
    assert changes == []
    assert _x_range(plot) == settled
    low, high = settled
    assert low <= 0 and high >= steps[-1]
    assert high - low < 1.2 * steps[-1]  # padding only, no runaway


def _long_snapshots(first: training.Snapshot, start: int, stop: int, every: int):
    """Snapshots of a run from step ``start`` to ``stop``: the real first snapshot (weights,
    boundary, histograms) with synthetic loss, accuracy and dead-ReLU histories of one row
    per step, as views of growing buffers, the way the experiment's History shares them."""
    rng = np.random.default_rng(3)
    steps = np.arange(stop + 1, dtype=float)
    decay = np.exp(-steps / 40_000)
    train_loss = 1.1 * decay + 0.05 + 0.03 * rng.random(stop + 1)
    columns = {
        "step": steps,
        "train_loss": train_loss,
        "test_loss": train_loss * 1.2,
        "train_acc": 1 - 0.6 * decay - 0.02 * rng.random(stop + 1),
        "test_acc": 1 - 0.65 * decay - 0.03 * rng.random(stop + 1),
        "dead": np.stack([0.1 + 0.2 * (1 - decay), 0.05 + 0.1 * (1 - decay)], axis=1),
    }
    for column in columns.values():
        column.flags.writeable = False
    for step in range(start, stop + 1, every):
        curves = {name: column[: step + 1] for name, column in columns.items()}
        yield dataclasses.replace(first, step=step, curves=curves,
                                  dead_fractions=tuple(curves["dead"][-1]))


def test_training_lab_past_200k_steps_keeps_the_gui_thread_answering(shown_lab, qtbot):
    view = shown_lab("training")
    qtbot.waitExposed(view)
    config = dataclasses.replace(view.config, hidden=(16, 16), steps=400_000)
    first = next(training.run(config))
    assert len(first.dead_layers) == 2
    snapshots = _long_snapshots(first, start=200_000, stop=320_000, every=2_000)
    # The run so far: built views, then 200k steps of history (drawn in one go here, which
    # a real run never does, so it is left out of the measurement).
    view.show_snapshot(first)
    view.show_snapshot(next(snapshots))
    qtbot.wait(1)
    drawn: list[int] = []

    def feed() -> None:
        # What the Runner's snapshot signal does, one queued snapshot at a time.
        snapshot = next(snapshots, None)
        if snapshot is None:
            feeder.stop()
            return
        view.show_snapshot(snapshot)
        drawn.append(snapshot.step)

    plots = (view.loss_plot, view.acc_plot, view.dead_plot)
    range_changes = []
    for plot in plots:
        plot.plot_item.getViewBox().sigXRangeChanged.connect(
            lambda _vb, r: range_changes.append(r))
    heartbeat = Heartbeat()
    feeder = QTimer()
    feeder.setInterval(20)
    feeder.timeout.connect(feed)
    feeder.start()
    try:
        qtbot.waitUntil(lambda: not feeder.isActive(), timeout=30_000)
        qtbot.wait(3 * HEARTBEAT_MS)  # paints of the last frame fall in the measurement
    finally:
        feeder.stop()
        heartbeat.stop()
    assert drawn[0] == 202_000 and drawn[-1] == 320_000 and len(drawn) == 60
    assert view.frames_drawn >= 62
    assert heartbeat.ticks > 10
    assert heartbeat.max_gap < MAX_STALL_S, (
        f"the GUI thread stalled {heartbeat.max_gap * 1000:.0f} ms at 200k+ steps")

    # 202k to 320k steps: each x range moves to a round end 3 times (250k, 300k, 400k),
    # not with every one of the 60 frames, so the axes are rarely redrawn.
    assert len(range_changes) == 3 * 3
    for plot in plots:
        for name in plot.curve_names():
            # Drawn: a bounded number of points; kept: every step, exactly.
            assert len(plot.plot_item.listDataItems()[0].getData()[0]) <= MAX_DRAWN_POINTS
            steps, _ = plot.curve_data(name)
            assert steps.shape == (320_001,) and steps[-1] == 320_000
    # Once the data stops changing, the view ranges stop changing too.
    changes = []
    for plot in plots:
        plot.plot_item.getViewBox().sigXRangeChanged.connect(
            lambda _vb, r: changes.append(r))
    ranges = [_x_range(plot) for plot in plots]
    for _ in range(10):
        qtbot.wait(1)
        view.grab()
        assert [_x_range(plot) for plot in plots] == ranges
    assert changes == []
    for low, high in ranges:
        assert low <= 0 and high == 400_000
