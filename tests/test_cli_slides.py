"""The CLI's pictures for slides: the initial state (`--steps 0`), captions that name only
the changed settings, pictures of the views alone, and presentation mode."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from engine import experiments
from vizlab import cli, gallery
from vizlab.labs import LAB_NAMES


@pytest.fixture
def built_views(qapp, monkeypatch):
    """What each lab view the CLI builds was like just before the CLI deleted it: a
    namespace with draw_error, step, frames_drawn, views_only, settings_hidden,
    timeline_hidden, views_width, and presentation_at_build (presentation mode was on
    when it was built)."""
    seen = []
    build, dispose = gallery.build_lab_view, gallery.dispose

    def keep(*args, **kwargs):
        try:
            from vizlab.widgets import theme
        except ImportError:
            theme = None
        view = build(*args, **kwargs)
        view.facts = SimpleNamespace(
            presentation_at_build=theme is not None and theme.presentation())
        seen.append(view.facts)
        return view

    def note_and_dispose(widget):
        facts = getattr(widget, "facts", None)
        if facts is not None:
            facts.__dict__.update(
                draw_error=widget.draw_error, frames_drawn=widget.frames_drawn,
                step=getattr(widget.last_snapshot, "step", None),
                views_only=widget.views_only,
                settings_hidden=widget.settings_scroll.isHidden(),
                timeline_hidden=widget.timeline_bar.isHidden(),
                views_width=widget.views.width())
        dispose(widget)

    monkeypatch.setattr(gallery, "build_lab_view", keep)
    monkeypatch.setattr(gallery, "dispose", note_and_dispose)
    return seen


def screenshot(tmp_path, lab: str, *options: str) -> tuple[int, Image.Image]:
    out = tmp_path / f"{lab}.png"
    code = cli.main(["screenshot", lab, "--out", str(out), *options])
    return code, (Image.open(out) if out.exists() else None)


def test_every_lab_is_in_the_gallery_and_the_cli():
    assert set(LAB_NAMES) == set(experiments.LAB_NAMES)


@pytest.mark.parametrize("lab", LAB_NAMES)
def test_steps_0_renders_each_lab_untrained(tmp_path, built_views, lab, capsys):
    code, image = screenshot(tmp_path, lab, "--steps", "0", "--size", "1024x640")
    assert code == 0, capsys.readouterr().err
    assert image.size == (1024, 640)
    [view] = built_views
    assert view.draw_error is None
    assert view.step == 0
    assert view.frames_drawn == 1  # the first snapshot only, no preview besides


def test_steps_below_0_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["screenshot", "training", "--steps", "-1",
                                       "--out", "x.png"])
    assert exit_.value.code == 2
    assert "expected a number of at least 0, got -1" in capsys.readouterr().err


def test_record_with_steps_0_is_one_frame(tmp_path, built_views, capsys):
    out = tmp_path / "loss.gif"
    assert cli.main(["record", "loss", "--steps", "0", "--size", "800x500",
                     "--out", str(out)]) == 0, capsys.readouterr().err
    gif = Image.open(out)
    assert gif.size == (800, 500) and gif.n_frames == 1


def test_caption_lists_only_changed_settings():
    config = experiments.get("training").Config()
    assert cli.changed_settings(config) == []
    assert cli.settings_caption("training", config, 0) == \
        "vizlab training lab, step 0, default settings"
    experiments.apply_settings(config, ["learning_rate=0.05"])
    assert cli.changed_settings(config) == ["learning_rate=0.05"]
    assert cli.settings_caption("training", config, 12) == \
        "vizlab training lab, step 12: learning_rate=0.05"
    # The steps the CLI itself lengthens a run to are no setting the user changed.
    experiments.apply_settings(config, ["learning_rate=0.01", "hidden=64"])
    assert cli.changed_settings(config) == ["hidden=64"]


def test_caption_of_a_screenshot_is_under_the_picture(tmp_path, built_views, capsys):
    # The caption is a strip of text added under the picture: taller than --size.
    code, plain = screenshot(tmp_path, "loss", "--steps", "0", "--size", "800x500")
    assert code == 0, capsys.readouterr().err
    code, captioned = screenshot(tmp_path, "loss", "--steps", "0", "--size", "800x500",
                                 "--caption", "--set", "true_class=1")
    assert code == 0, capsys.readouterr().err
    assert captioned.width == plain.width
    assert 10 < captioned.height - plain.height < 80  # one line of caption


def test_views_only_leaves_the_settings_panel_out(tmp_path, built_views, capsys):
    code, image = screenshot(tmp_path, "training", "--steps", "0", "--size", "1024x640",
                             "--views-only")
    assert code == 0, capsys.readouterr().err
    assert image.size == (1024, 640)
    [view] = built_views
    assert view.views_only and not view.presentation_at_build
    assert view.settings_hidden and view.timeline_hidden
    # The views fill the picture: the view area spans (nearly) the whole width.
    assert view.views_width >= 1024 - 2 * 8


def test_presentation_is_large_and_views_only(tmp_path, built_views, capsys):
    theme = pytest.importorskip(
        "vizlab.widgets.theme",
        reason="presentation mode needs vizlab.widgets.theme (the widgets' theme)")
    code, image = screenshot(tmp_path, "training", "--steps", "0", "--size", "1280x800",
                             "--presentation")
    assert code == 0, capsys.readouterr().err
    assert image.size == (1280, 800)
    [view] = built_views
    assert view.views_only and view.draw_error is None
    assert view.presentation_at_build
    assert not theme.presentation()  # switched back off once the picture is made


def test_presentation_of_the_whole_window_ends_cleanly(tmp_path):
    """A separate process: its exit is part of the test (restyling the app's closed
    window when presentation mode went back off crashed it there)."""
    pytest.importorskip("vizlab.widgets.theme",
                        reason="presentation mode needs vizlab.widgets.theme")
    out = tmp_path / "window.png"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env.update(QT_QPA_PLATFORM="offscreen", OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "vizlab.cli", "screenshot", "dropout", "--window",
         "--presentation", "--steps", "0", "--size", "1024x640", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    assert Image.open(out).size == (1024, 640)


def test_window_picture_waits_until_the_lab_is_built_drawn_and_painted(
        tmp_path, qtbot, monkeypatch, capsys):
    """The app's window builds and draws a lab a piece per event-loop turn; the CLI's
    --window picture must be taken once all of it is done, not of the placeholder."""
    from PySide6.QtWidgets import QLabel

    from vizlab import export

    seen = {}
    save = export.save_screenshot

    def look_then_save(window, path, **kwargs):
        lab = window.lab
        seen.update(
            built=lab.is_built, pending=lab.drawing_pending,
            placeholders=[label.text() for label in window.findChildren(QLabel)
                          if label.text().startswith("Building the views")
                          and label.isVisibleTo(window)],
            plots=[(plot.isVisibleTo(window), plot.updatesEnabled(),
                    sum(np.size(a) for a in plot.export_data().values()))
                   for plot in lab.plots()],
            step=lab.last_snapshot.step, label=lab.timeline_label.text(),
            frames=lab.frames_drawn)
        return save(window, path, **kwargs)

    monkeypatch.setattr(export, "save_screenshot", look_then_save)
    out = tmp_path / "window.png"
    assert cli.main(["screenshot", "regularization", "--window", "--steps", "3",
                     "--size", "1024x640", "--out", str(out)]) == 0, capsys.readouterr().err
    assert Image.open(out).size == (1024, 640)
    assert seen["built"] and not seen["pending"]
    assert seen["placeholders"] == []
    # Fits and total errors: every plot shown, painting, and holding numbers.
    assert len(seen["plots"]) >= 2
    for visible, painting, numbers in seen["plots"]:
        assert visible and painting and numbers > 0
    assert seen["frames"] >= 1 and seen["step"] >= 3
    assert seen["label"] == f"step {seen['step']}"
