"""Append-only histories of per-step numbers, shared cheaply by every snapshot, and their
deltas across a process boundary.

A snapshot of step n carries the curves up to step n. Copying whole curves into every
snapshot would cost O(steps) per snapshot and O(steps^2) for a timeline of snapshots,
so instead rows are appended to a growing buffer and each snapshot takes read-only
views of the rows written so far (a `HistoryView`). Rows already written never change,
so a view stays correct after later appends (when the buffer grows, old views keep the
old buffer).

A snapshot that crosses to another process would carry its whole histories each time;
`HistoryEncoder` (the sender) replaces every `HistoryView` field of a snapshot, whatever
it is called, by the rows the receiver has not seen yet, and `HistoryDecoder` (the
receiver) appends them to a `History` of its own and puts its views back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


class HistoryView(dict):
    """Read-only views of a History's rows so far, by column name: what snapshots hold.
    Its type marks a growing history, so deltas find it whatever the field is called."""

    @property
    def length(self) -> int:
        return len(next(iter(self.values()))) if self else 0


class History:
    """Named float columns of equal length, appended row by row (or block by block)."""

    def __init__(self, columns: dict[str, int], capacity: int = 1024) -> None:
        """`columns` maps a name to its width (1 for a scalar per step, n for n values)."""
        self._widths = dict(columns)
        capacity = max(int(capacity), 1)
        self._buffers = {
            name: np.full((capacity, width), np.nan, dtype=np.float64)
            for name, width in self._widths.items()
        }
        self.length = 0

    @classmethod
    def like(cls, rows: dict[str, np.ndarray]) -> History:
        """An empty history with the columns of `rows` (1-D rows: width 1)."""
        return cls({name: 1 if np.ndim(block) == 1 else np.shape(block)[1]
                    for name, block in rows.items()}, capacity=max(64, 2 * _rows(rows)))

    def append(self, **row) -> None:
        self._reserve(1)
        for name, buffer in self._buffers.items():
            buffer[self.length] = row.get(name, np.nan)
        self.length += 1

    def extend(self, rows: dict[str, np.ndarray]) -> None:
        """Append a block of rows: one array per column, all of the same length."""
        added = _rows(rows)
        self._reserve(added)
        for name, buffer in self._buffers.items():
            block = rows.get(name)
            part = buffer[self.length: self.length + added]
            part[...] = np.nan if block is None else np.reshape(block, part.shape)
        self.length += added

    def _reserve(self, added: int) -> None:
        capacity = len(next(iter(self._buffers.values())))
        if self.length + added <= capacity:
            return
        while capacity < self.length + added:
            capacity *= 2
        for name, buffer in self._buffers.items():
            bigger = np.full((capacity, buffer.shape[1]), np.nan, dtype=np.float64)
            bigger[: self.length] = buffer[: self.length]
            self._buffers[name] = bigger

    def view(self) -> HistoryView:
        """Read-only views of the rows so far: 1-D for scalar columns, 2-D otherwise."""
        views = HistoryView()
        for name, buffer in self._buffers.items():
            part = buffer[: self.length]
            if self._widths[name] == 1:
                part = part[:, 0]
            part = part.view()
            part.flags.writeable = False
            views[name] = part
        return views


def _rows(rows: dict[str, np.ndarray]) -> int:
    return len(next(iter(rows.values()))) if rows else 0


@dataclasses.dataclass(frozen=True)
class HistoryTail:
    """The rows of one history from row `start` on: what crosses instead of the history."""

    start: int
    rows: dict[str, np.ndarray]


def _history_fields(snapshot: Any, kind: type) -> dict[str, Any]:
    fields = getattr(snapshot, "__dataclass_fields__", None) or {}
    return {name: value for name in fields
            if isinstance(value := getattr(snapshot, name), kind)}


class HistoryEncoder:
    """The sender's side: each snapshot's histories become the rows not sent yet."""

    def __init__(self) -> None:
        self._sent: dict[str, int] = {}

    def encode(self, snapshot: Any) -> Any:
        histories = _history_fields(snapshot, HistoryView)
        if not histories:
            return snapshot
        tails = {}
        for name, view in histories.items():
            start = self._sent.get(name, 0)
            if view.length < start:  # a history that started again
                start = 0
            tails[name] = HistoryTail(start, {k: np.array(v[start:]) for k, v in view.items()})
            self._sent[name] = view.length
        return dataclasses.replace(snapshot, **tails)


class HistoryDecoder:
    """The receiver's side: appends each tail to its own History and puts the views back."""

    def __init__(self) -> None:
        self._histories: dict[str, History] = {}

    def decode(self, snapshot: Any) -> Any:
        tails = _history_fields(snapshot, HistoryTail)
        if not tails:
            return snapshot
        views = {}
        for name, tail in tails.items():
            history = self._histories.get(name)
            if history is None or tail.start == 0:
                history = self._histories[name] = History.like(tail.rows)
            if history.length != tail.start:
                raise ValueError(f"history {name!r}: rows from {tail.start} arrived after "
                                 f"{history.length} rows")
            history.extend(tail.rows)
            views[name] = history.view()
        return dataclasses.replace(snapshot, **views)


__all__ = ["History", "HistoryDecoder", "HistoryEncoder", "HistoryTail", "HistoryView"]
