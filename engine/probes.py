"""Training probes: numbers about a network that the labs draw while it trains.

Each probe works on plain numpy arrays (weights, pre-activations, gradients), so any
experiment can use it whatever its model: which weights an update changed and how
often each has changed, how many ReLU units are dead, histograms and gradient norms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class ChangeTracker:
    """Which weights changed at the last step, and how many steps each has changed in.

    With plain SGD and dropout only the weights of the units that were kept change;
    with Adam nearly all change, because its running moments keep moving dropped ones.
    """

    def __init__(self, weights: Sequence[np.ndarray]) -> None:
        self.previous = [np.array(w, copy=True) for w in weights]
        self.cumulative = [np.zeros(w.shape, dtype=np.int32) for w in weights]
        self.last_changed = [np.zeros(w.shape, dtype=bool) for w in weights]
        self.steps = 0

    def update(self, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Compare with the weights seen last time; returns this step's changed masks."""
        for i, w in enumerate(weights):
            np.not_equal(w, self.previous[i], out=self.last_changed[i])
            self.cumulative[i] += self.last_changed[i]
            self.previous[i][...] = w
        self.steps += 1
        return self.last_changed

    def changed_fraction(self) -> list[float]:
        """Share of each weight array that changed at the last step."""
        return [float(m.mean()) if m.size else 0.0 for m in self.last_changed]


def dead_units(pre_activation: np.ndarray) -> np.ndarray:
    """Units whose ReLU input is <= 0 for every example of the probe batch.

    Such a unit outputs 0 and passes back no gradient for any of these inputs, so
    nothing can revive it: it is dead. For a dense layer (batch, units) a unit is a
    column; for a conv layer (batch, H, W, channels) a unit is a channel.
    """
    values = np.asarray(pre_activation)
    if values.ndim < 2:
        raise ValueError(f"dead_units needs (batch, ..., units), got shape {values.shape}")
    axes = tuple(range(values.ndim - 1))
    return np.all(values <= 0, axis=axes)


def dead_fraction(pre_activation: np.ndarray) -> float:
    """Share of a layer's ReLU units that are dead on the probe batch."""
    dead = dead_units(pre_activation)
    return float(dead.mean()) if dead.size else 0.0


def histogram(
    values: np.ndarray, bins: int = 30, value_range: tuple[float, float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of `values`, ignoring non-finite entries."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    flat = flat[np.isfinite(flat)]
    if value_range is None:
        if flat.size:
            low, high = float(flat.min()), float(flat.max())
        else:
            low, high = 0.0, 1.0
        if low == high:  # a constant layer still gets a visible bar
            low, high = low - 0.5, high + 0.5
        value_range = (low, high)
    counts, edges = np.histogram(flat, bins=bins, range=value_range)
    return counts, edges


def gradient_norms(gradients: Sequence[np.ndarray]) -> np.ndarray:
    """The L2 norm of each gradient array."""
    return np.array([float(np.linalg.norm(np.ravel(g))) for g in gradients])
