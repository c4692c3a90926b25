"""The bundled UCI optical handwritten digits (1,797 images of 8x8) and a train/test split.

The file is the copy scikit-learn ships (``assets/data/digits.csv.gz``, the
test part of the UCI set, CC BY 4.0): one image per row, 64 pixel counts in
0..16 followed by the digit.
"""

from __future__ import annotations

import functools
import gzip

import numpy as np

from .._paths import ASSETS

__all__ = ["DIGITS_PATH", "digits", "train_test_split"]

DIGITS_PATH = ASSETS / "data" / "digits.csv.gz"


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    if not DIGITS_PATH.is_file():
        raise FileNotFoundError(f"bundled digits file missing: {DIGITS_PATH}")
    with gzip.open(DIGITS_PATH, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    X = (table[:, :64] / 16.0).reshape(-1, 8, 8).astype(np.float32)
    y = table[:, 64].astype(np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def digits() -> tuple[np.ndarray, np.ndarray]:
    """Return the 1,797 digit images as float32 (1797, 8, 8) in 0..1 and labels int64 0..9."""
    X, y = _load()
    # Copies, so a caller that edits its array does not change the cached one.
    return X.copy(), y.copy()


def train_test_split(
    X: np.ndarray,
    y: np.ndarray,
    test_fraction: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into ``(X_train, X_test, y_train, y_test)``, deterministically from ``seed``.

    With ``stratify`` (the default) each class is split on its own, so both
    parts keep the class proportions; each part is then shuffled.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    if stratify:
        test_parts, train_parts = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            k = round(test_fraction * len(idx))
            test_parts.append(idx[:k])
            train_parts.append(idx[k:])
        test = rng.permutation(np.concatenate(test_parts))
        train = rng.permutation(np.concatenate(train_parts))
    else:
        idx = rng.permutation(len(y))
        k = round(test_fraction * len(y))
        test, train = idx[:k], idx[k:]
    if (len(test) == 0 or len(train) == 0) and stratify:
        _too_few_per_class(y, test_fraction, empty="test" if len(test) == 0 else "training")
    if len(test) == 0 or len(train) == 0:
        raise ValueError(f"test_fraction={test_fraction} leaves an empty part for {len(y)} samples")
    return X[train], X[test], y[train], y[test]


def _too_few_per_class(y: np.ndarray, test_fraction: float, empty: str) -> None:
    """Raise the ValueError that says why a stratified split left a part empty: every
    class is too small to give a point to both parts."""
    counts = np.unique(y, return_counts=True)[1]
    # The smallest class that gives at least one point to each part at this fraction.
    needed = next((n for n in range(2, 100_000)
                   if 1 <= round(test_fraction * n) <= n - 1), "many")
    raise ValueError(
        f"too few points per class to split into training and test parts: {len(y)} points "
        f"in {len(counts)} classes, the largest with {int(counts.max())} point(s), so "
        f"the {empty} part would be empty; each class needs at least {needed} points "
        f"(or fewer classes)")
