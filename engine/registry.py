"""The gradient registry: op name -> function giving the gradients of its inputs.

As in TensorFlow's `RegisterGradient`, each op's gradient is registered by name
beside the op itself. A gradient function takes the recorded `Op` and the gradient
of the op's output (a numpy array) and returns one numpy array (or None) per input.
"""

from __future__ import annotations

from collections.abc import Callable

GradientFunction = Callable  # (op, grad) -> list[np.ndarray | None]

_GRADIENTS: dict[str, GradientFunction] = {}

# Ops whose output is piecewise constant in their inputs (comparisons, argmax,
# rounding) or that deliberately stop the gradient: no gradient flows through them.
NOT_DIFFERENTIABLE: set[str] = set()


def register_gradient(op_name: str) -> Callable[[GradientFunction], GradientFunction]:
    """Decorator: register `fn(op, grad) -> [grad per input]` as the gradient of `op_name`.

    Registering the same name twice is an error, so an op cannot be silently replaced.
    """
    if not isinstance(op_name, str) or not op_name:
        raise TypeError(f"register_gradient needs an op name, got {op_name!r}")

    def decorate(fn: GradientFunction) -> GradientFunction:
        if op_name in _GRADIENTS or op_name in NOT_DIFFERENTIABLE:
            raise KeyError(f"a gradient for op {op_name!r} is already registered")
        _GRADIENTS[op_name] = fn
        return fn

    return decorate


def not_differentiable(op_name: str) -> None:
    """Declare that no gradient flows through `op_name` (its inputs get none)."""
    if op_name in _GRADIENTS:
        raise KeyError(f"op {op_name!r} already has a gradient registered")
    NOT_DIFFERENTIABLE.add(op_name)


def get_gradient(op_name: str) -> GradientFunction | None:
    """The gradient function of `op_name`; None for a non-differentiable op.

    An op with neither a gradient nor a not-differentiable declaration is an error
    that names the op, so a missing gradient never turns silently into zeros.
    """
    try:
        return _GRADIENTS[op_name]
    except KeyError:
        if op_name in NOT_DIFFERENTIABLE:
            return None
        raise LookupError(
            f"no gradient registered for op {op_name!r}; register one with "
            f"@engine.register_gradient({op_name!r})"
        ) from None


def gradient_functions() -> dict[str, GradientFunction]:
    """The registry itself, op name -> gradient function (read it, do not change it)."""
    return _GRADIENTS


def registered_ops() -> list[str]:
    """Names of all ops with a registered gradient, sorted."""
    return sorted(_GRADIENTS)
