"""Heatmap colour scales (per matrix, shared, percentile-clipped), colour-bar ticks that are
never cut or all "0.0", and the two-colour mask with its key."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QFontMetricsF

from vizlab.widgets import Heatmap, theme
from vizlab.widgets.heatmap import (
    MASK_COLORS,
    nice_ticks,
    percentile_levels,
    shared_levels,
    tick_strings,
)


@pytest.fixture(autouse=True)
def desktop_mode():
    theme.set_presentation(False)
    yield
    theme.set_presentation(False)


# ----------------------------------------------------------------------------------
# colour scales


def test_percentile_levels_ignore_one_outlier():
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.5, 0.5, size=(20, 50))
    w[3, 7] = -6.1  # the outlier that washes out a whole matrix on its own scale
    lo, hi = percentile_levels(w)
    assert lo == -hi
    assert 0.45 < hi < 0.5  # the 1st/99th percentiles of the rest, not 6.1
    assert percentile_levels(w, 100.0) == (-6.1, 6.1)
    assert percentile_levels(np.zeros((2, 2))) == (-1.0, 1.0)
    assert percentile_levels(np.array([np.nan, np.inf])) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="percentile"):
        percentile_levels(w, 30.0)


def test_shared_levels_cover_every_matrix_symmetrically():
    a = np.array([[0.1, -0.2]])
    b = np.array([[3.0, np.nan], [-1.0, 0.5]])
    assert shared_levels([a, b]) == (-3.0, 3.0)
    assert shared_levels([np.zeros(3)]) == (-1.0, 1.0)


# ----------------------------------------------------------------------------------
# colour-bar ticks


@pytest.mark.parametrize("levels,expected", [
    ((0.0, 300.0), ["0", "100", "200", "300"]),
    ((0.0, 63.0), ["0", "20", "40", "60"]),
    ((-0.596, 0.596), ["-0.5", "0", "0.5"]),
    ((-1.85, 1.85), ["-1", "0", "1"]),
    ((-3e-5, 3e-5), ["-2e-5", "0", "2e-5"]),
    ((0.0, 0.0012), ["0", "0.0005", "0.001"]),
    ((0.3, 0.31), ["0.3", "0.305", "0.31"]),
])
def test_tick_texts_are_round_exact_and_distinct(levels, expected):
    assert tick_strings(nice_ticks(*levels)) == expected


def _shown(qtbot, heatmap, size=(360, 300)):
    qtbot.addWidget(heatmap)
    heatmap.resize(*size)
    heatmap.show()
    qtbot.waitExposed(heatmap)
    heatmap.grab()
    return heatmap


def _fits(heatmap: Heatmap) -> None:
    axis = heatmap.color_bar.axis
    metrics = QFontMetricsF(axis.style["tickFont"])
    widest = max(metrics.horizontalAdvance(t) for _, t in heatmap.bar_ticks())
    assert axis.width() >= widest + axis.style["tickTextOffset"][0] + axis.style["tickLength"]


@pytest.mark.parametrize("presentation", [False, True])
def test_colour_bar_of_counts_to_300_reads_100_200_300(qtbot, presentation):
    theme.set_presentation(presentation)
    heat = Heatmap("changes so far", sequential=True, value_label="steps")
    heat.set_data(np.linspace(0, 300, 40).reshape(4, 10))
    _shown(qtbot, heat)
    assert [t for _, t in heat.bar_ticks()] == ["0", "100", "200", "300"]
    assert heat.color_bar.axis._tickLevels[0] == heat.bar_ticks()
    _fits(heat)


def test_colour_bar_of_small_values_has_no_zero_point_zero(qtbot):
    heat = _shown(qtbot, Heatmap("gradients"))
    heat.set_data(np.array([[1e-5, -2.5e-5], [2e-5, 0.0]]))
    texts = [t for _, t in heat.bar_ticks()]
    assert texts == ["-2e-5", "0", "2e-5"]
    _fits(heat)


def test_colour_bar_grows_with_presentation_mode(qtbot):
    heat = Heatmap("weights", value_label="weight")
    heat.set_data(np.array([[-123.5, 250.0]]))
    _shown(qtbot, heat)
    narrow = heat.color_bar.axis.width()
    theme.set_presentation(True)
    qtbot.waitUntil(lambda: heat.color_bar.axis.width() > narrow, timeout=2000)
    assert heat.color_bar.axis.labelStyle["font-size"] == f"{theme.tick_pt()}pt" == "16pt"
    _fits(heat)


# ----------------------------------------------------------------------------------
# masks


def test_mask_is_two_colours_with_a_two_entry_key(qtbot):
    heat = Heatmap("dropout mask", mask_key=("kept", "dropped"))
    mask = np.array([[True, False, True, True]])
    heat.set_data(mask)
    _shown(qtbot, heat)
    assert heat.color_bar is None and heat.bar_ticks() == []
    key = heat.key
    assert [label.text for _, label in key.items] == ["kept", "dropped"]
    assert key.isVisible()
    assert key.sceneBoundingRect().bottom() <= heat.plot_item.vb.sceneBoundingRect().top() + 0.5
    # The drawn pixels: the set cells in the first colour, the others in the second.
    rgba = heat.image_item.lut
    assert rgba.shape[0] == 2
    kept, dropped = (np.array(tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)))
                     for c in MASK_COLORS)
    np.testing.assert_array_equal(rgba[1][:3], kept)
    np.testing.assert_array_equal(rgba[0][:3], dropped)
    assert heat.levels() == (0.0, 1.0)
    assert heat.hover_text(0, 1) == "row 0, col 1: dropped"
    assert heat.hover_text(0, 0) == "row 0, col 0: kept"
    assert "kept 3 of 4" in heat._info.text()
    with pytest.raises(ValueError, match="two labels"):
        Heatmap("bad", mask_key=("only one",))


def test_a_narrow_range_gets_round_ticks_inside_it_not_its_ends():
    assert tick_strings(nice_ticks(-0.491, 0.491)) == ["-0.4", "-0.2", "0", "0.2", "0.4"]
    assert tick_strings(nice_ticks(-0.977, 0.977)) == ["-0.5", "0", "0.5"]


@pytest.mark.parametrize("presentation", [False, True])
def test_a_narrow_heatmap_keeps_its_read_out_and_colour_bar_whole(qtbot, presentation):
    from PySide6.QtGui import QFontMetricsF

    theme.set_presentation(presentation)
    try:
        heat = Heatmap("dense_2", x_label="input", y_label="unit", value_label="weight")
        heat.set_data(np.linspace(-0.522, 0.522, 32 * 32).reshape(32, 32))
        heat.setFixedWidth(130 if not presentation else 200)  # as in a row of five
        _shown(qtbot, heat, (130 if not presentation else 200, 220))
        heat.grab()
        # The read-out: every line within the widget (two lines rather than cut).
        metrics = QFontMetricsF(heat._info.font())
        lines = heat._info.text().split("\n")
        assert max(metrics.horizontalAdvance(line) for line in lines) <= heat.width() - 12
        assert "colours -0.522 … 0.522" in heat._info.text().replace("\n", " ")
        # The colour bar inside the widget; no room for its label beside these cells.
        bar = heat.color_bar
        widget = heat.plot_item.scene().views()[0].sceneRect()
        assert bar.sceneBoundingRect().right() <= widget.right() + 0.5
        assert not bar.axis.label.isVisible()
        # Wide again: the label comes back.
        heat.setFixedWidth(500)
        heat.grab()
        assert bar.axis.label.isVisible()
    finally:
        theme.set_presentation(False)
