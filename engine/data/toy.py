"""Small 2-D data sets for the classifier labs, the L1/L2 line, and a user's own CSV points.

Every generator is deterministic from its ``seed``, returns float32 points and
int64 labels, and splits ``n`` over the classes as evenly as possible (the
first ``n % classes`` classes get one point more), shuffled.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Limits on a user's CSV of 2-D points: a few hundred points per class make a picture.
MAX_CSV_BYTES = 16_000_000
MAX_CSV_ROWS = 200_000
MAX_CSV_CLASSES = 100

__all__ = [
    "circles",
    "gaussians",
    "line_with_outliers",
    "load_csv_points",
    "moons",
    "spiral",
    "xor",
]


def _check(n: int, classes: int, noise: float) -> None:
    if classes < 2:
        raise ValueError(f"classes must be at least 2, got {classes}")
    if n < classes:
        raise ValueError(f"n must be at least the number of classes ({classes}), got {n}")
    if not (noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")


def _counts(n: int, classes: int) -> list[int]:
    return [n // classes + (c < n % classes) for c in range(classes)]


def _finish(
    parts: list[np.ndarray], rng: np.random.Generator, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-class point arrays, add isotropic noise, shuffle."""
    X = np.concatenate(parts).astype(np.float64)
    y = np.concatenate([np.full(len(p), c, dtype=np.int64) for c, p in enumerate(parts)])
    X += noise * rng.standard_normal(X.shape)
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order]


def spiral(
    n: int = 300, noise: float = 0.05, classes: int = 2, turns: float = 1.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class, reaching radius 1.

    ``noise`` is the standard deviation of Gaussian noise added to each coordinate.
    """
    _check(n, classes, noise)
    rng = np.random.default_rng(seed)
    parts = []
    for c, m in enumerate(_counts(n, classes)):
        # Start a little off the centre so the arms do not all meet in one point.
        r = np.linspace(0.1, 1.0, m)
        t = 2 * np.pi * (c / classes + turns * r)
        parts.append(np.stack([r * np.cos(t), r * np.sin(t)], axis=1))
    return _finish(parts, rng, noise)


def moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles (as scikit-learn's make_moons), centred on the origin."""
    _check(n, 2, noise)
    rng = np.random.default_rng(seed)
    m0, m1 = _counts(n, 2)
    t0 = np.linspace(0, np.pi, m0)
    t1 = np.linspace(0, np.pi, m1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    shift = np.array([0.5, 0.25])
    return _finish([upper - shift, lower - shift], rng, noise)


def circles(
    n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A ring of radius 1 (class 0) around a ring of radius ``factor`` (class 1)."""
    _check(n, 2, noise)
    if not 0 < factor < 1:
        raise ValueError(f"factor must be between 0 and 1, got {factor}")
    rng = np.random.default_rng(seed)
    parts = []
    for radius, m in zip((1.0, factor), _counts(n, 2), strict=True):
        # Random angles, not a regular grid, so small n does not look like a polygon.
        t = rng.uniform(0, 2 * np.pi, m)
        parts.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
    return _finish(parts, rng, noise)


def xor(n: int = 200, noise: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points in [-1, 1]^2 labelled by the sign of x1*x2: class 1 where the signs differ.

    A small gap (0.05) is kept around both axes so that, without noise, the
    classes are separable.
    """
    _check(n, 2, noise)
    rng = np.random.default_rng(seed)
    parts = []
    for c, m in enumerate(_counts(n, 2)):
        mag = rng.uniform(0.05, 1.0, (m, 2))
        s1 = rng.choice([-1.0, 1.0], m)
        # Class 0: same signs (quadrants I and III); class 1: opposite (II and IV).
        s2 = s1 if c == 0 else -s1
        parts.append(mag * np.stack([s1, s2], axis=1))
    return _finish(parts, rng, noise)


def gaussians(
    n: int = 200, noise: float = 0.4, classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Round Gaussian blobs of standard deviation ``noise``, centres evenly on a circle of radius 1.5."""
    _check(n, classes, noise)
    rng = np.random.default_rng(seed)
    parts = []
    for c, m in enumerate(_counts(n, classes)):
        a = np.pi / 2 + 2 * np.pi * c / classes
        parts.append(np.tile([1.5 * np.cos(a), 1.5 * np.sin(a)], (m, 1)))
    return _finish(parts, rng, noise)


def line_with_outliers(
    n: int = 40,
    slope: float = 0.5,
    intercept: float = 0.2,
    noise: float = 0.05,
    n_outliers: int = 4,
    outlier_offset: float = 1.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Points on ``y = slope*x + intercept`` for x in [-1, 1], with noise and a few outliers.

    ``n`` counts all points, outliers included. The ``n_outliers`` outliers sit
    all on the same side, above the line, between 1 and 1.5 times
    ``outlier_offset`` away (at least 10 noise deviations), so a least-squares
    (L2) fit is visibly pulled towards them while an L1 fit mostly ignores them.
    Returns ``x`` and ``y`` as float32 columns of shape (n, 1), in random order.
    """
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    if not 0 <= n_outliers < n / 2:
        raise ValueError(f"n_outliers must be >= 0 and fewer than half of n={n}, got {n_outliers}")
    if not (noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    y = slope * x + intercept + noise * rng.standard_normal(n)
    idx = rng.choice(n, size=n_outliers, replace=False)
    offset = max(outlier_offset, 10 * noise)
    y[idx] = slope * x[idx] + intercept + offset * rng.uniform(1.0, 1.5, n_outliers)
    return x.astype(np.float32)[:, None], y.astype(np.float32)[:, None]


def load_csv_points(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a user's 2-D points from a CSV file with columns x1, x2, label.

    A header line is optional (it is recognised by a non-numeric first row).
    Commas, semicolons or tabs separate the columns. Labels must be integers;
    their distinct values are mapped in sorted order to 0..K-1 (so 0/1 stays
    0/1 and -1/1 becomes 0/1). Raises ValueError naming the file and the row on
    any problem.
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: not a file")
    size = p.stat().st_size
    if size > MAX_CSV_BYTES:
        raise ValueError(f"{p}: {size / 1e6:,.1f} MB; CSV files of points up to "
                         f"{MAX_CSV_BYTES // 1_000_000} MB are read")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: cannot read as text: {exc}") from exc
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{p}: file is empty")
    delim = max(",;\t", key=lines[0].count)
    rows = list(csv.reader(lines, delimiter=delim))

    def numeric(field: str) -> bool:
        try:
            float(field)
        except ValueError:
            return False
        return True

    first = 0
    if not all(numeric(f) for f in rows[0]):
        first = 1  # header
    if first == len(rows):
        raise ValueError(f"{p}: has a header but no data rows")
    if len(rows) - first > MAX_CSV_ROWS:
        raise ValueError(f"{p}: {len(rows) - first:,} rows; up to {MAX_CSV_ROWS:,} points "
                         f"are read")
    pts = np.empty((len(rows) - first, 2), dtype=np.float64)
    labels = np.empty(len(rows) - first, dtype=np.int64)
    for i, row in enumerate(rows[first:]):
        lineno = i + first + 1
        fields = [f.strip() for f in row]
        if len(fields) != 3:
            raise ValueError(
                f"{p}, row {lineno}: expected 3 columns (x1, x2, label), found {len(fields)}"
            )
        for j in range(2):
            try:
                pts[i, j] = float(fields[j])
            except ValueError:
                raise ValueError(
                    f"{p}, row {lineno}: x{j + 1} is not a number: {fields[j]!r}"
                ) from None
            if not math.isfinite(pts[i, j]):
                raise ValueError(f"{p}, row {lineno}: x{j + 1} is not finite: {fields[j]!r}")
        try:
            lab = float(fields[2])
        except ValueError:
            lab = math.nan
        if not (math.isfinite(lab) and lab == int(lab)):
            raise ValueError(f"{p}, row {lineno}: label is not an integer: {fields[2]!r}")
        labels[i] = int(lab)
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) > MAX_CSV_CLASSES:
        raise ValueError(
            f"{p}: {len(classes):,} different labels (classes) for {len(labels):,} points; "
            f"up to {MAX_CSV_CLASSES} classes are read, each needing several points")
    if not np.array_equal(classes, np.arange(len(classes))):
        log.info("%s: labels %s mapped to 0..%d", p, classes.tolist(), len(classes) - 1)
    return pts.astype(np.float32), y.astype(np.int64)
