"""The training kit the experiments share: mini-batches and number lists.

(The others: the optimizer lookup is `engine.optimizers.get`, growing histories are
`engine.experiments.history.History`, the step rate is `session.RateMeter`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from engine.experiments.settings import SettingError, split_list


class MiniBatches(Iterator[np.ndarray]):
    """Index batches through shuffled epochs, without end: a fresh permutation of the
    `n` examples whenever the next batch would run past its end. `size` is a number or
    a function read at every batch (a live batch-size setting), clamped to 1..n. The
    first permutation is drawn at once, so `rng` draws happen where the iterator is made.
    """

    def __init__(self, n: int, rng: np.random.Generator, size: int | Callable[[], int]) -> None:
        self.n, self.rng, self.size = int(n), rng, size
        self.order, self.cursor = rng.permutation(self.n), 0

    def __next__(self) -> np.ndarray:
        size = self.size() if callable(self.size) else self.size
        count = max(1, min(int(size), self.n))
        if self.cursor + count > self.n:
            self.order, self.cursor = self.rng.permutation(self.n), 0
        batch = self.order[self.cursor: self.cursor + count]
        self.cursor += count
        return batch


def parse_numbers(text: str, name: str) -> np.ndarray:
    """Numbers from "1,2,3" (commas, semicolons or spaces); SettingError naming the
    setting if a part is not a number or a number is not finite."""
    parts = split_list(text)
    try:
        values = np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        raise SettingError(
            f"setting {name!r}: cannot read {text!r} as numbers separated by commas") from None
    if not np.all(np.isfinite(values)):
        raise SettingError(f"setting {name!r}: every value must be a finite number")
    return values


__all__ = ["MiniBatches", "parse_numbers"]
