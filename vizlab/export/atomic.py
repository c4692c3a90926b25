"""Atomic file writing for every export: all-or-nothing, with errors a user can read.

Everything vizlab writes (PNG, SVG, CSV, GIF, APNG) goes through :func:`atomic_path` or
:func:`atomic_open`. The data is written to a hidden temporary file in the destination folder
and renamed over the target only once it is complete, so a failed, interrupted or cancelled
export never leaves a half-written file and never destroys a file that was already there.
Operating-system errors become :class:`ExportError` with a message such as
``Cannot write /x/y.png: permission denied``.

No Qt here: the CLI and the recorder use this headless.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

__all__ = ["ExportError", "atomic_open", "atomic_path", "describe_os_error"]


class ExportError(Exception):
    """An export could not be written; ``str(error)`` is a sentence to show the user.

    ``path`` is the file that was to be written and ``reason`` the short explanation.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"Cannot write {self.path}: {reason}")


# Short, plain-language reasons for the errors a user can actually cause or fix.
_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the disk is read-only",
    errno.EISDIR: "it is a folder",
    errno.ENAMETOOLONG: "the file name is too long",
}


def describe_os_error(exc: OSError, target: Path) -> str:
    """A short reason for ``exc`` that happened while writing ``target``."""
    folder = target.parent
    if exc.errno == errno.ENOENT and not folder.is_dir():
        return f"the folder {folder} does not exist"
    if exc.errno == errno.ENOTDIR:
        return f"{folder} is not a folder"
    reason = _REASONS.get(exc.errno) if exc.errno is not None else None
    if reason:
        return reason
    text = (exc.strerror or str(exc) or type(exc).__name__).strip()
    return text[:1].lower() + text[1:]


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    # os.umask() can only be read by setting it, which races with other threads creating files;
    # Linux reports it in /proc, so use that when it is there.
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _final_mode(target: Path) -> int:
    """Permissions the finished file should have: the old file's, or the usual new-file ones."""
    # mkstemp creates 0600 files; a PNG for slides should get the permissions any new file gets.
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _check_target(target: Path) -> None:
    folder = target.parent
    if not folder.exists():
        raise ExportError(target, f"the folder {folder} does not exist")
    if not folder.is_dir():
        raise ExportError(target, f"{folder} is not a folder")
    if target.is_dir():
        raise ExportError(target, "it is a folder")
    if target.exists():
        mode = target.stat().st_mode
        # os.replace would happily swap a read-only file away (only the folder's permissions
        # count), but a user who made a file read-only does not want it overwritten. The mode
        # check also holds for root, for whom os.access always says yes.
        if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(
            target, os.W_OK
        ):
            raise ExportError(target, "the file is read-only")


def _fsync(path: Path) -> None:
    # Flush to the disk before the rename, so that "disk full" surfaces here (with delayed
    # allocation it may only appear now) and a crash cannot leave a renamed but empty file.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, and not worth failing for.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - only on a very broken file system
        log.warning("could not remove the temporary file %s", path, exc_info=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` in one step.

    The temporary file lives in the destination folder (so the final ``os.replace`` is a rename
    on one file system, never a copy) and keeps the target's extension at the end (so writers
    that pick the format from the name still work). If the body raises — an error, a
    cancellation, KeyboardInterrupt — the temporary file is deleted and an existing file at
    ``path`` is left untouched. ``OSError`` (from the body or from the final steps) is turned
    into :class:`ExportError`; other exceptions pass through unchanged.
    """
    target = Path(os.path.abspath(os.fspath(path)))
    _check_target(target)
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=target.parent
        )
    except OSError as exc:
        raise ExportError(target, describe_os_error(exc, target)) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        os.chmod(tmp, _final_mode(target))
        os.replace(tmp, target)
    except OSError as exc:
        _remove_quietly(tmp)
        raise ExportError(target, describe_os_error(exc, target)) from exc
    except BaseException:
        _remove_quietly(tmp)
        raise
    _fsync_folder(target.parent)
    log.debug("wrote %s", target)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Like ``open(path, mode)`` for writing, but all-or-nothing (see :func:`atomic_path`)."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open only writes new files (mode 'w...'), not {mode!r}")
    with atomic_path(path) as tmp:
        # The file is closed (and flushed) before atomic_path renames it.
        with open(tmp, mode, encoding=encoding, newline=newline) as fh:
            yield fh
