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
