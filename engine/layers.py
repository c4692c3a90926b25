"""Layers and the Sequential model: the building blocks the labs train.

    model = en.layers.Sequential(
        [en.layers.Dense(10, activation="tanh"), en.layers.Dense(1)],
        input_shape=(1,), seed=0,
    )
    y = model(x, training=True)                      # x: (batch, 1) -> (batch, 1)
    model.trainable_variables                        # [dense_1/kernel, dense_1/bias, ...]

A layer owns its Variables. It is built lazily on its first call (from the input's
shape) or eagerly from an input shape; either way it draws its initial values from
the model's seeded generator in layer order, kernel before bias, so a model built
twice from the same seed starts from the same weights.

Dense layers (and the bias + activation of Conv2D) are single fused ops, written with
their gradients in engine/nn/fused.py: one recorded op per layer instead of three keeps
the per-step overhead of small models low.

Populations (docs/labs.md, "Engine conventions"): ``Sequential(..., population=K)`` builds every
Variable with a leading member axis K -- a Dense kernel (K, in, out), its bias
(K, 1, out), a Conv2D kernel (K, kh, kw, cin, cout) -- so one batched matmul runs K
models. Inputs (batch, ...) are shared by all members and broadcast; outputs are
(K, batch, ...). Initialisation: member k of a population built with
``seeds=[s_0, ..., s_{K-1}]`` holds exactly the initial weights of
``Sequential(same layers, seed=s_k)``; ``seed=s`` alone means every member uses s
(identical starting points, as a learning-rate sweep wants).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from engine import initializers as inits
from engine import ops
from engine.nn.fused import (  # noqa: F401 (dense, bias_activation: the public names here too)
    FUSED_ACTIVATIONS,
    _bias_activation,
    _dense,
    bias_activation,
    dense,
)
from engine.regularizers import Regularizer, penalty
from engine.tensor import EngineError, Tensor, Variable

Shape = tuple[int, ...]

# ----------------------------------------------------------------------------------
# initial values for one model or a population


class Initialization:
    """Where a model's initial values come from: one seeded generator, or one per member.

    Members with the same seed share one generator and get identical draws (drawn
    once and copied); different seeds give each member the draws a separate model
    with that seed would get.
    """

    def __init__(
        self,
        seed: int | None = None,
        population: int | None = None,
        seeds: Sequence[int | None] | None = None,
    ) -> None:
        if seeds is not None:
            seeds = list(seeds)
            if population is not None and len(seeds) != population:
                raise EngineError(f"{len(seeds)} seeds for a population of {population}")
            population = len(seeds)
        elif population is not None:
            seeds = [seed] * population
        self.population = population
        if population is None:
            self.rngs = [np.random.default_rng(seed)]
            self.index = None
        else:
            unique: list = []
            for s in seeds:
                if s not in unique:
                    unique.append(s)
            self.rngs = [np.random.default_rng(s) for s in unique]
            self.index = np.array([unique.index(s) for s in seeds])

    def __call__(self, init: Callable, shape: Shape, dtype) -> np.ndarray:
        """Initial values of `shape` (with a leading K for a population)."""
        if self.index is None:
            return np.asarray(init(shape, self.rngs[0]), dtype=dtype)
        draws = [np.asarray(init(shape, rng), dtype=dtype) for rng in self.rngs]
        if len(draws) == 1:
            return np.repeat(draws[0][None], self.population, axis=0)
        return np.stack(draws)[self.index]


# ----------------------------------------------------------------------------------
# layers


def _nn():
    from engine import nn

    return nn


def _split_activation(activation) -> tuple[str, Callable | None]:
    """(fused activation name, extra activation applied after) for a layer's activation."""
    if activation is None:
        return "linear", None
    if isinstance(activation, str):
        key = activation.strip().lower().replace("-", "_")
        if key in ("linear", "identity"):
            return "linear", None
        if key in FUSED_ACTIVATIONS:
            return key, None
        return "linear", _nn().activation(key)
    if callable(activation):
        return "linear", activation
    raise EngineError(f"unknown activation {activation!r}")


class Layer:
    """Base class: a named piece of a model that owns Variables and maps a Tensor to a Tensor.

    Subclasses set `kind` (the base of automatic names), implement `_build` (create
    Variables with `self._add_variable`), `call`, and `compute_output_shape`.
    """

    kind = "layer"
    has_preactivation = False

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.built = False
        self.population: int | None = None
        self.input_shape: Shape | None = None
        self.dtype = np.dtype(np.float32)
        self.regularizer: Regularizer | None = None
        #: the pre-activation of the last forward pass (Dense / Conv2D, when kept)
        self.preactivation: np.ndarray | None = None
        self.keep_preactivation = False
        self._variables: list[Variable] = []
        self._member_shapes: list[Shape] = []
        self._regularized: list[Variable] = []

    def _weight_options(self, activation, kernel_initializer, bias_initializer,
                        regularizer: Regularizer | None, use_bias: bool) -> None:
        """What Dense and Conv2D share: a kernel, maybe a bias, an activation, a penalty."""
        self.activation = activation
        self._fused, self._extra = _split_activation(activation)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.regularizer = regularizer
        self.use_bias = use_bias
        self.kernel: Variable | None = None
        self.bias: Variable | None = None

    # -- building ----------------------------------------------------------------------
    def build(
        self,
        input_shape: Sequence[int],
        init: Initialization | int | None = None,
        dtype=np.float32,
    ) -> None:
        """Create the Variables for inputs of per-example shape `input_shape`.

        `init` is the model's Initialization, or a seed for a standalone layer.
        """
        if self.built:
            return
        if not isinstance(init, Initialization):
            init = Initialization(init)
        self.population = init.population
        self.input_shape = tuple(int(n) for n in input_shape)
        self.dtype = np.dtype(dtype)
        if self.name is None:
            self.name = self.kind
        self._init = init
        self._build(self.input_shape)
        self._init = None
        self.built = True

    def _build(self, input_shape: Shape) -> None:
        """Create the Variables (none by default)."""

    def _add_variable(
        self, name: str, shape: Shape, initializer, regularize: bool = False,
        member_shape: Shape | None = None,
    ) -> Variable:
        """A Variable of per-member `shape`, with the population axis when there is one.

        `member_shape` is how it is stored per member, when that differs from `shape`
        (a population bias (K, 1, out) is drawn as (out,)).
        """
        stored = tuple(member_shape) if member_shape is not None else tuple(shape)
        value = self._init(inits.get(initializer), tuple(shape), self.dtype)
        if self.population is not None:
            value = value.reshape((self.population,) + stored)
        var = Variable(value, name=f"{self.name}/{name}")
        self._variables.append(var)
        self._member_shapes.append(tuple(shape))
        if regularize:
            self._regularized.append(var)
        return var

    def _lead(self, x: Tensor) -> int:
        """How many leading axes x has before the per-example shape (1, or 2 with members)."""
        return x.ndim - len(self.input_shape)

    # -- calling ---------------------------------------------------------------------------
    def __call__(self, x, training: bool = False) -> Tensor:
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.dtype)
        if not self.built:
            self.build(x.shape[1:], dtype=x.dtype)
        if x.ndim < len(self.input_shape) + 1:
            raise EngineError(
                f"{self.name}: expected a batch of inputs of shape {self.input_shape}, "
                f"got {x.shape}"
            )
        return self.call(x, training)

    def call(self, x: Tensor, training: bool) -> Tensor:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """The per-example output shape for a per-example input shape."""
        return tuple(input_shape)

    # -- variables -------------------------------------------------------------------------
    @property
    def trainable_variables(self) -> list[Variable]:
        return list(self._variables)

    @property
    def variables(self) -> list[Variable]:
        return list(self._variables)

    def count_params(self) -> int:
        """Parameters of one member (the whole layer without a population)."""
        return sum(math.prod(s) for s in self._member_shapes)

    def regularization_terms(self) -> list[tuple[Regularizer, Variable]]:
        if self.regularizer is None:
            return []
        return [(self.regularizer, v) for v in self._regularized]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Dense(Layer):
    """Fully connected: activation(x @ kernel + bias), kernel (in, units), bias (units,).

    The regularizer, if any, applies to the kernel (as Keras' kernel_regularizer).
    """

    kind = "dense"
    has_preactivation = True

    def __init__(
        self,
        units: int,
        activation=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        regularizer: Regularizer | None = None,
        use_bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if int(units) < 1:
            raise EngineError(f"Dense: units must be positive, got {units}")
        self.units = int(units)
        self._weight_options(activation, kernel_initializer, bias_initializer, regularizer,
                             use_bias)

    def _build(self, input_shape: Shape) -> None:
        fan_in = input_shape[-1]
        self.kernel = self._add_variable(
            "kernel", (fan_in, self.units), self.kernel_initializer, regularize=True
        )
        if self.use_bias:
            self.bias = self._add_variable(
                "bias", (self.units,), self.bias_initializer,
                member_shape=(1, self.units) if self.population is not None else None,
            )

    def call(self, x: Tensor, training: bool) -> Tensor:
        y, z = _dense(x, self.kernel, self.bias, self._fused)
        if self.keep_preactivation:
            self.preactivation = z
        return y if self._extra is None else self._extra(y)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[:-1]) + (self.units,)


class Conv2D(Layer):
    """2-D convolution on NHWC images with an HWIO kernel (kh, kw, cin, filters) and a bias.

    With a population the kernel is (K, kh, kw, cin, filters) and the bias
    (K, 1, 1, 1, filters); en.nn.conv2d runs all members in one batched product.
    """

    kind = "conv2d"
    has_preactivation = True

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str = "VALID",
        activation=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        regularizer: Regularizer | None = None,
        use_bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.filters = int(filters)
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.kernel_size = (int(ks[0]), int(ks[1]))
        self.stride = stride
        self.padding = str(padding).upper()
        if self.padding not in ("VALID", "SAME"):
            raise EngineError(f"Conv2D: padding must be 'VALID' or 'SAME', got {padding!r}")
        self._weight_options(activation, kernel_initializer, bias_initializer, regularizer,
                             use_bias)

    def _build(self, input_shape: Shape) -> None:
        if len(input_shape) != 3:
            raise EngineError(f"Conv2D: needs (H, W, C) inputs, got per-example shape {input_shape}")
        kh, kw = self.kernel_size
        self.kernel = self._add_variable(
            "kernel", (kh, kw, input_shape[-1], self.filters), self.kernel_initializer,
            regularize=True,
        )
        if self.use_bias:
            self.bias = self._add_variable(
                "bias", (self.filters,), self.bias_initializer,
                member_shape=(1, 1, 1, self.filters) if self.population is not None else None,
            )

    def call(self, x: Tensor, training: bool) -> Tensor:
        y = _nn().conv2d(x, self.kernel, stride=self.stride, padding=self.padding)
        out, z = _bias_activation(y, self.bias, self._fused)
        if self.keep_preactivation:
            self.preactivation = z
        return out if self._extra is None else self._extra(out)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        h, w, _ = input_shape
        kh, kw = self.kernel_size
        sh, sw = (self.stride, self.stride) if isinstance(self.stride, int) else self.stride
        if self.padding == "SAME":
            return (-(-h // sh), -(-w // sw), self.filters)
        return ((h - kh) // sh + 1, (w - kw) // sw + 1, self.filters)


class MaxPool2D(Layer):
    """Max over size x size windows (or (rows, columns) pairs), `stride` apart (VALID),
    of NHWC images."""

    kind = "max_pool2d"

    def __init__(
        self,
        size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] = 2,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        from engine.nn.conv import _two_ints

        # Ints stay ints (as saved experiments have them); pairs are checked now.
        self.size = int(size) if isinstance(size, int) else _two_ints("MaxPool2D", "size", size)
        self.stride = (
            int(stride) if isinstance(stride, int) else _two_ints("MaxPool2D", "stride", stride)
        )

    def call(self, x: Tensor, training: bool) -> Tensor:
        return _nn().max_pool2d(x, size=self.size, stride=self.stride)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        h, w, c = input_shape
        (kh, kw), (sh, sw) = _pair_of(self.size), _pair_of(self.stride)
        return ((h - kh) // sh + 1, (w - kw) // sw + 1, c)


def _pair_of(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...), keeping a population axis if present."""

    kind = "flatten"

    def call(self, x: Tensor, training: bool) -> Tensor:
        lead = self._lead(x)
        return ops.reshape(x, x.shape[:lead] + (-1,))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(input_shape),)


class Dropout(Layer):
    """Inverted dropout in training (keep each unit with probability keep_prob, scale by
    1/keep_prob); identity at test time.

    `last_mask` holds the boolean keep-mask of the last training-mode call (a
    test-time call leaves it as it was). In a Sequential the mask generator is seeded
    from the model's seed and the layer's position.
    """

    kind = "dropout"

    def __init__(
        self, keep_prob: float, rng: np.random.Generator | None = None, name: str | None = None
    ) -> None:
        super().__init__(name)
        if not 0 < keep_prob <= 1:
            raise EngineError(f"Dropout: keep_prob must be in (0, 1], got {keep_prob}")
        self.keep_prob = float(keep_prob)
        self.rng = rng
        self.last_mask: np.ndarray | None = None

    def call(self, x: Tensor, training: bool) -> Tensor:
        if not training or self.keep_prob == 1.0:
            return x
        if self.rng is None:
            self.rng = np.random.default_rng()
        # Draw the mask here so it is known even under no_grad (no op recorded then).
        mask = self.rng.random(x.shape) < self.keep_prob
        self.last_mask = mask
        return _nn().dropout(x, self.keep_prob, mask=mask)


class Activation(Layer):
    """An activation by name: "relu", "tanh", "sigmoid", "gelu", ..., "softmax", "rrelu"."""

    kind = "activation"

    def __init__(self, name_or_fn, rng: np.random.Generator | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.function = name_or_fn
        self.rng = rng
        key = name_or_fn.strip().lower() if isinstance(name_or_fn, str) else None
        self._key = key
        if key not in ("softmax", "log_softmax", "rrelu"):
            self._fn = _nn().activation(name_or_fn)

    def call(self, x: Tensor, training: bool) -> Tensor:
        nn = _nn()
        if self._key == "softmax":
            return nn.softmax(x)
        if self._key == "log_softmax":
            return nn.log_softmax(x)
        if self._key == "rrelu":
            if self.rng is None:
                self.rng = np.random.default_rng()
            return nn.rrelu(x, training=training, rng=self.rng)
        return self._fn(x)


class PReLU(Layer):
    """Parametric ReLU (He et al. 2015): x for x > 0, alpha x otherwise, alpha learned.

    One slope per channel (the last axis) by default, or one shared slope with
    ``shared=True`` (PyTorch's default). Slopes start at 0.25, as in the paper.
    """

    kind = "prelu"

    def __init__(
        self, shared: bool = False, alpha_initializer=0.25, regularizer: Regularizer | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.shared = bool(shared)
        if isinstance(alpha_initializer, int | float):
            alpha_initializer = inits.constant(alpha_initializer)
        self.alpha_initializer = alpha_initializer
        self.regularizer = regularizer
        self.alpha: Variable | None = None

    def _build(self, input_shape: Shape) -> None:
        channels = 1 if self.shared else input_shape[-1]
        member = None
        if self.population is not None:  # (K, 1, ..., 1, C): broadcast over (K, batch, ...)
            member = (1,) * len(input_shape) + (channels,)
        self.alpha = self._add_variable(
            "alpha", (channels,), self.alpha_initializer, regularize=True, member_shape=member
        )

    def call(self, x: Tensor, training: bool) -> Tensor:
        return _nn().prelu(x, self.alpha)


# ----------------------------------------------------------------------------------
# the model


class Sequential:
    """Layers applied one after the other; owns their naming, seeding and variables.

    ``Sequential(layers, input_shape=(28, 28, 1), seed=0)`` builds at once;
    without `input_shape` it builds on the first call. ``population=K`` (or
    ``seeds=[...]``) builds K members in one set of Variables (see the module
    docstring). ``dtype=np.float64`` builds float64 Variables (gradient checks).

    ``model.record_activations = True`` keeps, after each forward pass,
    ``model.activations``: [(layer name, output array)] for every layer, and
    ``model.preactivations``: [(layer name, pre-activation array)] for the Dense and
    Conv2D layers (the input of their activation: for dead-ReLU probes).
    """

    def __init__(
        self,
        layers: Iterable[Layer] = (),
        input_shape: Sequence[int] | None = None,
        seed: int | None = None,
        population: int | None = None,
        seeds: Sequence[int | None] | None = None,
        dtype=np.float32,
        name: str = "sequential",
    ) -> None:
        self.layers: list[Layer] = []
        self.name = name
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self._init = Initialization(seed, population, seeds)
        self.population: int | None = self._init.population
        self.seeds = None if seeds is None else list(seeds)
        self.record_activations = False
        self.activations: list[tuple[str, np.ndarray]] = []
        self.preactivations: list[tuple[str, np.ndarray]] = []
        self.input_shape: Shape | None = None
        self.built = False
        for layer in layers:
            self.add(layer)
        if input_shape is not None:
            self.build(input_shape)

    def add(self, layer: Layer) -> None:
        """Append a layer (before the model is built), giving it a unique name."""
        if self.built:
            raise EngineError("Sequential: cannot add a layer after the model is built")
        if not isinstance(layer, Layer):
            raise EngineError(f"Sequential: {layer!r} is not a Layer")
        if layer.built:
            raise EngineError(f"Sequential: layer {layer.name} already belongs to a model")
        taken = {other.name for other in self.layers}
        if layer.name is None:
            count = 1 + sum(1 for other in self.layers if other.kind == layer.kind)
            while f"{layer.kind}_{count}" in taken:
                count += 1
            layer.name = f"{layer.kind}_{count}"
        elif layer.name in taken:
            raise EngineError(f"Sequential: two layers named {layer.name!r}")
        index = len(self.layers)
        # Random layers draw from their own generators, seeded from the model's seed
        # and their position, so their draws never shift the initial weights.
        if isinstance(layer, Dropout | Activation) and layer.rng is None and self.seed is not None:
            layer.rng = np.random.default_rng([int(self.seed), 7919, index])
        self.layers.append(layer)

    def build(self, input_shape: Sequence[int]) -> None:
        """Create every layer's Variables for per-example inputs of `input_shape`."""
        if self.built:
            return
        shape = tuple(int(n) for n in input_shape)
        self.input_shape = shape
        for layer in self.layers:
            layer.build(shape, self._init, self.dtype)
            shape = layer.compute_output_shape(shape)
        self.output_shape = shape
        self.built = True

    def __call__(self, x, training: bool = False) -> Tensor:
        """The output for a batch x (batch, *input_shape); (K, batch, ...) for a population."""
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.dtype)
        if not self.built:
            self.build(x.shape[1:])
        record_them = self.record_activations
        if record_them:
            self.activations = []
            self.preactivations = []
        for layer in self.layers:
            layer.keep_preactivation = record_them and layer.has_preactivation
            x = layer(x, training=training)
            if record_them:
                self.activations.append((layer.name, x.value))
                if layer.keep_preactivation:
                    self.preactivations.append((layer.name, layer.preactivation))
        return x

    # -- variables -------------------------------------------------------------------------
    @property
    def trainable_variables(self) -> list[Variable]:
        """Every layer's Variables in layer order (kernel before bias), named "layer/var"."""
        return [v for layer in self.layers for v in layer.trainable_variables]

    @property
    def variables(self) -> list[Variable]:
        return self.trainable_variables

    def count_params(self) -> int:
        """Parameters of one member (of the model, without a population)."""
        return sum(layer.count_params() for layer in self.layers)

    def regularization_loss(self) -> Tensor:
        """Sum of the layers' regularizer penalties: a scalar, or (K,) per member."""
        terms = [t for layer in self.layers for t in layer.regularization_terms()]
        population = self.population is not None
        if not terms:
            shape = (self.population,) if population else ()
            return Tensor(np.zeros(shape, dtype=self.dtype))
        return penalty(terms, population=population)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the Variables' values, in `trainable_variables` order."""
        return [v.value.copy() for v in self.trainable_variables]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Assign values in `trainable_variables` order (in place; shapes must match)."""
        variables = self.trainable_variables
        if len(weights) != len(variables):
            raise EngineError(f"set_weights: {len(weights)} arrays for {len(variables)} variables")
        for var, w in zip(variables, weights):
            var.assign(w)

    def member_weights(self, k: int) -> list[np.ndarray]:
        """Member k's weights, shaped as those of a separate model (copies)."""
        if self.population is None:
            raise EngineError("member_weights: this model has no population")
        out = []
        for layer in self.layers:
            for var, shape in zip(layer._variables, layer._member_shapes):
                out.append(var.value[k].reshape(shape).copy())
        return out

    def summary(self) -> str:
        """A table of the layers: name (type), per-example output shape, parameters."""
        rows = [("Layer (type)", "Output shape", "Params")]
        for layer in self.layers:
            out = "?"
            if self.built:
                shape = self.input_shape
                for other in self.layers:
                    shape = other.compute_output_shape(shape)
                    if other is layer:
                        break
                out = str((None, *shape))
            rows.append((f"{layer.name} ({type(layer).__name__})", out, str(layer.count_params())))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [f"Model: {self.name}"
                 + (f" (population of {self.population})" if self.population else "")]
        rule = "-" * (sum(widths) + 4)
        lines.append(rule)
        for i, row in enumerate(rows):
            lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}")
            if i == 0:
                lines.append(rule)
        lines.append(rule)
        total = self.count_params()
        per = " per member" if self.population else ""
        lines.append(f"Total params: {total:,}{per}" if self.built else "Total params: (not built)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Sequential {self.name}: {len(self.layers)} layers>"
