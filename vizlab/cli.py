"""The `vizlab` command: opens the app, or renders labs headless for teaching material.

    vizlab                      open the app
    vizlab list                 the labs and their settings
    vizlab screenshot LAB ...   a PNG of a lab after N steps (no display needed)
    vizlab record LAB ...       a GIF/APNG of a lab training (no display needed)
    vizlab gallery --out DIR    a PNG of every view of every lab, and an index.html
    vizlab weights list|download vgg16   the Style lab's pretrained weights

Headless commands drive the lab's experiment through a Session in this thread and draw
each snapshot with the same lab view the app uses, on Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

# {vizlab} is how the user started vizlab: scripts/run-app.sh sets VIZLAB_COMMAND, since
# `vizlab` itself is then not on PATH.
HEADLESS_HELP = """\
vizlab found no display to open its window on (DISPLAY and WAYLAND_DISPLAY are unset).

To use vizlab on this machine without a screen (list the labs and their settings,
then render one; this draws offscreen with the same lab code as the app):
  {vizlab} list
  {vizlab} screenshot training --steps 200 --out training.png
  {vizlab} record training --steps 300 --every 5 --out training.gif

To open the window anyway on a virtual screen, run it under Xvfb
(xvfb-run {vizlab}), or set QT_QPA_PLATFORM=offscreen to start it invisibly.
"""


class CliError(Exception):
    """A user error: printed as a message, exit code 2."""


# Qt messages known to be harmless that would otherwise reach the terminal of every
# headless command: the offscreen platform has no window manager to pass size hints to.
HARMLESS_QT_MESSAGES = frozenset({"This plugin does not support propagateSizeHints()"})
_qt_message_handler = None  # kept referenced while Qt may call it


def quiet_qt_messages() -> None:
    """Drop Qt's known harmless messages; print every other one as Qt would. Installed
    again on every call: whatever installed a handler since (a test harness) is replaced."""
    global _qt_message_handler
    from PySide6.QtCore import qInstallMessageHandler

    def handler(mode, context, message: str) -> None:
        if message in HARMLESS_QT_MESSAGES:
            return
        progress.end_line()
        sys.stderr.write(f"{message}\n")
        sys.stderr.flush()

    if _qt_message_handler is None:
        _qt_message_handler = handler
    qInstallMessageHandler(_qt_message_handler)


class Progress:
    """A progress bar on one terminal line, redrawn in place (only on a terminal: logs and
    pipes get no bar). Anything else written to the terminal first ends the bar's line, so
    a message never lands glued to the end of the bar."""

    width = 30

    def __init__(self) -> None:
        self.open = False  # a bar is on the current line, without its newline
        self.terminal: bool | None = None  # None: draw when stderr is a terminal

    def show(self, done: int, total: int, what: str) -> None:
        terminal = sys.stderr.isatty() if self.terminal is None else self.terminal
        if not terminal:
            return
        filled = int(self.width * done / max(total, 1))
        # Marked open before the write: a Ctrl+C raised during it still ends the line.
        self.open = True
        sys.stderr.write(f"\r{what} [{'#' * filled}{'.' * (self.width - filled)}] "
                         f"{done}/{total}")
        if done >= total:
            self.end_line()
        sys.stderr.flush()

    def end_line(self) -> None:
        if self.open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.open = False


progress = Progress()


class Interrupts:
    """Ctrl+C as KeyboardInterrupt, held back while Qt runs our Python code (painting,
    slots): PySide would print an exception raised there as a traceback and carry on.
    Wrap such calls in `held()`; a Ctrl+C meanwhile is raised when it ends."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending = False

    def on_sigint(self, signum, frame) -> None:
        if self.depth:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        previous = signal.signal(signal.SIGINT, self.on_sigint)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def held(self):
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending:
                self.pending = False
                raise KeyboardInterrupt


def say(message: str) -> None:
    """One line on stderr, on a line of its own."""
    progress.end_line()
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def has_display() -> bool:
    """True when Qt can open a window here (or the user chose a platform explicitly)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # macOS and Windows always have a window system


# System libraries Qt's X11 (xcb) platform plugin loads; desktops have them, minimal
# systems may not, and Qt then aborts with an opaque message.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def missing_xcb_packages() -> list[str]:
    """Debian/Ubuntu packages missing for Qt's X11 plugin (empty when it will load)."""
    if not sys.platform.startswith("linux"):
        return []
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return []
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return []
    import ctypes

    missing = []
    for library, package in XCB_LIBRARIES.items():
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append(package)
    return missing


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"size must look like 1280x800, got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if not (200 <= width <= 8000 and 150 <= height <= 8000):
        raise argparse.ArgumentTypeError(f"size {text} is outside 200x150 .. 8000x8000")
    return width, height


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a number of at least {least}, got {value}")
    return value


def _positive(text: str) -> int:
    return _whole_number(text, 1)


def _steps(text: str) -> int:
    """A step count; 0 is the lab's initial state (its first snapshot, untrained)."""
    return _whole_number(text, 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vizlab", description="A desktop lab for seeing how neural networks learn."
    )
    sub = parser.add_subparsers(dest="command")
    app_command = sub.add_parser("app", help="open the app (the default)")
    app_command.add_argument("--presentation", action="store_true",
                             help="open in presentation mode (F11 toggles it, Esc leaves)")
    sub.add_parser("list", help="list the labs and their settings")
    weights = sub.add_parser("weights", help="the Style lab's pretrained VGG16 weights: "
                             "say what is present (list), or download them")
    weights.add_argument("action", choices=("list", "download"))
    weights.add_argument("name", nargs="?", default="vgg16", choices=("vgg16",))
    from vizlab.sweep_cli import add_sweep_parser

    add_sweep_parser(sub)
    for name, help_text in (("screenshot", "save a PNG of a lab after training N steps"),
                            ("record", "record a lab training as a GIF, APNG or PNG strip")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("lab", help="lab name (see `vizlab list`)")
        cmd.add_argument("--steps", type=_steps, default=200,
                         help="training steps (default 200; 0: the initial, untrained state)")
        cmd.add_argument("--out", required=True, help="output file")
        cmd.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                         help="change a setting (repeatable)")
        cmd.add_argument("--size", type=_size, default=(1280, 800), help="WxH (default 1280x800)")
        cmd.add_argument("--scale", type=int, choices=(1, 2), default=1,
                         help="device pixel ratio of the image (1 or 2)")
        if name == "record":
            cmd.add_argument("--every", type=_positive, default=10,
                             help="one frame per this many steps (default 10)")
            cmd.add_argument("--fps", type=_positive, default=10, help="frames per second")
        else:
            cmd.add_argument("--caption", action="store_true",
                             help="add the run's settings under the picture")
            cmd.add_argument("--window", action="store_true",
                             help="picture the whole app window (menus, lab list, transport)")
            cmd.add_argument("--results", metavar="FILE.npz",
                             help="optimizers: draw this `vizlab sweep` results file "
                             "(no training)")
        cmd.add_argument("--views-only", action="store_true",
                         help="leave the settings panel and timeline bar out of the picture")
        cmd.add_argument("--presentation", action="store_true",
                         help="presentation mode: large type, thick lines, views only")
    gallery = sub.add_parser("gallery", help="a PNG of every view of every lab, at every "
                             "size, plus an index.html: a slide set in one command")
    gallery.add_argument("--out", required=True, metavar="DIR",
                         help="folder for the pictures and index.html (made if missing)")
    gallery.add_argument("--size", type=_size, action="append", metavar="WxH",
                         help="picture size, repeatable (default 1024x640 and 1280x800)")
    gallery.add_argument("--steps", type=_steps, metavar="N",
                         help="training steps of every lab (default: 200, the Style lab 100; "
                         "0: the initial, untrained state)")
    gallery.add_argument("--presentation", action="store_true",
                         help="presentation mode: large type, thick lines, views only")
    gallery.add_argument("--views-only", action="store_true",
                         help="leave the settings panels and timeline bars out")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _command(args)
    except CliError as exc:
        say(f"vizlab: {exc}")
        return 2
    except KeyboardInterrupt:
        # Ctrl+C: whatever was being written is left out (the writers are atomic).
        say("vizlab: interrupted")
        return 130


def _command(args: argparse.Namespace) -> int:
    if args.command in (None, "app"):
        if not has_display():
            sys.stderr.write(HEADLESS_HELP.format(
                vizlab=os.environ.get("VIZLAB_COMMAND") or "vizlab"))
            return 2
        missing = missing_xcb_packages()
        if missing:
            sys.stderr.write(
                "vizlab's window needs system libraries that Qt's X11 support loads, "
                f"and these are missing: {' '.join(missing)}.\n"
                f"On Debian or Ubuntu: sudo apt-get install {' '.join(missing)}\n"
                "Without them you can still render labs headless: see `vizlab --help`.\n")
            return 2
        from vizlab.app import run_app

        quiet_qt_messages()
        return run_app(presentation=getattr(args, "presentation", False))
    if args.command == "list":
        return list_labs()
    if args.command == "weights":
        from vizlab.weights import weights_command

        return weights_command(args.action, args.name, progress, CliError)
    if args.command == "sweep":
        from vizlab.sweep_cli import sweep_command

        return sweep_command(args, CliError, say)
    if args.command == "gallery":
        return gallery(args)
    if getattr(args, "results", None):
        from vizlab.sweep_cli import screenshot_results

        quiet_qt_messages()
        return screenshot_results(args, CliError)
    return render(args)


def list_labs() -> int:
    from engine import experiments
    from vizlab.labs import LAB_NAMES

    for name in LAB_NAMES:
        module = experiments.get(name)
        print(f"{name}: {module.TITLE} — {module.SUMMARY}")
        print(experiments.describe_settings(module.Config))
        print()
    return 0


def render(args: argparse.Namespace) -> int:
    """Train a lab headless for --steps and save a screenshot or a recording."""
    from engine import experiments
    from vizlab.labs import LAB_NAMES

    if args.lab not in LAB_NAMES:
        raise CliError(f"unknown lab {args.lab!r}; the labs are: {', '.join(LAB_NAMES)}")
    out = Path(args.out)
    suffix = out.suffix.lower()
    from vizlab.export.recording import RECORDING_SUFFIXES

    allowed = (".png",) if args.command == "screenshot" else RECORDING_SUFFIXES
    if suffix not in allowed:
        raise CliError(f"--out must end in {' or '.join(allowed)}, got {out.name!r}")
    if not out.parent.exists():
        raise CliError(f"the folder {out.parent} does not exist")
    module = experiments.get(args.lab)
    config = module.Config()
    try:
        experiments.apply_settings(config, args.set)
    except experiments.SettingError as exc:
        raise CliError(str(exc)) from None

    theme = presentation_theme() if args.presentation else None
    app = headless_app()
    from vizlab import export

    # The last cleanup collects the Python side of the deleted widgets while Qt is whole:
    # left to the interpreter's exit, a presentation-mode window crashed it there.
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(gc.collect)
        restore_theme = None
        if theme is not None:
            # On before any widget is built, so every one is built large; back off at the
            # end while the widgets are still alive (_render registers that), and at the
            # latest here if building them failed.
            restore_theme = functools.partial(theme.set_presentation, theme.presentation())
            cleanup.callback(restore_theme)
            theme.set_presentation(True)
        interrupts = cleanup.enter_context(Interrupts().installed())
        return _render(args, config, out, app, export, cleanup, interrupts, restore_theme)


def headless_app():
    """The QApplication, on Qt's offscreen platform unless the user chose one."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    quiet_qt_messages()
    return QApplication.instance() or QApplication(["vizlab"])


def presentation_theme():
    """The widgets' theme module, which switches presentation mode (CliError without it)."""
    try:
        from vizlab.widgets import theme
    except ImportError:
        raise CliError("presentation mode needs vizlab.widgets.theme, which this "
                       "installation lacks") from None
    return theme


def changed_settings(config) -> list[str]:
    """"name=value" for each setting of `config` that differs from its lab's default."""
    from engine import experiments
    from vizlab.labs.settings_panel import as_text

    defaults = type(config)()
    return [f"{info.name}={as_text(getattr(config, info.name))}"
            for info in experiments.settings_of(config)
            if getattr(config, info.name) != getattr(defaults, info.name)]


def settings_caption(lab: str, config, step: int | None) -> str:
    """A screenshot's caption: the lab, the step, and only the settings the user changed."""
    where = f"vizlab {lab} lab" + (f", step {step}" if step is not None else "")
    changed = changed_settings(config)
    return f"{where}: {', '.join(changed)}" if changed else f"{where}, default settings"


def finish_picture(view, app, turns: int = 20) -> None:
    """Build, draw and paint all the lab has pending before its picture is taken: in
    the app's window a lab is built and drawn a piece per event-loop turn, and a picture
    taken mid-way showed the "Building the views" placeholder or half-drawn plots."""
    view.ensure_built()
    for _ in range(turns):
        app.processEvents()  # layouts and resizes, which may hold plots for a repaint
        if not view.drawing_pending:
            return
        view.finish_drawing()


def _render(args, config, out: Path, app, export, cleanup,
            interrupts: Interrupts, restore_theme=None) -> int:
    """render's work; `cleanup` closes the window or view, the recorder and the scratch
    folder however this ends (an error, Ctrl+C)."""
    from engine import experiments
    from engine.experiments.contract import has_length, is_paced
    from engine.experiments.session import Session
    from vizlab.gallery import build_lab_view, dispose

    views_only = args.views_only or args.presentation
    window = None
    if getattr(args, "window", False):
        from PySide6.QtCore import QSettings

        from vizlab.app import MainWindow

        # The window's settings go to a scratch folder, removed at the end (after the
        # window closed and its settings were written, so nothing writes there again).
        scratch = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="vizlab-cli-"))
        settings = QSettings(os.path.join(scratch, "settings.ini"), QSettings.Format.IniFormat)
        with interrupts.held():
            window = MainWindow(settings)
            # Deleted last: a closed window left to the end of the process would be
            # restyled when presentation mode is switched back off.
            cleanup.callback(dispose, window)
            cleanup.callback(settings.sync)
            cleanup.callback(window.close)
            if args.presentation and hasattr(window, "set_presentation"):
                window.set_presentation(True)
            view = window.select_lab(args.lab)
            view.disable_previews()
            if views_only:
                view.set_views_only(True)
            window.resize(*args.size)
            window.show()
    else:
        with interrupts.held():
            view = build_lab_view(args.lab, args.size, views_only)
            cleanup.callback(dispose, view)
            cleanup.callback(view.shutdown)
    with interrupts.held():
        view.apply_settings({info.name: getattr(config, info.name)
                             for info in experiments.settings_of(config)})
        app.processEvents()
    shown = window or view
    if restore_theme is not None:
        # Restyling widgets that were closed and deleted crashes Qt at exit.
        cleanup.callback(restore_theme)
    drawn_size = (shown.width(), shown.height())
    if drawn_size != tuple(args.size):
        say(f"note: the {args.lab} lab needs at least its minimum size; "
            f"rendering at {shown.width()}x{shown.height()}")

    every = getattr(args, "every", None)
    recorder = cleanup.enter_context(export.Recorder()) if every else None
    if every and is_paced(view.config):
        view.config.snapshot_every = min(view.config.snapshot_every, every)
    if has_length(view.config):
        view.config.steps = max(view.config.steps, args.steps)

    next_frame = 0
    snapshot = None
    session = Session(view.experiment, view.config)
    try:
        for snapshot in session:
            # Drawing runs our Python code from inside Qt: Ctrl+C waits until it is done.
            with interrupts.held():
                view.show_snapshot(snapshot)
                app.processEvents()
                if view.draw_error is not None:  # a picture of a failed view is no picture
                    raise CliError(f"drawing the {args.lab} lab at step {snapshot.step} "
                                   f"failed: {view.draw_error}")
                if recorder is not None and snapshot.step >= next_frame:
                    finish_picture(view, app)
                    view.record_frame(recorder, args.scale)
                    next_frame = snapshot.step + every
            progress.show(min(snapshot.step, args.steps), args.steps, "training")
            if snapshot.step >= args.steps:
                break
        session.close()
    except CliError:
        session.close()
        raise
    except Exception as exc:
        raise CliError(f"the {args.lab} experiment failed: {exc}") from None
    if snapshot is None:
        raise CliError(f"the {args.lab} experiment produced nothing")
    if snapshot.step < args.steps:
        say(f"note: the {args.lab} experiment ended at step {snapshot.step}, before "
            f"--steps {args.steps}{_why_it_ended(snapshot)}")
    if recorder is not None and recorder.is_full:
        say(f"note: {recorder.full_reason} {recorder.frame_count} frames are written.")

    def encoding(done: int, total: int) -> bool:
        progress.show(done, total, "encoding")
        return True

    try:
        if recorder is None:
            with interrupts.held():
                caption = (settings_caption(args.lab, config, snapshot.step)
                           if args.caption else None)
                if (shown.width(), shown.height()) not in (tuple(args.size), drawn_size):
                    say(f"note: the {args.lab} lab grew to show everything it drew; "
                        f"rendering at {shown.width()}x{shown.height()}")
                finish_picture(view, app)
                if window is not None:
                    window.status_timer.stop()
                    window._update_status()
                export.save_screenshot(shown, out, scale=args.scale, caption=caption)
        else:
            recorder.write(out, fps=args.fps, progress=encoding)
    except export.ExportError as exc:
        raise CliError(str(exc)) from None
    progress.end_line()
    print(f"wrote {out}")
    return 0


def gallery(args: argparse.Namespace) -> int:
    """`vizlab gallery`: every view of every lab at every size, and an index.html."""
    from vizlab import gallery as slides
    from vizlab.labs import LAB_NAMES

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out must be a folder, and {out} is a file")
    if not out.parent.is_dir():
        raise CliError(f"the folder {out.parent} does not exist")
    sizes = list(dict.fromkeys(args.size or slides.DEFAULT_SIZES))
    theme = presentation_theme() if args.presentation else None
    headless_app()
    started = time.monotonic()
    with contextlib.ExitStack() as cleanup:
        if theme is not None:
            cleanup.callback(theme.set_presentation, theme.presentation())
            theme.set_presentation(True)
        interrupts = cleanup.enter_context(Interrupts().installed())
        out.mkdir(exist_ok=True)

        def report(line: str) -> None:
            progress.end_line()
            print(line, flush=True)

        def training(lab: str, step: int, total: int) -> None:
            progress.show(step, total, f"training {lab}")

        try:
            images = slides.render_gallery(
                out, LAB_NAMES, sizes, args.steps, args.presentation, args.views_only,
                report=report, training_progress=training, held=interrupts.held)
        except slides.GalleryError as exc:
            raise CliError(f"{exc} (the pictures made before it are in {out})") from None
    progress.end_line()
    print(f"wrote {out / 'index.html'}: {len(images)} pictures in "
          f"{time.monotonic() - started:.0f} s")
    return 0


def _why_it_ended(snapshot) -> str:
    """": the run diverged at step N" when a snapshot says so, else ""."""
    diverged = getattr(snapshot, "diverged_at", None)
    return f": the run diverged at step {diverged}" if isinstance(diverged, int) else ""


if __name__ == "__main__":
    sys.exit(main())
