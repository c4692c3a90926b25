"""Time per training step, ours vs PyTorch, on the labs' workloads (a benchmark, not a test).

Run: python bench/bench_training.py [--quick]

(a) the L1/L2 net 1-10-10-10-1 (tanh), batch 1, SGD lr 0.01, cost sum|pred - y|
    plus an L2 term on the kernels, with en.layers                  target <= 0.5x
(a2) the same net (ReLU) written with primitives only: Variables, @, +, en.nn.relu,
    en.abs, en.sum, sum(W*W) per kernel, SGD.minimize       target: ours <= 0.5x torch
(b) MLP 784-256-256-10 ReLU, batch 64, Adam, softmax cross-entropy   target <= 1.0x
(c) the seed conv net (docs/labs.md, "Optimizers"), batch 8, Adam, 47 classes  <= 1.5x
(d) a population of 1000 learning rates on the L1/L2 net, 100 steps, vs 1000
    separate runs of 100 steps                            target: >= 20x faster
(e) peak memory of one conv-net step (tracemalloc; numpy's allocations are traced)

Each step is forward + backward + update (+ zero_grad for torch). Both sides use the
same number of threads (torch.set_num_threads = the BLAS threads numpy uses), are
warmed up, take turns block by block, and the median over blocks is reported.

On a machine shared with other work, multi-threaded BLAS (ours and torch's alike)
slows down erratically when its threads wait for cores; for a steady comparison run
with one thread each: OPENBLAS_NUM_THREADS=1 python bench/bench_training.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc

import numpy as np

import engine as en
from engine import layers, losses, optimizers, regularizers

try:
    import torch
except ImportError:  # the project never depends on torch; the ratios need it
    torch = None

LAM = 0.3


def threads() -> int:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return int(os.environ[var])
    return os.cpu_count() or 1


def per_step(steps: dict, block: int, blocks: int, warmup: int = 3) -> dict:
    """Median seconds per step of each named step function, over `blocks` blocks of
    `block` steps. The functions take turns block by block, so a load that comes and
    goes on a shared machine hits all of them alike."""
    for step in steps.values():
        for _ in range(warmup * block):
            step()
    samples: dict = {name: [] for name in steps}
    for _ in range(blocks):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(block):
                step()
            samples[name].append((time.perf_counter() - start) / block)
    return {name: statistics.median(s) for name, s in samples.items()}


def fmt(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:9.2f} ms"


def report(label: str, ours: float, theirs: float | None, target: str) -> None:
    if theirs is None:
        print(f"{label:<34} ours {fmt(ours)}   (torch not installed)")
        return
    print(f"{label:<34} ours {fmt(ours)}  torch {fmt(theirs)}  ratio {ours / theirs:5.2f}x"
          f"  (target {target})")


# ----------------------------------------------------------------------------------
# workloads, ours


def l1l2_model(seed=0, population=None):
    reg = regularizers.l2(LAM)
    return layers.Sequential(
        [layers.Dense(10, activation="tanh", regularizer=reg) for _ in range(3)]
        + [layers.Dense(1, regularizer=reg)],
        input_shape=(1,), seed=seed, population=population,
    )


def line_data(n=64):
    rng = np.random.default_rng(0)
    x = np.linspace(-1, 1, n, dtype=np.float32)[:, None]
    y = (0.7 * x + 0.1 + rng.normal(0, 0.05, x.shape)).astype(np.float32)
    y[::9] += 2.0  # outliers
    return x, y


def ours_l1l2_step(model=None, opt=None, reduction="sum"):
    model = model or l1l2_model()
    opt = opt or optimizers.SGD(0.01)
    x, y = line_data()
    variables = model.trainable_variables
    i = [0]

    def step():
        k = i[0] = (i[0] + 1) % len(x)
        pred = model(x[k : k + 1], training=True)
        loss = losses.mae(pred, y[k : k + 1], reduction=reduction) + model.regularization_loss()
        opt.minimize(loss, variables)

    return step


def primitive_l1l2_variables(seed=0):
    """Kernels and biases of 1-10-10-10-1, He-uniform kernels and zero biases."""
    rng = np.random.default_rng(seed)
    sizes = [1, 10, 10, 10, 1]
    kernels, biases = [], []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        bound = np.sqrt(6.0 / fan_in)
        kernels.append(en.Variable(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32)))
        biases.append(en.Variable(np.zeros(fan_out, dtype=np.float32)))
    return kernels, biases


def ours_primitive_l1l2_step():
    """The L1/L2 net as a student writes it from the engine's primitives, no layers."""
    kernels, biases = primitive_l1l2_variables()
    variables = kernels + biases
    opt = optimizers.SGD(0.01)
    x, y = line_data()
    i = [0]

    def step():
        k = i[0] = (i[0] + 1) % len(x)
        h = x[k : k + 1]
        for w, b in zip(kernels[:-1], biases[:-1]):
            h = en.nn.relu(h @ w + b)
        pred = h @ kernels[-1] + biases[-1]
        loss = en.sum(en.abs(pred - y[k : k + 1]))
        for w in kernels:
            loss = loss + LAM * en.sum(w * w)
        opt.minimize(loss, variables)

    return step


def ours_mlp_step():
    rng = np.random.default_rng(0)
    x = rng.random((64, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 64)
    model = layers.Sequential(
        [layers.Dense(256, activation="relu"), layers.Dense(256, activation="relu"),
         layers.Dense(10)], input_shape=(784,), seed=0,
    )
    opt = optimizers.Adam(1e-3)
    variables = model.trainable_variables

    def step():
        loss = losses.softmax_cross_entropy(model(x, training=True), labels)
        opt.minimize(loss, variables)

    return step


def seed_conv_model():
    return layers.Sequential(
        [
            layers.Conv2D(32, 3, activation="relu", kernel_initializer="he_uniform"),
            layers.Conv2D(64, 3, activation="relu", kernel_initializer="he_uniform"),
            layers.MaxPool2D(2),
            layers.Flatten(),
            layers.Dense(128, activation="relu", kernel_initializer="he_uniform"),
            layers.Dense(47, kernel_initializer="he_uniform"),
        ],
        input_shape=(28, 28, 1), seed=0,
    )


def conv_data():
    rng = np.random.default_rng(0)
    return rng.random((8, 28, 28, 1), dtype=np.float32), rng.integers(0, 47, 8)


def ours_conv_step():
    x, labels = conv_data()
    model = seed_conv_model()
    opt = optimizers.Adam(1e-3)
    variables = model.trainable_variables

    def step():
        loss = losses.softmax_cross_entropy(model(x, training=True), labels)
        opt.minimize(loss, variables)

    return step


# ----------------------------------------------------------------------------------
# workloads, torch


def torch_l1l2_step():
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(1, 10), nn.Tanh(), nn.Linear(10, 10), nn.Tanh(),
                          nn.Linear(10, 10), nn.Tanh(), nn.Linear(10, 1))
    kernels = [m.weight for m in model if isinstance(m, nn.Linear)]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = (torch.from_numpy(a) for a in line_data())
    i = [0]

    def step():
        k = i[0] = (i[0] + 1) % len(x)
        opt.zero_grad()
        loss = (model(x[k : k + 1]) - y[k : k + 1]).abs().sum()
        loss = loss + LAM * sum(w.pow(2).sum() for w in kernels)
        loss.backward()
        opt.step()

    return step


def torch_primitive_l1l2_step():
    kernels, biases = primitive_l1l2_variables()
    kernels = [torch.tensor(w.value, requires_grad=True) for w in kernels]
    biases = [torch.tensor(b.value, requires_grad=True) for b in biases]
    opt = torch.optim.SGD(kernels + biases, lr=0.01)
    x, y = (torch.from_numpy(a) for a in line_data())
    i = [0]

    def step():
        k = i[0] = (i[0] + 1) % len(x)
        opt.zero_grad()
        h = x[k : k + 1]
        for w, b in zip(kernels[:-1], biases[:-1]):
            h = torch.relu(h @ w + b)
        pred = h @ kernels[-1] + biases[-1]
        loss = (pred - y[k : k + 1]).abs().sum()
        for w in kernels:
            loss = loss + LAM * (w * w).sum()
        loss.backward()
        opt.step()

    return step


def torch_mlp_step():
    torch.manual_seed(0)
    nn = torch.nn
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((64, 784), dtype=np.float32))
    labels = torch.from_numpy(rng.integers(0, 10, 64))
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), labels).backward()
        opt.step()

    return step


def torch_conv_step():
    torch.manual_seed(0)
    nn = torch.nn
    x, labels = conv_data()
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NCHW, outside timing
    labels = torch.from_numpy(labels)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(),
                          nn.Linear(128, 47))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), labels).backward()
        opt.step()

    return step


# ----------------------------------------------------------------------------------
# (d) populations, (e) memory


def population_vs_sequential(members: int, steps: int, sequential_runs: int) -> None:
    lrs = np.logspace(-6, -1, members).astype(np.float32)
    pop = l1l2_model(population=members)
    opt = optimizers.SGD(lrs)
    step = ours_l1l2_step(pop, opt, reduction="member")
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    population_time = time.perf_counter() - start

    start = time.perf_counter()
    for k in range(sequential_runs):
        single_step = ours_l1l2_step(l1l2_model(), optimizers.SGD(float(lrs[k])))
        for _ in range(steps):
            single_step()
    sequential_time = (time.perf_counter() - start) * members / sequential_runs
    note = "" if sequential_runs == members else f" (measured {sequential_runs}, scaled)"
    print(f"(d) population of {members} lrs x {steps} steps: {population_time:.3f} s; "
          f"{members} separate runs: {sequential_time:.2f} s{note}; "
          f"speed-up {sequential_time / population_time:.0f}x (target >= 20x)")
    if torch is not None:
        runs = max(1, sequential_runs // 10)
        start = time.perf_counter()
        for _ in range(runs):
            torch_step = torch_l1l2_step()
            for _ in range(steps):
                torch_step()
        torch_time = (time.perf_counter() - start) * members / runs
        print(f"    {members} separate torch runs: {torch_time:.2f} s (measured {runs}, "
              f"scaled); population speed-up over torch {torch_time / population_time:.0f}x")


def conv_peak_memory() -> None:
    step = ours_conv_step()
    step()
    tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    params = sum(v.value.nbytes for v in seed_conv_model().trainable_variables)
    print(f"(e) conv-net step peak memory above steady state: {(peak - before) / 2**20:.1f} MiB "
          f"(parameters {params / 2**20:.1f} MiB; Adam keeps 2 moments + 1 scratch per parameter)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, sampled (d)")
    args = parser.parse_args()
    n = threads()
    if torch is not None:
        torch.set_num_threads(n)
    print(f"threads: {n}; numpy {np.__version__}"
          + (f"; torch {torch.__version__}" if torch is not None else ""))
    blocks = 5 if args.quick else 15

    cases = [
        ("(a) L1/L2 net, batch 1, SGD", ours_l1l2_step, torch_l1l2_step, 200, "<= 0.5x"),
        ("(a2) L1/L2 net, primitives only", ours_primitive_l1l2_step,
         torch_primitive_l1l2_step, 200, "<= 0.5x"),
        ("(b) MLP 784-256-256-10, Adam", ours_mlp_step, torch_mlp_step, 10, "<= 1.0x"),
        ("(c) seed conv net, batch 8, Adam", ours_conv_step, torch_conv_step, 3, "<= 1.5x"),
    ]
    for label, ours, theirs, block, target in cases:
        steps = {"ours": ours()}
        if torch is not None:
            steps["torch"] = theirs()
        times = per_step(steps, block, blocks)
        report(label, times["ours"], times.get("torch"), target)

    population_vs_sequential(1000, 100, 100 if args.quick else 1000)
    conv_peak_memory()


if __name__ == "__main__":
    main()
