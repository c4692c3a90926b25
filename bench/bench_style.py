"""Seconds per Gatys style step, ours vs PyTorch vs the machine's sgemm (a benchmark, not a test).

Run: OPENBLAS_NUM_THREADS=1 python bench/bench_style.py [--sizes 128 256 512] [--repeats 5]

One step is what the Style lab does per Adam step: the losses of the image (content MSE
at conv4_2, Gram-matrix style loss at conv1_1..conv5_1, total variation) through VGG16's
conv stack up to conv5_1 at full widths (64,64,P,128,128,P,256x3,P,512x3,P,512), in
float32, and the gradient of the total with respect to the image only (the filters are
constants). Ours uses the Style experiment's own network and losses
(engine.experiments.style); PyTorch runs the same layers, NCHW, with the same weights.

The sgemm limit is the time numpy's float32 matmul takes for the products a
convolution as im2col needs, with the same shapes: per conv layer (H*W, 9*Cin) x
(9*Cin, Cout) for the forward pass and (H*W, 9*Cout) x (9*Cout, Cin) for the gradient
of its input (wanted at every layer, down to the image). A convolution made of BLAS
products cannot beat it by much; the losses, ReLUs and pools come on top.

Threads: both sides use one (torch.set_num_threads(1); numpy's OpenBLAS reads
OPENBLAS_NUM_THREADS at start-up, so set it on the command line). On a shared machine
each time is the minimum over repeats, and ours, torch's and the GEMMs take turns.
OPENBLAS_CORETYPE, when set, forces OpenBLAS's matrix kernel; the kernel in use is
printed (threadpoolctl, when installed). Peak memory: the most numpy held at once
during one of our steps above what it held before (tracemalloc), and the process's
peak resident size (torch's and the sgemm operands included).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np

import engine as en
from engine.experiments import style

CONTENT_LAYER = "conv4_2"
STYLE_LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
STYLE_WEIGHT, TV_WEIGHT = 1e3, 100.0


def images(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Content, style and start image (size, size, 3) float32 in 0..1, seeded."""
    rng = np.random.default_rng(0)
    content, style_image, start = (rng.uniform(0, 1, (size, size, 3)).astype(np.float32)
                                   for _ in range(3))
    return content, style_image, start


def network() -> style.VGGFeatures:
    """VGG16 to conv5_1, full widths, random He-normal filters, float32."""
    net = style.random_vgg(5, 1.0, seed=0, dtype=np.float32)
    last = list(net.weights).index("conv5_1")
    net.weights = dict(list(net.weights.items())[: last + 1])
    return net


def ours_step(net: style.VGGFeatures, size: int):
    content, style_image, start = images(size)
    targets = style.make_targets(net, content, style_image, CONTENT_LAYER, STYLE_LAYERS)
    image = en.Variable(start[None].copy(), dtype=np.float32)

    def step() -> np.ndarray:
        losses = style.style_losses(net, image, targets, STYLE_WEIGHT, TV_WEIGHT)
        (grad,) = en.gradients(losses.total, [image])
        return grad

    return step


def torch_step(net: style.VGGFeatures, size: int):
    import torch
    import torch.nn.functional as F

    weights = [(torch.from_numpy(k).permute(3, 2, 0, 1).contiguous(), torch.from_numpy(b))
               for k, b in net.weights.values()]  # HWIO -> OIHW
    names = list(net.weights)
    means = torch.tensor(style.VGG_MEANS_BGR, dtype=torch.float32).view(1, 3, 1, 1)

    def features(x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = x.flip(1) * 255.0 - means  # RGB 0..1 -> BGR 0..255 minus the means
        out = {}
        for name, (kernel, bias) in zip(names, weights):
            if name.endswith("_1") and name != "conv1_1":
                h = F.max_pool2d(h, 2, 2)
            h = F.relu(F.conv2d(h, kernel, bias, padding=1))
            out[name] = h
        return out

    def gram(f: torch.Tensor) -> torch.Tensor:
        _, c, h, w = f.shape
        flat = f.reshape(c, h * w)
        return flat @ flat.T / float(c * h * w)

    content, style_image, start = images(size)
    nchw = [torch.from_numpy(a).permute(2, 0, 1)[None].contiguous()
            for a in (content, style_image, start)]
    with torch.no_grad():
        p = features(nchw[0])[CONTENT_LAYER]
        fs = features(nchw[1])
        grams = {name: gram(fs[name]) for name in STYLE_LAYERS}
    image = nchw[2].clone().requires_grad_()

    def step() -> np.ndarray:
        feats = features(image)
        content_loss = ((feats[CONTENT_LAYER] - p) ** 2).sum() / (p * p).sum()
        per_layer = [((gram(feats[n]) - grams[n]) ** 2).sum() / (grams[n] ** 2).sum()
                     for n in STYLE_LAYERS]
        style_loss = torch.stack(per_layer).sum() / len(per_layer)
        dv = image[:, :, 1:, :] - image[:, :, :-1, :]
        dh = image[:, :, :, 1:] - image[:, :, :, :-1]
        tv = (dv ** 2).mean() + (dh ** 2).mean()
        total = content_loss + style_loss * STYLE_WEIGHT + tv * TV_WEIGHT
        (grad,) = torch.autograd.grad(total, [image])
        return grad.permute(0, 2, 3, 1).numpy()

    return step


def conv_shapes(net: style.VGGFeatures, size: int) -> list[tuple[int, int, int]]:
    """(pixels, Cin, Cout) of every conv in the step."""
    shapes, side = [], size
    for name, (kernel, _) in net.weights.items():
        if name.endswith("_1") and name != "conv1_1":
            side //= 2
        shapes.append((side * side, kernel.shape[2], kernel.shape[3]))
    return shapes


def step_flops(shapes) -> float:
    """Multiply-adds x 2 of the forward convs and of the image's gradient through them."""
    return sum(2 * 2 * pixels * 9 * cin * cout for pixels, cin, cout in shapes)


def sgemm_step(shapes):
    """The im2col products of the step, as plain numpy float32 matmuls."""
    rng = np.random.default_rng(1)
    products = [(pixels, k, n) for pixels, cin, cout in shapes
                for k, n in ((9 * cin, cout), (9 * cout, cin))]
    # One buffer for every left-hand matrix and one for every product (their values do
    # not change the time): at 512 px they would otherwise take gigabytes.
    left = rng.standard_normal(max(p * k for p, k, _ in products), dtype=np.float32)
    right = rng.standard_normal(max(k * n for _, k, n in products), dtype=np.float32)
    out = np.empty(max(p * n for p, _, n in products), np.float32)
    pairs = [(left[: p * k].reshape(p, k), right[: k * n].reshape(k, n),
              out[: p * n].reshape(p, n)) for p, k, n in products]

    def step() -> None:
        for a, b, out in pairs:
            np.matmul(a, b, out=out)

    return step


def best_of(steps: dict, repeats: int) -> dict:
    """Minimum seconds of each step over `repeats` turns, the steps taking turns."""
    for step in steps.values():
        step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def peak_memory(step) -> float:
    """MiB numpy allocates at most during one step above what it holds before."""
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - before) / 2**20


def blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return "; ".join(f"{i.get('internal_api')} {i.get('architecture')} "
                     f"{i.get('num_threads')} thread(s)" for i in threadpool_info())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-torch", action="store_true", help="time ours and sgemm only")
    args = parser.parse_args()
    try:
        if args.no_torch:
            raise ImportError
        import torch

        torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", "1")))
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    except ImportError:
        torch = None
    settings = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    print(f"numpy {np.__version__}; OpenBLAS settings: {settings or 'defaults'}; "
          f"BLAS: {blas_kernel()}")
    net = network()
    print("VGG16 to conv5_1, full widths, float32, batch 1; gradient to the image only")
    print(f"{'size':>5} {'ours s':>8} {'torch s':>8} {'ours/torch':>10} {'sgemm s':>8} "
          f"{'ours/sgemm':>10} {'GFLOP':>7} {'peak MiB':>9}")
    for size in args.sizes:
        shapes = conv_shapes(net, size)
        steps = {"ours": ours_step(net, size), "sgemm": sgemm_step(shapes)}
        if torch is not None:
            steps["torch"] = torch_step(net, size)
        # The gradients agree, or the comparison means nothing.
        if torch is not None:
            ours, theirs = steps["ours"](), steps["torch"]()
            error = float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))
            if error > 1e-2:
                print(f"  gradients differ from torch's by {error:.1e} (relative)")
        repeats = max(2, args.repeats if size <= 256 else args.repeats // 2)
        best = best_of(steps, repeats)
        del steps["sgemm"]
        peak = peak_memory(steps["ours"])
        t_ours, t_sgemm = best["ours"], best["sgemm"]
        t_torch = best.get("torch")
        torch_text = (f"{t_torch:8.3f} {t_ours / t_torch:9.2f}x" if t_torch
                      else f"{'-':>8} {'-':>10}")
        print(f"{size:>5} {t_ours:8.3f} {torch_text} {t_sgemm:8.3f} {t_ours / t_sgemm:9.2f}x "
              f"{step_flops(shapes) / 1e9:7.1f} {peak:9.0f}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MiB; targets at 256: ours/torch <= 1.5x, "
          f"ours/sgemm <= 2x")


if __name__ == "__main__":
    main()
