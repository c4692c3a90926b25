"""The Style lab: an image optimised to take its content from one picture and its style
(Gram matrices of conv features) from another, shown live with its losses."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Generator
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine import pretrained
from engine.experiments import style as experiment
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, ImageView, theme
from vizlab.widgets.layout_check import TextHeadroom
from vizlab.widgets.page import ResizeAware
from vizlab.widgets.text import WrappedLabel

HELP = """
<p><b>Style lab.</b> Gatys, Ecker and Bethge (2016): start from a picture (or noise)
and change its pixels by gradient descent so that</p>
<ul>
<li>its features at one deep conv layer match the <b>content</b> image's there (what
is where), and</li>
<li>at several layers (the first conv of each block), the <b>Gram matrix</b> of its
features, G = F<sup>T</sup>F / (C·H·W), matches the <b>style</b> image's. A Gram matrix
says which feature channels fire together, anywhere in the image: texture and colour
without the layout.</li>
</ul>
<p>The features come from VGG16's stack of 3x3 convolutions and 2x2 max-pools. With
Keras' own ImageNet weights (<b>Get VGG16 weights...</b>, or
<code>vizlab weights download vgg16</code>, or a copy in <code>~/.keras/models</code>)
this is the paper's setting: full widths, content at conv4_2, style at conv1_1..conv5_1,
256 px. Without them the filters are <b>random</b>: random conv networks still
synthesise texture and colour (Ustyuzhaninov et al. 2016; He, Wang and Hopcroft 2016)
and keep a picture's layout at a shallow layer (conv1_2), but not the object-level
style a trained VGG16 gives. The line above the images says which features are in use.
Each loss is divided by the size of its target (so that layers of very different
magnitude count alike); the total is content + style weight · style + TV weight · TV,
where TV (total variation) penalises pixel-to-pixel noise.</p>
<p>With random filters the run starts from <b>noise</b>: the style's texture grows
over the content's shallow layout (set style weight high and content is lost: pure
texture synthesis). With real weights it starts from the content image. L-BFGS runs
<code>lbfgs_chunk</code> iterations per snapshot, its memory restarted each time.</p>
<p>Style weight, TV weight and the learning rate apply at once; images, network and
optimiser apply on <b>Reset</b>. <b>Save image...</b> writes the optimised image at
its full size as a PNG; File &gt; Start Recording makes a GIF of it forming.</p>
"""

NARROW_PX = 640  # a view narrower than this (the whole window at 1024x640) has two
# plots a row, and scrolls
NARROW_BOARD_PX = 720  # the height of its panels then: images, two rows of plots

CURVES = (("total", "total", theme.palette_color(0)),
          ("content", "content", theme.palette_color(1)),
          ("style", "style", theme.palette_color(2)),
          ("tv", "TV", theme.palette_color(7)))


class WeightsDownload(QObject):
    """Keras' VGG16 file fetched on a thread of its own; its news arrive as signals."""

    progress = Signal(int, int)  # bytes done, total (0: unknown)
    finished = Signal(str)  # the file's path
    failed = Signal(str, bool)  # message, cancelled

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.thread: threading.Thread | None = None
        # Parameters, so that tests can point at a local server.
        self.url, self.md5 = pretrained.VGG16_URL, pretrained.VGG16_MD5
        self.dest = pretrained.cache_dir() / pretrained.VGG16_FILE

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        if self.busy:
            return
        self.cancel_event.clear()
        self.thread = threading.Thread(target=self._work, name="vgg16-download",
                                       daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()

    def _work(self) -> None:
        try:
            path = pretrained.download(
                self.dest, self.url, self.md5, cancelled=self.cancel_event.is_set,
                progress=lambda done, total: self._emit(self.progress, done, total or 0))
        except pretrained.DownloadCancelled as exc:
            self._emit(self.failed, str(exc), True)
        except Exception as exc:  # any failure is a message, never a dead thread
            self._emit(self.failed, str(exc), False)
        else:
            self._emit(self.finished, str(path))

    def _emit(self, signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the lab was closed meanwhile: nobody to tell
            self.cancel_event.set()


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """The (H, W, 3) 0..1 image as an 8-bit PNG at its own size, written to a temporary
    name in the same folder and renamed (never a half-written file)."""
    path = Path(path)
    pixels = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    fd, temp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(pixels).save(f, format="PNG")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def eta_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


class View(LabView):
    lab_name = "style"
    help_html = HELP
    preview_on_change = True

    def build_views(self) -> Generator[None, None, QWidget]:  # a view per turn in the app
        # What the slots and begin_shutdown() use exists before the first yield.
        self.download = WeightsDownload(self)
        self.shown_snapshot: experiment.Snapshot | None = None
        self._targets_key: tuple | None = None
        yield
        # The panels on a board in a scroll area: in a narrow view (the whole window at
        # 1024x640 leaves the lab about 560 px beside its settings) two plots a row, the
        # board taller than the view; wide, the usual three a row, no scrolling.
        self.board = QWidget()
        grid = self.grid = QGridLayout(self.board)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.features_label = WrappedLabel()
        self.features_label.setTextFormat(Qt.TextFormat.RichText)
        self.features_label.setStyleSheet(
            "background: #eef3fb; border: 1px solid #9db4d8; padding: 4px 6px;")
        tools = QHBoxLayout()
        tools.setContentsMargins(0, 0, 0, 0)
        tools.addWidget(self.features_label, 1)
        # The buttons one over the other: the banner keeps the width (five lines of it
        # beside them in a row at 1024x640).
        buttons = QVBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.setSpacing(2)
        tools.addLayout(buttons)
        self.get_weights_button = QPushButton("Get VGG16 weights...")
        self.get_weights_button.setToolTip(
            f"Download Keras' VGG16 ImageNet weights (59 MB) from {pretrained.VGG16_URL} "
            f"into {pretrained.cache_dir()}; resumes a cut-off download, checks the md5.")
        self.get_weights_button.clicked.connect(self.get_weights)
        self.download_bar = QProgressBar()
        self.download_bar.setFormat("%v of %m MB")
        self.download_bar.setMaximumWidth(180)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.save_button = QPushButton("Save image...")
        self.save_button.setToolTip("Save the optimised image, at its full size, as a PNG")
        self.save_button.clicked.connect(self.ask_save_image)
        for widget in (self.get_weights_button, self.download_bar, self.cancel_button,
                       self.save_button):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        self.download_bar.hide()
        self.cancel_button.hide()
        # Six columns: three panels a row take two each, two a row three each.
        grid.addLayout(tools, 0, 0, 1, 6)
        self.download.progress.connect(self._on_download_progress)
        self.download.finished.connect(self._on_download_finished)
        self.download.failed.connect(self._on_download_failed)
        # A view per turn: each took 15-30 ms to make on a busy machine.
        self.content_view = ImageView("content")
        yield
        self.style_view = ImageView("style")
        yield
        self.image_view = ImageView("optimised image")
        grid.addWidget(self.content_view, 1, 0, 1, 2)
        grid.addWidget(self.style_view, 1, 2, 1, 2)
        grid.addWidget(self.image_view, 1, 4, 1, 2)
        yield
        self.loss_plot = CurvePlot("Losses", x_label="step", y_label="loss (log scale)",
                                   log_y=True)
        yield
        self.layer_plot = CurvePlot("Style loss per layer", x_label="step",
                                    y_label="style_l (log scale)", log_y=True)
        yield
        self.layer_bars = BarPlot("Weighted style loss", x_label="layer",
                                  y_label="weight · style_l / layers",
                                  value_format="{:.3g}")
        self._headroom = TextHeadroom(self.layer_bars.plot_item)  # value labels whole
        # Every bar named: the layer names as long as the bars' width allows ("conv2_1",
        # "c2_1", "2_1"), fitted again on resize; pyqtgraph would skip names that do not
        # fit (with five layers at 1024x640 it kept one of five).
        self._bar_data: tuple[list[str], np.ndarray, list[str]] | None = None
        self.layer_bars.plot_item.vb.sigResized.connect(self._fit_bar_names)
        # The per-layer curves' key likewise: the short names where they save a row of
        # key (five layers took three rows, leaving the curves 55 px in large type).
        self.layer_plot.plot_item.vb.sigResized.connect(self._fit_key_names)
        # Short y labels where the full ones are longer than their plot is tall: in
        # large type (these plots are about 200 pixels tall) and in a small window.
        self._y_labels = (
            (self.loss_plot.plot_item, "loss (log scale)", "loss"),
            (self.layer_plot.plot_item, "style_l (log scale)", "style_l"),
            (self.layer_bars.plot_item, "weight · style_l / layers", "weighted"))
        for plot, _, _ in self._y_labels:
            plot.vb.sigResized.connect(self._fit_y_labels)
        theme.on_theme_changed(self._fit_y_labels)
        self._fit_y_labels()
        # Two-column legends in the top right corner, which the falling curves leave free.
        for plot in (self.loss_plot, self.layer_plot):
            plot.plot_item.legend.setColumnCount(2)
        # Small minimums: the three columns share whatever width the window has.
        for widget in (self.content_view, self.style_view, self.image_view, self.loss_plot,
                       self.layer_plot, self.layer_bars):
            widget.setMinimumSize(160, 160)
            # Rows share the height by their stretch alone (an image's size hint took
            # a narrow view's rows of plots below the fold).
            widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        self.note = WrappedLabel()
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.note.setStyleSheet("padding: 2px 6px;")
        self.note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        for col in range(6):
            grid.setColumnStretch(col, 1)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.board)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        page = ResizeAware(self._arrange)
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.scroll)
        self.narrow: bool | None = None
        self._arrange()
        theme.on_theme_changed(self._restyle_notes)
        self._restyle_notes()
        return page

    def _arrange(self) -> None:
        """Three plots a row under the images and the note under them all, or, in a view
        narrower than NARROW_PX, the losses and the per-layer curves a row, the bars and
        the note the next, each plot tall enough for its key, ticks and data."""
        page = self.scroll.parentWidget()
        narrow = page is not None and page.width() < NARROW_PX
        if narrow == self.narrow:
            return
        self.narrow = narrow
        grid = self.grid
        for widget in (self.loss_plot, self.layer_plot, self.layer_bars, self.note):
            grid.removeWidget(widget)
        if narrow:
            grid.addWidget(self.loss_plot, 2, 0, 1, 3)
            grid.addWidget(self.layer_plot, 2, 3, 1, 3)
            grid.addWidget(self.layer_bars, 3, 0, 1, 3)
            grid.addWidget(self.note, 3, 3, 1, 3)
            stretches = (4, 5, 5)
        else:
            grid.addWidget(self.loss_plot, 2, 0, 1, 2)
            grid.addWidget(self.layer_plot, 2, 2, 1, 2)
            grid.addWidget(self.layer_bars, 2, 4, 1, 2)
            grid.addWidget(self.note, 3, 0, 1, 6)
            stretches = (5, 4, 0)
        for row, stretch in enumerate(stretches, start=1):
            grid.setRowStretch(row, stretch)
        self.board.setMinimumHeight(NARROW_BOARD_PX if narrow else 0)

    def _restyle_notes(self) -> None:
        """The note under the plots in the theme's type: large in presentation mode like
        everything else (the application's font else). The line over the images stays
        small: in large type its four lines would take the loss plots' height."""
        self.note.setFont(theme.font(theme.tick_pt() - 2) if theme.presentation()
                          else QApplication.font())

    def _fit_y_labels(self, *_args) -> None:
        """Each plot's y label in full where it fits the plot's height, else short."""
        metrics = QFontMetricsF(theme.font(theme.label_pt()))
        for plot, full, short in self._y_labels:
            fits = metrics.horizontalAdvance(full) + 8 <= plot.vb.height()
            text = full if fits and not theme.presentation() else short
            axis = plot.getAxis("left")
            if axis.labelText != text or axis.labelStyle.get("font-size") != \
                    f"{theme.label_pt()}pt":
                theme.set_axis_label(plot, "left", text)

    def _fit_bar_names(self, *_args) -> None:
        """The weighted-loss bars with their layers' names in the longest form that fits
        under every bar (see ``bar_names``); the x label says what a short form is."""
        if self._bar_data is None:
            return
        names, values, colors = self._bar_data
        vb = self.layer_bars.plot_item.vb
        slot = vb.width() / (len(names) + 0.2)  # pixels per bar (BarPlot's range)
        shown, label = bar_names(names, slot, QFontMetricsF(theme.font(theme.tick_pt())))
        self.layer_bars.set_bars(shown, values, colors)
        if self.layer_bars.plot_item.getAxis("bottom").labelText != label:
            theme.set_axis_label(self.layer_bars.plot_item, "bottom", label)

    def _fit_key_names(self, *_args) -> None:
        """The per-layer key's entries in the longest form of the layers' names (see
        ``name_forms``) that takes no more rows than the shortest."""
        legend = self.layer_plot.plot_item.legend
        names = [n for n in self.layer_plot.curve_names()]
        if not names or len(names) != len(legend.items):
            return
        room = legend.available_width()
        forms = [form for form, _ in name_forms(names)]
        rows = []
        for form in forms:
            legend.set_entry_names(form)
            rows.append(legend.rows_for(room))
        best = forms[rows.index(min(rows))]
        if legend.entry_names() != best:
            legend.set_entry_names(best)

    def clear_views(self) -> None:
        for plot in (self.loss_plot, self.layer_plot):
            for name in list(plot.curve_names()):
                plot.remove_curve(name)
        self._targets_key = None

    def draw(self, snap: experiment.Snapshot) -> None:
        key = (snap.content_name, snap.style_name, snap.content_image.shape,
               id(snap.content_image), id(snap.style_image))
        if key != self._targets_key:
            self.content_view.set_image(snap.content_image)
            self.style_view.set_image(snap.style_image)
            self._targets_key = key
        self.content_view.set_title(f"content: {snap.content_name}")
        self.style_view.set_title(f"style: {snap.style_name}")
        self.shown_snapshot = snap
        self.image_view.set_image(snap.image)
        self.image_view.set_title(f"result, step {snap.step}/{snap.steps}")
        layers = (f"Content layer {snap.content_layer}; style layers "
                  f"{', '.join(snap.style_layers)}; {snap.image.shape[0]} px.")
        if snap.pretrained:
            text = f"<b>Features in use: {snap.features}</b>. {layers}"
        else:
            text = (f"<b>Features in use: {snap.features}</b>. {layers} Random filters "
                    "synthesise texture and keep only shallow content; for style transfer "
                    "as in the paper, get the real VGG16 weights.")
        self.features_label.setText(text)
        self.get_weights_button.setVisible(not snap.pretrained
                                           and not self.download.busy)

        h = snap.history
        steps = h["step"]
        for key_, name, color in CURVES:
            self.loss_plot.set_curve(name, steps, h[key_], color=color)
        layers = np.reshape(h["layers"], (len(steps), -1))  # 1-D for a single layer
        names = list(snap.style_layers)
        for i, layer in enumerate(names):
            self.layer_plot.set_curve(layer, steps, layers[:, i],
                                      color=theme.palette_color(i + 3))
        for name in self.layer_plot.curve_names():
            if name not in names:
                self.layer_plot.remove_curve(name)
        weight = snap.style_weight
        weighted = snap.style_per_layer * weight / len(names)
        self._bar_data = (names, weighted,
                          [theme.palette_color(i + 3) for i in range(len(names))])
        self._fit_bar_names()
        self._fit_key_names()
        self.note.setText(
            f"{self._progress_text(snap)} ({snap.optimizer}): total <b>{snap.total:.4g}</b> = content "
            f"{snap.content:.4g} + {weight:g} · style {snap.style:.4g} + "
            f"{snap.tv_weight:g} · TV {snap.tv:.4g}. Each loss is relative to its "
            "target: content = Σ(F−P)² / ΣP², style_l = Σ(G−A)² / ΣA², G = FᵀF / (C·H·W)."
        )

    def _progress_text(self, snap: experiment.Snapshot) -> str:
        """"Step 40/500, 6.1 steps/s, 1 min 15 s left" while running, else "Step 40"."""
        text = f"Step {snap.step}"
        rate = self.training_steps_per_second()
        if rate > 0 and snap is self.last_snapshot:
            shown = f"{rate:.3g}" if rate < 100 else f"{rate:.0f}"
            text += f"/{snap.steps}, <b>{shown} steps/s</b>"
            if snap.step < snap.steps:
                text += f", {eta_text((snap.steps - snap.step) / rate)} left"
        return text

    # -- saving the image ---------------------------------------------------------------
    def save_image(self, path: str | Path) -> Path:
        """The image shown (the newest, or the one scrubbed to) as a PNG at its size."""
        if self.shown_snapshot is None:
            raise ValueError("there is no image yet: press Run or Step first")
        return save_png(self.shown_snapshot.image, path)

    def ask_save_image(self) -> None:
        if self.shown_snapshot is None:
            self._show_error("There is no image to save yet: press Run or Step first.")
            return
        snap = self.shown_snapshot
        path, _ = QFileDialog.getSaveFileName(self, "Save the optimised image",
                                              f"style-step{snap.step}.png", "PNG (*.png)")
        if not path:
            return
        try:
            self.save_image(path)
        except OSError as exc:
            self._show_error(f"Could not save {path}: {exc}")
            return
        self.set_banner(f"Saved {path} ({snap.image.shape[1]}x{snap.image.shape[0]} px).")

    # -- getting the weights ---------------------------------------------------------------
    def get_weights(self) -> None:
        """Download Keras' VGG16 file into the cache folder, off the GUI thread."""
        if self.download.busy:
            return
        self.get_weights_button.hide()
        self.download_bar.setRange(0, pretrained.VGG16_MEGABYTES)
        self.download_bar.setValue(0)
        self.download_bar.show()
        self.cancel_button.show()
        self.set_banner("Downloading VGG16's weights...")
        self.download.start()

    def cancel_download(self) -> None:
        self.download.cancel()

    def _on_download_progress(self, done: int, total: int) -> None:
        if total:
            self.download_bar.setMaximum(max(1, round(total / 1e6)))
        self.download_bar.setValue(min(round(done / 1e6), self.download_bar.maximum()))

    def _download_ended(self) -> None:
        self.download_bar.hide()
        self.cancel_button.hide()

    def _on_download_finished(self, path: str) -> None:
        self._download_ended()
        self.set_banner(f"VGG16's weights are in {path}. With features 'auto' the lab uses "
                        "them from the next Reset: the paper's layers at 256 px.")
        if not self.runner.is_active:
            self.preview()

    def _on_download_failed(self, message: str, cancelled: bool) -> None:
        self._download_ended()
        self.get_weights_button.show()
        if cancelled:
            self.set_banner(f"Download cancelled: {message}")
        else:
            self._show_error(f"Could not get VGG16's weights: {message}")

    def begin_shutdown(self) -> None:
        self.download.cancel()  # the thread ends at its next chunk; the .part stays
        super().begin_shutdown()


def bar_names(names: list[str], slot: float, metrics: QFontMetricsF) -> tuple[list[str], str]:
    """Layer names for bars ``slot`` pixels apart, and the x axis's label that goes with
    them: the full names where each fits its bar's width with a margin ("conv2_1",
    "layer"), else with their common prefix cut to its first letter ("c2_1", "conv
    layer"), else without it ("2_1", "conv layer"). The shortest form when none fits;
    the full names before the plot is laid out (``slot`` 0)."""
    forms = name_forms(names)
    if slot <= 0:
        return forms[0]
    for form, cut in forms:
        if max(metrics.horizontalAdvance(n) for n in form) + 8 <= slot:
            return form, cut
    return forms[-1]


def name_forms(names: list[str]) -> list[tuple[list[str], str]]:
    """Layer names long to short, each with the x label that goes with it: as they are
    ("conv2_1", "layer"); with their common prefix cut to its first letter ("c2_1");
    without it ("2_1"); the label of both short forms names the prefix ("conv layer")."""
    prefix = os.path.commonprefix(names).rstrip("0123456789_")
    forms = [(list(names), "layer")]
    if prefix and all(len(n) > len(prefix) for n in names):
        forms += [([prefix[0] + n[len(prefix):] for n in names], f"{prefix} layer"),
                  ([n[len(prefix):] for n in names], f"{prefix} layer")]
    return forms
