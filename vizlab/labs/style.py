"""The Style lab: an image optimised to take its content from one picture and its style
(Gram matrices of conv features) from another, shown live with its losses."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from engine.experiments import style as experiment
from vizlab.labs.base import LabView
from vizlab.widgets import BarPlot, CurvePlot, ImageView, _style

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
<p>The features come from a VGG16-shaped stack of 3x3 convolutions and 2x2 max-pools.
No pretrained weights ship with vizlab, so unless you give a Keras VGG16 weights file
the filters are <b>random</b>: random conv networks still transfer texture and colour
(Ustyuzhaninov et al. 2016; He, Wang and Hopcroft 2016), but not the object-level
style a trained VGG16 gives. The line above the images says which features are in use.
Each loss is divided by the size of its target (so that layers of very different
magnitude count alike); the total is content + style weight · style + TV weight · TV,
where TV (total variation) penalises pixel-to-pixel noise.</p>
<p>Start from the content image (the default): what random deep features keep of the
content is too little to redraw it from <b>noise</b>; from noise you get the style's
texture alone (try it: that is texture synthesis). L-BFGS runs
<code>lbfgs_chunk</code> iterations per snapshot, its memory restarted each time.</p>
<p>Style weight, TV weight and the learning rate apply at once; images, network and
optimiser apply on <b>Reset</b>.</p>
"""

CURVES = (("total", "total", _style.palette_color(0)),
          ("content", "content", _style.palette_color(1)),
          ("style", "style", _style.palette_color(2)),
          ("tv", "TV", _style.palette_color(7)))


class View(LabView):
    lab_name = "style"
    help_html = HELP
    preview_on_change = True

    def build_views(self) -> QWidget:
        page = QWidget()
        grid = QGridLayout(page)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.features_label = QLabel()
        self.features_label.setWordWrap(True)
        self.features_label.setTextFormat(Qt.TextFormat.RichText)
        self.features_label.setStyleSheet(
            "background: #eef3fb; border: 1px solid #9db4d8; padding: 4px 6px;")
        grid.addWidget(self.features_label, 0, 0, 1, 3)
        self.content_view = ImageView("content")
        self.style_view = ImageView("style")
        self.image_view = ImageView("optimised image")
        grid.addWidget(self.content_view, 1, 0)
        grid.addWidget(self.style_view, 1, 1)
        grid.addWidget(self.image_view, 1, 2)
        self.loss_plot = CurvePlot("Losses", x_label="step", y_label="loss (log scale)",
                                   log_y=True)
        self.layer_plot = CurvePlot("Style loss per layer", x_label="step",
                                    y_label="style_l (log scale)", log_y=True)
        self.layer_bars = BarPlot("Weighted style loss, now", x_label="layer",
                                  y_label="weight · style_l / layers",
                                  value_format="{:.3g}")
        # Two-column legends in the top right corner, which the falling curves leave free.
        for plot in (self.loss_plot, self.layer_plot):
            plot.plot_item.legend.setColumnCount(2)
        # Small minimums: the three columns share whatever width the window has.
        for widget in (self.content_view, self.style_view, self.image_view, self.loss_plot,
                       self.layer_plot, self.layer_bars):
            widget.setMinimumSize(160, 160)
        grid.addWidget(self.loss_plot, 2, 0)
        grid.addWidget(self.layer_plot, 2, 1)
        grid.addWidget(self.layer_bars, 2, 2)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.note.setStyleSheet("padding: 2px 6px;")
        grid.addWidget(self.note, 3, 0, 1, 3)
        grid.setRowStretch(1, 5)
        grid.setRowStretch(2, 4)
        for col in range(3):
            grid.setColumnStretch(col, 1)
        self._targets_key: tuple | None = None
        return page

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
        self.content_view.set_title(f"content: {snap.content_name} ({snap.content_layer})")
        self.style_view.set_title(f"style: {snap.style_name}")
        self.image_view.set_image(snap.image)
        self.image_view.set_title(f"optimised image, step {snap.step}")
        self.features_label.setText(
            f"<b>Features in use: {snap.features}</b>. Content layer "
            f"{snap.content_layer}; style layers {', '.join(snap.style_layers)}."
        )

        h = snap.history
        steps = h["step"]
        for key_, name, color in CURVES:
            self.loss_plot.set_curve(name, steps, h[key_], color=color)
        layers = h["layers"]
        names = list(snap.style_layers)
        for i, layer in enumerate(names):
            self.layer_plot.set_curve(layer, steps, layers[:, i],
                                      color=_style.palette_color(i + 3))
        for name in self.layer_plot.curve_names():
            if name not in names:
                self.layer_plot.remove_curve(name)
        weight = snap.style_weight
        weighted = snap.style_per_layer * weight / len(names)
        self.layer_bars.set_bars(names, weighted,
                                 [_style.palette_color(i + 3) for i in range(len(names))])
        self.note.setText(
            f"Step {snap.step} ({snap.optimizer}): total <b>{snap.total:.4g}</b> = content "
            f"{snap.content:.4g} + {weight:g} · style {snap.style:.4g} + "
            f"{snap.tv_weight:g} · TV {snap.tv:.4g}. Each loss is relative to its "
            "target: content = Σ(F−P)² / ΣP², style_l = Σ(G−A)² / ΣA², G = FᵀF / (C·H·W)."
        )
