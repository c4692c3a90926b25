"""The main window's presentation mode (F11, Esc) and its layouts for comparing two runs,
offscreen at the default 1280x800: what is hidden, and how much room the plots get."""

import pytest
from PySide6.QtCore import Qt

from vizlab.app import ONE_AT_A_TIME, SIDE_BY_SIDE, STACKED
from vizlab.widgets._base import PlotWidgetBase


def settle(qtbot, window):
    """Let the views built a piece per turn finish and posted layout requests run (no
    fixed sleep: a zero wait processes events)."""
    qtbot.waitUntil(lambda: all(view.is_built for view in
                                [*window.labs.values(), *window.twins.values()]))
    qtbot.wait(0)
    window.layout().activate()
    qtbot.wait(0)


def plot_sizes(view):
    return [(p.width(), p.height()) for p in view.views.findChildren(PlotWidgetBase)
            if p.isVisibleTo(view)]


def test_presentation_mode_hides_every_settings_panel_and_restores_them(qtbot, window):
    window.select_lab("activations")
    window.select_lab("training")
    window.set_compare_layout(STACKED)  # keeps the settings shown while comparing
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    built = [*window.labs.values(), window.twin]
    assert len(built) == 3 and not any(view.views_only for view in built)

    window.presentation_action.trigger()
    assert window.presentation
    assert all(view.views_only and view.settings_scroll.isHidden()
               and view.timeline_bar.isHidden() for view in built)
    assert window.lab_list.isHidden() and window.statusBar().isHidden()
    later = window.select_lab("dropout")  # built while presenting: built that way
    assert later.views_only and later.settings_scroll.isHidden()
    assert later.isVisibleTo(window) and later.views.isVisibleTo(window)

    window.presentation_action.trigger()
    assert not window.presentation
    assert not any(view.views_only or view.settings_scroll.isHidden()
                   for view in [*window.labs.values(), *window.twins.values()])
    assert not window.lab_list.isHidden() and not window.statusBar().isHidden()


def test_f11_enters_presentation_mode_and_esc_leaves_it(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    assert window.presentation_action.shortcut().toString() == "F11"
    assert not window.leave_presentation_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.presentation and window.lab.views_only
    assert window.leave_presentation_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.presentation and not window.lab.views_only
    assert window.run_action.shortcut().toString() == "F5"  # Run keeps its key


def test_presentation_mode_sets_the_widgets_theme(qtbot, window):
    theme = pytest.importorskip("vizlab.widgets.theme")
    try:
        window.set_presentation(True)
        assert theme.presentation() is True
        window.set_presentation(False)
        assert theme.presentation() is False
    finally:
        theme.set_presentation(False)  # no other test inherits large type


def test_comparing_side_by_side_keeps_every_plot_readable_at_1280x800(qtbot, window):
    assert window.compare_layout == SIDE_BY_SIDE  # the default
    lab = window.lab
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    twin = window.twin
    settle(qtbot, window)
    assert window.size().toTuple() == (1280, 800)  # the window did not grow to fit
    assert window.pages["training"].orientation() == Qt.Orientation.Horizontal
    assert lab.views_only and twin.views_only  # beside two settings panels: slivers
    assert "Ctrl+E" in twin.pending_label.text()
    assert lab.pending_label.text() == "Run A" and not lab.pending_label.isHidden()
    for view in (lab, twin):
        sizes = plot_sizes(view)
        assert len(sizes) >= 5  # and the weight maps once a preview is drawn
        assert min(h for _, h in sizes) >= 150, sizes
        assert min(w for w, _ in sizes) >= 150, sizes
    # the two runs share the room evenly
    assert abs(lab.width() - twin.width()) <= 10
    # Leaving compare gives the settings back.
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    assert window.twin is None and not lab.views_only and not twin.isVisibleTo(window)
    assert lab.pending_label.isHidden()


def test_showing_settings_while_comparing_shows_one_run_at_a_time(qtbot, window):
    lab = window.lab
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    twin = window.twin
    window.settings_action.trigger()  # Ctrl+E: two settings panels would not fit beside
    settle(qtbot, window)
    assert window.size().toTuple() == (1280, 800)
    assert not twin.views_only and twin.isVisibleTo(window) and not lab.isVisibleTo(window)
    assert window.run_switch_action.isVisible()
    window.other_run_action.trigger()  # Ctrl+B: run A
    assert lab.isVisibleTo(window) and not twin.isVisibleTo(window) and not lab.views_only
    assert window.compare_action.isChecked() and window.twin is twin
    window.settings_action.trigger()  # settings hidden again: side by side again
    settle(qtbot, window)
    assert lab.isVisibleTo(window) and twin.isVisibleTo(window)
    assert not window.run_switch_action.isVisible()
    assert window.size().toTuple() == (1280, 800)


def test_a_lab_too_wide_for_side_by_side_is_compared_one_run_at_a_time(qtbot, window,
                                                                      previewed):
    lab = window.select_lab("activations")  # its views need more than half the window
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    twin = window.twin
    settle(qtbot, window)
    assert window.size().toTuple() == (1280, 800)
    # Run B first: the one to change a setting in, with room for the settings.
    assert window.run_switch_action.isVisible() and window.run_switch.currentIndex() == 1
    assert twin.isVisibleTo(window) and not lab.isVisibleTo(window)
    assert not twin.views_only
    window.run_switch.setCurrentIndex(0)
    assert lab.isVisibleTo(window) and not twin.isVisibleTo(window)
    # Away and back: still comparing, though run B is hidden now.
    window.select_lab("training")
    assert window.twin is None and not window.run_switch_action.isVisible()
    window.select_lab("activations")
    assert window.twin is twin and window.compare_action.isChecked()
    assert window.run_switch_action.isVisible()
    previewed(lab)
    previewed(twin)


def test_stacked_layout_is_a_remembered_choice(qtbot, window):
    window.set_compare_layout(STACKED)
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    settle(qtbot, window)
    assert window.pages["training"].orientation() == Qt.Orientation.Vertical
    assert window.lab.isVisibleTo(window) and window.twin.isVisibleTo(window)
    assert not window.twin.views_only
    assert window.settings.value("compare/layout") == STACKED
    window.set_compare_layout(ONE_AT_A_TIME)
    assert window.run_switch_action.isVisible()
    assert window.twin.isVisibleTo(window) and not window.lab.isVisibleTo(window)


def test_run_app_opens_in_presentation_mode_with_the_flag(qtbot, monkeypatch, tmp_path):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    import vizlab.app as app_module

    shown = []
    monkeypatch.setattr(app_module, "QSettings",
                        lambda *a: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    monkeypatch.setattr(app_module.MainWindow, "show", lambda self: shown.append(self))
    monkeypatch.setattr(QApplication, "exec", lambda self: 0)
    try:
        assert app_module.run_app(["vizlab", "--presentation"]) == 0
        window = shown[0]
        qtbot.addWidget(window)
        assert window.presentation and window.lab.views_only
    finally:
        for window in shown:
            window.close()
        theme = app_module._theme()
        if theme is not None:
            theme.set_presentation(False)


def test_a_screenshot_while_comparing_side_by_side_shows_both_runs(qtbot, window, tmp_path):
    from PySide6.QtGui import QImage

    window.caption_action.setChecked(True)
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    settle(qtbot, window)
    path = tmp_path / "both.png"
    assert window.save_screenshot(str(path))
    image = QImage(str(path))
    page = window.pages["training"]
    assert image.width() == page.width() > window.lab.width() + window.twin.width() - 10
    assert image.height() > page.height()  # the caption strip under the picture


def test_a_window_made_wider_puts_the_runs_side_by_side(qtbot, window):
    window.resize(1024, 640)
    settle(qtbot, window)
    window.compare_action.trigger()
    window.finish_compare()  # run B is laid out the turn after it is made
    lab, twin = window.lab, window.twin
    assert window.run_switch_action.isVisible() and not lab.isVisibleTo(window)
    window.resize(1400, 800)
    qtbot.waitUntil(lambda: not window.run_switch_action.isVisible(), timeout=3000)
    assert lab.isVisibleTo(window) and twin.isVisibleTo(window)
    assert window.pages["training"].orientation() == Qt.Orientation.Horizontal
    settle(qtbot, window)
    assert window.size().toTuple() == (1400, 800)
    assert lab.views_only and twin.views_only
    window.resize(1024, 640)  # and back: one at a time, with the settings again
    qtbot.waitUntil(window.run_switch_action.isVisible, timeout=3000)
    assert not twin.views_only and window.settings_action.isChecked()


def test_vizlab_app_presentation_opens_the_window_in_presentation_mode(monkeypatch):
    import vizlab.app as app_module
    from vizlab import cli

    opened = []
    monkeypatch.setattr(cli, "has_display", lambda: True)
    monkeypatch.setattr(cli, "missing_xcb_packages", lambda: [])
    monkeypatch.setattr(app_module, "run_app",
                        lambda argv=None, presentation=False: opened.append(presentation) or 0)
    assert cli.main(["app", "--presentation"]) == 0
    assert cli.main(["app"]) == 0
    assert opened == [True, False]
