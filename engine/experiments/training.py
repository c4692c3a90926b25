"""The Training lab's experiment: a multilayer perceptron learning a data set, step by step.

Every knob is a setting: data set, layers, activation and dropout per layer,
initializer, loss, optimizer, learning rate, batch size, regularization, seed. Each
snapshot carries what the lab draws: loss and accuracy curves (train and test), the
weight matrices, dead-ReLU fractions per layer, activation histograms, the decision
boundary over the input plane with the training and test points for 2-D data, and a
confusion matrix (counts and row shares) with the classes' names. For image data it
also carries what is best seen as images: sample inputs, the first layer's weights as
one tile per hidden unit, and misclassified test images with predicted and true labels.

Too high a learning rate makes the network diverge: its loss overflows to inf or NaN.
The run then stops there, without applying that step, and its last snapshot says at
which step (`diverged_at`); the overflow on the way is an expected outcome, so numpy is
told not to warn about it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator

import numpy as np

import engine as en
from engine import data as datasets
from engine import layers, losses, optimizers, probes, regularizers
from engine.experiments.history import History
from engine.experiments.kit import MiniBatches
from engine.experiments.settings import SettingError, setting

TITLE = "Training"
SUMMARY = "Train a network on a data set and watch its weights, units and boundary change."

DATASET_CHOICES = ("spiral", "moons", "circles", "xor", "gaussians", "digits", "glyphs47",
                   "idx", "csv")
TOY_SETS = ("spiral", "moons", "circles", "xor", "gaussians")
ACTIVATION_CHOICES = ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus",
                      "sigmoid", "tanh", "linear")
OPTIMIZER_CHOICES = ("sgd", "momentum", "nesterov", "adam", "adagrad", "adadelta", "rmsprop")
REGULARIZER_CHOICES = ("none", "l1", "l2", "elastic_net")
INITIALIZER_CHOICES = ("he_uniform", "he_normal", "glorot_uniform", "glorot_normal")

# Points of the probe batches: enough for stable curves, few enough to stay live.
PROBE_SIZE = 1000
# Image data: at most this many tiles of each kind in a snapshot (a panel's worth).
MAX_SAMPLE_TILES = 48
MAX_WEIGHT_TILES = 32
MAX_MISCLASSIFIED = 24
HEATMAP_SCALES = ("per matrix", "shared", "clipped 1-99%")

# Class names of the IDX data sets, by class count (docs/labs.md, "Training"): EMNIST's
# label -> character maps (the emnist-*-mapping.txt files of the release) and
# Fashion-MNIST's ten article names.
EMNIST_BALANCED = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt")
EMNIST_BYCLASS = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
EMNIST_LETTERS = ("?", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # labels 1-26; 0 is unused
FASHION_MNIST = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Boot")


@dataclasses.dataclass
class Config:
    dataset: str = setting("spiral", "the data to learn", choices=DATASET_CHOICES)
    n_samples: int = setting(600, "points in a generated set (toy sets, glyphs47)",
                             low=20, high=100_000)
    noise: float = setting(0.1, "noise of a toy 2-D set", low=0.0, high=2.0)
    csv_path: str = setting("", "your own CSV of 2-D points: x1,x2,label")
    idx_images_path: str = setting("", "an IDX images file (MNIST, EMNIST, Fashion-MNIST)")
    idx_labels_path: str = setting("", "the matching IDX labels file")
    test_fraction: float = setting(0.2, "share of the data held out for testing",
                                   low=0.05, high=0.5)
    hidden: tuple[int, ...] = setting((16, 16), "units of each hidden layer, e.g. 32,32",
                                      low=1, high=4096)
    activations: tuple[str, ...] = setting(
        ("relu",), "activation of each hidden layer (one name is used for all)",
        choices=ACTIVATION_CHOICES)
    keep_probs: tuple[float, ...] = setting(
        (1.0,), "dropout keep probability after each hidden layer (1 = no dropout)",
        low=0.05, high=1.0)
    initializer: str = setting("he_uniform", "how the weights start", choices=INITIALIZER_CHOICES)
    loss: str = setting("cross_entropy", "what training minimises",
                        choices=("cross_entropy", "mse"))
    optimizer: str = setting("adam", "the update rule", choices=OPTIMIZER_CHOICES)
    learning_rate: float = setting(0.01, "step size of the optimizer", low=0.0, high=10.0,
                                   live=True, log_scale=True)
    batch_size: int = setting(32, "examples per step", low=1, high=4096, live=True)
    regularizer: str = setting("none", "penalty on the weights", choices=REGULARIZER_CHOICES,
                               live=True)
    reg_lambda: float = setting(1e-4, "strength of the penalty", low=0.0, high=10.0,
                                live=True, log_scale=True)
    show_test_points: bool = setting(True, "draw the held-out test points on the decision "
                                     "boundary (hollow), beside the training points",
                                     live=True)
    heatmap_scale: str = setting("per matrix", "colour scale of the weight heatmaps: each "
                                 "its own, one shared by all layers, or clipped to the 1-99% "
                                 "range so one outlier does not wash out a matrix",
                                 choices=HEATMAP_SCALES, live=True)
    seed: int = setting(0, "random seed for data, weights, batches and dropout",
                        low=0, high=2**31 - 1)
    steps: int = setting(3000, "steps to train for", low=1, high=10_000_000, live=True)
    snapshot_every: int = setting(5, "steps between snapshots (views, curves)", low=1,
                                  high=10_000, live=True)
    boundary_resolution: int = setting(64, "grid size of the decision-boundary image",
                                       low=8, high=256)

    def check(self) -> None:
        if self.dataset == "csv" and not self.csv_path:
            raise SettingError("dataset 'csv' needs csv_path: a CSV of x1,x2,label rows")
        if self.dataset == "idx" and not (self.idx_images_path and self.idx_labels_path):
            raise SettingError("dataset 'idx' needs idx_images_path and idx_labels_path")
        for name, values in (("activations", self.activations), ("keep_probs", self.keep_probs)):
            if len(values) not in (1, len(self.hidden)):
                raise SettingError(
                    f"{name} needs one value or one per hidden layer ({len(self.hidden)})"
                )
        # Each unit count is within range, but 64 layers of 4096 would be a billion
        # weights: refuse before anything is allocated (a saved file could ask for it).
        widths = (MAX_INPUTS, *self.hidden, MAX_CLASSES)
        weights = sum(a * b for a, b in zip(widths, widths[1:]))
        if weights > MAX_WEIGHTS:
            raise SettingError(
                f"hidden {','.join(map(str, self.hidden))} makes a network of up to "
                f"{weights:,} weights; the limit is {MAX_WEIGHTS:,} (fewer or narrower layers)"
            )


# The largest inputs and class counts a data set here has (28x28 images, 47 glyph
# classes), for bounding the network's size before the data is loaded.
MAX_INPUTS, MAX_CLASSES = 784, 47
MAX_WEIGHTS = 20_000_000  # 80 MB of float32, far past any network a lab needs


@dataclasses.dataclass(frozen=True)
class Snapshot:
    step: int
    epoch: float
    learning_rate: float
    curves: dict[str, np.ndarray]  # step, train_loss, test_loss, train_acc, test_acc, dead
    layer_names: tuple[str, ...]
    weights: tuple[np.ndarray, ...]  # each Dense kernel (in, out)
    biases: tuple[np.ndarray, ...]
    dead_fractions: tuple[float, ...]  # per ReLU-family hidden layer, on the probe batch
    dead_layers: tuple[str, ...]
    histograms: tuple[tuple[np.ndarray, np.ndarray], ...]  # per hidden layer output
    class_names: tuple[str, ...]
    confusion: np.ndarray  # (classes, classes) counts on the test set, rows = true
    boundary: np.ndarray | None  # (G, G, classes) probabilities over the input plane
    boundary_extent: tuple[float, float, float, float] | None  # x0, x1, y0, y1
    points: np.ndarray | None  # 2-D training points, for drawing with the boundary
    point_labels: np.ndarray | None
    variables: dict[str, np.ndarray]  # every trainable value by name (save / load)
    diverged_at: int | None = None  # the step whose loss was not finite; training stopped
    # Each row of the confusion matrix divided by its count: the share of each true
    # class predicted as each class (a row with no test examples is all zero).
    confusion_rates: np.ndarray | None = None
    test_points: np.ndarray | None = None  # 2-D held-out points
    test_point_labels: np.ndarray | None = None
    # Image data (None for 2-D points): the image shape, a few training images (and
    # their classes), the first layer's kernel as one (H, W) tile per hidden unit, and
    # the test images the network gets wrong, with its prediction and the true class.
    image_shape: tuple[int, int] | None = None
    sample_images: np.ndarray | None = None  # (k, H, W)
    sample_labels: np.ndarray | None = None
    weight_tiles: np.ndarray | None = None  # (units shown, H, W)
    misclassified_images: np.ndarray | None = None  # (k, H, W), k <= MAX_MISCLASSIFIED
    misclassified_predicted: np.ndarray | None = None  # the network's argmax
    misclassified_true: np.ndarray | None = None
    misclassified_count: int = 0  # of the test probe, of which the first k are carried
    hidden_activations: tuple[str, ...] = ()  # each hidden layer's activation


@dataclasses.dataclass(frozen=True)
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    image_shape: tuple[int, int] | None


def idx_class_names(images_path: str, classes: int) -> tuple[str, ...]:
    """Names of the classes of an IDX data set, told apart by file name and class count:
    EMNIST balanced (47) and byclass (62) as characters, EMNIST letters (labels 1-26) as
    capitals, Fashion-MNIST's articles; otherwise the label numbers."""
    name = os.path.basename(images_path).lower()
    if "fashion" in name and classes <= len(FASHION_MNIST):
        return FASHION_MNIST[:classes]
    if "letters" in name and classes <= len(EMNIST_LETTERS):
        return EMNIST_LETTERS[:classes]
    for table in (EMNIST_BALANCED, EMNIST_BYCLASS):
        if classes == len(table):
            return table
    return tuple(str(c) for c in range(classes))


def load_data(config: Config) -> Data:
    """The data set named by the config, split into train and test, inputs flattened."""
    if config.dataset in TOY_SETS:
        x, y = datasets.load(config.dataset, n=config.n_samples, noise=config.noise,
                             seed=config.seed)
    elif config.dataset == "digits":
        x, y = datasets.digits()
    elif config.dataset == "glyphs47":
        x, y = datasets.glyphs47(n=config.n_samples, seed=config.seed)
    elif config.dataset == "csv":
        x, y = datasets.load_csv_points(config.csv_path)
    else:
        # EMNIST's files store each image transposed: upright, its tiles read as letters.
        emnist = "emnist" in os.path.basename(config.idx_images_path).lower()
        x, y = datasets.load_idx_pair(config.idx_images_path, config.idx_labels_path,
                                      transpose=emnist)
    image_shape = (int(x.shape[1]), int(x.shape[2])) if x.ndim == 3 else None
    x = x.reshape(len(x), -1).astype(np.float32)
    classes = int(y.max()) + 1
    if config.dataset == "glyphs47":
        names = tuple(datasets.GLYPH47_LABELS)
    elif config.dataset == "idx":
        names = idx_class_names(config.idx_images_path, classes)
    else:
        names = tuple(str(c) for c in range(classes))
    x_train, x_test, y_train, y_test = datasets.train_test_split(
        x, y, test_fraction=config.test_fraction, seed=config.seed
    )
    return Data(x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64), names,
                image_shape)


def build_model(config: Config, inputs: int, classes: int) -> layers.Sequential:
    stack = []
    count = len(config.hidden)
    activations = config.activations * count if len(config.activations) == 1 else config.activations
    keeps = config.keep_probs * count if len(config.keep_probs) == 1 else config.keep_probs
    for units, activation, keep in zip(config.hidden, activations, keeps):
        stack.append(layers.Dense(units, activation=activation,
                                  kernel_initializer=config.initializer))
        if keep < 1.0:
            stack.append(layers.Dropout(keep))
    stack.append(layers.Dense(classes, kernel_initializer="glorot_uniform"))
    return layers.Sequential(stack, input_shape=(inputs,), seed=config.seed)


def make_optimizer(name: str, lr: float | Callable[[], float]) -> optimizers.Optimizer:
    return optimizers.get(name, lr=lr)


def penalty(name: str, lam: float):
    """The regularizer the config names, at strength lam (None for no penalty)."""
    if name == "none" or lam == 0:
        return None
    if name == "elastic_net":
        return regularizers.elastic_net(lam, lam)
    return {"l1": regularizers.l1, "l2": regularizers.l2}[name](lam)


def training_loss(config: Config, logits: en.Tensor, labels: np.ndarray,
                  classes: int) -> en.Tensor:
    if config.loss == "mse":
        one_hot = np.eye(classes, dtype=logits.dtype)[labels]
        return losses.mse(en.nn.softmax(logits), one_hot)
    return losses.softmax_cross_entropy(logits, labels)


def run(config: Config, state: dict[str, np.ndarray] | None = None) -> Iterator[Snapshot]:
    """Train, yielding a Snapshot every `snapshot_every` steps (and one before step 1)."""
    data = load_data(config)
    classes = len(data.class_names)
    model = build_model(config, data.x_train.shape[1], classes)
    variables = model.trainable_variables
    step = 0
    if state is not None:
        check_state(config, state)
        for var in variables:
            var.assign(state[var.name])
        step = int(state.get("__step__", np.array(0)))
    dense_layers = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    optimizer = make_optimizer(config.optimizer, lambda: config.learning_rate)  # live
    rng = np.random.default_rng(config.seed + 1)
    probe_rng = np.random.default_rng(config.seed + 2)
    probe_idx = probe_rng.choice(len(data.x_train), min(PROBE_SIZE, len(data.x_train)),
                                 replace=False)
    test_idx = probe_rng.choice(len(data.x_test), min(2 * PROBE_SIZE, len(data.x_test)),
                                replace=False)
    grid = _boundary_grid(data, config.boundary_resolution)
    samples = _sample_images(data)
    hidden_layers = dense_layers[:-1]
    relu_layers = [layer.name for layer in hidden_layers if layer.activation == "relu"]
    history = History({"step": 1, "train_loss": 1, "test_loss": 1, "train_acc": 1,
                       "test_acc": 1, "dead": max(len(relu_layers), 1)})
    batches = MiniBatches(len(data.x_train), rng, lambda: config.batch_size)

    def snapshot(diverged_at: int | None = None) -> Snapshot:
        return _snapshot(config, model, data, classes, step, history, probe_idx, test_idx, grid,
                         dense_layers, relu_layers, samples, diverged_at)

    yield snapshot()
    while step < config.steps:
        idx = next(batches)
        # A diverging network overflows on its way to a non-finite loss: expected here.
        with np.errstate(over="ignore", invalid="ignore"):
            logits = model(data.x_train[idx], training=True)
            loss = training_loss(config, logits, data.y_train[idx], classes)
            regularizer = penalty(config.regularizer, config.reg_lambda)
            if regularizer is not None:
                for layer in dense_layers:
                    loss = loss + regularizer(layer.kernel)
        if not np.isfinite(loss.value):
            yield snapshot(diverged_at=step + 1)  # the weights stay as they were
            return
        optimizer.minimize(loss, variables)
        step += 1
        if step % config.snapshot_every == 0 or step == config.steps:
            yield snapshot()


def _boundary_grid(data: Data, resolution: int):
    if data.x_train.shape[1] != 2:
        return None
    low = data.x_train.min(axis=0)
    high = data.x_train.max(axis=0)
    pad = 0.1 * (high - low) + 1e-3
    low, high = low - pad, high + pad
    xs = np.linspace(low[0], high[0], resolution, dtype=np.float32)
    ys = np.linspace(low[1], high[1], resolution, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)  # row = y, column = x
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    return points, (float(low[0]), float(high[0]), float(low[1]), float(high[1])), resolution


def _sample_images(data: Data) -> tuple[np.ndarray, np.ndarray] | None:
    """A few training images of every class (None for 2-D points): one of each class in
    class order, then a second of each, and so on, so any first few cover the classes."""
    if data.image_shape is None:
        return None
    classes = len(data.class_names)
    per_class = max(1, MAX_SAMPLE_TILES // max(classes, 1))
    ranked = [(rank, c, i) for c in range(classes)
              for rank, i in enumerate(np.flatnonzero(data.y_train == c)[:per_class])]
    idx = np.array([i for _, _, i in sorted(ranked)][:MAX_SAMPLE_TILES], dtype=np.int64)
    return data.x_train[idx].reshape(-1, *data.image_shape), data.y_train[idx]


def _probabilities(model, x: np.ndarray) -> np.ndarray:
    # Weights on their way to divergence overflow (inf logits, NaN probabilities):
    # the curves then show the blow-up, and the next step stops the run.
    with en.no_grad(), np.errstate(over="ignore", invalid="ignore"):
        logits = model(x, training=False).value
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=1, keepdims=True)


def _loss_and_accuracy(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    picked = probs[np.arange(len(labels)), labels]
    if not np.all(np.isfinite(probs)):  # a diverged network: no loss to speak of
        return float("nan"), float("nan")
    loss = float(-np.mean(np.log(np.maximum(picked, 1e-12))))
    accuracy = float(np.mean(probs.argmax(axis=1) == labels))
    return loss, accuracy


def _snapshot(config, model, data, classes, step, history, probe_idx, test_idx, grid,
              dense_layers, relu_layers, samples, diverged_at: int | None = None) -> Snapshot:
    model.record_activations = True
    train_probs = _probabilities(model, data.x_train[probe_idx])
    outputs = dict(model.activations)
    preactivations = dict(model.preactivations)
    model.record_activations = False
    test_probs = _probabilities(model, data.x_test[test_idx])
    train_loss, train_acc = _loss_and_accuracy(train_probs, data.y_train[probe_idx])
    test_loss, test_acc = _loss_and_accuracy(test_probs, data.y_test[test_idx])

    # A ReLU unit is dead when its input (the layer's pre-activation) is never positive.
    dead = tuple(probes.dead_fraction(preactivations[name]) for name in relu_layers)
    history.append(step=step, train_loss=train_loss, test_loss=test_loss, train_acc=train_acc,
                   test_acc=test_acc, dead=np.array(dead) if dead else np.nan)
    histograms = tuple(probes.histogram(outputs[layer.name], bins=30)
                       for layer in dense_layers[:-1])

    true = data.y_test[test_idx]
    predicted = test_probs.argmax(axis=1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (true, predicted), 1)
    row_counts = confusion.sum(axis=1, keepdims=True)
    rates = confusion / np.maximum(row_counts, 1)

    boundary = extent = None
    if grid is not None:
        points, extent, resolution = grid
        boundary = _probabilities(model, points).reshape(resolution, resolution, classes)

    # One copy of each value; weights and biases below are the same arrays, not copies.
    values = {var.name: var.value.copy() for var in model.trainable_variables}
    images: dict = {}
    if data.image_shape is not None:
        shape = data.image_shape
        kernel = values[dense_layers[0].kernel.name]  # (pixels, units)
        wrong = np.flatnonzero(predicted != true)
        shown = wrong[:MAX_MISCLASSIFIED]
        images = dict(
            image_shape=shape,
            sample_images=samples[0],
            sample_labels=samples[1],
            weight_tiles=np.ascontiguousarray(kernel[:, :MAX_WEIGHT_TILES].T).reshape(-1, *shape),
            misclassified_images=data.x_test[test_idx[shown]].reshape(-1, *shape),
            misclassified_predicted=predicted[shown],
            misclassified_true=true[shown],
            misclassified_count=int(len(wrong)),
        )
    return Snapshot(
        step=step,
        epoch=step * config.batch_size / len(data.x_train),
        learning_rate=float(config.learning_rate),
        curves=history.view(),
        layer_names=tuple(layer.name for layer in dense_layers),
        weights=tuple(values[layer.kernel.name] for layer in dense_layers),
        biases=tuple(values[layer.bias.name] for layer in dense_layers),
        dead_fractions=dead,
        dead_layers=tuple(relu_layers),
        histograms=histograms,
        class_names=data.class_names,
        confusion=confusion,
        boundary=boundary,
        boundary_extent=extent,
        points=data.x_train if grid is not None else None,
        point_labels=data.y_train if grid is not None else None,
        variables=values,
        diverged_at=diverged_at,
        confusion_rates=rates,
        hidden_activations=tuple(layer.activation for layer in dense_layers[:-1]),
        test_points=data.x_test if grid is not None else None,
        test_point_labels=data.y_test if grid is not None else None,
        **images,
    )


def state_of(snapshot: Snapshot) -> dict[str, np.ndarray]:
    """What a saved experiment keeps: every trainable value, and the step."""
    return {**snapshot.variables, "__step__": np.array(snapshot.step)}


def check_state(config: Config, state: dict[str, np.ndarray]) -> None:
    """Refuse saved weights that do not fit the network the config builds."""
    data = load_data(config)
    model = build_model(config, data.x_train.shape[1], len(data.class_names))
    for var in model.trainable_variables:
        if var.name not in state:
            raise ValueError(f"the saved weights have no {var.name}")
        if state[var.name].shape != var.shape:
            raise ValueError(
                f"the saved {var.name} has shape {state[var.name].shape}, the network "
                f"needs {var.shape}"
            )
