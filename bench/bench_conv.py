"""Speed of conv2d + max_pool2d, forward and backward, on the seed conv net's shapes.

Run: python bench/bench_conv.py. The net is the seed's MNIST convnet trunk: a batch of
8 28x28x1 images -> conv 3x3x1x32 VALID -> relu -> conv 3x3x32x64 VALID -> relu ->
max-pool 2x2, then the gradients of the sum of the result with respect to both
kernels (the input images are data, as in training). With PyTorch installed in the
same environment the same step is timed in torch (NCHW, so the channels-last data
is permuted once, outside the timing) and the ratio ours / torch is printed.

Threads: numpy's OpenBLAS reads OPENBLAS_NUM_THREADS at start-up; torch is given the
same number, so `OPENBLAS_NUM_THREADS=1 python bench/bench_conv.py` compares one core
with one core. Times are the best of many runs, the one least disturbed by other work.

OpenBLAS picks its matrix kernel for the CPU unless OPENBLAS_CORETYPE forces one; the
OPENBLAS_ settings are printed, because a forced older kernel (Haswell: AVX2) runs at
half the speed of the AVX-512 one on a CPU that has AVX-512.
"""

from __future__ import annotations

import os
import time

import numpy as np

import engine as en
import engine.nn as nn

BATCH = 8


def _time(fn, repeats: int = 50) -> float:
    """Best seconds of fn() over repeats, after a warm-up."""
    for _ in range(5):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def make_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 28, 28, 1)).astype(np.float32)
    w1 = (rng.standard_normal((3, 3, 1, 32)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((3, 3, 32, 64)) * 0.06).astype(np.float32)
    return x, w1, w2


def engine_steps(x, w1, w2):
    x = en.Tensor(x)
    w1, w2 = en.Variable(w1), en.Variable(w2)
    h1 = nn.relu(nn.conv2d(x, w1))
    h1_input = en.Tensor(h1.value)  # a constant input to time the second conv alone

    def whole_step():
        y = nn.max_pool2d(nn.relu(nn.conv2d(nn.relu(nn.conv2d(x, w1)), w2)))
        return en.gradients(en.sum(y), [w1, w2])

    def conv1_forward_backward():
        return en.gradients(en.sum(nn.conv2d(x, w1)), [w1])

    def conv2_forward_backward():
        h = en.Variable(h1_input.value)
        return en.gradients(en.sum(nn.conv2d(h, w2)), [h, w2])

    def conv2_forward():
        with en.no_grad():
            return nn.conv2d(h1_input, w2)

    return {
        "whole step (fwd+bwd)": whole_step,
        "conv1 fwd+bwd": conv1_forward_backward,
        "conv2 fwd+bwd (dx, dw)": conv2_forward_backward,
        "conv2 forward only": conv2_forward,
    }


def torch_steps(x, w1, w2):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    w1 = torch.from_numpy(w1).permute(3, 2, 0, 1).contiguous().requires_grad_()  # HWIO -> OIHW
    w2 = torch.from_numpy(w2).permute(3, 2, 0, 1).contiguous().requires_grad_()
    with torch.no_grad():
        h1 = F.relu(F.conv2d(x, w1))

    def whole_step():
        y = F.max_pool2d(F.relu(F.conv2d(F.relu(F.conv2d(x, w1)), w2)), 2)
        return torch.autograd.grad(y.sum(), [w1, w2])

    def conv1_forward_backward():
        return torch.autograd.grad(F.conv2d(x, w1).sum(), [w1])

    def conv2_forward_backward():
        h = h1.clone().requires_grad_()
        return torch.autograd.grad(F.conv2d(h, w2).sum(), [h, w2])

    def conv2_forward():
        with torch.no_grad():
            return F.conv2d(h1, w2)

    return [whole_step, conv1_forward_backward, conv2_forward_backward, conv2_forward]


def check_against_torch(x, w1, w2) -> float:
    """Largest relative difference between our gradients and torch's, for the whole step."""
    ours = engine_steps(x, w1, w2)["whole step (fwd+bwd)"]()
    theirs = [g.permute(2, 3, 1, 0).numpy() for g in torch_steps(x, w1, w2)[0]()]  # OIHW -> HWIO
    return max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b in zip(ours, theirs))


def main() -> None:
    x, w1, w2 = make_data()
    ours = engine_steps(x, w1, w2)
    try:
        import torch

        if "OPENBLAS_NUM_THREADS" in os.environ:
            torch.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))
        theirs = dict(zip(ours, torch_steps(x, w1, w2)))
        threads = torch.get_num_threads()
        print(f"torch {torch.__version__} with {threads} threads; numpy {np.__version__}")
        print(f"gradients agree with torch to {check_against_torch(x, w1, w2):.1e} (relative)")
    except ImportError:
        theirs = {}
        print("PyTorch is not installed: printing our numbers only.")
    settings = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    print(f"OpenBLAS settings: {settings or 'defaults'}")
    print(f"batch {BATCH}, 28x28x1 -> conv 3x3x1x32 -> conv 3x3x32x64 -> maxpool 2x2, float32")
    print(f"{'workload':<26}{'ours ms':>10}{'torch ms':>10}{'ours/torch':>12}")
    for name, fn in ours.items():
        ms = _time(fn) * 1e3
        if name in theirs:
            torch_ms = _time(theirs[name]) * 1e3
            print(f"{name:<26}{ms:>10.2f}{torch_ms:>10.2f}{ms / torch_ms:>12.2f}")
        else:
            print(f"{name:<26}{ms:>10.2f}")


if __name__ == "__main__":
    main()
