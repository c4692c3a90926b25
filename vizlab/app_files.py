"""The main window's experiment files: File > Save / Open Experiment, and the folders
last used for files, remembered in the window's QSettings.

File > Open reads and checks the file on a worker thread (a big file's weights are
checked against a network built for them): the window keeps answering meanwhile.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog, QMessageBox

from engine.experiments import settings_of
from vizlab.labs.base import LabView
from vizlab.runner import Previewer

if TYPE_CHECKING:
    from vizlab.app import MainWindow


def last_folder(settings: QSettings, key: str) -> str:
    """The folder last used for `key` ("experiments", "export"), else the home folder."""
    return str(settings.value(f"folders/{key}", str(Path.home())))


def remember_folder(settings: QSettings, key: str, path: str) -> None:
    settings.setValue(f"folders/{key}", str(Path(path).parent))


def what_to_save(lab: LabView) -> tuple[Any, Any]:
    """Settings and the snapshot whose weights go with them.

    A run's weights fit the settings it was started with: edits that wait for Reset
    are left out (saved with them, the file could not be opened). A preview gives its
    weights only when it was computed for the current settings (one still coming, or
    made before a setting that shapes the network changed, gives none).
    """
    config = copy.deepcopy(lab.config)
    if lab.timeline.items and lab.run_config is not None:
        for info in settings_of(config):
            if not info.live:
                setattr(config, info.name, getattr(lab.run_config, info.name))
        return config, lab.last_snapshot
    shown = lab.preview_config
    if lab.preview_pending or shown is None or any(
            getattr(shown, info.name) != getattr(config, info.name)
            for info in settings_of(config) if not info.live):
        return config, None
    return config, lab.last_snapshot


class ExperimentFiles:
    """Saves the current lab's settings and weights and opens saved ones into their lab;
    failures are shown in a message box and change nothing."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        # Reads one file at a time off the GUI thread; opening another drops the first.
        self.reader = Previewer(window, name="open-experiment")
        self.reader.ready.connect(self._show_opened)
        self.reader.failed.connect(lambda message, _details: self._refuse(message))

    @property
    def busy(self) -> bool:
        """True while a file being opened is read."""
        return self.reader.busy

    def save(self, path: str | None = None) -> bool:
        """Save the lab's settings and weights (no path: ask where)."""
        from engine.experiments import files

        window, lab = self.window, self.window.lab
        if not path:
            path, _ = QFileDialog.getSaveFileName(
                window, "Save experiment",
                str(Path(last_folder(window.settings, "experiments")) / f"{lab.lab_name}.vizlab"),
                "vizlab experiments (*.vizlab)",
            )
            if not path:
                return False
        remember_folder(window.settings, "experiments", path)
        config, snapshot = what_to_save(lab)
        try:
            files.save_experiment(path, lab.lab_name, config, snapshot)
        except (OSError, ValueError) as exc:
            QMessageBox.warning(window, "Could not save", str(exc))
            return False
        window.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def open(self, path: str | None = None) -> bool:
        """Open a saved experiment (no path: ask which). It is read off the GUI thread
        and shown when read: returns whether reading began."""
        from engine.experiments import files

        window = self.window
        if not path:
            path, _ = QFileDialog.getOpenFileName(
                window, "Open experiment", last_folder(window.settings, "experiments"),
                "vizlab experiments (*.vizlab);;All files (*)",
            )
            if not path:
                return False
        remember_folder(window.settings, "experiments", path)
        window.statusBar().showMessage(f"Opening {path}…")
        self.reader.request(lambda _cancelled: (path, files.load_experiment(path)))
        return True

    def load(self, path: str) -> bool:
        """Load a saved experiment into its lab now; a bad file changes nothing and says
        why (for scripts and tests; the menu's Open reads on a worker thread)."""
        from engine.experiments import files

        try:
            saved = files.load_experiment(path)
        except (OSError, ValueError) as exc:
            self._refuse(str(exc))
            return False
        self._show_opened((path, saved))
        return True

    def _refuse(self, message: str) -> None:
        self.window.statusBar().clearMessage()
        QMessageBox.warning(self.window, "Could not open experiment", message)

    def _show_opened(self, read: tuple[str, Any]) -> None:
        path, saved = read
        window = self.window
        lab = window.show_lab(saved.lab)  # built in steps: opening costs no long freeze
        lab.reset()
        lab.apply_settings(saved.settings)
        lab.restore_state = saved.state
        window.statusBar().showMessage(
            f"Opened {path}: press Run to continue from step {saved.step}", 8000)
