"""Recording a lab as an animation: a bounded frame store, and streaming GIF / APNG writers.

A lab hands frames to a :class:`Recorder` while it runs (``add_frame``: a numpy RGB(A) array,
a PIL image, or a QImage); when the user stops, the recording is written with
:meth:`Recorder.write_gif` or :meth:`Recorder.write_apng`.

Memory stays bounded however long the recording:

* each frame is kept losslessly compressed (zlib over the raw RGB bytes: 4 ms for a 1280x800
  plot frame, against 15-20 ms for Pillow's PNG encoder at a similar size, which matters
  because frames arrive on the GUI thread);
* compressed frames stay in memory up to ``memory_budget`` bytes, and go to files in a private
  temporary folder beyond it;
* ``max_frames`` is a hard cap: past it the recorder is *full* (``is_full``), keeps what it has
  and ignores further frames; a spool write that fails (disk full) makes it full as well.

The writers stream: one frame is decoded, converted and written at a time, so encoding a
recording needs a few frames' worth of memory, never the whole animation. (Pillow's own
``save_all`` gathers every frame before writing, which for 200 frames of 1280x800 is 200 MB
(GIF) to 600 MB (APNG), so the GIF and APNG containers are written here, with Pillow doing
the LZW and deflate compression.)

GIF colours: one palette for the whole animation, built from frames sampled across it. When
the samples have at most 255 colours the palette is exactly those colours and the GIF is
lossless; otherwise the most frequent colours (background, axes, curves, large heatmap cells)
are kept exactly and the rest of the palette comes from a weighted median cut refined by a few
k-means steps. Pixels are mapped to their nearest palette colour without dithering, so flat
plot areas stay flat and exact, and a shared palette means no colour flicker between frames.
Frames after the first store only the rectangle that changed, with unchanged pixels in it
transparent. APNG is lossless, full colour.

Progress callbacks are ``progress(done, total) -> bool``; returning ``False`` cancels, and
the writer then returns ``False`` and leaves no file (see :mod:`vizlab.export.atomic`).

No Qt here (a QImage handed to ``add_frame`` is converted through :mod:`vizlab.export.qt`
only then), so the CLI records headless.
"""

from __future__ import annotations

import io
import logging
import math
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import GifImagePlugin, Image

from .atomic import ExportError, atomic_open
from .progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = [
    "RECORDING_SUFFIXES",
    "ProgressCallback",
    "Recorder",
    "build_palette",
    "to_rgb_array",
    "write_apng",
    "write_gif",
]

#: What a frame may be: an HxW, HxWx3 or HxWx4 uint8 array, a PIL image, or a QImage.
FrameLike = Any
#: The file suffixes a recording can be written as (Recorder.write picks by suffix).
RECORDING_SUFFIXES = (".gif", ".apng", ".png")

# GIF: palette indices 0..254 are colours, 255 marks "unchanged" (transparent) pixels.
_GIF_COLOURS = 255
_GIF_TRANSPARENT = 255
# GIF frame delays are whole centiseconds and browsers treat delays under 2 cs as 10 cs.
_GIF_MAX_FPS = 50.0
# Frames sampled to build the GIF palette, and the pixel budget for the sample.
_PALETTE_SAMPLE_FRAMES = 16
_PALETTE_SAMPLE_PIXELS = 2_000_000
_NO_INDEX = np.uint16(0xFFFF)


class _Cancelled(Exception):
    """Raised inside a writer when the progress callback returns False."""


def _keep_going(progress: ProgressCallback | None, done: int, total: int) -> None:
    if progress is not None and progress(done, total) is False:
        raise _Cancelled


# --------------------------------------------------------------------------------------------
# Frames


def to_rgb_array(frame: FrameLike) -> np.ndarray:
    """``frame`` as a C-contiguous HxWx3 uint8 RGB array (alpha composited over white)."""
    if type(frame).__name__ == "QImage":
        from .qt import qimage_to_array  # only a caller that has QImages has Qt loaded

        return qimage_to_array(frame)
    if isinstance(frame, Image.Image):
        if frame.mode in ("RGBA", "LA", "PA") or (
            frame.mode == "P" and "transparency" in frame.info
        ):
            frame = frame.convert("RGBA")
        else:
            return np.ascontiguousarray(np.asarray(frame.convert("RGB")))
        frame = np.asarray(frame)
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise TypeError(f"frames must be uint8 arrays (0-255), not {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"a frame must be HxW, HxWx3 or HxWx4, not shape {a.shape}")
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.uint16)
        rgb = a[:, :, :3].astype(np.uint16) * alpha + 255 * (255 - alpha)
        a = ((rgb + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def _letterbox(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fit ``a`` into ``size`` (w, h) keeping its aspect ratio, centred on white."""
    w, h = size
    ah, aw = a.shape[:2]
    f = min(w / aw, h / ah)
    nw, nh = max(1, round(aw * f)), max(1, round(ah * f))
    im = Image.fromarray(a)
    if (nw, nh) != (aw, ah):
        im = im.resize((nw, nh), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    canvas.paste(im, ((w - nw) // 2, (h - nh) // 2))
    return np.asarray(canvas)


@dataclass(frozen=True, slots=True)
class _StoredFrame:
    data: bytes | None  # compressed RGB in memory, or
    file: Path | None  # compressed RGB spooled to disk
    nbytes: int


class Recorder:
    """Collects frames of a running lab compactly, and writes them as GIF or APNG.

    ``max_frames``: hard cap (``None``: only the disk limits it); ``every``: keep one frame
    per ``every`` calls to :meth:`add_frame` (the first, then every N-th); ``memory_budget``:
    bytes of compressed frames kept in memory before spooling to ``spool_dir`` (default: the
    system temporary folder). All frames take the size of the first one (a frame of another
    size, e.g. after the window was resized, is scaled to fit and centred on white).
    Thread-safe: frames may be added on one thread while another reads.
    """

    def __init__(
        self,
        max_frames: int | None = 3000,
        every: int = 1,
        *,
        memory_budget: int = 128 * 2**20,
        spool_dir: str | os.PathLike[str] | None = None,
        compress_level: int = 1,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be at least 1, not {every}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1 or None, not {max_frames}")
        self.max_frames = max_frames
        self.every = every
        self.memory_budget = int(memory_budget)
        self.compress_level = compress_level
        self._spool_parent = spool_dir
        self._spool: tempfile.TemporaryDirectory[str] | None = None
        self._frames: list[_StoredFrame] = []
        self._size: tuple[int, int] | None = None
        self._calls = 0
        self._memory = 0
        self._disk = 0
        self._full_reason: str | None = None
        self._lock = threading.Lock()

    # ---- state ---------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        """Frames kept so far."""
        return len(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the frames, or None before the first one."""
        return self._size

    @property
    def memory_bytes(self) -> int:
        """Bytes of compressed frames held in memory (never more than ``memory_budget``)."""
        return self._memory

    @property
    def disk_bytes(self) -> int:
        """Bytes of compressed frames spooled to the temporary folder."""
        return self._disk

    @property
    def spooled_count(self) -> int:
        """How many frames live on disk rather than in memory."""
        return sum(1 for f in self._frames if f.file is not None)

    @property
    def is_full(self) -> bool:
        """True once the recorder stopped taking frames (see ``full_reason``)."""
        return self._full_reason is not None

    @property
    def full_reason(self) -> str | None:
        """Why the recording is full, as a sentence for the user, or None."""
        return self._full_reason

    # ---- adding --------------------------------------------------------------------------
    def add_frame(self, frame: FrameLike) -> bool:
        """Offer a frame; returns True if it was kept (False: skipped by ``every``, or full)."""
        with self._lock:
            call = self._calls
            self._calls += 1
            if call % self.every or self._full_reason is not None:
                return False
            if self.max_frames is not None and len(self._frames) >= self.max_frames:
                self._set_full(f"Recording full: {self.max_frames} frames is the limit.")
                return False
        rgb = to_rgb_array(frame)  # converting and compressing need no lock
        with self._lock:
            if self._size is None:
                self._size = (rgb.shape[1], rgb.shape[0])
            size = self._size
        if (rgb.shape[1], rgb.shape[0]) != size:
            rgb = _letterbox(rgb, size)
        data = zlib.compress(memoryview(rgb).cast("B"), self.compress_level)
        with self._lock:
            if self._memory + len(data) <= self.memory_budget:
                self._frames.append(_StoredFrame(data, None, len(data)))
                self._memory += len(data)
                return True
            try:
                path = self._spool_path(len(self._frames))
                path.write_bytes(data)
            except OSError as exc:
                self._set_full(f"Recording full: cannot store more frames ({exc.strerror}).")
                return False
            self._frames.append(_StoredFrame(None, path, len(data)))
            self._disk += len(data)
            return True

    def _set_full(self, reason: str) -> None:
        if self._full_reason is None:
            self._full_reason = reason
            log.info("%s (%d frames kept)", reason, len(self._frames))

    def _spool_path(self, index: int) -> Path:
        if self._spool is None:
            # TemporaryDirectory cleans itself up on close(), at garbage collection and at exit.
            self._spool = tempfile.TemporaryDirectory(
                prefix="vizlab-recording-", dir=self._spool_parent
            )
            log.debug("recording spools frames to %s", self._spool.name)
        return Path(self._spool.name) / f"frame-{index:06d}.rgb.z"

    # ---- reading -------------------------------------------------------------------------
    def __getitem__(self, index: int) -> np.ndarray:
        """Frame ``index`` as a read-only HxWx3 uint8 array."""
        with self._lock:
            stored = self._frames[index]
            size = self._size
        assert size is not None
        data = stored.data if stored.data is not None else stored.file.read_bytes()  # type: ignore[union-attr]
        w, h = size
        return np.frombuffer(zlib.decompress(data), np.uint8).reshape(h, w, 3)

    def clear(self) -> None:
        """Forget every frame (and delete spooled ones); the recorder can be used again."""
        with self._lock:
            self._frames.clear()
            self._size = None
            self._calls = 0
            self._memory = self._disk = 0
            self._full_reason = None
            spool, self._spool = self._spool, None
        if spool is not None:
            spool.cleanup()

    def close(self) -> None:
        """Delete the spooled frames. Same as :meth:`clear`."""
        self.clear()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------------
    def write_gif(
        self,
        path: str | os.PathLike[str],
        fps: float = 10.0,
        loop: int | None = 0,
        progress: ProgressCallback | None = None,
    ) -> bool:
        """Write the frames as an animated GIF; see :func:`write_gif`."""
        return write_gif(path, self, fps=fps, loop=loop, progress=progress)

    def write(
        self,
        path: str | os.PathLike[str],
        fps: float = 10.0,
        progress: ProgressCallback | None = None,
    ) -> bool:
        """Write the frames as the file's suffix says: .gif a GIF, .apng or .png an APNG."""
        suffix = Path(path).suffix.lower()
        if suffix == ".gif":
            return self.write_gif(path, fps=fps, progress=progress)
        if suffix in RECORDING_SUFFIXES:
            return self.write_apng(path, fps=fps, progress=progress)
        raise ExportError(path, f"a recording is written as "
                                f"{' or '.join(RECORDING_SUFFIXES)}, not {Path(path).name!r}")

    def write_apng(
        self,
        path: str | os.PathLike[str],
        fps: float = 10.0,
        loop: int | None = 0,
        progress: ProgressCallback | None = None,
        compress_level: int = 6,
    ) -> bool:
        """Write the frames as a full-colour animated PNG; see :func:`write_apng`."""
        return write_apng(
            path, self, fps=fps, loop=loop, progress=progress, compress_level=compress_level
        )


# --------------------------------------------------------------------------------------------
# Palette


def _pack(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 pixels -> one uint32 key per pixel (0xRRGGBB)."""
    return (
        (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    )


def _unpack(keys: np.ndarray) -> np.ndarray:
    keys = keys.astype(np.uint32)
    return np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=-1).astype(np.uint8)


def _nearest(points: np.ndarray, palette: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Index of the nearest palette colour (Euclidean RGB) for each of ``points`` (N, 3)."""
    pal = palette.astype(np.float64)
    pal_sq = (pal * pal).sum(axis=1)
    out = np.empty(len(points), np.intp)
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk].astype(np.float64)
        # |p - q|^2 = |p|^2 - 2 p.q + |q|^2; |p|^2 is the same for every q, so it is left out.
        # float64 keeps an exact palette colour exactly nearest to itself.
        out[start : start + chunk] = np.argmin(pal_sq[None, :] - 2.0 * p @ pal.T, axis=1)
    return out


def _median_cut(rgb: np.ndarray, weight: np.ndarray, n: int) -> np.ndarray:
    """Weighted median cut: split the box with the largest squared error until ``n`` boxes."""

    def sse(ix: np.ndarray) -> float:
        if len(ix) < 2:
            return 0.0
        c, w = rgb[ix], weight[ix]
        mean = w @ c / w.sum()
        return float(w @ ((c - mean) ** 2).sum(axis=1))

    boxes = [np.arange(len(rgb))]
    errors = [sse(boxes[0])]
    while len(boxes) < n:
        i = int(np.argmax(errors))
        if errors[i] <= 0.0:
            break
        ix = boxes[i]
        c, w = rgb[ix], weight[ix]
        mean = w @ c / w.sum()
        axis = int(np.argmax(w @ (c - mean) ** 2))
        ix = ix[np.argsort(c[:, axis], kind="stable")]
        cum = np.cumsum(weight[ix])
        cut = int(np.clip(np.searchsorted(cum, cum[-1] / 2), 1, len(ix) - 1))
        boxes[i], errors[i] = ix[:cut], sse(ix[:cut])
        boxes.append(ix[cut:])
        errors.append(sse(ix[cut:]))
    return np.array([weight[b] @ rgb[b] / weight[b].sum() for b in boxes])


def build_palette(
    samples: Sequence[np.ndarray],
    max_colors: int = _GIF_COLOURS,
    *,
    reserve_share: float = 2e-4,
    max_reserved: int = 96,
    kmeans_steps: int = 3,
) -> np.ndarray:
    """A palette (K, 3) uint8, K <= ``max_colors``, for RGB pixel ``samples``.

    Exact when the samples have few enough colours. Otherwise colours covering at least
    ``reserve_share`` of the sampled pixels (at most ``max_reserved`` of them) are kept exactly
    — flat plot areas then keep their true colour — and the remaining entries are a median cut
    of the other colours, weighted by the square root of their pixel counts (so the thin
    anti-aliased edges of text and curves get entries too, not only big areas), refined by a
    few k-means steps.
    """
    keys = np.concatenate([_pack(s).ravel() for s in samples])
    colours, counts = np.unique(keys, return_counts=True)
    if len(colours) <= max_colors:
        return _unpack(colours)
    order = np.argsort(counts, kind="stable")[::-1]
    n_fixed = int(min(max_reserved, max_colors // 2, (counts >= reserve_share * keys.size).sum()))
    fixed = _unpack(colours[order[:n_fixed]])
    rest = order[n_fixed:]
    rgb = _unpack(colours[rest]).astype(np.float64)
    weight = np.sqrt(counts[rest].astype(np.float64))
    if len(rgb) > 32768:
        # Photo-like frames: merge colours into 32^3 bins (weighted means) to keep it quick.
        q = rgb.astype(np.int64) >> 3
        bins, inverse = np.unique((q[:, 0] << 10) | (q[:, 1] << 5) | q[:, 2], return_inverse=True)
        w = np.bincount(inverse, weights=weight)
        rgb = np.stack(
            [np.bincount(inverse, weights=weight * rgb[:, k]) / w for k in range(3)], axis=1
        )
        weight = w
    centres = _median_cut(rgb, weight, max_colors - n_fixed)
    fixed_f = fixed.astype(np.float64)
    for _ in range(kmeans_steps):
        # Colours nearest a fixed entry belong to it and do not pull the free centres.
        label = _nearest(rgb, np.concatenate([fixed_f, centres])) - n_fixed
        for j in range(len(centres)):
            member = label == j
            if member.any():
                centres[j] = weight[member] @ rgb[member] / weight[member].sum()
    free = np.clip(np.round(centres), 0, 255).astype(np.uint8)
    return np.concatenate([fixed, free])


class _PaletteMapper:
    """Maps RGB frames to palette indices, exactly and without dithering.

    A 2^24-entry table (32 MiB) remembers the nearest palette entry of every colour seen, so
    each colour's nearest entry is computed once per recording; a frame then costs a few
    vectorised operations. (Pillow's quantize(palette=...) is as fast but looks colours up at
    6 bits per channel, which turns pure white into a near-white palette neighbour.)
    """

    def __init__(self, palette: np.ndarray) -> None:
        self.palette = palette
        self._lut = np.full(1 << 24, _NO_INDEX, np.uint16)
        keys = _pack(palette)
        self._lut[keys[::-1]] = np.arange(len(palette) - 1, -1, -1, dtype=np.uint16)

    def map(self, rgb: np.ndarray) -> np.ndarray:
        keys = _pack(rgb)
        index = self._lut[keys]
        missing = index == _NO_INDEX
        if missing.any():
            new = np.unique(keys[missing])
            self._lut[new] = _nearest(_unpack(new), self.palette)
            index = self._lut[keys]
        return index.astype(np.uint8)


def _sample_frames(frames: Sequence[FrameLike], n: int) -> list[np.ndarray]:
    picks = np.unique(np.linspace(0, n - 1, min(n, _PALETTE_SAMPLE_FRAMES)).round().astype(int))
    samples = []
    for j, i in enumerate(picks):
        rgb = to_rgb_array(frames[int(i)])
        step = max(
            1,
            math.ceil(math.sqrt(rgb.shape[0] * rgb.shape[1] * len(picks) / _PALETTE_SAMPLE_PIXELS)),
        )
        # A different pixel offset per sampled frame, so that a one-pixel line that stays put
        # (an axis, a grid line) is still seen by some sample.
        dy, dx = (j // step) % step, j % step
        samples.append(rgb[dy::step, dx::step])
    return samples


# --------------------------------------------------------------------------------------------
# GIF


def _gif_delays_cs(n: int, fps: float) -> list[int]:
    """Per-frame delays in centiseconds whose running sum tracks i / fps without drift."""
    if fps > _GIF_MAX_FPS:
        log.warning(
            "GIF plays at most %g frames per second; using that instead of %g", _GIF_MAX_FPS, fps
        )
        fps = _GIF_MAX_FPS
    ticks = [round(i * 100 / fps) for i in range(n + 1)]
    return [max(2, ticks[i + 1] - ticks[i]) for i in range(n)]


def _gif_header(width: int, height: int, palette: np.ndarray, loop: int | None) -> bytes:
    table = np.zeros((256, 3), np.uint8)
    table[: len(palette)] = palette
    # Logical screen: global colour table of 256 entries (0xF7), background index 0.
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + table.tobytes()
    if loop is not None:
        header += b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00"
    return header


def _changed_box(prev: np.ndarray, cur: np.ndarray) -> tuple[int, int, int, int] | None:
    diff = prev != cur
    rows = np.flatnonzero(diff.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _check_frames(frames: Sequence[FrameLike], fps: float) -> int:
    n = len(frames)
    if n == 0:
        raise ValueError("there are no frames to write")
    if not fps > 0:
        raise ValueError(f"fps must be positive, not {fps}")
    return n


def _same_size(rgb: np.ndarray, first: np.ndarray | None, index: int) -> None:
    if first is not None and rgb.shape[:2] != first.shape[:2]:
        (h, w), (h0, w0) = rgb.shape[:2], first.shape[:2]
        raise ValueError(f"frame {index} is {w}x{h} but the first frame is {w0}x{h0}")


def write_gif(
    path: str | os.PathLike[str],
    frames: Sequence[FrameLike],
    *,
    fps: float = 10.0,
    loop: int | None = 0,
    progress: ProgressCallback | None = None,
) -> bool:
    """Write ``frames`` (a sequence, e.g. a :class:`Recorder`) to ``path`` as an animated GIF.

    ``fps``: frames per second (at most 50: GIF delays are centiseconds); ``loop``: 0 repeats
    forever, N repeats N times, None plays once. Every frame is kept (identical frames too),
    so the GIF has exactly ``len(frames)`` frames. Returns True when written, False when
    ``progress`` cancelled (then nothing is written). Raises :class:`ExportError`.
    """
    n = _check_frames(frames, fps)
    delays = _gif_delays_cs(n, fps)
    try:
        with atomic_open(path, "wb") as fh:
            _keep_going(progress, 0, n)
            mapper = _PaletteMapper(build_palette(_sample_frames(frames, n)))
            prev: np.ndarray | None = None
            for i in range(n):
                rgb = to_rgb_array(frames[i])
                _same_size(rgb, prev, i)
                cur = mapper.map(rgb)
                if prev is None:
                    if cur.shape[0] > 65535 or cur.shape[1] > 65535:
                        raise ValueError(f"a GIF is at most 65535 pixels wide, not {cur.shape}")
                    fh.write(_gif_header(cur.shape[1], cur.shape[0], mapper.palette, loop))
                    box, block, extra = (0, 0), cur, {}
                else:
                    # Only the changed rectangle is stored, and inside it the pixels that did
                    # not change are transparent: smaller files, same picture.
                    bbox = _changed_box(prev, cur) or (0, 0, 1, 1)
                    x0, y0, x1, y1 = bbox
                    block = cur[y0:y1, x0:x1].copy()
                    block[prev[y0:y1, x0:x1] == block] = _GIF_TRANSPARENT
                    box, extra = (x0, y0), {"transparency": _GIF_TRANSPARENT}
                for part in GifImagePlugin.getdata(
                    Image.fromarray(block),  # "L": the LZW coder only needs the index bytes
                    box,
                    duration=delays[i] * 10,
                    disposal=1,  # keep this frame under the next one
                    **extra,
                ):
                    fh.write(part)
                prev = cur
                _keep_going(progress, i + 1, n)
            fh.write(b";")
    except _Cancelled:
        log.info("GIF export to %s cancelled", path)
        return False
    return True


# --------------------------------------------------------------------------------------------
# APNG


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png_image_data(rgb: np.ndarray, compress_level: int) -> bytes:
    """The zlib stream of ``rgb`` as PNG encodes it (the IDAT payload), via Pillow."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=compress_level)
    png = buf.getvalue()
    parts, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        if png[pos + 4 : pos + 8] == b"IDAT":
            parts.append(png[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return b"".join(parts)


def write_apng(
    path: str | os.PathLike[str],
    frames: Sequence[FrameLike],
    *,
    fps: float = 10.0,
    loop: int | None = 0,
    progress: ProgressCallback | None = None,
    compress_level: int = 6,
) -> bool:
    """Write ``frames`` to ``path`` as a lossless, full-colour animated PNG (RGB).

    ``loop``: 0 repeats forever, N plays N times, None plays once. Frames after the first
    store only the rectangle that changed. Returns True when written, False when ``progress``
    cancelled (then nothing is written). Raises :class:`ExportError`.
    """
    n = _check_frames(frames, fps)
    rate = Fraction(fps).limit_denominator(1000)
    delay_num, delay_den = rate.denominator, rate.numerator  # seconds per frame = 1 / fps
    if delay_den > 65535:
        raise ValueError(f"fps {fps} is too high for APNG")
    plays = 1 if loop is None else loop
    try:
        with atomic_open(path, "wb") as fh:
            _keep_going(progress, 0, n)
            prev: np.ndarray | None = None
            seq = 0
            for i in range(n):
                cur = to_rgb_array(frames[i])
                _same_size(cur, prev, i)
                cur_key = _pack(cur)  # one number per pixel makes comparing frames cheap
                h, w = cur.shape[:2]
                if prev is None:
                    fh.write(b"\x89PNG\r\n\x1a\n")
                    fh.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
                    fh.write(_png_chunk(b"acTL", struct.pack(">II", n, plays)))
                    bbox = (0, 0, w, h)
                else:
                    bbox = _changed_box(prev, cur_key) or (0, 0, 1, 1)
                x0, y0, x1, y1 = bbox
                fh.write(
                    _png_chunk(
                        b"fcTL",
                        struct.pack(
                            ">IIIIIHHBB",
                            seq,
                            x1 - x0,
                            y1 - y0,
                            x0,
                            y0,
                            delay_num,
                            delay_den,
                            0,  # dispose: none, the next frame draws over this one
                            0,  # blend: source, the rectangle replaces what was there
                        ),
                    )
                )
                seq += 1
                data = _png_image_data(np.ascontiguousarray(cur[y0:y1, x0:x1]), compress_level)
                if prev is None:
                    fh.write(_png_chunk(b"IDAT", data))
                else:
                    fh.write(_png_chunk(b"fdAT", struct.pack(">I", seq) + data))
                    seq += 1
                prev = cur_key
                _keep_going(progress, i + 1, n)
            fh.write(_png_chunk(b"IEND", b""))
    except _Cancelled:
        log.info("APNG export to %s cancelled", path)
        return False
    return True
