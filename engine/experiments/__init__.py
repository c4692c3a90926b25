"""Experiments: one module per lab, each a config dataclass and a generator of snapshots.

Every experiment module `engine/experiments/<name>.py` provides:

- `TITLE` and `SUMMARY`: what the lab is called and what it shows, in a sentence;
- `Config`: a mutable dataclass whose defaults reproduce the original experiment; each field
  is made with `setting(...)` so it carries help text, limits, and whether it is
  *live* (read again at every step, so the app can change it while training) or
  needs a rebuild;
- `run(config)`: a generator of snapshots, small frozen dataclasses of numpy copies.

The contract is written down as a typing Protocol in `contract.py` (checked for every
lab by tests/test_contract.py). No Qt, no threads, no sleeping: a `Session`
(`session.py`) drives the run for every caller (a test, the CLI, the app's worker
thread, the child process) and sets the pace.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from engine.experiments.settings import (
    SettingError,
    apply_settings,
    describe_settings,
    setting,
    settings_of,
    validate,
)

# Every lab's name, in the order the app lists them (docs/labs.md, "Engine conventions").
ALL_LAB_NAMES: tuple[str, ...] = (
    "training", "activations", "gradients", "loss", "dropout", "optimizers",
    "regularization", "style",
)
# The labs whose experiment module exists: labs not built yet are simply not listed.
LAB_NAMES: tuple[str, ...] = tuple(
    name for name in ALL_LAB_NAMES
    if importlib.util.find_spec(f"engine.experiments.{name}") is not None
)


def get(name: str) -> ModuleType:
    """The experiment module for a lab name, or a clear error listing the known labs."""
    if name not in LAB_NAMES:
        raise SettingError(f"unknown lab {name!r}; the labs are: {', '.join(LAB_NAMES)}")
    return importlib.import_module(f"engine.experiments.{name}")


__all__ = [
    "ALL_LAB_NAMES", "LAB_NAMES", "SettingError", "apply_settings", "describe_settings", "get", "setting",
    "settings_of", "validate",
]
