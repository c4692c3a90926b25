"""A page of a lab's views that hears of its own resizes."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


class ResizeAware(QWidget):
    """A page that calls ``on_resize`` after each of its resizes (a lab sharing out its
    columns, or fitting its notes, to the room it has)."""

    def __init__(self, on_resize) -> None:
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._on_resize()
