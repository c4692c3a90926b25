"""The settings system's former name: `engine.experiments.base` is
`engine.experiments.settings` (kept so code written against the old name still works)."""

import sys

from engine.experiments import settings

sys.modules[__name__] = settings
