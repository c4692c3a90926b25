"""The labs: one view per experiment in engine/experiments, listed in the app by name."""

from __future__ import annotations

import importlib

from engine.experiments import LAB_NAMES


def view_class(name: str):
    """The LabView subclass of a lab (imports its module on first use)."""
    if name not in LAB_NAMES:
        raise KeyError(f"unknown lab {name!r}; the labs are: {', '.join(LAB_NAMES)}")
    module = importlib.import_module(f"vizlab.labs.{name}")
    return module.View


__all__ = ["LAB_NAMES", "view_class"]
