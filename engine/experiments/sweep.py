"""The Optimizer lab's full sweep, in chunks of rates: on Dask, or in this process.

A sweep (4 optimizers x dropout off/on x `rates` learning rates, on one model, data,
number of epochs and seed) is cut into chunks: one chunk is some rates of one
(optimizer, dropout) pair, trained as one population to the end of training and
evaluated on the test set. A member's numbers do not depend on the chunking: every
chunk starts from the weights of the sweep's seed, sees the batches of the sweep's
seed and, with dropout, the masks of the seed and the step (`optimizers.SharedDropout`),
and members of a population never mix (tests/test_sweep.py checks bit equality).

The chunk size follows from a memory budget (`memory_mb`, per chunk, i.e. per worker):
a probe measures the bytes one more member costs (tracemalloc sees numpy's buffers).

Executors: `run_sweep(..., workers=0)` trains the chunks here, one after another;
otherwise they go to Dask (`dask.distributed`, the optional extra `sweep`): a
LocalCluster of `workers` processes with one BLAS thread each (-1: one per core), or a
running cluster given by its scheduler address. One Dask task trains a few chunks in
turn (about TASK_SECONDS). Dask schedules, retries a task whose worker died (`retries=`)
and serves its dashboard; nothing here is cluster code.

Results: one .npz per sweep (plain arrays, no pickles), rewritten atomically as chunks
finish, so nothing finished is lost; running the same sweep again
resumes, training only the members not in the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import math
import os
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine.experiments import optimizers as lab
from engine.experiments.settings import SettingError, setting, settings_of

FORMAT = "vizlab optimizer sweep 1"
# Test images per forward pass at the end: a constant per model (never per chunk), so
# that the test loss sums in the same order whatever the chunk.
EVAL_IMAGES = {"mlp": 250, "conv": 16}
# Members per chunk beyond which a step gets slower per member (bench/bench_sweep.py):
# the MLP's step is mostly streaming each member's weights and optimizer state through
# memory, so a population larger than the cache runs slower (1,800 member-steps/s at 4,
# 1,400 at 14, 900 at 359 on one core); the conv net computes far more per member and
# is fastest in chunks as large as the memory budget allows.
FASTEST_CHUNK = {"mlp": 16, "conv": 100_000}
# Settings that do not change any member's numbers: not part of the sweep's identity.
NOT_IDENTITY = ("memory_mb",)
BLAS_ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
# Dask's nannies start workers with malloc's trim threshold at 64 kB, which also pins
# the mmap threshold at 128 kB: every weight-sized buffer of every step is then mapped,
# zero-filled by the kernel and unmapped (8x the page faults of this process, a fifth
# more CPU per chunk). A chunk allocates the same buffers at every step: keep them.
MALLOC_KEEP = {"MALLOC_TRIM_THRESHOLD_": str(2**30), "MALLOC_MMAP_THRESHOLD_": str(2**25)}
# Read by the BLAS and by malloc when a process starts: a LocalCluster's nannies set
# them before they spawn a worker (Dask's "pre-spawn-environ").
WORKER_ENV = dict(BLAS_ONE_THREAD, **MALLOC_KEEP)
# Seconds of training per Dask task: a task trains several chunks in turn, so that
# Dask's cost per task (scheduling, the result's trip, the parent's bookkeeping and
# file write) is small beside it, yet a sweep still has several tasks per worker.
TASK_SECONDS = 1.0


@dataclasses.dataclass
class SweepConfig:
    # -- data (as the Optimizer lab)
    dataset: str = setting("glyphs47", "glyphs47: generated 47-class glyphs (offline); emnist: "
                           "an EMNIST balanced IDX pair (the original experiment's data)",
                           choices=lab.DATASET_CHOICES)
    emnist_images: str = setting("", "EMNIST images IDX file (every worker must see this path)")
    emnist_labels: str = setting("", "the matching EMNIST labels IDX file")
    train_samples: int = setting(2000, "training images (the seed: 112800)", low=16,
                                 high=112_800)
    test_samples: int = setting(500, "held-out images for the final loss and accuracy",
                                low=10, high=20_000)
    # -- the sweep
    rates: int = setting(100, "learning rates, log-spaced from lr_min to lr_max (the "
                         "original experiment: 1000)", low=2, high=100_000)
    lr_min: float = setting(lab.LR_LOW, "smallest learning rate (the original experiment: "
                            "1e-6)", low=lab.LR_SMALLEST, high=lab.LR_LARGEST, log_scale=True)
    lr_max: float = setting(lab.LR_HIGH, "largest learning rate (the original experiment: "
                            "1e-1)", low=lab.LR_SMALLEST, high=lab.LR_LARGEST, log_scale=True)
    model: str = setting("mlp", "mlp: flatten 784, dense 128, dense 47; conv: the "
                         "original conv 32, conv 64, max-pool, dense 128, dense 47",
                         choices=lab.MODEL_CHOICES)
    keep_prob: float = setting(0.5, "dropout: probability of keeping a unit", low=0.05,
                               high=1.0)
    batch_size: int = setting(8, "images per step (the seed: 8)", low=1, high=512)
    epochs: int = setting(1, "passes over the training images (the seed: 1)", low=1,
                          high=100)
    seed: int = setting(0, "random seed (data, initial weights, batch order, dropout masks)",
                        low=0, high=2**31 - 1)
    curve_points: int = setting(50, "points kept of each member's training-loss curve",
                                low=2, high=1000)
    memory_mb: int = setting(1024, "memory budget of one chunk (one worker), in MB: sets "
                             "how many rates train together", low=64, high=1_000_000)

    def check(self) -> None:
        if self.dataset == "emnist" and not (self.emnist_images and self.emnist_labels):
            raise SettingError("dataset 'emnist' needs emnist_images and emnist_labels")
        if not self.lr_min < self.lr_max:
            raise SettingError(f"setting 'lr_min' ({self.lr_min:g}) must be below 'lr_max' "
                               f"({self.lr_max:g})")
        if self.batch_size > self.train_samples:
            raise SettingError(f"batch_size ({self.batch_size}) is more than train_samples "
                               f"({self.train_samples})")


def identity(config: SweepConfig) -> dict:
    """The settings that make a sweep's numbers: a results file must match them exactly."""
    return {info.name: getattr(config, info.name) for info in settings_of(config)
            if info.name not in NOT_IDENTITY}


def identity_json(config: SweepConfig) -> str:
    return json.dumps(identity(config), sort_keys=True)


def lab_config(config: SweepConfig) -> lab.Config:
    """The Optimizer lab's Config with the sweep's data and model settings."""
    out = lab.Config()
    for name in ("dataset", "emnist_images", "emnist_labels", "train_samples", "test_samples",
                 "model", "keep_prob", "batch_size", "epochs", "seed"):
        setattr(out, name, getattr(config, name))
    return out


def sweep_rates(config: SweepConfig) -> np.ndarray:
    """The sweep's learning rates: `rates` of them, log-spaced from lr_min to lr_max."""
    return lab.learning_rates(config.rates, config.lr_min, config.lr_max)


def from_identity(settings: dict) -> SweepConfig:
    config = SweepConfig()
    for name, value in settings.items():
        setattr(config, name, value)
    return config


def total_steps(config: SweepConfig) -> int:
    return lab.steps_per_run(lab_config(config))


def curve_steps(config: SweepConfig) -> np.ndarray:
    """The last step of each curve point's segment of training (the curve holds the
    mean training loss over each segment)."""
    steps = total_steps(config)
    points = min(int(config.curve_points), steps)
    return np.ceil(np.arange(1, points + 1) * steps / points).astype(np.int64)


# ----------------------------------------------------------------------------------
# one chunk


@functools.lru_cache(maxsize=2)
def _data(settings_json: str):
    """The sweep's data, loaded once per process (a worker runs many chunks)."""
    return lab.load_data(lab_config(from_identity(json.loads(settings_json))))


def chunk_steps(settings_json: str, optimizer: str, dropout: bool,
                indices: np.ndarray) -> Iterator[int]:
    """Train the members `indices` (into the sweep's rates) of one (optimizer, dropout)
    population; yields the step number after each step, and returns (StopIteration's
    value) the chunk's result: a dict of plain arrays."""
    config = from_identity(json.loads(settings_json))
    cfg = lab_config(config)
    x_train, y_train, x_test, y_test = _data(settings_json)
    indices = np.asarray(indices, dtype=np.int64)
    rates = sweep_rates(config)[indices]
    k = len(indices)
    model = lab.network(cfg, bool(dropout), population=k)
    opt = lab.make_optimizer(optimizer, rates.astype(np.float32), population=k)
    ends = curve_steps(config)
    curve = np.zeros((k, len(ends)), dtype=np.float64)
    counts = np.zeros(len(ends), dtype=np.int64)
    point = 0
    order = lab.batches(len(x_train), int(cfg.batch_size), int(cfg.epochs),
                        np.random.default_rng([int(cfg.seed), 3]))
    for step, idx in enumerate(order, start=1):
        with np.errstate(all="ignore"):  # diverging members overflow: they get frozen
            loss, _ = lab.train_step(model, opt, x_train[idx], y_train[idx])
        curve[:, point] += loss
        counts[point] += 1
        if step >= ends[point]:
            point += 1
        yield step
    with np.errstate(invalid="ignore"):
        curve = (curve / np.maximum(counts, 1)).astype(np.float32)
    frozen = np.asarray(opt.frozen, dtype=bool).reshape(k)
    curve[frozen] = np.nan
    saved = lab.EVAL_CHUNK
    lab.EVAL_CHUNK = EVAL_IMAGES[config.model]
    try:
        test_loss, test_acc = lab.evaluate(model, x_test, y_test)
    finally:
        lab.EVAL_CHUNK = saved
    test_loss = np.where(frozen, np.nan, test_loss)
    test_acc = np.where(frozen, np.nan, test_acc)
    return {"optimizer": optimizer, "dropout": bool(dropout), "indices": indices,
            "test_loss": np.asarray(test_loss, np.float64),
            "test_accuracy": np.asarray(test_acc, np.float64),
            "diverged": frozen, "curve": curve}


def train_chunk(settings_json: str, optimizer: str, dropout: bool, indices: np.ndarray) -> dict:
    """One chunk to the end."""
    steps = chunk_steps(settings_json, optimizer, dropout, indices)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


@functools.lru_cache(maxsize=1)
def keep_malloc_buffers() -> bool:
    """Have glibc's malloc keep freed buffers for reuse in this process (MALLOC_KEEP),
    whatever the environment the process started with (a cluster's own `dask worker`s
    trim at 64 kB); False where malloc is not glibc's."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_trim_threshold, int(MALLOC_KEEP["MALLOC_TRIM_THRESHOLD_"]))
                and mallopt(m_mmap_threshold, int(MALLOC_KEEP["MALLOC_MMAP_THRESHOLD_"])))


def train_chunks(settings_json: str, chunks: list[tuple[str, bool, tuple[int, ...]]]
                 ) -> list[dict]:
    """Several chunks (optimizer, dropout, indices), one after another: one Dask task."""
    keep_malloc_buffers()
    return [train_chunk(settings_json, optimizer, dropout, np.array(indices, dtype=np.int64))
            for optimizer, dropout, indices in chunks]


# ----------------------------------------------------------------------------------
# memory, chunks and time


@functools.lru_cache(maxsize=8)
def member_bytes(model: str, batch_size: int, keep_prob: float = 0.5) -> tuple[int, int]:
    """(bytes per member, fixed bytes) of a chunk's peak, measured: two training steps
    and one evaluation pass of populations of 1 and 3 (Adam, which keeps the most
    state, with dropout), under tracemalloc."""
    config = SweepConfig(model=model, batch_size=batch_size, keep_prob=keep_prob,
                         train_samples=max(2 * batch_size, 16), test_samples=10)
    cfg = lab_config(config)
    x, y, _, _ = lab.load_data(cfg)
    images = EVAL_IMAGES[model]
    x_eval = np.repeat(x[:1], images, axis=0)
    y_eval = np.repeat(y[:1], images)
    peaks = []
    for k in (1, 3):
        tracemalloc.start()
        try:
            net = lab.network(cfg, True, population=k)
            opt = lab.make_optimizer("Adam", np.full(k, 1e-3, np.float32), population=k)
            for s in range(2):
                idx = np.arange(s * batch_size, (s + 1) * batch_size) % len(x)
                lab.train_step(net, opt, x[idx], y[idx])
            saved, lab.EVAL_CHUNK = lab.EVAL_CHUNK, images
            try:
                lab.evaluate(net, x_eval, y_eval)
            finally:
                lab.EVAL_CHUNK = saved
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    per_member = max(1, (peaks[1] - peaks[0]) // 2)
    return int(per_member), int(max(0, peaks[0] - per_member))


def budget_chunk_size(config: SweepConfig) -> int:
    """The most members a chunk can hold within `memory_mb` (at least 1), with a
    quarter of the budget left for the data and Python itself."""
    per_member, fixed = member_bytes(config.model, int(config.batch_size),
                                     float(config.keep_prob))
    budget = 0.75 * config.memory_mb * 2**20 - fixed
    return int(max(1, budget // per_member))


def chunk_size(config: SweepConfig) -> int:
    """Members per chunk: what fits the memory budget, and no more than the model's
    fastest population size (FASTEST_CHUNK)."""
    return int(min(config.rates, budget_chunk_size(config), FASTEST_CHUNK[config.model]))


@dataclasses.dataclass(frozen=True)
class Chunk:
    optimizer: str
    dropout: bool
    indices: tuple[int, ...]

    @property
    def key(self) -> str:
        return (f"{self.optimizer}-{'dropout' if self.dropout else 'plain'}-"
                f"{self.indices[0]}-{self.indices[-1]}-{len(self.indices)}")


def plan(config: SweepConfig, done: np.ndarray, size: int) -> list[Chunk]:
    """The chunks still to train: the members not `done` ((O, D, R) bool) of each
    (optimizer, dropout) pair, `size` at a time, in rate order."""
    chunks = []
    for o, name in enumerate(lab.OPTIMIZERS):
        for d, drop in enumerate(lab.DROPOUT):
            missing = np.flatnonzero(~done[o, d])
            for start in range(0, len(missing), size):
                chunks.append(Chunk(name, drop, tuple(int(i) for i in
                                                      missing[start:start + size])))
    return chunks


def seconds_per_step(settings_json: str, members: int, steps: int = 3) -> float:
    """Wall time of one training step of a chunk of `members` (the slowest optimizer,
    Adam, with dropout), timed over `steps` steps after one unmeasured step."""
    config = from_identity(json.loads(settings_json))
    cfg = lab_config(config)
    x, y, _, _ = _data(settings_json)
    net = lab.network(cfg, True, population=members)
    opt = lab.make_optimizer("Adam", np.full(members, 1e-3, np.float32), population=members)
    b = int(cfg.batch_size)
    lab.train_step(net, opt, x[:b], y[:b])
    start = time.perf_counter()
    for s in range(steps):
        idx = np.arange(s * b, (s + 1) * b) % len(x)
        lab.train_step(net, opt, x[idx], y[idx])
    return (time.perf_counter() - start) / steps


def duration_text(seconds: float) -> str:
    """'about 7 days', 'about 20 minutes', 'about 40 seconds'."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 1.5 * size:
            count = round(seconds / size)
            return f"about {count} {unit}s"
    return f"about {max(1, round(seconds))} second{'s' if round(seconds) > 1 else ''}"


@dataclasses.dataclass(frozen=True)
class Estimate:
    seconds_per_step: float  # one step of a full chunk, on one worker
    chunk_seconds: float  # one full chunk: training and the test set
    chunks: int
    workers: int  # 0: this process
    seconds: float  # the sweep on `workers` (or this process)

    def seconds_on(self, workers: int) -> float:
        return self.chunks * self.chunk_seconds / max(1, workers)

    def text(self, many: int = 50) -> str:
        where = "here" if self.workers == 0 else (
            f"here on {self.workers} worker{'s' if self.workers > 1 else ''}")
        return (f"{self.chunks} chunks of {self.chunk_seconds:.3g} s: "
                f"{duration_text(self.seconds)} {where}; "
                f"{duration_text(self.seconds_on(many))} on {many} workers of this speed")


def estimate(config: SweepConfig, seconds_step: float, chunks: int, workers: int) -> Estimate:
    """The sweep's time from the time of one step of a full chunk: a chunk is its
    training steps and a forward pass over the test set (about a third of a step's
    work per batch of images); chunks run `workers` at a time, in waves."""
    steps = total_steps(config)
    test_batches = config.test_samples / max(1, config.batch_size)
    chunk_seconds = seconds_step * (steps + test_batches / 3)
    waves = chunks if workers == 0 else math.ceil(chunks / workers)
    return Estimate(seconds_step, chunk_seconds, chunks, workers, waves * chunk_seconds)


# ----------------------------------------------------------------------------------
# the results file


@dataclasses.dataclass
class SweepResults:
    """Every member's numbers on the (optimizer, dropout, rate) grid; NaN and
    done=False where a member has not been trained yet."""

    settings: dict
    rates: np.ndarray  # (R,)
    done: np.ndarray  # (O, D, R) bool
    test_loss: np.ndarray  # (O, D, R) float64, NaN where diverged or not done
    test_accuracy: np.ndarray
    diverged: np.ndarray  # (O, D, R) bool
    curve: np.ndarray  # (O, D, R, P) float32: mean training loss per segment
    curve_steps: np.ndarray  # (P,) last step of each segment
    optimizers: tuple[str, ...] = lab.OPTIMIZERS
    dropout: tuple[bool, ...] = lab.DROPOUT

    @classmethod
    def empty(cls, config: SweepConfig) -> SweepResults:
        o, d, r = len(lab.OPTIMIZERS), len(lab.DROPOUT), int(config.rates)
        steps = curve_steps(config)
        return cls(settings=identity(config), rates=sweep_rates(config),
                   done=np.zeros((o, d, r), bool), test_loss=np.full((o, d, r), np.nan),
                   test_accuracy=np.full((o, d, r), np.nan),
                   diverged=np.zeros((o, d, r), bool),
                   curve=np.full((o, d, r, len(steps)), np.nan, np.float32),
                   curve_steps=steps)

    @property
    def config(self) -> SweepConfig:
        return from_identity(self.settings)

    def add(self, chunk: dict) -> None:
        o = self.optimizers.index(chunk["optimizer"])
        d = self.dropout.index(bool(chunk["dropout"]))
        idx = np.asarray(chunk["indices"])
        self.test_loss[o, d, idx] = chunk["test_loss"]
        self.test_accuracy[o, d, idx] = chunk["test_accuracy"]
        self.diverged[o, d, idx] = chunk["diverged"]
        self.curve[o, d, idx] = chunk["curve"]
        self.done[o, d, idx] = True

    def copy(self) -> SweepResults:
        return dataclasses.replace(self, **{name: getattr(self, name).copy() for name in (
            "done", "test_loss", "test_accuracy", "diverged", "curve")})

    @property
    def complete(self) -> bool:
        return bool(self.done.all())

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a temporary file beside `path`, then renamed over it."""
        path = Path(path)
        temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        arrays = {
            "format": np.array(FORMAT),
            "settings": np.array(json.dumps(self.settings, sort_keys=True)),
            "optimizers": np.array(self.optimizers), "dropout": np.array(self.dropout),
            "rates": self.rates, "done": self.done, "test_loss": self.test_loss,
            "test_accuracy": self.test_accuracy, "diverged": self.diverged,
            "curve": self.curve, "curve_steps": self.curve_steps,
        }
        try:
            with open(temp, "wb") as handle:
                np.savez(handle, **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SweepResults:
        """Read a results file; SettingError (saying the file is left as it is) for
        anything that is not one, damaged or truncated."""
        path = Path(path)

        def refuse(why: str) -> SettingError:
            return SettingError(f"{path} is not a readable sweep results file ({why}); it is "
                                f"left as it is: move it away or choose another file")

        try:
            data = np.load(path, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not an .npz of arrays")
            with data:
                arrays = {name: data[name] for name in data.files}
        except FileNotFoundError:
            raise SettingError(f"{path}: no such file") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise refuse(f"{type(exc).__name__}: {exc}") from None
        if "format" not in arrays or str(arrays["format"]) != FORMAT:
            found = str(arrays["format"])[:60] if "format" in arrays else "none"
            raise refuse(f"format {found!r}, expected {FORMAT!r}")
        needed = ("format", "settings", "optimizers", "dropout", "rates", "done", "test_loss",
                  "test_accuracy", "diverged", "curve", "curve_steps")
        missing = [name for name in needed if name not in arrays]
        if missing:
            raise refuse(f"missing {', '.join(missing)}")
        if str(arrays["format"]) != FORMAT:
            raise refuse(f"format {str(arrays['format'])[:60]!r}, expected {FORMAT!r}")
        try:
            settings = json.loads(str(arrays["settings"]))
            config = SweepConfig()
            known = {info.name for info in settings_of(config)}
            if not isinstance(settings, dict) or set(settings) - known:
                raise ValueError("unknown settings")
            for name, value in settings.items():
                setattr(config, name, value)
            want = cls.empty(config)
        except (ValueError, TypeError, SettingError) as exc:
            raise refuse(f"settings: {exc}") from None
        result = cls(settings=settings, rates=arrays["rates"], done=arrays["done"],
                     test_loss=arrays["test_loss"], test_accuracy=arrays["test_accuracy"],
                     diverged=arrays["diverged"], curve=arrays["curve"],
                     curve_steps=arrays["curve_steps"],
                     optimizers=tuple(str(n) for n in arrays["optimizers"]),
                     dropout=tuple(bool(b) for b in arrays["dropout"]))
        for name in ("rates", "done", "test_loss", "test_accuracy", "diverged", "curve",
                     "curve_steps"):
            got, expected = getattr(result, name), getattr(want, name)
            if got.shape != expected.shape or got.dtype != expected.dtype:
                raise refuse(f"{name} is {got.dtype}{list(got.shape)}, expected "
                             f"{expected.dtype}{list(expected.shape)}")
        if result.optimizers != want.optimizers or result.dropout != want.dropout:
            raise refuse("unexpected optimizers or dropout axis")
        return result

    def write_csv(self, path: str | os.PathLike) -> None:
        """One row per member (atomically): optimizer, dropout, rate, test loss and
        accuracy, diverged, done."""
        path = Path(path)
        lines = ["optimizer,dropout,learning_rate,test_loss,test_accuracy,diverged,done"]
        for o, name in enumerate(self.optimizers):
            for d, drop in enumerate(self.dropout):
                for r, rate in enumerate(self.rates):
                    lines.append(f"{name},{int(drop)},{rate:.9g},{self.test_loss[o, d, r]:.9g},"
                                 f"{self.test_accuracy[o, d, r]:.9g},"
                                 f"{int(self.diverged[o, d, r])},{int(self.done[o, d, r])}")
        temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            temp.write_text("\n".join(lines) + "\n")
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def open_results(config: SweepConfig, path: str | os.PathLike | None) -> SweepResults:
    """The results so far: the file's, when it exists and holds this very sweep
    (SettingError when it holds another one, or is damaged), else empty."""
    if path is None or not Path(path).exists():
        return SweepResults.empty(config)
    results = SweepResults.load(path)
    if results.settings != identity(config):
        mine = identity(config)
        diffs = [f"{k}={results.settings.get(k)!r} there, {mine.get(k)!r} here"
                 for k in sorted(set(mine) | set(results.settings))
                 if results.settings.get(k) != mine.get(k)]
        raise SettingError(f"{path} holds a sweep of other settings ({'; '.join(diffs)}); "
                           f"choose another file, or the same settings to resume it")
    return results


# ----------------------------------------------------------------------------------
# running a sweep


@dataclasses.dataclass(frozen=True)
class SweepSnapshot:
    step: int  # chunks finished so far, this run and before
    state: str  # "estimating", "running", "finished"
    results: SweepResults
    chunks_total: int  # this run's chunks
    chunks_done: int
    chunks_running: int
    chunks_left: int
    members_done: int
    members_total: int
    elapsed: float  # seconds since this run began
    remaining: float | None  # estimated seconds left (None until a chunk finished)
    executor: str  # "this process", "LocalCluster of 2 workers", "tcp://...: 50 workers"
    dashboard: str
    estimate: str
    estimate_seconds: float | None  # the estimate of the whole run, before it started
    chunk_size: int


def local_workers(workers: int) -> int:
    return os.cpu_count() or 1 if workers < 0 else workers


@contextlib.contextmanager
def dask_client(scheduler: str = "", workers: int = -1):
    """A Dask client: of the cluster at `scheduler`, or of a LocalCluster of `workers`
    processes (-1: one per core) on 127.0.0.1, each with one BLAS thread."""
    try:
        from distributed import Client
    except ImportError:
        raise SettingError("sweeps on workers need Dask: pip install 'vizlab[sweep]' (or "
                           "dask[distributed]); or run in this process (workers 0)") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise SettingError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    with local_cluster(local_workers(workers)) as cluster, Client(cluster) as client:
        yield client


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """This process's environment with `values` set, as it was again afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def local_cluster(workers: int):
    """A LocalCluster of `workers` processes on 127.0.0.1, one thread each, whose worker
    processes start with WORKER_ENV (one BLAS thread, malloc keeping its buffers), also
    when this process's environment says otherwise. Those variables are read when a
    process starts, so they go in Dask's pre-spawn environment, which takes this
    process's values first: they are set here while the nannies are made."""
    import dask
    from distributed import LocalCluster

    pre_spawn = dict(dask.config.get("distributed.nanny.pre-spawn-environ") or {},
                     **WORKER_ENV)
    with environment(WORKER_ENV), \
            dask.config.set({"distributed.nanny.pre-spawn-environ": pre_spawn}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address=":0")


def run_sweep(config: SweepConfig, path: str | os.PathLike | None = None, *, workers: int = 0,
              scheduler: str = "", client=None, retries: int = 3,
              heartbeat: float = 0.5) -> Iterator[SweepSnapshot]:
    """Run the chunks of `config` missing from the results file at `path` (None: keep
    the results in memory only); a snapshot when the run is planned, after every
    finished chunk, and every `heartbeat` seconds meanwhile. workers=0 and no scheduler
    or client: in this process; otherwise on Dask (`client` if given, else one made
    for this run and closed at its end). Closing the generator stops the sweep; the
    file keeps every chunk that finished."""
    config.check()
    results = open_results(config, path)
    size = chunk_size(config)
    chunks = plan(config, results.done, size)
    settings_json = identity_json(config)
    on_dask = bool(scheduler) or client is not None or workers != 0
    started = time.monotonic()
    members_total = results.done.size
    state = {"done": 0, "running": 0, "executor": "this process", "dashboard": "",
             "estimate": "", "copy": None, "copy_of": None}

    def snapshot(phase: str) -> SweepSnapshot:
        elapsed = time.monotonic() - started
        left = len(chunks) - state["done"]
        remaining = None
        if state["done"]:
            # Wall time per finished chunk so far (parallel chunks included) times the rest.
            remaining = (time.monotonic() - state["first_start"]) / state["done"] * left
        elif state["estimate_seconds"] is not None:
            remaining = state["estimate_seconds"]
        if state["copy_of"] != state["done"]:
            # One copy per change (the snapshot goes to another thread): heartbeats
            # between finished chunks share it.
            state["copy"], state["copy_of"] = results.copy(), state["done"]
        return SweepSnapshot(
            step=int(state["copy"].done.sum()), state=phase, results=state["copy"],
            chunks_total=len(chunks), chunks_done=state["done"],
            chunks_running=state["running"], chunks_left=left - state["running"],
            members_done=int(state["copy"].done.sum()), members_total=members_total,
            elapsed=elapsed, remaining=remaining, executor=state["executor"],
            dashboard=state["dashboard"], estimate=state["estimate"],
            estimate_seconds=state["estimate_seconds"], chunk_size=size)

    state["estimate_seconds"] = None
    state["first_start"] = started

    def finished(chunk_results: list[dict]) -> None:
        """Chunks that finished together: into the results, then one write of the file."""
        for chunk_result in chunk_results:
            results.add(chunk_result)
        if path is not None:
            results.save(path)
        state["done"] += len(chunk_results)

    if not chunks:
        yield snapshot("finished")
        return
    full = min(size, max(len(c.indices) for c in chunks))
    if not on_dask:
        seconds = seconds_per_step(settings_json, full)
        guess = estimate(config, seconds, len(chunks), 0)
        state["estimate"], state["estimate_seconds"] = guess.text(), guess.seconds
        state["first_start"] = time.monotonic()
        yield snapshot("estimating")
        last = time.monotonic()
        for chunk in chunks:
            state["running"] = 1
            steps = chunk_steps(settings_json, chunk.optimizer, chunk.dropout,
                                np.array(chunk.indices))
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    state["running"] = 0
                    finished([done.value])
                    break
                if time.monotonic() - last >= heartbeat:
                    last = time.monotonic()
                    yield snapshot("running")
            last = time.monotonic()
            yield snapshot("running")
        yield snapshot("finished")
        return

    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(dask_client(scheduler, workers))
        yield from _run_on_dask(client, config, chunks, settings_json, full, retries,
                                heartbeat, state, snapshot, finished)


def chunks_per_task(chunk_seconds: float, chunks: int, workers: int) -> int:
    """Chunks one Dask task trains: about TASK_SECONDS of work, but never so many that
    a sweep has fewer than 8 tasks per worker (its last ones would leave workers idle)."""
    by_time = int(TASK_SECONDS // max(chunk_seconds, 1e-6))
    by_balance = chunks // (8 * max(1, workers))
    return max(1, min(by_time, by_balance))


def _run_on_dask(client, config, chunks, settings_json, full, retries, heartbeat, state,
                 snapshot, finished) -> Iterator[SweepSnapshot]:
    from distributed import as_completed, wait

    n_workers = len(client.scheduler_info().get("workers", {})) or 1
    state["slots"] = n_workers
    state["executor"] = (f"Dask scheduler {client.scheduler.address}, {n_workers} worker"
                         f"{'s' if n_workers > 1 else ''}")
    state["dashboard"] = client.dashboard_link or ""
    # The estimate's steps are timed on a worker: the speed the sweep will have.
    probe = client.submit(seconds_per_step, settings_json, full, pure=False)
    seconds = probe.result()
    guess = estimate(config, seconds, len(chunks), n_workers)
    state["estimate"], state["estimate_seconds"] = guess.text(), guess.seconds
    state["first_start"] = time.monotonic()
    yield snapshot("estimating")
    token = hashlib.sha1(settings_json.encode()).hexdigest()[:12]
    per_task = chunks_per_task(guess.chunk_seconds, len(chunks), n_workers)
    groups = [chunks[i:i + per_task] for i in range(0, len(chunks), per_task)]
    futures = [client.submit(train_chunks, settings_json,
                             [(c.optimizer, c.dropout, c.indices) for c in group],
                             key=f"vizlab-sweep-{token}-{group[0].key}-{len(group)}",
                             retries=retries, priority=-i)
               for i, group in enumerate(groups)]
    try:
        pending = set(futures)
        completed = as_completed(futures)
        while pending:
            batch = completed.next_batch(block=False) if completed.has_ready() else []
            if batch:
                finished([chunk for future in batch for chunk in future.result()])
            for future in batch:
                pending.discard(future)
                future.release()
            state["running"] = min(n_workers * per_task, len(chunks) - state["done"])
            if batch:
                yield snapshot("running")
                continue
            with contextlib.suppress(TimeoutError):
                wait(list(pending), timeout=heartbeat, return_when="FIRST_COMPLETED")
            yield snapshot("running")
        yield snapshot("finished")
    finally:
        client.cancel([f for f in futures if not f.done()])
