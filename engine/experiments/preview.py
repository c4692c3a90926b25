"""What a lab shows before Run: the experiment's first snapshot for the given settings.

Computing it can take from milliseconds to many seconds (a full-width Style network at
256 px), so callers run it where training runs, never on a GUI thread, and deliver the
snapshot as a value. It is a Session's first step (engine/experiments/session.py).
"""

from __future__ import annotations

from engine.experiments.session import first_snapshot

__all__ = ["first_snapshot"]
