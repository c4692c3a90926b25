"""Reverse-mode differentiation over the recorded ops, and central differences to check it.

`gradients(ys, xs)` walks the ops that made `ys` newest first (a reverse topological
order, since an op always runs after the ops that made its inputs), asks each op's
registered gradient function for the gradients of its inputs, and adds up the
contributions of every path (chain rule). Broadcasting is undone here, in one
place, so no gradient function has to care about it.
"""

from __future__ import annotations

import heapq
import inspect
import math
from collections.abc import Callable, Sequence

import numpy as np

from engine.registry import get_gradient, gradient_functions
from engine.tensor import EngineError, Tensor, no_grad


class Deferred:
    """A gradient computed only if the backward walk uses it.

    `gradients` skips the gradient of an input nothing asked for before turning it
    into an array (``np.asarray`` calls ``__array__``), so an input gradient that is
    costly (a data batch's gradient through a Dense layer) is never computed unless
    wanted.
    """

    __slots__ = ("fn",)

    def __init__(self, fn) -> None:
        self.fn = fn

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.fn()
        return out if dtype is None else out.astype(dtype, copy=False)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`: the adjoint of numpy broadcasting `shape` up to grad.shape."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0 and grad.size == math.prod(shape) and grad.shape[extra:] == shape:
        return grad.reshape(shape)  # only axes of length 1 were added (a batch of one)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def gradients(ys, xs, grad_ys=None) -> list[np.ndarray]:
    """d(sum of ys)/d(x) for each x in xs, as numpy arrays (like `tf.gradients`).

    `ys` is a tensor or a list of tensors; `grad_ys` optionally gives the gradient
    flowing into each y (default ones). An x that ys do not depend on gets zeros.
    """
    single_y = isinstance(ys, Tensor)
    ys = [ys] if single_y else list(ys)
    xs_list = [xs] if isinstance(xs, Tensor) else list(xs)
    for t in [*ys, *xs_list]:
        if not isinstance(t, Tensor):
            raise EngineError(f"gradients: expected Tensors, got {type(t).__name__}")
    if grad_ys is None:
        grad_ys = [np.ones(y.value.shape, y.value.dtype) for y in ys]
    else:
        grad_ys = [grad_ys] if single_y else list(grad_ys)
        if len(grad_ys) != len(ys):
            raise EngineError(f"gradients: {len(ys)} ys but {len(grad_ys)} grad_ys")
        grad_ys = [np.broadcast_to(np.asarray(g, y.dtype), y.shape) for g, y in zip(grad_ys, ys)]

    # id(tensor) -> its gradient so far. Contributions are added with `+`, never in
    # place: one gradient array may be shared by several paths.
    grads: dict[int, np.ndarray] = {}
    # The tensors waiting for their op's gradient, newest op first. Ops are numbered
    # as they run, and an op runs after the ops that made its inputs, so the newest
    # waiting tensor has no consumer left to hear from: its gradient is complete.
    # (`a + a * a` must see both uses of `a` before going on from `a`.)
    waiting: list[tuple[int, int, Tensor]] = []
    xs_ids = {id(x) for x in xs_list}
    # (tensor, gradient) pairs to add in: first the ys', then each op's inputs'.
    contributions = zip(ys, grad_ys)
    op = None
    registered = gradient_functions()
    with no_grad():
        while True:
            for parent, pgrad in contributions:
                parent_op, key = parent.op, id(parent)
                # Constants and data (leaves that are not among the xs) need none.
                if pgrad is None or (parent_op is None and key not in xs_ids):
                    continue
                if type(pgrad) is not np.ndarray:
                    pgrad = np.asarray(pgrad)
                if pgrad.shape != parent.value.shape:
                    pgrad = _fit_gradient(op, pgrad, parent.value.shape)
                previous = grads.get(key)
                if previous is not None:
                    grads[key] = previous + pgrad
                    continue
                grads[key] = pgrad
                if parent_op is not None:  # a first contribution: queue its own op
                    # Newest op first: heapq pops the smallest, so the number is negated.
                    heapq.heappush(waiting, (-parent_op.sequence, key, parent))
            if not waiting:
                break
            _, key, node = heapq.heappop(waiting)
            op = node.op
            # The registry's dict first (one lookup per op); get_gradient for the rest
            # (a non-differentiable op gives None, an unknown one a clear error).
            fn = registered.get(op.name) or get_gradient(op.name)
            input_grads = fn(op, grads[key]) if fn is not None else [None] * len(op.inputs)
            if len(input_grads) != len(op.inputs):
                raise EngineError(
                    f"gradient of {op.name} returned {len(input_grads)} gradients "
                    f"for {len(op.inputs)} inputs"
                )
            contributions = zip(op.inputs, input_grads)

    # Hand back arrays the caller may edit in place (clip one, zero another) without
    # touching anything else: owned, writable, and never the same array twice.
    result = []
    handed_out: set[int] = set()
    for x in xs_list:
        g = grads.get(id(x))
        if g is None:
            result.append(np.zeros_like(x.value))
            continue
        g = np.asarray(g, dtype=x.dtype)
        if not g.flags.writeable or g.base is not None or id(g) in handed_out:
            g = g.copy()
        handed_out.add(id(g))
        result.append(g)
    return result


def _fit_gradient(op, grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo broadcasting; any other shape mismatch is a bug in the op's gradient."""
    try:
        grad = unbroadcast(grad, shape)
    except (ValueError, IndexError):
        pass
    if grad.shape != shape:
        raise EngineError(
            f"gradient of {op.name} gave shape {grad.shape} for an input of shape {shape}"
        )
    return grad


def numerical_gradients(
    f: Callable[..., Tensor], xs: Sequence[Tensor], eps: float | None = None
) -> list[np.ndarray]:
    """Central differences (f(x+eps) - f(x-eps)) / 2eps of sum(f) for each element of each x.

    `f` is called as `f(*xs)` (or `f()` if it takes no arguments) and may return a
    Tensor or an array; its sum is differentiated. The values of xs are perturbed in
    place and restored. `eps` defaults to 1e-6 for float64 and 1e-3 for float32.
    """
    xs = list(xs)
    takes_args = _accepts_arguments(f, len(xs))

    def evaluate() -> float:
        with no_grad():
            out = f(*xs) if takes_args else f()
        value = out.value if isinstance(out, Tensor) else np.asarray(out)
        return float(np.sum(value, dtype=np.float64))

    result = []
    for x in xs:
        step = eps if eps is not None else (1e-6 if x.dtype == np.float64 else 1e-3)
        grad = np.zeros(x.shape, dtype=np.float64)
        flat = x.value.reshape(-1)  # a view: writing to it perturbs x
        if not np.shares_memory(flat, x.value):
            raise EngineError("numerical_gradients needs contiguous tensor values")
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + step
            plus = evaluate()
            flat[i] = original - step
            minus = evaluate()
            flat[i] = original
            grad.reshape(-1)[i] = (plus - minus) / (2 * step)
        result.append(grad)
    return result


def _accepts_arguments(f: Callable, count: int) -> bool:
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):
        return True
    params = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return bool(params) and count > 0
