"""Optimizer sweeps: throughput in this process and on a LocalCluster, chunk sizes, and the
estimate of the seed's full conv-net sweep. Not a test; prints its figures.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/bench_sweep.py [--rates 1000] [--train 240] [--test 100]

Throughput is member-steps per second: members x training steps of a whole sweep (all
four optimizers, with and without dropout) over its wall time, chunk start-up, test-set
evaluation and, on Dask, the cluster's start included. Two references of the same run:
2 processes of plain matrix products against 1 (the machine's own ceiling right now),
and the sweep's chunks split over 2 plain processes without Dask (that ceiling for this
work, which shares the memory bus).
"""

from __future__ import annotations

import argparse
import time

from engine.experiments import sweep


def throughput(config: sweep.SweepConfig, workers: int) -> tuple[float, float]:
    start = time.perf_counter()
    for snap in sweep.run_sweep(config, None, workers=workers):  # noqa: B007 (the last one)
        pass
    assert snap.state == "finished" and snap.results.complete
    seconds = time.perf_counter() - start
    return snap.members_total * sweep.total_steps(config) / seconds, seconds


def _matmuls(_: int = 0) -> float:
    import numpy as np

    a = np.random.default_rng(0).random((300, 300), dtype=np.float32)
    start = time.perf_counter()
    for _ in range(3000):
        a = np.tanh(a @ a)
    return time.perf_counter() - start


def machine_speedup() -> float:
    """What two processes of plain matrix products gain over one on this machine right
    now: the ceiling of any 2-worker figure (shared or hyperthreaded cores give ~1x)."""
    import multiprocessing

    one = _matmuls()
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        two = max(pool.map(_matmuls, [0, 1]))
    return 2 * one / two


def _train_chunks(args: tuple[str, list]) -> None:
    settings_json, chunks = args
    for optimizer, dropout, indices in chunks:
        sweep.train_chunk(settings_json, optimizer, dropout, indices)


def same_work_in_two_processes(config: sweep.SweepConfig) -> tuple[float, float]:
    """The sweep's chunks in 2 plain processes (no Dask; their start not counted): what
    2 workers could reach on this machine, the cost of sharing its memory included."""
    import multiprocessing

    import numpy as np

    settings_json = sweep.identity_json(config)
    chunks = [(c.optimizer, c.dropout, np.array(c.indices)) for c in sweep.plan(
        config, sweep.SweepResults.empty(config).done, sweep.chunk_size(config))]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_train_chunks, [(settings_json, chunks[:1])] * 2, chunksize=1)  # started
        start = time.perf_counter()
        pool.map(_train_chunks, [(settings_json, chunks[0::2]), (settings_json, chunks[1::2])],
                 chunksize=1)
        seconds = time.perf_counter() - start
    return config.rates * 8 * sweep.total_steps(config) / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=int, default=1000)
    parser.add_argument("--train", type=int, default=240, help="training images (batch 8)")
    parser.add_argument("--test", type=int, default=100, help="test images")
    args = parser.parse_args()

    print(f"This machine: 2 processes of matrix products run {machine_speedup():.2f}x "
          f"as fast as 1")
    config = sweep.SweepConfig(rates=args.rates, train_samples=args.train,
                               test_samples=args.test)
    print(f"MLP sweep, {args.rates} rates x 8, {sweep.total_steps(config)} steps, chunks of "
          f"{sweep.chunk_size(config)} (memory_mb {config.memory_mb})")
    here, t_here = throughput(config, 0)
    print(f"  in this process:          {here:10.0f} member-steps/s ({t_here:.1f} s)")
    there, t_there = throughput(config, 2)
    print(f"  LocalCluster, 2 workers:  {there:10.0f} member-steps/s ({t_there:.1f} s), "
          f"{there / here:.2f}x")
    plain, t_plain = same_work_in_two_processes(config)
    print(f"  2 plain processes, same chunks, no Dask: {plain:.0f} member-steps/s "
          f"({t_plain:.1f} s), {plain / here:.2f}x")

    print("Largest chunk in the default budget "
          f"({sweep.SweepConfig.memory_mb} MB, batch 8):")
    for model in ("mlp", "conv"):
        per_member, fixed = sweep.member_bytes(model, 8)
        big = sweep.SweepConfig(model=model, rates=100_000)
        print(f"  {model:4s}: {per_member / 2**20:6.1f} MB per member + {fixed / 2**20:.1f} MB "
              f"-> at most {sweep.budget_chunk_size(big)} rates per chunk; "
              f"{sweep.chunk_size(big)} used (the fastest size)")

    seed = sweep.SweepConfig(model="conv", rates=1000, train_samples=112_800,
                             test_samples=18_800)
    size = sweep.chunk_size(seed)
    chunks = len(sweep.plan(seed, sweep.SweepResults.empty(seed).done, size))
    seconds = sweep.seconds_per_step(sweep.identity_json(
        sweep.SweepConfig(model="conv", rates=1000, train_samples=200, test_samples=20)), size)
    guess = sweep.estimate(seed, seconds, chunks, 1)
    print(f"Seed-scale sweep (conv, 1000 rates x 8, EMNIST 112,800 images, batch 8, "
          f"{sweep.total_steps(seed)} steps): {seconds:.2f} s per step of {size} members")
    print(f"  {guess.text()}")


if __name__ == "__main__":
    main()
