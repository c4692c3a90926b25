"""A generated stand-in for EMNIST balanced: 47 classes of 28x28 glyphs.

Each (font, character, stroke width) is rendered once with Pillow from the
fonts shipped in ``assets/fonts/`` and normalised as EMNIST does (bounding box
centred, longer side scaled to a fixed size, white on black). Samples are then
drawn in batch: a random affine map per sample (rotation, scale, aspect, shear,
shift), bilinear sampling in numpy, random ink gain and pixel noise.
"""

from __future__ import annotations

import functools
import logging
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .._paths import ASSETS

log = logging.getLogger(__name__)

__all__ = ["GLYPH47_LABELS", "GLYPH_FONTS", "glyphs47"]

# EMNIST balanced label order: 0-9, A-Z, then the 11 lower-case letters whose
# shapes differ from their capitals (the other 15 are merged with the capitals).
GLYPH47_LABELS: tuple[str, ...] = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabdefghnqrt")

# (file in assets/fonts, extra stroke widths in render pixels, characters to leave out).
# Stroke widths thicken thin fonts more than bold ones, whose counters (e, a, 8)
# would otherwise fill in. Humor Sans draws lower case as small capitals, which
# would teach upper-case shapes under lower-case labels, so it gives no lower case.
GLYPH_FONTS: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("DejaVuSansMono.ttf", (0, 2), ""),
    ("DejaVuSerif.ttf", (0, 2), ""),
    ("LiberationSans-Regular.ttf", (0, 2), ""),
    ("LiberationSerif-Italic.ttf", (0, 2), ""),
    ("LiberationSansNarrow-Bold.ttf", (0,), ""),
    ("ComicNeue-Regular.otf", (0, 2), ""),
    ("ComicNeue-BoldItalic.otf", (0,), ""),
    ("ComicNeue-Light.otf", (0, 2, 4), ""),
    ("Humor-Sans.ttf", (0, 1), "abdefghnqrt"),
    ("Breip.ttf", (0, 2, 4), ""),
    ("Go-Regular.ttf", (0, 2), ""),
    ("Go-Mono-Bold.ttf", (0,), ""),
    ("FreeSansBoldOblique.ttf", (0,), ""),
    ("Cantarell-Regular.otf", (0, 2, 4), ""),
)

_SIDE = 28  # output image side
_T = 56  # template side: twice the output, so sampling under distortion stays smooth
_BOX = 42  # longer side of a glyph in template pixels (21 at output size)
_RENDER = 72  # font size used for rendering
_CHUNK = 2048  # samples per vectorised batch, to bound memory


def _render(font: ImageFont.FreeTypeFont, ch: str, stroke: int) -> np.ndarray | None:
    canvas = 3 * _RENDER
    img = Image.new("L", (canvas, canvas), 0)
    ImageDraw.Draw(img).text(
        (canvas // 2, canvas // 2),
        ch,
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=255,
    )
    bbox = img.getbbox()
    if bbox is None:
        return None
    img = img.crop(bbox)
    w, h = img.size
    s = _BOX / max(w, h)
    img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)
    out = Image.new("L", (_T, _T), 0)
    out.paste(img, ((_T - img.width) // 2, (_T - img.height) // 2))
    # A slight blur stands in for EMNIST's and keeps 2:1 bilinear sampling from aliasing.
    out = out.filter(ImageFilter.GaussianBlur(0.7))
    return np.asarray(out, dtype=np.float32) / 255.0


@functools.lru_cache(maxsize=1)
def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render every template once: (flat padded images, class start offsets, class counts)."""
    t0 = time.perf_counter()
    fonts = []
    for name, strokes, skip in GLYPH_FONTS:
        path = ASSETS / "fonts" / name
        if not path.is_file():
            raise FileNotFoundError(f"glyph font missing: {path}")
        fonts.append((ImageFont.truetype(str(path), _RENDER), strokes, skip))
    images: list[np.ndarray] = []
    counts = np.zeros(len(GLYPH47_LABELS), dtype=np.int64)
    for c, ch in enumerate(GLYPH47_LABELS):
        for font, strokes, skip in fonts:
            if ch in skip:
                continue
            for stroke in strokes:
                t = _render(font, ch, stroke)
                if t is not None:
                    images.append(t)
                    counts[c] += 1
    if (counts == 0).any():
        missing = [GLYPH47_LABELS[c] for c in np.flatnonzero(counts == 0)]
        raise RuntimeError(f"no font rendered the characters {missing}")
    # One pixel of zero border: clamped coordinates outside the glyph then read 0.
    padded = np.pad(np.stack(images), ((0, 0), (1, 1), (1, 1)))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    log.debug("rendered %d glyph templates in %.2f s", len(images), time.perf_counter() - t0)
    return padded.reshape(len(images), -1), starts, counts


def glyphs47(n: int = 10000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` distorted glyphs: ``(X float32 (n, 28, 28) in 0..1, y int64 in 0..46)``.

    Classes are balanced (each appears ``n // 47`` or one more times) and in
    random order; the result is a function of ``n`` and ``seed`` only. Label
    ``k`` is the character ``GLYPH47_LABELS[k]``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    flat, starts, counts = _templates()
    rng = np.random.default_rng(seed)
    k = len(GLYPH47_LABELS)
    y = rng.permutation(np.arange(n, dtype=np.int64) % k)
    tmpl = starts[y] + (rng.random(n) * counts[y]).astype(np.int64)

    # Per-sample distortion, forward map glyph -> image: R(rot) @ Shear @ diag(sx, sy).
    rot = np.deg2rad(rng.uniform(-12, 12, n))
    scale = rng.uniform(0.85, 1.12, n)
    aspect = np.exp(rng.normal(0, 0.1, n))
    shear = rng.uniform(-0.25, 0.25, n)
    shift = rng.uniform(-1.5, 1.5, (n, 2))
    gain = rng.uniform(1.0, 1.5, n)  # >1 saturates soft edges: stroke looks thicker
    gamma = rng.uniform(0.8, 1.4, n)  # >1 darkens soft edges: stroke looks thinner
    noise = rng.uniform(0.0, 0.06, n)
    sx, sy = scale * aspect, scale / aspect
    cos, sin = np.cos(rot), np.sin(rot)
    # M = [[cos, -sin], [sin, cos]] @ [[1, shear], [0, 1]] @ diag(sx, sy)
    m00, m01 = cos * sx, (cos * shear - sin) * sy
    m10, m11 = sin * sx, (sin * shear + cos) * sy
    det = m00 * m11 - m01 * m10
    # Inverse (image -> glyph), times 2 because templates are at twice the resolution.
    i00, i01, i10, i11 = 2 * m11 / det, -2 * m01 / det, -2 * m10 / det, 2 * m00 / det

    c_out = (_SIDE - 1) / 2
    c_tpl = (_T - 1) / 2 + 1  # +1 for the zero border
    p = _T + 2
    gy, gx = np.mgrid[0:_SIDE, 0:_SIDE].astype(np.float32)
    gx = gx.ravel() - c_out
    gy = gy.ravel() - c_out

    X = np.empty((n, _SIDE * _SIDE), dtype=np.float32)
    for a in range(0, n, _CHUNK):
        b = min(n, a + _CHUNK)
        sl = slice(a, b)
        ox = gx[None, :] - shift[sl, 0:1].astype(np.float32)
        oy = gy[None, :] - shift[sl, 1:2].astype(np.float32)
        qx = c_tpl + i00[sl, None].astype(np.float32) * ox + i01[sl, None].astype(np.float32) * oy
        qy = c_tpl + i10[sl, None].astype(np.float32) * ox + i11[sl, None].astype(np.float32) * oy
        np.clip(qx, 0, p - 1.001, out=qx)
        np.clip(qy, 0, p - 1.001, out=qy)
        x0 = qx.astype(np.int64)
        y0 = qy.astype(np.int64)
        fx = qx - x0
        fy = qy - y0
        idx = (tmpl[sl, None] * (p * p)) + y0 * p + x0
        v00 = flat.take(idx)
        v01 = flat.take(idx + 1)
        v10 = flat.take(idx + p)
        v11 = flat.take(idx + p + 1)
        top = v00 + fx * (v01 - v00)
        bot = v10 + fx * (v11 - v10)
        X[sl] = top + fy * (bot - top)

    X *= gain[:, None].astype(np.float32)
    np.clip(X, 0.0, 1.0, out=X)
    X **= gamma[:, None].astype(np.float32)
    X += noise[:, None].astype(np.float32) * rng.standard_normal(X.shape, dtype=np.float32)
    np.clip(X, 0.0, 1.0, out=X)
    return X.reshape(n, _SIDE, _SIDE), y
