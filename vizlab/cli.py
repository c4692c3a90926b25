"""The `vizlab` command: opens the app, or renders labs headless for teaching material.

    vizlab                      open the app
    vizlab list                 the labs and their settings
    vizlab screenshot LAB ...   a PNG of a lab after N steps (no display needed)
    vizlab record LAB ...       a GIF/APNG of a lab training (no display needed)
"""

from __future__ import annotations

import argparse
import os
import sys

HEADLESS_HELP = """\
vizlab found no display to open its window on (DISPLAY and WAYLAND_DISPLAY are unset).

To use vizlab on this machine without a screen:
  vizlab list                                      the labs and their settings
  vizlab screenshot training --steps 200 --out training.png
  vizlab record training --steps 300 --every 5 --out training.gif
These render offscreen with the same lab code as the app.

To open the window anyway on a virtual screen, run it under Xvfb
(xvfb-run vizlab), or set QT_QPA_PLATFORM=offscreen to start it invisibly.
"""


def has_display() -> bool:
    """True when Qt can open a window here (or the user chose a platform explicitly)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # macOS and Windows always have a window system


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vizlab", description="A desktop lab for seeing how neural networks learn."
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("app", help="open the app (the default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "app"):
        if not has_display():
            sys.stderr.write(HEADLESS_HELP)
            return 2
        from vizlab.app import run_app

        return run_app()
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
