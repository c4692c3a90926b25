"""Activation functions and the softmax family, each an op with its gradient beside it.

These are the functions the Activation lab plots and the layers apply. Each forward
computes its value with numpy in a numerically stable way (no overflow for large |x|)
and records itself; the registered gradient below it turns the gradient of the output
into the gradient of the input. Gradient docstrings state the formula.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from engine import ops
from engine.registry import register_gradient
from engine.tensor import EngineError, Tensor, as_tensor, record

# tanh is already a math op of the engine (with its gradient): reuse it.
tanh = ops.tanh

# ----------------------------------------------------------------------------------
# sigmoid and relatives


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow: only ever exponentiate -|x| <= 0."""
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid(x) -> Tensor:
    """The logistic function 1 / (1 + e^-x), squashing any number into (0, 1)."""
    x = as_tensor(x)
    return record("Sigmoid", _stable_sigmoid(x.value), (x,))


@register_gradient("Sigmoid")
def _sigmoid_grad(op, grad):
    """d sigmoid(x) = y (1 - y) dx, with y = sigmoid(x); at most 0.25 (at x = 0)."""
    y = op.output.value
    return [grad * y * (1 - y)]


def silu(x) -> Tensor:
    """SiLU (swish): x * sigmoid(x)."""
    x = as_tensor(x)
    return record("Silu", x.value * _stable_sigmoid(x.value), (x,))


@register_gradient("Silu")
def _silu_grad(op, grad):
    """d (x s(x)) = s(x) (1 + x (1 - s(x))) dx, with s the sigmoid."""
    (x,) = op.inputs
    s = _stable_sigmoid(x.value)
    return [grad * s * (1 + x.value * (1 - s))]


def softplus(x) -> Tensor:
    """softplus(x) = log(1 + e^x), computed as log1p(e^-|x|) + max(x, 0) so it never overflows."""
    x = as_tensor(x)
    v = x.value
    return record("Softplus", np.log1p(np.exp(-np.abs(v))) + np.maximum(v, 0), (x,))


@register_gradient("Softplus")
def _softplus_grad(op, grad):
    """d softplus(x) = sigmoid(x) dx."""
    (x,) = op.inputs
    return [grad * _stable_sigmoid(x.value)]


# ----------------------------------------------------------------------------------
# the ReLU family


def relu(x) -> Tensor:
    """max(x, 0)."""
    x = as_tensor(x)
    return record("Relu", np.maximum(x.value, x.value.dtype.type(0)), (x,))


@register_gradient("Relu")
def _relu_grad(op, grad):
    """d relu(x) = dx where x > 0, else 0 (a unit that stays negative gets no gradient: dead)."""
    # sign(relu(x)) is that 0/1 mask already as floats: multiplying by it takes half
    # the time of multiplying by a boolean mask on the small arrays of a live lab.
    return [grad * np.sign(op.output.value)]


def leaky_relu(x, alpha: float = 0.01) -> Tensor:
    """x for x > 0, alpha * x otherwise: a small slope keeps negative units alive."""
    x = as_tensor(x)
    v = x.value
    return record("LeakyRelu", np.where(v > 0, v, alpha * v), (x,), alpha=alpha)


@register_gradient("LeakyRelu")
def _leaky_relu_grad(op, grad):
    """d leaky_relu(x) = dx for x > 0, alpha dx otherwise."""
    (x,) = op.inputs
    return [np.where(x.value > 0, grad, op.attrs["alpha"] * grad)]


def prelu(x, alpha) -> Tensor:
    """Parametric ReLU (He et al. 2015): x for x > 0, alpha * x otherwise, alpha learned.

    `alpha` is a Tensor or Variable: a scalar (one shared slope) or one slope per
    channel, of shape (C,), broadcasting over the last axis of x.
    """
    x = as_tensor(x)
    alpha = as_tensor(alpha, like=x)
    v = x.value
    try:
        value = np.where(v > 0, v, alpha.value * v)
    except ValueError:
        raise EngineError(
            f"prelu: slopes of shape {alpha.shape} do not broadcast over input {x.shape} "
            "(give a scalar or one slope per channel, the last axis)"
        ) from None
    return record("PRelu", value, (x, alpha))


@register_gradient("PRelu")
def _prelu_grad(op, grad):
    """dx = grad for x > 0, alpha grad otherwise;  d alpha = grad * x where x <= 0, else 0.

    The alpha gradient has the output's shape here; `gradients` sums it over the
    positions that share a slope.
    """
    x, alpha = op.inputs
    positive = x.value > 0
    return [np.where(positive, grad, alpha.value * grad), np.where(positive, 0, grad * x.value)]


def rrelu(
    x,
    lower: float = 1 / 8,
    upper: float = 1 / 3,
    training: bool = True,
    rng: np.random.Generator | None = None,
) -> Tensor:
    """Randomized leaky ReLU (Xu et al. 2015, as PyTorch): x for x >= 0, slope * x otherwise.

    In training each element draws its own slope ~ U(lower, upper) from `rng` (kept
    in the op's attrs["slopes"]); at test time every slope is the mean (lower+upper)/2.
    """
    x = as_tensor(x)
    if not 0 <= lower <= upper:
        raise EngineError(f"rrelu: needs 0 <= lower <= upper, got lower={lower}, upper={upper}")
    if training:
        rng = np.random.default_rng() if rng is None else rng
        slopes = rng.uniform(lower, upper, size=x.shape).astype(x.dtype)
    else:
        slopes = np.asarray((lower + upper) / 2, dtype=x.dtype)
    v = x.value
    return record("RRelu", np.where(v >= 0, v, slopes * v), (x,), slopes=slopes)


@register_gradient("RRelu")
def _rrelu_grad(op, grad):
    """d rrelu(x) = dx for x >= 0, slope dx otherwise (the slopes drawn in the forward pass)."""
    (x,) = op.inputs
    return [np.where(x.value >= 0, grad, op.attrs["slopes"] * grad)]


# ----------------------------------------------------------------------------------
# exponential linear units

# SELU's constants (Klambauer et al. 2017), which make activations self-normalising.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def elu(x, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise."""
    x = as_tensor(x)
    v = x.value
    # expm1 of min(x, 0): exact near 0, and never overflows for large positive x.
    return record("Elu", np.where(v > 0, v, alpha * np.expm1(np.minimum(v, 0))), (x,), alpha=alpha)


@register_gradient("Elu")
def _elu_grad(op, grad):
    """d elu(x) = dx for x > 0, (elu(x) + alpha) dx otherwise (= alpha e^x)."""
    (x,) = op.inputs
    y = op.output.value
    return [np.where(x.value > 0, grad, grad * (y + op.attrs["alpha"]))]


def selu(x) -> Tensor:
    """scale * elu(x, alpha) with the standard SELU constants."""
    x = as_tensor(x)
    v = x.value
    value = SELU_SCALE * np.where(v > 0, v, SELU_ALPHA * np.expm1(np.minimum(v, 0)))
    return record("Selu", value, (x,))


@register_gradient("Selu")
def _selu_grad(op, grad):
    """d selu(x) = scale dx for x > 0, (selu(x) + scale alpha) dx otherwise."""
    (x,) = op.inputs
    y = op.output.value
    return [np.where(x.value > 0, SELU_SCALE * grad, grad * (y + SELU_SCALE * SELU_ALPHA))]


# ----------------------------------------------------------------------------------
# GELU

_erf_ufunc = None


def _erf(x: np.ndarray) -> np.ndarray:
    """scipy's erf, a fast ufunc, imported on first use: importing scipy.special took
    0.3 s of every start of the app, GELU or not. Without scipy, the standard library's."""
    global _erf_ufunc
    if _erf_ufunc is None:
        try:
            from scipy.special import erf as _erf_ufunc
        except ImportError:  # pragma: no cover - scipy is installed wherever the tests run
            _erf_ufunc = np.vectorize(math.erf, otypes=[np.float64])
    return _erf_ufunc(x)

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


def gelu(x, approximate: bool = False) -> Tensor:
    """GELU: x * Phi(x), Phi the standard normal CDF (Hendrycks and Gimpel 2016).

    Exact form 0.5 x (1 + erf(x / sqrt 2)); with `approximate=True` the tanh form
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as in BERT and GPT-2.
    """
    x = as_tensor(x)
    v = x.value
    if approximate:
        inner = _SQRT_2_OVER_PI * (v + _GELU_CUBIC * v**3)
        value = 0.5 * v * (1 + np.tanh(inner))
    else:
        value = 0.5 * v * (1 + _erf(v / _SQRT_2).astype(v.dtype, copy=False))
    return record("Gelu", value, (x,), approximate=approximate)


@register_gradient("Gelu")
def _gelu_grad(op, grad):
    """Exact: d (x Phi(x)) = (Phi(x) + x phi(x)) dx, phi(x) = e^(-x^2/2) / sqrt(2 pi).

    Tanh form, t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3):
    d = (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)) dx.
    """
    (x,) = op.inputs
    v = x.value
    if op.attrs["approximate"]:
        t = np.tanh(_SQRT_2_OVER_PI * (v + _GELU_CUBIC * v**3))
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_CUBIC * v**2)
        return [grad * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du)]
    cdf = 0.5 * (1 + _erf(v / _SQRT_2).astype(v.dtype, copy=False))
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * v * v)
    return [grad * (cdf + v * pdf)]


# ----------------------------------------------------------------------------------
# softmax, log-softmax, log-sum-exp


def _check_axis(name: str, axis: int, x: Tensor) -> None:
    if not isinstance(axis, int | np.integer) or not -x.ndim <= axis < max(x.ndim, 1):
        raise EngineError(f"{name}: axis {axis!r} is not an axis of shape {x.shape}")
    if x.ndim == 0:
        raise EngineError(f"{name}: needs at least a 1-D tensor, got a scalar")


def _max_of(v: np.ndarray, axis: int) -> np.ndarray:
    """The max along `axis` (kept as a length-1 axis), to subtract before exponentiating.

    After subtracting it e^x is at most 1, so nothing overflows. A slice that is all
    -inf (or holds +inf) has no finite max: it is shifted by 0, not made nan by inf - inf.
    """
    m = np.max(v, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0)


def softmax(x, axis: int = -1) -> Tensor:
    """e^x / sum(e^x) along `axis`: scores to probabilities that sum to 1."""
    x = as_tensor(x)
    _check_axis("softmax", axis, x)
    e = np.exp(x.value - _max_of(x.value, axis))
    return record("Softmax", e / np.sum(e, axis=axis, keepdims=True), (x,), axis=axis)


@register_gradient("Softmax")
def _softmax_grad(op, grad):
    """dx = y (g - sum(g y, axis)), y = softmax(x): the Jacobian diag(y) - y y^T applied to g."""
    y = op.output.value
    axis = op.attrs["axis"]
    return [y * (grad - np.sum(grad * y, axis=axis, keepdims=True))]


def log_softmax(x, axis: int = -1) -> Tensor:
    """log(softmax(x)) = (x - max) - log(sum(e^(x - max))): finite even for logits of +-1000."""
    x = as_tensor(x)
    _check_axis("log_softmax", axis, x)
    s = x.value - _max_of(x.value, axis)
    value = s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))
    return record("LogSoftmax", value, (x,), axis=axis)


@register_gradient("LogSoftmax")
def _log_softmax_grad(op, grad):
    """dx = g - softmax(x) sum(g, axis), with softmax(x) = e^y."""
    y = op.output.value
    axis = op.attrs["axis"]
    return [grad - np.exp(y) * np.sum(grad, axis=axis, keepdims=True)]


def logsumexp(x, axis: int = -1, keepdims: bool = False) -> Tensor:
    """log(sum(e^x)) along `axis`, computed as max + log(sum(e^(x - max)))."""
    x = as_tensor(x)
    _check_axis("logsumexp", axis, x)
    m = _max_of(x.value, axis)
    value = m + np.log(np.sum(np.exp(x.value - m), axis=axis, keepdims=True))
    if not keepdims:
        value = np.squeeze(value, axis=axis)
    return record("LogSumExp", value, (x,), axis=axis, keepdims=keepdims)


@register_gradient("LogSumExp")
def _logsumexp_grad(op, grad):
    """dx = g softmax(x) = g e^(x - logsumexp(x)), g broadcast back along the summed axis."""
    (x,) = op.inputs
    axis, y = op.attrs["axis"], op.output.value
    if not op.attrs["keepdims"]:
        grad, y = np.expand_dims(grad, axis), np.expand_dims(y, axis)
    return [grad * np.exp(x.value - y)]


# ----------------------------------------------------------------------------------
# lookup by name, for layers and labs


def identity(x) -> Tensor:
    """The linear activation f(x) = x (returns x itself, recording nothing)."""
    return as_tensor(x)


ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "silu": silu,
    "softplus": softplus,
    "linear": identity,
    "identity": identity,
}
"""The elementwise activations by name (default parameters), as `Activation(name)` uses them."""


def activation(name: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """The activation function called `name` (case-insensitive); a callable is returned as is."""
    if callable(name):
        return name
    key = str(name).strip().lower().replace("-", "_")
    try:
        return ACTIVATIONS[key]
    except KeyError:
        valid = ", ".join(sorted(ACTIVATIONS))
        raise EngineError(f"unknown activation {name!r}; valid names: {valid}") from None
