"""What every lab view shares (vizlab/labs/base.py): captions for slides, the views-only
mode, and views built a piece per event-loop turn."""

import pytest

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
            return base.build_views(self)

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
    from engine.experiments.session import first_snapshot

    snapshot = first_snapshot(view.experiment, view.config)
    view.show_snapshot(snapshot)
    assert view.frames_drawn == 0 and view.draw_error is None
    qtbot.waitUntil(lambda: view.is_built, timeout=5000)
    assert view.frames_drawn == 1 and view.draw_error is None
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
