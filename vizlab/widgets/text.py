"""Text under and beside the plots: a selectable, word-wrapped rich-text note."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QWidget

# Events after which a wrapped label's heights must be measured again.
_RELAYOUT_EVENTS = (QEvent.Type.FontChange, QEvent.Type.StyleChange,
                    QEvent.Type.ContentsRectChange)


class WrappedLabel(QLabel):
    """A word-wrapped label that remembers its height at each width.

    Qt lays a wrapped label's text out anew on every heightForWidth() call, and one
    layout pass asks each label many times: with 18 such labels a pass over the Dropout
    lab (Compare on or off, a resize) took 50 ms longer than with plain ones.
    """

    MAX_REMEMBERED = 64

    def __init__(self, text: str = "", parent: QWidget | None = None, *,
                 steady: bool = False) -> None:
        super().__init__(text, parent)
        self._heights: dict[int, int] = {}
        # A steady label's height at a width only grows until release_height(): a line
        # of numbers redrawn every frame is 52 px tall with one text and 53 with the
        # next (bold, other glyphs), and each flip re-lays and repaints every plot
        # around it.
        self._steady = steady
        self._tallest: dict[int, int] = {}
        self.setWordWrap(True)

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt's name
        height = self._heights.get(width)
        if height is None:
            if len(self._heights) >= self.MAX_REMEMBERED:
                self._heights.clear()
            height = self._heights[width] = super().heightForWidth(width)
        if self._steady:
            if len(self._tallest) >= self.MAX_REMEMBERED:
                self._tallest.clear()
            height = self._tallest[width] = max(height, self._tallest.get(width, 0))
        return height

    def release_height(self) -> None:
        """Let a steady label take the height of its text again (a new run begins)."""
        if self._tallest:
            self._tallest.clear()
            self.updateGeometry()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        if text != self.text():
            self._heights.clear()
            super().setText(text)

    def setTextFormat(self, text_format: Qt.TextFormat) -> None:  # noqa: N802 - Qt's name
        self._heights.clear()
        super().setTextFormat(text_format)

    def setMargin(self, margin: int) -> None:  # noqa: N802 - Qt's name
        self._heights.clear()
        super().setMargin(margin)

    def setIndent(self, indent: int) -> None:  # noqa: N802 - Qt's name
        self._heights.clear()
        super().setIndent(indent)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        if event.type() in _RELAYOUT_EVENTS:
            self._heights.clear()
            self._tallest.clear()
        super().changeEvent(event)


def note_label() -> QLabel:
    """A label for a lab's explanatory line of numbers (rich text, selectable, wrapped,
    steady in height while the numbers change)."""
    label = WrappedLabel(steady=True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("padding: 2px 6px;")
    return label
