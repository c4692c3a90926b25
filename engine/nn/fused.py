"""Fused layer ops: ``activation(x @ W + b)`` and ``activation(y + b)`` as one op each.

A Dense layer (and the bias + activation after a Conv2D) records one op instead of
three, which keeps the per-step overhead of small models low; each gradient is written
out right below its forward, from the op's output alone, and the gradient of the
layer's input is only computed when something asks for it (`Deferred`), which a data
batch never does.
"""

from __future__ import annotations

import numpy as np

from engine.autodiff import Deferred
from engine.registry import register_gradient
from engine.tensor import EngineError, Tensor, as_tensor, record

# Activations fused into the Dense / BiasActivation ops: each has a derivative that
# can be written from the output alone.
FUSED_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":  # 1 / (1 + e^-z) via tanh: never overflows
        a = np.multiply(z, 0.5)
        np.tanh(a, out=a)
        a += 1
        a *= 0.5
        return a
    return z


def _activation_derivative(name: str, a: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """grad * f'(z) written with the output a = f(z)."""
    if name == "relu":
        return np.multiply(grad, a > 0, dtype=a.dtype)
    if name == "tanh":
        d = np.multiply(a, a)
        np.subtract(1, d, out=d)
        d *= grad
        return d
    if name == "sigmoid":
        d = np.subtract(1, a)
        d *= a
        d *= grad
        return d
    return grad


def _dense(x: Tensor, kernel: Tensor, bias: Tensor | None, activation: str):
    """(output Tensor, pre-activation array) of the fused Dense op."""
    try:
        z = np.matmul(x.value, kernel.value)
    except ValueError:
        raise EngineError(
            f"dense: input of shape {x.shape} does not fit a kernel of shape {kernel.shape}"
        ) from None
    inputs = (x, kernel)
    if bias is not None:
        z += bias.value
        inputs = (x, kernel, bias)
    return record("Dense", _activate(activation, z), inputs, activation=activation), z


def dense(x, kernel: Tensor, bias: Tensor | None = None, activation: str = "linear") -> Tensor:
    """activation(x @ kernel + bias) as one op ("Dense").

    x: (..., in); kernel (in, out) and bias (out,), or with a population axis:
    kernel (K, in, out), bias (K, 1, out), x (batch, in) shared or (K, batch, in).
    `activation` is one of FUSED_ACTIVATIONS.
    """
    if activation not in FUSED_ACTIVATIONS:
        raise EngineError(f"dense: fused activation must be one of {FUSED_ACTIVATIONS}")
    return _dense(as_tensor(x), kernel, bias, activation)[0]


@register_gradient("Dense")
def _dense_grad(op, grad):
    """a = f(z), z = x W + b:  dz = grad f'(z);  dW = x^T dz;  db = sum of dz over the
    batch;  dx = dz W^T (computed only if asked for)."""
    x, w = op.inputs[0], op.inputs[1]
    xv, wv = x.value, w.value
    dz = _activation_derivative(op.attrs["activation"], op.output.value, grad)
    if wv.ndim == 2:
        x2 = xv.reshape(-1, xv.shape[-1])
        dz2 = dz.reshape(-1, dz.shape[-1])
        dw = x2.T @ dz2
        db = dz2.sum(axis=0)
    else:  # population: (in, B) @ (K, B, out) or (K, in, B) @ (K, B, out) -> (K, in, out)
        dw = np.matmul(np.swapaxes(xv, -1, -2), dz)
        db = dz.sum(axis=-2, keepdims=True)
    dx = Deferred(lambda: np.matmul(dz, np.swapaxes(wv, -1, -2)))
    return [dx, dw, db] if len(op.inputs) == 3 else [dx, dw]


def _bias_activation(y: Tensor, bias: Tensor | None, activation: str):
    """(output Tensor, pre-activation array) of the fused BiasActivation op."""
    z = y.value + bias.value if bias is not None else y.value
    inputs = (y, bias) if bias is not None else (y,)
    return record("BiasActivation", _activate(activation, z), inputs, activation=activation), z


def bias_activation(y, bias: Tensor | None = None, activation: str = "linear") -> Tensor:
    """activation(y + bias) as one op ("BiasActivation"); bias broadcasts over y."""
    if activation not in FUSED_ACTIVATIONS:
        raise EngineError(f"bias_activation: activation must be one of {FUSED_ACTIVATIONS}")
    return _bias_activation(as_tensor(y), bias, activation)[0]


@register_gradient("BiasActivation")
def _bias_activation_grad(op, grad):
    """a = f(y + b): dy = grad f'(y + b); db = the same, summed over the broadcast axes."""
    dz = _activation_derivative(op.attrs["activation"], op.output.value, grad)
    return [dz, dz] if len(op.inputs) == 2 else [dz]
