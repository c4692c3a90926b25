"""The main window: the list of labs, the current lab, the transport bar, menus, status.

Each lab view owns its runner, so switching labs pauses the one left behind and its
run is still there on return. Window geometry and the last folders used are kept in
QSettings. Experiment files are vizlab/app_files.py's, pictures and recordings
vizlab/app_export.py's; the window keeps their menu entries. Closing ends every run,
preview and helper process at once, so the app and all its processes are gone within
CLOSE_TIMEOUT_S.
"""

from __future__ import annotations

import logging
import sys
import time

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QSlider,
    QSplitter,
    QStackedWidget,
    QTabBar,
    QToolBar,
    QWidget,
)

from engine.experiments import get as get_experiment
from engine.experiments import settings_of
from vizlab import child
from vizlab.app_export import Exporter
from vizlab.app_files import ExperimentFiles
from vizlab.collector import GuiThreadCollector
from vizlab.labs import LAB_NAMES, view_class
from vizlab.labs.base import LabView
from vizlab.pacer import pacer

log = logging.getLogger(__name__)

# Speed slider positions map to steps per second on a log scale; the last is "as fast
# as it goes".
SPEED_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, None)
# Compare layouts: run B to the right of run A, below it, or in its place.
SIDE_BY_SIDE, STACKED, ONE_AT_A_TIME = "side by side", "stacked", "one at a time"
# Side by side, each run's views get at least this many pixels across (three plots of
# about 170 px, titles and legends whole; more with presentation mode's larger type),
# or the runs are shown one at a time.
SIDE_BY_SIDE_MIN_VIEWS_WIDTH = 520
RUN_A_BANNER = "Run A"
COMPARE_NOTES = {
    SIDE_BY_SIDE: "Comparing side by side: settings hidden so the plots keep their room "
                  "(Ctrl+E shows them).",
    STACKED: "Comparing with run B below run A.",
    ONE_AT_A_TIME: "Ctrl+B switches between run A and run B; both train.",
}
# Closing waits at most this long for runs, previews and helper processes to end.
CLOSE_TIMEOUT_S = 0.8


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or QSettings("vizlab", "vizlab")
        self.setWindowTitle("vizlab")
        self.labs: dict[str, LabView] = {}
        self.twins: dict[str, LabView] = {}  # run B of each lab in compare mode
        self.pages: dict[str, QSplitter] = {}
        self._frames_at: tuple[float, int] = (time.monotonic(), 0)
        self.files = ExperimentFiles(self)
        self._relayout_timer = QTimer(self)
        self._relayout_timer.setSingleShot(True)
        self._relayout_timer.setInterval(200)
        self._relayout_timer.timeout.connect(self._fit_compare)
        self._compare_steps_left = 0  # Compare turned on: its steps in later turns
        self.exporter = Exporter(self)
        self.collector = GuiThreadCollector(self)
        self.collector.start()

        self.lab_list = QListWidget()
        self.lab_list.setMaximumWidth(170)
        for name in LAB_NAMES:
            module = get_experiment(name)
            item = QListWidgetItem(module.TITLE)
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(module.SUMMARY)
            self.lab_list.addItem(item)
        self.stack = QStackedWidget()
        splitter = QSplitter()
        splitter.addWidget(self.lab_list)
        splitter.addWidget(self.stack)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([150, 1130])
        self.setCentralWidget(splitter)

        self._build_actions()
        self._build_transport()
        self._build_menus()
        self._build_status()

        self.lab_list.currentRowChanged.connect(self._on_lab_selected)
        # After _on_lab_selected (slots run in the order connected): a lab built while the
        # settings are hidden is shown that way, and a compared lab keeps its layout.
        self.lab_list.currentRowChanged.connect(
            lambda _: self._arrange_compare(share_room=False))
        last = self.settings.value("last_lab", LAB_NAMES[0])
        self.select_lab(last if last in LAB_NAMES else LAB_NAMES[0])

        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)

    # -- building -------------------------------------------------------------------------
    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip or text} ({QKeySequence(shortcut).toString()})" if shortcut else tip or text)
        action.setStatusTip(tip or text)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.run_action = self._action("Run", lambda: self._each("run"), "F5", "Run the experiment")
        self.pause_action = self._action("Pause", lambda: self._each("pause"), "F6", "Pause training")
        self.step_action = self._action("Step", lambda: self._each("step"), "F10", "Advance one step")
        self.reset_action = self._action(
            "Reset", lambda: self._each("reset"), "Ctrl+R",
            "Stop and start over with the current settings")
        self.compare_action = self._action(
            "Compare Two Runs", self.set_compare, "Ctrl+K",
            "Show a second run of this lab beside the first: change one setting in it and "
            "run both together")
        self.compare_action.setCheckable(True)
        # How the two runs share the window (View > Compare Layout), remembered.
        self.compare_layout_group = QActionGroup(self)
        self.compare_layout_actions = {
            SIDE_BY_SIDE: self._action(
                "Side by Side", lambda: self.set_compare_layout(SIDE_BY_SIDE), None,
                "Run B to the right of run A, both with their views only: plots stay tall"),
            STACKED: self._action(
                "Stacked", lambda: self.set_compare_layout(STACKED), None,
                "Run B below run A, each with its settings: wide plots, half as tall"),
            ONE_AT_A_TIME: self._action(
                "One at a Time", lambda: self.set_compare_layout(ONE_AT_A_TIME), None,
                "Run A or run B in the whole window, switched with Ctrl+B; both train"),
        }
        for action in self.compare_layout_actions.values():
            action.setCheckable(True)
            self.compare_layout_group.addAction(action)
        layout = self.settings.value("compare/layout", SIDE_BY_SIDE)
        self.compare_layout_actions.get(layout, self.compare_layout_actions[SIDE_BY_SIDE]
                                        ).setChecked(True)
        self._comparing: set[str] = set()  # labs showing run B
        self._compare_layouts: dict[str, str | None] = {}  # the layout each lab got
        self.other_run_action = self._action(
            "Show the Other Run", lambda: self.run_switch.setCurrentIndex(
                1 - self.run_switch.currentIndex()), "Ctrl+B",
            "Comparing one at a time: switch between run A and run B")
        self.other_run_action.setEnabled(False)
        self.settings_action = self._action(
            "Show Settings", self._on_settings_shown, "Ctrl+E",
            "Show the settings beside each lab's views; hide them to give the plots the room")
        self.settings_action.setCheckable(True)
        self.settings_action.setChecked(True)
        self._settings_hidden_for_compare = False  # by Compare, not by the user
        self._settings_chosen = False  # by the user (Ctrl+E) since Compare was turned on
        # F5 is Run, so presentation mode takes F11 (a full-screen key elsewhere).
        self.presentation_action = self._action(
            "Presentation Mode", self.set_presentation, "F11",
            "Large type and thick lines for a projector, only the views shown (Esc leaves)")
        self.presentation_action.setCheckable(True)
        self.leave_presentation_action = self._action(
            "Leave Presentation Mode", lambda: self.set_presentation(False), "Esc")
        self.leave_presentation_action.setEnabled(False)
        self.toggle_action = self._action("Run/Pause", self.toggle_run, "Ctrl+Space")
        self.open_action = self._action(
            "Open Experiment…", self.open_experiment, QKeySequence.StandardKey.Open
        )
        self.save_action = self._action(
            "Save Experiment…", self.save_experiment, QKeySequence.StandardKey.Save
        )
        self.quit_action = self._action("Quit", self.close, QKeySequence.StandardKey.Quit)
        self.help_action = self._action(
            "What am I looking at?", self.show_lab_help, QKeySequence.StandardKey.HelpContents
        )
        self.about_action = self._action("About vizlab", self.show_about)
        self.screenshot_action = self._action(
            "Save Screenshot…", self.save_screenshot, "Ctrl+Shift+S",
            "Save the lab as a PNG picture")
        self.copy_action = self._action(
            "Copy Picture", self.copy_picture, "Ctrl+Shift+C", "Copy the lab as a picture")
        self.record_action = self._action(
            "Start Recording", self.toggle_recording, "Ctrl+Shift+R",
            "Record the lab as it trains, then save a GIF or APNG")
        self.hires_action = self._action("Pictures at 2x", lambda on: self.settings.setValue(
            "export/scale", 2 if on else 1))
        self.hires_action.setCheckable(True)
        self.hires_action.setChecked(int(self.settings.value("export/scale", 1)) == 2)
        self.caption_action = self._action("Caption Screenshots with Settings", lambda on:
                                           self.settings.setValue("export/caption", bool(on)))
        self.caption_action.setCheckable(True)
        self.caption_action.setChecked(self.settings.value("export/caption", False) in
                                       (True, "true"))
        self.toggle_list_action = self._action("Show Lab List", self._toggle_lab_list, "Ctrl+L")
        self.toggle_list_action.setCheckable(True)
        self.toggle_list_action.setChecked(True)

    def _build_transport(self) -> None:
        bar = QToolBar("Transport")
        bar.setObjectName("transport")
        bar.setMovable(False)
        for action in (self.run_action, self.pause_action, self.step_action, self.reset_action):
            bar.addAction(action)
        bar.addSeparator()
        speed = QWidget()
        row = QHBoxLayout(speed)
        row.setContentsMargins(8, 0, 8, 0)
        row.addWidget(QLabel("Speed"))
        self.speed_slider = QSlider(Qt.Orientation.Horizontal)
        self.speed_slider.setRange(0, len(SPEED_STEPS) - 1)
        self.speed_slider.setValue(len(SPEED_STEPS) - 1)
        self.speed_slider.setFixedWidth(160)
        self.speed_slider.setToolTip("Training steps per second (rightmost: as fast as possible)")
        self.speed_slider.valueChanged.connect(self._on_speed)
        row.addWidget(self.speed_slider)
        self.speed_label = QLabel("max")
        self.speed_label.setMinimumWidth(60)
        row.addWidget(self.speed_label)
        bar.addWidget(speed)
        # Comparing one run at a time: which one is shown.
        self.run_switch = QTabBar()
        self.run_switch.addTab("Run A")
        self.run_switch.addTab("Run B")
        self.run_switch.setToolTip("Show run A or run B (Ctrl+B); both keep training")
        self.run_switch.currentChanged.connect(self._show_run)
        self.run_switch_action = bar.addWidget(self.run_switch)
        self.run_switch_action.setVisible(False)
        self.addToolBar(bar)
        self.transport = bar

    def _build_menus(self) -> None:
        menu = self.menuBar()
        self.file_menu = menu.addMenu("&File")
        self.file_menu.addAction(self.open_action)
        self.file_menu.addAction(self.save_action)
        self.file_menu.addSeparator()
        for action in (self.screenshot_action, self.copy_action, self.record_action):
            self.file_menu.addAction(action)
        self.plot_menu = self.file_menu.addMenu("Export Plot")
        self.plot_menu.aboutToShow.connect(lambda: self.exporter.fill_plot_menu(self.plot_menu))
        self.file_menu.addAction(self.hires_action)
        self.file_menu.addAction(self.caption_action)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.quit_action)
        run_menu = menu.addMenu("&Run")
        for action in (self.run_action, self.pause_action, self.step_action, self.reset_action,
                       self.toggle_action):
            run_menu.addAction(action)
        self.view_menu = menu.addMenu("&View")
        self.view_menu.addAction(self.presentation_action)
        self.view_menu.addAction(self.settings_action)
        self.view_menu.addAction(self.toggle_list_action)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.compare_action)
        self.compare_layout_menu = self.view_menu.addMenu("Compare Layout")
        for action in self.compare_layout_actions.values():
            self.compare_layout_menu.addAction(action)
        self.view_menu.addAction(self.other_run_action)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.about_action)

    def _build_status(self) -> None:
        self.state_label = QLabel("idle")
        self.rate_label = QLabel("0 steps/s")
        self.fps_label = QLabel("0 frames/s")
        for label in (self.rate_label, self.fps_label, self.state_label):
            label.setMinimumWidth(90)
            self.statusBar().addPermanentWidget(label)
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(500)
        self.status_timer.timeout.connect(self._update_status)
        self.status_timer.start()

    # -- labs ---------------------------------------------------------------------------
    @property
    def lab(self) -> LabView:
        page = self.stack.currentWidget()
        return page.widget(0) if page is not None else None

    @property
    def twin(self) -> LabView | None:
        """Run B of the current lab while comparing, else None."""
        lab = self.lab
        if lab is None or not self.compare_action.isChecked():
            return None
        return self.twins.get(lab.lab_name)

    def active_labs(self) -> list[LabView]:
        return [lab for lab in (self.lab, self.twin) if lab is not None]

    def _each(self, method: str) -> None:
        """Apply a transport action to the lab and, when comparing, to its twin."""
        for lab in self.active_labs():
            getattr(lab, method)()

    # -- compare mode ---------------------------------------------------------------------
    def set_compare(self, on: bool) -> None:
        """Show or hide run B: the same lab, seed and data, with settings copied from A."""
        lab = self.lab
        self.compare_action.setChecked(on)
        (self._comparing.add if on else self._comparing.discard)(lab.lab_name)
        twin = self.twins.get(lab.lab_name)
        if on and twin is None:
            twin = view_class(lab.lab_name)(build_in_steps=True)
            self._keep_out_of_full_collections(twin)
            twin.set_speed(SPEED_STEPS[self.speed_slider.value()])
            twin.apply_settings({info.name: getattr(lab.config, info.name)
                                 for info in settings_of(lab.config)})
            self.twins[lab.lab_name] = twin
            # Laid out before it is shown: a window stretched to fit two settings panels
            # would not shrink back when they are hidden.
            twin.hide()
            self.pages[lab.lab_name].addWidget(twin)
            twin.settings_panel.changed.connect(lambda *_: self._show_differences(lab, twin))
            lab.settings_panel.changed.connect(lambda *_: self._show_differences(lab, twin))
            lab.slider.valueChanged.connect(lambda _: self._sync_timeline(lab, twin))
        if on:
            # Run B is laid out in later turns of the event loop than the one that made
            # or asked for it: the settings hidden (run A laid out anew) in one, run B
            # shown in the next, the plots' paints a few a turn after that (together
            # with the click's turn they held the GUI thread for 270-340 ms).
            self._compare_steps_left = 2
            pacer().once(lambda: self._compare_on_step(lab))
            return
        self._compare_steps_left = 0
        self._stop_comparing(lab, twin)

    def _compare_on_step(self, lab: LabView) -> None:
        """The next step of turning Compare on (see set_compare)."""
        if not self._compare_steps_left:  # done already, by finish_compare
            return
        if self.lab is not lab or not self.compare_action.isChecked():
            self._compare_steps_left = 0
            return
        self._compare_steps_left -= 1
        if self._compare_steps_left:
            self._begin_comparing()
            pacer().end_turn()  # run A's new layout is Qt's to do before run B is shown
            pacer().once(lambda: self._compare_on_step(lab))
        else:
            twin = self.twins[lab.lab_name]
            self._arrange_compare()
            self._show_differences(lab, twin)

    def finish_compare(self) -> None:
        """Lay out run B now (for code that needs it on screen at once)."""
        while self._compare_steps_left:
            self._compare_on_step(self.lab)

    def _begin_comparing(self) -> None:
        self._settings_chosen = False
        self._hide_settings_for_side_by_side()
        # One at a time, run B comes first: it is the one to change a setting in.
        self.run_switch.blockSignals(True)
        self.run_switch.setCurrentIndex(1)
        self.run_switch.blockSignals(False)

    def _stop_comparing(self, lab: LabView, twin: LabView | None) -> None:
        if self._settings_hidden_for_compare:
            self._settings_hidden_for_compare = False
            self.settings_action.setChecked(True)
        if twin is not None:
            twin.runner.stop(twin.runner.QUICK_STOP_S)
            self._arrange_compare()
            self._show_differences(lab, twin)

    @property
    def compare_layout(self) -> str:
        """The layout chosen for comparing: SIDE_BY_SIDE, STACKED or ONE_AT_A_TIME."""
        for layout, action in self.compare_layout_actions.items():
            if action.isChecked():
                return layout
        return SIDE_BY_SIDE

    def set_compare_layout(self, layout: str) -> None:
        self.compare_layout_actions[layout].setChecked(True)
        self.settings.setValue("compare/layout", layout)
        if self.twin is not None:
            self._hide_settings_for_side_by_side()
        self._arrange_compare()

    def _hide_settings_for_side_by_side(self) -> None:
        """Beside two settings panels the plots would be slivers: comparing side by side
        starts with the settings hidden (Ctrl+E shows them, one run at a time)."""
        lab, twin = self.lab, self.twin
        if (self.compare_layout == SIDE_BY_SIDE and self.settings_action.isChecked()
                and not self.presentation and twin is not None
                and self._layout_that_fits(lab, twin, settings=False) == SIDE_BY_SIDE):
            self._settings_hidden_for_compare = True
            self.settings_action.setChecked(False)

    def _layout_that_fits(self, lab: LabView, twin: LabView, settings: bool | None = None
                          ) -> str:
        """The chosen compare layout, or ONE_AT_A_TIME when the two runs' views cannot
        both get their minimum size in the window (it would grow off screen) or, side by
        side, a readable width; `settings`: with the settings panels shown (default: as
        they are)."""
        layout = self.compare_layout
        room = self.centralWidget().size()
        if self.lab_list.isVisibleTo(self):
            room.setWidth(room.width() - self.lab_list.width() - 6)
        views = [view.views.minimumSizeHint() for view in (lab, twin)]
        if layout == SIDE_BY_SIDE:
            if settings is None:
                settings = self.settings_action.isChecked() and not self.presentation
            panel = max(max(view.settings_scroll.minimumWidth(),
                            view.settings_scroll.minimumSizeHint().width()) for view in (lab, twin))
            run = max(*(size.width() for size in views), self._readable_views_width())
            need = 2 * (run + (panel if settings else 0) + 12) + 6
            return layout if need <= room.width() else ONE_AT_A_TIME
        if layout == STACKED:
            # each run: its views, a banner and the timeline bar
            need = 2 * (max(size.height() for size in views) + 70) + 6
            return layout if need <= room.height() else ONE_AT_A_TIME
        return layout

    @staticmethod
    def _readable_views_width() -> int:
        """SIDE_BY_SIDE_MIN_VIEWS_WIDTH, grown with the type in presentation mode."""
        theme = _theme()
        if theme is None or not theme.presentation():
            return SIDE_BY_SIDE_MIN_VIEWS_WIDTH
        return round(SIDE_BY_SIDE_MIN_VIEWS_WIDTH * theme.tick_pt() / theme.TICK_PT)

    def _arrange_compare(self, share_room: bool = True) -> None:
        """Lay the current lab's page out for comparing or not; `share_room` gives both
        runs the same room. Side by side, the settings are hidden at first (Ctrl+E shows
        them): beside two settings panels the plots would be slivers."""
        lab = self.lab
        if lab is None:
            return
        name = lab.lab_name
        # _on_lab_selected reads "comparing" from run B's visibility, which one-at-a-time
        # hides: the set of compared labs is the record.
        self.compare_action.setChecked(name in self._comparing)
        twin = self.twin
        page = self.pages[name]
        layout = self._layout_that_fits(lab, twin) if twin is not None else None
        before = self._compare_layouts.get(name)
        self._compare_layouts[name] = layout
        one_at_a_time = layout == ONE_AT_A_TIME
        self.run_switch_action.setVisible(one_at_a_time)
        self.other_run_action.setEnabled(one_at_a_time)
        showing_b = one_at_a_time and self.run_switch.currentIndex() == 1
        # Hidden first and shown last, settings hidden before run B takes room: the
        # window grows to any minimum size it meets on the way, and stays grown.
        shown = {lab: not showing_b}
        if name in self.twins:
            shown[self.twins[name]] = twin is not None and (not one_at_a_time or showing_b)
        for view, visible in shown.items():
            if not visible:
                view.hide()
        self._apply_views_only()
        page.setOrientation(Qt.Orientation.Horizontal if layout == SIDE_BY_SIDE
                            else Qt.Orientation.Vertical)
        for view, visible in shown.items():
            if visible:
                view.show()
        if twin is not None and (share_room or layout != before):
            # Minimum sizes first brought up to date (settings just hidden), or the
            # old ones would bound the shares.
            QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            page.setSizes([10_000, 10_000])  # shared out in proportion: halves
        if layout != before and layout is not None:
            note = COMPARE_NOTES[layout]
            if layout != self.compare_layout:
                why = (f"{self.compare_layout} needs the settings hidden (Ctrl+E)"
                       if self._layout_that_fits(lab, twin, settings=False) != layout
                       else f"{self.compare_layout} needs a bigger window")
                note = f"One run at a time: {why}. {note}"
            self.statusBar().showMessage(note, 8000)

    def _fit_compare(self) -> None:
        """After a resize: side by side if it fits now, with the settings hidden unless
        the user chose to show them; one at a time, with them, if it no longer does."""
        lab, twin = self.lab, self.twin
        if twin is None:
            return
        if not self._settings_chosen:
            if (self.compare_layout == SIDE_BY_SIDE and
                    self._layout_that_fits(lab, twin, settings=False) == SIDE_BY_SIDE):
                self._hide_settings_for_side_by_side()
            elif self._settings_hidden_for_compare:
                self._settings_hidden_for_compare = False
                self.settings_action.setChecked(True)
        self._arrange_compare(share_room=False)

    def _show_run(self, index: int) -> None:
        """One at a time: show run A (0) or run B (1); both keep training."""
        if self.twin is not None:
            self._arrange_compare(share_room=False)

    def _show_differences(self, lab: LabView, twin: LabView) -> None:
        changed = [f"{info.name}={getattr(twin.config, info.name)}"
                   for info in settings_of(lab.config)
                   if getattr(twin.config, info.name) != getattr(lab.config, info.name)]
        if changed:
            text = "Run B differs from run A in: " + ", ".join(changed)
        elif twin.views_only and not self.presentation:
            text = "Run B: same settings as run A. Ctrl+E shows them to change one."
        else:
            text = "Run B: same settings as run A. Change one setting here, then Run both."
        twin.set_banner(text)
        # Run A is named too, so the two runs' views line up. Its banner may be saying
        # that a change waits for Reset: that is left alone.
        if lab.pending_label.isHidden() or lab.pending_label.text() == RUN_A_BANNER:
            lab.set_banner(RUN_A_BANNER if twin.isVisibleTo(self) or self.twin is twin else "")

    @staticmethod
    def _sync_timeline(lab: LabView, twin: LabView) -> None:
        """Scrubbing run A shows run B at the nearest step too."""
        if not lab.timeline.items or not twin.timeline.items or lab.following_live:
            if lab.following_live:
                twin.go_live()
            return
        step = lab.timeline.items[lab.slider.value()].step
        steps = [snap.step for snap in twin.timeline.items]
        twin.slider.setValue(int(min(range(len(steps)), key=lambda i: abs(steps[i] - step))))

    def _keep_out_of_full_collections(self, view: LabView) -> None:
        """A view lives as long as the window: once built, freeze its objects out of
        the garbage collector's full passes (see vizlab/collector.py)."""
        if view.is_built:
            self.collector.freeze_long_lived()
        else:
            view.views_built.connect(self.collector.freeze_long_lived)

    def show_lab(self, name: str) -> LabView:
        """Show a lab as a click on the list does: a new view is built over several
        event-loop turns (its settings exist at once), so the window keeps answering."""
        row = LAB_NAMES.index(name)
        if self.lab_list.currentRow() != row:
            self.lab_list.setCurrentRow(row)  # -> _on_lab_selected
        return self.labs[name]

    def select_lab(self, name: str) -> LabView:
        """Show a lab and return its view with its widgets built (for scripts)."""
        view = self.show_lab(name)
        view.ensure_built()
        return view

    def _on_lab_selected(self, row: int) -> None:
        if row < 0:
            return
        name = LAB_NAMES[row]
        previous = self.lab
        if previous is not None and previous.lab_name != name:
            for lab in self.active_labs():
                lab.pause()
        if name not in self.labs:
            # Built a piece per event-loop turn: the labs with many plots take a few
            # hundred ms of widget building, which must not hold the GUI thread at once.
            view = view_class(name)(build_in_steps=True)
            self._keep_out_of_full_collections(view)
            view.set_speed(SPEED_STEPS[self.speed_slider.value()])
            view.state_changed.connect(self._on_state)
            self.labs[name] = view
            page = QSplitter(Qt.Orientation.Vertical)
            page.setChildrenCollapsible(False)
            page.addWidget(view)
            self.pages[name] = page
            self.stack.addWidget(page)
        self.stack.setCurrentWidget(self.pages[name])
        self.compare_action.setChecked(name in self.twins and self.twins[name].isVisibleTo(self))
        self.settings.setValue("last_lab", name)
        self.setWindowTitle(f"vizlab — {self.labs[name].title}")
        self._on_state(self.labs[name].runner.state)

    def toggle_run(self) -> None:
        if self.lab.runner.is_running:
            self.lab.pause()
        else:
            self.lab.run()

    def _on_speed(self, position: int) -> None:
        rate = SPEED_STEPS[position]
        self.speed_label.setText("max" if rate is None else f"{rate}/s")
        for view in [*self.labs.values(), *self.twins.values()]:
            view.set_speed(rate)

    def _on_state(self, state: str) -> None:
        self.state_label.setText(self.lab.runner.state if self.lab else state)
        running = self.lab.runner.is_running
        self.run_action.setEnabled(not running)
        self.pause_action.setEnabled(running)

    def _update_status(self) -> None:
        lab = self.lab
        if lab is None:
            return
        now = time.monotonic()
        then, frames = self._frames_at
        fps = (lab.frames_drawn - frames) / (now - then) if now > then else 0.0
        self._frames_at = (now, lab.frames_drawn)
        self.rate_label.setText(f"{lab.training_steps_per_second():.0f} steps/s")
        recording = next(filter(None, map(self.exporter.recording_status,
                                          self.active_labs())), None)
        if recording is not None:
            self.statusBar().showMessage(recording)
        self.fps_label.setText(f"{max(fps, 0):.0f} frames/s")
        self.state_label.setText(lab.runner.state)

    def _toggle_lab_list(self, shown: bool) -> None:
        self.lab_list.setVisible(shown and not self.presentation)

    # -- presentation mode and settings panels ------------------------------------------------
    @property
    def presentation(self) -> bool:
        return self.presentation_action.isChecked()

    def set_presentation(self, on: bool) -> None:
        """Presentation mode: large type and thick lines (the widgets' theme), only the
        labs' views (no settings, timeline bar, lab list or status bar). Labs and runs B
        built while it is on are built that way too."""
        on = bool(on)
        self.presentation_action.setChecked(on)
        self.leave_presentation_action.setEnabled(on)
        theme = _theme()
        if theme is not None:
            theme.set_presentation(on)
        self.lab_list.setVisible(not on and self.toggle_list_action.isChecked())
        self.statusBar().setVisible(not on)
        self._arrange_compare(share_room=False)  # the room changed, and the type
        if on:
            log.info("presentation mode: Esc leaves it")

    def _on_settings_shown(self, shown: bool) -> None:
        self._settings_hidden_for_compare = False  # the user's choice from now on
        self._settings_chosen = True
        self._arrange_compare(share_room=False)  # side by side may fit now, or not

    def _apply_views_only(self, *_) -> None:
        """Hide or show the settings panel of every lab and run B built so far."""
        hidden = self.presentation or not self.settings_action.isChecked()
        for view in [*self.labs.values(), *self.twins.values()]:
            if view.views_only != hidden:
                view.set_views_only(hidden)
                # The layouts cache minimum sizes: told now, the window does not first
                # grow to the size the view had with its settings.
                view.settings_scroll.parentWidget().updateGeometry()
                view.layout().invalidate()
        lab = self.lab
        if lab is not None and self.twin is not None:
            self._show_differences(lab, self.twin)

    # -- files, pictures and recordings (vizlab/app_files.py, vizlab/app_export.py) -------
    def save_experiment(self, path: str | None = None) -> bool:
        """Save the lab's settings and weights (File > Save asks where; a path skips that)."""
        return self.files.save(path)

    def open_experiment(self, path: str | None = None) -> bool:
        """File > Open: the file is read off the GUI thread, then shown (see files.busy)."""
        return self.files.open(path)

    def load_experiment_file(self, path: str) -> bool:
        """Load a saved experiment into its lab; a bad file changes nothing and says why."""
        return self.files.load(path)

    @property
    def export_scale(self) -> int:
        return self.exporter.scale

    def save_screenshot(self, path: str | None = None) -> bool:
        return self.exporter.save_screenshot(path)

    def copy_picture(self) -> None:
        self.exporter.copy_picture()

    def export_plot(self, plot, kind: str, title: str = "plot", path: str | None = None) -> bool:
        return self.exporter.export_plot(plot, kind, title, path)

    def toggle_recording(self) -> None:
        self.exporter.toggle_recording()

    def start_recording(self) -> None:
        self.exporter.start_recording()

    def stop_recording(self, path: str | None = None, fps: int = 10) -> bool:
        """Stop capturing and write the frames as a GIF (or APNG by extension)."""
        return self.exporter.stop_recording(path, fps)

    # -- help -----------------------------------------------------------------------------
    def show_lab_help(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle(f"What am I looking at? — {self.lab.title}")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(self.lab.help_html)
        box.show()
        self.help_box = box

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About vizlab",
            "<b>vizlab</b><br>A desktop lab for seeing how neural networks learn, "
            "on its own small numpy autodiff engine.",
        )

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        # A window made bigger may now fit the runs side by side (or smaller, no longer):
        # looked at once the resizing pauses.
        if self.twin is not None:
            self._relayout_timer.start()

    # -- closing ---------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.settings.setValue("geometry", self.saveGeometry())
        self.shutdown_labs()
        super().closeEvent(event)

    def shutdown_labs(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """End every lab's run and preview and every child process, in parallel: all are
        told first, then all are waited for, so closing costs the slowest, not the sum."""
        deadline = time.monotonic() + timeout
        views = [*self.labs.values(), *self.twins.values()]
        for view in views:
            view.begin_shutdown()
        self.files.reader.cancel()
        child.stop_children(timeout / 2)
        for view in views:
            if not view.shutdown(max(0.0, deadline - time.monotonic())):
                log.warning("the %s lab's thread did not end in time", view.lab_name)
        if not self.files.reader.shutdown(max(0.0, deadline - time.monotonic())):
            log.warning("the file being opened was still being read at close")
        child.shutdown(max(0.05, deadline - time.monotonic()))
        # Collect what the closed views leave in reference cycles now, on the GUI thread:
        # a collection that runs later on a worker thread would delete Qt widgets there.
        self.collector.stop()


def _theme():
    """vizlab.widgets.theme, or None in a build without it (presentation mode then only
    hides the settings)."""
    try:
        from vizlab.widgets import theme
    except ImportError:
        return None
    return theme


def run_app(argv: list[str] | None = None, presentation: bool = False) -> int:
    """Open the main window and run the Qt event loop until it closes; `presentation`
    (or `--presentation` among argv) opens it in presentation mode."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(argv if argv is not None else sys.argv)
    if "--presentation" in argv:
        argv.remove("--presentation")
        presentation = True
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("vizlab")
    app.setOrganizationName("vizlab")
    window = MainWindow()
    if presentation:
        window.set_presentation(True)
    window.show()
    code = app.exec()
    child.shutdown()  # whatever the way out, leave no helper process behind
    return code
