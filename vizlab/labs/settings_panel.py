"""The settings form of a lab: one control per setting of the experiment's Config, built
from the settings' metadata and checked by the experiment's own rules."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.experiments.settings import SettingError, SettingInfo, apply_settings, settings_of
from vizlab.widgets.text import WrappedLabel


class SettingsPanel(QWidget):
    """A form with one control per experiment setting, built from the Config's metadata.

    Edits are validated by the experiment's own rules; a refused value shows a message
    and the control returns to the last good value.
    """

    changed = Signal(str, object)  # setting name, new value

    def __init__(self, config: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.controls: dict[str, QWidget] = {}
        self.infos = {info.name: info for info in settings_of(config)}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for info in self.infos.values():
            control = self._make_control(info)
            tip = info.help + (
                "\nApplies at the next step, even while training." if info.live
                else "\nApplies when you press Reset."
            )
            control.setToolTip(tip)
            label = QLabel(info.name.replace("_", " "))
            label.setToolTip(tip)
            form.addRow(label, control)
            self.controls[info.name] = control
        self.message = WrappedLabel()
        self.message.setStyleSheet("color: #b00020;")
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addStretch(1)

    def _make_control(self, info: SettingInfo) -> QWidget:
        value = getattr(self.config, info.name)
        if info.type is bool:
            box = QCheckBox()
            box.setChecked(bool(value))
            box.toggled.connect(lambda on, n=info.name: self._commit(n, on))
            return box
        if info.choices and info.type is str:
            combo = QComboBox()
            combo.addItems([str(c) for c in info.choices])
            combo.setCurrentText(str(value))
            combo.currentTextChanged.connect(lambda text, n=info.name: self._commit(n, text))
            return combo
        if info.type is int:
            spin = QSpinBox()
            spin.setRange(int(info.low if info.low is not None else -10**9),
                          int(info.high if info.high is not None else 10**9))
            spin.setValue(int(value))
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda v, n=info.name: self._commit(n, v))
            return spin
        if info.type is float:
            spin = QDoubleSpinBox()
            spin.setDecimals(6 if info.log_scale else 4)
            spin.setRange(info.low if info.low is not None else -1e9,
                          info.high if info.high is not None else 1e9)
            spin.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
            spin.setValue(float(value))
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda v, n=info.name: self._commit(n, v))
            return spin
        edit = QLineEdit(as_text(value))
        edit.editingFinished.connect(lambda n=info.name, e=edit: self._commit(n, e.text()))
        if info.name.endswith("_path"):
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(edit, 1)
            # A tool button is as wide as its "…"; a push button took 80 px of the
            # panel's width (the Style lab's views lost them at 1024x640).
            browse = QToolButton()
            browse.setText("…")
            browse.setToolTip("Choose a file")
            browse.clicked.connect(lambda _=False, n=info.name, e=edit: self._browse(n, e))
            h.addWidget(browse)
            row.edit = edit  # type: ignore[attr-defined]
            return row
        return edit

    def _browse(self, name: str, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Choose {name.replace('_', ' ')}")
        if path:
            edit.setText(path)
            self._commit(name, path)

    def _commit(self, name: str, value: Any) -> None:
        try:
            apply_settings(self.config, {name: value})
        except SettingError as exc:
            self.show_message(str(exc))
            self.refresh(name)
            return
        self.message.hide()
        self.changed.emit(name, getattr(self.config, name))

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def refresh(self, name: str | None = None) -> None:
        """Show the config's current values in the controls (after load or a refused edit)."""
        for key in [name] if name else list(self.controls):
            control = self.controls[key]
            value = getattr(self.config, key)
            control.blockSignals(True)
            try:
                if isinstance(control, QCheckBox):
                    control.setChecked(bool(value))
                elif isinstance(control, QComboBox):
                    control.setCurrentText(str(value))
                elif isinstance(control, QSpinBox | QDoubleSpinBox):
                    control.setValue(value)
                elif isinstance(control, QLineEdit):
                    control.setText(as_text(value))
                elif hasattr(control, "edit"):
                    control.edit.setText(as_text(value))
            finally:
                control.blockSignals(False)


def as_text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


__all__ = ["SettingsPanel", "as_text"]
