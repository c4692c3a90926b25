"""The Dropout lab's experiment: what a dropout mask does to the outputs of a layer and
to the weights that an optimizer changes.

Two parts, every number from the engine:

- a worked example: units [1..8], keep probability p = 0.5 and a mask that keeps units
  1, 4, 5, 7. Inverted dropout (TensorFlow, `en.nn.dropout`) scales the kept units by
  1/p at train time and does nothing at test time; the original paper's form keeps them
  unscaled at train time and multiplies by p at test time. Both keep the expected sum,
  which the example checks by averaging the sum over many seeded random masks;
- two copies of one small network (digits 64 -> hidden tanh units -> dropout on their
  outputs -> 10 classes) trained in lockstep, from the same initial weights, on the same
  examples with the same dropout masks, one per optimizer. For the watched Dense layer
  each snapshot carries its weights, which of them this step changed
  (`en.probes.ChangeTracker`) and how many steps each has changed in so far.

Why dropout on the hidden layer's outputs with one mask per batch (batch 1 by default):
a dropped unit then passes no gradient, so under plain SGD the output kernel's rows of
dropped units (and the hidden kernel's columns of dropped units) do not change and every
other weight does: "which weights changed" is exactly the mask. Optimizers that carry a
running average of past gradients (momentum, Adam) keep moving dropped weights anyway.
tanh, not ReLU, so that a kept unit's output is never exactly 0 (a ReLU at 0 would add
its own unchanged rows). float64, so that no small update is lost to rounding.

A network whose loss stops being finite (a learning rate far too high) has diverged: it
is frozen there (its weights stop changing, so its changed share is 0) and its side of
the snapshot says at which step; the other network trains on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import numpy as np

import engine as en
from engine import data as datasets
from engine import layers, losses, nn, optimizers
from engine.experiments.history import History
from engine.experiments.kit import MiniBatches, parse_numbers
from engine.experiments.settings import CachedPart, SettingError, setting
from engine.probes import ChangeTracker

TITLE = "Dropout"
SUMMARY = ("Dropout masks, inverted versus original dropout, and which weights each "
           "optimizer changes while units are dropped.")

OPTIMIZERS = ("sgd", "momentum", "adam", "adagrad", "rmsprop")
WATCH = ("output", "hidden")
TABS = ("weights", "curves", "worked example")
ACTIVATIONS = ("tanh", "sigmoid", "relu")
# Colour scales of the weight heatmaps: each matrix its own symmetric scale, one scale
# shared by both networks' matrices, or each clipped at its 1st/99th percentile (one
# outlying weight then does not wash out the rest).
HEATMAP_SCALES = ("per matrix", "shared", "clipped 1-99%")
MAX_EXAMPLE_UNITS = 30
# The loss is measured on a fixed sample of the digits every few steps: measuring it on
# all 1797 at every step would cost ten times the training step itself.
PROBE_SIZE = 500
PROBE_EVERY = 10


def example_mask(config: Config) -> np.ndarray:
    """The worked example's keep-mask from the 1-based unit numbers typed."""
    n = len(parse_numbers(config.example_units, "example_units"))
    kept = parse_numbers(config.example_kept, "example_kept") if config.example_kept.strip() \
        else np.zeros(0)
    if np.any(kept != np.round(kept)) or np.any((kept < 1) | (kept > n)):
        raise SettingError(f"setting 'example_kept': unit numbers must be whole numbers from 1 "
                           f"to {n}, got {config.example_kept!r}")
    mask = np.zeros(n, dtype=bool)
    mask[kept.astype(int) - 1] = True
    return mask


@dataclasses.dataclass
class Config:
    view: str = setting("weights", "which tab is in front (also for screenshots and "
                        "recordings)", choices=TABS, live=True)
    keep_prob: float = setting(0.5, "probability p of keeping a unit (the paper: 0.5 for "
                               "hidden units, 0.8 for inputs); for the network and the "
                               "worked example", low=0.05, high=1.0, live=True)
    left_optimizer: str = setting("sgd", "optimizer of the left (top) network",
                                  choices=OPTIMIZERS)
    left_lr: float = setting(0.05, "learning rate of the left network (sgd ~0.05, "
                             "adam ~0.002)", low=1e-6, high=10.0, live=True, log_scale=True)
    right_optimizer: str = setting("adam", "optimizer of the right (bottom) network",
                                   choices=OPTIMIZERS)
    right_lr: float = setting(0.005, "learning rate of the right network", low=1e-6,
                              high=10.0, live=True, log_scale=True)
    watch: str = setting("output", "the Dense layer whose weights are shown: 'output' "
                         "(hidden units -> 10 classes, after the dropout) or 'hidden' (64 "
                         "pixels -> hidden units, before it)", choices=WATCH)
    hidden_units: int = setting(32, "units of the hidden Dense layer, whose outputs are "
                                "dropped", low=2, high=128)
    activation: str = setting("tanh", "activation of the hidden layer (relu adds rows of its "
                              "own that do not change: units that output 0)",
                              choices=ACTIVATIONS)
    batch_size: int = setting(1, "examples per step (1: the changed weights are exactly the "
                              "mask)", low=1, high=64)
    shared_mask: bool = setting(True, "one dropout mask for the whole batch (off: one per "
                                "example, so a unit counts as kept if any example kept it)")
    steps: int = setting(2000, "training steps", low=1, high=1_000_000)
    snapshot_every: int = setting(1, "steps between snapshots (1: see every mask)", low=1,
                                  high=10_000, live=True)
    seed: int = setting(0, "random seed for weights, example order and masks", low=0,
                        high=2**31 - 1)
    heatmap_scale: str = setting("per matrix", "colour scale of the weight heatmaps: "
                                 "each matrix its own, one shared by both networks, or "
                                 "clipped at the 1st/99th percentile of |weight|",
                                 choices=HEATMAP_SCALES, live=True)
    example_units: str = setting("1,2,3,4,5,6,7,8", "the worked example's unit values",
                                 live=True)
    example_kept: str = setting("1,4,5,7", "units the example's mask keeps (1-based)",
                                live=True)
    example_masks: int = setting(20000, "random masks averaged for the expected sums",
                                 low=10, high=1_000_000, live=True)

    def check(self) -> None:
        units = parse_numbers(self.example_units, "example_units")
        if not 1 <= len(units) <= MAX_EXAMPLE_UNITS:
            raise SettingError(f"setting 'example_units': give 1 to {MAX_EXAMPLE_UNITS} "
                               f"numbers, got {len(units)}")
        example_mask(self)


# ----------------------------------------------------------------------------------
# snapshots


@dataclasses.dataclass(frozen=True)
class WorkedExample:
    """One layer's outputs through one mask, both forms of dropout, and expected sums."""

    units: np.ndarray  # x
    keep_prob: float
    mask: np.ndarray  # bool, True = kept
    inverted_train: np.ndarray  # en.nn.dropout(x, p, mask=m): x * m / p
    inverted_test: np.ndarray  # en.nn.dropout(x, p, training=False): x
    original_train: np.ndarray  # x * m (the paper: no scaling at train time)
    original_test: np.ndarray  # p * x
    masks: int  # random masks averaged
    mean_inverted_train: float  # mean sum of en.nn.dropout(x, p) over the random masks
    mean_original_train: float  # mean sum of x * m over the same masks
    running_inverted: np.ndarray  # running mean of the first, at `running_at` masks
    running_original: np.ndarray
    running_at: np.ndarray

    @property
    def full_sum(self) -> float:
        return float(self.inverted_test.sum())


@dataclasses.dataclass(frozen=True)
class Side:
    """One of the two networks: the watched layer's weights and what changed in them.

    Arrays are laid out with the hidden units along the columns (the output kernel is
    shown transposed: classes x units; the hidden kernel as it is: pixels x units), so
    each column lines up with one entry of the dropout mask.
    """

    optimizer: str
    learning_rate: float
    weights: np.ndarray
    changed: np.ndarray  # bool: changed by the last step
    counts: np.ndarray  # int: steps in which each weight changed, so far
    changed_share: float
    loss: float  # cross-entropy on the probe digits, no dropout (at the last probe step)
    accuracy: float
    diverged_at: int | None = None  # the step whose loss was not finite: frozen since


@dataclasses.dataclass(frozen=True)
class Snapshot:
    step: int
    keep_prob: float
    watch: str
    mask: np.ndarray  # (batch, hidden units) bool, the mask of the last step
    kept: np.ndarray  # (hidden units,) bool: kept for some example of the batch
    left: Side
    right: Side
    example: WorkedExample
    example_key: tuple  # equal keys, equal worked example: the view redraws it only then
    # Per training step: step, left, right (share of the watched weights changed).
    shares: dict[str, np.ndarray]
    # Every PROBE_EVERY steps: step, left, right (loss on the probe digits, no dropout).
    losses: dict[str, np.ndarray]


# ----------------------------------------------------------------------------------
# the worked example


def worked_example(config: Config) -> WorkedExample:
    """The example's outputs for its typed mask, and the sums averaged over random masks."""
    p = float(config.keep_prob)
    x = parse_numbers(config.example_units, "example_units")
    mask = example_mask(config)
    tx = en.Tensor(x)
    inverted_train = nn.dropout(tx, p, mask=mask).value.copy()
    inverted_test = nn.dropout(tx, p, training=False).value.copy()
    original_train = (tx * en.Tensor(mask.astype(np.float64))).value.copy()
    original_test = (tx * p).value.copy()

    n = int(config.example_masks)
    rng = np.random.default_rng([config.seed, 11])
    batch = en.Tensor(np.broadcast_to(x, (n, len(x))).copy())
    dropped = nn.dropout(batch, p, rng=rng)  # n fresh masks, one per row
    masks = nn.dropout_mask(dropped)
    inverted_sums = en.sum(dropped, axis=1).value
    original_sums = en.sum(batch * en.Tensor(masks.astype(np.float64)), axis=1).value
    count = np.arange(1, n + 1)
    at = np.unique(np.geomspace(1, n, 200).astype(int))
    running_inverted = (np.cumsum(inverted_sums) / count)[at - 1]
    running_original = (np.cumsum(original_sums) / count)[at - 1]
    return WorkedExample(x, p, mask, inverted_train, inverted_test, original_train,
                         original_test, n, float(inverted_sums.mean()),
                         float(original_sums.mean()), running_inverted, running_original,
                         at.astype(np.float64))


EXAMPLE_FIELDS = ("keep_prob", "example_units", "example_kept", "example_masks", "seed")


# ----------------------------------------------------------------------------------
# the two networks


def make_optimizer(name: str, lr: float | Callable[[], float]) -> optimizers.Optimizer:
    if name not in OPTIMIZERS:
        raise SettingError(f"unknown optimizer {name!r}; one of {', '.join(OPTIMIZERS)}")
    return optimizers.get(name, lr=lr)


def make_network(config: Config, inputs: int, classes: int) -> layers.Sequential:
    """The hidden and output Dense layers; dropout sits between them (in `forward`)."""
    return layers.Sequential(
        [layers.Dense(config.hidden_units, activation=config.activation),
         layers.Dense(classes)],
        input_shape=(inputs,), seed=config.seed, dtype=np.float64,
    )


def forward(model: layers.Sequential, x: np.ndarray, keep_prob: float,
            mask: np.ndarray | None) -> en.Tensor:
    """Logits; with a mask, inverted dropout on the hidden layer's outputs (training)."""
    hidden = model.layers[0](en.Tensor(x))
    if mask is not None:
        hidden = nn.dropout(hidden, keep_prob, mask=mask)
    return model.layers[1](hidden)


class Trainee:
    """One network, its optimizer and the change tracker of its watched kernel."""

    def __init__(self, config: Config, side: str, inputs: int, classes: int) -> None:
        self.side = side
        self.name = getattr(config, f"{side}_optimizer")
        self.model = make_network(config, inputs, classes)
        # the live rate setting of this side, read at every step
        self.optimizer = make_optimizer(self.name, lambda: getattr(config, f"{side}_lr"))
        layer = self.model.layers[0 if config.watch == "hidden" else 1]
        self.kernel = layer.kernel
        # Units along the columns: the output kernel (units, classes) is shown transposed.
        self.transpose = config.watch == "output"
        self.tracker = ChangeTracker([self.kernel.value])
        self.share = 0.0
        self.loss, self.accuracy = float("nan"), float("nan")
        self.diverged_at: int | None = None

    def displayed(self, array: np.ndarray) -> np.ndarray:
        return array.T if self.transpose else array

    def step(self, config: Config, x: np.ndarray, y: np.ndarray, mask: np.ndarray,
             number: int) -> float:
        """Training step `number`; a diverged network stays as it is (nothing changes)."""
        if self.diverged_at is None:
            # A diverging network overflows on its way to a non-finite loss: expected.
            with np.errstate(over="ignore", invalid="ignore"):
                loss = losses.softmax_cross_entropy(
                    forward(self.model, x, config.keep_prob, mask), y)
            if np.isfinite(loss.value):
                self.optimizer.minimize(loss, self.model.trainable_variables)
            else:
                self.diverged_at = number
        self.tracker.update([self.kernel.value])
        self.share = self.tracker.changed_fraction()[0]
        return float(loss.value) if self.diverged_at is None else float("nan")

    def probe(self, x: np.ndarray, y: np.ndarray) -> None:
        """Loss and accuracy on the probe examples, without dropout (test time); NaN
        once the network diverged."""
        if self.diverged_at is not None:
            self.loss, self.accuracy = float("nan"), float("nan")
            return
        with en.no_grad(), np.errstate(over="ignore", invalid="ignore"):
            logits = forward(self.model, x, 1.0, None)
            self.loss = float(losses.softmax_cross_entropy(logits, y).value)
        self.accuracy = float(np.mean(logits.value.argmax(axis=-1) == y))

    def side_snapshot(self) -> Side:
        return Side(
            optimizer=self.name, learning_rate=float(self.optimizer.current_lr()),
            weights=self.displayed(self.kernel.value).copy(),
            changed=self.displayed(self.tracker.last_changed[0]).copy(),
            counts=self.displayed(self.tracker.cumulative[0]).copy(),
            changed_share=self.share, loss=self.loss, accuracy=self.accuracy,
            diverged_at=self.diverged_at,
        )


def draw_mask(config: Config, rng: np.random.Generator, batch: int) -> np.ndarray:
    """This step's keep-mask, (batch, units): one row shared by the batch, or one each."""
    rows = 1 if config.shared_mask else batch
    mask = rng.random((rows, config.hidden_units)) < config.keep_prob
    return np.broadcast_to(mask, (batch, config.hidden_units))


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    images, labels = datasets.load("digits")
    return images.reshape(len(images), -1).astype(np.float64), labels.astype(np.int64)


def run(config: Config) -> Iterator[Snapshot]:
    """Snapshot 0: the worked example and the untrained networks; then one snapshot every
    `snapshot_every` training steps, up to `steps`."""
    example = CachedPart(config, EXAMPLE_FIELDS, worked_example)
    x, y = load_digits()
    classes = int(y.max()) + 1
    left = Trainee(config, "left", x.shape[1], classes)
    right = Trainee(config, "right", x.shape[1], classes)
    batch = int(config.batch_size)
    order = MiniBatches(len(x), np.random.default_rng([config.seed, 2]), batch)
    mask_rng = np.random.default_rng([config.seed, 3])
    probe = np.random.default_rng([config.seed, 4]).permutation(len(x))[:PROBE_SIZE]
    shares = History({"step": 1, "left": 1, "right": 1})
    loss_history = History({"step": 1, "left": 1, "right": 1})
    mask = np.zeros((batch, config.hidden_units), dtype=bool)  # none drawn before step 1
    step = 0

    def measure() -> None:
        left.probe(x[probe], y[probe])
        right.probe(x[probe], y[probe])
        loss_history.append(step=step, left=left.loss, right=right.loss)

    def snapshot() -> Snapshot:
        a, b = left.side_snapshot(), right.side_snapshot()
        worked = example.get()
        return Snapshot(
            step=step, keep_prob=float(config.keep_prob), watch=config.watch,
            mask=np.array(mask), kept=mask.any(axis=0), left=a, right=b, example=worked,
            example_key=example.key, shares=shares.view(), losses=loss_history.view(),
        )

    measure()
    yield snapshot()
    while step < config.steps:
        idx = next(order)
        mask = draw_mask(config, mask_rng, batch)
        # The same examples and the same mask for both networks: only the optimizer differs.
        left.step(config, x[idx], y[idx], mask, step + 1)
        right.step(config, x[idx], y[idx], mask, step + 1)
        step += 1
        shares.append(step=step, left=left.share, right=right.share)
        if step % PROBE_EVERY == 0 or step == config.steps:
            measure()
        if step % config.snapshot_every == 0 or step == config.steps:
            yield snapshot()
