"""Pretrained VGG16 weights: where they are kept, reading Keras' own file, fetching it.

The file is Keras' `vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`, the one
`keras.applications.VGG16(include_top=False)` caches in `~/.keras/models/`. vizlab finds
it there or in its own cache folder, and can download it from Keras' official location
into the cache folder (standard library only: resumable, md5-checked, never a partial
file under the final name).

The file's layout (Keras' legacy HDF5 weights format): the root attribute `layer_names`
lists the layers (input_1, block1_conv1, block1_conv2, block1_pool, ...); each layer is a
group whose attribute `weight_names` lists its datasets, for a conv layer
`block1_conv1_W_1:0` (the kernel, HWIO float32, (3, 3, 3, 64)) and `block1_conv1_b_1:0`
(the bias, (64,)). Reading it needs h5py (the `vizlab[weights]` extra).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
# keras.applications.vgg16.WEIGHTS_PATH_NO_TOP, and the md5 Keras checks it against.
VGG16_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
             + VGG16_FILE)
VGG16_MD5 = "6d6bbae143d832006294945121d1f1fc"
VGG16_MEGABYTES = 59  # about; the progress bar's scale when a server sends no length
# Keras VGG16, include_top=False: conv widths per block; a 2x2 max-pool ends each block.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
# A download growing past this is not the file asked for: stop before the disk fills.
MAX_DOWNLOAD_BYTES = 200_000_000
KNOWN = {"vgg16": (VGG16_FILE, VGG16_URL, VGG16_MD5)}


class DownloadError(Exception):
    """A download that did not end with the checked file in place; the message says why
    and what to do."""


class DownloadCancelled(DownloadError):
    """The user cancelled; the partial file stays for a later resume."""


# ----------------------------------------------------------------------------------
# where the files are


def cache_dir() -> Path:
    """vizlab's cache folder (VIZLAB_CACHE_DIR, else the system's user cache folder)."""
    override = os.environ.get("VIZLAB_CACHE_DIR", "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vizlab"))


def keras_models_dir() -> Path:
    """Where Keras caches application weights: $KERAS_HOME/models, else ~/.keras/models."""
    home = os.environ.get("KERAS_HOME", "").strip()
    return (Path(home).expanduser() if home else Path.home() / ".keras") / "models"


def candidate_paths(name: str = "vgg16") -> list[Path]:
    """The places a weights file is looked for, in order: vizlab's cache, then Keras'."""
    filename = KNOWN[name][0]
    return [cache_dir() / filename, keras_models_dir() / filename]


def find_weights(name: str = "vgg16") -> Path | None:
    """The first existing file among candidate_paths, or None."""
    for path in candidate_paths(name):
        if path.is_file():
            return path
    return None


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def manual_hint(name: str = "vgg16") -> str:
    """Where to put a file the user has (or fetched elsewhere)."""
    filename, url, _ = KNOWN[name]
    return (f"To install it by hand, download {url} (on any machine) and put it at "
            f"{cache_dir() / filename} or {keras_models_dir() / filename}.")


# ----------------------------------------------------------------------------------
# reading Keras' .h5 file


def keras_layer_name(name: str) -> str:
    """conv4_2 -> block4_conv2 (Keras' name for the layer)."""
    block, conv = name[len("conv"):].split("_")
    return f"block{block}_conv{conv}"


def read_keras_vgg16_h5(path: str | Path, layers: Sequence[str],
                        widths: Sequence[int] | None = None
                        ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{conv1_1: (kernel HWIO, bias), ...} for `layers` (in VGG16 order, from conv1_1)
    from Keras' VGG16 weights file. `widths`: each layer's output channels (VGG16's by
    default); every shape is checked against them before its data is read.

    ValueError naming the layer when the file is not HDF5, a layer or dataset is
    missing, a shape or type is wrong, data is damaged or truncated, or values are not
    finite. ImportError with the extra to install when h5py is missing."""
    try:
        import h5py
    except ImportError:
        raise ImportError("reading Keras' .h5 weights needs h5py: "
                          "pip install 'vizlab[weights]' (or pip install h5py)") from None
    path = Path(path)
    if widths is None:
        widths = [w for block in VGG16_BLOCKS for w in block][:len(layers)]
    size = path.stat().st_size
    padded = None
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        if "truncated" not in str(exc):
            raise ValueError(f"{path.name} is not a readable HDF5 file ({exc})") from None
        # A cut-off download: read what is there (zeros past the end), to name the
        # first layer whose data is missing.
        padded = _PaddedFile(path)
        try:
            f = h5py.File(padded, "r")
        except OSError as exc2:
            padded.close()
            raise ValueError(f"{path.name} is truncated and unreadable ({exc2})") from None
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with f:
            root = f["model_weights"] if "model_weights" in f else f  # a whole model
            cin = 3
            for name, cout in zip(layers, widths, strict=True):
                try:
                    out[name] = _read_conv(root, path.name, name, (3, 3, cin, cout),
                                           (cout,), size)
                except ValueError as exc:
                    if padded is None:
                        raise
                    raise ValueError(
                        f"{path.name}: layer {keras_layer_name(name)} ({name}) is cut "
                        f"off: the file is truncated at {size:,} bytes; download it "
                        f"again ({exc})") from None
                cin = cout
    finally:
        if padded is not None:
            padded.close()
    if padded is not None:  # every layer asked for was whole: still a damaged file
        raise ValueError(f"{path.name} is truncated ({size:,} bytes): download it again")
    return out


class _PaddedFile(io.RawIOBase):
    """A file read as if it went on with zeros (up to 4 GB): lets HDF5 open a truncated
    file so that the missing parts can be named."""

    LENGTH = 1 << 32

    def __init__(self, path: Path) -> None:
        self.file = open(path, "rb")
        self.size = path.stat().st_size
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self.pos, self.LENGTH)[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self.LENGTH - self.pos))
        self.file.seek(self.pos)
        got = self.file.readinto(view[:n]) or 0
        view[got:n] = bytes(n - got)
        self.pos += n
        return n

    def close(self) -> None:
        self.file.close()
        super().close()


def _read_conv(root, filename: str, name: str, kernel_shape: tuple[int, ...],
               bias_shape: tuple[int, ...], file_size: int
               ) -> tuple[np.ndarray, np.ndarray]:
    layer = keras_layer_name(name)
    where = f"{filename}: layer {layer} ({name})"
    try:
        group = root.get(layer)
    except (OSError, KeyError, RuntimeError) as exc:
        raise ValueError(f"{where} is damaged ({exc})") from None
    if group is None or not hasattr(group, "attrs"):
        raise ValueError(f"{where} is missing: this is not Keras' VGG16 weights file")
    try:
        names = [n.decode("utf8") if isinstance(n, bytes) else str(n)
                 for n in group.attrs.get("weight_names", [])]
    except (OSError, KeyError, RuntimeError) as exc:
        raise ValueError(f"{where} is damaged ({exc})") from None
    if not names:  # Keras' own names in this file
        names = [f"{layer}_W_1:0", f"{layer}_b_1:0"]
    if len(names) != 2:
        raise ValueError(f"{where} holds {len(names)} weights ({', '.join(names)}); "
                         f"a conv layer has a kernel and a bias")
    arrays = []
    for weight, shape, what in zip(names, (kernel_shape, bias_shape), ("kernel", "bias")):
        try:
            data = group.get(weight)
        except (OSError, KeyError, RuntimeError) as exc:
            raise ValueError(f"{where}: its {what} is damaged ({exc})") from None
        if data is None or not hasattr(data, "shape"):
            raise ValueError(f"{where} has no {what} dataset {weight!r}")
        if tuple(data.shape) != shape:
            raise ValueError(f"{where}: the {what} has shape {tuple(data.shape)}, VGG16 "
                             f"needs {shape}")
        if data.dtype.kind != "f":
            raise ValueError(f"{where}: the {what} holds {data.dtype} values, not floats")
        offset = data.id.get_offset()  # None unless stored in one contiguous piece
        if offset is not None and offset + data.id.get_storage_size() > file_size:
            raise ValueError(f"{where}: its {what} lies past the end of the file "
                             f"({file_size:,} bytes): the file is truncated; download "
                             f"it again")
        try:
            value = np.asarray(data[()], dtype=np.float32)
        except (OSError, ValueError, RuntimeError) as exc:  # truncated or corrupt data
            raise ValueError(f"{where}: its {what} cannot be read; the file is damaged "
                             f"or truncated ({exc})") from None
        if not np.isfinite(value).all():
            raise ValueError(f"{where}: the {what} holds NaN or infinite values")
        arrays.append(value)
    return arrays[0], arrays[1]


def write_keras_vgg16_h5(path: str | Path, weights: dict[str, tuple[np.ndarray, np.ndarray]],
                         blocks: int = 5) -> None:
    """Write weights {conv1_1: (kernel, bias), ...} in the layout of Keras' VGG16 notop
    file (layer_names with inputs and pools, weight_names, `*_W_1:0` / `*_b_1:0`
    float32 datasets). For tests and for converting other weights; needs h5py."""
    import h5py

    layer_names = ["input_1"]
    for b in range(blocks):
        layer_names += [f"block{b + 1}_conv{c + 1}" for c in range(len(VGG16_BLOCKS[b]))]
        layer_names.append(f"block{b + 1}_pool")
    with h5py.File(path, "w") as f:
        # Fixed-length byte strings, as Keras writes them (np.array of bytes).
        f.attrs["layer_names"] = np.array([n.encode("utf8") for n in layer_names])
        for layer in layer_names:
            group = f.create_group(layer)
            if "_conv" not in layer:
                group.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            name = "conv" + layer[len("block"):].replace("_conv", "_")
            kernel, bias = weights[name]
            w_name, b_name = f"{layer}_W_1:0", f"{layer}_b_1:0"
            group.attrs["weight_names"] = np.array([w_name.encode(), b_name.encode()])
            group.create_dataset(w_name, data=np.asarray(kernel, dtype=np.float32))
            group.create_dataset(b_name, data=np.asarray(bias, dtype=np.float32))


# ----------------------------------------------------------------------------------
# downloading


Progress = Callable[[int, int | None], None]


def download(dest: str | Path, url: str = VGG16_URL, md5: str = VGG16_MD5, *,
             progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
             timeout: float = 30.0, chunk: int = 1 << 16,
             max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Download `url` to `dest`, through `dest`.part: a partial file left by an earlier
    attempt is resumed (HTTP Range), the whole is checked against `md5`, and only then
    renamed to `dest`. `progress(done, total or None)` after each chunk; `cancelled()`
    True stops the download (DownloadCancelled; the .part stays to resume).

    DownloadError with a message saying what happened and what to do otherwise."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the folder {dest.parent} ({exc})") from None
    for attempt in range(2):
        have = part.stat().st_size if part.is_file() else 0
        status = _fetch(url, md5, part, have, progress, cancelled, timeout, chunk,
                        max_bytes)
        if status == "restart" and attempt == 0:
            part.unlink(missing_ok=True)  # a stale partial file the server cannot extend
            continue
        break
    got = file_md5(part)
    if got != md5.lower():
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"the downloaded file's md5 is {got}, not the expected {md5}: it was damaged "
            f"on the way (or the server sent another file), so it was deleted. Run the "
            f"download again. " + _manual(url, dest))
    os.replace(part, dest)
    return dest


def _manual(url: str, dest: Path) -> str:
    return f"Or download {url} yourself and put it at {dest}."


def _fetch(url: str, md5: str, part: Path, have: int, progress: Progress | None,
           cancelled: Callable[[], bool] | None, timeout: float, chunk: int,
           max_bytes: int) -> str:
    """Append the rest of `url` to `part` (from byte `have`). "done", or "restart" when
    the partial file cannot be resumed."""
    host = urlsplit(url).netloc or url
    headers = {"User-Agent": "vizlab"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the range starts at or past the end: whole?
            return "done" if file_md5(part) == md5.lower() else "restart"
        raise DownloadError(f"the server {host} answered {exc.code} {exc.reason} for "
                            f"{url}. " + _manual(url, part.with_suffix(""))) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {host} ({reason}): is this machine offline? "
            + _manual(url, part.with_suffix(""))) from None
    with response:
        resumed = have and response.status == 206
        if have and not resumed:
            have = 0  # the server sent the whole file: start the partial file afresh
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise DownloadError(f"{url} is {total:,} bytes, more than the "
                                f"{max_bytes:,} expected: not downloaded")
        done = have
        try:
            with open(part, "ab" if resumed else "wb") as out:
                if progress is not None:
                    progress(done, total)
                while True:
                    if cancelled is not None and cancelled():
                        raise DownloadCancelled(
                            f"download cancelled at {done / 1e6:.1f} MB; the partial file "
                            f"{part} is kept, and the next download resumes it")
                    block = response.read(chunk)
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    if done > max_bytes:
                        raise DownloadError(f"{url} sent more than {max_bytes:,} bytes: "
                                            f"not the file expected; stopped")
                    if progress is not None:
                        progress(done, total)
        except DownloadError:
            raise
        except (TimeoutError, OSError, ValueError, http.client.HTTPException) as exc:
            raise DownloadError(f"the download from {host} broke off at "
                                f"{done / 1e6:.1f} MB ({exc}); run it again to resume "
                                f"from there") from None
    if total is not None and done < total:
        raise DownloadError(f"the download from {host} broke off at {done / 1e6:.1f} of "
                            f"{total / 1e6:.1f} MB; run it again to resume from there")
    return "done"
