"""Long GUI-thread work in slices, so the window keeps answering while it runs.

Widgets can only be built on the GUI thread, and building a lab (a dozen plots) takes
a few hundred milliseconds. Inside ``sliced()``, each ``checkpoint()`` (one per plot
built) lets the event loop run whenever the current slice has lasted ``SLICE_S``:
timers fire and frames are drawn, while user input waits until the work is done.
Outside ``sliced()`` a checkpoint does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QCoreApplication, QEventLoop

SLICE_S = 0.03

_deadline: float | None = None


@contextmanager
def sliced() -> Iterator[None]:
    """Let checkpoints inside this block run the event loop between slices of work."""
    global _deadline
    outer = _deadline
    _deadline = time.monotonic() + SLICE_S
    try:
        yield
    finally:
        _deadline = outer


def checkpoint() -> None:
    """Run pending events (not user input) if the current slice is used up."""
    global _deadline
    if _deadline is None or time.monotonic() < _deadline:
        return
    # Work started by the events run here is not sliced: no slicing within slicing.
    _deadline = None
    try:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    finally:
        _deadline = time.monotonic() + SLICE_S
