"""What the Runner costs an experiment, and how evenly it feeds the GUI.

Run: python bench/bench_runner.py [--seconds 3]

For two generators, a cheap one (a counter: the worst case, the runner's own overhead
dominates) and a numpy one (a 64x64 matmul per step, closer to a small training step),
it prints:
  * steps/s headless: a plain ``for`` loop over the generator, no Qt;
  * steps/s under the Runner (worker thread + ~30 Hz GUI timer, offscreen Qt), with a
    GUI slot that receives each snapshot, and the ratio runner / headless;
  * the intervals between ``snapshot`` signals on the GUI thread: median, p95, max (ms),
    and signals per second (the target is ~30, whatever the experiment's pace).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from vizlab.runner import Runner  # noqa: E402


@dataclass(frozen=True)
class Snap:
    step: int
    value: float


def cheap() -> Iterator[Snap]:
    for i in itertools.count(1):
        yield Snap(i, 0.0)


def matmul() -> Iterator[Snap]:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 64)).astype(np.float32) / 8
    x = rng.normal(size=(32, 64)).astype(np.float32)
    for i in itertools.count(1):
        x = np.tanh(x @ w)
        yield Snap(i, float(x[0, 0]))


def headless_rate(factory: Callable[[], Iterator[Snap]], seconds: float) -> float:
    gen = factory()
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(1000):  # check the clock rarely so it doesn't dominate
            next(gen)
        n += 1000
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def runner_rate(
    app: QApplication, factory: Callable[[], Iterator[Snap]], seconds: float
) -> tuple[float, list[float]]:
    runner = Runner()
    arrivals: list[float] = []
    runner.snapshot.connect(lambda _s: arrivals.append(time.perf_counter()))
    loop = QEventLoop()
    runner.start(factory)
    start = time.perf_counter()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    elapsed = time.perf_counter() - start
    steps = runner.step_count()
    runner.shutdown()
    gaps = [1000 * (b - a) for a, b in itertools.pairwise(arrivals)]
    return steps / elapsed, gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])

    print(
        f"{args.seconds:.0f} s per measurement, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    )
    header = (
        f"{'generator':10s} {'headless/s':>12s} {'runner/s':>12s} {'ratio':>6s} "
        f"{'sig/s':>6s} {'median ms':>9s} {'p95 ms':>7s} {'max ms':>7s}"
    )
    print(header)
    for name, factory in (("cheap", cheap), ("matmul", matmul)):
        base = headless_rate(factory, args.seconds)
        rate, gaps = runner_rate(app, factory, args.seconds)
        p95 = statistics.quantiles(gaps, n=20)[-1] if len(gaps) >= 2 else float("nan")
        print(
            f"{name:10s} {base:12,.0f} {rate:12,.0f} {rate / base:6.2f} "
            f"{(len(gaps) + 1) / args.seconds:6.1f} {statistics.median(gaps):9.1f} "
            f"{p95:7.1f} {max(gaps):7.1f}"
        )


if __name__ == "__main__":
    main()
