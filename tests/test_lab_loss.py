"""The Loss lab: its experiment's numbers against numpy and the formulas, and its view."""

import dataclasses
import re

import numpy as np
import pytest

from engine.experiments import SettingError, apply_settings
from engine.experiments import loss as lab


@pytest.fixture(scope="module")
def snap() -> lab.Snapshot:
    return next(lab.run(lab.Config()))


def np_sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- cross-entropy curves -------------------------------------------------------------


def test_binary_cross_entropy_curves_match_numpy(snap):
    b = snap.binary
    np.testing.assert_array_equal(b.z, np.arange(-5, 5, 0.2))
    assert b.z.shape == (50,) and b.z.dtype == np.float64
    p = np_sigmoid(b.z)
    np.testing.assert_allclose(b.p, p, rtol=1e-12)
    np.testing.assert_allclose(b.loss_y1, -np.log(p), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(b.loss_y0, -np.log(1 - p), rtol=1e-6, atol=1e-6)
    # The two curves cross at p = 0.5 with loss log 2; at z = -5 the y=1 loss is 5.0067.
    mid = np.argmin(np.abs(b.z))
    assert b.loss_y1[mid] == pytest.approx(np.log(2)) and b.loss_y0[mid] == pytest.approx(np.log(2))
    assert b.loss_y1[0] == pytest.approx(5.006715348489118)
    # d loss / dz from en.gradients: p - y.
    np.testing.assert_allclose(b.grad_y1, p - 1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad_y0, p, rtol=1e-10, atol=1e-12)


def test_softmax_cross_entropy_is_minus_log_p_true_with_gradient_p_minus_onehot(snap):
    s = snap.softmax
    config = lab.Config()
    assert s.true_logit[0] == -config.true_logit_span and s.true_logit[-1] == config.true_logit_span
    rows = np.repeat(np.array([config.logits]), len(s.true_logit), axis=0)
    rows[:, config.true_class] = s.true_logit
    probs = np_softmax(rows)
    np.testing.assert_allclose(s.probs, probs, rtol=1e-12)
    np.testing.assert_allclose(s.loss, -np.log(probs[:, config.true_class]), rtol=1e-10)
    onehot = np.eye(3)[config.true_class]
    np.testing.assert_allclose(s.grads, probs - onehot, atol=1e-12)
    # The configured logits [2, 1, -1], true class 0 (car).
    np.testing.assert_allclose(s.current_probs, [0.70538451, 0.25949646, 0.03511903], atol=1e-8)
    assert s.current_loss == pytest.approx(-np.log(0.7053845126982411), rel=1e-12)
    np.testing.assert_allclose(s.current_grad, s.current_probs - onehot, atol=1e-12)


# -- naive vs stable ------------------------------------------------------------------


def sweeps_for(label: int) -> dict[str, lab.Sweep]:
    config = lab.Config(sweep_label=label)
    scales = lab.sweep_scales(config)
    base = np.array(config.sweep_logits)
    return {dt: lab.sweep(scales, base, label, dt) for dt in lab.DTYPES}


@pytest.mark.parametrize("label, kind", [(0, "nan"), (2, "inf")])
def test_naive_overflows_where_exp_does_and_stable_stays_finite(label, kind):
    config = lab.Config()
    scales = lab.sweep_scales(config)
    assert scales[0] == 1 and scales[-1] == pytest.approx(1000)  # logits up to +-1000
    sweeps = sweeps_for(label)
    for dtype, sw in sweeps.items():
        assert sw.naive.dtype == sw.stable.dtype == np.dtype(dtype)
        assert np.isfinite(sw.stable).all()
        assert not np.isfinite(sw.naive).all()
        # The largest logit is 1 * s: e^s overflows past log(largest float).
        threshold = float(np.log(np.finfo(dtype).max))
        assert sw.overflow_scale == pytest.approx(threshold)
        i = sw.first_bad_index
        assert sw.first_bad_scale == scales[i]
        assert scales[i - 1] <= threshold < scales[i]
        assert np.isfinite(sw.naive[:i]).all()
        assert sw.first_bad_kind == kind
    assert sweeps["float32"].first_bad_scale == pytest.approx(89.125, abs=0.01)
    assert sweeps["float64"].first_bad_scale == pytest.approx(728.62, abs=0.01)
    assert sweeps["float32"].first_bad_scale < sweeps["float64"].first_bad_scale


def test_stable_loss_equals_log_sum_exp_and_naive_agrees_at_small_scales():
    config = lab.Config()
    scales = lab.sweep_scales(config)
    z = scales[:, None] * np.array(config.sweep_logits)
    exact = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1) - z[:, 2]
    sweeps = sweeps_for(2)
    np.testing.assert_allclose(sweeps["float64"].stable, exact, rtol=1e-13)
    np.testing.assert_allclose(sweeps["float32"].stable, exact, rtol=1e-6)
    small = scales <= 10
    for dtype, tol in (("float32", 1e-6), ("float64", 1e-14)):
        sw = sweeps[dtype]
        np.testing.assert_allclose(sw.naive[small], sw.stable[small], rtol=tol)
        assert np.nanmax(sw.rel_err[small]) < tol
        both = np.isfinite(sw.naive)
        np.testing.assert_allclose(sw.abs_diff[both],
                                   np.abs(sw.naive[both].astype(float) - sw.stable[both]))
        assert np.isnan(sw.abs_diff[~both]).all() and np.isnan(sw.rel_err[~both]).all()


def test_a_winning_true_class_runs_naive_float32_out_of_digits_before_it_turns_nan():
    config = lab.Config(sweep_label=0)
    scales = lab.sweep_scales(config)
    sweeps = sweeps_for(0)
    exact = np.log1p(np.exp(-2 * scales) + np.exp(-0.5 * scales))  # the loss of class 0
    f32, f64 = sweeps["float32"], sweeps["float64"]
    # Below float32's resolution next to 1 the naive log(p) rounds to 0, while the
    # stable form (log1p of the other classes' terms) keeps the tiny loss accurate.
    zero = (scales > 35) & (scales < 88)
    assert np.all(f32.naive[zero] == 0)
    np.testing.assert_allclose(f32.stable[zero], exact[zero], rtol=1e-5)
    held = (scales > 35) & (scales < 45)
    np.testing.assert_allclose(f64.stable[held], exact[held], rtol=1e-5)
    assert np.nanmax(f32.rel_err) > 0.1 > 1e-6 > np.nanmax(sweeps_for(2)["float32"].rel_err)


# -- the small-scale example ----------------------------------------------------------


def test_two_over_n_against_a_difference_of_nearly_equal_numbers(snap):
    f32, f64 = snap.small
    assert (f32.dtype, f64.dtype) == ("float32", "float64") and f32.n == 10000
    one, n = np.float32(1), np.float32(10000)
    assert f32.direct == np.float32(2) / n
    assert f32.via_difference == (one + one / n) - (one - one / n)
    assert f32.via_difference != f32.direct
    assert f32.difference == pytest.approx(3.319291863590479e-08, rel=1e-9)
    assert f64.direct == 2 / 10000
    assert f64.via_difference == (1 + 1 / 10000) - (1 - 1 / 10000)
    assert f64.difference == f64.via_difference - f64.direct
    assert f64.difference != 0 and abs(f64.difference) < 1e-16
    assert f32.rel_error == pytest.approx(abs(f32.difference) / f32.direct, rel=1e-6)
    assert f64.rel_error == pytest.approx(abs(f64.difference) / 2e-4, rel=1e-12)
    assert f32.rel_error > 1e-4 > 1e-12 > f64.rel_error


# -- multi-class vs multi-label -------------------------------------------------------


def test_softmax_sums_to_one_and_independent_sigmoids_do_not(snap):
    m = snap.multi
    z = np.array([2.0, 1.0, -1.0])
    targets = np.array([1.0, 0.0, 1.0])
    assert m.names == ("car", "bus", "pedestrian")
    np.testing.assert_allclose(m.softmax_probs, np_softmax(z), rtol=1e-12)
    assert m.softmax_probs.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(m.sigmoid_probs, 1 / (1 + np.exp(-z)), rtol=1e-12)
    assert m.sigmoid_probs.sum() == pytest.approx(1.8807970779778823)
    assert abs(m.sigmoid_probs.sum() - 1) > 0.5
    assert m.softmax_ce == pytest.approx(-np.log(np_softmax(z)[0]), rel=1e-12)
    s = 1 / (1 + np.exp(-z))
    terms = -(targets * np.log(s) + (1 - targets) * np.log(1 - s))
    np.testing.assert_allclose(m.bce_terms, terms, rtol=1e-12)
    assert m.bce_sum == pytest.approx(terms.sum(), rel=1e-12)
    assert m.bce_mean == pytest.approx(terms.mean(), rel=1e-12)
    np.testing.assert_allclose(m.softmax_grad, np_softmax(z) - [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(m.bce_grad, s - targets, atol=1e-12)


# -- the generator and the settings ---------------------------------------------------


def test_first_snapshot_shows_all_and_steps_reveal_the_sweep():
    config = lab.Config(sweep_points=7)
    snaps = list(lab.run(config))
    assert len(snaps) == 8
    assert (snaps[0].step, snaps[0].revealed, snaps[0].cursor) == (0, 7, None)
    assert [(s.step, s.revealed, s.cursor) for s in snaps[1:]] == [
        (k, k, k - 1) for k in range(1, 8)]
    assert snaps[3].sweeps[0].naive is snaps[0].sweeps[0].naive  # shared, not copied
    assert not snaps[0].scales.flags.writeable


def test_settings_are_checked_against_each_other():
    config = lab.Config()
    with pytest.raises(SettingError, match="label_names"):
        apply_settings(config, {"logits": "1, 2, 3, 4"})
    apply_settings(config, {"logits": "1, 2, 3, 4", "label_names": "a, b, c, d",
                            "multilabel_targets": "0, 1, 1, 0", "true_class": "3"})
    assert config.label_names == ("a", "b", "c", "d") and config.logits == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(SettingError, match="true_class"):
        apply_settings(config, {"true_class": 4})
    with pytest.raises(SettingError, match="sweep_label"):
        apply_settings(config, {"sweep_label": 3, "sweep_logits": "1, -1"})
    with pytest.raises(SettingError, match="scale_min"):
        apply_settings(config, {"scale_min": 50.0, "scale_max": 10.0})
    with pytest.raises(SettingError):
        apply_settings(config, {"multilabel_targets": "0, 1, 2, 0"})
    snap = next(lab.run(dataclasses.replace(config)))
    assert snap.multi.sigmoid_probs.shape == (4,) and snap.softmax.grads.shape[1] == 4


# -- the view -------------------------------------------------------------------------


def test_view_draws_the_engine_numbers_and_follows_settings(qtbot, shown_lab, previewed):
    view = shown_lab("loss")
    # Preview on change: the first snapshot is drawn without Run.
    x, y = view.bce_plot.curve_data("y = 1: −log p")
    np.testing.assert_allclose(x, np_sigmoid(np.arange(-5, 5, 0.2)), rtol=1e-12)
    np.testing.assert_allclose(y, -np.log(x), rtol=1e-6)
    x, y = view.sweep_plot.curve_data("naive float32")
    assert len(x) == 22 and np.isnan(y[x > 89.2]).all() and np.isfinite(y[x < 88]).all()
    line = view.bad_markers["float32"]
    assert line.isVisible() and line.value() == pytest.approx(np.log10(89.125), abs=1e-3)
    assert line.label.format == "float32: inf"
    assert "inf from s ≈ 89.13" in view.numbers_text.text()

    # Typed logits reach every tab: softmax bars, sigmoid bars, the gradient curves.
    edit = view.settings_panel.controls["logits"]
    edit.setText("3.0, 0.0, -2.0")
    edit.editingFinished.emit()
    previewed(view)
    z = np.array([3.0, 0.0, -2.0])
    values = view.softmax_bars.export_data()["values"]
    np.testing.assert_allclose(values, np_softmax(z), rtol=1e-12)
    np.testing.assert_allclose(view.sigmoid_bars.export_data()["values"], np_sigmoid(z),
                               rtol=1e-12)
    np.testing.assert_allclose(view.softmax_grad_bars.export_data()["values"],
                               np_softmax(z) - [1, 0, 0], atol=1e-12)
    p, grad = view.grad_plot.curve_data(type(view).grad_curve_name("car", True))
    np.testing.assert_allclose(grad, p - 1, atol=1e-12)
    assert view.softmax_marker.value() == pytest.approx(np_softmax(z)[0])
    assert "<b>1.000</b>" in view.multi_table.text()  # softmax probabilities sum to 1

    # A shorter sweep, then Run animates it to the end on the sweep tab.
    view.settings_panel.controls["sweep_points"].setValue(31)
    previewed(view)
    x, _ = view.sweep_plot.curve_data("stable float64")
    assert len(x) == 31 and x[-1] == pytest.approx(1000)
    assert str(np.float32(2) / np.float32(10000)) in view.small_text.text()
    view.run()
    qtbot.waitUntil(lambda: view.runner.state == "finished", timeout=10_000)
    qtbot.waitUntil(lambda: view.last_snapshot is not None and view.last_snapshot.step == 31,
                    timeout=5_000)
    assert view.tabs.currentIndex() == 1
    assert view.cursors[0].value() == pytest.approx(np.log10(1000))
    view.shutdown()


def test_view_setting_names_each_tab_and_follows_the_tabs(qtbot, shown_lab):
    view = shown_lab("loss")
    names = [view.tabs.tabText(i) for i in range(view.tabs.count())]
    assert names == ["Cross-entropy", "Naive vs stable", "Multi-class vs multi-label"]
    assert lab.TABS == tuple(name.lower() for name in names)
    for index, value in enumerate(lab.TABS):
        view.apply_settings({"view": value})
        assert view.tabs.currentIndex() == index
    view.tabs.setCurrentIndex(0)
    assert view.config.view == "cross-entropy"
    with pytest.raises(SettingError):
        apply_settings(lab.Config(), {"view": "sweep"})


NEGATIVE_ZERO = re.compile(r"(?<![\w.])-0(?:\.0*)?(?![\d.eE])")


def test_formatted_numbers_never_read_minus_zero():
    from vizlab.labs import loss as loss_view

    assert loss_view._num(-0.0, ".4f") == "0.0000" and loss_view._num(-1e-7, ".3f") == "0.000"
    assert loss_view._num(-0.25, ".2f") == "-0.25" and loss_view._num(-0.0, "g") == "0"
    assert loss_view._vector(np.array([-1e-9, -0.5])) == "[0.000, -0.500]"
    assert loss_view._fmt(-0.0, "float32") == "0.0" and loss_view._fmt(-0.0, digits=8) == "0"
    # Logits with a negative zero, a far-behind class (its CE term is -0 * log p) and a
    # tiny negative number: the tables show none of them as -0.
    config = lab.Config(logits=(-0.0, 3.0, -1e-9), label_names=("a", "b", "c"),
                        multilabel_targets=(0, 1, 0), true_class=1, sweep_points=5,
                        sweep_logits=(-0.0, 1.0, -0.5), sweep_label=0)
    snap = next(lab.run(config))
    texts = [loss_view.multi_table_html(snap.multi), loss_view.View._small_html(snap),
             loss_view.View._numbers_html(snap), loss_view.View._numbers_html(snap, False)]
    for text in texts:
        assert NEGATIVE_ZERO.search(text) is None, text
    assert "<td align='right'>0</td>" in texts[0]  # the -0.0 logit, written as 0
    assert NEGATIVE_ZERO.search("x -0.000 y") and not NEGATIVE_ZERO.search("-0.25, -0.001")


def test_naive_and_stable_markers_part_where_naive_overflows_or_rounds_to_zero(
        qtbot, shown_lab, previewed):
    from vizlab.labs.loss import naive_marker_indices

    view = shown_lab("loss")
    plot = view.sweep_plot
    x32, y32 = plot.curve_data("naive float32")
    x64, y64 = plot.curve_data("naive float64")
    sx, stable64 = plot.curve_data("stable float64")
    _, stable32 = plot.curve_data("stable float32")
    # Markers at interleaved scales, so neither type's markers hide the other's.
    assert not set(x32) & set(x64)
    np.testing.assert_array_equal(x32, sx[naive_marker_indices(241, "float32")])
    # Equal to the stable loss (to float32's digits) below the overflow, absent above.
    on32 = np.isfinite(y32)
    assert x32[on32].max() < 89.2 and (x32[~on32] > 89.1).all() and (~on32).sum() >= 6
    np.testing.assert_allclose(y32[on32], np.interp(x32[on32], sx, stable64), rtol=1e-3)
    assert np.isfinite(y64[x64 < 700]).all() and np.isnan(y64[x64 > 730]).all()
    # Both stable curves stay whole; float64 wide and pale beneath float32.
    assert np.isfinite(stable64).all() and np.isfinite(stable32).all()
    item64, item32 = (plot._curves[f"stable {t}"] for t in ("float64", "float32"))
    assert item64.opts["pen"].widthF() > 2 * item32.opts["pen"].widthF()
    assert item64.zValue() < item32.zValue() < plot._curves["naive float32"].zValue()

    # True class ahead: naive float32 rounds the loss to exactly 0 from s ≈ 35 on, where
    # the stable one is tiny but positive; those markers go to the floor with a note.
    view.apply_settings({"sweep_label": 0})
    previewed(view)
    xz, yz = plot.curve_data("naive float32 = 0 (on the floor)")
    assert len(xz) >= 3 and 30 < xz.min() < 50 and xz.max() < 89.2
    low, _ = plot.plot_item.viewRange()[1]
    assert np.allclose(np.log10(yz), np.log10(yz[0])) and np.log10(yz[0]) < low + 0.05 * 240
    assert view.floor_note.isVisible()
    rel = view.rel_plot.curve_data("float32")[1]
    assert np.nanmax(rel) == pytest.approx(1.0, abs=0.3)  # a loss of 0: 100% wrong
    view.shutdown()


def test_presentation_mode_enlarges_the_labs_own_texts(qtbot, shown_lab):
    from vizlab.widgets import theme

    view = shown_lab("loss")
    view.apply_settings({"view": "multi-class vs multi-label"})
    labels = view.bar_labels[view.softmax_bars]
    assert labels.items[0].textItem.font().pointSize() == theme.TICK_PT
    try:
        theme.set_presentation(True)
        assert view.floor_note.textItem.font().pointSize() == 16
        assert labels.items[0].textItem.font().pointSize() == 16
        assert "font-size: 14pt" in view.numbers_text.styleSheet()
    finally:
        theme.set_presentation(False)
    assert "font-size: 10pt" in view.numbers_text.styleSheet()
    view.shutdown()
