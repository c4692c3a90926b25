"""What a lab shows before Run: the experiment's first snapshot for the given settings.

Computing it can take from milliseconds to many seconds (a full-width Style network at
256 px), so callers run it where training runs, never on a GUI thread, and deliver the
snapshot as a value.
"""

from __future__ import annotations

import copy
import importlib
from types import ModuleType
from typing import Any


def first_snapshot(experiment: ModuleType | str, config: Any) -> Any:
    """Step 0 of ``experiment.run`` on a copy of ``config`` (the caller's config is untouched)."""
    module = importlib.import_module(experiment) if isinstance(experiment, str) else experiment
    generator = module.run(copy.deepcopy(config))
    try:
        return next(generator)
    except StopIteration:
        raise ValueError(f"{module.__name__} produced no snapshot for these settings") from None
    finally:
        generator.close()


__all__ = ["first_snapshot"]
