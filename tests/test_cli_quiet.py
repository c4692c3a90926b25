"""The headless commands keep the terminal quiet and honest.

Nothing but real problems on stderr (no Qt chatter about size hints, no numpy or
pyqtgraph warnings), no scratch folder left behind, Ctrl+C ends with one line and exit
code 130, and a message never lands glued onto the progress bar's line.
"""

from __future__ import annotations

import errno
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vizlab import cli
from vizlab.export import recording
from vizlab.export.atomic import atomic_open

VIZLAB = Path(sys.executable).with_name("vizlab")


def cli_env(tmp_path: Path) -> dict[str, str]:
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env.update(QT_QPA_PLATFORM="offscreen", OPENBLAS_NUM_THREADS="1", TMPDIR=str(scratch))
    return env


@pytest.mark.parametrize("lab, extra", [
    ("loss", []),
    # Every run diverges here: expected overflow, not a warning.
    ("regularization", ["--set", "learning_rate=1.0", "--set", "activation=linear"]),
    ("dropout", ["--window"]),
])
def test_screenshot_prints_nothing_on_stderr_and_leaves_no_scratch(tmp_path, lab, extra):
    out = tmp_path / f"{lab}.png"
    result = subprocess.run(
        [str(VIZLAB), "screenshot", lab, "--steps", "3", "--out", str(out), *extra],
        capture_output=True, text=True, env=cli_env(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == f"wrote {out}\n"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((tmp_path / "tmp").glob("vizlab-cli-*")) == []


def test_harmless_qt_message_is_dropped_and_others_pass(capfd):
    from PySide6.QtCore import qWarning

    cli.quiet_qt_messages()
    qWarning("This plugin does not support propagateSizeHints()")
    qWarning("something else went wrong")
    assert capfd.readouterr().err == "something else went wrong\n"


def non_progress_lines(text: str) -> list[str]:
    """The lines of a terminal's text that are not progress bars."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line for line in lines
            if line and not line.startswith(("training [", "encoding ["))]


def test_ctrl_c_mid_run_exits_130_with_one_line(tmp_path):
    out = tmp_path / "out.gif"
    # stderr on a terminal, so the progress bar shows and tells when training runs.
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [str(VIZLAB), "record", "training", "--steps", "100000", "--every", "10",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=slave, env=cli_env(tmp_path))
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while b"training [" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                seen += os.read(master, 4096)
        assert b"training [" in seen, seen
        process.send_signal(signal.SIGINT)
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            try:
                chunk = os.read(master, 4096) if ready else b""
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    text = seen.decode()
    assert "Traceback" not in text
    assert non_progress_lines(text) == ["vizlab: interrupted"]
    assert text.endswith("\r\nvizlab: interrupted\r\n")  # on a line of its own
    assert process.stdout.read() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # no gif, no part file


@pytest.fixture
def terminal_cli(qapp, monkeypatch, capsys):
    """cli.main in this process, its stderr taken for a terminal (so it draws bars)."""
    monkeypatch.setattr(cli, "quiet_qt_messages", lambda: None)  # pytest-qt's own handler
    monkeypatch.setattr(cli.progress, "terminal", True)
    return capsys


def stopping_writer(error: BaseException):
    """A GIF writer that opens its file, reports two frames of three, then fails."""

    def write_gif(path, frames, fps=10.0, loop=0, progress=None):
        with atomic_open(path, "wb") as fh:
            fh.write(b"GIF89a")
            progress(0, 3)
            progress(1, 3)
            raise error

    return write_gif


def test_ctrl_c_mid_encode_leaves_no_file_and_one_line(terminal_cli, monkeypatch, tmp_path):
    monkeypatch.setattr(recording, "write_gif", stopping_writer(KeyboardInterrupt()))
    out = tmp_path / "out.gif"
    code = cli.main(["record", "loss", "--steps", "2", "--every", "1", "--out", str(out)])
    err = terminal_cli.readouterr().err
    assert code == 130
    assert err.endswith("\rencoding [##########....................] 1/3\nvizlab: interrupted\n")
    assert non_progress_lines(err) == ["vizlab: interrupted"]
    assert list(tmp_path.iterdir()) == []


def test_disk_full_message_gets_its_own_line(terminal_cli, monkeypatch, tmp_path):
    full = OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(recording, "write_gif", stopping_writer(full))
    out = tmp_path / "out.gif"
    code = cli.main(["record", "loss", "--steps", "2", "--every", "1", "--out", str(out)])
    err = terminal_cli.readouterr().err
    assert code == 2
    message = f"vizlab: Cannot write {out}: the disk is full"
    assert err.endswith(f"] 1/3\n{message}\n")
    assert non_progress_lines(err) == [message]
    assert list(tmp_path.iterdir()) == []


def test_no_progress_bar_when_stderr_is_not_a_terminal(qapp, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, "quiet_qt_messages", lambda: None)
    out = tmp_path / "out.png"
    assert cli.main(["screenshot", "loss", "--steps", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == f"wrote {out}\n"


def test_a_view_that_cannot_draw_gives_exit_2_and_no_picture(qapp, monkeypatch, capsys, tmp_path):
    from vizlab.labs import loss as loss_view

    def broken(self, snapshot):
        raise IndexError("too many indices for array")

    monkeypatch.setattr(cli, "quiet_qt_messages", lambda: None)
    monkeypatch.setattr(loss_view.View, "draw", broken)
    out = tmp_path / "out.png"
    assert cli.main(["screenshot", "loss", "--steps", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("drawing the loss lab at step 0 failed: IndexError: too many indices for array"
            in err)
    assert not out.exists() and list(tmp_path.iterdir()) == []
