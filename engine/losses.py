"""Loss functions: how far predictions are from targets, as a Tensor to differentiate.

    loss = en.losses.softmax_cross_entropy(logits, labels)   # mean over the batch
    en.gradients(loss, model.trainable_variables)

Every loss takes ``reduction``:

- ``"mean"`` (default, as torch): the mean over all elements -- for the
  cross-entropies the mean over the examples;
- ``"sum"``: the sum of the same terms;
- ``"none"``: the unreduced terms, exactly torch's ``reduction="none"``: one per
  element for ``mse``/``mae``/``huber``/``binary_cross_entropy`` (one per example for
  outputs of shape (batch,) or (batch, 1)) and one per example for
  ``softmax_cross_entropy``;
- ``"member"``: for populations (predictions with a leading member axis K), the mean
  over every axis but the first, shape (K,). The gradient of their sum gives each
  member the gradient of its own mean loss.

Targets broadcast against predictions only over leading axes (a population's shared
targets): a (batch,) target against (batch, 1) predictions is refused rather than
silently broadcast to (batch, batch).

The hot losses are single fused ops whose gradient is written out, and the
cross-entropies from logits use the stable forms (log-sum-exp; max(x,0) - x t +
log1p(exp(-|x|))), finite for logits of +-1000 in float32.
"""

from __future__ import annotations

import numpy as np

from engine import ops
from engine.autodiff import Deferred
from engine.registry import register_gradient
from engine.tensor import EngineError, Tensor, as_tensor, record

REDUCTIONS = ("mean", "sum", "none", "member")
#: probabilities are clipped to [EPSILON, 1 - EPSILON] before their log (Keras' epsilon)
EPSILON = 1e-7


# ----------------------------------------------------------------------------------
# reductions shared by all losses


def _check_reduction(reduction: str, terms_shape: tuple[int, ...]) -> None:
    if reduction not in REDUCTIONS:
        raise EngineError(f"unknown reduction {reduction!r}; use one of {REDUCTIONS}")
    if reduction == "member" and len(terms_shape) < 1:
        raise EngineError("reduction 'member' needs a leading member axis")


def _reduce(terms: np.ndarray, reduction: str, dtype) -> np.ndarray:
    if reduction == "mean":
        value = terms.mean()
    elif reduction == "sum":
        value = terms.sum()
    elif reduction == "none":
        return terms
    else:  # member
        value = terms.reshape(terms.shape[0], -1).mean(axis=1)
    return np.asarray(value, dtype=dtype)


def _unreduce(grad, shape: tuple[int, ...], reduction: str):
    """The adjoint of `_reduce`: the incoming gradient as a factor per term."""
    grad = np.asarray(grad)
    if reduction == "mean":
        return grad / max(1, int(np.prod(shape)))
    if reduction == "sum" or reduction == "none":
        return grad
    count = max(1, int(np.prod(shape[1:])))
    return grad.reshape((-1,) + (1,) * (len(shape) - 1)) / count


def _reduce_tensor(terms: Tensor, reduction: str) -> Tensor:
    """`_reduce` made of recorded ops (for the losses composed from en ops)."""
    _check_reduction(reduction, terms.shape)
    if reduction == "mean":
        return ops.mean(terms)
    if reduction == "sum":
        return ops.sum(terms)
    if reduction == "none":
        return terms
    return ops.mean(ops.reshape(terms, (terms.shape[0], -1)), axis=1)


def _check_target(name: str, pred: Tensor, target: Tensor) -> None:
    t, p = target.shape, pred.shape
    if len(t) > len(p) or (len(t) and p[len(p) - len(t):] != t):
        raise EngineError(
            f"{name}: target shape {t} does not match predictions {p} "
            "(targets may only lack leading axes)"
        )


def _pair(pred, target) -> tuple[Tensor, Tensor]:
    pred = as_tensor(pred)
    if isinstance(target, Tensor):
        if target.dtype != pred.dtype:
            target = Tensor(target.value, dtype=pred.dtype)
    else:
        target = Tensor(target, dtype=pred.dtype)
    return pred, target


# ----------------------------------------------------------------------------------
# regression losses: one fused op "RegressionLoss" (kind = mse / mae / huber)


def _regression(kind: str, pred, target, reduction: str, delta: float = 1.0) -> Tensor:
    pred, target = _pair(pred, target)
    _check_target(kind, pred, target)
    diff = pred.value - target.value
    if kind == "mse":
        terms = np.square(diff)
    elif kind == "mae":
        terms = np.abs(diff)
    else:
        if delta <= 0:
            raise EngineError(f"huber: delta must be positive, got {delta}")
        absd = np.abs(diff)
        quadratic = 0.5 * np.square(diff)
        linear = delta * (absd - 0.5 * delta)
        terms = np.where(absd <= delta, quadratic, linear)
    _check_reduction(reduction, terms.shape)
    value = _reduce(terms, reduction, pred.dtype)
    return record(
        "RegressionLoss", value, (pred, target), kind=kind, reduction=reduction, delta=delta,
        diff=diff,
    )


@register_gradient("RegressionLoss")
def _regression_grad(op, grad):
    """d = pred - target. mse: 2d; mae: sign(d); huber: clip(d, -delta, delta).
    The target gets minus the prediction's gradient; both times the reduction's factor."""
    diff = op.attrs["diff"]
    kind = op.attrs["kind"]
    factor = _unreduce(grad, diff.shape, op.attrs["reduction"])
    if kind == "mse":
        dpred = diff * (2 * factor)
    elif kind == "mae":
        dpred = np.sign(diff) * factor
    else:
        delta = op.attrs["delta"]
        dpred = np.clip(diff, -delta, delta) * factor
    dpred = dpred.astype(diff.dtype, copy=False)
    return [dpred, Deferred(lambda: -dpred)]


def mse(pred, target, reduction: str = "mean") -> Tensor:
    """Mean squared error: mean((pred - target)**2)."""
    return _regression("mse", pred, target, reduction)


def mae(pred, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error: mean(|pred - target|) (L1 loss)."""
    return _regression("mae", pred, target, reduction)


def huber(pred, target, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """Huber: 0.5 d^2 where |d| <= delta, else delta (|d| - delta/2); d = pred - target.

    The same as torch's HuberLoss(delta=...).
    """
    return _regression("huber", pred, target, reduction, delta=float(delta))


# ----------------------------------------------------------------------------------
# softmax cross-entropy


def _labels(logits: Tensor, labels) -> tuple[np.ndarray | None, Tensor | None]:
    """(integer codes, None) or (None, rows as a Tensor), checked against the logits."""
    classes = logits.shape[-1]
    value = labels.value if isinstance(labels, Tensor) else np.asarray(labels)
    is_codes = value.dtype.kind in "iub" or (
        value.dtype.kind == "f" and value.ndim == 1 and logits.ndim >= 2
    )
    if is_codes:
        codes = value.astype(np.intp)
        if value.dtype.kind == "f" and not np.array_equal(codes, value):
            raise EngineError("softmax_cross_entropy: class codes must be whole numbers")
        if codes.size and (codes.min() < 0 or codes.max() >= classes):
            raise EngineError(
                f"softmax_cross_entropy: class codes must be in [0, {classes}), "
                f"got {codes.min()}..{codes.max()}"
            )
        batch = logits.shape[:-1]
        if codes.ndim > len(batch) or batch[len(batch) - codes.ndim:] != codes.shape:
            raise EngineError(
                f"softmax_cross_entropy: labels of shape {codes.shape} for logits {logits.shape}"
            )
        return codes, None
    rows = labels if isinstance(labels, Tensor) else Tensor(value, dtype=logits.dtype)
    if rows.dtype != logits.dtype:
        rows = Tensor(rows.value, dtype=logits.dtype)
    _check_target("softmax_cross_entropy", logits, rows)
    return None, rows


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """z - logsumexp(z) along the last axis, shifted by the max so exp never overflows.

    logsumexp = max + log(1 + sum of the others' exp(z - max)); taking log1p of that
    sum (rather than log of 1 + sum) keeps tiny losses of confident, correct
    predictions accurate instead of rounding them to 0.
    """
    top = z.argmax(axis=-1)[..., None]
    shifted = z - np.take_along_axis(z, top, axis=-1)
    others = np.exp(shifted)
    np.put_along_axis(others, top, 0, axis=-1)
    shifted -= np.log1p(others.sum(axis=-1, keepdims=True))
    return shifted


def softmax_cross_entropy(
    logits, labels, from_logits: bool = True, reduction: str = "mean"
) -> Tensor:
    """Cross-entropy between the softmax of `logits` and `labels`, per example -sum(y log p).

    `labels` are integer class codes of shape (batch,) or rows of class probabilities
    (one-hot) of the logits' shape; both give the same value. With
    ``from_logits=False``, `logits` are probabilities, clipped to [1e-7, 1 - 1e-7]
    before the log. A population's logits (K, batch, C) take shared labels.
    """
    logits = as_tensor(logits)
    if logits.ndim == 0:
        raise EngineError("softmax_cross_entropy: logits need a class axis")
    codes, rows = _labels(logits, labels)
    if not from_logits:
        probs = ops.clip(logits, EPSILON, 1 - EPSILON)
        if rows is None:
            rows = Tensor(np.eye(logits.shape[-1], dtype=logits.dtype)[codes])
        terms = -ops.sum(rows * ops.log(probs), axis=-1)
        return _reduce_tensor(terms, reduction)
    logp = _log_softmax(logits.value)
    if rows is None:
        index = np.broadcast_to(codes, logp.shape[:-1])[..., None]
        terms = -np.take_along_axis(logp, index, axis=-1)[..., 0]
        inputs = (logits,)
    else:
        terms = -(rows.value * logp).sum(axis=-1)
        inputs = (logits, rows)
    _check_reduction(reduction, terms.shape)
    value = _reduce(terms, reduction, logits.dtype)
    return record(
        "SoftmaxCrossEntropy", value, inputs, codes=codes, logp=logp, reduction=reduction
    )


@register_gradient("SoftmaxCrossEntropy")
def _softmax_cross_entropy_grad(op, grad):
    """d/dz = softmax(z) * sum(y) - y (= softmax(z) - onehot for codes); d/dy = -log p."""
    logp = op.attrs["logp"]
    factor = _unreduce(grad, logp.shape[:-1], op.attrs["reduction"])
    factor = np.asarray(factor, dtype=logp.dtype)[..., None] if np.ndim(factor) else factor
    dz = np.exp(logp)
    codes = op.attrs["codes"]
    if codes is not None:
        index = np.broadcast_to(codes, logp.shape[:-1])[..., None]
        np.put_along_axis(dz, index, np.take_along_axis(dz, index, axis=-1) - 1, axis=-1)
        dz *= factor
        return [dz]
    rows = op.inputs[1].value
    dz *= rows.sum(axis=-1, keepdims=True)
    dz -= rows
    dz *= factor
    return [dz, Deferred(lambda: (-logp * factor).astype(logp.dtype, copy=False))]


# ----------------------------------------------------------------------------------
# binary cross-entropy


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) written with tanh, which never overflows."""
    out = np.multiply(x, 0.5)
    np.tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def binary_cross_entropy(
    x, targets, from_logits: bool = True, reduction: str = "mean"
) -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) with p = sigmoid(x) (or p = x without from_logits).

    From logits, the stable form max(x, 0) - x t + log1p(exp(-|x|)) (torch's
    BCEWithLogitsLoss); from probabilities, p clipped to [1e-7, 1 - 1e-7] (torch's
    BCELoss clamps the logs at -100 instead).
    """
    x, targets = _pair(x, targets)
    _check_target("binary_cross_entropy", x, targets)
    if not from_logits:
        p = ops.clip(x, EPSILON, 1 - EPSILON)
        terms = -(targets * ops.log(p) + (1 - targets) * ops.log(1 - p))
        return _reduce_tensor(terms, reduction)
    z, t = x.value, targets.value
    terms = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    _check_reduction(reduction, terms.shape)
    value = _reduce(terms, reduction, x.dtype)
    return record("BinaryCrossEntropy", value, (x, targets), reduction=reduction)


@register_gradient("BinaryCrossEntropy")
def _binary_cross_entropy_grad(op, grad):
    """d/dx = sigmoid(x) - t;  d/dt = -x."""
    x, t = op.inputs
    factor = np.asarray(_unreduce(grad, x.shape, op.attrs["reduction"]), dtype=x.dtype)
    dx = _sigmoid(x.value)
    dx -= t.value
    dx *= factor
    return [dx, Deferred(lambda: -x.value * factor)]


__all__ = [
    "REDUCTIONS",
    "binary_cross_entropy",
    "huber",
    "mae",
    "mse",
    "softmax_cross_entropy",
]
