"""Saved experiments: settings and current weights of a lab in one `.vizlab` file.

Format (version 1): a zip archive holding
- `manifest.json`: {"format": "vizlab-experiment", "version": 1, "lab": name,
  "step": n, "settings": {name: value, ...}} with tuples stored as lists;
- `state.npz`: the experiment's state arrays (e.g. the weights by variable name),
  written by numpy without pickles.
A file is written to a temporary name and renamed, so a failed save never leaves a
broken file. Loading checks everything before anything is applied and refuses a
damaged or foreign file with a message that says what is wrong.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from engine import experiments
from engine.data import npz
from engine.experiments.settings import SettingError, apply_settings, settings_of

FORMAT = "vizlab-experiment"
VERSION = 1
# Limits on what a file may unpack to: the manifest is a few kB of settings; the state,
# the weights of the largest network the settings allow, is far below this cap.
MAX_MANIFEST_BYTES = 1 << 20
MAX_STATE_BYTES = 1 << 30
MAX_STEP = 10**15


@dataclasses.dataclass(frozen=True)
class SavedExperiment:
    lab: str
    settings: dict[str, Any]
    state: dict[str, np.ndarray] | None
    step: int


def save_experiment(path: str | Path, lab: str, config: Any, snapshot: Any = None) -> None:
    """Write settings and (if the lab provides `state_of`) the snapshot's state to `path`."""
    module = experiments.get(lab)
    settings = {}
    for info in settings_of(config):
        value = getattr(config, info.name)
        settings[info.name] = list(value) if isinstance(value, tuple) else value
    state = {}
    if snapshot is not None and hasattr(module, "state_of"):
        state = module.state_of(snapshot)
    manifest = {
        "format": FORMAT, "version": VERSION, "lab": lab,
        "step": int(getattr(snapshot, "step", 0) or 0), "settings": settings,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    path = Path(path)
    write_atomically(path, lambda f: _write_zip(f, manifest, buffer.getvalue()))


def _write_zip(f, manifest: dict, state_bytes: bytes) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
        archive.writestr("state.npz", state_bytes)


def write_atomically(path: Path, write) -> None:
    """Call write(file) on a temporary file beside `path`, then rename it over `path`."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OSError(f"Cannot write {path}: the folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise OSError(f"Cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _read_member(archive: zipfile.ZipFile, name: str, cap: int, label: str) -> bytes:
    """A member's bytes, refused when it declares (or turns out) larger than `cap`: never
    more than the declared size plus one byte is decompressed."""
    info = archive.getinfo(name)
    if info.file_size > cap:
        raise ValueError(f"{label}: {name} unpacks to {info.file_size:,} bytes; the limit "
                         f"is {cap:,} bytes")
    try:
        with archive.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError,
            zlib.error) as exc:
        raise ValueError(f"{label}: {name} is damaged ({exc})") from None
    if len(data) != info.file_size:
        raise ValueError(f"{label}: {name} is damaged (it holds another size than it "
                         f"declares)")
    return data


def _settings_from(manifest: dict, module: Any, label: str) -> dict[str, Any]:
    """The manifest's settings, checked by the settings system on a fresh config and
    returned in the settings' own types."""
    settings = manifest.get("settings")
    if not isinstance(settings, dict):
        raise ValueError(f"{label}: the settings are missing or damaged")
    config = module.Config()
    try:
        apply_settings(config, settings)
    except (SettingError, TypeError, RecursionError) as exc:
        raise ValueError(f"{label}: {exc}") from None
    return {key: getattr(config, key) for key in settings}


def _read_state(state_bytes: bytes, module: Any, settings: dict[str, Any],
                label: str) -> dict[str, np.ndarray]:
    """The saved arrays, after checking the shapes their headers declare against the
    network the settings build (nothing is read when they do not fit)."""

    def check(headers: dict[str, npz.ArrayHeader]) -> None:
        # No arrays: saved before the first step; the settings alone are the experiment.
        if not headers or not hasattr(module, "check_state"):
            return
        # Arrays of the declared shapes that take no memory: only shapes are compared.
        placeholders = {name: h.placeholder() for name, h in headers.items()}
        try:
            module.check_state(module.Config(**settings), placeholders)
        except ValueError as exc:  # SettingError too: the data set cannot be read
            raise ValueError(f"{label}: {exc}") from None

    return npz.read_npz(state_bytes, f"{label}: the saved weights",
                        max_bytes=MAX_STATE_BYTES, check=check)


def load_experiment(path: str | Path) -> SavedExperiment:
    """Read and check a `.vizlab` file; raise ValueError saying what is wrong with it.

    Sizes are checked before anything is unpacked, the manifest by the settings system,
    and the declared shapes of the saved arrays against the experiment before they are
    read: a damaged or hostile file costs little time and memory.
    """
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "manifest.json" not in names:
                raise ValueError(f"{label} is not a vizlab experiment (no manifest.json)")
            manifest_bytes = _read_member(archive, "manifest.json", MAX_MANIFEST_BYTES, label)
            state_bytes = _read_member(archive, "state.npz", MAX_STATE_BYTES, label) \
                if "state.npz" in names else None
    except zipfile.BadZipFile:
        raise ValueError(f"{label} is not a vizlab experiment file (not a zip archive)") from None
    except (zipfile.LargeZipFile, OSError, EOFError, RuntimeError, NotImplementedError,
            zlib.error) as exc:
        raise ValueError(f"{label} is damaged: {exc}") from None
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError covers JSON errors and numbers too long to convert.
        raise ValueError(f"{label}: the manifest is damaged ({exc})") from None

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{label} is not a vizlab experiment file")
    version = manifest.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{label}: the manifest's format version is damaged")
    if version > VERSION:
        raise ValueError(
            f"{label} was written by a newer vizlab (format version {version}); "
            f"this one reads version {VERSION}"
        )
    lab = manifest.get("lab")
    if not isinstance(lab, str) or len(lab) > 100:
        raise ValueError(f"{label}: the manifest names no lab")
    try:
        module = experiments.get(lab)
    except SettingError as exc:
        raise ValueError(f"{label}: {exc}") from None
    step = manifest.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
        raise ValueError(f"{label}: the manifest's step is damaged (a whole number from 0 "
                         f"to {MAX_STEP} is expected)")
    settings = _settings_from(manifest, module, label)

    state = None
    # Only a lab that saves state reads it back; anything else in the file is ignored.
    if state_bytes and hasattr(module, "state_of"):
        state = _read_state(state_bytes, module, settings, label) or None
    return SavedExperiment(lab=lab, settings=settings, state=state or None, step=step)
