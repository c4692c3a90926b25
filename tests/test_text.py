"""A wrapped label remembers its height per width, and forgets it when that could change
(vizlab/widgets/text.py)."""

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel

from vizlab.widgets.text import WrappedLabel

TEXT = ("<b>Total error</b> of each kind of penalty, summed over the data: the outliers "
        "pull a squared-error fit, not an absolute-error one. " * 3)
WIDTHS = [120, 200, 333, 640]


def test_heights_stay_qts_through_changes_of_text_font_and_style(qtbot):
    """The same calls on a WrappedLabel and on a plain wrapped QLabel give the same
    heights at every step, asked twice (the second time from what it remembers)."""
    remembering, plain = WrappedLabel(), QLabel()
    plain.setWordWrap(True)
    changes = [
        lambda label: label.setTextFormat(Qt.TextFormat.RichText),
        lambda label: label.setText(TEXT),
        lambda label: label.setText("one line"),
        lambda label: label.setText(TEXT),
        lambda label: label.setFont(QFont(label.font().family(), 24)),  # presentation mode
        lambda label: label.setStyleSheet("padding: 20px;"),
        lambda label: label.setMargin(9),
        lambda label: label.setIndent(30),
        lambda label: label.setContentsMargins(5, 5, 25, 5),
    ]
    for label in (remembering, plain):
        qtbot.addWidget(label)
        label.show()
    heights = []
    for change in changes:
        for label in (remembering, plain):
            change(label)
        for _ in range(2):
            got = [remembering.heightForWidth(w) for w in WIDTHS]
            assert got == [plain.heightForWidth(w) for w in WIDTHS]
        heights.append(got)
    assert heights[2] < heights[1] < heights[4]  # the checks saw the heights change


def test_it_remembers_a_bounded_number_of_widths(qtbot):
    label = WrappedLabel(TEXT)
    qtbot.addWidget(label)
    for width in range(50, 50 + 3 * WrappedLabel.MAX_REMEMBERED):
        label.heightForWidth(width)
    assert len(label._heights) <= WrappedLabel.MAX_REMEMBERED


def test_a_steady_label_keeps_its_tallest_height_until_released(qtbot):
    """A line of numbers redrawn every frame must not make the plots around it jump by a
    pixel each frame: a steady label's height only grows, until a new run releases it."""
    steady, plain = WrappedLabel(steady=True), QLabel()
    plain.setWordWrap(True)
    for label in (steady, plain):
        qtbot.addWidget(label)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.show()
    tallest = {}
    for text in (TEXT, "one line", TEXT[:90], "one line"):
        for label in (steady, plain):
            label.setText(text)
        for width in WIDTHS:
            tallest[width] = max(tallest.get(width, 0), plain.heightForWidth(width))
            assert steady.heightForWidth(width) == tallest[width]
    assert plain.heightForWidth(WIDTHS[0]) < tallest[WIDTHS[0]]  # it did want to shrink
    steady.release_height()
    assert [steady.heightForWidth(w) for w in WIDTHS] == [plain.heightForWidth(w)
                                                         for w in WIDTHS]
    steady.setText(TEXT)
    tall = steady.heightForWidth(WIDTHS[0])
    steady.setFont(QFont(steady.font().family(), 6))  # a smaller font: measured anew
    plain.setFont(QFont(plain.font().family(), 6))
    plain.setText(TEXT)
    assert steady.heightForWidth(WIDTHS[0]) == plain.heightForWidth(WIDTHS[0]) < tall


def test_a_new_run_releases_the_steady_labels_of_a_lab(qtbot):
    from vizlab.labs import view_class

    view = view_class("gradients")()
    qtbot.addWidget(view)
    view.disable_previews()
    labels = [label for label in view.views.findChildren(WrappedLabel) if label._steady]
    assert labels
    for label in labels:
        label.setText(TEXT)
        label.heightForWidth(200)
    assert all(label._tallest for label in labels)
    view.reset()
    assert not any(label._tallest for label in labels)
    view.runner.stop()
