"""What every lab view shares: settings controls, a runner, a timeline, an error banner.

The rooms: the settings form is vizlab/labs/settings_panel.py, the bounded history of
drawn snapshots vizlab/labs/timeline.py, and LabView, here, puts them together.

A lab view is the Qt face of one experiment module (`engine.experiments.<name>`). It
builds its setting controls from the experiment's Config, starts a Session of the
experiment (in the child process, or in this one) on a `Runner`, sends it live setting
changes as messages, keeps a bounded timeline of the snapshots it has drawn, and
draws snapshots; subclasses provide only `build_views()` and `draw(snapshot)`.

Nothing of the experiment runs on the GUI thread: previews (the first snapshot for the
current settings) are computed where training runs, by a `Previewer`, and arrive as
values to draw; a burst of setting changes costs one preview and one redraw.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from engine import experiments
from engine.experiments.contract import is_paced
from engine.experiments.session import Session, first_snapshot
from engine.experiments.settings import apply_settings, settings_of
from vizlab.child import ChildSession, child_first_snapshot
from vizlab.labs.settings_panel import SettingsPanel, as_text
from vizlab.labs.timeline import Timeline
from vizlab.pacer import pacer
from vizlab.runner import Previewer, Runner
from vizlab.widgets.text import WrappedLabel

log = logging.getLogger(__name__)


class LabView(QWidget):
    """Base class of the labs: subclasses set `lab_name`, `help_html`, and implement
    `build_views()` (returns the widget with the lab's plots) and `draw(snapshot)`."""

    lab_name = ""
    help_html = ""
    # Labs whose first snapshot is cheap (curves, calculators) redraw it at once when a
    # setting changes, without Run; Run then animates whatever trains over time.
    preview_on_change = False
    # Train in a child process (the default) or on a thread of this one.
    run_in_process = os.environ.get("VIZLAB_IN_PROCESS", "") != "1"
    # Flat out, snapshots are spaced to about this many a second (see _adapt_snapshot_pace):
    # as many as the runner shows (a frame each 33 ms). At 45 a second a third of them
    # were made, sent and decoded to be passed over, and the experiment's process spent
    # that time not training. Out of sight in the app, fewer: the lab draws none of them,
    # and each costs the window's process a decode (the timeline of a run trained out of
    # sight is coarser).
    SNAPSHOTS_PER_SECOND = 30
    SNAPSHOTS_PER_SECOND_OUT_OF_SIGHT = 4
    # A lab whose build_views() is a generator (it yields between plots) is built a piece
    # per turn of the event loop when this is on, so no turn holds the GUI thread for
    # long: the app turns it on; tests and the CLI build at once. A lab whose draw() is
    # a generator (it yields between panels) is then drawn a panel per turn too.
    build_in_steps = False
    # Shown or resized, a lab built in steps repaints this many plots in that turn and
    # the rest one per piece: all of a big lab at once took 75-95 ms on a quiet machine,
    # and the turn that shows or resizes a lab lays it out too.
    PLOTS_PAINTED_AT_ONCE = 0

    state_changed = Signal(str)
    # Emitted when the views built a piece at a time are in place.
    views_built = Signal()

    def __init__(self, parent: QWidget | None = None, *, build_in_steps: bool | None = None) -> None:
        super().__init__(parent)
        if build_in_steps is not None:
            self.build_in_steps = build_in_steps
        self.experiment = experiments.get(self.lab_name)
        self.title = self.experiment.TITLE
        self.config = self.experiment.Config()
        # The settings the run was started with, plus the live changes sent to it since:
        # a record on the GUI thread (the run's Session holds a copy of its own).
        self.run_config: Any = None
        self.restore_state: dict | None = None  # weights to start from (loaded file)
        self.last_snapshot: Any = None
        self.timeline = Timeline()
        self.following_live = True
        self.frames_drawn = 0
        #: why the newest snapshot could not be drawn (None once one draws again)
        self.draw_error: str | None = None
        self.recorder = None  # an export.Recorder while recording
        self.record_scale = 1
        self.max_steps_per_second: float | None = None
        # Flat out, an experiment can make far more snapshots than the ~30 a second the
        # screen shows, and each costs probe work; so the lab spaces them out to about
        # SNAPSHOTS_PER_SECOND (never closer than the snapshot_every setting).
        self._pace_timer = QTimer(self)
        self._pace_timer.setInterval(500)
        self._pace_timer.timeout.connect(self._adapt_snapshot_pace)
        self._pace_timer.start()

        self.runner = Runner(self)
        self.runner.snapshot.connect(self.show_snapshot)
        self.runner.error.connect(self._on_error)
        self.runner.state_changed.connect(self._on_state)

        # Previews: requests made in one turn of the event loop (apply_settings sets many
        # settings at once) are sent as one, when the loop next runs.
        self.previews_enabled = True
        self.previewer = Previewer(self, name=f"{self.lab_name}-preview")
        self.previewer.ready.connect(self._on_preview)
        self.previewer.failed.connect(self._on_preview_failed)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(0)
        self._preview_timer.timeout.connect(self._send_preview_request)

        self.settings_panel = SettingsPanel(self.config)
        self.settings_panel.changed.connect(self._on_setting_changed)
        settings_scroll = QScrollArea()
        settings_scroll.setWidget(self.settings_panel)
        settings_scroll.setWidgetResizable(True)
        settings_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        settings_scroll.setMinimumWidth(self.settings_panel.sizeHint().width() + 20)

        self.pending_label = WrappedLabel()
        self.pending_label.setStyleSheet(
            "background: #fff4ce; border: 1px solid #e0c060; padding: 4px;"
        )
        self.pending_label.hide()

        self.error_banner = WrappedLabel()
        self.error_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_banner.setStyleSheet(
            "background: #fde7e9; color: #8a0010; border: 1px solid #d08090; padding: 6px;"
        )
        self.error_banner.hide()

        self.slider = QSlider(Qt.Orientation.Horizontal)
        policy = self.slider.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.slider.setSizePolicy(policy)
        self._set_timeline_length(0)
        self.slider.setToolTip("Scrub back through training; every view follows.")
        self.slider.valueChanged.connect(self._on_scrub)
        self.live_button = QPushButton("Live")
        self.live_button.setToolTip("Follow the newest step again")
        self.live_button.clicked.connect(self.go_live)
        self.timeline_label = QLabel("step 0")
        self.timeline_bar = QWidget()
        timeline_row = QHBoxLayout(self.timeline_bar)
        timeline_row.setContentsMargins(0, 0, 0, 0)
        timeline_row.addWidget(QLabel("Timeline"))
        timeline_row.addWidget(self.slider, 1)
        timeline_row.addWidget(self.timeline_label)
        timeline_row.addWidget(self.live_button)

        # Building, drawing and repainting a piece at a time share the GUI thread's
        # budget per turn with every other view's (see vizlab/pacer.py).
        self._build_task = pacer().task(self._build_a_piece)
        # The settings the last preview drawn was computed for (its weights fit them).
        self.preview_config: Any = None
        # A snapshot being drawn a panel per piece, and the newest one to draw
        # after it (see _draw).
        self._drawing: tuple[Any, Any] | None = None
        self._draw_next: Any = None
        self._draw_task = pacer().task(self._draw_a_piece)
        # Plots whose repaint waits for a later turn (see _stagger_repaints).
        self._unpainted: list[QWidget] = []
        self._paint_task = pacer().task(self._repaint_some)
        built = self.build_views()
        self._building = built if inspect.isgenerator(built) else None
        if self._building is None:
            self.views = built
        elif self.build_in_steps:
            self.views = QLabel("Building the views…")
            self.views.setAlignment(Qt.AlignmentFlag.AlignCenter)
            # The first piece now: what build_views() sets up before its first yield (the
            # attributes its slots read) exists as soon as the view does.
            self._build_a_piece()
            if self._building is not None:
                self._build_task.start()
        else:
            self.views = self._finish_building()
        if self.preview_on_change:
            self.preview()
        right = QWidget()
        self._right_layout = right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.error_banner)
        right_layout.addWidget(self.pending_label)
        right_layout.addWidget(self.views, 1)
        right_layout.addWidget(self.timeline_bar)

        self.settings_scroll = settings_scroll
        splitter = QSplitter()
        splitter.addWidget(settings_scroll)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([280, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_views_only(self, views_only: bool) -> None:
        """Show only the lab's views: no settings panel and no timeline bar (presentation
        mode, and `--views-only` pictures for slides)."""
        self.settings_scroll.setVisible(not views_only)
        self.timeline_bar.setVisible(not views_only)
        # The minimum size changes with the panel: let the window's layout know now.
        self.layout().invalidate()
        self.updateGeometry()

    @property
    def views_only(self) -> bool:
        return self.settings_scroll.isHidden()

    # -- building the views a piece at a time ---------------------------------------------
    @property
    def is_built(self) -> bool:
        return self._building is None

    def ensure_built(self) -> None:
        """Finish building the views now (for code that needs the widgets at once)."""
        if self._building is not None:
            self._install_views(self._finish_building())

    def _finish_building(self) -> QWidget:
        try:
            while True:
                next(self._building)
        except StopIteration as done:
            self._building = None
            return done.value

    def _build_a_piece(self) -> None:
        """One piece of build_views(), when the pacer says; the finished views replace the
        placeholder. Unfinished widgets are never in the window, so never get events."""
        if self._building is None:
            return
        try:
            next(self._building)
        except StopIteration as done:
            self._building = None
            self._install_views(done.value)

    def _install_views(self, views: QWidget) -> None:
        self._build_task.stop()
        placeholder, self.views = self.views, views
        if not hasattr(self, "_right_layout"):  # finished within __init__
            return
        self._right_layout.replaceWidget(placeholder, views)
        views.show()  # a widget put into a window already shown starts hidden
        # Hidden at once: deleted only when the event loop next runs, it showed through
        # plots still waiting for their first paint.
        placeholder.hide()
        placeholder.deleteLater()
        self._show_configured_tab()
        # Their first paint too, a few plots per turn, and after a tab is picked.
        for tabs in views.findChildren(QTabWidget):
            tabs.currentChanged.connect(self._stagger_repaints)
        self._stagger_repaints()
        self.views_built.emit()
        # What came while building (run snapshots, or a preview): draw the current one.
        if self.timeline.items:
            index = self.slider.value() if not self.following_live else -1
            self._draw(self.timeline.items[index])
        elif self.last_snapshot is not None:
            self._draw(self.last_snapshot)

    # -- to implement ------------------------------------------------------------------
    def build_views(self) -> QWidget:
        """The lab's plots in one widget; or a generator that yields between plots and
        returns that widget, so that the app can build it over several event-loop turns."""
        raise NotImplementedError

    def draw(self, snapshot: Any) -> None:
        """Show a snapshot in the views; or a generator that yields between panels, so
        that the app can draw a big snapshot over several event-loop turns (each turn
        then also paints only the panels drawn in it)."""
        raise NotImplementedError

    def draw_now(self, snapshot: Any) -> None:
        """Draw a snapshot whole, now (for code that looks at the views at once)."""
        drawn = self.draw(snapshot)
        if inspect.isgenerator(drawn):
            for _ in drawn:
                pass

    def clear_views(self) -> None:
        """Called on Reset before the first new snapshot; override to blank plots."""

    # -- transport ------------------------------------------------------------------------
    # Snapshots of steps before this one are passed over (the preview showed them).
    first_step = 0

    def new_session(self):
        """A Session of the experiment for the current settings (and loaded weights)."""
        self.run_config = copy.deepcopy(self.config)
        self._restore_snapshot_pace()
        config, state = self.run_config, self.restore_state
        self.pending_label.hide()
        if self.run_in_process:
            # The experiment gets a core of its own; see vizlab/child.py.
            return ChildSession(self.experiment.__name__, config, state, self.first_step)
        return Session(self.experiment, config, state=state, first_step=self.first_step)

    def run(self) -> None:
        self._cancel_preview()
        if self.runner.state == "paused":
            self._restore_snapshot_pace()
            self.runner.resume()
        elif self.runner.state != "running":
            if self.runner.state in ("finished", "error"):
                self._clear_for_new_run()
            self.error_banner.hide()
            self.runner.start(self.new_session())
        self.go_live()

    def pause(self) -> None:
        self.runner.pause()

    def step(self) -> None:
        self._cancel_preview()
        if not self.runner.is_active:
            if self.runner.state in ("finished", "error"):
                self._clear_for_new_run()
            self.error_banner.hide()
            self.runner.start(self.new_session(), paused=True)
        # One press, one training step: snapshot at every step while stepping.
        self._set_pace(1)
        self.runner.step()
        self.go_live()

    def _set_pace(self, snapshot_every: int) -> None:
        """Space the run's snapshots (sent to the run as a live change)."""
        if not is_paced(self.run_config) or self.run_config.snapshot_every == snapshot_every:
            return
        self.run_config.snapshot_every = snapshot_every
        if self.runner.is_active:
            self.runner.change("snapshot_every", snapshot_every)

    def _restore_snapshot_pace(self) -> None:
        if is_paced(self.run_config):
            # At a chosen speed every training step is shown; flat out, the setting rules.
            slow = self.max_steps_per_second is not None
            self._set_pace(1 if slow else self.config.snapshot_every)

    def _adapt_snapshot_pace(self) -> None:
        config = self.run_config
        if (config is None or not is_paced(config)
                or self.max_steps_per_second is not None or not self.runner.is_running):
            return
        rate = self.training_steps_per_second()
        wanted = (self.SNAPSHOTS_PER_SECOND_OUT_OF_SIGHT
                  if self.build_in_steps and not self.isVisible() else self.SNAPSHOTS_PER_SECOND)
        if rate > 0:
            self._set_pace(max(self.config.snapshot_every, int(rate / wanted)))

    def set_speed(self, steps_per_second: float | None) -> None:
        """Limit training to this many steps per second (None: as fast as it goes)."""
        self.max_steps_per_second = steps_per_second
        self.runner.set_max_steps_per_second(steps_per_second)
        if self.run_config is not None and self.runner.state == "running":
            self._restore_snapshot_pace()

    def training_steps_per_second(self) -> float:
        """Training steps per second over about the last second, as the run meters them."""
        return self.runner.training_steps_per_second()

    def reset(self) -> None:
        """Stop, forget the run, and apply every pending setting."""
        self.runner.stop(self.runner.QUICK_STOP_S)
        self.restore_state = None
        self._clear_for_new_run()
        self.error_banner.hide()

    def _clear_for_new_run(self) -> None:
        self.timeline.clear()
        self.last_snapshot = None
        self._set_timeline_length(0)
        self.timeline_label.setText("step 0")
        self.pending_label.hide()
        self._stop_drawing()  # what was being drawn belongs to the run just forgotten
        self._draw_next = None
        for label in self.views.findChildren(WrappedLabel):
            label.release_height()  # a new run's lines of numbers take the room they need
        if self._building is None:  # views still being built have drawn nothing yet
            self.clear_views()

    def begin_shutdown(self) -> None:
        """Ask the run and any preview to end, without waiting (see ``shutdown``)."""
        self._stop_building()
        self._stop_drawing()
        self._paint_task.stop()
        self._draw_next = None
        self._cancel_preview()
        self.runner.begin_shutdown()

    def _stop_building(self) -> None:
        # An unfinished build_views() generator and this view refer to each other: left
        # to Python's cycle collector, the view's widgets could be deleted on whatever
        # thread that happens to run on, and Qt deadlocks deleting widgets off the GUI
        # thread. Closing it here, on the GUI thread, breaks the cycle.
        self._build_task.stop()
        if self._building is not None:
            self._building.close()
            self._building = None

    def shutdown(self, timeout: float = 5.0) -> bool:
        """End the run and any preview and join their threads; False if one outlived
        ``timeout`` (an in-process step that would not end)."""
        deadline = time.monotonic() + timeout
        self.begin_shutdown()
        previews_ok = self.previewer.shutdown(timeout)
        return self.runner.shutdown(max(0.0, deadline - time.monotonic())) and previews_ok

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        # A view closed on its own (the CLI's, a test's) leaves no preview computing.
        self._cancel_preview()
        super().closeEvent(event)

    # -- settings ---------------------------------------------------------------------------
    def preview(self) -> None:
        """Ask for the experiment's first snapshot for the current settings.

        It is computed off the GUI thread (in a child process when the lab trains in
        one) and drawn when it arrives; asking again before then replaces the request.
        """
        if self.previews_enabled:
            self._preview_timer.start()

    @property
    def preview_pending(self) -> bool:
        """True while a requested preview has not been drawn yet."""
        return self._preview_timer.isActive() or self.previewer.busy

    def disable_previews(self) -> None:
        """Compute no previews from now on: the caller shows snapshots of its own (the
        CLI drives the experiment itself, and a preview would only be thrown away)."""
        self.previews_enabled = False
        self._cancel_preview()

    def _send_preview_request(self) -> None:
        if not self.previews_enabled or self.runner.is_active:
            return
        config, module = copy.deepcopy(self.config), self.experiment
        # Each preview comes back with the settings it was computed for.
        if self.run_in_process:
            def job(cancelled):
                return config, child_first_snapshot(module.__name__, config, cancelled)
        else:
            def job(cancelled):
                return config, first_snapshot(module, config)
        self.timeline_label.setText("computing the preview…")
        self.previewer.request(job)

    def _cancel_preview(self) -> None:
        self._preview_timer.stop()
        self.previewer.cancel()

    def _on_preview(self, preview: tuple[Any, Any]) -> None:
        config, snapshot = preview
        if snapshot is None or self.runner.is_active:
            return  # a run owns the views now
        self.error_banner.hide()
        self.last_snapshot = snapshot
        self.preview_config = config
        self._draw(snapshot)

    def _on_preview_failed(self, message: str, details: str) -> None:
        if self.runner.is_active:
            return
        # A bad combination of settings shows, never crashes; one line in the log.
        log.warning("preview of %s failed: %s", self.lab_name, message)
        self.timeline_label.setText("no preview")
        self._show_error(f"Cannot show these settings: {message}", details)

    def _on_setting_changed(self, name: str, value: Any) -> None:
        info = self.settings_panel.infos[name]
        if not info.live and self.restore_state is not None and not self.runner.is_active:
            # A setting that needs a new network: the weights opened from a file were
            # for the old one (Run would refuse them), so Run starts a new one.
            self.restore_state = None
            self.pending_label.setText(
                f"Changed {name.replace('_', ' ')}: the weights opened from the file were "
                "for the old network, so Run starts a new one.")
            self.pending_label.show()
        if self.preview_on_change and not self.runner.is_active:
            self.preview()
        if not self.runner.is_active or self.run_config is None:
            return
        if info.live:
            setattr(self.run_config, name, value)  # our record of the run's settings
            self.runner.change(name, value)
        else:
            self.pending_label.setText(
                f"Changed {name.replace('_', ' ')}: this needs a new network, "
                "so it applies when you press Reset (Ctrl+R)."
            )
            self.pending_label.show()

    def apply_settings(self, assignments: dict[str, Any]) -> None:
        """Set settings programmatically (CLI, loading a file); live ones reach the run."""
        apply_settings(self.config, assignments)
        self.settings_panel.refresh()
        for name in assignments:
            self._on_setting_changed(name, getattr(self.config, name))
        self._show_configured_tab()

    # -- tabs that follow a `view` setting (so `--set view=...` picks the tab) --------------
    def bind_tabs(self, tabs: QTabWidget, names: Sequence[str]) -> None:
        """Keep the tab in front and the config's `view` setting in step, both ways."""
        self._tabs, self._tab_names = tabs, list(names)
        tabs.setCurrentIndex(self._tab_names.index(self.config.view))
        tabs.currentChanged.connect(self._on_tab_changed)
        self.settings_panel.changed.connect(
            lambda name, _value: name == "view" and self._show_configured_tab())

    def _on_tab_changed(self, index: int) -> None:
        self.config.view = self._tab_names[index]
        self.settings_panel.refresh("view")

    def _show_configured_tab(self) -> None:
        tabs = getattr(self, "_tabs", None)
        if tabs is None:
            return
        index = self._tab_names.index(self.config.view)
        if tabs.currentIndex() != index:
            tabs.blockSignals(True)
            tabs.setCurrentIndex(index)
            tabs.blockSignals(False)

    # -- snapshots and the timeline ---------------------------------------------------------
    def show_snapshot(self, snapshot: Any) -> None:
        """Take a new snapshot: keep it on the timeline and draw it when following live."""
        if self.preview_pending:  # a run's snapshot is newer than any preview
            self._cancel_preview()
        self.last_snapshot = snapshot
        self.timeline.append(snapshot)
        self.slider.blockSignals(True)
        self._set_timeline_length(len(self.timeline))
        if self.following_live:
            self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        if self.following_live:
            self._draw(snapshot)

    def _set_timeline_length(self, count: int) -> None:
        self.slider.setRange(0, max(count - 1, 0))
        # One snapshot or none (a run's first; a run the CLI trained, pictured) leaves
        # nothing to scrub: Qt would draw the handle at the left, under "step 200", where
        # it reads as the start. The slider's room is kept.
        self.slider.setVisible(count > 1)

    def _draw(self, snapshot: Any, *, out_of_sight_too: bool = False) -> None:
        if self._building is not None:  # drawn once the views are built
            return
        if self._drawing is not None or self._unpainted:
            # Drawn when the one in progress is done and its plots are painted.
            self._draw_next = snapshot
            return
        if self.build_in_steps and not self.isVisible() and not out_of_sight_too:
            # A lab out of sight (another lab shown, run B hidden) draws nothing: labs
            # left running behind the one shown took the GUI thread's time for views
            # no one saw. The newest snapshot is drawn when the lab is shown.
            self._draw_next = snapshot
            return
        try:
            drawn = self.draw(snapshot)
            if inspect.isgenerator(drawn):
                if self.build_in_steps:  # from the next turn on, a budget per turn
                    self._drawing = (drawn, snapshot)
                    self._hold_repaints(snapshot)
                    self._draw_task.start()
                    return
                for _ in drawn:
                    pass
        except Exception as exc:  # a drawing bug must not take the app down
            self._draw_failed(exc)
            return
        self._drawn(snapshot)

    def _draw_a_piece(self) -> None:
        """One panel of the snapshot being drawn; at its end, the newest one waiting."""
        if self._drawing is None:
            self._draw_task.stop()
            return
        drawn, snapshot = self._drawing
        try:
            next(drawn)
            return
        except StopIteration:
            self._stop_drawing()
            for plot in self._unpainted:
                if isValid(plot):
                    plot.settle()
            # The scenes' own updates for what settled are posted: let Qt take them
            # (their plots held, no paint) before a plot paints, or it paints twice.
            pacer().end_turn()
            self._drawn(snapshot)
        except Exception as exc:
            self._stop_drawing()
            self._draw_failed(exc)
        if not self._unpainted:  # else the paint task draws what waits, once it is done
            self._draw_waiting()

    def _draw_waiting(self, *, out_of_sight_too: bool = False) -> None:
        waiting, self._draw_next = self._draw_next, None
        if waiting is not None:
            self._draw(waiting, out_of_sight_too=out_of_sight_too)

    def finish_drawing(self) -> None:
        """Draw whatever is being drawn a panel at a time to the end, now, and the newest
        snapshot waiting (even out of sight), and let every plot waiting for its repaint
        have it."""
        while self._drawing is not None or self._unpainted or self._draw_next is not None:
            if self._drawing is not None:
                self._draw_a_piece()
            elif self._unpainted:
                self._repaint_some()
            else:
                self._draw_waiting(out_of_sight_too=True)

    @property
    def drawing_pending(self) -> bool:
        """True while the views are unbuilt, a snapshot is half drawn or waits, or a
        plot waits for its repaint: a picture taken now would show a part."""
        return (self._building is not None or self._drawing is not None
                or self._draw_next is not None or bool(self._unpainted))

    # -- repainting a few plots per turn ---------------------------------------------------
    def hideEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().hideEvent(event)
        self._adapt_snapshot_pace()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._adapt_snapshot_pace()
        if self._draw_next is not None and self._drawing is None and not self._unpainted:
            self._draw_waiting()  # what came out of sight; its plots paint after it
        else:
            self._stagger_repaints()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._stagger_repaints()

    def _stagger_repaints(self, *_: Any) -> None:
        """Shown or resized, every plot repaints: let the first few do it in this turn
        and the rest a few per later turn, so no turn holds the GUI thread for long.
        Held plots keep their old pixels for the few milliseconds they wait."""
        if not self.build_in_steps or self._building is not None:
            return
        self._hold(self.plots()[self.PLOTS_PAINTED_AT_ONCE:])

    def plots_a_snapshot_changes(self, snapshot: Any) -> list:
        """The plots drawing ``snapshot`` may change (held while it is drawn, painted
        after): all of them, unless a lab knows some stay as they are."""
        return self.plots()

    def _hold_repaints(self, snapshot: Any) -> None:
        """While a snapshot is drawn a panel per piece, no plot paints: each is painted
        once, a plot per piece, after the last panel. Left to Qt, every plot a piece
        touched painted after that piece, some plots two or three times a snapshot, and
        paints chained within one turn of the event loop (a layout changed by one
        paint, then the next)."""
        self._hold(self.plots_a_snapshot_changes(snapshot))

    def _hold(self, plots: list) -> None:
        held = [plot for plot in plots if plot not in self._unpainted]
        for plot in held:
            plot.setUpdatesEnabled(False)
        self._unpainted += held
        if self._unpainted:
            self._paint_task.start()

    def _repaint_some(self) -> None:
        """One held plot repainted, now: its paint counts in the turn's budget. Once all
        are painted, the newest snapshot that waited is drawn."""
        if self._drawing is not None:  # painted after the draw's last panel
            self._paint_task.stop()
            return
        self._repaint_one()
        if not self._unpainted:
            self._paint_task.stop()
            self._draw_waiting()

    def _repaint_one(self) -> None:
        if self._unpainted:
            plot = self._unpainted.pop(0)
            if isValid(plot):  # a plot may have been deleted meanwhile
                plot.setUpdatesEnabled(True)
                if plot.isVisible():
                    plot.repaint()

    def finish_repaints(self) -> None:
        """Let every held plot repaint now (before a picture is taken)."""
        while self._unpainted:
            self._repaint_one()
        self._paint_task.stop()

    def _stop_drawing(self) -> None:
        # Closed here, on the GUI thread, for the reason given in _stop_building.
        self._draw_task.stop()
        drawing, self._drawing = self._drawing, None
        if drawing is not None:
            drawing[0].close()
        if self._unpainted:  # the plots held for it are painted as they are
            self._paint_task.start()

    def _draw_failed(self, exc: Exception) -> None:
        log.exception("drawing %s failed", self.lab_name, exc_info=exc)
        self.draw_error = f"{type(exc).__name__}: {exc}"
        self._show_error(f"Drawing failed: {exc}")

    def _drawn(self, snapshot: Any) -> None:
        self.draw_error = None
        self.frames_drawn += 1
        self.timeline_label.setText(f"step {snapshot.step}")
        if self.recorder is not None and self.following_live:
            self.record_frame(self.recorder, self.record_scale)

    def record_frame(self, recorder: Any, scale: int = 1) -> None:
        """Add the lab as it is on screen to a recording (the app's and the CLI's)."""
        from vizlab import export

        self.finish_repaints()
        recorder.add_frame(export.grab_image(self, scale))

    def _on_scrub(self, index: int) -> None:
        if not self.timeline.items:
            return
        self.following_live = index >= len(self.timeline) - 1
        self._draw(self.timeline.items[index])

    def go_live(self) -> None:
        self.following_live = True
        if self.timeline.items:
            self.slider.setValue(len(self.timeline) - 1)
            self._draw(self.timeline.items[-1])

    # -- errors and state --------------------------------------------------------------------
    def _on_error(self, message: str, details: str) -> None:
        self._show_error(f"The experiment stopped with an error: {message}", details)

    def _show_error(self, text: str, details: str = "") -> None:
        self.error_banner.setText(text)
        self.error_banner.setToolTip(details[-3000:] if details else "")
        self.error_banner.show()

    def set_banner(self, text: str) -> None:
        """A note above the views (compare mode says how run B differs)."""
        self.pending_label.setText(text)
        self.pending_label.setVisible(bool(text))

    def _on_state(self, state: str) -> None:
        self.state_changed.emit(state)

    def plots(self) -> list:
        """The lab's plot widgets that can be exported on their own, in layout order."""
        from vizlab.widgets._base import PlotWidgetBase

        return [w for w in self.views.findChildren(PlotWidgetBase) if w.isVisibleTo(self)]

    def caption(self) -> str:
        """The run in one line, for screenshot captions: the lab, the step and only the
        settings that differ from the lab's defaults (a slide needs what was changed)."""
        defaults = self.experiment.Config()
        parts = [f"{info.name}={as_text(getattr(self.config, info.name))}"
                 for info in settings_of(self.config)
                 if getattr(self.config, info.name) != getattr(defaults, info.name)]
        step = f", step {self.last_snapshot.step}" if self.last_snapshot is not None else ""
        changed = ": " + ", ".join(parts) if parts else ", default settings"
        return f"vizlab {self.lab_name} lab{step}{changed}"
