"""Shared test set-up: Qt runs offscreen, and no test may leave a thread running."""

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Fail a test that leaves a Python thread or a running QThread behind."""
    before = set(threading.enumerate())
    yield
    # Give workers that were asked to stop a moment to finish.
    import time

    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra:
            break
        time.sleep(0.02)
    extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not extra, f"test left threads running: {[t.name for t in extra]}"


@pytest.fixture(autouse=True)
def collect_garbage_between_tests(request):
    """Python's cycle collector runs between Qt tests, never inside one, as the app
    runs it only from a timer on the GUI thread (vizlab/collector.py).

    A view a test drops lives on in a reference cycle, still getting Qt's events, until
    the collector deletes it. Left to run at any allocation, the collector deleted a
    dropped Gradients view in the middle of one of that view's own signal handlers (its
    x-tick fitter), and the handler went on into deleted axes and crashed Python.
    """
    import gc

    if "qtbot" not in request.fixturenames:  # engine tests: no Qt objects to delete
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    yield
    gc.collect()
    if enabled:
        gc.enable()


@pytest.fixture(autouse=True)
def normal_type_size():
    """A test that turns presentation mode on must not leave it on for the next one."""
    yield
    import sys

    theme = sys.modules.get("vizlab.widgets.theme")
    if theme is not None and theme.presentation():
        theme.set_presentation(False)


@pytest.fixture
def window(qtbot, tmp_path):
    """The app's main window, shown offscreen, with its settings in a scratch file."""
    from PySide6.QtCore import QSettings

    from vizlab.app import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.resize(1280, 800)
    win.show()
    yield win
    win.close()


@pytest.fixture
def previewed(qtbot):
    """Wait until a lab view has drawn the preview of its current settings (previews are
    computed off the GUI thread), and return the view."""

    def wait(view, timeout: int = 20_000):
        qtbot.waitUntil(lambda: not view.preview_pending, timeout=timeout)
        return view

    return wait


@pytest.fixture
def shown_lab(qtbot, previewed):
    """Build a lab's view by name, shown offscreen at 1280x800 (closed after the test),
    with its first preview drawn."""
    from vizlab.labs import view_class

    def show(name: str):
        view = view_class(name)()
        qtbot.addWidget(view)
        view.resize(1280, 800)
        view.show()
        return previewed(view)

    return show
