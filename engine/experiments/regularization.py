"""The Regularization lab's experiment: L1, L2 and the elastic net on a line with outliers.

docs/labs.md, "Regularization". Points on a straight line with noise and a few outliers; a
1-10-10-10-1 network (tanh hidden units by default, Xavier/Glorot initial weights)
learns them by SGD with batch 1, minimising a data loss plus a weight penalty. The data
loss (`data_loss`) is the squared error (pred - y)^2 by default or the absolute error
|pred - y|; the penalty is one of:

- none: no penalty;
- L1 (lasso): lambda * sum|w|, which drives weights to (nearly) zero, so whole units
  disconnect;
- L2 (ridge): lambda * sum w^2, which shrinks every weight together;
- elastic net: l1_ratio * lambda * sum|w| + (1 - l1_ratio) * lambda * sum w^2.

Robustness to the outliers comes from the data loss, not from the penalty: the
gradient of the squared error grows with the residual, so the few outliers far above
the line pull every fit towards them; that of the absolute error is +-1 whatever the
residual, so the median-like fit follows the many points on the line and ignores the
outliers. L1 and L2 on the weights decide how many weights are (near) zero and how
large they are. The original experiment minimised the absolute error, where every fit
ignores the outliers alike; the lab defaults to the squared error so that the outliers'
pull, and what the penalties do and do not change about it, can be seen.

The penalty applies to the kernels (weights), not to the biases, as Keras'
kernel_regularizer does. Every method is trained `runs` times (different initial
weights, the same five for every method), all 4 x runs networks in ONE population pass:
the penalty is one engine regularizer per layer whose L1 and L2 coefficients are
arrays with one entry per member (0 where a member's method has no such term).

The cost sums the data loss over the data set and adds the penalty once (as the
original experiment's sum |pred - y| + penalty). With batch 1 an epoch is n steps, so by default (`penalty_per="data set"`) each
step carries lambda / n of the penalty: an epoch then descends the original cost. With
`penalty_per="step"` every step adds the whole lambda penalty (40 times stronger with
40 points: at lambda 0.3 every penalised network collapses to a constant).

After training, the chosen L1 run is pruned: hidden units whose incoming or outgoing
weights are all near zero are dropped (a unit with no input left is a constant; its
constant output is folded into the next layer's bias, so the function stays the
same), the smaller network is built, and it is trained again from fresh initial
weights, `runs` times, for the same number of epochs; the errors are compared.

Too large a step (learning_rate 1.0 with linear units, say) makes a network diverge: its
weights grow until its error overflows. The SGD population freezes such a member (the
engine's optimizer does so when its loss is not finite; a member whose error on the data
set is not finite is frozen here too); it keeps its last weights, its error is NaN, and the
snapshot marks it diverged with the step it happened at. The overflow of a diverging
member is an expected outcome, not a fault, so numpy is told not to warn about it there.
A diverged L1 run is not pruned (there is nothing sensible to prune).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

import engine as en
from engine import layers, losses, optimizers
from engine.experiments.history import History
from engine.experiments.kit import MiniBatches
from engine.experiments.settings import SettingError, setting
from engine.regularizers import Regularizer

TITLE = "Regularization"
SUMMARY = ("L1 versus L2 versus elastic net on a line with outliers: sparse weights, "
           "shrunken weights, pruning the units L1 disconnected.")

METHODS = ("none", "l1", "l2", "elastic net")
# The view's tabs: the fits with their errors (the outliers' lesson), the weight matrices
# with the near-zero counts (the sparsity lesson).
TABS = ("fits", "weights")
ACTIVATION_CHOICES = ("tanh", "relu", "sigmoid", "linear")
INITIALIZER_CHOICES = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal")
PENALTY_PER = ("data set", "step")
DATA_LOSSES = ("squared", "absolute")
# The data loss of each choice: the engine's loss function and how the view names it.
DATA_LOSS_FUNCTIONS = {"squared": losses.mse, "absolute": losses.mae}
DATA_LOSS_FORMULAS = {"squared": "(pred - y)^2", "absolute": "|pred - y|"}
GRID_POINTS = 201  # the fitted curves are drawn on this many x values
GRID_MARGIN = 0.1  # beyond the data's x range on each side

# The line of the data (en.data.line_with_outliers' defaults): y = 0.5 x + 0.2.
LINE_SLOPE = 0.5
LINE_INTERCEPT = 0.2


@dataclasses.dataclass
class Config:
    view: str = setting("fits", "which tab is in front (also for screenshots and "
                        "recordings)", choices=TABS, live=True)
    # -- data
    n_points: int = setting(40, "points in the data set, outliers included", low=4, high=2000)
    noise: float = setting(0.05, "standard deviation of the noise around the line y = 0.5 x "
                           "+ 0.2", low=0.0, high=1.0)
    n_outliers: int = setting(4, "outliers, all above the line", low=0, high=999)
    outlier_offset: float = setting(1.5, "how far above the line the outliers sit (1 to 1.5 "
                                    "times this)", low=0.0, high=10.0)
    # -- the network
    hidden: tuple[int, ...] = setting((10, 10, 10), "units of each hidden layer (the original "
                                      "experiment: 10,10,10)", low=1, high=256)
    activation: str = setting("tanh", "activation of the hidden layers (the original "
                              "experiment does not say; tanh is smooth and zero-centred)", choices=ACTIVATION_CHOICES)
    initializer: str = setting("glorot_uniform", "initial weights (Xavier = glorot)",
                               choices=INITIALIZER_CHOICES)
    # -- training
    data_loss: str = setting("squared", "error on each point: 'squared' (pred - y)^2, pulled "
                             "towards outliers; 'absolute' |pred - y| (the original "
                             "experiment), which ignores them", choices=DATA_LOSSES)
    learning_rate: float = setting(0.01, "SGD step size (batch 1)", low=1e-5, high=1.0,
                                   live=True, log_scale=True)
    lam: float = setting(0.3, "lambda: strength of the penalty", low=0.0, high=10.0, live=True,
                         log_scale=True)
    l1_ratio: float = setting(0.5, "elastic net: share of lambda on sum|w| (the rest on sum "
                              "w^2)", low=0.0, high=1.0, live=True)
    penalty_per: str = setting("data set", "'data set': the penalty is added once to the cost "
                               "summed over the data, so each batch-1 step carries lambda/n; "
                               "'step': lambda at every step", choices=PENALTY_PER, live=True)
    epochs: int = setting(200, "passes over the data (an epoch is n_points steps)", low=1,
                          high=100_000)
    runs: int = setting(5, "runs per method (different initial weights)", low=1, high=20)
    # -- looking
    zero_threshold: float = setting(1e-3, "a weight counts as (near) zero when |w| is below "
                                    "this; pruning uses it too", low=1e-8, high=1.0, live=True,
                                    log_scale=True)
    weights_of: str = setting("l1", "whose weight matrices the heatmaps show", choices=METHODS,
                              live=True)
    shown_run: int = setting(0, "which run is drawn bold in the fits and the heatmaps "
                             "(0 = the first)", low=0, high=19, live=True)
    # -- pruning
    prune: bool = setting(True, "after training, prune the units L1 disconnected and train "
                          "the smaller network again")
    prune_run: int = setting(0, "which L1 run to prune (0 = the first)", low=0, high=19)
    retrain_with: str = setting("none", "the penalty of the pruned network's training",
                                choices=METHODS)
    snapshot_every: int = setting(20, "SGD steps between snapshots", low=1, high=100_000,
                                  live=True)
    seed: int = setting(0, "random seed (data, initial weights, order of the points)", low=0,
                        high=2**31 - 1)

    def check(self) -> None:
        if not self.n_outliers < self.n_points / 2:
            raise SettingError(f"n_outliers ({self.n_outliers}) must be fewer than half of "
                               f"n_points ({self.n_points})")
        if self.shown_run >= self.runs:
            raise SettingError(f"shown_run ({self.shown_run}) must be below runs ({self.runs})")
        if self.prune_run >= self.runs:
            raise SettingError(f"prune_run ({self.prune_run}) must be below runs ({self.runs})")
        if not self.hidden:
            raise SettingError("hidden: give at least one hidden layer")


# ----------------------------------------------------------------------------------
# snapshots


@dataclasses.dataclass(frozen=True)
class PruneResult:
    """The chosen L1 run pruned, and the smaller network trained again."""

    source_member: int  # population index of the pruned L1 run
    threshold: float
    original_shapes: tuple[tuple[int, int], ...]  # kernel shapes (in, out) per layer
    pruned_shapes: tuple[tuple[int, int], ...]
    kept: tuple[np.ndarray, ...]  # indices of the kept units of each hidden layer
    folded: tuple[np.ndarray, ...]  # units removed as constants (folded into the next bias)
    unpruned_error: float  # total error of the source run
    pruned_error: float  # total error of the pruned network before retraining
    max_prediction_change: float  # max |pruned - unpruned| prediction on the data
    pruned_fit: np.ndarray  # (G,) the pruned network before retraining, on the grid
    retrain_method: str
    retrain_step: int
    retrain_steps: int
    retrain_fits: np.ndarray  # (runs, G), NaN for diverged runs
    retrain_errors: np.ndarray  # (runs,), NaN for diverged runs
    retrain_diverged_at: np.ndarray  # (runs,) step of retraining it diverged at, -1 if not

    @property
    def retrain_diverged(self) -> np.ndarray:
        return self.retrain_diverged_at >= 0


@dataclasses.dataclass(frozen=True)
class Snapshot:
    step: int  # SGD steps so far, retraining included
    epoch: float
    phase: str  # "train" (the 4 x runs networks), "retrain" (the pruned one), "done"
    methods: tuple[str, ...]
    member_method: np.ndarray  # (K,) index into methods
    runs: int
    x: np.ndarray  # (n,)
    y: np.ndarray  # (n,)
    outlier: np.ndarray  # (n,) bool
    grid: np.ndarray  # (G,)
    fits: np.ndarray  # (K, G) predictions on the grid, NaN for diverged members
    kernels: tuple[np.ndarray, ...]  # per layer (K, in, out)
    biases: tuple[np.ndarray, ...]  # per layer (K, out)
    total_error: np.ndarray  # (K,) the data loss summed over the data, no penalty; NaN if diverged
    penalty: np.ndarray  # (K,) lambda-weighted penalty per step as trained; NaN if diverged
    near_zero: np.ndarray  # (K,) kernel weights with |w| < threshold
    weight_count: int  # kernel weights per network
    weight_norm: np.ndarray  # (K,) sqrt(sum w^2) over all kernels; NaN if diverged
    largest_weight: np.ndarray  # (K,) max |w| over all kernels; NaN if diverged
    outlier_pull: np.ndarray  # (K,) mean over the outliers of (fit - line) / (y - line)
    diverged_at: np.ndarray  # (K,) SGD step at which a member diverged (frozen), -1 if not
    threshold: float
    learning_rate: float
    lam: float
    data_loss: str  # "squared" or "absolute": what total_error sums
    train_steps: int  # steps of the main training
    # History rows (the app's growing curves): step, near_zero (K), error (K).
    curves: dict[str, np.ndarray]
    prune: PruneResult | None
    prune_skipped: str = ""  # why the L1 run was not pruned (it diverged), else ""

    @property
    def diverged(self) -> np.ndarray:
        """(K,) bool: members frozen because their error overflowed."""
        return self.diverged_at >= 0


# ----------------------------------------------------------------------------------
# data, models, penalties


def load_data(config: Config) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) columns of shape (n, 1), float32, from en.data.line_with_outliers."""
    return en.data.line_with_outliers(
        n=config.n_points, slope=LINE_SLOPE, intercept=LINE_INTERCEPT, noise=config.noise,
        n_outliers=config.n_outliers, outlier_offset=config.outlier_offset, seed=config.seed)


def outlier_mask(config: Config, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The outliers: the points far above the line (at least half the outliers' offset,
    which is at least 10 noise deviations; the others sit within a few deviations)."""
    offset = max(config.outlier_offset, 10 * config.noise)
    residual = y.ravel() - (LINE_SLOPE * x.ravel() + LINE_INTERCEPT)
    if offset == 0:
        return np.zeros(len(residual), dtype=bool)
    return residual > offset / 2


def run_seeds(config: Config) -> list[int]:
    """Initial-weight seeds of the runs; every method gets the same ones."""
    return [int(config.seed) * 1000 + r for r in range(config.runs)]


def member_methods(config: Config) -> np.ndarray:
    """Method index of each population member: method-major, `runs` members each."""
    return np.repeat(np.arange(len(METHODS)), config.runs)


def coefficients(config: Config, methods: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-member (l1, l2) coefficients for these methods, as used at a step."""
    names = [METHODS[m] if not isinstance(m, str) else m for m in methods]
    lam = float(config.lam)
    if config.penalty_per == "data set":
        lam /= config.n_points
    r = float(config.l1_ratio)
    table = {"none": (0.0, 0.0), "l1": (lam, 0.0), "l2": (0.0, lam),
             "elastic net": (r * lam, (1 - r) * lam)}
    l1 = np.array([table[n][0] for n in names])
    l2 = np.array([table[n][1] for n in names])
    return l1, l2


def network(config: Config, units: Sequence[int], regularizer: Regularizer | None,
            population: int | None = None, seeds: Sequence[int] | None = None,
            seed: int | None = None) -> layers.Sequential:
    """1 input -> hidden layers of `units` -> 1 output; the penalty on every kernel."""
    stack = [layers.Dense(u, activation=config.activation, kernel_initializer=config.initializer,
                          regularizer=regularizer) for u in units]
    stack.append(layers.Dense(1, kernel_initializer=config.initializer, regularizer=regularizer))
    return layers.Sequential(stack, input_shape=(1,), population=population, seeds=seeds,
                             seed=seed)


def set_coefficients(reg: Regularizer, config: Config, methods) -> None:
    """Read lambda, l1_ratio and penalty_per again (they are live settings)."""
    reg.l1, reg.l2 = coefficients(config, methods)


def total_errors(model: layers.Sequential, x: np.ndarray, y: np.ndarray,
                 data_loss: str) -> np.ndarray:
    """The data loss summed over the data per member (no penalty): sum |pred - y| or
    sum (pred - y)^2, the engine loss's "sum"."""
    loss = DATA_LOSS_FUNCTIONS[data_loss]
    with en.no_grad():
        pred = model(x)
        if model.population is None:
            return np.array(float(loss(pred, y, reduction="sum").value))
        terms = loss(pred, y, reduction="none").value
    return terms.reshape(model.population, -1).sum(axis=1).astype(np.float64)


def outlier_pull(fitted: np.ndarray, x: np.ndarray, y: np.ndarray,
                 outlier: np.ndarray) -> np.ndarray:
    """How far the fits go towards the outliers: the mean over the outliers of
    (fit - line) / (y - line), 0 on the clean line, 1 through the outliers. `fitted` is
    (K, n) or (n,); NaN when there are no outliers."""
    fitted = np.asarray(fitted, dtype=np.float64)
    if not outlier.any():
        return np.full(fitted.shape[:-1], np.nan)
    line = LINE_SLOPE * x[outlier] + LINE_INTERCEPT
    return ((fitted[..., outlier] - line) / (y[outlier] - line)).mean(axis=-1)


def predict(model: layers.Sequential, x: np.ndarray) -> np.ndarray:
    """Predictions as (K, n) for a population, (n,) for one model."""
    with en.no_grad():
        out = model(x).value
    return out[..., 0].astype(np.float64)


def kernels_and_biases(model: layers.Sequential) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Copies of each Dense layer's kernel (K, in, out) and bias (K, out)."""
    kernels, biases = [], []
    for layer in model.layers:
        kernels.append(layer.kernel.value.copy())
        b = layer.bias.value
        biases.append(b.reshape(b.shape[0], -1).copy() if model.population else b.copy())
    return kernels, biases


def train_step(model: layers.Sequential, optimizer: optimizers.SGD, xi: np.ndarray,
               yi: np.ndarray, data_loss: str) -> None:
    """One SGD step of the data loss of one example plus the penalty, every member."""
    population = model.population is not None
    reduction = "member" if population else "mean"
    loss = DATA_LOSS_FUNCTIONS[data_loss](model(xi, training=True), yi, reduction=reduction)
    loss = loss + model.regularization_loss()
    optimizer.minimize(loss, model.trainable_variables)


# ----------------------------------------------------------------------------------
# pruning


@dataclasses.dataclass(frozen=True)
class Pruned:
    kernels: list[np.ndarray]  # (in, out) per layer, the kept units only
    biases: list[np.ndarray]  # (out,), with the removed constants folded in
    kept: list[np.ndarray]  # kept unit indices per hidden layer
    folded: list[np.ndarray]  # removed units whose constant output went into the next bias


def prune_units(kernels: Sequence[np.ndarray], biases: Sequence[np.ndarray], activation: str,
                threshold: float) -> Pruned:
    """Drop the hidden units a network's weights disconnected.

    A hidden unit whose outgoing weights (to the kept units of the next layer) are all
    below `threshold` in size contributes (nearly) nothing: it is dropped. A unit whose
    incoming weights (from the kept units before it) are all below it outputs the
    constant f(bias): it is dropped and f(bias) times its outgoing weights is added to
    the next layer's bias, so the function does not change. Repeated until nothing
    changes (dropping units can disconnect others). A layer keeps at least one unit
    (the one with the largest weights), so the network stays a network.
    """
    kernels = [np.array(k, dtype=np.float64) for k in kernels]
    biases = [np.array(b, dtype=np.float64).reshape(-1) for b in biases]
    hidden = len(kernels) - 1
    alive = [np.ones(kernels[li].shape[1], dtype=bool) for li in range(hidden)]
    folded: list[list[int]] = [[] for _ in range(hidden)]
    small = [np.abs(k) < threshold for k in kernels]

    def rows_in(li: int) -> np.ndarray:  # the kept inputs of layer li
        return np.ones(kernels[0].shape[0], dtype=bool) if li == 0 else alive[li - 1]

    def cols_out(li: int) -> np.ndarray:  # the kept outputs of layer li + 1
        return alive[li + 1] if li + 1 < hidden else np.ones(kernels[-1].shape[1], dtype=bool)

    changed = True
    while changed:
        changed = False
        for li in range(hidden):
            for j in np.flatnonzero(alive[li]):
                if alive[li].sum() == 1:
                    break  # keep the last unit of a layer
                no_input = bool(np.all(small[li][rows_in(li), j]))
                no_output = bool(np.all(small[li + 1][j, cols_out(li)]))
                if not (no_input or no_output):
                    continue
                if no_input:
                    constant = float(_activate(activation, biases[li][j]))
                    biases[li + 1] += constant * kernels[li + 1][j, :]
                    folded[li].append(int(j))
                alive[li][j] = False
                changed = True
    kept = [np.flatnonzero(a) for a in alive]
    out_k, out_b = [], []
    for li in range(len(kernels)):
        rows = np.arange(kernels[li].shape[0]) if li == 0 else kept[li - 1]
        cols = kept[li] if li < hidden else np.arange(kernels[li].shape[1])
        out_k.append(kernels[li][np.ix_(rows, cols)])
        out_b.append(biases[li][cols])
    return Pruned(out_k, out_b, kept, [np.array(sorted(f), dtype=int) for f in folded])


def _activate(name: str, z: float) -> float:
    """The engine's activation of one number (for folding a constant unit)."""
    t = en.Tensor(np.array([z], dtype=np.float64))
    if name == "linear":
        return z
    return float(getattr(en.nn, name)(t).value[0])


def pruned_network(config: Config, pruned: Pruned) -> layers.Sequential:
    """A single model with the pruned weights."""
    units = [k.shape[1] for k in pruned.kernels[:-1]]
    model = network(config, units, None, seed=0)
    weights = []
    for k, b in zip(pruned.kernels, pruned.biases):
        weights += [k.astype(np.float32), b.astype(np.float32)]
    model.set_weights(weights)
    return model


def member_model(config: Config, model: layers.Sequential, k: int) -> layers.Sequential:
    """Member k of a population as a separate single model (same weights)."""
    single = network(config, config.hidden, None, seed=0)
    single.set_weights(model.member_weights(k))
    return single


# ----------------------------------------------------------------------------------
# the generator


class Divergence:
    """The step at which each member of a population diverged (-1: not), kept in step with
    the optimizer's frozen members."""

    def __init__(self, optimizer: optimizers.Optimizer) -> None:
        self.optimizer = optimizer
        self.at = np.full(optimizer.population, -1, dtype=np.int64)

    def update(self, step: int, bad: np.ndarray | None = None) -> None:
        """Freeze the members flagged `bad` too, and date the newly frozen ones `step`."""
        if bad is not None:
            self.optimizer.frozen |= bad
        newly = self.optimizer.frozen & (self.at < 0)
        self.at[newly] = step

    @property
    def any(self) -> np.ndarray:
        return self.at >= 0


def run(config: Config) -> Iterator[Snapshot]:
    """Snapshot 0 shows the data and the initial fits; then one every `snapshot_every`
    SGD steps of the 4 x runs networks; then, with `prune`, the pruned L1 run trained
    again (`runs` times) for the same number of epochs."""
    x, y = load_data(config)
    n = len(x)
    outlier = outlier_mask(config, x, y)
    lo, hi = float(x.min()), float(x.max())
    grid = np.linspace(lo - GRID_MARGIN, hi + GRID_MARGIN, GRID_POINTS).astype(np.float32)
    grid_col = grid[:, None]
    seeds = run_seeds(config)
    methods = member_methods(config)
    k = len(methods)
    reg = Regularizer(*coefficients(config, methods))
    model = network(config, config.hidden, reg, population=k, seeds=seeds * len(METHODS))
    optimizer = optimizers.SGD(lr=lambda: config.learning_rate, population=k)  # live
    divergence = Divergence(optimizer)
    train_steps = config.epochs * n
    history = History({"step": 1, "near_zero": k, "error": k})
    order = MiniBatches(n, np.random.default_rng([config.seed, 1]), 1)  # batch 1, shuffled
    weight_count = sum(layer.kernel.value[0].size for layer in model.layers)
    step = 0
    prune: PruneResult | None = None
    prune_skipped = ""
    phase = "train"
    frozen_state: dict = {}

    def measure() -> dict:
        kernels, biases = kernels_and_biases(model)
        threshold = float(config.zero_threshold)
        near = sum((np.abs(kk) < threshold).reshape(k, -1).sum(axis=1) for kk in kernels)
        # A diverging member's numbers overflow: expected, it is frozen and marked below.
        with np.errstate(over="ignore", invalid="ignore"):
            norm = np.sqrt(sum(np.square(kk.astype(np.float64)).reshape(k, -1).sum(axis=1)
                               for kk in kernels))
            with en.no_grad():
                penalty = model.regularization_loss().value.astype(np.float64)
            error = total_errors(model, x, y, config.data_loss)
            fits = predict(model, grid_col)
            pull = outlier_pull(predict(model, x), x[:, 0], y[:, 0], outlier)
        largest = np.max([np.abs(kk).reshape(k, -1).max(axis=1) for kk in kernels], axis=0)
        divergence.update(step, ~np.isfinite(error))
        bad = divergence.any
        largest = largest.astype(np.float64)
        for values in (error, penalty, norm, largest, pull):
            values[bad] = np.nan
        fits[bad] = np.nan
        return dict(fits=fits, kernels=tuple(kernels), biases=tuple(biases),
                    total_error=error, penalty=penalty, near_zero=near.astype(np.int64),
                    weight_norm=norm, largest_weight=largest, outlier_pull=pull,
                    diverged_at=divergence.at.copy(), threshold=threshold,
                    learning_rate=float(config.learning_rate), lam=float(config.lam),
                    data_loss=config.data_loss)

    def snapshot() -> Snapshot:
        if phase == "train":
            state = measure()
            history.append(step=step, near_zero=state["near_zero"], error=state["total_error"])
            frozen_state.update(state)
        state = frozen_state  # while retraining, the main networks no longer change
        return Snapshot(
            step=step, epoch=step / n, phase=phase, methods=METHODS, member_method=methods,
            runs=config.runs, x=x[:, 0].astype(np.float64), y=y[:, 0].astype(np.float64),
            outlier=outlier, grid=grid.astype(np.float64), weight_count=weight_count,
            train_steps=train_steps, curves=history.view(), prune=prune,
            prune_skipped=prune_skipped, **state)

    yield snapshot()
    train_step_count = 0
    while train_step_count < train_steps:
        batch = next(order)
        set_coefficients(reg, config, methods)
        with np.errstate(over="ignore", invalid="ignore"):  # diverging members get frozen
            train_step(model, optimizer, x[batch], y[batch], config.data_loss)
        train_step_count += 1
        step = train_step_count
        divergence.update(step)
        if step % config.snapshot_every == 0 or step == train_steps:
            yield snapshot()
    source = METHODS.index("l1") * config.runs + config.prune_run
    if config.prune and divergence.any[source]:
        prune_skipped = (f"L1 run {config.prune_run} diverged at step "
                         f"{int(divergence.at[source])}: nothing to prune")
    if not config.prune or prune_skipped:
        phase = "done"
        yield snapshot()
        return

    # -- prune the chosen L1 run and train the smaller network again
    threshold = float(config.zero_threshold)
    kernels, biases = kernels_and_biases(model)
    pruned = prune_units([kk[source] for kk in kernels], [b[source] for b in biases],
                         config.activation, threshold)
    small = pruned_network(config, pruned)
    unpruned = member_model(config, model, source)
    change = float(np.max(np.abs(predict(small, x) - predict(unpruned, x))))
    units = [kk.shape[1] for kk in pruned.kernels[:-1]]
    retrain_methods = [config.retrain_with] * config.runs
    retrain_reg = Regularizer(*coefficients(config, retrain_methods))
    retrain_seeds = [s + 500 for s in seeds]  # fresh initial weights
    retrained = network(config, units, retrain_reg, population=config.runs, seeds=retrain_seeds)
    retrain_opt = optimizers.SGD(lr=lambda: config.learning_rate, population=config.runs)
    retrain_divergence = Divergence(retrain_opt)
    retrain_order = MiniBatches(n, np.random.default_rng([config.seed, 2]), 1)
    original = tuple((int(kk.shape[1]), int(kk.shape[2])) for kk in kernels)
    shapes = tuple((int(kk.shape[0]), int(kk.shape[1])) for kk in pruned.kernels)
    phase = "retrain"
    unpruned_error = float(total_errors(unpruned, x, y, config.data_loss))
    pruned_error = float(total_errors(small, x, y, config.data_loss))
    pruned_fit = predict(small, grid_col)

    def prune_result(retrain_step: int) -> PruneResult:
        with np.errstate(over="ignore", invalid="ignore"):  # diverging runs overflow
            errors = total_errors(retrained, x, y, config.data_loss)
            fits = predict(retrained, grid_col)
        retrain_divergence.update(retrain_step, ~np.isfinite(errors))
        bad = retrain_divergence.any
        errors[bad] = np.nan
        fits[bad] = np.nan
        return PruneResult(
            source_member=source, threshold=threshold, original_shapes=original,
            pruned_shapes=shapes, kept=tuple(pruned.kept), folded=tuple(pruned.folded),
            unpruned_error=unpruned_error, pruned_error=pruned_error,
            max_prediction_change=change, pruned_fit=pruned_fit,
            retrain_method=config.retrain_with, retrain_step=retrain_step,
            retrain_steps=train_steps, retrain_fits=fits, retrain_errors=errors,
            retrain_diverged_at=retrain_divergence.at.copy())

    prune = prune_result(0)
    yield snapshot()
    for r in range(1, train_steps + 1):
        batch = next(retrain_order)
        set_coefficients(retrain_reg, config, retrain_methods)
        with np.errstate(over="ignore", invalid="ignore"):  # diverging runs get frozen
            train_step(retrained, retrain_opt, x[batch], y[batch], config.data_loss)
        retrain_divergence.update(r)
        step = train_steps + r
        if r % config.snapshot_every == 0 or r == train_steps:
            if r == train_steps:
                phase = "done"
            prune = prune_result(r)
            yield snapshot()
