"""Dropout lab: the worked example's exact numbers, expected sums over random masks, the
weights SGD changes being exactly the kept units', Adam changing nearly all, change
counts, and the view."""

from __future__ import annotations

import numpy as np
import pytest

from engine.experiments import dropout as lab
from engine.experiments.settings import SettingError, apply_settings

X = np.arange(1.0, 9.0)  # docs/labs.md, "Dropout": units [1..8]
KEPT = np.array([1, 0, 0, 1, 1, 0, 1, 0], dtype=bool)  # units 1, 4, 5, 7


def run_steps(config: lab.Config) -> list[lab.Snapshot]:
    return list(lab.run(config))


@pytest.fixture(scope="module")
def sgd_adam() -> list[lab.Snapshot]:
    """50 steps of the default setup (SGD left, Adam right, batch 1), every snapshot."""
    return run_steps(lab.Config(steps=50))


# ----------------------------------------------------------------------------------
# the worked example


def test_worked_example_gives_the_reference_numbers():
    ex = lab.worked_example(lab.Config())
    assert ex.keep_prob == 0.5
    np.testing.assert_array_equal(ex.units, X)
    np.testing.assert_array_equal(ex.mask, KEPT)
    # Inverted dropout at train time: exactly [2, 0, 0, 8, 10, 0, 14, 0], sum 34 (not the
    # 5 and 29 of a well-known slip); the full layer, as at test time, sums to 36.
    np.testing.assert_array_equal(ex.inverted_train, [2, 0, 0, 8, 10, 0, 14, 0])
    assert ex.inverted_train.sum() == 34
    np.testing.assert_array_equal(ex.inverted_test, X)
    assert ex.full_sum == 36
    # The paper's form: unscaled at train time, times p at test time.
    np.testing.assert_array_equal(ex.original_train, [1, 0, 0, 4, 5, 0, 7, 0])
    assert ex.original_train.sum() == 17
    np.testing.assert_array_equal(ex.original_test, 0.5 * X)
    assert ex.original_test.sum() == 18
    # The two forms differ by the factor p at train time, and at test time.
    np.testing.assert_array_equal(ex.inverted_train * 0.5, ex.original_train)
    np.testing.assert_array_equal(ex.inverted_test * 0.5, ex.original_test)


@pytest.mark.parametrize("p", [0.5, 0.8])
def test_expected_sums_over_random_masks(p):
    """Mean of sum(dropout(x, p)) over 20000 seeded masks: within 1% of sum x = 36 (its
    standard error is sqrt(204 (1-p)/p / 20000) < 0.11); the original form's train-time
    mean is within 1% of its test-time sum p * 36, which is exact."""
    ex = lab.worked_example(lab.Config(keep_prob=p))
    assert ex.masks == 20000
    assert ex.mean_inverted_train == pytest.approx(36, rel=0.01)
    assert ex.mean_original_train == pytest.approx(p * 36, rel=0.01)
    assert ex.original_test.sum() == pytest.approx(p * 36, abs=1e-12)
    assert ex.inverted_test.sum() == 36
    # Same masks for both forms: the means differ by exactly the factor p.
    assert ex.mean_original_train == pytest.approx(p * ex.mean_inverted_train, rel=1e-12)
    assert ex.running_at[-1] == 20000
    assert ex.running_inverted[-1] == pytest.approx(ex.mean_inverted_train, rel=1e-12)
    np.testing.assert_allclose(ex.inverted_train, X * KEPT / p)


def test_example_settings_are_checked():
    config = lab.Config()
    with pytest.raises(SettingError, match="example_kept"):
        apply_settings(config, {"example_kept": "1,9"})
    with pytest.raises(SettingError, match="example_units"):
        apply_settings(config, {"example_units": "1,a"})
    assert config.example_kept == "1,4,5,7"
    apply_settings(config, ["example_units=2 4 6", "example_kept=2", "keep_prob=0.25"])
    ex = lab.worked_example(config)
    np.testing.assert_array_equal(ex.inverted_train, [0, 16, 0])


# ----------------------------------------------------------------------------------
# which weights change


def test_sgd_changes_exactly_the_kept_units_weights(sgd_adam):
    snaps = sgd_adam
    assert [s.step for s in snaps] == list(range(51))
    for s in snaps[1:]:
        assert s.mask.shape == (1, 32)
        kept = s.mask[0]
        np.testing.assert_array_equal(s.kept, kept)
        # The output kernel is (units, classes); the snapshot shows it transposed.
        changed_kernel = s.left.changed.T
        assert changed_kernel.shape == (32, 10)
        np.testing.assert_array_equal(changed_kernel, np.repeat(kept[:, None], 10, axis=1))
        assert s.left.changed_share == pytest.approx(kept.mean())
    shares = snaps[-1].shares["left"]
    assert len(shares) == 50
    assert abs(shares.mean() - 0.5) < 0.15


def test_adam_changes_nearly_every_weight_after_a_few_steps(sgd_adam):
    shares = sgd_adam[-1].shares["right"]
    # At step 1 only the kept units have moments; a unit dropped at every one of the
    # first t steps has none, so Adam's share climbs to 1 within a few steps.
    assert shares[0] == pytest.approx(sgd_adam[1].kept.mean())
    assert np.all(shares[9:] > 0.9)
    assert shares[9:].mean() > 0.98
    # Changed where SGD did not: the dropped units' weights still move under Adam.
    last = sgd_adam[-1]
    assert last.right.changed[:, ~last.kept].mean() > 0.9


def test_change_counts_are_the_sum_of_the_per_step_masks(sgd_adam):
    for side in ("left", "right"):
        total = sum(getattr(s, side).changed.astype(int) for s in sgd_adam[1:])
        np.testing.assert_array_equal(getattr(sgd_adam[-1], side).counts, total)
    # For SGD each unit's column counts the steps its unit was kept.
    kept_steps = sum(s.kept.astype(int) for s in sgd_adam[1:])
    np.testing.assert_array_equal(sgd_adam[-1].left.counts,
                                  np.repeat(kept_steps[None, :], 10, axis=0))


def test_both_networks_start_equal_and_learn():
    snaps = run_steps(lab.Config(steps=200, snapshot_every=100))
    np.testing.assert_array_equal(snaps[0].left.weights, snaps[0].right.weights)
    for side in ("left", "right"):
        losses = snaps[-1].losses[side]
        assert losses[-1] < losses[0]
    np.testing.assert_array_equal(snaps[-1].losses["step"], np.arange(0, 201, 10))


def test_adagrad_and_rmsprop_move_only_weights_with_a_gradient_momentum_moves_all():
    config = lab.Config(left_optimizer="adagrad", left_lr=0.05, right_optimizer="rmsprop",
                        right_lr=0.001, steps=20)
    for s in run_steps(config)[1:]:
        expected = np.repeat(s.kept[None, :], 10, axis=0)
        np.testing.assert_array_equal(s.left.changed, expected)
        np.testing.assert_array_equal(s.right.changed, expected)
    momentum = run_steps(lab.Config(left_optimizer="momentum", steps=20))
    assert np.all(momentum[-1].shares["left"][9:] > 0.9)


def test_hidden_kernel_changes_in_kept_columns_where_the_pixel_is_not_zero():
    config = lab.Config(watch="hidden", steps=15)
    snaps = run_steps(config)
    x, _ = lab.load_digits()
    order = lab.MiniBatches(len(x), np.random.default_rng([config.seed, 2]), 1)
    for s in snaps[1:]:
        (i,) = next(order)
        assert s.left.changed.shape == (64, 32)  # pixels x units, as the kernel is
        np.testing.assert_array_equal(s.left.changed, np.outer(x[i] != 0, s.kept))


def test_one_mask_per_example_changes_the_union_of_kept_units():
    snaps = run_steps(lab.Config(batch_size=4, shared_mask=False, steps=10))
    for s in snaps[1:]:
        assert s.mask.shape == (4, 32)
        np.testing.assert_array_equal(s.kept, s.mask.any(axis=0))
        np.testing.assert_array_equal(s.left.changed, np.repeat(s.kept[None, :], 10, axis=0))
    shares = snaps[-1].shares["left"]
    assert shares.mean() > 0.8  # 1 - 0.5**4 = 0.94 of the units are kept by some example
    shared = run_steps(lab.Config(batch_size=4, steps=3))
    for s in shared[1:]:
        assert np.all(s.mask == s.mask[0])  # one row for the whole batch


def test_keep_probability_is_live():
    config = lab.Config(steps=400)
    generator = lab.run(config)
    for _ in range(201):
        snap = next(generator)
    config.keep_prob = 0.9  # as the app does with a live setting
    rest = list(generator)
    shares = rest[-1].shares["left"]
    assert abs(shares[:200].mean() - 0.5) < 0.1
    assert abs(shares[200:].mean() - 0.9) < 0.1
    assert snap.keep_prob == 0.5 and rest[-1].keep_prob == 0.9
    assert rest[-1].example.keep_prob == 0.9
    assert rest[-1].example_key != snap.example_key


# ----------------------------------------------------------------------------------
# the view


def test_view_draws_the_snapshots_numbers(qtbot, shown_lab, previewed):
    view = shown_lab("dropout")
    snap = view.last_snapshot
    assert snap is not None and snap.step == 0  # drawn at once, without Run
    np.testing.assert_array_equal(view.inverted_bars.export_data()["values"],
                                  [2, 0, 0, 8, 10, 0, 14, 0])
    np.testing.assert_array_equal(view.original_bars.export_data()["values"],
                                  [1, 0, 0, 4, 5, 0, 7, 0])
    assert "<b>34</b>" in view.example_table.text()

    # A setting changed through its control redraws the example at once.
    view.settings_panel.controls["keep_prob"].setValue(0.8)
    previewed(view)
    np.testing.assert_allclose(view.inverted_bars.export_data()["values"],
                               [1.25, 0, 0, 5, 6.25, 0, 8.75, 0])
    view.settings_panel.controls["keep_prob"].setValue(0.5)

    view.apply_settings({"steps": 50})
    # The first Step starts the run and shows its step 0; each further Step one step more.
    for n in range(1, 5):
        view.step()
        qtbot.waitUntil(lambda n=n: len(view.timeline) == n, timeout=10_000)
    last = view.last_snapshot
    assert [s.step for s in view.timeline.items] == [0, 1, 2, 3]
    for side in ("left", "right"):
        s = getattr(last, side)
        maps = view.maps[side]
        np.testing.assert_array_equal(maps["weights"].data(), s.weights)
        np.testing.assert_array_equal(maps["changed"].data(), s.changed)
        np.testing.assert_array_equal(maps["counts"].data(), s.counts)
    np.testing.assert_array_equal(view.mask_map.data(), last.mask)
    np.testing.assert_array_equal(view.maps["left"]["changed"].data()[0], last.kept)
    steps, shares = view.share_plot.curve_data("sgd (top)")
    np.testing.assert_array_equal(steps, [1, 2, 3])
    np.testing.assert_array_equal(shares, last.shares["left"])
    _, adam = view.share_plot.curve_data("adam (bottom)")
    np.testing.assert_array_equal(adam, last.shares["right"])
    view.shutdown()


# ----------------------------------------------------------------------------------
# the view: step 0, the mask strip's alignment, the weights' colour scale


def _drawn_view(qtbot, shown_lab, steps: int = 0, **settings):
    """The dropout view drawing snapshot `steps` of a run computed here (no runner)."""
    view = shown_lab("dropout")
    view.disable_previews()
    if settings:
        view.apply_settings(settings)
    for snap in lab.run(view.config):
        if snap.step == steps:
            break
    view.show_snapshot(snap)
    assert view.draw_error is None
    return view, snap


def test_step_zero_says_no_step_yet(qtbot, shown_lab):
    view, snap = _drawn_view(qtbot, shown_lab, steps=0)
    assert snap.step == 0 and not snap.kept.any()
    note = view.weights_note.text()
    assert "no step yet" in note
    assert "kept" not in note and "nan" not in note.lower()
    assert "12% / 12%" in note  # both networks start from the same weights
    assert view.curves_note.text() == note
    assert view.mask_map.plot_item.titleLabel.text == "mask: no step yet"
    assert not view.mask_map.image_item.isVisible()  # no all-"dropped" strip before step 1
    for side in ("left", "right"):
        assert view.maps[side]["changed"].plot_item.titleLabel.text == "changed: no step yet"
    # After a step: the counts of this step, and the mask drawn.
    view.show_snapshot(next(s for s in lab.run(view.config) if s.step == 1))
    kept = int(view.last_snapshot.kept.sum())
    assert view.mask_map.image_item.isVisible()
    assert view.mask_map.plot_item.titleLabel.text == f"mask: {kept} of 32 kept"
    assert f"the mask kept <b>{kept}</b> of 32" in view.weights_note.text()
    assert "nan" not in view.weights_note.text().lower()
    view.shutdown()


def _cell_centres(heatmap, page) -> np.ndarray:
    """x of each column's cell centre in `page` pixels."""
    from PySide6.QtCore import QPointF

    vb = heatmap.plot_item.getViewBox()
    xs = []
    for col in range(heatmap.data().shape[1]):
        scene = vb.mapViewToScene(QPointF(col, 0))
        xs.append(heatmap._view.mapTo(page, heatmap._view.mapFromScene(scene)).x())
    return np.array(xs, dtype=float)


@pytest.mark.parametrize("size", [(1024, 640), (1280, 800)])
def test_mask_strip_lines_up_with_the_changed_panels(qtbot, shown_lab, size):
    view, _ = _drawn_view(qtbot, shown_lab, steps=3, hidden_units=32)
    view.resize(*size)
    page = view.tabs.widget(0)
    qtbot.waitUntil(lambda: page.width() > 0 and view.width() == size[0], timeout=5000)
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()
    mask = _cell_centres(view.mask_map, page)
    assert len(mask) == 32
    width = np.diff(mask).mean()
    assert width > 4  # 32 cells over a third of the page, at least 4 px each
    for side in ("left", "right"):
        changed = _cell_centres(view.maps[side]["changed"], page)
        # Column for column: every cell centre within a pixel of the mask's.
        assert np.abs(changed - mask).max() <= 1.0, (side, changed[:3], mask[:3])
    # The strip sits between the networks: below the top panels, above the bottom ones.
    top = view.maps["left"]["changed"].geometry()
    bottom = view.maps["right"]["changed"].geometry()
    strip = view.mask_map.geometry()
    assert top.bottom() < strip.top() and strip.bottom() < bottom.top()
    view.shutdown()


def test_heatmap_scale_sets_the_weights_colour_levels(qtbot, shown_lab):
    view, snap = _drawn_view(qtbot, shown_lab, steps=20)
    left, right = snap.left.weights, snap.right.weights
    maps = view.maps
    # Per matrix (the default): each its own symmetric scale, +-max|w|.
    assert maps["left"]["weights"].levels() == pytest.approx(
        (-np.abs(left).max(), np.abs(left).max()))
    assert maps["right"]["weights"].levels() == pytest.approx(
        (-np.abs(right).max(), np.abs(right).max()))
    assert np.abs(left).max() != np.abs(right).max()
    # Shared: one scale for both, the larger of the two; applied at once, no new run.
    view.apply_settings({"heatmap_scale": "shared"})
    both = max(np.abs(left).max(), np.abs(right).max())
    for side in ("left", "right"):
        assert maps[side]["weights"].levels() == pytest.approx((-both, both))
    # Clipped: at the larger size of the 1st and 99th percentiles (320 weights: a few
    # saturate).
    view.apply_settings({"heatmap_scale": "clipped 1-99%"})
    for side, w in (("left", left), ("right", right)):
        m = max(abs(np.percentile(w, 1)), abs(np.percentile(w, 99)))
        assert maps[side]["weights"].levels() == pytest.approx((-m, m))
        assert 0 < np.mean(np.abs(w) > m) < 0.03  # about 1% in each tail
    with pytest.raises(SettingError, match="heatmap_scale"):
        apply_settings(view.config, {"heatmap_scale": "log"})
    view.shutdown()


def test_every_tab_is_a_view_choice(qtbot, shown_lab):
    from engine.experiments.settings import settings_of

    choices = next(i.choices for i in settings_of(lab.Config) if i.name == "view")
    assert choices == ("weights", "curves", "worked example")
    view = shown_lab("dropout")
    for index, name in enumerate(choices):
        view.apply_settings({"view": name})
        assert view.tabs.currentIndex() == index
    view.shutdown()
