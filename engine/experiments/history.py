"""Append-only history of per-step numbers, shared cheaply by every snapshot.

A snapshot of step n carries the curves up to step n. Copying whole curves into every
snapshot would cost O(steps) per snapshot and O(steps^2) for a timeline of snapshots,
so instead rows are appended to a growing buffer and each snapshot takes read-only
views of the rows written so far. Rows already written never change, so a view stays
correct after later appends (when the buffer grows, old views keep the old buffer).
"""

from __future__ import annotations

import numpy as np


class History:
    """Named float columns of equal length, appended row by row."""

    def __init__(self, columns: dict[str, int], capacity: int = 1024) -> None:
        """`columns` maps a name to its width (1 for a scalar per step, n for n values)."""
        self._widths = dict(columns)
        self._buffers = {
            name: np.full((capacity, width), np.nan, dtype=np.float64)
            for name, width in self._widths.items()
        }
        self.length = 0

    def append(self, **row) -> None:
        if self.length == len(next(iter(self._buffers.values()))):
            self._grow()
        for name, buffer in self._buffers.items():
            value = row.get(name, np.nan)
            buffer[self.length] = value
        self.length += 1

    def _grow(self) -> None:
        for name, buffer in self._buffers.items():
            bigger = np.full((2 * len(buffer), buffer.shape[1]), np.nan, dtype=np.float64)
            bigger[: len(buffer)] = buffer
            self._buffers[name] = bigger

    def view(self) -> dict[str, np.ndarray]:
        """Read-only views of the rows so far: 1-D for scalar columns, 2-D otherwise."""
        views = {}
        for name, buffer in self._buffers.items():
            part = buffer[: self.length]
            if self._widths[name] == 1:
                part = part[:, 0]
            part = part.view()
            part.flags.writeable = False
            views[name] = part
        return views
