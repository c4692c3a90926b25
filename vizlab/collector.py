"""Python's cyclic garbage collector, run on the GUI thread only, and kept cheap there.

Two reasons not to leave it to Python while a window is open. A collection runs on
whichever thread happens to allocate: one that ran on a worker thread deleted Qt widgets
there and deadlocked. And a full collection walks every live object: with all labs open
that is about 170,000 objects and 80-90 ms on a quiet two-core machine, twice that on a
loaded one, a visible stall every time Python decides to do one.

So while a window is open automatic collection is off, and a timer on the GUI thread
collects what Python would have (the same generation thresholds). A lab's views live
as long as the window, so once a lab is built its objects are frozen (`gc.freeze`) out
of later full collections, which then walk only what was made since. Closing the last
window unfreezes them, collects everything, and turns automatic collection back on.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

# How often the timer looks at the allocation counts.
CHECK_INTERVAL_MS = 250
# Full collections at most this often, however fast objects are made: each walks every
# object not frozen. (Python itself defers them until the survivors grow by a quarter.)
MIN_FULL_INTERVAL_S = 10.0

_windows_open = 0
_enabled_before = True


class GuiThreadCollector(QObject):
    """Collects garbage from a timer on the thread that made it (the GUI thread)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self._last_full = time.monotonic()
        self._started = False
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_INTERVAL_MS)
        self.timer.timeout.connect(self.collect_due)

    def start(self) -> None:
        global _windows_open, _enabled_before
        if self._started:
            return
        self._started = True
        if _windows_open == 0:
            _enabled_before = gc.isenabled()
            gc.disable()
        _windows_open += 1
        self.timer.start()

    def stop(self) -> None:
        """Stop collecting here, and collect everything now, frozen objects included (a
        closed window's views are among them); the last window turns Python's own
        collection back on."""
        global _windows_open
        self.timer.stop()
        if self._started:
            self._started = False
            _windows_open -= 1
        gc.unfreeze()
        gc.collect()
        if _windows_open == 0 and _enabled_before:
            gc.enable()

    def collect_due(self) -> int:
        """Collect as Python's own collector would once the youngest generation is full:
        the oldest generation whose count passed its threshold. Returns the generation
        collected, or -1 for none."""
        counts = gc.get_count()
        if counts[0] <= self.thresholds[0]:
            return -1
        generation = max(index for index, (count, threshold)
                         in enumerate(zip(counts, self.thresholds))
                         if index == 0 or count > threshold)
        if generation == 2:
            if time.monotonic() - self._last_full < MIN_FULL_INTERVAL_S:
                generation = 1
            else:
                self._last_full = time.monotonic()
        gc.collect(generation)
        return generation

    def freeze_long_lived(self) -> None:
        """Take what exists now (a lab just built, the window) out of later full
        collections: young garbage is collected first so little of it is kept."""
        gc.collect(1)
        gc.freeze()
