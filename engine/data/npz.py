"""Reading a user's `.npz` archive of arrays without trusting it.

Each array's `.npy` header (shape and type) is read first, and checked against a size
cap and the caller's expectations, before any data is read; pickled objects are never
loaded. Whatever is wrong comes back as one ValueError that says what.
"""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["ArrayHeader", "read_npz", "read_npz_headers"]

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # an archive with members; an empty one
NPY_MAGIC = b"\x93NUMPY"
MAX_MEMBERS = 10_000
# Errors that a damaged or hostile archive raises from zipfile, zlib and numpy.
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error,
                RuntimeError, NotImplementedError)


@dataclasses.dataclass(frozen=True)
class ArrayHeader:
    """What an array's `.npy` header declares, before its data is read."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool

    @property
    def nbytes(self) -> int:
        # Python ints: a hostile shape cannot overflow.
        return math.prod(self.shape) * self.dtype.itemsize

    def placeholder(self) -> np.ndarray:
        """An array of the declared shape and type that takes no memory (for shape checks)."""
        return np.broadcast_to(np.zeros((), self.dtype), self.shape)


def _source_bytes_head(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:8])
    with open(source, "rb") as f:
        return f.read(8)


def _open_archive(source: str | Path | bytes, label: str) -> zipfile.ZipFile:
    head = _source_bytes_head(source)
    if head.startswith(NPY_MAGIC):
        raise ValueError(f"{label} is a single .npy array, not an .npz archive of arrays")
    if not head.startswith(ZIP_MAGICS):
        raise ValueError(f"{label} is not an .npz archive of arrays (not a zip file)")
    target = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) \
        else source
    try:
        return zipfile.ZipFile(target)
    except _READ_ERRORS as exc:
        raise ValueError(f"{label} is not a readable .npz archive ({exc})") from None


def _member_key(info: zipfile.ZipInfo, label: str) -> str:
    if not info.filename.endswith(".npy"):
        raise ValueError(f"{label} holds {info.filename!r}, which is not a .npy array; "
                         f"an .npz archive holds only arrays")
    return info.filename[: -len(".npy")]


def _read_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str,
                 label: str) -> tuple[ArrayHeader, int]:
    """The member's declared array, and the length of its header in bytes."""
    with archive.open(info) as f:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = npy_format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{label}: array {key!r} has .npy format version {version}, "
                             f"which this reader does not take")
        # The stream position is the header length: the data starts right after it.
        header_length = f.tell()
    return ArrayHeader(key, tuple(int(d) for d in shape), np.dtype(dtype),
                       bool(fortran_order)), header_length


def read_npz_headers(source: str | Path | bytes, label: str = "the file", *,
                     kinds: str = "biuf") -> dict[str, ArrayHeader]:
    """Every array's declared shape and type, by name, reading no array data.

    `kinds`: the numpy dtype kinds allowed (b bool, i/u integers, f floats, c complex).
    ValueError when the archive is damaged, holds anything but plain arrays, or an
    array of another kind.
    """
    with _open_archive(source, label) as archive:
        headers, members = _headers(archive, label, kinds)
        for name in headers:
            _check_length(headers[name], members[name], label)
        return headers


def _headers(archive: zipfile.ZipFile, label: str, kinds: str
             ) -> tuple[dict[str, ArrayHeader], dict[str, tuple[zipfile.ZipInfo, int]]]:
    """Headers by name, and each array's zip entry and header length."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"{label} holds {len(infos)} entries; the limit is {MAX_MEMBERS}")
    headers: dict[str, ArrayHeader] = {}
    members: dict[str, tuple[zipfile.ZipInfo, int]] = {}
    for info in infos:
        key = _member_key(info, label)
        try:
            header, header_length = _read_header(archive, info, key, label)
        except _READ_ERRORS as exc:
            raise ValueError(f"{label}: array {key!r} is damaged ({exc})") from None
        if header.dtype.hasobject or header.dtype.kind not in kinds:
            raise ValueError(f"{label}: array {key!r} holds {header.dtype} values, not "
                             f"plain numbers")
        headers[key], members[key] = header, (info, header_length)
    return headers, members


def _check_length(header: ArrayHeader, member: tuple[zipfile.ZipInfo, int],
                  label: str) -> None:
    """The entry must hold exactly the data its header declares."""
    info, header_length = member
    if info.file_size != header_length + header.nbytes:
        raise ValueError(
            f"{label}: array {header.name!r} declares shape {header.shape} of "
            f"{header.dtype} ({header.nbytes:,} bytes) but its entry holds "
            f"{info.file_size - header_length:,} bytes of data")


def read_npz(source: str | Path | bytes, label: str = "the file", *,
             max_bytes: int, kinds: str = "biuf",
             check: Callable[[dict[str, ArrayHeader]], None] | None = None,
             names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz archive, by name, after checking what their headers declare.

    max_bytes: the most the arrays read may take together; refused beyond it.
    check: called with every header before any data is read; raises ValueError to refuse.
    names: read only these arrays (the others are checked, not read); None: all.
    ValueError, saying what is wrong, for a damaged, foreign or oversized archive.
    """
    with _open_archive(source, label) as archive:
        headers, members = _headers(archive, label, kinds)
        if check is not None:
            check(headers)
        wanted = list(headers) if names is None else [n for n in names if n in headers]
        for name in wanted:
            _check_length(headers[name], members[name], label)
        total = sum(headers[n].nbytes for n in wanted)
        if total > max_bytes:
            biggest = max(wanted, key=lambda n: headers[n].nbytes)
            raise ValueError(
                f"{label}: its arrays take {total:,} bytes (the largest, {biggest!r}, has "
                f"shape {headers[biggest].shape}); the limit is {max_bytes:,} bytes")
        arrays = {}
        for name in wanted:
            try:
                with archive.open(members[name][0]) as f:
                    arrays[name] = npy_format.read_array(f, allow_pickle=False)
            except _READ_ERRORS as exc:
                raise ValueError(f"{label}: array {name!r} is damaged ({exc})") from None
        return arrays
