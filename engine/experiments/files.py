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
from pathlib import Path
from typing import Any

import numpy as np

from engine import experiments
from engine.experiments.base import SettingError, apply_settings, settings_of

FORMAT = "vizlab-experiment"
VERSION = 1


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


def load_experiment(path: str | Path) -> SavedExperiment:
    """Read and check a `.vizlab` file; raise ValueError saying what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "manifest.json" not in names:
                raise ValueError(f"{path.name} is not a vizlab experiment (no manifest.json)")
            manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
            state_bytes = archive.read("state.npz") if "state.npz" in names else None
    except zipfile.BadZipFile:
        raise ValueError(f"{path.name} is not a vizlab experiment file (not a zip archive)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name}: the manifest is damaged ({exc})") from None
    except (zipfile.LargeZipFile, OSError, EOFError, RuntimeError) as exc:
        raise ValueError(f"{path.name} is damaged: {exc}") from None

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path.name} is not a vizlab experiment file")
    version = manifest.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(
            f"{path.name} was written by a newer vizlab (format version {version}); "
            f"this one reads version {VERSION}"
        )
    lab = manifest.get("lab")
    try:
        module = experiments.get(lab)
    except SettingError as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    settings = manifest.get("settings")
    if not isinstance(settings, dict):
        raise ValueError(f"{path.name}: the settings are missing or damaged")
    # Tuples were stored as lists; check every value on a fresh config.
    infos = {info.name: info for info in settings_of(module.Config)}
    values = {}
    for key, value in settings.items():
        info = infos.get(key)
        if info is not None and info.type is tuple and isinstance(value, list):
            value = tuple(value)
        values[key] = value
    try:
        apply_settings(module.Config(), values)
    except (SettingError, TypeError) as exc:
        raise ValueError(f"{path.name}: {exc}") from None

    state = None
    if state_bytes:
        try:
            with np.load(io.BytesIO(state_bytes), allow_pickle=False) as npz:
                state = {key: npz[key] for key in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(f"{path.name}: the saved weights are damaged ({exc})") from None
        if hasattr(module, "check_state"):
            try:
                module.check_state(module.Config(**values), state)
            except ValueError as exc:
                raise ValueError(f"{path.name}: {exc}") from None
    step = manifest.get("step", 0)
    return SavedExperiment(lab=lab, settings=values, state=state or None,
                           step=int(step) if isinstance(step, int) else 0)
