"""Inverted dropout, with the mask it drew kept for whoever wants to see it.

In training each unit is kept with probability keep_prob and the kept ones are
scaled by 1/keep_prob, so the expected sum stays the same and nothing needs
rescaling at test time, when dropout does nothing (TensorFlow's convention).
The Dropout lab draws the Bernoulli mask: `dropout_mask(y)` returns it.
"""

from __future__ import annotations

import numpy as np

from engine.registry import register_gradient
from engine.tensor import EngineError, Tensor, as_tensor, record


def dropout(
    x,
    keep_prob: float,
    rng: np.random.Generator | None = None,
    training: bool = True,
    mask: np.ndarray | None = None,
) -> Tensor:
    """Inverted dropout: x * mask / keep_prob in training, x unchanged at test time.

    The mask is drawn as rng.random(x.shape) < keep_prob (a fresh generator if `rng`
    is None), unless an explicit boolean `mask` of x's shape is given. It is kept in
    the op's attrs["mask"]; `dropout_mask(result)` returns it.
    """
    x = as_tensor(x)
    if not isinstance(keep_prob, int | float | np.number) or not 0 < keep_prob <= 1:
        raise EngineError(
            f"dropout: keep_prob is the probability of keeping a unit and must be in (0, 1], "
            f"got {keep_prob!r}"
        )
    keep_prob = float(keep_prob)  # a plain number keeps x's dtype (np.float64 would not)
    if not training:
        return x
    if mask is None:
        rng = np.random.default_rng() if rng is None else rng
        mask = rng.random(x.shape) < keep_prob
    else:
        mask = np.asarray(mask.value if isinstance(mask, Tensor) else mask)
        if mask.shape != x.shape:
            raise EngineError(f"dropout: mask of shape {mask.shape} does not match input {x.shape}")
        mask = mask.astype(bool)
    # Multiplying by the 0/1 mask is exact and, unlike np.where on a random mask, fast.
    value = x.value * mask / keep_prob
    return record("Dropout", value, (x,), mask=mask, keep_prob=keep_prob)


@register_gradient("Dropout")
def _dropout_grad(op, grad):
    """d dropout(x) = mask / keep_prob * dx: dropped units pass no gradient."""
    return [grad * op.attrs["mask"] / op.attrs["keep_prob"]]


def dropout_mask(t: Tensor) -> np.ndarray | None:
    """The boolean keep-mask of the dropout that made `t` (True = kept), or None.

    None when `t` was not made by dropout in training, or was made under no_grad
    (no op is recorded then; pass an explicit mask= to know it).
    """
    op = getattr(t, "op", None)
    if op is None or op.name != "Dropout":
        return None
    return op.attrs["mask"]
