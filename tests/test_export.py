"""Exports: atomic writing, screenshots, single plots, and GIF / APNG recordings.

Every test checks what a user would get: the files written (size, frame count, pixels,
timing), and that a failed or cancelled export leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import GifImagePlugin, Image

from vizlab.export import ExportError, Recorder, atomic_open, atomic_path, write_apng, write_gif
from vizlab.export import atomic as atomic_module

# --------------------------------------------------------------------------------------------
# helpers


def moving_frames(n: int, w: int = 96, h: int = 64) -> list[np.ndarray]:
    """Plot-like frames: white page, a heatmap whose gradient moves, a red marker sliding."""
    frames = []
    yy, xx = np.mgrid[0:40, 0:60]
    for i in range(n):
        a = np.full((h, w, 3), 255, np.uint8)
        v = (np.sin(xx / 9 + i * 0.4) * np.cos(yy / 7 - i * 0.2) + 1) / 2  # 0..1, moving
        a[12:52, 30:90, 0] = (40 + 200 * v).astype(np.uint8)
        a[12:52, 30:90, 1] = (30 + 120 * (1 - v)).astype(np.uint8)
        a[12:52, 30:90, 2] = (220 - 180 * v).astype(np.uint8)
        a[5 + i % 50 : 9 + i % 50, 4:12] = (214, 39, 40)
        a[h - 3, :, :] = 0  # an axis line
        frames.append(a)
    return frames


def few_colour_frames(n: int, w: int = 48, h: int = 32) -> list[np.ndarray]:
    """Frames with fewer than 255 colours in total: the GIF must then be lossless."""
    frames = []
    for i in range(n):
        a = np.full((h, w, 3), 255, np.uint8)
        a[:, : 4 + i] = (31, 119, 180)
        a[10:20, 20:30] = (i * 20 % 256, 160, 44)
        frames.append(a)
    return frames


def gif_frames(path: Path) -> tuple[list[np.ndarray], list[dict]]:
    with Image.open(path) as im:
        frames, infos = [], []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB")).copy())
            infos.append(dict(im.info))
    return frames, infos


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# --------------------------------------------------------------------------------------------
# atomic writing


def test_atomic_write_replaces_target_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_open(target, "w") as fh:
        fh.write("new")
        assert target.read_text() == "old"  # not replaced while writing
    assert target.read_text() == "new"
    assert listing(tmp_path) == ["out.txt"]


def test_atomic_write_failure_keeps_existing_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert listing(tmp_path) == ["out.txt"]


def test_disk_full_while_writing_becomes_export_error(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(ExportError, match="disk is full") as info:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")
    assert str(target) in str(info.value)
    assert listing(tmp_path) == []


def test_missing_folder_is_reported_with_the_path(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "movie.gif"
    with pytest.raises(ExportError) as info:
        write_gif(target, few_colour_frames(3))
    message = str(info.value)
    assert message.startswith(f"Cannot write {target}")
    assert "does not exist" in message
    assert listing(tmp_path) == []


@pytest.mark.skipif(is_root() or sys.platform == "win32", reason="root may write anywhere")
def test_read_only_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ExportError, match="permission denied") as info:
            write_apng(folder / "movie.png", few_colour_frames(3))
        assert str(folder / "movie.png") in str(info.value)
        assert listing(folder) == []
    finally:
        folder.chmod(0o755)


def test_permission_denied_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs as root too (where chmod cannot lock a folder): the folder refuses the new file.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic_module.tempfile, "mkstemp", refuse)
    target = tmp_path / "movie.gif"
    with pytest.raises(ExportError) as info:
        write_gif(target, few_colour_frames(3))
    assert str(info.value) == f"Cannot write {target}: permission denied"
    assert listing(tmp_path) == []


def test_read_only_file_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "movie.gif"
    target.write_bytes(b"precious")
    target.chmod(0o444)
    try:
        with pytest.raises(ExportError, match="read-only"):
            write_gif(target, few_colour_frames(3))
        assert target.read_bytes() == b"precious"
        assert listing(tmp_path) == ["movie.gif"]
    finally:
        target.chmod(0o644)


def test_new_files_get_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    with atomic_open(target, "w") as fh:
        fh.write("x")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------------------------------------------
# recorder and GIF / APNG


def test_gif_has_every_frame_size_loop_and_duration(tmp_path: Path) -> None:
    frames = moving_frames(12)
    rec = Recorder()
    for f in frames:
        assert rec.add_frame(f)
    assert rec.frame_count == 12
    path = tmp_path / "movie.gif"
    assert rec.write_gif(path, fps=10, loop=0) is True
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == 12
        assert im.size == (96, 64)
        assert im.info["loop"] == 0
    decoded, infos = gif_frames(path)
    assert [info["duration"] for info in infos] == [100] * 12
    for a, b in zip(decoded, decoded[1:]):
        assert not np.array_equal(a, b)
    # Colours: far more than 255 across the animation, yet close everywhere, exact on the page.
    for src, out in zip(frames, decoded):
        err = np.abs(src.astype(int) - out.astype(int)).max(axis=2)
        assert err.mean() < 1.5
        assert err.max() <= 12
        white = (src == 255).all(axis=2)
        assert (out[white] == 255).all()
        marker = (src == (214, 39, 40)).all(axis=2)
        assert marker.any() and (out[marker] == (214, 39, 40)).all()  # the exact red


def test_gif_with_few_colours_is_lossless_and_timed_by_fps(tmp_path: Path) -> None:
    frames = few_colour_frames(6)
    path = tmp_path / "few.gif"
    assert write_gif(path, frames, fps=25, loop=None)
    decoded, infos = gif_frames(path)
    assert len(decoded) == 6
    for src, out in zip(frames, decoded):
        np.testing.assert_array_equal(out, src)
    assert [info["duration"] for info in infos] == [40] * 6
    assert "loop" not in infos[0]  # plays once


def test_frames_of_different_sizes_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    frames = few_colour_frames(3) + [np.zeros((10, 10, 3), np.uint8)]
    for name, write in (("a.gif", write_gif), ("a.png", write_apng)):
        with pytest.raises(ValueError, match="frame 3 is 10x10"):
            write(tmp_path / name, frames)
    assert listing(tmp_path) == []


def test_gif_keeps_identical_frames(tmp_path: Path) -> None:
    frame = few_colour_frames(1)[0]
    path = tmp_path / "still.gif"
    assert write_gif(path, [frame, frame, frame], fps=10)
    with Image.open(path) as im:
        assert im.n_frames == 3


def test_every_keeps_one_frame_in_n(tmp_path: Path) -> None:
    frames = few_colour_frames(10)
    rec = Recorder(every=3)
    kept = [rec.add_frame(f) for f in frames]
    assert kept == [True, False, False] * 3 + [True]
    assert rec.frame_count == 4
    for j, i in enumerate([0, 3, 6, 9]):
        np.testing.assert_array_equal(rec[j], frames[i])
    assert rec.write_gif(tmp_path / "e.gif")
    with Image.open(tmp_path / "e.gif") as im:
        assert im.n_frames == 4


def test_apng_is_full_colour_and_pixel_exact(tmp_path: Path) -> None:
    frames = moving_frames(8)
    frames.insert(4, frames[3])  # an unchanged frame, too
    rec = Recorder()
    for f in frames:
        rec.add_frame(f)
    path = tmp_path / "movie.png"
    assert rec.write_apng(path, fps=20, loop=0)
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.n_frames == 9
        assert im.info["loop"] == 0
        for i, src in enumerate(frames):
            im.seek(i)
            assert im.mode in ("RGB", "RGBA")
            assert im.info["duration"] == pytest.approx(50)
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), src)


def test_frames_can_be_rgba_grey_or_pil_and_other_sizes_are_fitted() -> None:
    rec = Recorder()
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :20, 3] = 255  # left half opaque red, right half transparent (-> white)
    rec.add_frame(rgba)
    rec.add_frame(np.full((20, 40), 7, np.uint8))
    rec.add_frame(Image.new("RGB", (40, 20), (1, 2, 3)))
    rec.add_frame(np.zeros((40, 40, 3), np.uint8))  # square: scaled to 20x20, centred
    assert rec.size == (40, 20)
    assert rec[0][0, 0].tolist() == [255, 0, 0] and rec[0][0, 39].tolist() == [255, 255, 255]
    assert rec[1][5, 5].tolist() == [7, 7, 7]
    assert rec[2][5, 5].tolist() == [1, 2, 3]
    assert rec[3].shape == (20, 40, 3)
    assert rec[3][10, 20].tolist() == [0, 0, 0] and rec[3][10, 2].tolist() == [255, 255, 255]
    with pytest.raises(TypeError):
        rec.add_frame(np.zeros((20, 40, 3), np.float32))


def test_cancel_at_half_leaves_no_file_and_keeps_existing_one(tmp_path: Path) -> None:
    rec = Recorder()
    for f in moving_frames(10):
        rec.add_frame(f)
    for name, write in (("movie.gif", rec.write_gif), ("movie.png", rec.write_apng)):
        target = tmp_path / name
        target.write_bytes(b"old animation")
        calls: list[tuple[int, int]] = []

        def progress(done: int, total: int, calls: list[tuple[int, int]] = calls) -> bool:
            calls.append((done, total))
            return done < total // 2

        assert write(target, progress=progress) is False
        assert calls[-1] == (5, 10)
        assert target.read_bytes() == b"old animation"
    assert listing(tmp_path) == ["movie.gif", "movie.png"]
    # and with nothing there before, nothing appears
    assert rec.write_gif(tmp_path / "new.gif", progress=lambda d, t: d < 3) is False
    assert listing(tmp_path) == ["movie.gif", "movie.png"]


def test_progress_reports_every_frame(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    assert write_gif(
        tmp_path / "p.gif", few_colour_frames(4), progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_disk_full_in_the_middle_of_encoding_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = moving_frames(6)
    target = tmp_path / "movie.png"
    target.write_bytes(b"old")
    real_save = Image.Image.save
    calls = {"n": 0}

    def save(self: Image.Image, *args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    with pytest.raises(ExportError, match="disk is full"):
        write_apng(target, frames)
    assert target.read_bytes() == b"old"

    real_getdata = GifImagePlugin.getdata

    def getdata(im: Image.Image, *args: object, **kwargs: object) -> list[bytes]:
        if kwargs.get("transparency") is not None:  # any frame after the first
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_getdata(im, *args, **kwargs)

    monkeypatch.setattr(GifImagePlugin, "getdata", getdata)
    with pytest.raises(ExportError, match="disk is full"):
        write_gif(tmp_path / "movie.gif", frames)
    assert listing(tmp_path) == ["movie.png"]


def test_memory_stays_within_budget_and_spooled_frames_come_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(40)]  # ~2.3 kB
    budget = 20_000
    with Recorder(memory_budget=budget, spool_dir=tmp_path) as rec:
        for f in frames:
            rec.add_frame(f)
            assert rec.memory_bytes <= budget
        assert rec.frame_count == 40
        assert rec.spooled_count >= 30
        assert rec.disk_bytes > 0
        assert rec.write_apng(tmp_path / "all.png")
        with Image.open(tmp_path / "all.png") as im:
            assert im.n_frames == 40
            for i in (0, 9, 20, 39):
                im.seek(i)
                np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frames[i])
        assert rec.write_gif(tmp_path / "all.gif")
        with Image.open(tmp_path / "all.gif") as im:
            assert im.n_frames == 40
    # closing deletes the spooled frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.gif", "all.png"]


def test_hard_cap_makes_the_recording_full() -> None:
    rec = Recorder(max_frames=5)
    added = [rec.add_frame(f) for f in few_colour_frames(8)]
    assert added == [True] * 5 + [False] * 3
    assert rec.frame_count == 5
    assert rec.is_full
    assert "full" in (rec.full_reason or "").lower()
    rec.clear()
    assert not rec.is_full and rec.frame_count == 0


def test_core_does_not_import_qt() -> None:
    code = (
        "import sys, numpy as np\n"
        "from vizlab.export import Recorder, write_gif, atomic_open\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------------------------
# Qt: screenshots, clipboard, single plots, progress


@pytest.fixture
def plot_window(qtbot):  # type: ignore[no-untyped-def]
    """A 320x200 widget holding a pyqtgraph plot with one curve."""
    import pyqtgraph as pg
    from PySide6 import QtWidgets

    window = QtWidgets.QWidget()
    layout = QtWidgets.QVBoxLayout(window)
    layout.setContentsMargins(0, 0, 0, 0)
    plot = pg.PlotWidget(title="loss")
    x = np.arange(30, dtype=float)
    plot.plot(x, np.exp(-x / 8), pen=pg.mkPen("r", width=2), name="train")
    layout.addWidget(plot)
    window.resize(320, 200)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window, plot


def test_screenshot_is_exactly_1x_and_2x(plot_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from vizlab.export import save_screenshot

    window, _ = plot_window
    one = save_screenshot(window, tmp_path / "one.png", scale=1)
    two = save_screenshot(window, tmp_path / "two.png", scale=2)
    with Image.open(one) as a, Image.open(two) as b:
        assert a.format == b.format == "PNG"
        assert a.size == (320, 200)
        assert b.size == (640, 400)
        big = np.asarray(b.convert("RGB")).astype(int)
    # Real 2x detail, not a 1x picture blown up: many 2x2 blocks are not one flat colour.
    blocks = big.reshape(200, 2, 320, 2, 3)
    uneven = (blocks.max(axis=(1, 3)) != blocks.min(axis=(1, 3))).any(axis=2)
    assert uneven.sum() > 500
    assert listing(tmp_path) == ["one.png", "two.png"]


def test_caption_adds_a_strip_with_text(plot_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from vizlab.export import save_screenshot

    window, _ = plot_window
    caption = "Training lab: lr=0.1, momentum=0.9, batch=32, seed=0, " * 3
    path = save_screenshot(window, tmp_path / "c.png", scale=1, caption=caption)
    with Image.open(path) as im:
        assert im.size[0] == 320
        assert im.size[1] > 200 + 3 * 14  # wrapped onto several lines
        strip = np.asarray(im.convert("L"))[202:]
    assert strip.max() == 255  # white strip...
    assert (strip < 100).sum() > 200  # ...with dark text drawn on it
    path2 = save_screenshot(window, tmp_path / "c2.png", scale=2, caption=caption)
    with Image.open(path2) as im2:
        assert im2.size[0] == 640 and im2.size[1] >= 2 * (im.size[1] - 1)


def test_grab_image_and_array_and_clipboard(plot_window) -> None:  # type: ignore[no-untyped-def]
    from PySide6 import QtWidgets

    from vizlab.export import copy_to_clipboard, grab_image, qimage_to_array

    window, plot = plot_window
    # a PlotWidget is a QGraphicsView, whose own render() has another signature
    direct = grab_image(plot, 2)
    assert (direct.width(), direct.height()) == (2 * plot.width(), 2 * plot.height())
    image = grab_image(window, 2)
    assert (image.width(), image.height()) == (640, 400)
    array = qimage_to_array(image)
    assert array.shape == (400, 640, 3) and array.dtype == np.uint8
    assert len(np.unique(array.reshape(-1, 3), axis=0)) > 10
    copied = copy_to_clipboard(window)
    clip = QtWidgets.QApplication.clipboard().image()
    assert (clip.width(), clip.height()) == (320, 200) == (copied.width(), copied.height())
    rec = Recorder()
    assert rec.add_frame(image)
    assert rec.size == (640, 400)


def test_export_plot_png_svg_csv(plot_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from vizlab.export import export_plot

    _, plot = plot_window
    png = export_plot(plot, tmp_path / "p.png")
    with Image.open(png) as im:
        w, h = im.size
        assert w > 100 and h > 100
    with Image.open(export_plot(plot, tmp_path / "p2.png", scale=2)) as im:
        assert abs(im.size[0] - 2 * w) <= 1 and abs(im.size[1] - 2 * h) <= 2
    svg = export_plot(plot.getPlotItem(), tmp_path / "p.svg")
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert any(el.tag.endswith(("polyline", "path")) for el in root.iter())
    csv = export_plot(plot, tmp_path / "p.csv")
    lines = csv.read_text().splitlines()
    assert lines[0] == "train_x,train_y"
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    x = np.arange(30, dtype=float)
    np.testing.assert_allclose(data, np.column_stack([x, np.exp(-x / 8)]), rtol=1e-8)
    with pytest.raises(ExportError, match="unknown file type"):
        export_plot(plot, tmp_path / "p.jpg")
    assert listing(tmp_path) == ["p.csv", "p.png", "p.svg", "p2.png"]


def test_export_heatmap_csv_writes_the_array(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pyqtgraph as pg

    from vizlab.export import export_plot

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    weights = np.arange(12, dtype=float).reshape(3, 4) / 7 - 0.5
    plot.addItem(pg.ImageItem(weights, axisOrder="row-major"))
    plot.resize(200, 150)
    path = export_plot(plot, tmp_path / "w.csv")
    np.testing.assert_allclose(np.loadtxt(path, delimiter=","), weights, rtol=1e-9)
    empty = pg.PlotWidget()
    qtbot.addWidget(empty)
    with pytest.raises(ExportError, match="no data"):
        export_plot(empty, tmp_path / "e.csv")
    assert listing(tmp_path) == ["w.csv"]


def test_run_with_progress_writes_and_cancels(plot_window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PySide6 import QtWidgets

    from vizlab.export import run_with_progress

    window, _ = plot_window
    rec = Recorder()
    for f in moving_frames(8):
        rec.add_frame(f)
    done = run_with_progress(
        window, "Saving GIF", lambda p: rec.write_gif(tmp_path / "a.gif", progress=p)
    )
    assert done is True
    assert (tmp_path / "a.gif").exists()

    def cancel_halfway(progress):  # type: ignore[no-untyped-def]
        def relay(done: int, total: int) -> bool:
            if done == total // 2:  # the user presses Cancel
                window.findChild(QtWidgets.QProgressDialog).cancel()
            return progress(done, total)

        return rec.write_gif(tmp_path / "b.gif", progress=relay)

    assert run_with_progress(window, "Saving GIF", cancel_halfway) is False
    assert listing(tmp_path) == ["a.gif"]
