"""The math ops, each forward beside its gradient.

Every op computes its value with numpy now and records itself (see `record`); its
gradient, registered under the same name, turns the gradient of the output into
gradients of the inputs. Gradient docstrings state the formula. Gradients may have
the broadcast shape of the output: `gradients` sums them back to each input's shape.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import numpy as np

from engine.registry import not_differentiable, register_gradient
from engine.tensor import EngineError, Tensor, as_tensor, record

# ----------------------------------------------------------------------------------
# helpers


def _pair(x, y) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a plain number takes the other operand's dtype."""
    if isinstance(x, Tensor):
        return x, (y if isinstance(y, Tensor) else as_tensor(y, like=x))
    if not isinstance(y, Tensor):
        y = as_tensor(y)
    return as_tensor(x, like=y), y


def _elementwise(name: str, fn, x: Tensor, y: Tensor) -> np.ndarray:
    try:
        return fn(x.value, y.value)
    except ValueError:
        raise EngineError(
            f"{name}: shapes {x.shape} and {y.shape} cannot be broadcast together"
        ) from None


def _axes(axis, ndim: int) -> tuple[int, ...]:
    """Normalise an axis argument (None, int or tuple, negatives allowed) to a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    try:
        return tuple(sorted(int(a) % ndim if ndim else 0 for a in axis))
    except ZeroDivisionError:
        return ()


def _check_axes(name: str, axis, x: Tensor) -> None:
    if axis is None:
        return
    for a in (axis,) if isinstance(axis, int | np.integer) else axis:
        if not -x.ndim <= a < builtins.max(x.ndim, 1):
            raise EngineError(f"{name}: axis {a} is out of range for shape {x.shape}")


def _restore_reduced(grad: np.ndarray, x_shape, axis, keepdims: bool) -> np.ndarray:
    """Put back the axes a reduction removed so `grad` broadcasts against its input."""
    if not keepdims and axis is not None:
        grad = np.expand_dims(grad, _axes(axis, len(x_shape)))
    elif not keepdims:
        grad = grad.reshape((1,) * len(x_shape))
    return grad


def _spread(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`grad` copied out to `shape` (it broadcasts to it): a reduction's gradient.

    Filling a new array costs a third of `np.broadcast_to` on the small tensors where
    per-op time matters, and gives the walk a writable array of its own.
    """
    out = np.empty(shape, dtype=grad.dtype)
    out[...] = grad
    return out


# ----------------------------------------------------------------------------------
# arithmetic


def add(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Add", _elementwise("add", np.add, x, y), (x, y))


@register_gradient("Add")
def _add_grad(op, grad):
    """d(x+y) = dx + dy: the gradient passes unchanged to both."""
    return [grad, grad]


def subtract(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Sub", _elementwise("subtract", np.subtract, x, y), (x, y))


@register_gradient("Sub")
def _sub_grad(op, grad):
    """d(x-y) = dx - dy."""
    return [grad, -grad]


def multiply(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Mul", _elementwise("multiply", np.multiply, x, y), (x, y))


@register_gradient("Mul")
def _mul_grad(op, grad):
    """d(xy) = y dx + x dy."""
    x, y = op.inputs
    return [grad * y.value, grad * x.value]


def divide(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Div", _elementwise("divide", np.divide, x, y), (x, y))


@register_gradient("Div")
def _div_grad(op, grad):
    """d(x/y) = dx / y - x dy / y^2."""
    x, y = op.inputs
    return [grad / y.value, -grad * x.value / (y.value * y.value)]


def power(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Pow", _elementwise("power", np.power, x, y), (x, y))


@register_gradient("Pow")
def _pow_grad(op, grad):
    """d(x^y) = y x^(y-1) dx + x^y log(x) dy  (the dy term taken as 0 where x <= 0)."""
    x, y = op.inputs
    z = op.output.value
    dx = grad * y.value * np.power(x.value, y.value - 1)
    positive = x.value > 0
    dy = grad * z * np.where(positive, np.log(np.where(positive, x.value, 1)), 0)
    return [dx, dy]


def negative(x) -> Tensor:
    x = as_tensor(x)
    return record("Neg", np.negative(x.value), (x,))


@register_gradient("Neg")
def _neg_grad(op, grad):
    """d(-x) = -dx."""
    return [-grad]


def maximum(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Maximum", _elementwise("maximum", np.maximum, x, y), (x, y))


@register_gradient("Maximum")
def _maximum_grad(op, grad):
    """The gradient goes to the larger input (to x on a tie)."""
    x, y = op.inputs
    x_wins = x.value >= y.value
    return [grad * x_wins, grad * ~x_wins]


def minimum(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Minimum", _elementwise("minimum", np.minimum, x, y), (x, y))


@register_gradient("Minimum")
def _minimum_grad(op, grad):
    """The gradient goes to the smaller input (to x on a tie)."""
    x, y = op.inputs
    x_wins = x.value <= y.value
    return [grad * x_wins, grad * ~x_wins]


# ----------------------------------------------------------------------------------
# elementwise functions


def exp(x) -> Tensor:
    x = as_tensor(x)
    return record("Exp", np.exp(x.value), (x,))


@register_gradient("Exp")
def _exp_grad(op, grad):
    """d exp(x) = exp(x) dx."""
    return [grad * op.output.value]


def log(x) -> Tensor:
    x = as_tensor(x)
    return record("Log", np.log(x.value), (x,))


@register_gradient("Log")
def _log_grad(op, grad):
    """d log(x) = dx / x."""
    (x,) = op.inputs
    return [grad / x.value]


def sin(x) -> Tensor:
    x = as_tensor(x)
    return record("Sin", np.sin(x.value), (x,))


@register_gradient("Sin")
def _sin_grad(op, grad):
    """d sin(x) = cos(x) dx."""
    (x,) = op.inputs
    return [grad * np.cos(x.value)]


def cos(x) -> Tensor:
    x = as_tensor(x)
    return record("Cos", np.cos(x.value), (x,))


@register_gradient("Cos")
def _cos_grad(op, grad):
    """d cos(x) = -sin(x) dx."""
    (x,) = op.inputs
    return [-grad * np.sin(x.value)]


def tanh(x) -> Tensor:
    x = as_tensor(x)
    return record("Tanh", np.tanh(x.value), (x,))


@register_gradient("Tanh")
def _tanh_grad(op, grad):
    """d tanh(x) = (1 - tanh(x)^2) dx."""
    y = op.output.value
    return [grad * (1 - y * y)]


def sqrt(x) -> Tensor:
    x = as_tensor(x)
    return record("Sqrt", np.sqrt(x.value), (x,))


@register_gradient("Sqrt")
def _sqrt_grad(op, grad):
    """d sqrt(x) = dx / (2 sqrt(x))."""
    return [grad * 0.5 / op.output.value]


def square(x) -> Tensor:
    x = as_tensor(x)
    return record("Square", np.square(x.value), (x,))


@register_gradient("Square")
def _square_grad(op, grad):
    """d x^2 = 2x dx."""
    (x,) = op.inputs
    return [grad * 2 * x.value]


def abs(x) -> Tensor:
    x = as_tensor(x)
    return record("Abs", np.abs(x.value), (x,))


@register_gradient("Abs")
def _abs_grad(op, grad):
    """d |x| = sign(x) dx  (0 at x = 0, the subgradient TensorFlow and PyTorch use)."""
    (x,) = op.inputs
    return [grad * np.sign(x.value)]


def clip(x, lower: float, upper: float) -> Tensor:
    x = as_tensor(x)
    if lower > upper:
        raise EngineError(f"clip: lower bound {lower} is above upper bound {upper}")
    return record("Clip", np.clip(x.value, lower, upper), (x,), lower=lower, upper=upper)


@register_gradient("Clip")
def _clip_grad(op, grad):
    """The gradient passes where lower <= x <= upper and is 0 where x was clipped."""
    (x,) = op.inputs
    inside = (x.value >= op.attrs["lower"]) & (x.value <= op.attrs["upper"])
    return [grad * inside]


def where(condition, x, y) -> Tensor:
    """Elementwise `x if condition else y`; the condition gets no gradient."""
    condition = np.asarray(condition.value if isinstance(condition, Tensor) else condition, bool)
    x, y = _pair(x, y)
    try:
        value = np.where(condition, x.value, y.value)
    except ValueError:
        raise EngineError(
            f"where: shapes {condition.shape}, {x.shape} and {y.shape} cannot be broadcast"
        ) from None
    return record("Select", value, (x, y), condition=condition)


@register_gradient("Select")
def _select_grad(op, grad):
    """The gradient goes to x where the condition held and to y elsewhere."""
    condition = op.attrs["condition"]
    return [np.where(condition, grad, 0), np.where(condition, 0, grad)]


def stop_gradient(x) -> Tensor:
    """The same value, but no gradient flows back through it."""
    x = as_tensor(x)
    return record("StopGradient", x.value, (x,))


# Piecewise-constant ops: their value is a step function of the input.
for _name in ("StopGradient", "Sign", "Equal", "Greater", "Less", "ArgMax"):
    not_differentiable(_name)


def sign(x) -> Tensor:
    x = as_tensor(x)
    return record("Sign", np.sign(x.value), (x,))


def equal(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Equal", _elementwise("equal", np.equal, x, y).astype(x.dtype), (x, y))


def greater(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Greater", _elementwise("greater", np.greater, x, y).astype(x.dtype), (x, y))


def less(x, y) -> Tensor:
    x, y = _pair(x, y)
    return record("Less", _elementwise("less", np.less, x, y).astype(x.dtype), (x, y))


def argmax(x, axis: int = -1) -> np.ndarray:
    """Index of the largest value along `axis`, as an integer array (no gradient)."""
    x = as_tensor(x)
    _check_axes("argmax", axis, x)
    return np.argmax(x.value, axis=axis)


# ----------------------------------------------------------------------------------
# reductions


def sum(x, axis=None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    _check_axes("sum", axis, x)
    value = np.add.reduce(x.value, axis=axis, keepdims=keepdims)  # keeps x's float dtype
    return record("Sum", np.asarray(value), (x,), axis=axis, keepdims=keepdims)


@register_gradient("Sum")
def _sum_grad(op, grad):
    """Each summed element contributes with weight 1: the gradient is copied back."""
    (x,) = op.inputs
    grad = _restore_reduced(grad, x.shape, op.attrs["axis"], op.attrs["keepdims"])
    return [_spread(grad, x.shape)]


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    _check_axes("mean", axis, x)
    value = np.mean(x.value, axis=axis, keepdims=keepdims)
    return record("Mean", np.asarray(value, x.dtype), (x,), axis=axis, keepdims=keepdims)


@register_gradient("Mean")
def _mean_grad(op, grad):
    """Each of the n averaged elements contributes with weight 1/n."""
    (x,) = op.inputs
    count = x.size // builtins.max(op.output.size, 1)
    grad = _restore_reduced(grad, x.shape, op.attrs["axis"], op.attrs["keepdims"])
    return [_spread(grad / count, x.shape)]


def max(x, axis=None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    _check_axes("max", axis, x)
    if x.size == 0:
        raise EngineError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    value = np.max(x.value, axis=axis, keepdims=keepdims)
    return record("Max", np.asarray(value, x.dtype), (x,), axis=axis, keepdims=keepdims)


@register_gradient("Max")
def _max_grad(op, grad):
    """The gradient goes to the maximal element (shared equally among ties, as TensorFlow)."""
    (x,) = op.inputs
    axis, keepdims = op.attrs["axis"], op.attrs["keepdims"]
    y = _restore_reduced(op.output.value, x.shape, axis, keepdims)
    grad = _restore_reduced(grad, x.shape, axis, keepdims)
    is_max = x.value == y
    ties = np.sum(is_max, axis=_axes(axis, x.ndim), keepdims=True)
    return [grad * is_max / ties]


# ----------------------------------------------------------------------------------
# linear algebra and shapes


def matmul(a, b) -> Tensor:
    """Matrix product; leading (batch) axes broadcast, as numpy's matmul."""
    a, b = _pair(a, b)
    a_shape, b_shape = a.value.shape, b.value.shape
    if not a_shape or not b_shape:
        raise EngineError(f"matmul: needs at least 1-D operands, got {a_shape} and {b_shape}")
    inner_b = b_shape[0] if len(b_shape) == 1 else b_shape[-2]
    if a_shape[-1] != inner_b:
        raise EngineError(
            f"matmul: shapes {a.shape} and {b.shape} do not align "
            f"({a.shape[-1]} columns vs {inner_b} rows)"
        )
    try:
        value = np.matmul(a.value, b.value)
    except ValueError:
        raise EngineError(
            f"matmul: batch axes of {a.shape} and {b.shape} cannot be broadcast"
        ) from None
    return record("MatMul", value, (a, b))


@register_gradient("MatMul")
def _matmul_grad(op, grad):
    """C = A B:  dA = dC B^T,  dB = A^T dC  (1-D operands treated as a row / a column)."""
    a, b = op.inputs
    if a.value.ndim == 2 and b.value.ndim == 2:  # the common case, kept cheap
        return [grad @ b.value.T, a.value.T @ grad]
    A = a.value if a.ndim > 1 else a.value[None, :]
    B = b.value if b.ndim > 1 else b.value[:, None]
    G = grad
    if b.ndim == 1:  # first, so a 0-d grad of vector @ vector becomes (1,) then (1, 1)
        G = np.expand_dims(G, -1)
    if a.ndim == 1:
        G = np.expand_dims(G, -2)
    grad_a = G @ np.swapaxes(B, -1, -2)
    grad_b = np.swapaxes(A, -1, -2) @ G
    if a.ndim == 1:
        grad_a = grad_a[..., 0, :]
    if b.ndim == 1:
        grad_b = grad_b[..., 0]
    return [grad_a, grad_b]


def reshape(x, shape) -> Tensor:
    x = as_tensor(x)
    try:
        value = np.reshape(x.value, shape)
    except ValueError:
        raise EngineError(f"reshape: cannot reshape {x.shape} ({x.size} values) to {shape}") from None
    return record("Reshape", value, (x,))


@register_gradient("Reshape")
def _reshape_grad(op, grad):
    """Reshaping moves no values: the gradient is reshaped back."""
    (x,) = op.inputs
    return [np.reshape(grad, x.shape)]


def transpose(x, axes: Sequence[int] | None = None) -> Tensor:
    x = as_tensor(x)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
    if sorted(a % builtins.max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise EngineError(f"transpose: axes {axes} are not a permutation for shape {x.shape}")
    return record("Transpose", np.transpose(x.value, axes), (x,), axes=axes)


@register_gradient("Transpose")
def _transpose_grad(op, grad):
    """The gradient is transposed back by the inverse permutation."""
    return [np.transpose(grad, np.argsort(op.attrs["axes"]))]


def concat(tensors: Sequence, axis: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise EngineError("concat: needs at least one tensor")
    try:
        value = np.concatenate([t.value for t in tensors], axis=axis)
    except (ValueError, np.exceptions.AxisError):
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise EngineError(f"concat: cannot join shapes {shapes} along axis {axis}") from None
    return record("Concat", value, tuple(tensors), axis=axis)


@register_gradient("Concat")
def _concat_grad(op, grad):
    """Each input gets back its own slice of the gradient."""
    axis = op.attrs["axis"]
    sizes = [t.shape[axis] for t in op.inputs]
    return np.split(grad, np.cumsum(sizes)[:-1], axis=axis)


def stack(tensors: Sequence, axis: int = 0) -> Tensor:
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise EngineError("stack: needs at least one tensor")
    try:
        value = np.stack([t.value for t in tensors], axis=axis)
    except (ValueError, np.exceptions.AxisError):
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise EngineError(f"stack: shapes {shapes} differ or axis {axis} is invalid") from None
    return record("Pack", value, tuple(tensors), axis=axis)


@register_gradient("Pack")
def _stack_grad(op, grad):
    """Each input gets back its slice along the new axis."""
    axis = op.attrs["axis"]
    return [np.take(grad, i, axis=axis) for i in range(len(op.inputs))]


def broadcast_to(x, shape) -> Tensor:
    x = as_tensor(x)
    try:
        value = np.broadcast_to(x.value, shape)
    except ValueError:
        raise EngineError(f"broadcast_to: cannot broadcast {x.shape} to {tuple(shape)}") from None
    return record("BroadcastTo", value, (x,))


@register_gradient("BroadcastTo")
def _broadcast_to_grad(op, grad):
    """The copies' gradients are summed back (done by `gradients`' unbroadcast)."""
    return [grad]


def _is_basic_index(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return builtins.all(
        isinstance(p, int | np.integer | slice) or p is None or p is Ellipsis for p in parts
    )


def getitem(x, index) -> Tensor:
    x = as_tensor(x)
    if isinstance(index, Tensor):
        index = index.value.astype(np.intp)
    elif isinstance(index, tuple):
        index = tuple(i.value.astype(np.intp) if isinstance(i, Tensor) else i for i in index)
    try:
        value = x.value[index]
    except (IndexError, TypeError) as exc:
        raise EngineError(f"index into shape {x.shape} failed: {exc}") from None
    return record("GetItem", np.asarray(value), (x,), index=index)


@register_gradient("GetItem")
def _getitem_grad(op, grad):
    """The gradient lands on the selected elements (added up where one is picked twice)."""
    (x,) = op.inputs
    index = op.attrs["index"]
    out = np.zeros(x.shape, dtype=grad.dtype)
    if _is_basic_index(index):
        out[index] = grad  # basic indexing never picks an element twice
    else:
        np.add.at(out, index, grad)
    return [out]


# ----------------------------------------------------------------------------------
# Tensor's operators: `a * b` is `multiply(a, b)`, `2 - a` is `subtract(2, a)`. Bound
# here, where the ops live, so that tensor.py needs nothing from this module.


def _swapped(op):
    def reflected(self, other):
        return op(other, self)

    reflected.__name__ = f"reflected_{op.__name__}"
    return reflected


def _reshape_method(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    return reshape(self, shape)


for _name, _op in {
    "add": add, "sub": subtract, "mul": multiply, "truediv": divide, "pow": power,
    "matmul": matmul,
}.items():
    setattr(Tensor, f"__{_name}__", _op)
    setattr(Tensor, f"__r{_name}__", _swapped(_op))
Tensor.__neg__ = negative
Tensor.__abs__ = abs
Tensor.__getitem__ = getitem
Tensor.T = property(transpose)
Tensor.reshape = _reshape_method
Tensor.sum = sum
Tensor.mean = mean
