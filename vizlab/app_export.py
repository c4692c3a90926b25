"""The main window's pictures and recordings of the current lab: File > Save Screenshot,
Copy Picture, Export Plot (PNG, SVG, CSV) and Start / Stop Recording (GIF or APNG).

Pictures are taken at 1x or 2x ("Pictures at 2x") and may carry a caption of the run's
settings ("Caption Screenshots with Settings"); both choices are the window's actions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox

from vizlab.app_files import last_folder, remember_folder
from vizlab.labs.base import LabView

if TYPE_CHECKING:
    from vizlab.app import MainWindow


class Exporter:
    """Saves and copies pictures of the current lab, exports its plots, and records it."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window

    @property
    def scale(self) -> int:
        return 2 if self.window.hires_action.isChecked() else 1

    def _shown_runs(self) -> list[LabView]:
        """The runs on screen: the lab, run B beside it when comparing, or the one shown
        when comparing one at a time."""
        return [view for view in self.window.active_labs() if view.isVisibleTo(self.window)]

    def _picture_source(self):
        """What a picture shows: the lab, or both runs when both are on screen."""
        runs = self._shown_runs()
        for run in runs or [self.window.lab]:
            run.finish_drawing()  # a picture shows the whole snapshot
        if len(runs) == 2:
            return self.window.pages[runs[0].lab_name]
        return runs[0] if runs else self.window.lab

    def _caption(self) -> str | None:
        if not self.window.caption_action.isChecked():
            return None
        runs = self._shown_runs() or [self.window.lab]
        caption = runs[0].caption()
        twin = self.window.twin
        if twin is not None and twin.pending_label.text():
            caption += ". " + twin.pending_label.text()
        return caption

    def _ask_path(self, title: str, name: str, filters: str) -> str:
        settings = self.window.settings
        path, _ = QFileDialog.getSaveFileName(
            self.window, title, str(Path(last_folder(settings, "export")) / name), filters)
        if path:
            remember_folder(settings, "export", path)
        return path

    def _say(self, text: str, ms: int = 5000) -> None:
        self.window.statusBar().showMessage(text, ms)

    # -- pictures ---------------------------------------------------------------------------
    def save_screenshot(self, path: str | None = None) -> bool:
        from vizlab import export

        lab = self.window.lab
        path = path or self._ask_path("Save screenshot", f"{lab.lab_name}.png",
                                      "PNG pictures (*.png)")
        if not path:
            return False
        try:
            export.save_screenshot(self._picture_source(), path, scale=self.scale,
                                   caption=self._caption())
        except export.ExportError as exc:
            QMessageBox.warning(self.window, "Could not save the screenshot", str(exc))
            return False
        self._say(f"Saved {path}")
        return True

    def copy_picture(self) -> None:
        from vizlab import export

        export.copy_to_clipboard(self._picture_source(), scale=self.scale,
                                 caption=self._caption())
        self._say("Copied the lab as a picture", 3000)

    def fill_plot_menu(self, menu: QMenu) -> None:
        """One entry per visible plot of the lab and file kind (File > Export Plot)."""
        menu.clear()
        for plot in (self._shown_runs() or [self.window.lab])[0].plots():
            title = plot.plot_item.titleLabel.text or type(plot).__name__
            for kind in ("png", "svg", "csv"):
                action = menu.addAction(f"{title} as {kind.upper()}…")
                action.triggered.connect(
                    lambda _=False, p=plot, k=kind, t=title: self.export_plot(p, k, t))

    def export_plot(self, plot, kind: str, title: str = "plot", path: str | None = None) -> bool:
        from vizlab import export

        safe = "".join(c if c.isalnum() else "_" for c in title).strip("_").lower() or "plot"
        path = path or self._ask_path(f"Export {title}", f"{safe}.{kind}",
                                      f"{kind.upper()} files (*.{kind})")
        if not path:
            return False
        try:
            export.export_plot(plot.plot_item, path, scale=self.scale)
        except export.ExportError as exc:
            QMessageBox.warning(self.window, "Could not export the plot", str(exc))
            return False
        self._say(f"Saved {path}")
        return True

    # -- recordings -------------------------------------------------------------------------
    def _recording_run(self) -> LabView:
        """The run being recorded, else the one a recording would be of."""
        runs = self.window.active_labs()
        recording = [view for view in runs if view.recorder is not None]
        return (recording or self._shown_runs() or [self.window.lab])[0]

    def toggle_recording(self) -> None:
        if self._recording_run().recorder is None:
            self.start_recording()
        else:
            self.stop_recording()

    def start_recording(self) -> None:
        from vizlab import export

        lab = self._recording_run()
        lab.recorder = export.Recorder()
        lab.record_scale = self.scale
        self.window.record_action.setText("Stop Recording…")
        self._say("Recording: every frame drawn is kept. Stop with Ctrl+Shift+R.")

    def stop_recording(self, path: str | None = None, fps: int = 10) -> bool:
        """Stop capturing and write the frames as a GIF (or APNG by extension); no path:
        ask where and at what frame rate."""
        from vizlab import export

        window, lab = self.window, self._recording_run()
        recorder, lab.recorder = lab.recorder, None
        window.record_action.setText("Start Recording")
        if recorder is None:
            return False
        try:
            if recorder.frame_count == 0:
                QMessageBox.information(window, "Nothing recorded",
                                        "No frames were drawn while recording: press Run first.")
                return False
            if path is None:
                path = self._ask_path(
                    "Save recording", f"{lab.lab_name}.gif",
                    "Animated GIF (*.gif);;Animated PNG (*.apng *.png)")
                if not path:
                    return False
                fps, ok = QInputDialog.getInt(
                    window, "Frame rate", f"{recorder.frame_count} frames recorded. "
                    "Frames per second in the animation:",
                    int(window.settings.value("export/fps", fps)), 1, 60)
                if not ok:
                    return False
                window.settings.setValue("export/fps", fps)
            done = export.run_with_progress(
                window, "Encoding the recording",
                lambda progress: recorder.write(path, fps=fps, progress=progress))
        except export.ExportError as exc:
            QMessageBox.warning(window, "Could not save the recording", str(exc))
            return False
        finally:
            recorder.close()
        if done:
            self._say(f"Saved {path} ({recorder.frame_count} frames)")
        return bool(done)

    @staticmethod
    def recording_status(lab: LabView) -> str | None:
        """The status bar's line while the lab records, else None."""
        recorder = lab.recorder
        if recorder is None:
            return None
        if recorder.is_full:
            return f"Recording full ({recorder.full_reason}): stop it to save (Ctrl+Shift+R)."
        return f"Recording: {recorder.frame_count} frames"
