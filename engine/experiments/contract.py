"""The experiment contract: what a module in engine/experiments/ must provide to be a lab.

A lab's experiment module is an `Experiment`: a `TITLE` and a `SUMMARY` for people, a
`Config` dataclass of settings (made with `setting(...)`, defaults = the original
experiment), a frozen `Snapshot` dataclass with a `step` field, and `run(config)`, a
generator of snapshots. Two optional capabilities are declared here too, so the front
ends ask the contract rather than guess from field names:

- `PacedConfig`: the config has a live `snapshot_every` setting (one snapshot every so
  many training steps), which a front end may change to space snapshots out;
- `LengthConfig`: the config has a `steps` setting (how long the run lasts);
- `Resumable`: `run(config, state=...)` continues from saved weights.

`contract_problems(module)` lists what a module lacks, in words; the test of every lab
(tests/test_contract.py) fails with that list.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from engine.experiments.settings import settings_of


@runtime_checkable
class SnapshotLike(Protocol):
    """What every snapshot has: the training step it shows."""

    step: int


class Experiment(Protocol):
    """A lab's experiment module (modules match it structurally)."""

    TITLE: str
    SUMMARY: str
    Config: type
    Snapshot: type

    def run(self, config: Any) -> Iterator[SnapshotLike]: ...


@runtime_checkable
class PacedConfig(Protocol):
    """A config whose run yields one snapshot every `snapshot_every` training steps."""

    snapshot_every: int


@runtime_checkable
class LengthConfig(Protocol):
    """A config whose run lasts `steps` training steps."""

    steps: int


def is_paced(config: Any) -> bool:
    """True when the config spaces its snapshots by a live `snapshot_every` setting."""
    return isinstance(config, PacedConfig)


def has_length(config: Any) -> bool:
    return isinstance(config, LengthConfig)


def is_resumable(experiment: ModuleType) -> bool:
    """True when `experiment.run` takes saved weights as `state=`."""
    try:
        return "state" in inspect.signature(experiment.run).parameters
    except (TypeError, ValueError):
        return False


def contract_problems(experiment: ModuleType) -> list[str]:
    """What `experiment` lacks to be a lab, one sentence each (empty when it conforms)."""
    problems = []
    for name in ("TITLE", "SUMMARY"):
        value = getattr(experiment, name, None)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} must be a non-empty string")
    config_class = getattr(experiment, "Config", None)
    if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
        problems.append("Config must be a dataclass of settings")
        config_class = None
    else:
        try:
            config = config_class()
            infos = {info.name: info for info in settings_of(config)}
        except Exception as exc:  # the message names what broke
            problems.append(f"Config() must build with its defaults ({exc})")
        else:
            missing_help = [name for name, info in infos.items() if not info.help]
            if missing_help:
                problems.append(
                    f"every Config field must be made with setting(...) and help text; "
                    f"these are not: {', '.join(missing_help)}")
            if "snapshot_every" in infos:
                info = infos["snapshot_every"]
                if info.type is not int or not info.live:
                    problems.append("Config.snapshot_every must be a live int setting")
    snapshot_class = getattr(experiment, "Snapshot", None)
    if not (isinstance(snapshot_class, type) and dataclasses.is_dataclass(snapshot_class)):
        problems.append("Snapshot must be a frozen dataclass")
    else:
        if not snapshot_class.__dataclass_params__.frozen:
            problems.append("Snapshot must be frozen (snapshots cross threads and processes)")
        if "step" not in {f.name for f in dataclasses.fields(snapshot_class)}:
            problems.append("Snapshot must have a `step` field")
    run = getattr(experiment, "run", None)
    if not callable(run):
        problems.append("run(config) must be a function")
    elif not inspect.isgeneratorfunction(run):
        problems.append("run(config) must be a generator function (it yields snapshots)")
    return problems


__all__ = [
    "Experiment", "LengthConfig", "PacedConfig", "SnapshotLike", "contract_problems",
    "has_length", "is_paced", "is_resumable",
]
