"""Reader for IDX files (MNIST, EMNIST, Fashion-MNIST) that a user has downloaded.

IDX layout: two zero bytes, a type code, the number of dimensions, then each
dimension as a big-endian uint32, then the data in C order, big-endian.
Files may be gzip-compressed (as distributed) or raw; the first bytes decide.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from pathlib import Path

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


def _read_bytes(p: Path) -> bytes:
    if not p.exists():
        raise ValueError(f"{p}: no such file")
    if not p.is_file():
        raise ValueError(f"{p}: not a file")
    raw = p.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{p}: gzip data is corrupt or truncated ({exc})") from exc
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip or raw) into an array of its stored shape and type.

    Raises ValueError naming the file when it is missing, is not an IDX file,
    or holds more or fewer data bytes than its header announces.
    """
    p = Path(path)
    data = _read_bytes(p)
    if len(data) < 4:
        raise ValueError(f"{p}: too short to be an IDX file ({len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise ValueError(
            f"{p}: not an IDX file (magic bytes {data[:4].hex(' ')}; expected 00 00, "
            f"a type code in {sorted(hex(t) for t in _TYPES)}, and the number of dimensions)"
        )
    dtype = _TYPES[data[2]]
    ndim = data[3]
    if ndim == 0:
        raise ValueError(f"{p}: IDX header says 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{p}: truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise ValueError(
            f"{p}: truncated data: header announces shape {shape} ({expected} bytes) "
            f"but only {found} bytes follow"
        )
    if found > expected:
        raise ValueError(
            f"{p}: {found - expected} unexpected bytes after the data of shape {shape}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
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
    return (X.astype(np.float32) / 255.0), y.astype(np.int64)
