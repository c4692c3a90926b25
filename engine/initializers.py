"""Weight initializers: the starting values of a layer's Variables.

Each initializer is a callable ``init(shape, rng) -> np.ndarray`` (float32 unless a
``dtype`` is given) that draws from ``rng`` (a ``numpy.random.Generator``), so a model
built twice from the same seed starts from the same weights. Fan-in and fan-out follow
Keras: a Dense kernel (in, out) has fan_in = in, fan_out = out; an HWIO conv kernel
(kh, kw, cin, cout) has fan_in = kh*kw*cin and fan_out = kh*kw*cout.

    init = en.initializers.get("he_uniform")
    w = init((784, 256), np.random.default_rng(0))   # U(-sqrt(6/784), sqrt(6/784))

The "normal" variants draw, as Keras does, from a normal truncated at two standard
deviations and rescaled so that the samples' standard deviation is the stated one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

Shape = Sequence[int]
Initializer = Callable[..., np.ndarray]

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it makes the
# truncated samples' standard deviation the requested one (Keras' VarianceScaling).
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of `shape`, with Keras' conventions.

    0-d: (1, 1); 1-d (n,): (n, n); 2-d (in, out): (in, out); n-d kernels
    (..., cin, cout) such as HWIO: the receptive field prod(shape[:-2]) times cin and cout.
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(shape: Shape, std: float, rng: np.random.Generator, dtype) -> np.ndarray:
    """Normal samples with all values within two (pre-scaling) standard deviations."""
    scale = std / _TRUNCATED_STD
    out = rng.standard_normal(size=tuple(shape))
    bad = np.abs(out) > 2.0
    while bad.any():  # redraw the few (~4.6%) outside [-2, 2]
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (out * scale).astype(dtype, copy=False)


class VarianceScaling:
    """Samples with variance scale / n, n = fan_in, fan_out or their mean (Keras' rule).

    distribution "uniform": U(-limit, limit) with limit = sqrt(3 scale / n);
    "truncated_normal": std sqrt(scale / n), truncated at two standard deviations.
    """

    def __init__(self, scale: float, mode: str, distribution: str, name: str) -> None:
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: unknown mode {mode!r}")
        if distribution not in ("uniform", "truncated_normal"):
            raise ValueError(f"VarianceScaling: unknown distribution {distribution!r}")
        self.scale, self.mode, self.distribution, self.name = scale, mode, distribution, name

    def _n(self, shape: Shape) -> float:
        fan_in, fan_out = compute_fans(shape)
        return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[
            self.mode
        ]

    def limit(self, shape: Shape) -> float:
        """The bound of the uniform variant for a weight of `shape`."""
        return math.sqrt(3.0 * self.scale / max(1.0, self._n(shape)))

    def std(self, shape: Shape) -> float:
        """The standard deviation of the samples for a weight of `shape`."""
        return math.sqrt(self.scale / max(1.0, self._n(shape)))

    def __call__(self, shape: Shape, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
        if self.distribution == "uniform":
            limit = self.limit(shape)
            return rng.uniform(-limit, limit, size=tuple(shape)).astype(dtype, copy=False)
        return _truncated_normal(shape, self.std(shape), rng, dtype)

    def __repr__(self) -> str:
        return f"<initializer {self.name}>"


class Constant:
    """Every element equal to `value` (draws nothing from the rng)."""

    def __init__(self, value: float = 0.0, name: str | None = None) -> None:
        self.value = float(value)
        self.name = name or f"constant({self.value})"

    def __call__(self, shape: Shape, rng: np.random.Generator | None = None, dtype=np.float32):
        return np.full(tuple(shape), self.value, dtype=dtype)

    def __repr__(self) -> str:
        return f"<initializer {self.name}>"


#: U(-sqrt(6 / fan_in), sqrt(6 / fan_in))  (He et al. 2015, for ReLU layers)
he_uniform = VarianceScaling(2.0, "fan_in", "uniform", "he_uniform")
#: truncated normal, std sqrt(2 / fan_in)
he_normal = VarianceScaling(2.0, "fan_in", "truncated_normal", "he_normal")
#: U(-sqrt(6 / (fan_in + fan_out)), +...)  (Glorot and Bengio 2010, "Xavier")
glorot_uniform = VarianceScaling(1.0, "fan_avg", "uniform", "glorot_uniform")
#: truncated normal, std sqrt(2 / (fan_in + fan_out))
glorot_normal = VarianceScaling(1.0, "fan_avg", "truncated_normal", "glorot_normal")
#: U(-sqrt(3 / fan_in), sqrt(3 / fan_in))
lecun_uniform = VarianceScaling(1.0, "fan_in", "uniform", "lecun_uniform")
#: truncated normal, std sqrt(1 / fan_in)
lecun_normal = VarianceScaling(1.0, "fan_in", "truncated_normal", "lecun_normal")
zeros = Constant(0.0, "zeros")
ones = Constant(1.0, "ones")


def constant(value: float) -> Constant:
    """An initializer filling every element with `value`."""
    return Constant(value)


_BY_NAME: dict[str, Initializer] = {
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform,
    "xavier_normal": glorot_normal,
    "lecun_uniform": lecun_uniform,
    "lecun_normal": lecun_normal,
    "zeros": zeros,
    "ones": ones,
}


def get(init: str | Initializer) -> Initializer:
    """The initializer called `init` (e.g. "he_uniform"); a callable is returned as is."""
    if callable(init):
        return init
    try:
        return _BY_NAME[str(init).lower()]
    except KeyError:
        raise ValueError(
            f"unknown initializer {init!r}; known: {', '.join(sorted(_BY_NAME))}"
        ) from None


def names() -> list[str]:
    """The names `get` knows."""
    return sorted(_BY_NAME)
