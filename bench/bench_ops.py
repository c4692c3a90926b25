"""Per-op overhead of the engine: forward + backward of small op chains, in µs per op.

Run: python bench/bench_ops.py. With PyTorch installed in the same environment it
also times torch's autograd on the same chains and prints our time / torch's.
Small tensors make the cost per op almost all bookkeeping, which is what this measures.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import engine as en

CHAIN = 50  # ops per chain (each loop iteration below is 2 ops)


def _time(fn, repeats: int = 30) -> float:
    """Median seconds of fn() over repeats, after a warm-up."""
    for _ in range(3):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def engine_elementwise():
    x = en.Variable(np.linspace(-1, 1, 10, dtype=np.float32))
    y = x
    for _ in range(CHAIN // 2):
        y = en.sin(y) * 1.01
    en.gradients(en.sum(y), [x])


def engine_matmul():
    rng = np.random.default_rng(0)
    w = en.Variable(rng.standard_normal((10, 10)).astype(np.float32) * 0.3)
    h = en.Tensor(rng.standard_normal((10, 10)).astype(np.float32))
    for _ in range(CHAIN // 2):
        h = en.tanh(h @ w)
    en.gradients(en.sum(h), [w])


def torch_chains():
    import torch

    torch.set_num_threads(1)

    def elementwise():
        x = torch.linspace(-1, 1, 10, requires_grad=True)
        y = x
        for _ in range(CHAIN // 2):
            y = torch.sin(y) * 1.01
        y.sum().backward()

    def matmul():
        g = torch.Generator().manual_seed(0)
        w = (torch.randn(10, 10, generator=g) * 0.3).requires_grad_()
        h = torch.randn(10, 10, generator=g)
        for _ in range(CHAIN // 2):
            h = torch.tanh(h @ w)
        h.sum().backward()

    return elementwise, matmul


def main() -> None:
    ours = {"elementwise chain": engine_elementwise, "10x10 matmul chain": engine_matmul}
    try:
        theirs = dict(zip(ours, torch_chains()))
    except ImportError:
        theirs = {}
        print("PyTorch is not installed: printing our numbers only.")
    # numpy uses a thread pool for larger arrays; these are tiny, so one thread is fair.
    print(f"{'workload':<22}{'ours µs/op':>12}{'torch µs/op':>13}{'ours/torch':>12}")
    for name, fn in ours.items():
        per_op = _time(fn) / CHAIN * 1e6
        line = f"{name:<22}{per_op:>12.2f}"
        if name in theirs:
            torch_per_op = _time(theirs[name]) / CHAIN * 1e6
            line += f"{torch_per_op:>13.2f}{per_op / torch_per_op:>11.2f}x"
        print(line)


if __name__ == "__main__":
    main()
