"""The Optimizer lab: loss and accuracy against the learning rate for Adam, Adadelta,
Adagrad and SGD, with and without dropout, and the loss over steps of each one's best rate."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.experiments import SettingError, sweep
from engine.experiments import optimizers as experiment
from vizlab.labs.base import LabView
from vizlab.runner import Runner
from vizlab.widgets import CurvePlot, theme
from vizlab.widgets.text import WrappedLabel, note_label

HELP = """
<p><b>Optimizer lab.</b> The same small classifier (47 classes of 28x28 glyphs, or
EMNIST balanced if you point it at the IDX files) is trained for one epoch with batch 8
by four optimizers -- <b>Adam</b>, <b>Adadelta</b>, <b>Adagrad</b> and plain gradient
descent (<b>SGD</b>) -- each at every learning rate of a sweep log-spaced from lr_min to
lr_max (1e-6 to 1e-1 as in the original experiment; up to 10), once without dropout (solid lines) and once with dropout before the last layer
(dashed). All runs of one optimizer start from the same weights and see the same
batches: only the learning rate differs.</p>
<p><b>Loss / accuracy vs learning rate</b>: the lines are the running mean of the
training loss and batch accuracy over the last <i>window</i> steps, all through the run;
when training ends, dots add the loss and accuracy on held-out test images (without
dropout): filled without dropout, open with it. A cross marks a run whose loss
became infinite or NaN: its optimizer froze it (diverged). The dashed grey lines are
chance: loss ln 47 and accuracy 1/47.</p>
<p><b>Training loss over steps</b>: the rate with the best running training accuracy
of each optimizer. Things to
see: every optimizer has its own good range (Adam's lies around 1e-3 to 1e-2, SGD's near the
top of the sweep, Adadelta -- made for lr 1 -- barely moves below 1e-2); too small a rate
does not learn in one epoch, too large a one jumps about or diverges; dropout costs
accuracy in so short a training.</p>
<p>Settings apply on <b>Reset</b>. model = conv is the original experiment's network exactly, but
it is slow: use few rates and samples.</p>
<p><b>Sweep</b> (below the plots; the arrow opens its controls): the original experiment's
full sweep (1,000 rates, conv net, all of
EMNIST) is far too big for one population. It runs in chunks of rates, each trained to
the end and tested, on a Dask cluster (its scheduler's address), on worker processes of
this machine (workers -1: one per core), or in this process (workers 0); the chunk size
follows the memory budget. The plots fill in as chunks finish (grey dots: rates still
pending); every finished chunk is saved at once in the results file, and starting the
same sweep again resumes it. Before it starts, the sweep's time is estimated from a few
timed steps; a sweep of over an hour waits for a second press of Start.</p>
"""
# A sweep estimated to take longer than this needs Start pressed twice.
CONFIRM_SECONDS = 3600.0

# Colour-blind-safe series colours (the theme's palette); yellow, the palette's fourth,
# is too faint for a thin line on white.
COLORS = {name: theme.palette_color(i)
          for name, i in zip(experiment.OPTIMIZERS, (0, 1, 2, 5), strict=True)}
SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
CHANCE_LOSS = float(np.log(experiment.CLASSES))
LOSS_CAP = 1.5  # the loss axis ends at this many times chance


def curve_name(optimizer: str, dropout: bool) -> str:
    return f"{optimizer} + dropout" if dropout else optimizer


def best_member(accuracy: np.ndarray, loss: np.ndarray) -> int | None:
    """Index of the highest accuracy (ties: the lower loss); None if all are NaN."""
    ok = np.isfinite(accuracy) & np.isfinite(loss)
    if not ok.any():
        return None
    acc = np.where(ok, accuracy, -np.inf)
    los = np.where(ok, loss, np.inf)
    return int(np.lexsort((los, -acc))[0])


def shown_values(snap: experiment.Snapshot) -> tuple[np.ndarray, np.ndarray, bool]:
    """(loss, accuracy, on_test) for the note and the best rates: the test set's numbers
    once there, else the running training means."""
    if snap.test_loss is not None:
        return snap.test_loss, snap.test_accuracy, True
    return snap.loss, snap.accuracy, False


def decade_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Ticks of a log10 rate axis: every power of ten from `low` to `high` (rates), all
    written alike, 10⁻⁶ ... 10⁰ ... 10¹; every second one when there are more than 6."""
    first, last = int(np.ceil(np.log10(low) - 1e-9)), int(np.floor(np.log10(high) + 1e-9))
    powers = list(range(first, last + 1))
    if len(powers) > 6:
        powers = powers[::2]
    return [(float(k), "10" + str(k).translate(SUPERSCRIPT)) for k in powers]


def loss_top(loss: np.ndarray) -> float:
    """Top of the loss axis: the largest finite loss, but no higher than 1.5 times
    chance (one member blown up to a loss of 100 would flatten every other curve), and
    a little above chance at least."""
    finite = loss[np.isfinite(loss)]
    largest = float(finite.max()) if finite.size else CHANCE_LOSS
    return min(max(largest, CHANCE_LOSS), LOSS_CAP * CHANCE_LOSS) * 1.05


def rate_text(rate: float) -> str:
    """A learning rate in the note, e.g. 4.6e-3."""
    mantissa, exponent = f"{rate:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


class View(LabView):
    lab_name = "optimizers"
    help_html = HELP

    def build_views(self) -> Generator[None, None, QWidget]:  # a plot per turn in the app
        # What the slots and shutdown use exists before the first yield.
        self.sweep_runner = Runner(self)
        self.sweep_results: sweep.SweepResults | None = None
        self._confirmed: str | None = None  # the sweep whose long estimate was shown
        self._gate_pending = False  # a started sweep's estimate not seen yet
        self.sweep_curve_points = sweep.SweepConfig.curve_points  # a loaded file's
        self._sweep_path: Path | None = None
        yield
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        # One key for all three plots (a legend of 8 entries would cover the curves).
        self.key = note_label()
        self._show_key(sweep_results=False)
        # Titles and labels say what is drawn and stay so for the whole run: the lines are
        # training numbers throughout, the test set's come as dots at the end.
        self.loss_plot = CurvePlot("Loss vs learning rate", x_label="learning rate",
                                   y_label="cross-entropy loss", legend=False)
        yield
        self.acc_plot = CurvePlot("Accuracy vs learning rate", x_label="learning rate",
                                  y_label="accuracy", legend=False)
        yield
        # A history growing to the right: round x ranges, from step 0 (not -0.4 to 0.4 on
        # the first snapshot).
        self.steps_plot = CurvePlot("Training loss over steps, best rate of each optimizer",
                                    x_label="step", y_label="training loss", legend=False,
                                    grow_x=True)
        for plot in (self.loss_plot, self.acc_plot):
            plot.plot_item.setLogMode(x=True, y=False)
        self.loss_plot.add_marker(y=CHANCE_LOSS, label="chance")
        self.acc_plot.add_marker(y=1 / experiment.CLASSES, label="chance")
        self.steps_plot.add_marker(y=CHANCE_LOSS, label="chance")
        yield
        # Diverged members: crosses (PlotDataItems follow the plot's log x).
        cross = dict(pen=None, symbol="x", symbolSize=11, symbolPen=pg.mkPen("k", width=1.5),
                     symbolBrush=None)
        self.loss_crosses = self.loss_plot.plot_item.plot([], [], **cross)
        self.acc_crosses = self.acc_plot.plot_item.plot([], [], **cross)
        # The test set's loss and accuracy at the end of a run: filled dots without
        # dropout, open ones with it, in the optimizer's colour.
        self.test_dots: dict[str, dict[str, pg.PlotDataItem]] = {"loss": {}, "accuracy": {}}
        for name in experiment.OPTIMIZERS:
            for drop in experiment.DROPOUT:
                fill = "w" if drop else COLORS[name]
                for what, plot in (("loss", self.loss_plot), ("accuracy", self.acc_plot)):
                    self.test_dots[what][curve_name(name, drop)] = plot.plot_item.plot(
                        [], [], pen=None, symbol="o", symbolSize=7, symbolBrush=fill,
                        symbolPen=pg.mkPen(COLORS[name], width=1.5))
        self.note = note_label()
        yield
        grid.addWidget(self.key, 0, 0, 1, 2)
        grid.addWidget(self.loss_plot, 1, 0)
        grid.addWidget(self.acc_plot, 1, 1)
        grid.addWidget(self.steps_plot, 2, 0, 1, 2)
        grid.addWidget(self.note, 3, 0, 1, 2)
        grid.addWidget(self._build_sweep_box(), 4, 0, 1, 2)
        grid.setRowStretch(1, 3)
        grid.setRowStretch(2, 2)
        grid.setRowStretch(4, 0)
        self.pending_dots = [plot.plot_item.plot([], [], pen=None, symbol="o", symbolSize=5,
                                                 symbolPen=None, symbolBrush="#aaaaaa")
                             for plot in (self.loss_plot, self.acc_plot)]
        self._fit_to_theme()
        theme.on_theme_changed(self._fit_to_theme)
        self.sweep_runner.snapshot.connect(self.show_sweep)
        self.sweep_runner.error.connect(self._on_sweep_error)
        self.sweep_runner.state_changed.connect(self._on_sweep_state)
        return page

    def _fit_to_theme(self) -> None:
        """The key and the note in the theme's type (large in presentation mode)."""
        for label in (self.key, self.note):
            label.setFont(theme.font(theme.tick_pt()))

    # -- the sweep ---------------------------------------------------------------------------
    def _build_sweep_box(self) -> QWidget:
        """One line (opener, progress, status) over the sweep's controls, which stay
        closed until wanted: open, they would take a third of the height at 1024x640."""
        outer = QWidget()
        outer_layout = QVBoxLayout(outer)
        outer_layout.setContentsMargins(0, 0, 0, 0)
        outer_layout.setSpacing(2)
        head = QHBoxLayout()
        self.sweep_opener = QToolButton()
        self.sweep_opener.setText("Sweep: every rate, in chunks, on Dask or here")
        self.sweep_opener.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.sweep_opener.setArrowType(Qt.ArrowType.RightArrow)
        self.sweep_opener.setCheckable(True)
        self.sweep_opener.setAutoRaise(True)
        self.sweep_opener.toggled.connect(self.open_sweep_box)
        head.addWidget(self.sweep_opener)
        self.sweep_progress = QProgressBar()
        self.sweep_progress.setRange(0, 1)
        self.sweep_progress.setValue(0)
        self.sweep_progress.setMaximumWidth(160)
        self.sweep_status = WrappedLabel("No sweep yet.")
        self.sweep_status.setOpenExternalLinks(True)
        head.addWidget(self.sweep_progress)
        head.addWidget(self.sweep_status, 1)
        outer_layout.addLayout(head)
        box = QGroupBox()
        self.sweep_box = box
        box.setVisible(False)
        outer_layout.addWidget(box)
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.sweep_rates = QSpinBox()
        self.sweep_rates.setRange(2, 100_000)
        self.sweep_rates.setValue(1000)
        self.sweep_rates.setToolTip("learning rates of the sweep (the seed: 1000)")
        self.sweep_memory = QSpinBox()
        self.sweep_memory.setRange(64, 1_000_000)
        self.sweep_memory.setValue(sweep.SweepConfig.memory_mb)
        self.sweep_memory.setSuffix(" MB")
        self.sweep_memory.setToolTip("memory budget of one chunk (one worker): sets how many "
                                     "rates train together")
        self.sweep_workers = QSpinBox()
        self.sweep_workers.setRange(-1, 4096)
        self.sweep_workers.setValue(-1)
        self.sweep_workers.setSpecialValueText("one per core")
        self.sweep_workers.setToolTip("worker processes on this machine (0: in this process, "
                                      "without Dask); ignored with a scheduler")
        self.sweep_scheduler = QLineEdit()
        self.sweep_scheduler.setPlaceholderText("tcp://host:8786 (empty: this machine)")
        self.sweep_scheduler.setToolTip("a running Dask scheduler to send the chunks to")
        for label, widget in (("rates", self.sweep_rates), ("memory", self.sweep_memory),
                              ("workers", self.sweep_workers),
                              ("scheduler", self.sweep_scheduler)):
            row.addWidget(QLabel(label))
            row.addWidget(widget, 2 if widget is self.sweep_scheduler else 0)
        layout.addLayout(row)
        row = QHBoxLayout()
        self.sweep_file = QLineEdit()
        self.sweep_file.setPlaceholderText("results file (empty: one per sweep in vizlab's "
                                           "data folder)")
        self.sweep_start = QPushButton("Start sweep")
        self.sweep_start.clicked.connect(self.start_sweep)
        self.sweep_cancel = QPushButton("Cancel")
        self.sweep_cancel.setEnabled(False)
        self.sweep_cancel.clicked.connect(self.cancel_sweep)
        load = QPushButton("Load results…")
        load.clicked.connect(self._choose_results)
        self.sweep_export = QPushButton("Export CSV…")
        self.sweep_export.setEnabled(False)
        self.sweep_export.clicked.connect(self._choose_csv)
        row.addWidget(self.sweep_file, 1)
        for button in (self.sweep_start, self.sweep_cancel, load, self.sweep_export):
            row.addWidget(button)
        layout.addLayout(row)
        return outer

    def open_sweep_box(self, opened: bool = True) -> None:
        """Show (or hide) the sweep's controls under its one-line header."""
        if self.sweep_opener.isChecked() != opened:
            self.sweep_opener.setChecked(opened)  # comes back here through toggled
            return
        self.sweep_opener.setArrowType(Qt.ArrowType.DownArrow if opened
                                       else Qt.ArrowType.RightArrow)
        self.sweep_box.setVisible(opened)

    def sweep_config(self) -> sweep.SweepConfig:
        """The sweep of the lab's data and model settings, with the box's rates and budget."""
        config = sweep.SweepConfig()
        for name in ("dataset", "emnist_images", "emnist_labels", "train_samples",
                     "test_samples", "model", "keep_prob", "batch_size", "epochs", "seed",
                     "lr_min", "lr_max"):
            setattr(config, name, getattr(self.config, name))
        config.rates = self.sweep_rates.value()
        config.curve_points = self.sweep_curve_points
        config.memory_mb = self.sweep_memory.value()
        return config

    def sweep_path(self, config: sweep.SweepConfig) -> Path:
        text = self.sweep_file.text().strip()
        if text:
            return Path(text).expanduser()
        import platformdirs

        folder = Path(platformdirs.user_data_dir("vizlab")) / "sweeps"
        folder.mkdir(parents=True, exist_ok=True)
        tag = hashlib.sha1(sweep.identity_json(config).encode()).hexdigest()[:10]
        return folder / f"optimizers-{config.model}-{config.rates}-{tag}.npz"

    def start_sweep(self) -> None:
        """Stop any lab run and start the sweep (off the GUI thread; its first snapshot
        says the estimate)."""
        if self.sweep_runner.is_active:
            return
        config = self.sweep_config()
        try:
            config.check()
            path = self.sweep_path(config)
            sweep.open_results(config, path)  # a foreign or damaged file: say so now
        except (SettingError, OSError) as exc:
            self._sweep_message(str(exc), error=True)
            return
        self.runner.stop()
        self.clear_views()
        workers, scheduler = self.sweep_workers.value(), self.sweep_scheduler.text().strip()
        self._sweep_key = f"{sweep.identity_json(config)}|{workers}|{scheduler}"
        self._sweep_path = path
        self._gate_pending = True
        self._sweep_message(f"Estimating the sweep's time ({path.name})…")
        self.sweep_runner.start(lambda: sweep.run_sweep(config, path, workers=workers,
                                                        scheduler=scheduler))

    def cancel_sweep(self) -> None:
        """Stop the sweep; the results file keeps every finished chunk."""
        if self.sweep_runner.is_active:
            # The chunks are cancelled and the workers closed on the sweep's thread.
            self.sweep_runner.stop(timeout=0.1)
            done = self.sweep_results
            kept = f"{int(done.done.sum())} of {done.done.size} members" if done else "nothing"
            self._sweep_message(f"Cancelled: {self._sweep_path} keeps {kept}; Start "
                                f"resumes it.")
        self._sweep_buttons(False)

    def show_sweep(self, snap: sweep.SweepSnapshot) -> None:
        """Draw a sweep's snapshot (on the GUI thread: drawing only)."""
        if self._gate_pending and snap.estimate_seconds is not None:
            # The first snapshot with the estimate: a long sweep waits for a second Start.
            self._gate_pending = False
            if (snap.estimate_seconds > CONFIRM_SECONDS
                    and self._confirmed != self._sweep_key):
                self._confirmed = self._sweep_key
                self.sweep_runner.stop(timeout=0.1)
                self._sweep_buttons(False)
                self._sweep_message(f"<b>Estimate: {snap.estimate}.</b> Press Start sweep "
                                    f"again to run it anyway.")
                return
        self.show_sweep_results(snap.results)
        done, total = snap.members_done, snap.members_total
        self.sweep_progress.setRange(0, total)
        self.sweep_progress.setValue(done)
        remaining = ("" if snap.remaining is None or snap.state == "finished"
                     else f", {sweep.duration_text(snap.remaining)} left")
        dashboard = (f"; Dask dashboard: <a href='{snap.dashboard}'>{snap.dashboard}</a>"
                     if snap.dashboard else "")
        head = "Finished" if snap.state == "finished" else "Sweeping"
        self._sweep_message(
            f"{head}: {done} of {total} members; chunks {snap.chunks_done} done, "
            f"{snap.chunks_running} running, {snap.chunks_left} left (up to {snap.chunk_size} "
            f"rates each); {sweep.duration_text(snap.elapsed)} elapsed{remaining}. "
            f"{snap.executor}{dashboard}. Estimate: {snap.estimate}.")

    def show_sweep_results(self, results: sweep.SweepResults, source: str = "") -> None:
        """Draw a sweep's results: finished members on the curves, pending rates grey."""
        self.sweep_results = results
        self.sweep_export.setEnabled(True)
        loss, acc = results.test_loss, results.test_accuracy
        for o, d, label, name, style in self._draw_rate_curves(
                results.optimizers, results.dropout, results.rates, loss, acc):
            k = best_member(acc[o, d], loss[o, d])
            y = (results.curve[o, d, k] if k is not None
                 else np.full(len(results.curve_steps), np.nan))
            self.steps_plot.set_curve(label, results.curve_steps, y, color=COLORS[name],
                                      style=style)
        pending = results.rates[~results.done.all(axis=(0, 1))]
        self.pending_dots[0].setData(pending, np.full(len(pending), CHANCE_LOSS))
        self.pending_dots[1].setData(pending, np.zeros(len(pending)))
        o_i, d_i, r_i = np.nonzero(results.diverged)
        top = loss_top(loss)
        self.loss_crosses.setData(results.rates[r_i], np.full(len(r_i), 0.97 * top))
        self.acc_crosses.setData(results.rates[r_i], np.zeros(len(r_i)))
        self._show_test_dots(None)
        self._frame_rate_plots(results.rates, acc, loss)
        self._show_key(sweep_results=True)
        self.steps_plot.plot_item.setTitle("Training loss over steps (segment means), best "
                                           "rate of each optimizer")
        config = results.config
        parts = []
        for o, name in enumerate(results.optimizers):
            k = best_member(acc[o, 0], loss[o, 0])
            best = (f"{rate_text(results.rates[k])}: {100 * acc[o, 0, k]:.1f}%"
                    if k is not None
                    else "nothing finished")
            parts.append(f"<span style='color:{COLORS[name]}'><b>{name}</b></span> {best}")
        where = f" from {Path(source).name}" if source else ""
        self.note.setText(
            f"Sweep{where}: {config.model}, {len(results.rates)} rates, "
            f"{config.train_samples} training images x {config.epochs} epoch(s), test "
            f"accuracy on {config.test_samples} images; {int(results.done.sum())} of "
            f"{results.done.size} members done (grey: pending). " + "; ".join(parts) + ".")

    def load_results(self, path: str | os.PathLike) -> sweep.SweepResults:
        """Show a results file (SettingError if it is not one)."""
        results = sweep.SweepResults.load(path)
        # The panel and the Sweep box show the file's sweep: Start sweep resumes it.
        config = results.config
        self.apply_settings({name: getattr(config, name) for name in (
            "dataset", "emnist_images", "emnist_labels", "train_samples", "test_samples",
            "model", "keep_prob", "batch_size", "epochs", "seed")})
        self.sweep_rates.setValue(config.rates)
        self.sweep_curve_points = config.curve_points
        self.sweep_file.setText(str(path))
        self.show_sweep_results(results, source=str(path))
        done = int(results.done.sum())
        self.sweep_progress.setRange(0, results.done.size)
        self.sweep_progress.setValue(done)
        self._sweep_message(f"Loaded {path}: {done} of {results.done.size} members.")
        return results

    def _choose_results(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load sweep results", "",
                                              "Sweep results (*.npz)")
        if path:
            try:
                self.load_results(path)
            except SettingError as exc:
                self._sweep_message(str(exc), error=True)

    def _choose_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the sweep as CSV", "sweep.csv",
                                              "CSV (*.csv)")
        if path and self.sweep_results is not None:
            try:
                self.sweep_results.write_csv(path)
            except OSError as exc:
                self._sweep_message(f"Cannot write {path}: {exc}", error=True)
                return
            self._sweep_message(f"Wrote {path}.")

    def _sweep_message(self, text: str, error: bool = False) -> None:
        self.sweep_status.setStyleSheet("color: #b00020;" if error else "")
        self.sweep_status.setText(text)

    def _sweep_buttons(self, running: bool) -> None:
        self.sweep_start.setEnabled(not running)
        self.sweep_cancel.setEnabled(running)

    def _on_sweep_state(self, state: str) -> None:
        self._sweep_buttons(state in ("running", "paused"))

    def _on_sweep_error(self, message: str, details: str) -> None:
        self._sweep_message(f"The sweep stopped: {message}", error=True)
        self.sweep_status.setToolTip(details[-3000:] if details else "")

    def begin_shutdown(self) -> None:
        self.sweep_runner.begin_shutdown()
        super().begin_shutdown()

    def shutdown(self, timeout: float = 5.0) -> bool:
        ok = super().shutdown(timeout)
        return self.sweep_runner.shutdown(timeout) and ok

    def clear_views(self) -> None:
        for plot in (self.loss_plot, self.acc_plot, self.steps_plot):
            for name in plot.curve_names():
                plot.remove_curve(name)
        self.loss_crosses.setData([], [])
        self.acc_crosses.setData([], [])
        if hasattr(self, "test_dots"):
            self._show_test_dots(None)
        for dots in getattr(self, "pending_dots", ()):
            dots.setData([], [])
        self.note.setText("")

    # -- drawing ---------------------------------------------------------------------------
    def _draw_rate_curves(self, optimizers, dropout, rates, loss, acc):
        """Loss and accuracy against the rate, a curve per optimizer and dropout; returns
        (optimizer index, dropout index, label, optimizer, line style) of each drawn."""
        drawn = []
        for o, name in enumerate(optimizers):
            for d, drop in enumerate(dropout):
                style = "dash" if drop else "solid"
                label = curve_name(name, drop)
                self.loss_plot.set_curve(label, rates, loss[o, d], color=COLORS[name],
                                         style=style)
                self.acc_plot.set_curve(label, rates, acc[o, d], color=COLORS[name],
                                        style=style)
                drawn.append((o, d, label, name, style))
        return drawn

    def _frame_rate_plots(self, rates, acc, loss) -> None:
        """Ranges and ticks of the loss and accuracy plots against the learning rate."""
        # log10 units in log mode: the whole sweep, a margin either side wide enough for
        # half a tick label (pyqtgraph drops one that would stick out); ticks at the
        # powers of ten, all written alike.
        lo, hi = np.log10(rates[0]), np.log10(rates[-1])
        margin = 0.09 * (hi - lo)
        ticks = decade_ticks(rates[0], rates[-1])
        for plot in (self.loss_plot, self.acc_plot):
            plot.plot_item.setXRange(lo - margin, hi + margin, padding=0)
            plot.plot_item.getAxis("bottom").setTicks([ticks, []])
        self.acc_plot.plot_item.setYRange(0, max(0.1, float(np.nanmax(acc, initial=0)) * 1.1),
                                          padding=0)
        top = loss_top(loss)
        finite = loss[np.isfinite(loss) & (loss <= top)]
        low = min(float(finite.min()) if finite.size else 0.0, 0.95 * CHANCE_LOSS)
        self.loss_plot.plot_item.setYRange(max(0.0, low - 0.08 * (top - low)), top, padding=0)

    def _show_key(self, sweep_results: bool) -> None:
        """The key above the plots: colours, line styles, and what lines and dots are."""
        colours = " &nbsp; ".join(f"<span style='color:{c}'><b>&#9644; {name}</b></span>"
                                  for name, c in COLORS.items())
        if sweep_results:
            what = "lines: test set"
        else:
            what = "lines: training (running mean); dots: test set after training"
        self.key.setText(f"{colours} &nbsp; solid, &#9679;: no dropout; dashed, &#9675;: "
                         f"dropout; &times;: diverged; {what}.")

    def _show_test_dots(self, snap: experiment.Snapshot | None) -> None:
        """The test set's loss and accuracy as dots (none before the end of a run)."""
        for o, name in enumerate(experiment.OPTIMIZERS):
            for d, drop in enumerate(experiment.DROPOUT):
                label = curve_name(name, drop)
                for what, values in (("loss", None if snap is None else snap.test_loss),
                                     ("accuracy",
                                      None if snap is None else snap.test_accuracy)):
                    dots = self.test_dots[what][label]
                    if values is None:
                        dots.setData([], [])
                    else:
                        ok = np.isfinite(values[o, d])
                        dots.setData(snap.rates[ok], values[o, d][ok])

    def draw(self, snap: experiment.Snapshot) -> Iterator[None]:
        # Lines: the running training means, from the first snapshot to the last.
        self._draw_rate_curves(snap.optimizers, snap.dropout, snap.rates, snap.loss,
                               snap.accuracy)
        yield
        self._show_test_dots(snap if snap.test_loss is not None else None)
        self._show_key(sweep_results=False)
        self._draw_crosses(snap)
        yield
        self._draw_steps(snap)
        yield
        shown = [snap.accuracy] if snap.test_accuracy is None else [snap.accuracy,
                                                                    snap.test_accuracy]
        losses = snap.loss if snap.test_loss is None else np.stack([snap.loss,
                                                                    snap.test_loss])
        self._frame_rate_plots(snap.rates, np.stack(shown), losses)
        loss, acc, on_test = shown_values(snap)
        self._draw_note(snap, loss, acc, on_test)

    def _draw_crosses(self, snap) -> None:
        """Diverged members: a cross at the top of the loss plot, at 0 on accuracy."""
        o_i, d_i, r_i = np.nonzero(snap.diverged)
        xs = snap.rates[r_i]
        losses = snap.loss if snap.test_loss is None else np.stack([snap.loss, snap.test_loss])
        self.loss_crosses.setData(xs, np.full(len(xs), 0.97 * loss_top(losses)))
        self.acc_crosses.setData(xs, np.zeros(len(xs)))

    def _draw_steps(self, snap) -> None:
        """The training loss over steps of each optimizer's rate with the best running
        training accuracy (not the test set's: the choice keeps one meaning all run)."""
        steps = snap.curves["step"]
        history = np.reshape(snap.curves["loss"], (len(steps),) + snap.loss.shape)
        for o, name in enumerate(snap.optimizers):
            for d, drop in enumerate(snap.dropout):
                label = curve_name(name, drop)
                k = best_member(snap.accuracy[o, d], snap.loss[o, d])
                y = history[:, o, d, k] if k is not None else np.full(len(steps), np.nan)
                self.steps_plot.set_curve(label, steps, y, color=COLORS[name],
                                          style="dash" if drop else "solid")

    def _draw_note(self, snap, loss, acc, on_test) -> None:
        """Each optimizer's best rate and its accuracy, short enough for large type."""
        parts = []
        at_top = []  # optimizers whose best rate (without dropout) is the largest swept
        for o, name in enumerate(snap.optimizers):
            bits = []
            for d, drop in enumerate(snap.dropout):
                k = best_member(acc[o, d], loss[o, d])
                if not drop and k == len(snap.rates) - 1:
                    at_top.append(name)
                tag = "dropout " if drop else ""
                if k is None:
                    bits.append(f"{tag}all diverged")
                else:
                    bits.append(f"{tag}{rate_text(snap.rates[k])}: {100 * acc[o, d, k]:.1f}%")
            bad = int(snap.diverged[o].sum())
            div = f", {bad} diverged" if bad else ""
            parts.append(f"<span style='color:{COLORS[name]}'><b>{name}</b></span> "
                         + ", ".join(bits) + div)
        where = (f"accuracy on {snap.test_samples} held-out images" if on_test
                 else "running training accuracy")
        losses = snap.loss if snap.test_loss is None else np.stack([snap.loss, snap.test_loss])
        above = int(np.sum(np.isfinite(losses) & (losses > loss_top(losses))))
        off = f" {above} losses above {loss_top(losses):.1f} are off the top." if above else ""
        edge = ""
        if on_test and at_top:
            edge = (f" {' and '.join(at_top)}: best at lr_max, the top of the range; a "
                    f"larger lr_max may do better.")
        self.note.setText(
            f"Step {snap.step} of {snap.total_steps} ({snap.model}, {len(snap.rates)} rates), "
            f"best rate and {where}: " + "; ".join(parts) + "." + edge + off)
