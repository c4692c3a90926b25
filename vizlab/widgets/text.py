"""Text under and beside the plots: a selectable, word-wrapped rich-text note."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


def note_label() -> QLabel:
    """A label for a lab's explanatory line of numbers (rich text, selectable, wrapped)."""
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("padding: 2px 6px;")
    return label
