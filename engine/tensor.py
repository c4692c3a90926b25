"""Tensors, Variables and the record of the operations that made them.

The engine is eager (define-by-run): every op computes its value at once and, while
recording is on, remembers its inputs in an `Op`, so that `gradients` can walk the
record backwards later. A `Variable` is a tensor an optimizer may change in place.
"""

from __future__ import annotations

import itertools
import numbers
import threading
import weakref

import numpy as np

DEFAULT_DTYPE = np.float32


class EngineError(ValueError):
    """Bad input to an engine op: the message names the op and the shapes involved."""


class Op:
    """One recorded application of an op: its name, inputs, attributes and output.

    A gradient function receives the Op and the gradient of its output, and returns
    one gradient per input.
    """

    __slots__ = ("_output", "attrs", "inputs", "name", "sequence")

    def __init__(self, name: str, inputs: tuple[Tensor, ...], attrs: dict) -> None:
        self.name = name
        self.inputs = inputs
        self.attrs = attrs
        self._output = None
        # Ops are numbered as they run. An op's inputs exist before it runs, so
        # every op has a larger number than the ops that made its inputs: sorting by
        # it is a topological order, which is all the reverse walk needs.
        self.sequence = next(_op_counter)

    @property
    def output(self) -> Tensor:
        # The output owns the Op; the Op holds the output weakly so no cycle is made.
        return self._output()

    def __repr__(self) -> str:
        shapes = ", ".join(str(t.shape) for t in self.inputs)
        return f"<Op {self.name}({shapes})>"


_op_counter = itertools.count()


class _RecordingState(threading.local):
    # Per thread: two experiments training side by side (compare mode) must not turn
    # each other's recording off.
    recording = True


_state = _RecordingState()


class no_grad:  # noqa: N801  (used like a function: `with no_grad():`)
    """Compute without recording ops (evaluation, optimizer updates): faster, no graph.

    A class rather than a generator-based context manager: it is entered on every
    optimizer step and every backward pass, and costs a third as much this way.
    """

    __slots__ = ("_previous",)

    def __enter__(self) -> None:
        self._previous = _state.recording
        _state.recording = False

    def __exit__(self, *exc_info) -> None:
        _state.recording = self._previous


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

    # Operators (`a * b`, `a @ b`, `-a`, `a[i]`, `a.T`, `a.sum()`, ...) are the ops of
    # engine/ops.py, bound to this class there, beside the ops themselves.


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


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """Return `value` as a Tensor; scalars and lists take the dtype of `like` (no upcasting).

    A scalar here is a Python number, a numpy scalar or a 0-d array: like a Python
    number in numpy and a 0-d tensor in torch, it does not promote the other operand,
    so `float32_tensor * np.array(2.0)` stays float32. Arrays with axes keep their own
    dtype and promote as numpy does.
    """
    if isinstance(value, Tensor):
        return value
    if like is not None and type(value) in (float, int):  # the common case, kept cheap
        return constant(np.array(value, dtype=like.value.dtype))
    if like is not None and (
        isinstance(value, numbers.Number)
        or not isinstance(value, np.ndarray)
        or value.ndim == 0
    ):
        return Tensor(value, dtype=like.dtype)
    return Tensor(value)


def constant(array: np.ndarray) -> Tensor:
    """A Tensor around a float ndarray the engine made itself (no checks, no copy)."""
    out = Tensor.__new__(Tensor)
    out.value = array
    out.name = None
    out.op = None
    return out


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
