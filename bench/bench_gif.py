"""Benchmark: record 200 frames of 1280x800 and encode them as a GIF (budget: 15 s, 500 MB).

Run: python bench/bench_gif.py [--frames N] [--apng] [--baseline]

The frames look like a lab: white page, axes, three anti-aliased curves that grow, a smooth
diverging heatmap that changes every frame, and text. They are drawn with Pillow (no Qt), one
at a time, and their drawing time is not counted. Measured:

* record: ``Recorder.add_frame`` for every frame (compression into the bounded store);
* gif: ``Recorder.write_gif`` (palette, mapping, LZW, file);
* memory: the growth of the process's peak resident size (ru_maxrss) over the run, and the
  tracemalloc peak (Python and numpy allocations only: Pillow's C buffers are not traced);
* colour: per-pixel error of the GIF against the source frames (max over RGB channels).

``--baseline`` also runs Pillow's own ``save(save_all=True)`` on the same frames, in a child
process so that its memory is measured on its own, and prints the ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFont

W, H = 1280, 800
BUDGET_S = 15.0
BUDGET_MB = 500.0

_ANCHORS = np.array(
    [[33, 102, 172], [146, 197, 222], [247, 247, 247], [244, 165, 130], [178, 24, 43]], float
)


def _diverging(v: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] -> RGB of a blue-white-red map with 256 steps (as a LUT would)."""
    t = np.round((np.clip(v, -1, 1) + 1) / 2 * 255) / 255 * (len(_ANCHORS) - 1)
    i = np.minimum(t.astype(int), len(_ANCHORS) - 2)
    f = (t - i)[..., None]
    return (_ANCHORS[i] * (1 - f) + _ANCHORS[i + 1] * f).round().astype(np.uint8)


def plot_frames(n: int) -> Iterator[np.ndarray]:
    """Lab-like frames, generated one at a time."""
    try:
        font = ImageFont.load_default(size=15)
        title = ImageFont.load_default(size=20)
    except TypeError:  # Pillow without FreeType sizes
        font = title = ImageFont.load_default()
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((40, 60))
    yy, xx = np.mgrid[0:40, 0:60]
    steps = np.arange(1, 2001)
    curves = [np.exp(-steps / s) + 0.01 * rng.standard_normal(steps.size) for s in (300, 500, 800)]
    colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44)]
    for k in range(n):
        im = Image.new("RGB", (W, H), "white")
        d = ImageDraw.Draw(im)
        d.text((W // 2 - 120, 12), f"Training - step {10 * (k + 1)}", fill="black", font=title)
        # Loss panel: curves drawn at 2x and reduced, for anti-aliased edges like Qt's.
        panel = Image.new("RGB", (2 * 560, 2 * 640), "white")
        pd = ImageDraw.Draw(panel)
        upto = 10 + k * 10
        for c, col in zip(curves, colours):
            xs = 2 * 560 * np.arange(upto) / 2000
            ys = 2 * 600 - 2 * 560 * np.clip(c[:upto], 0, 1.05)
            pd.line(list(zip(xs.tolist(), ys.tolist())), fill=col, width=4)
        im.paste(panel.reduce(2), (70, 70))
        d.line([(70, 70), (70, 710), (630, 710)], fill="black", width=1)
        for j in range(6):
            y = 710 - j * 112
            d.line([(64, y), (70, y)], fill="black")
            d.text((20, y - 8), f"{j * 0.2:.1f}", fill="black", font=font)
        for j, (col, name) in enumerate(zip(colours, ("train", "test", "val"))):
            d.line([(480, 90 + 22 * j), (510, 90 + 22 * j)], fill=col, width=2)
            d.text((516, 82 + 22 * j), name, fill="black", font=font)
        # Heatmap panel: a smooth field that drifts, cells drawn with nearest scaling.
        t = k / max(n - 1, 1)
        v = np.sin(xx / 9 + 4 * t) * np.cos(yy / 7 - 2 * t) + 0.25 * np.tanh(noise * t)
        cells = Image.fromarray(_diverging(v)).resize((540, 600), Image.Resampling.NEAREST)
        im.paste(cells, (700, 80))
        d.rectangle([699, 79, 1240, 680], outline="black")
        d.text((900, 700), f"weights W1   |w| = {np.abs(v).mean():.3f}", fill="black", font=font)
        yield np.asarray(im)


def _rss_mb() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def run_vizlab(n: int, folder: str, apng: bool) -> dict[str, float]:
    from vizlab.export import Recorder

    next(plot_frames(1))  # warm up fonts and numpy before the baseline is taken
    rss0 = _rss_mb()
    tracemalloc.start()
    record_s = 0.0
    rec = Recorder(max_frames=None)
    for frame in plot_frames(n):
        t0 = time.perf_counter()
        rec.add_frame(frame)
        record_s += time.perf_counter() - t0
    gif_path = os.path.join(folder, "bench.gif")
    t0 = time.perf_counter()
    rec.write_gif(gif_path, fps=10)
    gif_s = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    out = {
        "record_s": record_s,
        "gif_s": gif_s,
        "rss_mb": _rss_mb() - rss0,
        "traced_mb": traced_peak,
        "store_mb": (rec.memory_bytes + rec.disk_bytes) / 2**20,
        "gif_mb": os.path.getsize(gif_path) / 2**20,
    }
    if apng:
        t0 = time.perf_counter()
        rec.write_apng(os.path.join(folder, "bench.png"), fps=10)
        out["apng_s"] = time.perf_counter() - t0
        out["apng_mb"] = os.path.getsize(os.path.join(folder, "bench.png")) / 2**20
        out["rss_after_apng_mb"] = _rss_mb() - rss0
    # Colour check on a few frames: GIF against source.
    errs = []
    with Image.open(gif_path) as gif:
        for i, frame in enumerate(plot_frames(n)):
            if i % max(1, n // 5):
                continue
            gif.seek(i)
            errs.append(np.abs(np.asarray(gif.convert("RGB"), int) - frame).max(axis=2))
    e = np.stack(errs)
    out.update(
        err_mean=float(e.mean()), err_p999=float(np.percentile(e, 99.9)), err_max=float(e.max())
    )
    rec.close()
    return out


def run_baseline(n: int, folder: str) -> dict[str, float]:
    """Pillow's own animated GIF writer (per-frame adaptive palettes), for comparison."""
    next(plot_frames(1))
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    frames = (Image.fromarray(f) for f in plot_frames(n))
    first = next(frames)
    path = os.path.join(folder, "baseline.gif")
    first.save(path, save_all=True, append_images=frames, duration=100, loop=0)
    seconds = time.perf_counter() - t0  # includes drawing the frames: Pillow pulls them lazily
    return {"seconds": seconds, "rss_mb": _rss_mb() - rss0, "gif_mb": os.path.getsize(path) / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--apng", action="store_true", help="also time write_apng")
    parser.add_argument("--baseline", action="store_true", help="compare with Pillow save_all")
    parser.add_argument("--child-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.child_baseline:
            r = run_baseline(args.frames, folder)
            print(f"{r['seconds']} {r['rss_mb']} {r['gif_mb']}")
            return
        t_draw = time.perf_counter()
        for _ in plot_frames(10):
            pass
        draw_ms = (time.perf_counter() - t_draw) / 10 * 1e3
        r = run_vizlab(args.frames, folder, args.apng)
    total = r["record_s"] + r["gif_s"]
    n = args.frames
    print(f"{n} frames of {W}x{H} (drawing them: {draw_ms:.0f} ms each, not counted)")
    print(
        f"  record  {r['record_s']:6.2f} s  ({1e3 * r['record_s'] / n:.1f} ms/frame, "
        f"store {r['store_mb']:.1f} MB compressed)"
    )
    print(
        f"  gif     {r['gif_s']:6.2f} s  ({1e3 * r['gif_s'] / n:.1f} ms/frame, "
        f"file {r['gif_mb']:.1f} MB)"
    )
    print(f"  total   {total:6.2f} s  = {total / BUDGET_S:.2f} of the {BUDGET_S:.0f} s budget")
    print(
        f"  memory  peak RSS growth {r['rss_mb']:.0f} MB = {r['rss_mb'] / BUDGET_MB:.2f} of the "
        f"{BUDGET_MB:.0f} MB budget; tracemalloc peak {r['traced_mb']:.0f} MB"
    )
    print(
        f"  colour  GIF vs source, max-channel error: mean {r['err_mean']:.3f}, "
        f"99.9th pct {r['err_p999']:.0f}, max {r['err_max']:.0f} (of 255)"
    )
    if args.apng:
        print(
            f"  apng    {r['apng_s']:6.2f} s  ({1e3 * r['apng_s'] / n:.1f} ms/frame, file "
            f"{r['apng_mb']:.1f} MB, peak RSS growth so far {r['rss_after_apng_mb']:.0f} MB)"
        )
    if args.baseline:
        child = subprocess.run(
            [sys.executable, __file__, "--child-baseline", "--frames", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        secs, rss, size = (float(x) for x in child.stdout.split())
        secs -= draw_ms * n / 1e3  # Pillow pulls frames lazily: take their drawing out
        print(f"Pillow save_all: {secs:.2f} s, peak RSS growth {rss:.0f} MB, file {size:.1f} MB")
        print(
            f"  ratio vizlab/Pillow: time {total / secs:.2f}, memory {r['rss_mb'] / rss:.2f}, "
            f"size {r['gif_mb'] / size:.2f}"
        )


if __name__ == "__main__":
    main()
