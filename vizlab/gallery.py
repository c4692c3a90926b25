"""`vizlab gallery`: every view of every lab as a PNG, plus an index.html, for slides.

Each lab trains once, headless, for its step count; its final snapshot is then drawn by a
lab view built at each picture size (a view draws any snapshot on its own, as when the
timeline is scrubbed), and each tab of a tabbed lab (the choices of its `view` setting)
is saved as `<lab>-<view>-<W>x<H>[-presentation].png`. Files are written atomically, so
a gallery stopped by an error keeps the pictures already done and no half-written one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import html
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((1024, 640), (1280, 800))
#: Training steps before the picture, as `vizlab screenshot` takes by default...
DEFAULT_STEPS = 200
#: ...except where a step costs much more (the Style lab's 200 steps take minutes on a
#: busy laptop; 100 already show the style taking hold).
LAB_STEPS = {"style": 100}


class GalleryError(Exception):
    """A lab or view that could not be trained or drawn: one sentence for the user."""


@dataclasses.dataclass(frozen=True)
class GalleryImage:
    """One picture of the gallery."""

    lab: str
    title: str
    tab: str | None  # the value of the lab's `view` setting; None for a lab of one view
    size: tuple[int, int]
    file: str  # its name inside the gallery folder


def default_steps(lab: str) -> int:
    return LAB_STEPS.get(lab, DEFAULT_STEPS)


def lab_tabs(lab: str) -> tuple[str, ...]:
    """The values of a lab's `view` setting (its tabs), or () for a lab without tabs."""
    from engine import experiments

    for info in experiments.settings_of(experiments.get(lab).Config):
        if info.name == "view" and info.choices:
            return tuple(info.choices)
    return ()


def slug(text: str) -> str:
    """A file-name part: lower case, runs of anything but letters and digits as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def image_name(lab: str, tab: str | None, size: tuple[int, int], presentation: bool = False,
               views_only: bool = False) -> str:
    """`<lab>[-<view>]-<W>x<H>[-presentation|-views-only].png`."""
    parts = [slug(lab)] + ([slug(tab)] if tab else []) + [f"{size[0]}x{size[1]}"]
    if presentation:
        parts.append("presentation")
    elif views_only:
        parts.append("views-only")
    return "-".join(parts) + ".png"


def planned_images(labs: Iterable[str], sizes: Sequence[tuple[int, int]],
                   presentation: bool = False, views_only: bool = False) -> list[GalleryImage]:
    """Every picture a gallery of `labs` at `sizes` makes, in the order it makes them."""
    from engine import experiments

    images = []
    for lab in labs:
        title = experiments.get(lab).TITLE
        for size in sizes:
            for tab in lab_tabs(lab) or (None,):
                images.append(GalleryImage(lab, title, tab, tuple(size),
                                           image_name(lab, tab, size, presentation, views_only)))
    return images


def train(lab: str, steps: int, progress: Callable[[int, int], None] | None = None) -> Any:
    """The lab's snapshot at `steps` (or its last, if it ends before), trained headless
    with its default settings."""
    from engine import experiments
    from engine.experiments.contract import has_length
    from engine.experiments.session import Session

    config = experiments.get(lab).Config()
    if has_length(config):
        config.steps = max(config.steps, steps)
    session = Session(experiments.get(lab), config)
    snapshot = None
    try:
        for snapshot in session:
            if progress is not None:
                progress(min(snapshot.step, steps), steps)
            if snapshot.step >= steps:
                break
    except Exception as exc:
        raise GalleryError(f"the {lab} experiment failed: {type(exc).__name__}: {exc}") from None
    finally:
        session.close()
    if snapshot is None:
        raise GalleryError(f"the {lab} experiment produced nothing")
    return snapshot


def render_gallery(
    out: Path,
    labs: Sequence[str],
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    steps: int | None = None,
    presentation: bool = False,
    views_only: bool = False,
    *,
    report: Callable[[str], None] = print,
    training_progress: Callable[[str, int, int], None] | None = None,
    held: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> list[GalleryImage]:
    """Write every view of every lab in `labs` at every size into `out` (which exists),
    then out/index.html; `report` gets one line per picture. Presentation mode must
    already be on when `presentation` is (the caller switches the theme before any view
    is built). `held` wraps the calls that run our code inside Qt (the CLI holds Ctrl+C
    back there). Raises GalleryError naming the lab and view that failed; pictures
    written before stay."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    views_only = views_only or presentation
    plan = planned_images(labs, sizes, presentation, views_only)
    done: list[GalleryImage] = []
    for lab in labs:
        lab_steps = default_steps(lab) if steps is None else steps
        started = time.monotonic()

        def trained(step: int, total: int, lab: str = lab) -> None:
            if training_progress is not None:
                training_progress(lab, step, total)

        snapshot = train(lab, lab_steps, trained)
        report(f"{lab}: trained to step {snapshot.step} in "
               f"{time.monotonic() - started:.1f} s")
        for size in sizes:
            # A view built at each size, as `vizlab screenshot --size` builds it (a resized
            # view keeps some of its old framing, e.g. equal-aspect plots).
            with held():
                view = build_lab_view(lab, size, views_only)
            try:
                with held():
                    app.processEvents()
                    view.show_snapshot(snapshot)
                    app.processEvents()
                for image in [i for i in plan if i.lab == lab and i.size == tuple(size)]:
                    with held():
                        if image.tab is not None and image.tab != view.config.view:
                            view.apply_settings({"view": image.tab})
                            app.processEvents()
                            view.go_live()  # drawn again with its tab in front, laid out
                            app.processEvents()
                        save(view, image, out)
                    if (view.width(), view.height()) != image.size:
                        report(f"note: {describe(image)} needs more room than "
                               f"{size[0]}x{size[1]}; drawn at {view.width()}x{view.height()}")
                    done.append(image)
                    report(f"[{len(done)}/{len(plan)}] wrote {out / image.file}")
            finally:
                view.shutdown()
                dispose(view)
                del view
                gc.collect()  # its Python side, with the theme callbacks it registered
    write_index(out, done, presentation)
    return done


def describe(image: GalleryImage) -> str:
    """"the dropout lab's 'worked example' view", or "the training lab"."""
    return f"the {image.lab} lab" + (f"'s {image.tab!r} view" if image.tab else "")


def save(view, image: GalleryImage, out: Path) -> None:
    """Save the view as `image`, unless it could not draw (GalleryError says which)."""
    from vizlab import export

    if view.draw_error is not None:
        raise GalleryError(f"{describe(image)} at {image.size[0]}x{image.size[1]} cannot "
                           f"draw: {view.draw_error}")
    try:
        export.save_screenshot(view, out / image.file)
    except export.ExportError as exc:
        raise GalleryError(str(exc)) from None


def build_lab_view(lab: str, size: tuple[int, int], views_only: bool = False):
    """A lab's view, shown offscreen at `size`, that draws only the snapshots it is given
    (no previews of its own: the caller drives the experiment)."""
    from vizlab.labs import view_class

    view = view_class(lab)()
    view.disable_previews()
    if views_only:
        view.set_views_only(True)
    view.resize(*size)
    view.show()
    return view


def dispose(widget) -> None:
    """Close a widget and delete it now (processEvents leaves deferred deletes to the
    event loop): a closed lab view left alive would still be restyled when presentation
    mode is switched back off, and that crashed the process at exit."""
    from PySide6.QtCore import QCoreApplication, QEvent

    widget.close()
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def write_index(out: Path, images: Sequence[GalleryImage], presentation: bool = False) -> Path:
    """out/index.html: the pictures by lab and view, each linked by its relative name."""
    from vizlab.export.atomic import atomic_open

    mode = " (presentation mode)" if presentation else ""
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>vizlab gallery{mode}</title>",
        "<style>body{font-family:sans-serif;margin:2em} figure{display:inline-block;"
        "margin:0 1em 1em 0;vertical-align:top} img{max-width:640px;border:1px solid #ccc}"
        "</style>",
        "</head><body>",
        f"<h1>vizlab gallery{mode}</h1>",
    ]
    by_lab: dict[str, list[GalleryImage]] = {}
    for image in images:
        by_lab.setdefault(image.lab, []).append(image)
    for lab, lab_images in by_lab.items():
        lines.append(f'<h2 id="{html.escape(slug(lab))}">{html.escape(lab_images[0].title)}'
                     f"</h2>")
        tabs: dict[str | None, list[GalleryImage]] = {}
        for image in lab_images:
            tabs.setdefault(image.tab, []).append(image)
        for tab, tab_images in tabs.items():
            if tab is not None:
                lines.append(f"<h3>{html.escape(tab)}</h3>")
            for image in tab_images:
                href = html.escape(quote(image.file))
                size = f"{image.size[0]}x{image.size[1]}"
                alt = html.escape(f"{image.title}" + (f", {tab}" if tab else "") + f", {size}")
                lines.append(f'<figure><a href="{href}"><img src="{href}" alt="{alt}" '
                             f'loading="lazy"></a><figcaption>{size}</figcaption></figure>')
    lines.append("</body></html>")
    path = out / "index.html"
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path
