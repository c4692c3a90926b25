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

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
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
    QToolBar,
    QWidget,
)

from engine.experiments import get as get_experiment
from engine.experiments import settings_of
from vizlab import child
from vizlab.app_export import Exporter
from vizlab.app_files import ExperimentFiles
from vizlab.labs import LAB_NAMES, view_class
from vizlab.labs.base import LabView

log = logging.getLogger(__name__)

# Speed slider positions map to steps per second on a log scale; the last is "as fast
# as it goes".
SPEED_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, None)
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
        self.exporter = Exporter(self)

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
            "Show a second run of this lab below the first: change one setting in it and "
            "run both side by side")
        self.compare_action.setCheckable(True)
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
        self.view_menu.addAction(self.toggle_list_action)
        self.view_menu.addAction(self.compare_action)
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
        twin = self.twins.get(lab.lab_name)
        if on and twin is None:
            twin = view_class(lab.lab_name)()
            twin.set_speed(SPEED_STEPS[self.speed_slider.value()])
            twin.apply_settings({info.name: getattr(lab.config, info.name)
                                 for info in settings_of(lab.config)})
            self.twins[lab.lab_name] = twin
            self.pages[lab.lab_name].addWidget(twin)
            twin.settings_panel.changed.connect(lambda *_: self._show_differences(lab, twin))
            lab.settings_panel.changed.connect(lambda *_: self._show_differences(lab, twin))
            lab.slider.valueChanged.connect(lambda _: self._sync_timeline(lab, twin))
        if twin is not None:
            if not on:
                twin.runner.stop(twin.runner.QUICK_STOP_S)
            twin.setVisible(on)
            self._show_differences(lab, twin)

    def _show_differences(self, lab: LabView, twin: LabView) -> None:
        changed = [f"{info.name}={getattr(twin.config, info.name)}"
                   for info in settings_of(lab.config)
                   if getattr(twin.config, info.name) != getattr(lab.config, info.name)]
        twin.set_banner(
            "Run B differs from run A in: " + ", ".join(changed) if changed else
            "Run B: same settings as run A. Change one setting here, then Run both.")

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

    def select_lab(self, name: str) -> LabView:
        row = LAB_NAMES.index(name)
        if self.lab_list.currentRow() != row:
            self.lab_list.setCurrentRow(row)  # -> _on_lab_selected
        return self.labs[name]

    def _on_lab_selected(self, row: int) -> None:
        if row < 0:
            return
        name = LAB_NAMES[row]
        previous = self.lab
        if previous is not None and previous.lab_name != name:
            for lab in self.active_labs():
                lab.pause()
        if name not in self.labs:
            view = view_class(name)()
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
        recording = self.exporter.recording_status(lab)
        if recording is not None:
            self.statusBar().showMessage(recording)
        self.fps_label.setText(f"{max(fps, 0):.0f} frames/s")
        self.state_label.setText(lab.runner.state)

    def _toggle_lab_list(self, shown: bool) -> None:
        self.lab_list.setVisible(shown)

    # -- files, pictures and recordings (vizlab/app_files.py, vizlab/app_export.py) -------
    def save_experiment(self, path: str | None = None) -> bool:
        """Save the lab's settings and weights (File > Save asks where; a path skips that)."""
        return self.files.save(path)

    def open_experiment(self, path: str | None = None) -> bool:
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
        child.stop_children(timeout / 2)
        for view in views:
            if not view.shutdown(max(0.0, deadline - time.monotonic())):
                log.warning("the %s lab's thread did not end in time", view.lab_name)
        child.shutdown(max(0.05, deadline - time.monotonic()))


def run_app(argv: list[str] | None = None) -> int:
    """Open the main window and run the Qt event loop until it closes."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("vizlab")
    app.setOrganizationName("vizlab")
    window = MainWindow()
    window.show()
    code = app.exec()
    child.shutdown()  # whatever the way out, leave no helper process behind
    return code
