"""The Optimizer lab's experiment: Adam, Adadelta, Adagrad and SGD over a learning-rate sweep.

docs/labs.md, "Optimizers". The seed trains a small classifier on EMNIST balanced (47
classes, 28x28) for one epoch with batch 8, once per learning rate, for rates
log-spaced from 1e-6 to 1e-1 (here the settings lr_min and lr_max, up to 10: SGD's and
Adadelta's best rates lie at or past 1e-1), with each of four optimizers, with and without
dropout, and plots the final loss and accuracy against the learning rate.

Here every optimizer's whole sweep is ONE population: K = `rates` members that start
from the same initial weights (one seed for all) and see the same batches, so the
learning rate (an array of shape (K,) given to the optimizer) is the only thing that
differs between them. Four optimizers times dropout off/on makes 8 populations,
stepped in turn on the same batch, so all the curves grow together.

- Data: by default the generated 47-class glyph set (`en.data.glyphs47`, offline);
  with `dataset="emnist"` an EMNIST IDX pair (images, labels), read upright with
  `load_idx_pair(..., transpose=True)`; the first `train_samples` images train, the
  next `test_samples` are the held-out test set.
- Model: `model="conv"` is the original experiment's network exactly (conv 3x3x1x32, conv 3x3x32x64,
  max-pool 2x2, flatten 12*12*64, dense 128, dense 47; ReLU, softmax cross-entropy,
  he_uniform kernels, zero biases); it is far too slow to watch over many rates on two
  cores, so the default `model="mlp"` keeps the original network's head only (flatten 784, dense
  128, dense 47), with the same activations, loss and initialisation.
- Dropout: the original experiment does not say where. Here it sits before the last dense layer
  (on the 128 hidden units, the layer Keras examples put it on), keep 0.5, inverted
  (scaled by 1/keep in training, identity at test time). All members of a population
  share each step's mask (one mask drawn per batch and broadcast over the members), and
  the four dropout populations draw the same masks, so again only the rate differs.
- Optimizers: torch's update rules and default hyper-parameters (engine.optimizers);
  only the learning rate is swept (for Adadelta, whose default lr is 1.0, the sweep
  scales its update as in torch).

While training, a snapshot shows each member's running mean training loss and batch
accuracy over the last `window` steps; at the end, the loss and accuracy of every
member on the held-out test set (no_grad, training=False: no dropout). A member whose
loss or gradient goes non-finite is frozen by its optimizer and reported as diverged.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator

import numpy as np

import engine as en
from engine import layers, losses, optimizers
from engine.experiments.history import History
from engine.experiments.settings import SettingError, setting

TITLE = "Optimizers"
SUMMARY = ("Adam, Adadelta, Adagrad and SGD over a range of learning rates (1e-6 to 1e-1 by "
           "default), with and without dropout: final loss and accuracy against the rate.")

OPTIMIZERS = ("Adam", "Adadelta", "Adagrad", "SGD")
DROPOUT = (False, True)  # the second axis of every per-member array
LR_LOW, LR_HIGH = 1e-6, 1e-1  # the original experiment's sweep: the default range
# The range a setting may give: the settings panel shows rates with six decimals, and
# above 10 every optimizer here diverges at once.
LR_SMALLEST, LR_LARGEST = 1e-6, 10.0
CLASSES = 47
MODEL_CHOICES = ("mlp", "conv")
DATASET_CHOICES = ("glyphs47", "emnist")
# Every rate is one member of 8 populations, each holding its weights and optimizer
# state: the mlp has 0.1 M weights per member, the conv net 1.2 M.
MAX_RATES = {"mlp": 200, "conv": 24}
EVAL_CHUNK = 250  # test images per forward pass at the end (bounds memory for many rates)


@dataclasses.dataclass
class Config:
    # -- data
    dataset: str = setting("glyphs47", "glyphs47: generated 47-class glyphs (offline); emnist: "
                           "an EMNIST balanced IDX pair (the original experiment's data)",
                           choices=DATASET_CHOICES)
    emnist_images: str = setting("", "EMNIST images IDX file (e.g. emnist-balanced-train-"
                                 "images-idx3-ubyte), read transposed to stand upright")
    emnist_labels: str = setting("", "the matching EMNIST labels IDX file")
    train_samples: int = setting(2000, "training images: one epoch of batch 8 is "
                                 "train_samples / 8 steps", low=16, high=112_800)
    test_samples: int = setting(500, "held-out images for the final loss and accuracy",
                                low=10, high=20_000)
    # -- the sweep
    rates: int = setting(16, "learning rates, log-spaced from lr_min to lr_max (the "
                         "original experiment: 1000); every rate is a network in memory 8 "
                         "times over", low=2, high=MAX_RATES["mlp"])
    lr_min: float = setting(LR_LOW, "smallest learning rate of the sweep (the original "
                            "experiment: 1e-6)", low=LR_SMALLEST, high=LR_LARGEST,
                            log_scale=True)
    lr_max: float = setting(LR_HIGH, "largest learning rate of the sweep (the original "
                            "experiment: 1e-1; SGD and Adadelta do best at or past it)",
                            low=LR_SMALLEST, high=LR_LARGEST, log_scale=True)
    model: str = setting("mlp", "mlp: flatten 784, dense 128, dense 47 (fast); conv: the "
                         "original conv 32, conv 64, max-pool, dense 128, dense 47 (slow)",
                         choices=MODEL_CHOICES)
    keep_prob: float = setting(0.5, "dropout: probability of keeping a unit (before the "
                               "last dense layer, in the dropout runs)", low=0.05, high=1.0)
    batch_size: int = setting(8, "images per step (the seed: 8)", low=1, high=512)
    epochs: int = setting(1, "passes over the training images (the seed: 1)", low=1,
                          high=100)
    # -- looking
    window: int = setting(20, "running mean of the training loss and accuracy over this "
                          "many steps", low=1, high=1000)
    snapshot_every: int = setting(10, "steps between snapshots", low=1, high=100_000,
                                  live=True)
    seed: int = setting(0, "random seed (data, initial weights, batch order, dropout masks)",
                        low=0, high=2**31 - 1)

    def check(self) -> None:
        if not self.lr_min < self.lr_max:
            raise SettingError(f"setting 'lr_min' ({self.lr_min:g}) must be below 'lr_max' "
                               f"({self.lr_max:g}): the sweep runs from lr_min up to lr_max")
        if self.dataset == "emnist" and not (self.emnist_images and self.emnist_labels):
            raise SettingError("dataset 'emnist' needs emnist_images and emnist_labels")
        if self.rates > MAX_RATES[self.model]:
            raise SettingError(f"model '{self.model}' allows at most {MAX_RATES[self.model]} "
                               f"rates (each is a network in memory 8 times over)")
        if self.batch_size > self.train_samples:
            raise SettingError(f"batch_size ({self.batch_size}) is more than train_samples "
                               f"({self.train_samples})")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    step: int
    total_steps: int
    optimizers: tuple[str, ...]
    dropout: tuple[bool, ...]
    rates: np.ndarray  # (R,)
    # (optimizer, dropout, rate): running means over the last `window` steps; NaN once
    # a member diverged.
    loss: np.ndarray
    accuracy: np.ndarray
    diverged: np.ndarray  # (O, D, R) bool: frozen by the optimizer
    # History rows: step and the running loss of every member, flattened (O*D*R).
    curves: dict[str, np.ndarray]
    # After training: loss and accuracy on the held-out test set, without dropout
    # (NaN for diverged members); None before.
    test_loss: np.ndarray | None
    test_accuracy: np.ndarray | None
    test_samples: int
    model: str


# ----------------------------------------------------------------------------------
# data and models


def learning_rates(count: int, low: float | None = None,
                   high: float | None = None) -> np.ndarray:
    """The sweep: `count` rates log-spaced from `low` to `high` (default the original
    experiment's 1e-6 and 1e-1), both ends included and exact."""
    low = LR_LOW if low is None else float(low)
    high = LR_HIGH if high is None else float(high)
    rates = np.logspace(np.log10(low), np.log10(high), int(count))
    rates[0], rates[-1] = low, high  # not 9.999999999999999e-07
    return rates


def load_data(config: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): images (n, 28, 28, 1) float32 in 0..1."""
    n_train, n_test = int(config.train_samples), int(config.test_samples)
    if config.dataset == "emnist":
        x, y = en.data.load_idx_pair(config.emnist_images, config.emnist_labels, transpose=True)
        if len(x) < n_train + n_test:
            raise SettingError(f"{config.emnist_images} has {len(x)} images, fewer than "
                               f"train_samples + test_samples ({n_train + n_test})")
        if x.shape[1:] != (28, 28):
            raise SettingError(f"{config.emnist_images}: expected 28x28 images, found "
                               f"{x.shape[1:]}")
        if y.max() >= CLASSES or y.min() < 0:
            raise SettingError(f"{config.emnist_labels}: labels must be 0..46 (EMNIST "
                               f"balanced), found {y.min()}..{y.max()}")
    else:
        x, y = en.data.glyphs47(n=n_train + n_test, seed=config.seed)
    x = x[..., None].astype(np.float32)
    return x[:n_train], y[:n_train], x[n_train:n_train + n_test], y[n_train:n_train + n_test]


class SharedDropout(layers.Dropout):
    """Inverted dropout whose mask is drawn once per batch (shape of one member's
    input) and shared by every member of a population, so members differ only by
    their learning rate, not by which units they drop.

    The mask of the n-th training call comes from the seed and n alone, so any split
    of a sweep's rates into populations (engine.experiments.sweep) trains every member
    under the same masks."""

    def __init__(self, keep_prob: float, seed: int = 0) -> None:
        super().__init__(keep_prob)
        self.mask_seed = int(seed)
        self.training_calls = 0

    def call(self, x: en.Tensor, training: bool) -> en.Tensor:
        if not training or self.keep_prob == 1.0:
            return x
        shape = x.shape[1:] if self.population is not None else x.shape
        rng = np.random.default_rng([self.mask_seed, 5, self.training_calls])
        self.training_calls += 1
        mask = np.broadcast_to(rng.random(shape) < self.keep_prob, x.shape)
        self.last_mask = mask
        return en.nn.dropout(x, self.keep_prob, mask=mask)


def network(config: Config, dropout: bool, population: int | None = None,
            seed: int | None = None) -> layers.Sequential:
    """The model of `config.model`; with `dropout`, a SharedDropout before the last
    dense layer. Members of a population all start from the weights of `seed`."""
    seed = int(config.seed) if seed is None else seed
    he = dict(kernel_initializer="he_uniform", bias_initializer="zeros")
    stack: list[layers.Layer] = []
    if config.model == "conv":
        stack += [layers.Conv2D(32, 3, activation="relu", **he),
                  layers.Conv2D(64, 3, activation="relu", **he),
                  layers.MaxPool2D(2)]
    stack += [layers.Flatten(), layers.Dense(128, activation="relu", **he)]
    if dropout:
        # The same masks for every optimizer's dropout population.
        stack.append(SharedDropout(config.keep_prob, seed=int(config.seed)))
    stack.append(layers.Dense(CLASSES, **he))
    return layers.Sequential(stack, input_shape=(28, 28, 1), population=population,
                             seed=seed)


def make_optimizer(name: str, lr, population: int | None = None) -> optimizers.Optimizer:
    """One of OPTIMIZERS with torch's defaults and this learning rate (array for a
    population)."""
    return optimizers.get(name, lr=lr, population=population)


def train_step(model: layers.Sequential, opt: optimizers.Optimizer, xb: np.ndarray,
               yb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of softmax cross-entropy (batch mean per member); returns the loss and
    the batch accuracy before the step, per member ((K,) arrays, or 0-d)."""
    population = model.population is not None
    logits = model(xb, training=True)
    loss = losses.softmax_cross_entropy(logits, yb,
                                        reduction="member" if population else "mean")
    opt.minimize(loss, model.trainable_variables)
    with np.errstate(invalid="ignore"):
        accuracy = (logits.value.argmax(axis=-1) == yb).mean(axis=-1)
    return np.asarray(loss.value, dtype=np.float64), accuracy.astype(np.float64)


def evaluate(model: layers.Sequential, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and accuracy per member on (x, y): no_grad, training=False (no
    dropout), in chunks of EVAL_CHUNK images."""
    total_loss = 0.0
    correct = 0.0
    # Frozen (diverged) members may hold huge weights: their overflow is expected.
    with en.no_grad(), np.errstate(all="ignore"):
        for start in range(0, len(x), EVAL_CHUNK):
            xb, yb = x[start:start + EVAL_CHUNK], y[start:start + EVAL_CHUNK]
            logits = model(xb, training=False)
            terms = losses.softmax_cross_entropy(logits, yb, reduction="none").value
            total_loss = total_loss + terms.astype(np.float64).sum(axis=-1)
            correct = correct + (logits.value.argmax(axis=-1) == yb).sum(axis=-1)
    return np.asarray(total_loss) / len(x), np.asarray(correct, dtype=np.float64) / len(x)


def batches(n: int, batch: int, epochs: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index batches: each epoch a fresh permutation cut into batches (the last one
    may be smaller), as Keras' fit with shuffle does."""
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            yield order[start:start + batch]


def steps_per_run(config: Config) -> int:
    return int(config.epochs) * -(-int(config.train_samples) // int(config.batch_size))


# ----------------------------------------------------------------------------------
# the generator


def run(config: Config) -> Iterator[Snapshot]:
    """Snapshot 0 before training (the initial loss, the same for every member), then
    one every `snapshot_every` steps of all 8 populations, and a last one with the test
    set's loss and accuracy."""
    x_train, y_train, x_test, y_test = load_data(config)
    rates = learning_rates(config.rates, config.lr_min, config.lr_max)
    r = len(rates)
    o, d = len(OPTIMIZERS), len(DROPOUT)
    runs = []  # (model, optimizer) in (optimizer, dropout) order
    for name in OPTIMIZERS:
        for drop in DROPOUT:
            runs.append((network(config, drop, population=r),
                         make_optimizer(name, rates.astype(np.float32), population=r)))
    total = steps_per_run(config)
    window = int(config.window)
    recent_loss = np.full((window, o, d, r), np.nan)
    recent_acc = np.full((window, o, d, r), np.nan)
    history = History({"step": 1, "loss": o * d * r})

    def diverged() -> np.ndarray:
        return np.array([opt.frozen for _, opt in runs]).reshape(o, d, r)

    def snapshot(step: int, test: tuple[np.ndarray, np.ndarray] | None) -> Snapshot:
        bad = diverged()
        with warnings.catch_warnings():  # members with no finite value yet: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            loss = np.nanmean(recent_loss, axis=0)
            acc = np.nanmean(recent_acc, axis=0)
        loss[bad] = np.nan
        acc[bad] = np.nan
        history.append(step=step, loss=loss.ravel())
        test_loss = test_acc = None
        if test is not None:
            test_loss, test_acc = (np.where(bad, np.nan, t) for t in test)
        return Snapshot(step=step, total_steps=total, optimizers=OPTIMIZERS, dropout=DROPOUT,
                        rates=rates, loss=loss, accuracy=acc, diverged=bad,
                        curves=history.view(), test_loss=test_loss, test_accuracy=test_acc,
                        test_samples=len(x_test), model=config.model)

    # Step 0: the loss of the initial weights on the first batches' worth of images.
    first = np.arange(min(len(x_train), window * int(config.batch_size)))
    start_loss, start_acc = evaluate(runs[0][0], x_train[first], y_train[first])
    recent_loss[0] = start_loss[0]
    recent_acc[0] = start_acc[0]
    yield snapshot(0, None)
    recent_loss[:] = np.nan
    recent_acc[:] = np.nan

    order = batches(len(x_train), int(config.batch_size), int(config.epochs),
                    np.random.default_rng([int(config.seed), 3]))
    for step, idx in enumerate(order, start=1):
        xb, yb = x_train[idx], y_train[idx]
        row = (step - 1) % window
        for i, (model, opt) in enumerate(runs):
            with np.errstate(all="ignore"):  # diverging members overflow: they get frozen
                loss, acc = train_step(model, opt, xb, yb)
            recent_loss[row, i // d, i % d] = loss
            recent_acc[row, i // d, i % d] = acc
        if step == total:
            break
        if step % max(1, int(config.snapshot_every)) == 0:
            yield snapshot(step, None)
    tests = [evaluate(model, x_test, y_test) for model, _ in runs]
    test_loss = np.array([t[0] for t in tests]).reshape(o, d, r)
    test_acc = np.array([t[1] for t in tests]).reshape(o, d, r)
    yield snapshot(total, (test_loss, test_acc))

