"""Experiments: one module per lab, each a config dataclass and a generator of snapshots.

Every experiment module `engine/experiments/<name>.py` provides:

- `TITLE` and `SUMMARY`: what the lab is called and what it shows, in a sentence;
- `Config`: a mutable dataclass whose defaults reproduce the seed setup; each field
  is made with `setting(...)` so it carries help text, limits, and whether it is
  *live* (read again at every step, so the app can change it while training) or
  needs a rebuild;
- `run(config)`: a generator of snapshots, small frozen dataclasses of numpy copies.

No Qt, no threads, no sleeping: the caller (a test, the CLI, the app) sets the pace.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from engine.experiments.base import (
    SettingError,
    apply_settings,
    describe_settings,
    setting,
    settings_of,
    validate,
)

# Lab names, in the order the app lists them. A name appears here once its
# experiment module exists.
LAB_NAMES: tuple[str, ...] = ("training",)


def get(name: str) -> ModuleType:
    """The experiment module for a lab name, or a clear error listing the known labs."""
    if name not in LAB_NAMES:
        raise SettingError(f"unknown lab {name!r}; the labs are: {', '.join(LAB_NAMES)}")
    return importlib.import_module(f"engine.experiments.{name}")


__all__ = [
    "LAB_NAMES", "SettingError", "apply_settings", "describe_settings", "get", "setting",
    "settings_of", "validate",
]
