"""Weight penalties added to a loss: L1 (lasso), L2 (ridge) and the elastic net.

A regularizer is a callable on a weight Tensor that returns a scalar Tensor:

    reg = en.regularizers.l2(0.3)
    loss = data_loss + reg(dense.kernel)          # 0.3 * sum(w**2)

Conventions (stated because libraries differ): ``l1(lam)`` is ``lam * sum|w|`` and
``l2(lam)`` is ``lam * sum(w**2)`` -- no factor 1/2, as in Keras -- and
``elastic_net(l1, l2)`` is their sum. Its gradient is ``l1 * sign(w) + 2 * l2 * w``
(sign(0) = 0, the subgradient TensorFlow and PyTorch use).

Populations: ``lam`` may be an array of shape (K,); a weight of shape (K, ...) then
gets one term per member, ``lam[k] * sum(w[k]**2)``, returned with shape (K,). Call
with ``population=True`` to get per-member terms with a scalar ``lam``.

Each penalty is one recorded op ("Penalty"), and `penalty` puts the terms of many
weights in a single op, which keeps the per-step overhead of small models low.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.registry import register_gradient
from engine.tensor import EngineError, Tensor, as_tensor, record

Coefficient = float | np.ndarray


def _coefficient(value, what: str) -> float | np.ndarray:
    """A scalar as a Python float (numpy keeps the weight's dtype), else a 1-d array."""
    if isinstance(value, float | int):
        return float(value)
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return float(array)
    if array.ndim != 1:
        raise EngineError(f"{what} must be a number or an array of shape (K,), got {array.shape}")
    return array


class Regularizer:
    """``l1 * sum|w| + l2 * sum(w**2)``; `l1` and `l2` are numbers or (K,) arrays.

    The coefficients are read at each call, so they can be changed between steps.
    """

    def __init__(self, l1: Coefficient = 0.0, l2: Coefficient = 0.0, name: str = "") -> None:
        self.l1 = l1
        self.l2 = l2
        self.name = name or "elastic_net"

    def coefficients(self) -> tuple[float | np.ndarray, float | np.ndarray]:
        return _coefficient(self.l1, "l1"), _coefficient(self.l2, "l2")

    def is_population(self) -> bool:
        """Whether a coefficient is a per-member array."""
        return any(np.ndim(c) == 1 for c in (self.l1, self.l2))

    def __call__(self, weight: Tensor, population: bool = False) -> Tensor:
        """The penalty of `weight`: a scalar, or shape (K,) per member of a population."""
        return penalty([(self, weight)], population=population)

    def __repr__(self) -> str:
        return f"{self.name}(l1={self.l1!r}, l2={self.l2!r})"


def l1(lam: Coefficient) -> Regularizer:
    """L1 (lasso): ``lam * sum|w|``. Drives weights to exactly or nearly zero."""
    return Regularizer(l1=lam, name="l1")


def l2(lam: Coefficient) -> Regularizer:
    """L2 (ridge, weight decay): ``lam * sum(w**2)`` (no 1/2). Shrinks all weights."""
    return Regularizer(l2=lam, name="l2")


def elastic_net(l1: Coefficient, l2: Coefficient) -> Regularizer:
    """Elastic net: ``l1 * sum|w| + l2 * sum(w**2)``."""
    return Regularizer(l1=l1, l2=l2, name="elastic_net")


def get(reg) -> Regularizer | None:
    """A Regularizer from None, a Regularizer, or a name with its strength: ("l2", 0.01)."""
    if reg is None or isinstance(reg, Regularizer):
        return reg
    if isinstance(reg, tuple) and reg and isinstance(reg[0], str):
        makers = {"l1": l1, "l2": l2, "elastic_net": elastic_net}
        if reg[0] in makers:
            return makers[reg[0]](*reg[1:])
    if callable(reg):
        return reg
    raise ValueError(f"unknown regularizer {reg!r}")


def penalty(terms: Sequence[tuple[Regularizer, Tensor]], population: bool = False) -> Tensor:
    """Sum of the regularizers' penalties of their weights, as one op.

    `terms` is a list of (regularizer, weight). With `population` (or any coefficient
    an array of shape (K,)) every weight has a leading member axis and the result has
    shape (K,): member k's penalty.
    """
    weights = []
    coefs = []
    for reg, w in terms:
        a, b = reg.coefficients()
        weights.append(w if isinstance(w, Tensor) else as_tensor(w))
        coefs.append((a, b))
        if not (isinstance(a, float) and isinstance(b, float)):  # a (K,) array
            population = True
    if not weights:
        raise EngineError("penalty: no weights given")
    dtype = weights[0].dtype
    if population:
        k = weights[0].shape[0] if weights[0].ndim else 1
        total = np.zeros(k, dtype=np.float64)
        for w, (a, b) in zip(weights, coefs):
            if w.ndim == 0 or w.shape[0] != k:
                raise EngineError(
                    f"penalty: population weights need a leading axis of {k} members, "
                    f"got shape {w.shape}"
                )
            for c in (a, b):
                if np.ndim(c) and c.shape != (k,):
                    raise EngineError(f"penalty: coefficient shape {c.shape} for {k} members")
            flat = w.value.reshape(k, -1)
            if _nonzero(a):
                total += a * np.abs(flat).sum(axis=1)
            if _nonzero(b):
                total += b * np.einsum("ki,ki->k", flat, flat)
        value = total.astype(dtype)
    else:
        total = 0.0
        for w, (a, b) in zip(weights, coefs):
            flat = w.value.reshape(-1)
            if a:
                total += a * float(np.abs(flat).sum())
            if b:
                total += b * float(np.dot(flat, flat))
        value = np.asarray(total, dtype=dtype)
    return record("Penalty", value, tuple(weights), coefs=coefs, population=population)


def _nonzero(c) -> bool:
    if isinstance(c, float):
        return c != 0.0
    return bool(np.any(c != 0))


def _member_axis(c, ndim: int):
    """A per-member coefficient shaped (K, 1, ..., 1) to broadcast over a weight."""
    return c.reshape((-1,) + (1,) * (ndim - 1)) if np.ndim(c) else c


@register_gradient("Penalty")
def _penalty_grad(op, grad):
    """d/dw (l1 sum|w| + l2 sum w^2) = l1 sign(w) + 2 l2 w, times the incoming gradient."""
    grads = []
    population = op.attrs["population"]
    for w, (a, b) in zip(op.inputs, op.attrs["coefs"]):
        x = w.value
        if population:
            g = _member_axis(np.asarray(grad), x.ndim)
            a = _member_axis(np.asarray(a, dtype=x.dtype), x.ndim) * g if _nonzero(a) else 0.0
            b = _member_axis(np.asarray(b, dtype=x.dtype), x.ndim) * (2 * g) if _nonzero(b) else 0.0
        else:  # Python floats keep the weight's dtype
            g = float(grad)
            a, b = a * g, 2 * b * g
        out = None
        if _nonzero(b):
            out = x * b
        if _nonzero(a):
            term = np.sign(x)
            term *= a
            out = term if out is None else np.add(out, term, out=out)
        grads.append(np.zeros_like(x) if out is None else out.astype(x.dtype, copy=False))
    return grads
