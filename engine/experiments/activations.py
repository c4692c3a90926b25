"""The Activation lab's experiment: activation functions, their derivatives, and what
they do to the gradients and units of a network.

Four parts, every number from the engine:

- curves: f(x) and f'(x) of each chosen activation; f'(x) by reverse mode
  (`en.gradients`), checked against central differences (`en.numerical_gradients`);
  RReLU's band of random training slopes and its fixed test slope;
- vanishing gradients: the norm of the gradient that reaches each layer of a deep
  stack of one activation, for each activation side by side;
- dying ReLU: a small ReLU network trained live on a toy set, with the share of dead
  units per layer, and a learning-rate sweep (one population run, one member per
  rate) of the dead share at the end of a short training;
  A learning rate high enough makes a network diverge (its loss overflows): a sweep
  member is then frozen and marked, and the live network stops there, its last snapshot
  saying at which step (`diverged_at`);
- softmax: typed logits to probabilities at a temperature, with the examples of
  docs/labs.md, "Activations", as presets.

The first snapshot (step 0) carries every static part, so the app redraws it at once
when a setting changes; later snapshots advance the dying-ReLU training.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator

import numpy as np

import engine as en
from engine import data as datasets
from engine import layers, losses, nn, optimizers, probes
from engine.experiments.history import History
from engine.experiments.kit import MiniBatches, parse_numbers
from engine.experiments.settings import CachedPart, SettingError, setting

TITLE = "Activations"
SUMMARY = ("Activation functions and their derivatives, vanishing gradients, dying ReLUs "
           "and softmax.")

ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu", "elu", "selu",
                    "gelu", "silu", "softplus")
# Functions with a kink at 0: their derivative jumps there, so the central-difference
# check skips points next to 0 (where it would average the two one-sided slopes).
KINKED = ("relu", "leaky_relu", "prelu", "rrelu", "elu", "selu")
# Shown at first: the classic sigmoid and tanh (where vanishing gradients come from), ReLU
# (the default of most networks) and GELU (the smooth ReLU of transformers), four curves
# a slide can hold apart; the other seven are one click ("all") away.
DEFAULT_FUNCTIONS = "relu,sigmoid,tanh,gelu"
TABS = ("curves", "vanishing gradients", "dying relu", "softmax")
INITIALIZER_CHOICES = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal")
DATASET_CHOICES = ("moons", "spiral", "circles", "xor")

# Xu et al. 2015: leaky slope 0.01 as usual, 1/5.5 found better; RReLU's U(3, 8) divisor.
LEAKY_REFERENCE_SLOPES = {"slope 0.01": 0.01, "slope 1/5.5": 1 / 5.5}
RRELU_LOWER = 1 / 8
RRELU_UPPER = 1 / 3

# docs/labs.md, "Activations": softmax examples (label -> logits as typed).
SOFTMAX_PRESETS: dict[str, str] = {
    "3, 0.7, 0.5": "3,0.7,0.5",
    "1.2, 1, 1.5": "1.2,1,1.5",
    "1.5, nine 1.2": "1.5," + ",".join(["1.2"] * 9),
    "1.2, 0.9, 0.4": "1.2,0.9,0.4",
    "1, 3, 2": "1,3,2",
    "1, 5, 6, 4, 2, 2.6, 6": "1,5,6,4,2,2.6,6",
}

CURVE_POINTS = 401  # the f and f' lines
CHECK_POINTS = 40  # central-difference dots, at the midpoints of 40 equal intervals
RRELU_SAMPLES = 160  # training-mode draws shown as points
MAX_LOGITS = 30
TEMPERATURES = np.logspace(-2, 2, 161)  # probabilities against temperature


def parse_names(text: str) -> tuple[str, ...]:
    """Activation names from a comma list ("all" for every one); SettingError if unknown."""
    items = [p.strip().lower().replace("-", "_") for p in text.replace(";", ",").split(",")]
    items = [p for p in items if p]
    if items == ["all"]:
        return ACTIVATION_NAMES
    if not items:
        raise SettingError("setting 'functions': name at least one activation, or 'all'")
    unknown = [p for p in items if p not in ACTIVATION_NAMES]
    if unknown:
        raise SettingError(
            f"setting 'functions': unknown {', '.join(map(repr, unknown))}; the activations "
            f"are: all, {', '.join(ACTIVATION_NAMES)}"
        )
    return tuple(dict.fromkeys(items))  # keep the order typed, drop repeats


def parse_logits(text: str) -> np.ndarray:
    """Logits from "3,0.7,0.5" (commas, semicolons or spaces); SettingError if unreadable."""
    values = parse_numbers(text, "logits")
    if not 2 <= len(values) <= MAX_LOGITS:
        raise SettingError(f"setting 'logits': give 2 to {MAX_LOGITS} numbers, got {len(values)}")
    return values


@dataclasses.dataclass
class Config:
    view: str = setting("curves", "which tab is in front (also for screenshots and "
                        "recordings)", choices=TABS, live=True)
    # -- curves (live: a running experiment recomputes them at its next snapshot)
    functions: str = setting(
        DEFAULT_FUNCTIONS, "activations to show, a comma list (e.g. sigmoid,relu,elu) or "
        f"'all'; from: {', '.join(ACTIVATION_NAMES)}", live=True)
    x_min: float = setting(-5.0, "left end of the x range of the curves", low=-100, high=100,
                           live=True)
    x_max: float = setting(5.0, "right end of the x range of the curves", low=-100, high=100,
                           live=True)
    leaky_slope: float = setting(0.01, "leaky ReLU's slope for x < 0 (0.01 usual; Xu et al. "
                                 "found 1/5.5 = 0.182 better)", low=0.0, high=1.0, live=True)
    prelu_slope: float = setting(0.25, "PReLU's slope for x < 0 (learned in a network; "
                                 "0.25 is He et al.'s initial value)", low=-1.0, high=2.0,
                                 live=True)
    rrelu_lower: float = setting(RRELU_LOWER, "RReLU: smallest training slope (1/8)",
                                 low=0.0, high=1.0, live=True)
    rrelu_upper: float = setting(RRELU_UPPER, "RReLU: largest training slope (1/3)",
                                 low=0.0, high=1.0, live=True)
    elu_alpha: float = setting(1.0, "ELU's alpha: ELU tends to -alpha for very negative x",
                               low=0.0, high=5.0, live=True)
    # -- vanishing gradients (live)
    depth: int = setting(10, "layers in the stack for the vanishing-gradient view", low=1,
                         high=30, live=True)
    width: int = setting(32, "units per layer of that stack", low=2, high=256, live=True)
    stack_init: str = setting("glorot_uniform", "initial weights of that stack",
                              choices=INITIALIZER_CHOICES, live=True)
    # -- dying ReLU
    dataset: str = setting("moons", "toy set the ReLU network learns", choices=DATASET_CHOICES)
    n_samples: int = setting(400, "points in the toy set", low=20, high=20_000)
    hidden: tuple[int, ...] = setting((16, 16, 16), "units of each ReLU layer, e.g. 16,16,16",
                                      low=1, high=1024)
    learning_rate: float = setting(1.0, "SGD step size of the live ReLU network (raise it and "
                                   "watch units die)", low=1e-5, high=10.0, live=True,
                                   log_scale=True)
    batch_size: int = setting(32, "examples per step", low=1, high=4096, live=True)
    steps: int = setting(3000, "training steps of the live network", low=1, high=10_000_000,
                         live=True)
    snapshot_every: int = setting(5, "steps between snapshots", low=1, high=10_000, live=True)
    sweep_lr_min: float = setting(0.01, "smallest learning rate of the sweep", low=1e-5,
                                  high=10.0, log_scale=True)
    sweep_lr_max: float = setting(3.0, "largest learning rate of the sweep", low=1e-5,
                                  high=10.0, log_scale=True)
    sweep_rates: int = setting(10, "learning rates in the sweep (log-spaced)", low=2, high=40)
    sweep_steps: int = setting(500, "training steps of each network of the sweep", low=1,
                               high=20_000)
    # -- softmax (live)
    logits: str = setting("3,0.7,0.5", "softmax calculator: the scores, comma separated",
                          live=True)
    temperature: float = setting(1.0, "softmax temperature T: softmax(z / T)", low=1e-3,
                                 high=1000.0, log_scale=True, live=True)
    seed: int = setting(0, "random seed (stack weights and inputs, network, batches, RReLU "
                        "draws)", low=0, high=2**31 - 1)

    def check(self) -> None:
        parse_names(self.functions)
        parse_logits(self.logits)
        if self.x_min >= self.x_max:
            raise SettingError(f"x_min ({self.x_min}) must be below x_max ({self.x_max})")
        if self.rrelu_lower > self.rrelu_upper:
            raise SettingError(f"rrelu_lower ({self.rrelu_lower}) must not exceed rrelu_upper "
                               f"({self.rrelu_upper})")
        if self.sweep_lr_min >= self.sweep_lr_max:
            raise SettingError(f"sweep_lr_min ({self.sweep_lr_min}) must be below sweep_lr_max "
                               f"({self.sweep_lr_max})")


# ----------------------------------------------------------------------------------
# snapshots


@dataclasses.dataclass(frozen=True)
class ActivationCurve:
    """One activation on the x grid, and the derivative check on the check grid."""

    name: str
    x: np.ndarray
    y: np.ndarray  # f(x)
    dy: np.ndarray  # f'(x) by en.gradients
    check_x: np.ndarray
    check_autodiff: np.ndarray  # en.gradients at check_x
    check_numerical: np.ndarray  # en.numerical_gradients (central differences) at check_x

    @property
    def max_check_error(self) -> float:
        return float(np.max(np.abs(self.check_autodiff - self.check_numerical), initial=0.0))


@dataclasses.dataclass(frozen=True)
class RReLUBand:
    """RReLU in training (a random slope per element in [lower, upper]) and at test."""

    lower: float
    upper: float
    x: np.ndarray
    y_lower: np.ndarray  # the envelope of the band: slope `lower` for x < 0
    y_upper: np.ndarray  # slope `upper`
    sample_x: np.ndarray  # random inputs
    sample_y: np.ndarray  # training-mode outputs, one slope drawn per element
    sample_dy: np.ndarray  # en.gradients of those: the drawn slope (x < 0) or 1
    test_slope: float  # en.gradients of test-mode RReLU at x = -1: (lower + upper) / 2


@dataclasses.dataclass(frozen=True)
class VanishingGradients:
    """Gradient norm at each layer's output of a stack, per activation (layer 1 = first)."""

    depth: np.ndarray  # 1..N
    norms: dict[str, np.ndarray]  # name -> (N,)
    shrink: dict[str, float]  # geometric mean of norm[l] / norm[l+1]: kept per layer
    width: int
    initializer: str


@dataclasses.dataclass(frozen=True)
class SoftmaxResult:
    logits: np.ndarray
    temperature: float
    probabilities: np.ndarray
    argmax: int
    one_hot: np.ndarray
    temperatures: np.ndarray  # (M,)
    probabilities_vs_temperature: np.ndarray  # (M, classes)


@dataclasses.dataclass(frozen=True)
class LearningRateSweep:
    """One ReLU network per learning rate, trained together as a population."""

    rates: np.ndarray  # (K,)
    layer_names: tuple[str, ...]
    # NaN for diverged members in the next three.
    dead: np.ndarray  # (K, layers): share of dead units per layer at the end
    dead_total: np.ndarray  # (K,): share of all hidden units
    final_loss: np.ndarray  # (K,) cross-entropy on the whole set
    diverged: np.ndarray  # (K,) bool: members frozen because their loss went non-finite
    steps: int
    diverged_at: np.ndarray | None = None  # (K,) the step each member diverged at, -1: not


@dataclasses.dataclass(frozen=True)
class Snapshot:
    step: int
    # curves
    activations: tuple[ActivationCurve, ...]
    references: dict[str, np.ndarray]  # leaky-slope reference lines on the curves' x grid
    sigmoid_grad_at_zero: float  # en.gradients of sigmoid at x = 0
    sigmoid_peak: tuple[float, float]  # (x, f'(x)) where sigmoid' is largest on the grid
    rrelu: RReLUBand
    # vanishing gradients
    vanishing: VanishingGradients
    # softmax
    softmax: SoftmaxResult
    # dying ReLU
    sweep: LearningRateSweep
    learning_rate: float
    layer_names: tuple[str, ...]
    dead_fractions: tuple[float, ...]  # per hidden layer, now
    dead_total: float
    loss: float
    accuracy: float
    # Per-snapshot history of the live network (the app's convention for growing curves):
    # step, loss, accuracy, dead (n, layers), dead_total.
    curves: dict[str, np.ndarray]
    # The settings each static part was computed from ("curves", "vanishing", "softmax"):
    # equal keys mean equal numbers, so a view redraws a part only when its key changes.
    static_keys: dict[str, tuple]
    # The step whose loss was not finite: the live network diverged and training stopped.
    diverged_at: int | None = None


# ----------------------------------------------------------------------------------
# the functions


def activation_function(name: str, config: Config, training: bool = False,
                        rng: np.random.Generator | None = None) -> Callable[[en.Tensor], en.Tensor]:
    """The engine's activation `name` with the config's parameters (slopes, alpha)."""
    if name == "leaky_relu":
        return lambda x: nn.leaky_relu(x, alpha=config.leaky_slope)
    if name == "prelu":
        return lambda x: nn.prelu(x, en.Tensor(np.asarray(config.prelu_slope, x.dtype)))
    if name == "rrelu":
        return lambda x: nn.rrelu(x, config.rrelu_lower, config.rrelu_upper, training=training,
                                  rng=rng)
    if name == "elu":
        return lambda x: nn.elu(x, alpha=config.elu_alpha)
    if name in ACTIVATION_NAMES:
        return getattr(nn, name)
    raise SettingError(f"unknown activation {name!r}")


def derivative(f: Callable[[en.Tensor], en.Tensor], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(f(x), f'(x)) of an elementwise f by reverse mode: the gradient of sum f(x)."""
    var = en.Variable(np.array(x, dtype=np.float64))
    y = f(var)
    (dy,) = en.gradients(y, [var])
    return y.value.copy(), dy


def check_points(x_min: float, x_max: float, kinked: bool) -> np.ndarray:
    """Midpoints of CHECK_POINTS equal intervals; none right next to a kink at 0."""
    edges = np.linspace(x_min, x_max, CHECK_POINTS + 1)
    points = (edges[:-1] + edges[1:]) / 2
    if kinked:
        points = points[np.abs(points) > 1e-3]
    return points


def activation_curves(config: Config) -> tuple[ActivationCurve, ...]:
    """f and f' of each chosen activation, with the central-difference check."""
    x = np.linspace(config.x_min, config.x_max, CURVE_POINTS)
    curves = []
    for name in parse_names(config.functions):
        f = activation_function(name, config)
        y, dy = derivative(f, x)
        xc = check_points(config.x_min, config.x_max, name in KINKED)
        _, auto = derivative(f, xc)
        var = en.Variable(xc.copy())
        (numerical,) = en.numerical_gradients(f, [var])
        curves.append(ActivationCurve(name, x, y, dy, xc, auto, numerical))
    return tuple(curves)


def sigmoid_peak(config: Config) -> tuple[float, tuple[float, float]]:
    """(sigmoid'(0), (x, value) of the largest sigmoid' on the grid), both by en.gradients."""
    _, at_zero = derivative(nn.sigmoid, np.zeros(1))
    x = np.linspace(config.x_min, config.x_max, CURVE_POINTS)
    _, dy = derivative(nn.sigmoid, x)
    i = int(np.argmax(dy))
    return float(at_zero[0]), (float(x[i]), float(dy[i]))


def leaky_references(config: Config) -> dict[str, np.ndarray]:
    """Leaky ReLU at the two slopes of the literature, on the curves' grid."""
    x = np.linspace(config.x_min, config.x_max, CURVE_POINTS)
    return {label: nn.leaky_relu(en.Tensor(x), alpha=slope).value.copy()
            for label, slope in LEAKY_REFERENCE_SLOPES.items()}


def rrelu_band(config: Config) -> RReLUBand:
    lower, upper = config.rrelu_lower, config.rrelu_upper
    x = np.linspace(config.x_min, config.x_max, CURVE_POINTS)
    # The band's edges are RReLU with its slope range squeezed to one end.
    y_lower = nn.rrelu(en.Tensor(x), lower, lower, training=False).value.copy()
    y_upper = nn.rrelu(en.Tensor(x), upper, upper, training=False).value.copy()
    rng = np.random.default_rng([config.seed, 55])
    sample_x = np.sort(rng.uniform(config.x_min, config.x_max, RRELU_SAMPLES))
    sample_y, sample_dy = derivative(
        lambda t: nn.rrelu(t, lower, upper, training=True, rng=rng), sample_x)
    _, test = derivative(lambda t: nn.rrelu(t, lower, upper, training=False), np.array([-1.0]))
    return RReLUBand(lower, upper, x, y_lower, y_upper, sample_x, sample_y, sample_dy,
                     float(test[0]))


# ----------------------------------------------------------------------------------
# vanishing gradients


def stack_gradient_norms(config: Config, name: str, batch: int = 64) -> np.ndarray:
    """Norm of d(error)/d(output of layer l) for l = 1..depth of a stack of `name` layers.

    The stack is `depth` Dense layers of `width` units, each followed by the activation,
    on a seeded random input batch. A fixed random error signal (the same for every
    activation) arrives at the top layer's output and is back-propagated by
    en.gradients, so the norms show only what the layers do to it on the way down.
    """
    width = config.width
    model = layers.Sequential(
        [layers.Dense(width, activation=activation_function(name, config),
                      kernel_initializer=config.stack_init) for _ in range(config.depth)],
        input_shape=(width,), seed=config.seed, dtype=np.float64,
    )
    rng = np.random.default_rng([config.seed, 1])
    h = en.Tensor(rng.standard_normal((batch, width)))
    error = rng.standard_normal((batch, width)) / batch
    outputs = []
    for layer in model.layers:
        h = layer(h)
        outputs.append(h)
    grads = en.gradients(outputs[-1], outputs, grad_ys=error)
    return probes.gradient_norms(grads)


def vanishing_gradients(config: Config) -> VanishingGradients:
    norms, shrink = {}, {}
    for name in parse_names(config.functions):
        n = stack_gradient_norms(config, name)
        norms[name] = n
        if len(n) > 1 and np.all(n > 0):
            shrink[name] = float(np.exp(np.mean(np.log(n[:-1] / n[1:]))))
        else:
            shrink[name] = float("nan")
    return VanishingGradients(np.arange(1, config.depth + 1), norms, shrink, config.width,
                              config.stack_init)


# ----------------------------------------------------------------------------------
# softmax


def softmax_result(config: Config) -> SoftmaxResult:
    z = parse_logits(config.logits)
    t = float(config.temperature)
    probs = nn.softmax(en.Tensor(z) / t).value.copy()
    arg = int(en.argmax(probs))
    one_hot = np.zeros_like(probs)
    one_hot[arg] = 1.0
    scaled = en.Tensor(z[None, :]) / en.Tensor(TEMPERATURES[:, None])
    sweep = nn.softmax(scaled, axis=-1).value.copy()
    return SoftmaxResult(z, t, probs, arg, one_hot, TEMPERATURES.copy(), sweep)


# ----------------------------------------------------------------------------------
# dying ReLU


def load_toy(config: Config) -> tuple[np.ndarray, np.ndarray]:
    x, y = datasets.load(config.dataset, n=config.n_samples, seed=config.seed)
    return x.astype(np.float32), y.astype(np.int64)


def relu_network(config: Config, classes: int, population: int | None = None) -> layers.Sequential:
    """The ReLU network of the dying-ReLU part (He initialisation, as ReLU nets use)."""
    stack = [layers.Dense(units, activation="relu", kernel_initializer="he_uniform")
             for units in config.hidden]
    stack.append(layers.Dense(classes))
    return layers.Sequential(stack, input_shape=(2,), seed=config.seed, population=population)


def _probe(model: layers.Sequential, x: np.ndarray, y: np.ndarray):
    """(member losses, accuracies, dead fraction per hidden layer) on the whole set.

    For a population the first two are (K,) and the dead fractions (K, layers).
    """
    model.record_activations = True
    try:
        with en.no_grad(), np.errstate(over="ignore", invalid="ignore"):
            logits = model(x)
            # Diverged (frozen) members overflow: their loss is inf or NaN, expected.
            if model.population is None:
                loss = float(losses.softmax_cross_entropy(logits, y).value)
            else:
                loss = losses.softmax_cross_entropy(logits, y,
                                                    reduction="member").value.astype(np.float64)
    finally:
        model.record_activations = False
    hidden = model.preactivations[:-1]  # the output layer has no ReLU
    if model.population is None:
        accuracy = float(np.mean(logits.value.argmax(axis=-1) == y))
        dead = np.array([probes.dead_fraction(pre) for _, pre in hidden])
        return loss, accuracy, dead
    accuracy = np.mean(logits.value.argmax(axis=-1) == y, axis=-1)
    dead = np.array([[probes.dead_fraction(pre[k]) for _, pre in hidden]
                     for k in range(model.population)])
    return loss, accuracy, dead


def learning_rate_sweep(config: Config, x: np.ndarray, y: np.ndarray) -> LearningRateSweep:
    """Train one network per learning rate, all at once, and count the dead units."""
    rates = np.logspace(math.log10(config.sweep_lr_min), math.log10(config.sweep_lr_max),
                        config.sweep_rates)
    k = len(rates)
    classes = int(y.max()) + 1
    model = relu_network(config, classes, population=k)  # every member starts the same
    optimizer = optimizers.SGD(lr=rates.astype(np.float32), population=k)
    variables = model.trainable_variables
    # The same batches as the live network, so a sweep member at the live network's rate
    # follows the same path.
    order = MiniBatches(len(x), np.random.default_rng([config.seed, 2]),
                        lambda: config.batch_size)
    diverged_at = np.full(k, -1, dtype=np.int64)
    # Members whose weights blow up are frozen by the optimizer; their overflow is expected.
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, config.sweep_steps + 1):
            idx = next(order)
            loss = losses.softmax_cross_entropy(model(x[idx], training=True), y[idx],
                                                reduction="member")
            optimizer.minimize(loss, variables)
            diverged_at[optimizer.frozen & (diverged_at < 0)] = step
    final_loss, _, dead = _probe(model, x, y)
    units = np.array(config.hidden, dtype=np.float64)
    dead_total = dead @ units / units.sum()
    names = tuple(layer.name for layer in model.layers[:-1])
    bad = optimizer.frozen.copy()
    # A diverged member has no meaningful dead share or loss: NaN, marked by `diverged`.
    dead[bad] = np.nan
    dead_total[bad] = np.nan
    final_loss = np.where(bad, np.nan, final_loss)
    return LearningRateSweep(rates, names, dead, dead_total, final_loss, bad,
                             config.sweep_steps, diverged_at)


# ----------------------------------------------------------------------------------
# the generator


# The settings each static part depends on: when one changes during a run, the part is
# computed again at the next snapshot.
CURVE_FIELDS = ("functions", "x_min", "x_max", "leaky_slope", "prelu_slope", "rrelu_lower",
                "rrelu_upper", "elu_alpha", "seed")
STACK_FIELDS = ("functions", "leaky_slope", "prelu_slope", "rrelu_lower", "rrelu_upper",
                "elu_alpha", "depth", "width", "stack_init", "seed")
SOFTMAX_FIELDS = ("logits", "temperature")


@dataclasses.dataclass(frozen=True)
class CurveParts:
    """What the Curves tab shows, computed together from the same settings."""

    activations: tuple[ActivationCurve, ...]
    references: dict[str, np.ndarray]
    sigmoid_grad_at_zero: float
    sigmoid_peak: tuple[float, float]
    rrelu: RReLUBand


def curve_parts(config: Config) -> CurveParts:
    at_zero, peak = sigmoid_peak(config)
    return CurveParts(activation_curves(config), leaky_references(config), at_zero, peak,
                      rrelu_band(config))


def run(config: Config) -> Iterator[Snapshot]:
    """Snapshot 0 holds every static part; then one snapshot every `snapshot_every` steps
    of the live ReLU network's training, up to `steps`."""
    parts = CachedPart(config, CURVE_FIELDS, curve_parts)
    stack = CachedPart(config, STACK_FIELDS, vanishing_gradients)
    soft = CachedPart(config, SOFTMAX_FIELDS, softmax_result)
    x, y = load_toy(config)
    sweep = learning_rate_sweep(config, x, y)

    classes = int(y.max()) + 1
    model = relu_network(config, classes)
    variables = model.trainable_variables
    optimizer = optimizers.SGD(lambda: config.learning_rate)  # a live setting
    names = tuple(layer.name for layer in model.layers[:-1])
    units = np.array(config.hidden, dtype=np.float64)
    history = History({"step": 1, "loss": 1, "accuracy": 1, "dead": len(names),
                       "dead_total": 1})
    order = MiniBatches(len(x), np.random.default_rng([config.seed, 2]),
                        lambda: config.batch_size)
    step = 0

    def snapshot(diverged_at: int | None = None) -> Snapshot:
        loss, accuracy, dead = _probe(model, x, y)
        dead_total = float(dead @ units / units.sum())
        history.append(step=step, loss=loss, accuracy=accuracy, dead=dead,
                       dead_total=dead_total)
        shapes, vanishing, softmax = parts.get(), stack.get(), soft.get()
        return Snapshot(
            step=step, activations=shapes.activations, references=shapes.references,
            sigmoid_grad_at_zero=shapes.sigmoid_grad_at_zero, sigmoid_peak=shapes.sigmoid_peak,
            rrelu=shapes.rrelu, vanishing=vanishing, softmax=softmax, sweep=sweep,
            learning_rate=float(config.learning_rate), layer_names=names,
            dead_fractions=tuple(float(d) for d in dead), dead_total=dead_total, loss=loss,
            accuracy=accuracy, curves=history.view(),
            static_keys={"curves": parts.key, "vanishing": stack.key, "softmax": soft.key},
            diverged_at=diverged_at,
        )

    yield snapshot()
    while step < config.steps:
        idx = next(order)
        with np.errstate(over="ignore", invalid="ignore"):
            loss = losses.softmax_cross_entropy(model(x[idx], training=True), y[idx])
        if not np.isfinite(loss.value):
            yield snapshot(diverged_at=step + 1)  # the weights stay as they were
            return
        optimizer.minimize(loss, variables)
        step += 1
        if step % config.snapshot_every == 0 or step == config.steps:
            yield snapshot()
