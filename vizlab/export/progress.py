"""The progress callback every long export takes: `progress(done, total)`; returning
False cancels. Its own module, so the Qt exports and the recorder both use it without
importing each other."""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[int, int], "bool | None"]

__all__ = ["ProgressCallback"]
