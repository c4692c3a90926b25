"""The Loss lab's experiment: cross-entropy, softmax, and why losses are computed from logits.

Four things, all computed with the engine:

- binary cross-entropy of one sigmoid output against p = sigmoid(z) for y = 1 and
  y = 0, and softmax cross-entropy against a one-hot label as the true class's logit
  moves, with its gradient d loss / d logits (from `en.gradients`, which is p - onehot);
- the naive loss (softmax from exponentials, then log) against the stable one (from
  logits, log-sum-exp) as the logits are scaled up, in float32 and float64: where the
  naive one turns inf or nan, and how far apart the two are before that;
- the small-scale example 2/n against (1 + 1/n) - (1 - 1/n) in float32 and float64;
- multi-class (one softmax, exactly one true class) against multi-label (independent
  sigmoids, any number of labels true) on the same scores.

Everything is cheap, so the first snapshot carries it all. Run then animates the
logit-scale sweep: snapshot k reveals the sweep's first k scales, with a marker at
the k-th.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

import engine as en
from engine import losses, nn
from engine.experiments.settings import SettingError, setting

TITLE = "Softmax & Loss"
SUMMARY = ("Cross-entropy from probabilities and from logits, where the naive form overflows, "
           "and multi-class versus multi-label outputs.")

# The sigmoid curves: z in [-5, 5) in steps of 0.2 (50 points), as in docs/labs.md, "Softmax & Loss".
Z_START, Z_STOP, Z_STEP = -5.0, 5.0, 0.2
# Points of the softmax curve over the true class's logit.
SOFTMAX_POINTS = 161
DTYPES = ("float32", "float64")
MAX_CLASSES = 10
# The lab's tabs, in order: the `view` setting names the one in front.
TABS = ("cross-entropy", "naive vs stable", "multi-class vs multi-label")


@dataclasses.dataclass
class Config:
    view: str = setting("cross-entropy", "which tab is in front (also for screenshots and "
                        "recordings)", choices=TABS, live=True)
    logits: tuple[float, ...] = setting(
        (2.0, 1.0, -1.0), "scores (logits) of the classes / labels, e.g. 2.0, 1.0, -1.0",
        low=-1000.0, high=1000.0)
    label_names: tuple[str, ...] = setting(
        ("car", "bus", "pedestrian"), "a name for each class / label")
    true_class: int = setting(
        0, "multi-class: index of the one true class (0 = the first name)", low=0,
        high=MAX_CLASSES - 1)
    multilabel_targets: tuple[int, ...] = setting(
        (1, 0, 1), "multi-label: 1 where the label is in the picture, else 0 (any number)",
        choices=(0, 1))
    true_logit_span: float = setting(
        8.0, "the softmax curve moves the true class's logit from -span to +span",
        low=0.5, high=50.0)
    sweep_logits: tuple[float, ...] = setting(
        (1.0, -1.0, 0.5), "naive vs stable: the logits are scale * these", low=-100.0,
        high=100.0)
    sweep_label: int = setting(
        2, "naive vs stable: index of the true class (2: naive turns inf; 0: the loss runs "
        "out of float32 digits, then naive turns nan)",
        low=0, high=MAX_CLASSES - 1)
    scale_min: float = setting(1.0, "smallest logit scale of the sweep", low=1e-3, high=1e5,
                               log_scale=True)
    scale_max: float = setting(1000.0, "largest logit scale of the sweep", low=1e-3, high=1e6,
                               log_scale=True)
    sweep_points: int = setting(241, "scales in the sweep, log-spaced (one Run step each)",
                                low=2, high=5000)
    small_n: float = setting(10000.0, "small-scale example: 2/n vs (1 + 1/n) - (1 - 1/n)",
                             low=1.0, high=1e15, log_scale=True)

    def check(self) -> None:
        n = len(self.logits)
        if not 2 <= n <= MAX_CLASSES:
            raise SettingError(f"logits: give 2 to {MAX_CLASSES} scores, got {n}")
        for name, values in (("label_names", self.label_names),
                             ("multilabel_targets", self.multilabel_targets)):
            if len(values) != n:
                raise SettingError(f"{name} needs one entry per logit ({n}), got {len(values)}")
        if self.true_class >= n:
            raise SettingError(f"true_class must be below the number of logits ({n})")
        if not 2 <= len(self.sweep_logits) <= MAX_CLASSES:
            raise SettingError(f"sweep_logits: give 2 to {MAX_CLASSES} numbers")
        if self.sweep_label >= len(self.sweep_logits):
            raise SettingError(
                f"sweep_label must be below the number of sweep logits ({len(self.sweep_logits)})")
        if self.scale_min >= self.scale_max:
            raise SettingError("scale_min must be smaller than scale_max")


@dataclasses.dataclass(frozen=True)
class BinaryCurves:
    """Binary cross-entropy of one sigmoid output, over z (float64)."""

    z: np.ndarray
    p: np.ndarray  # sigmoid(z)
    loss_y1: np.ndarray  # -log p
    loss_y0: np.ndarray  # -log(1 - p)
    grad_y1: np.ndarray  # d loss / dz = p - 1
    grad_y0: np.ndarray  # d loss / dz = p


@dataclasses.dataclass(frozen=True)
class SoftmaxCurve:
    """Softmax cross-entropy against a one-hot label as the true class's logit moves."""

    true_logit: np.ndarray  # (T,) the values the true class's logit takes
    probs: np.ndarray  # (T, N) softmax of each logit row
    p_true: np.ndarray  # (T,)
    loss: np.ndarray  # (T,) softmax cross-entropy of each row
    grads: np.ndarray  # (T, N) d loss / d logits, from en.gradients
    # The same at the configured logits:
    logits: np.ndarray
    current_probs: np.ndarray
    current_loss: float
    current_grad: np.ndarray


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Naive and stable softmax cross-entropy over a sweep of logit scales, in one dtype."""

    dtype: str
    naive: np.ndarray  # may hold inf / nan
    stable: np.ndarray
    abs_diff: np.ndarray  # |naive - stable|, nan where either is not finite
    rel_err: np.ndarray  # |naive - stable| / |stable| where both finite (0 where both are 0)
    first_bad_index: int | None  # first scale where naive is not finite
    first_bad_scale: float | None
    first_bad_kind: str  # "inf", "nan" or "" (stays finite)
    overflow_scale: float  # the scale where exp of the largest logit overflows this dtype


@dataclasses.dataclass(frozen=True)
class SmallScale:
    """2/n against (1 + 1/n) - (1 - 1/n), in one dtype."""

    dtype: str
    n: float
    direct: float  # 2 / n
    via_difference: float  # (1 + 1/n) - (1 - 1/n)
    difference: float  # via_difference - direct
    rel_error: float  # |difference| / direct


@dataclasses.dataclass(frozen=True)
class MultiCompare:
    """Multi-class (softmax) and multi-label (sigmoids) outputs on the same scores."""

    names: tuple[str, ...]
    logits: np.ndarray
    true_class: int
    targets: np.ndarray
    softmax_probs: np.ndarray  # sums to 1
    sigmoid_probs: np.ndarray  # each in (0, 1), independent
    softmax_ce: float
    softmax_grad: np.ndarray  # p - onehot
    bce_terms: np.ndarray  # per label
    bce_sum: float
    bce_mean: float
    bce_grad: np.ndarray  # of the sum: sigmoid - targets


@dataclasses.dataclass(frozen=True)
class Snapshot:
    step: int  # 0: everything shown; k >= 1: the sweep revealed up to scale k
    revealed: int  # how many sweep scales are shown
    cursor: int | None  # index of the sweep scale under the moving marker (None at step 0)
    binary: BinaryCurves
    softmax: SoftmaxCurve
    scales: np.ndarray
    sweep_logits: np.ndarray
    sweep_label: int
    sweeps: tuple[Sweep, ...]  # float32, float64
    small: tuple[SmallScale, ...]  # float32, float64
    multi: MultiCompare


def _frozen(a) -> np.ndarray:
    """A read-only copy: every snapshot of a run shares these arrays."""
    out = np.array(a)
    out.flags.writeable = False
    return out


def binary_curves() -> BinaryCurves:
    """-log p and -log(1 - p) against p = sigmoid(z), z = arange(-5, 5, 0.2), in float64."""
    z_values = np.arange(Z_START, Z_STOP, Z_STEP)
    z = en.Variable(z_values, dtype=np.float64)
    p = nn.sigmoid(z).value
    loss_y1 = losses.binary_cross_entropy(z, np.ones_like(z_values), from_logits=True,
                                          reduction="none")
    loss_y0 = losses.binary_cross_entropy(z, np.zeros_like(z_values), from_logits=True,
                                          reduction="none")
    # Each term depends on its own z only, so the gradient of the sum is the per-point slope.
    (grad_y1,) = en.gradients(en.sum(loss_y1), [z])
    (grad_y0,) = en.gradients(en.sum(loss_y0), [z])
    return BinaryCurves(z=_frozen(z_values), p=_frozen(p), loss_y1=_frozen(loss_y1.value),
                        loss_y0=_frozen(loss_y0.value), grad_y1=_frozen(grad_y1),
                        grad_y0=_frozen(grad_y0))


def softmax_curve(logits: np.ndarray, true_class: int, span: float) -> SoftmaxCurve:
    """Softmax cross-entropy and its gradient as logit `true_class` runs over [-span, span]."""
    logits = np.asarray(logits, dtype=np.float64)
    moving = np.linspace(-span, span, SOFTMAX_POINTS)
    rows = np.repeat(logits[None, :], SOFTMAX_POINTS, axis=0)
    rows[:, true_class] = moving
    one_hot = np.eye(len(logits))[np.full(SOFTMAX_POINTS, true_class)]
    z = en.Variable(rows, dtype=np.float64)
    probs = nn.softmax(z).value
    loss = losses.softmax_cross_entropy(z, one_hot, reduction="none")
    # Rows are independent examples: the gradient of the sum is each row's own gradient.
    (grads,) = en.gradients(en.sum(loss), [z])

    current = en.Variable(logits[None, :], dtype=np.float64)
    current_loss = losses.softmax_cross_entropy(current, np.eye(len(logits))[[true_class]],
                                                reduction="sum")
    (current_grad,) = en.gradients(current_loss, [current])
    return SoftmaxCurve(
        true_logit=_frozen(moving), probs=_frozen(probs), p_true=_frozen(probs[:, true_class]),
        loss=_frozen(loss.value), grads=_frozen(grads), logits=_frozen(logits),
        current_probs=_frozen(nn.softmax(current).value[0]),
        current_loss=float(current_loss.value), current_grad=_frozen(current_grad[0]),
    )


def naive_softmax_cross_entropy(z: en.Tensor, label: int) -> en.Tensor:
    """-log(e^z_label / sum e^z), exactly as written: e^z overflows for large logits."""
    e = en.exp(z)
    p = e / en.sum(e, axis=-1, keepdims=True)
    return -en.log(p[..., label])


def sweep(scales: np.ndarray, base: np.ndarray, label: int, dtype: str) -> Sweep:
    """Naive and stable loss of logits scale * base for each scale, computed in `dtype`."""
    dt = np.dtype(dtype)
    z = en.Variable(scales[:, None] * np.asarray(base, dtype=np.float64)[None, :], dtype=dt)
    # Overflow, 0 * inf and log(0) are what this sweep exists to show: no warnings for them.
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        naive = naive_softmax_cross_entropy(z, label).value
        stable = losses.softmax_cross_entropy(z, np.full(len(scales), label),
                                              reduction="none").value
        both = np.isfinite(naive) & np.isfinite(stable)
        diff = np.where(both, np.abs(naive.astype(np.float64) - stable.astype(np.float64)),
                        np.nan)
        rel = np.where(stable != 0, diff / np.abs(stable.astype(np.float64)),
                       np.where(diff == 0, 0.0, np.nan))
    rel = np.where(both, rel, np.nan)
    bad = ~np.isfinite(naive)
    index = int(np.argmax(bad)) if bad.any() else None
    kind = ""
    if index is not None:
        kind = "nan" if np.isnan(naive[index]) else "inf"
    top = float(np.max(np.abs(base)))
    overflow = float(np.log(np.finfo(dt).max)) / top if top > 0 else float("inf")
    return Sweep(
        dtype=dtype, naive=_frozen(naive), stable=_frozen(stable), abs_diff=_frozen(diff),
        rel_err=_frozen(rel), first_bad_index=index,
        first_bad_scale=None if index is None else float(scales[index]), first_bad_kind=kind,
        overflow_scale=overflow,
    )


def small_scale(n: float, dtype: str) -> SmallScale:
    """2/n and (1 + 1/n) - (1 - 1/n) with engine ops in `dtype`: equal on paper, not in floats."""
    dt = np.dtype(dtype)
    n_t = en.Tensor(n, dtype=dt)
    one = en.Tensor(1.0, dtype=dt)
    direct = en.Tensor(2.0, dtype=dt) / n_t
    via = (one + one / n_t) - (one - one / n_t)
    difference = via - direct
    rel = en.abs(difference) / direct
    return SmallScale(dtype=dtype, n=float(n), direct=float(direct.value), via_difference=float(via.value),
                      difference=float(difference.value), rel_error=float(rel.value))


def multi_compare(config: Config) -> MultiCompare:
    """One softmax over the classes versus one sigmoid per label, on the same logits."""
    logits = np.asarray(config.logits, dtype=np.float64)
    targets = np.asarray(config.multilabel_targets, dtype=np.float64)
    z = en.Variable(logits, dtype=np.float64)
    z_rows = en.reshape(z, (1, len(logits)))
    softmax_probs = nn.softmax(z).value
    ce = losses.softmax_cross_entropy(z_rows, np.array([config.true_class]), reduction="sum")
    (ce_grad,) = en.gradients(ce, [z])
    sigmoid_probs = nn.sigmoid(z).value
    terms = losses.binary_cross_entropy(z, targets, from_logits=True, reduction="none")
    bce_sum = losses.binary_cross_entropy(z, targets, from_logits=True, reduction="sum")
    bce_mean = losses.binary_cross_entropy(z, targets, from_logits=True, reduction="mean")
    (bce_grad,) = en.gradients(bce_sum, [z])
    return MultiCompare(
        names=tuple(config.label_names), logits=_frozen(logits), true_class=config.true_class,
        targets=_frozen(targets), softmax_probs=_frozen(softmax_probs),
        sigmoid_probs=_frozen(sigmoid_probs), softmax_ce=float(ce.value),
        softmax_grad=_frozen(ce_grad), bce_terms=_frozen(terms.value),
        bce_sum=float(bce_sum.value), bce_mean=float(bce_mean.value), bce_grad=_frozen(bce_grad),
    )


def sweep_scales(config: Config) -> np.ndarray:
    return np.geomspace(config.scale_min, config.scale_max, config.sweep_points)


def run(config: Config) -> Iterator[Snapshot]:
    """Snapshot 0 shows everything; snapshots 1..sweep_points reveal the sweep scale by scale."""
    scales = sweep_scales(config)
    base = np.asarray(config.sweep_logits, dtype=np.float64)
    parts = dict(
        binary=binary_curves(),
        softmax=softmax_curve(np.asarray(config.logits), config.true_class,
                              config.true_logit_span),
        scales=_frozen(scales), sweep_logits=_frozen(base), sweep_label=config.sweep_label,
        sweeps=tuple(sweep(scales, base, config.sweep_label, dt) for dt in DTYPES),
        small=tuple(small_scale(config.small_n, dt) for dt in DTYPES),
        multi=multi_compare(config),
    )
    yield Snapshot(step=0, revealed=len(scales), cursor=None, **parts)
    for k in range(1, len(scales) + 1):
        yield Snapshot(step=k, revealed=k, cursor=k - 1, **parts)
