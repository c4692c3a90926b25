"""Turning what a lab shows into files: PNG (1x/2x, optional caption), SVG and CSV of single
plots, the clipboard, and GIF / APNG recordings.

Every file is written atomically (a temporary file renamed into place), so a failed or
cancelled export never leaves a broken file and never destroys an existing one; failures raise
:class:`ExportError` with a sentence for the user.

The core — :mod:`.atomic` and :mod:`.recording` (``Recorder``, ``write_gif``, ``write_apng``) —
does not import Qt, so the CLI can record headless. The Qt helpers (``save_screenshot``,
``grab_image``, ``qimage_to_array``, ``copy_to_clipboard``, ``export_plot``,
``run_with_progress``) live in :mod:`.qt` and are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .atomic import ExportError, atomic_open, atomic_path
from .recording import (
    RECORDING_SUFFIXES,
    ProgressCallback,
    Recorder,
    build_palette,
    write_apng,
    write_gif,
)

if TYPE_CHECKING:
    from .qt import (
        add_caption,
        copy_to_clipboard,
        export_plot,
        grab_image,
        qimage_to_array,
        run_with_progress,
        save_screenshot,
    )

_QT_NAMES = frozenset(
    {
        "add_caption",
        "copy_to_clipboard",
        "export_plot",
        "grab_image",
        "qimage_to_array",
        "run_with_progress",
        "save_screenshot",
    }
)

__all__ = [
    "RECORDING_SUFFIXES",
    "ExportError",
    "ProgressCallback",
    "Recorder",
    "add_caption",
    "atomic_open",
    "atomic_path",
    "build_palette",
    "copy_to_clipboard",
    "export_plot",
    "grab_image",
    "qimage_to_array",
    "run_with_progress",
    "save_screenshot",
    "write_apng",
    "write_gif",
]


def __getattr__(name: str) -> Any:
    # Importing Qt only when a Qt helper is asked for keeps the recording core usable headless.
    if name in _QT_NAMES:
        from . import qt

        return getattr(qt, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _QT_NAMES)
