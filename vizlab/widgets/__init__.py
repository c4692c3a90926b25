"""pyqtgraph widgets shared by every lab: heatmap, curves, image, histogram and bar plots.

Importing this package sets pyqtgraph's global look once for the whole app: white
background, black text and antialiased lines, which read well on projected slides.
Every widget creates its plot items once and only updates their data afterwards.
"""

import logging
import sys

import pyqtgraph as pg
import PySide6

pg.setConfigOptions(antialias=True, background="w", foreground="k")

# PySide6 6.12.0 on CPython 3.11 (where None/True/False are not immortal) drops a
# reference to True on every Signal.emit() and to None in pyqtgraph's item set-up and
# paint calls; the process aborts with "deallocating None" after a few seconds of live
# plotting. 6.11.3 does not. Say so, rather than leave a bare fatal error to decode.
if tuple(PySide6.__version_info__[:3]) == (6, 12, 0) and sys.version_info < (3, 12):
    logging.getLogger(__name__).warning(
        "PySide6 6.12.0 on Python %d.%d corrupts reference counts and crashes live plots; "
        "use PySide6-Essentials<6.12 (6.11.3 works)",
        *sys.version_info[:2],
    )

from vizlab.widgets.heatmap import Heatmap  # noqa: E402
from vizlab.widgets.image import ImageView  # noqa: E402
from vizlab.widgets.plots import BarPlot, CurvePlot, HistogramPlot  # noqa: E402

__all__ = ["BarPlot", "CurvePlot", "Heatmap", "HistogramPlot", "ImageView"]
