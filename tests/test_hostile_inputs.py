"""Hostile and broken files and values: each is refused with one clear message, in
bounded time and memory, with nothing written and no traceback printed.

The hostile files are made here, small: they declare far more than they hold (an
image of 1x60000 pixels, an array of 200000x200000, 500k IDX images, a manifest that
inflates to 1.5 GB).
"""

import gzip
import io
import json
import math
import struct
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from engine import experiments
from engine.data import idx, load_csv_points, npz, read_idx
from engine.experiments import SettingError, apply_settings, files, optimizers, style, training
from engine.experiments import settings as settings_base

MB = 1 << 20
# Far above what a refusal may cost, far below what reading the declared sizes would.
MEMORY_BOUND = 200 * MB


class Bounded:
    """Measures the wall time and the peak of Python-tracked memory of a block."""

    def __enter__(self):
        tracemalloc.start()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return False


def refused(call, error=ValueError, seconds=2.0):
    """Run call(), expect `error`; check time and memory; return the message."""
    with Bounded() as cost, pytest.raises(error) as info:
        call()
    assert cost.seconds < seconds, f"took {cost.seconds:.2f} s"
    assert cost.peak < MEMORY_BOUND, f"peak {cost.peak / MB:.0f} MB"
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# ------------------------------------------------------------------------------------
# hostile files, made small


def png_bytes(width: int, height: int) -> bytes:
    """A valid PNG of mid-grey RGB pixels, written by hand (Pillow refuses such sizes).

    Its rows are all alike, so one deflated block of rows, ended by a full flush (later
    blocks never refer back past it), is repeated."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    rows_per_block = math.gcd(height, 1000)
    block_rows = (b"\x00" + b"\x80" * (3 * width)) * rows_per_block
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressor.compress(block_rows)
    compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(block_rows) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = height // rows_per_block
    adler = 1
    for _ in range(blocks):
        adler = zlib.adler32(block_rows, adler)
    pixels = b"\x78\xda" + block * blocks + compressor.flush() + struct.pack(">I", adler)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def zip_with_inflating_member(name: str, inflated: int, declared: int | None = None) -> bytes:
    """A zip whose one member, `name`, is `inflated` bytes of spaces deflated to about a
    thousandth of that; its headers declare `declared` bytes (default: the truth).

    Deflate blocks after a full flush do not refer back, so one 4 MB block is repeated.
    """
    chunk = b" " * (4 * MB)
    assert inflated % len(chunk) == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    compressor.compress(chunk)
    compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = inflated // len(chunk)
    data = block * count + compressor.flush()
    crc = 0
    if declared is None:
        declared = inflated
        for _ in range(count):
            crc = zlib.crc32(chunk, crc)
    encoded = name.encode()
    common = struct.pack("<HHHHHIIIHH", 20, 0, 8, 0, 0x21, crc, len(data), declared,
                         len(encoded), 0)
    local = struct.pack("<I", 0x04034B50) + common + encoded
    central = (struct.pack("<IH", 0x02014B50, 20) + common
               + struct.pack("<HHHII", 0, 0, 0, 0, 0) + encoded)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(data), 0)
    return local + data + central + end


def npy_header(shape, descr="<f4", fortran_order=False) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": fortran_order, "shape": tuple(shape)})
    return buffer.getvalue()


def saved_training(tmp_path):
    """A small saved Training experiment, and its manifest and state as read back."""
    config = training.Config(hidden=(8,), steps=5, snapshot_every=5)
    generator = training.run(config)
    snapshot = next(generator)
    generator.close()
    path = tmp_path / "good.vizlab"
    files.save_experiment(path, "training", config, snapshot)
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json")), archive.read("state.npz")


def write_vizlab(path, manifest, state: bytes | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        if state is not None:
            archive.writestr("state.npz", state)


def folder_listing(folder):
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------
# style images


@pytest.mark.parametrize(("width", "height", "message"), [
    (1, 60000, r"is 1x60000 pixels; an image needs at least 8 pixels on its short side"),
    (12000, 12000, r"is 12000x12000 pixels \(144.0 megapixels\); images up to 40 "
                   r"megapixels are read"),
])
def test_oversized_style_image_is_refused_by_the_cli_before_decoding(
        tmp_path, capfd, width, height, message):
    from vizlab import cli

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bytes(width, height))
    assert bomb.stat().st_size < 500_000
    before = folder_listing(tmp_path)
    with Bounded() as cost:
        code = cli.main(["screenshot", "style", "--set", f"style_path={bomb}",
                         "--out", str(tmp_path / "shot.png")])
    assert code == 2
    assert cost.seconds < 2.0 and cost.peak < MEMORY_BOUND
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("vizlab: setting 'style_path': ")
    import re

    assert re.search(message, err)
    assert folder_listing(tmp_path) == before  # no screenshot, no scratch file


def test_corrupt_style_image_gives_one_line_and_no_traceback(tmp_path, capfd, caplog):
    from vizlab import cli

    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(good)
    data = bytearray(good.read_bytes())
    data[len(data) // 2: len(data) // 2 + 200] = bytes(200)  # pixels damaged, header intact
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(bytes(data))
    before = folder_listing(tmp_path)
    code = cli.main(["screenshot", "style", "--set", f"style_path={corrupt}",
                     "--set", "size=16", "--set", "blocks=1", "--steps", "1",
                     "--out", str(tmp_path / "shot.png")])
    assert code == 2
    output = capfd.readouterr()
    lines = [ln for ln in output.err.splitlines() if "propagateSizeHints" not in ln]
    assert lines == [f"vizlab: the style experiment failed: setting 'style_path': cannot "
                     f"read {str(corrupt)!r} as an image (broken data stream when reading "
                     f"image file)"]
    assert "Traceback" not in output.out + output.err
    assert not [r for r in caplog.records if r.exc_info]
    assert folder_listing(tmp_path) == before


def test_missing_style_image_is_refused_when_set(tmp_path):
    config = style.Config()
    message = refused(lambda: apply_settings(config, {"style_path": str(tmp_path / "no.png")}),
                      SettingError)
    assert message == f"setting 'style_path': no such file: {str(tmp_path / 'no.png')!r}"
    assert config.style_path == ""  # nothing changed


@pytest.mark.parametrize("kind", ["grey", "grey_alpha", "rgba", "grey16", "palette", "cmyk"])
def test_style_images_of_every_common_mode_load_as_rgb(tmp_path, kind):
    """A half-black, half-white picture in each mode reads as the same RGB picture;
    transparent parts are white."""
    left_dark = np.zeros((40, 40), np.uint8)
    left_dark[:, 20:] = 255
    if kind == "grey":
        im = Image.fromarray(left_dark, "L")
    elif kind == "grey_alpha":
        im = Image.merge("LA", [Image.fromarray(left_dark), Image.new("L", (40, 40), 255)])
    elif kind == "rgba":  # the right half is transparent black: shown on white
        rgba = np.zeros((40, 40, 4), np.uint8)
        rgba[:, :20, 3] = 255
        im = Image.fromarray(rgba, "RGBA")
    elif kind == "grey16":
        im = Image.fromarray(left_dark.astype(np.uint16) * 257)
    elif kind == "palette":
        im = Image.fromarray(left_dark, "L").convert("P")
    else:
        im = Image.fromarray(np.stack([left_dark] * 3, -1), "RGB").convert("CMYK")
    path = tmp_path / ("image.jpg" if kind == "cmyk" else "image.png")
    im.save(path, quality=100) if kind == "cmyk" else im.save(path)
    image = style.load_image(path, 16)
    assert image.shape == (16, 16, 3) and image.dtype == np.float64
    np.testing.assert_allclose(image[:, :6], 0.0, atol=0.03)
    np.testing.assert_allclose(image[:, 10:], 1.0, atol=0.03)


def test_exif_rotated_jpeg_is_read_upright(tmp_path):
    """A camera's portrait photo: stored on its side, EXIF orientation 6 (turn 90
    degrees clockwise to show). Stored: dark left half -> shown: dark top half."""
    stored = np.full((48, 48, 3), 255, np.uint8)
    stored[:, :24] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    image = style.load_image(path, 16)
    assert image[:6].mean() < 0.05 and image[10:].mean() > 0.95


def test_large_jpeg_is_decoded_reduced(tmp_path):
    """8000x6000 (48 megapixels, over the limit at full size) reads at 1/8 scale."""
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (8000, 6000), (200, 30, 30)).save(path, quality=80)
    with Bounded() as cost:
        image = style.load_image(path, 96)
    assert image.shape == (96, 96, 3)
    np.testing.assert_allclose(image.mean(axis=(0, 1)), np.array([200, 30, 30]) / 255, atol=0.02)
    assert cost.peak < 20 * MB  # 1000x750 decoded, not 8000x6000 (144 MB)


# ------------------------------------------------------------------------------------
# style weights


def vgg_block1(rng, kernel=None):
    return [kernel if kernel is not None else rng.normal(0, 0.1, (3, 3, 3, 64)),
            np.zeros(64), rng.normal(0, 0.1, (3, 3, 64, 64)), np.zeros(64)]


def test_weights_full_of_nan_are_refused_naming_the_array(tmp_path):
    rng = np.random.default_rng(0)
    arrays = vgg_block1(rng)
    arrays[2] = np.full((3, 3, 64, 64), np.nan)
    path = tmp_path / "vgg.npz"
    np.savez(path, *arrays)
    message = refused(lambda: style.load_vgg16_npz(path, 1), SettingError)
    assert message == ("setting 'weights_path': arr_2 (conv1_2 kernel) in vgg.npz holds "
                       "36864 NaN or infinite values")


@pytest.mark.parametrize(("content", "message"), [
    (b"this is not a weights file\n" * 40,
     "setting 'weights_path': vgg.npz is not an .npz archive of arrays (not a zip file)"),
    (b"\x93NUMPY" + b"\x00" * 100,
     "setting 'weights_path': vgg.npz is a single .npy array, not an .npz archive of arrays"),
])
def test_garbage_weights_file_is_called_not_an_npz(tmp_path, content, message):
    path = tmp_path / "vgg.npz"
    path.write_bytes(content)
    assert refused(lambda: style.load_vgg16_npz(path, 1), SettingError) == message


def test_weights_declaring_a_huge_kernel_are_refused_from_the_header(tmp_path):
    path = tmp_path / "vgg.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("arr_0.npy", npy_header((3, 3, 3, 2_000_000_000)) + bytes(64))
        archive.writestr("arr_1.npy", npy_header((64,)) + bytes(256))
    message = refused(lambda: style.load_vgg16_npz(path, 1), SettingError)
    assert "2000000000" in message and "(3, 3, 3, 64)" in message


def test_weights_holding_objects_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "vgg.npz"
    np.savez(path, np.array([{"a": 1}], dtype=object))
    message = refused(lambda: style.load_vgg16_npz(path, 1), SettingError)
    assert message == ("setting 'weights_path': vgg.npz: array 'arr_0' holds object "
                       "values, not plain numbers")


# ------------------------------------------------------------------------------------
# .vizlab files


def test_state_declaring_a_200000_square_array_is_refused(tmp_path):
    manifest, _ = saved_training(tmp_path)
    state = io.BytesIO()
    with zipfile.ZipFile(state, "w") as archive:
        archive.writestr("dense_1/kernel.npy", npy_header((200000, 200000)) + bytes(64))
    path = tmp_path / "huge.vizlab"
    write_vizlab(path, manifest, state.getvalue())
    message = refused(lambda: files.load_experiment(path))
    assert message == ("huge.vizlab: the saved dense_1/kernel has shape (200000, 200000), "
                       "the network needs (2, 8)")


def test_state_array_holding_less_than_it_declares_is_refused(tmp_path):
    manifest, state = saved_training(tmp_path)
    with zipfile.ZipFile(io.BytesIO(state)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    entries["dense_1/kernel.npy"] = npy_header((2, 8)) + bytes(20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    path = tmp_path / "short.vizlab"
    write_vizlab(path, manifest, buffer.getvalue())
    message = refused(lambda: files.load_experiment(path))
    assert message == ("short.vizlab: the saved weights: array 'dense_1/kernel' declares "
                       "shape (2, 8) of float32 (64 bytes) but its entry holds 20 bytes of "
                       "data")


def test_state_array_of_the_wrong_shape_is_refused_before_it_is_read(tmp_path, monkeypatch):
    manifest, state = saved_training(tmp_path)
    arrays = npz.read_npz(state, max_bytes=MB)
    arrays["dense_1/kernel"] = np.zeros((2000, 3000), np.float32)  # 24 MB, 2 x 8 wanted
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = tmp_path / "wrong.vizlab"
    write_vizlab(path, manifest, buffer.getvalue())
    read = []
    monkeypatch.setattr(np.lib.format, "read_array", lambda *a, **k: read.append(a))
    message = refused(lambda: files.load_experiment(path))
    assert message == ("wrong.vizlab: the saved dense_1/kernel has shape (2000, 3000), "
                       "the network needs (2, 8)")
    assert read == []  # not one array was read


def test_manifest_inflating_to_1_5_gb_is_refused_from_its_size(tmp_path):
    path = tmp_path / "bomb.vizlab"
    path.write_bytes(zip_with_inflating_member("manifest.json", 1440 * MB))
    assert path.stat().st_size < 2 * MB
    message = refused(lambda: files.load_experiment(path), seconds=0.5)
    assert message == ("bomb.vizlab: manifest.json unpacks to 1,509,949,440 bytes; the "
                       "limit is 1,048,576 bytes")


def test_manifest_lying_about_its_size_is_read_no_further_than_declared(tmp_path):
    path = tmp_path / "liar.vizlab"
    path.write_bytes(zip_with_inflating_member("manifest.json", 1440 * MB, declared=100))
    message = refused(lambda: files.load_experiment(path), seconds=0.5)
    # zipfile stops at the declared size, where the checksum tells the lie.
    assert message == ("liar.vizlab: manifest.json is damaged (Bad CRC-32 for file "
                       "'manifest.json')")


@pytest.mark.parametrize(("settings_", "message"), [
    ({"hidden": [[1, 2], {"a": 1}]}, "setting 'hidden': each value must be a number, got [1, 2]"),
    ({"hidden": [16, 2.5]}, "setting 'hidden': each value must be a whole number, got 2.5"),
    ({"hidden": [8] * 65}, "setting 'hidden' has 65 values; the limit is 64"),
    ({"csv_path": 3.5}, "setting 'csv_path': the value must be text, got float 3.5"),
    ({"steps": 10**30}, "setting 'steps': the value must be at most 10000000, got "
                        "1000000000000000000000000000000"),
    ({"learning_rate": float("nan")}, "setting 'learning_rate': the value must be a finite "
                                      "number, got nan"),
    ({"activations": {"relu": 1}}, "setting 'activations' must be a list of values, got "
                                   "{'relu': 1}"),
    ({"no_such": 1}, "unknown setting 'no_such'; the settings are: dataset, "),
    # every width in range, but together a network of 1.1 billion weights
    ({"hidden": [4096] * 64}, "hidden 4096,4096,"),
])
def test_manifest_settings_are_validated_at_open(tmp_path, settings_, message):
    manifest, state = saved_training(tmp_path)
    manifest["settings"].update(settings_)
    path = tmp_path / "bad.vizlab"
    write_vizlab(path, manifest, state)
    got = refused(lambda: files.load_experiment(path))
    assert got.startswith("bad.vizlab: " + message)


def test_manifest_asking_for_a_huge_network_is_refused_without_allocating(tmp_path):
    manifest, state = saved_training(tmp_path)
    manifest["settings"].update(hidden=[4096] * 64)
    path = tmp_path / "huge.vizlab"
    write_vizlab(path, manifest, state)
    tracemalloc.start()
    try:
        message = refused(lambda: files.load_experiment(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "the limit is 20,000,000" in message
    assert peak < 20 * 2**20


def test_manifest_values_come_back_in_the_settings_types(tmp_path):
    manifest, state = saved_training(tmp_path)
    manifest["settings"].update(hidden=[8.0], steps=7.0, learning_rate=1)
    manifest["written_by"] = "a future tool"  # extra top-level keys are ignored
    path = tmp_path / "ok.vizlab"
    write_vizlab(path, manifest, state)
    saved = files.load_experiment(path)
    assert saved.settings["hidden"] == (8,) and type(saved.settings["hidden"][0]) is int
    assert saved.settings["steps"] == 7 and type(saved.settings["steps"]) is int
    assert type(saved.settings["learning_rate"]) is float


def test_saving_over_a_file_that_fails_leaves_the_old_file(tmp_path):
    manifest, state = saved_training(tmp_path)
    path = tmp_path / "run.vizlab"
    write_vizlab(path, manifest, state)
    original = path.read_bytes()

    def fail(_file):
        raise OSError("No space left on device")

    with pytest.raises(OSError):
        files.write_atomically(path, fail)
    assert path.read_bytes() == original and folder_listing(tmp_path) == [
        "good.vizlab", "run.vizlab"]


# ------------------------------------------------------------------------------------
# IDX files


def test_idx_declaring_dims_of_2_to_the_32_is_refused_without_overflow(tmp_path):
    path = tmp_path / "images.idx"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">III", 2**32 - 1, 2**32 - 1, 28)
                     + bytes(16))
    assert path.stat().st_size == 32
    message = refused(lambda: read_idx(path), seconds=0.5)
    expected = (2**32 - 1) ** 2 * 28
    assert message == (f"{path}: truncated data: header announces shape (4294967295, "
                       f"4294967295, 28) ({expected:,} bytes) but only 16 bytes follow")


def test_small_gzip_idx_declaring_500k_images_is_not_unpacked(tmp_path):
    path = tmp_path / "images.idx.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">III", 500_000, 28, 28))
        f.write(bytes(4 * MB))  # then it simply ends: what follows need never be read
    message = refused(lambda: read_idx(path), seconds=0.5)
    assert message == (f"{path}: header announces shape (500000, 28, 28), 392 MB of data; "
                       f"files up to {idx.MAX_IDX_BYTES // 1_000_000} MB are read")


def test_gzip_idx_with_more_data_than_declared_is_read_only_one_byte_past(tmp_path):
    path = tmp_path / "labels.idx.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + bytes(10))
        for _ in range(64):
            f.write(bytes(4 * MB))  # 256 MB more than declared
    message = refused(lambda: read_idx(path), seconds=0.5)
    assert message == f"{path}: more unexpected bytes after the data of shape (10,)"


# ------------------------------------------------------------------------------------
# CSV points


def test_csv_of_5000_classes_of_one_point_says_so(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("".join(f"{i * 0.1},{i * 0.2},{i}\n" for i in range(5000)))
    message = refused(lambda: load_csv_points(path))
    assert message == (f"{path}: 5,000 different labels (classes) for 5,000 points; up to "
                       f"100 classes are read, each needing several points")
    assert "test_fraction" not in message


def test_csv_with_too_few_points_per_class_says_so_not_test_fraction(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("".join(f"{i * 0.1},{i * 0.2},{i // 2}\n" for i in range(60)))
    config = training.Config(dataset="csv", csv_path=str(path))
    message = refused(lambda: training.load_data(config))
    assert message == ("too few points per class to split into training and test parts: "
                       "60 points in 30 classes, the largest with 2 point(s), so the test "
                       "part would be empty; each class needs at least 3 points (or fewer "
                       "classes)")


# ------------------------------------------------------------------------------------
# values given through the engine API


@pytest.mark.parametrize("value", [1.5, None, [0], {"path": "x"}, b"bytes"])
def test_text_settings_refuse_other_types_with_a_setting_error(value):
    config = optimizers.Config()
    message = refused(lambda: apply_settings(config, {"emnist_labels": value}), SettingError)
    assert message.startswith("setting 'emnist_labels': the value must be text, got ")
    assert config.emnist_labels == ""


def test_bool_and_choice_settings_refuse_other_types():
    with pytest.raises(SettingError, match="'shared_mask': the value must be true or false"):
        apply_settings(experiments.get("dropout").Config(), {"shared_mask": 2})
    with pytest.raises(SettingError, match="'dataset': the value must be text, got list"):
        apply_settings(training.Config(), {"dataset": ["spiral"]})
    with pytest.raises(SettingError, match="'dataset': 'nope' is not one of spiral, "):
        apply_settings(training.Config(), {"dataset": "nope"})


# ------------------------------------------------------------------------------------
# fuzzing: a clean refusal or a good result, never another exception

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)
FUZZED_LABS = [name for name in experiments.LAB_NAMES]


@st.composite
def manifests(draw):
    lab = draw(st.sampled_from(FUZZED_LABS))
    names = [info.name for info in settings_base.settings_of(experiments.get(lab).Config)]
    settings_ = draw(st.dictionaries(st.sampled_from(names) | st.text(max_size=8),
                                     json_values, max_size=4))
    manifest = {"format": "vizlab-experiment", "version": 1, "lab": lab,
                "step": draw(st.integers(0, 100) | json_values), "settings": settings_}
    if draw(st.booleans()):  # sometimes damage the manifest's own fields
        key = draw(st.sampled_from(["format", "version", "lab", "settings"]))
        manifest[key] = draw(json_values)
    return manifest


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(manifest=manifests())
def test_fuzzed_manifests_are_loaded_or_refused_cleanly(tmp_path, manifest):
    path = tmp_path / "fuzz.vizlab"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
    try:
        saved = files.load_experiment(path)
    except ValueError as exc:
        assert str(exc).startswith("fuzz.vizlab")
        return
    config = experiments.get(saved.lab).Config()
    apply_settings(config, saved.settings)  # what was accepted is a valid config


dtypes = st.sampled_from(["<f4", "<f8", ">f4", "<i8", "|u1", "|b1", "<c16", "|O", "<U4",
                          "|V8", "|S3", "<m8[s]", "<f2"])


@settings(max_examples=150, deadline=None)
@given(shape=st.lists(st.integers(0, 2**40), max_size=4), descr=dtypes,
       fortran=st.booleans(), data_length=st.integers(0, 64), cap=st.integers(0, 4096))
def test_fuzzed_npz_headers_are_read_or_refused_cleanly(shape, descr, fortran,
                                                        data_length, cap):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.npy", npy_header(shape, descr, fortran) + bytes(data_length))
    declared = math.prod(shape) * np.dtype(descr).itemsize
    with Bounded() as cost:
        try:
            arrays = npz.read_npz(buffer.getvalue(), "fuzz.npz", max_bytes=cap)
        except ValueError as exc:
            assert str(exc).startswith("fuzz.npz")
            arrays = None
    assert cost.peak < 4 * MB
    if arrays is not None:
        assert arrays["a"].shape == tuple(shape) and declared == data_length <= cap
        assert np.dtype(descr).kind in "biuf"


@pytest.mark.parametrize("lab", ["training", "dropout", "regularization", "style"])
def test_an_experiment_saved_before_its_first_step_opens_again(tmp_path, lab):
    """Saved with no snapshot (no weights yet): the file holds the settings alone and
    opens as such, with no state to restore."""
    module = experiments.get(lab)
    config = module.Config()
    path = tmp_path / f"{lab}.vizlab"
    files.save_experiment(path, lab, config)
    saved = files.load_experiment(path)
    assert saved.lab == lab and saved.state is None and saved.step == 0
    assert saved.settings == {info.name: getattr(config, info.name)
                              for info in settings_base.settings_of(config)}
