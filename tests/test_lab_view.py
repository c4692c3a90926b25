"""What every lab view shares (vizlab/labs/base.py): captions for slides, the views-only
mode, and views built a piece per event-loop turn."""

import inspect

import pytest
from PySide6.QtCore import QEvent, QObject

from vizlab.labs import view_class


@pytest.fixture
def optimizers_view(qtbot):
    view = view_class("optimizers")()
    qtbot.addWidget(view)
    yield view
    view.runner.stop()


def test_a_caption_names_only_the_settings_changed_from_the_defaults(optimizers_view):
    view = optimizers_view
    assert view.caption() == "vizlab optimizers lab, default settings"
    view.apply_settings({"batch_size": 16})
    assert view.caption() == "vizlab optimizers lab: batch_size=16"


def test_views_only_hides_the_settings_panel_and_timeline_bar(qtbot, optimizers_view):
    view = optimizers_view
    view.resize(1024, 640)
    view.show()
    view.set_views_only(True)
    assert view.views_only and view.settings_scroll.isHidden() and view.timeline_bar.isHidden()
    qtbot.waitUntil(lambda: view.views.width() > 900)  # the views take the freed room
    view.set_views_only(False)
    assert not view.views_only and view.settings_scroll.isVisibleTo(view)


def stepwise(lab: str, pieces: int):
    """A lab view whose build_views() yields `pieces` times before the real build."""
    base = view_class(lab)

    class Stepwise(base):
        build_in_steps = True

        def build_views(self):
            for _ in range(pieces):
                yield
            built = base.build_views(self)
            if inspect.isgenerator(built):
                built = yield from built
            return built

    return Stepwise


def test_views_built_in_steps_appear_after_that_many_event_loop_turns(qtbot):
    view = stepwise("optimizers", 5)()
    qtbot.addWidget(view)
    assert not view.is_built and view.plots() == []
    assert view.views.text() == "Building the views…"
    view.show()
    qtbot.waitUntil(lambda: view.is_built, timeout=5000)
    assert len(view.plots()) >= 2 and view.views.isVisible()
    view.runner.stop()


def test_a_snapshot_that_comes_while_building_is_drawn_once_built(qtbot):
    view = stepwise("gradients", 3)()
    qtbot.addWidget(view)
    view.show()
    from engine.experiments.session import first_snapshot

    snapshot = first_snapshot(view.experiment, view.config)
    view.show_snapshot(snapshot)
    assert view.frames_drawn == 0 and view.draw_error is None
    qtbot.waitUntil(lambda: view.is_built, timeout=5000)
    qtbot.waitUntil(lambda: view.frames_drawn == 1, timeout=5000)  # drawn a panel at a time
    assert view.draw_error is None
    view.runner.stop()


def test_ensure_built_finishes_at_once(qtbot):
    view = stepwise("optimizers", 50)()
    qtbot.addWidget(view)
    view.ensure_built()
    assert view.is_built and len(view.plots()) >= 2
    view.runner.stop()


@pytest.mark.parametrize("lab", ["dropout", "activations", "loss", "training"])
def test_the_big_labs_build_in_pieces_into_the_same_views(qtbot, previewed, lab):
    """The labs with the most plots hand their views over a piece per event-loop turn in
    the app; what they build is what a build at once gives, and the preview is drawn."""
    from vizlab.widgets._base import PlotWidgetBase

    whole = view_class(lab)()
    qtbot.addWidget(whole)
    stepwise = view_class(lab)(build_in_steps=True)
    qtbot.addWidget(stepwise)
    assert not stepwise.is_built
    stepwise.resize(1280, 800)
    stepwise.show()
    qtbot.waitUntil(lambda: stepwise.is_built, timeout=10_000)
    previewed(stepwise)
    qtbot.waitUntil(lambda: stepwise.frames_drawn >= 1, timeout=10_000)
    assert stepwise.draw_error is None
    count = len(stepwise.views.findChildren(PlotWidgetBase))
    assert count >= 4 and count == len(whole.views.findChildren(PlotWidgetBase))
    for view in (whole, stepwise):
        view.runner.stop()
        view.previewer.shutdown()


def test_shutting_down_while_building_closes_the_build(qtbot):
    """An unfinished build and its view refer to each other; shutdown breaks that cycle
    on the GUI thread, so no collector on another thread deletes the view's widgets."""
    view = stepwise("gradients", 50)()
    qtbot.addWidget(view)
    building = view._building
    view.begin_shutdown()
    assert view._building is None and building.gi_frame is None  # closed
    assert view.shutdown()


# -- drawing a panel per turn, repainting a few plots per turn ------------------------------
def regularization_snapshots(view, seeds):
    from engine.experiments.session import first_snapshot

    snapshots = []
    for seed in seeds:
        view.apply_settings({"seed": seed})
        snapshots.append(first_snapshot(view.experiment, view.config))
    return snapshots


@pytest.fixture
def paced_view(qtbot):
    """The Regularization lab as the app makes it (built, drawn and repainted in steps),
    with no previews of its own."""
    view = view_class("regularization")(build_in_steps=True)
    qtbot.addWidget(view)
    view.disable_previews()
    view.ensure_built()
    view.resize(1280, 800)
    view.show()
    yield view
    view.runner.stop()


def test_a_snapshot_is_drawn_a_panel_per_turn_and_the_newest_waiting_after_it(qtbot,
                                                                             paced_view):
    view = paced_view
    first, middle, newest = regularization_snapshots(view, [1, 2, 3])
    view.draw_now(first)  # its heatmaps made: a draw of the same layers is as long
    panels = len(list(view.draw(first))) + 1  # pieces: the yields and the end
    pieces = []  # the snapshot each piece drawn belonged to
    draw = view.draw

    def recording(snapshot):
        for _ in draw(snapshot):
            pieces.append(id(snapshot))
            yield
        pieces.append(id(snapshot))

    view.draw = recording
    view._draw(first)
    assert view.frames_drawn == 0  # nothing drawn in the turn that asked
    view._draw(middle)  # both wait for the one being drawn; only the newest is drawn
    view._draw(newest)
    qtbot.waitUntil(lambda: view.frames_drawn == 2, timeout=5000)
    assert pieces[:panels] == [id(first)] * panels
    assert id(middle) not in pieces and pieces[panels:] == [id(newest)] * panels
    assert view.shown is newest and view.draw_error is None


def test_finish_drawing_draws_the_rest_now_and_reset_forgets_a_half_drawn_snapshot(
        qtbot, paced_view):
    view = paced_view
    (snapshot,) = regularization_snapshots(view, [4])
    view._draw(snapshot)
    view.finish_drawing()
    assert view.frames_drawn == 1 and view._drawing is None
    view._draw(snapshot)
    view._draw_a_piece()  # a panel drawn, the rest waiting
    drawing = view._drawing[0]
    view.reset()
    assert view._drawing is None and drawing.gi_frame is None  # closed, not drawn on
    qtbot.wait(50)
    assert view.frames_drawn == 1


def test_shown_or_resized_the_plots_repaint_a_few_per_turn(qtbot, paced_view):
    view = paced_view
    view.PLOTS_PAINTED_AT_ONCE = 1
    qtbot.waitUntil(lambda: not view._unpainted, timeout=5000)
    plots = view.plots()
    assert len(plots) > view.PLOTS_PAINTED_AT_ONCE
    view.resize(1024, 640)
    held = [plot for plot in plots if not plot.updatesEnabled()]
    assert len(held) == len(plots) - view.PLOTS_PAINTED_AT_ONCE
    qtbot.waitUntil(lambda: all(plot.updatesEnabled() for plot in plots), timeout=5000)
    view.resize(1280, 800)
    view.finish_repaints()  # before a picture is taken
    assert all(plot.updatesEnabled() for plot in plots) and not view._unpainted


def test_views_made_at_once_draw_and_repaint_at_once(qtbot):
    view = view_class("regularization")()  # as tests and the CLI make them
    qtbot.addWidget(view)
    view.disable_previews()
    view.resize(1024, 640)
    view.show()
    (snapshot,) = regularization_snapshots(view, [5])
    view._draw(snapshot)
    assert view.frames_drawn == 1 and view.shown is snapshot
    assert all(plot.updatesEnabled() for plot in view.plots())
    view.runner.stop()


class PaintCounter(QObject):
    """Counts the paints of each plot's view (an event filter on their viewports)."""

    def __init__(self, plots) -> None:
        super().__init__()
        self.counts = {id(plot): 0 for plot in plots}
        self._owner = {}
        for plot in plots:
            viewport = plot._view.viewport()
            self._owner[id(viewport)] = id(plot)
            viewport.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.Paint:
            self.counts[self._owner[id(watched)]] += 1
        return False


def test_a_snapshot_drawn_in_pieces_paints_each_plot_once_after_its_last_panel(
        qtbot, paced_view):
    """No plot paints while a snapshot is drawn a panel per turn (Qt painted a plot after
    every piece that touched it, two or three times a snapshot); each visible plot paints
    once after the last panel, and the next snapshot waits for those paints."""
    view = paced_view
    first, second, third = regularization_snapshots(view, [6, 7, 8])
    view._draw(first)
    qtbot.waitUntil(lambda: view.frames_drawn == 1 and not view._unpainted, timeout=5000)
    plots = [plot for plot in view.plots() if plot.isVisible()]
    assert len(plots) >= 2
    counter = PaintCounter(plots)
    for _ in range(10):  # until the first snapshot's and the window's own paints are over
        before = dict(counter.counts)
        qtbot.wait(200)
        if counter.counts == before:
            break
    counter.counts = dict.fromkeys(counter.counts, 0)
    at_drawn = []
    drawn = view._drawn
    view._drawn = lambda snapshot: (at_drawn.append(dict(counter.counts)), drawn(snapshot))
    view._draw(second)
    view._draw(third)  # waits for the second's draw and paints
    qtbot.waitUntil(lambda: len(at_drawn) == 2 and not view._unpainted, timeout=5000)
    assert set(at_drawn[0].values()) == {0}  # nothing painted while the second was drawn
    assert set(at_drawn[1].values()) == {1}  # each painted once between the two
    # and at least once after the third (after a run's last snapshot a second paint was
    # seen in presentation mode and in the full suite; its cause is still open)
    assert min(counter.counts.values()) >= 2
    assert view.shown is third


def test_a_lab_out_of_sight_draws_nothing_until_shown_then_the_newest(qtbot, paced_view):
    """Labs left running behind the one shown must not spend the GUI thread on views no
    one sees; shown again, the lab draws the newest snapshot that came meanwhile."""
    view = paced_view
    first, second = regularization_snapshots(view, [9, 10])
    qtbot.waitUntil(lambda: not view._unpainted, timeout=5000)
    drawn_before = view.frames_drawn
    view.hide()
    view.show_snapshot(first)
    view.show_snapshot(second)
    qtbot.wait(100)
    assert view.frames_drawn == drawn_before and view._drawing is None
    assert view.last_snapshot is second and len(view.timeline) == 2  # kept, not drawn
    view.show()
    qtbot.waitUntil(lambda: view.frames_drawn == drawn_before + 1 and not view._unpainted,
                    timeout=5000)
    assert view.shown is second


def test_finish_drawing_draws_a_waiting_snapshot_even_out_of_sight(qtbot, paced_view):
    view = paced_view  # a picture of a hidden lab (the CLI, a gallery) shows its newest
    (snapshot,) = regularization_snapshots(view, [11])
    qtbot.waitUntil(lambda: not view._unpainted, timeout=5000)
    view.hide()
    view.show_snapshot(snapshot)
    assert view.shown is not snapshot
    view.finish_drawing()
    assert view.shown is snapshot and view._draw_next is None and view.draw_error is None


def test_out_of_sight_a_running_lab_spaces_its_snapshots_out(qtbot, monkeypatch):
    import copy

    from vizlab.runner import Runner

    view = view_class("training")(build_in_steps=True)
    qtbot.addWidget(view)
    view.disable_previews()
    view.ensure_built()
    view.show()
    view.run_config = copy.deepcopy(view.config)
    monkeypatch.setattr(Runner, "is_running", property(lambda runner: True))
    monkeypatch.setattr(view, "training_steps_per_second", lambda: 4500.0)
    floor = view.config.snapshot_every
    view._adapt_snapshot_pace()
    in_sight = view.run_config.snapshot_every
    assert in_sight == max(floor, int(4500 / view.SNAPSHOTS_PER_SECOND))
    view.hide()  # another lab shown: a few snapshots a second are enough
    assert view.run_config.snapshot_every == max(
        floor, int(4500 / view.SNAPSHOTS_PER_SECOND_OUT_OF_SIGHT)) > in_sight
    view.show()
    assert view.run_config.snapshot_every == in_sight


def test_the_timeline_shows_a_handle_only_with_something_to_scrub(qtbot):
    """With one snapshot or none (a run's first, or the run the CLI trained for a
    picture) the slider is hidden, its room kept: Qt drew its handle at the left, which
    read as the start beside "step 200". With more, the handle follows the newest."""
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    from engine.experiments.session import Session

    view = view_class("regularization")()
    qtbot.addWidget(view)
    view.disable_previews()
    view.resize(1024, 640)
    view.show()
    slider = view.slider

    def handle_x() -> float:
        option = QStyleOptionSlider()
        slider.initStyleOption(option)
        rect = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                             QStyle.SubControl.SC_SliderHandle, slider)
        return rect.center().x() / slider.width()

    label_x = view.timeline_label.x()
    assert not slider.isVisible()
    session = Session(view.experiment, view.config)
    for count, snapshot in enumerate(session, start=1):
        view.show_snapshot(snapshot)
        assert len(view.timeline) == count
        assert slider.isVisible() == (count > 1)
        assert view.timeline_label.x() == label_x  # the bar keeps its layout
        if count > 1:
            assert handle_x() > 0.9, (count, handle_x())
        if count == 3:
            break
    slider.setValue(0)  # scrubbed back: at the left
    assert handle_x() < 0.1
    view.runner.stop()
