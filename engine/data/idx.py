"""Reader for IDX files (MNIST, EMNIST, Fashion-MNIST) that a user has downloaded.

IDX layout: two zero bytes, a type code, the number of dimensions, then each
dimension as a big-endian uint32, then the data in C order, big-endian.
Files may be gzip-compressed (as distributed) or raw; the first bytes decide.
"""

from __future__ import annotations

import gzip
import logging
import math
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["load_idx_pair", "read_idx"]

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
# The most data an IDX file may announce: MNIST's 60,000 training images are 47 MB,
# EMNIST balanced's 112,800 are 88 MB; as float32 in memory they take four times that.
MAX_IDX_BYTES = 256_000_000


def _read_exactly(f: BinaryIO, count: int) -> bytes:
    """Up to `count` bytes (fewer only at the end of the stream)."""
    chunks, left = [], count
    while left > 0:
        chunk = f.read(min(left, 1 << 24))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n:,} bytes"


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip or raw) into an array of its stored shape and type.

    Raises ValueError naming the file when it is missing, is not an IDX file, holds
    more or fewer data bytes than its header announces, or announces more than
    MAX_IDX_BYTES of data. The header is checked before the data is read, and never
    more than the announced size plus one byte is read or decompressed.
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such file")
    if not p.is_file():
        raise ValueError(f"{p}: not a file")
    compressed = False
    try:
        with open(p, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            stream: BinaryIO = gzip.GzipFile(fileobj=raw) if compressed else raw
            return _read_idx_stream(p, stream, compressed, p.stat().st_size)
    except (OSError, EOFError, zlib.error) as exc:
        if compressed:
            raise ValueError(f"{p}: gzip data is corrupt or truncated ({exc})") from None
        raise ValueError(f"{p}: cannot read ({exc})") from None


def _read_idx_stream(p: Path, f: BinaryIO, compressed: bool, file_size: int) -> np.ndarray:
    head = _read_exactly(f, 4)
    if len(head) < 4:
        raise ValueError(f"{p}: too short to be an IDX file ({len(head)} bytes)")
    if head[0] != 0 or head[1] != 0 or head[2] not in _TYPES:
        raise ValueError(
            f"{p}: not an IDX file (magic bytes {head.hex(' ')}; expected 00 00, "
            f"a type code in {sorted(hex(t) for t in _TYPES)}, and the number of dimensions)"
        )
    dtype = _TYPES[head[2]]
    ndim = head[3]
    if ndim == 0:
        raise ValueError(f"{p}: IDX header says 0 dimensions")
    dims = _read_exactly(f, 4 * ndim)
    header = 4 + 4 * ndim
    if len(dims) < 4 * ndim:
        raise ValueError(f"{p}: truncated IDX header ({4 + len(dims)} bytes, {ndim} dimensions)")
    shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(ndim))
    # Python ints: a hostile shape such as (2**32-1, 2**32-1, 28) cannot overflow.
    expected = math.prod(shape) * dtype.itemsize
    if not compressed and file_size - header < expected:
        raise ValueError(
            f"{p}: truncated data: header announces shape {shape} ({expected:,} bytes) "
            f"but only {file_size - header:,} bytes follow"
        )
    if expected > MAX_IDX_BYTES:
        raise ValueError(
            f"{p}: header announces shape {shape}, {_megabytes(expected)} of data; "
            f"files up to {_megabytes(MAX_IDX_BYTES)} are read"
        )
    data = _read_exactly(f, expected + 1)  # one more byte tells whether anything follows
    found = len(data)
    if found < expected:
        raise ValueError(
            f"{p}: truncated data: header announces shape {shape} ({expected:,} bytes) "
            f"but only {found:,} bytes follow"
        )
    extra = file_size - header - expected if not compressed else len(data) - expected
    if extra > 0:
        what = f"{extra:,}" if not compressed else "more"
        raise ValueError(f"{p}: {what} unexpected bytes after the data of shape {shape}")
    arr = np.frombuffer(data, dtype=dtype, count=math.prod(shape)).reshape(shape)
    # Native byte order, writable copy: callers should not see IDX's big-endian types.
    return arr.astype(dtype.newbyteorder("="))


def load_idx_pair(
    images_path: str | Path, labels_path: str | Path, transpose: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Load an images file and its labels file as ``(X float32 (n, H, W) in 0..1, y int64)``.

    Images must be 3-D uint8, labels 1-D integers, with the same count. EMNIST
    stores each image transposed; pass ``transpose=True`` to get them upright.
    """
    X = read_idx(images_path)
    y = read_idx(labels_path)
    if X.ndim != 3:
        raise ValueError(f"{images_path}: expected 3-D images (n, H, W), found shape {X.shape}")
    if X.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected uint8 pixels, found {X.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{labels_path}: expected 1-D labels, found shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{labels_path}: expected integer labels, found {y.dtype}")
    if len(X) != len(y):
        raise ValueError(
            f"mismatched counts: {images_path} has {len(X)} images "
            f"but {labels_path} has {len(y)} labels"
        )
    if transpose:
        X = X.transpose(0, 2, 1)
    log.debug("loaded %d images of %s from %s", len(X), X.shape[1:], images_path)
    images = X.astype(np.float32)
    images /= 255.0  # in place: one float32 copy of the images, not two
    return images, y.astype(np.int64)
