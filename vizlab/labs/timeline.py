"""The timeline of a lab: a bounded history of the snapshots it drew, to scrub back through."""

from __future__ import annotations

from typing import Any

import numpy as np


def snapshot_bytes(snapshot: Any) -> int:
    """Bytes of the numpy arrays a snapshot holds (shared buffers counted once)."""
    seen: set[int] = set()
    total = 0

    def visit(value: Any) -> None:
        nonlocal total
        if isinstance(value, np.ndarray):
            base = value if value.base is None else value.base
            if id(base) not in seen and value.flags.owndata:
                seen.add(id(base))
                total += value.nbytes
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, tuple | list):
            for item in value:
                visit(item)

    for field in getattr(snapshot, "__dataclass_fields__", {}):
        visit(getattr(snapshot, field))
    return total


class Timeline:
    """A bounded history of drawn snapshots; when full, every other one is dropped.

    So a long run keeps snapshots spread over all of training (ever coarser), in at
    most `capacity` items, and the slider can scrub back through the whole of it.
    """

    def __init__(self, capacity: int = 400, max_bytes: int = 256 * 2**20) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.items: list[Any] = []
        self.stride = 1
        self._offered = 0

    def append(self, snapshot: Any) -> bool:
        """Keep the snapshot if it falls on the current stride; True if kept."""
        self._offered += 1
        if (self._offered - 1) % self.stride:
            return False
        if not self.items:
            # Big networks make big snapshots: hold fewer of them, not more memory.
            size = max(snapshot_bytes(snapshot), 1)
            self.capacity = max(16, min(self.capacity, self.max_bytes // size))
        if len(self.items) >= self.capacity:
            self.items = self.items[::2]
            self.stride *= 2
        self.items.append(snapshot)
        return True

    def clear(self) -> None:
        self.items.clear()
        self.stride = 1
        self._offered = 0

    def __len__(self) -> int:
        return len(self.items)


__all__ = ["Timeline", "snapshot_bytes"]
