"""Tensors, Variables and the record of the operations that made them.

The engine is eager (define-by-run): every op computes its value at once and, while
recording is on, remembers its inputs in an `Op`, so that `gradients` can walk the
record backwards later. A `Variable` is a tensor an optimizer may change in place.
"""

from __future__ import annotations

import contextlib
import numbers
import threading
import weakref
from collections.abc import Iterator

import numpy as np

DEFAULT_DTYPE = np.float32


class EngineError(ValueError):
    """Bad input to an engine op: the message names the op and the shapes involved."""


class Op:
    """One recorded application of an op: its name, inputs, attributes and output.

    A gradient function receives the Op and the gradient of its output, and returns
    one gradient per input.
    """

    __slots__ = ("_output", "attrs", "inputs", "name")

    def __init__(self, name: str, inputs: tuple[Tensor, ...], attrs: dict) -> None:
        self.name = name
        self.inputs = inputs
        self.attrs = attrs
        self._output = None

    @property
    def output(self) -> Tensor:
        # The output owns the Op; the Op holds the output weakly so no cycle is made.
        return self._output()

    def __repr__(self) -> str:
        shapes = ", ".join(str(t.shape) for t in self.inputs)
        return f"<Op {self.name}({shapes})>"


class _RecordingState(threading.local):
    # Per thread: two experiments training side by side (compare mode) must not turn
    # each other's recording off.
    recording = True


_state = _RecordingState()


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Compute without recording ops (evaluation, optimizer updates): faster, no graph."""
    previous = _state.recording
    _state.recording = False
    try:
        yield
    finally:
        _state.recording = previous


def is_recording() -> bool:
    return _state.recording


def _to_array(value, dtype=None, what: str = "Tensor") -> np.ndarray:
    """Turn a number, list or array into a float ndarray, or say clearly why not."""
    if isinstance(value, Tensor):
        value = value.value
    elif value is None:  # numpy would quietly turn None into nan
        raise EngineError(f"{what} needs numbers, got None")
    if dtype is not None:
        dtype = np.dtype(dtype)
    try:
        if dtype is None:
            if isinstance(value, np.ndarray | np.floating) and value.dtype.kind == "f":
                dtype = value.dtype  # float arrays keep their precision ("float64 when given")
            else:
                dtype = DEFAULT_DTYPE
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise EngineError(
            f"{what} needs numbers, got {type(value).__name__} {_short(value)!s}: {exc}"
        ) from None
    if array.dtype.kind not in "fc":
        raise EngineError(f"{what} needs a floating dtype, got {array.dtype}")
    return array


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Tensor:
    """A constant value in the graph: a numpy array plus the Op that produced it (if any)."""

    __slots__ = ("__weakref__", "name", "op", "value")
    # Make numpy defer to our reflected operators (np.float32(2) * t -> Tensor).
    __array_ufunc__ = None

    def __init__(self, value, dtype=None, name: str | None = None) -> None:
        self.value = _to_array(value, dtype, type(self).__name__)
        self.op: Op | None = None
        self.name = name

    # -- basic properties ---------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def T(self) -> Tensor:
        from engine import ops

        return ops.transpose(self)

    def numpy(self) -> np.ndarray:
        return self.value

    def item(self) -> float:
        return self.value.item()

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __len__(self) -> int:
        return len(self.value)

    def __repr__(self) -> str:
        label = f" name={self.name!r}" if self.name else ""
        made_by = f" op={self.op.name}" if self.op is not None else ""
        return f"{type(self).__name__}({self.value!r}{label}{made_by})"

    def __bool__(self) -> bool:
        raise TypeError("a Tensor has no truth value; compare tensor.value instead")

    # -- operators (defined in ops.py, bound here) ---------------------------------
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().subtract(self, other)

    def __rsub__(self, other):
        return _ops().subtract(other, self)

    def __mul__(self, other):
        return _ops().multiply(self, other)

    def __rmul__(self, other):
        return _ops().multiply(other, self)

    def __truediv__(self, other):
        return _ops().divide(self, other)

    def __rtruediv__(self, other):
        return _ops().divide(other, self)

    def __pow__(self, other):
        return _ops().power(self, other)

    def __rpow__(self, other):
        return _ops().power(other, self)

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def __neg__(self):
        return _ops().negative(self)

    def __abs__(self):
        return _ops().abs(self)

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def sum(self, axis=None, keepdims=False):
        return _ops().sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops().mean(self, axis=axis, keepdims=keepdims)


class Variable(Tensor):
    """A trainable tensor: a leaf of the graph whose value optimizers update in place."""

    __slots__ = ()

    def assign(self, value) -> None:
        """Set the value in place (keeps shape and dtype, so views of it stay valid)."""
        new = np.asarray(value, dtype=self.value.dtype)
        if new.shape != self.value.shape:
            raise EngineError(
                f"assign to Variable {self.name or ''}: shape {new.shape} "
                f"does not match {self.value.shape}"
            )
        self.value[...] = new


_ops_module = None


def _ops():
    # ops imports this module, so bind lazily.
    global _ops_module
    if _ops_module is None:
        from engine import ops

        _ops_module = ops
    return _ops_module


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """Return `value` as a Tensor; scalars and lists take the dtype of `like` (no upcasting).

    A scalar here is a Python number, a numpy scalar or a 0-d array: like a Python
    number in numpy and a 0-d tensor in torch, it does not promote the other operand,
    so `float32_tensor * np.array(2.0)` stays float32. Arrays with axes keep their own
    dtype and promote as numpy does.
    """
    if isinstance(value, Tensor):
        return value
    if like is not None and (
        isinstance(value, numbers.Number)
        or not isinstance(value, np.ndarray)
        or value.ndim == 0
    ):
        return Tensor(value, dtype=like.dtype)
    return Tensor(value)


def record(name: str, value: np.ndarray, inputs: tuple[Tensor, ...], **attrs) -> Tensor:
    """Wrap an op's computed `value` in a Tensor and, while recording, remember how it was made.

    This is how every op in the engine builds its output, and how a user adds an op of
    their own: compute the value with numpy, call `record("MyOp", value, (x,))`, and
    register its gradient with `@register_gradient("MyOp")`.
    """
    out = Tensor.__new__(Tensor)
    out.value = value if isinstance(value, np.ndarray) else np.asarray(value)
    out.name = None
    if _state.recording:
        op = Op(name, inputs, attrs)
        op._output = weakref.ref(out)
        out.op = op
    else:
        out.op = None
    return out
