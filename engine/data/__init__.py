"""Data for the labs that needs no network: toy 2-D sets, the L1/L2 line, bundled
handwritten digits, a generated 47-class glyph set, and an IDX reader for
MNIST-family files a user downloads.

``load(name, **kw)`` picks a classification set by the names in ``DATASETS``,
for the labs' data-set choosers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .digits import DIGITS_PATH, digits, train_test_split
from .glyphs import GLYPH47_LABELS, GLYPH_FONTS, glyphs47
from .idx import load_idx_pair, read_idx
from .toy import (
    circles,
    gaussians,
    line_with_outliers,
    load_csv_points,
    moons,
    spiral,
    xor,
)

__all__ = [
    "DATASETS",
    "DIGITS_PATH",
    "GLYPH47_LABELS",
    "GLYPH_FONTS",
    "circles",
    "digits",
    "gaussians",
    "glyphs47",
    "line_with_outliers",
    "load",
    "load_csv_points",
    "load_idx_pair",
    "moons",
    "read_idx",
    "spiral",
    "train_test_split",
    "xor",
]

_LOADERS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "spiral": spiral,
    "moons": moons,
    "circles": circles,
    "xor": xor,
    "gaussians": gaussians,
    "digits": digits,
    "glyphs47": glyphs47,
}

# Names accepted by load(), in the order a chooser should list them.
DATASETS: tuple[str, ...] = tuple(_LOADERS)


def load(name: str, **kw: object) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(X, y)`` for the data set called ``name``; keyword arguments go to its generator.

    Raises ValueError for an unknown name, listing the known ones.
    """
    try:
        fn = _LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None
    return fn(**kw)
