"""The labs: one view per experiment in engine/experiments, listed in the app by name."""

from __future__ import annotations

import importlib
import importlib.util

from engine import experiments

# Labs with both an experiment and a view, in the app's order.
LAB_NAMES: tuple[str, ...] = tuple(
    name for name in experiments.LAB_NAMES
    if importlib.util.find_spec(f"vizlab.labs.{name}") is not None
)


def view_class(name: str):
    """The LabView subclass of a lab (imports its module on first use)."""
    if name not in LAB_NAMES:
        raise KeyError(f"unknown lab {name!r}; the labs are: {', '.join(LAB_NAMES)}")
    module = importlib.import_module(f"vizlab.labs.{name}")
    return module.View


__all__ = ["LAB_NAMES", "view_class"]
