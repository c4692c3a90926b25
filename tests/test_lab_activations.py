"""The Activation lab: derivative curves against central differences and the textbook
formulas, the sigmoid's 0.25, RReLU's slopes, vanishing gradients, dying ReLUs, softmax
against docs/labs.md, "Activations", and the view drawing those numbers."""

import math

import numpy as np
import pytest

from engine.experiments import activations as lab
from engine.experiments.settings import SettingError, apply_settings
from engine.nn.activations import SELU_ALPHA, SELU_SCALE


@pytest.fixture(scope="module")
def first() -> lab.Snapshot:
    """Step 0 of the default setup with every function on: every static part."""
    generator = lab.run(lab.Config(functions="all"))
    snap = next(generator)
    generator.close()
    return snap


def by_name(curves) -> dict:
    return {c.name: c for c in curves}


# ----------------------------------------------------------------------------------
# curves


def test_four_functions_by_default_and_all_on_request():
    generator = lab.run(lab.Config())
    snap = next(generator)
    generator.close()
    assert [c.name for c in snap.activations] == ["relu", "sigmoid", "tanh", "gelu"]
    assert list(snap.vanishing.norms) == ["relu", "sigmoid", "tanh", "gelu"]
    assert lab.parse_names("all") == lab.ACTIVATION_NAMES and len(lab.ACTIVATION_NAMES) == 11


def test_every_activation_is_checked_by_central_differences(first):
    assert tuple(c.name for c in first.activations) == lab.ACTIVATION_NAMES
    for c in first.activations:
        assert len(c.x) == lab.CURVE_POINTS and c.x[0] == -5 and c.x[-1] == 5
        assert len(c.check_x) >= 30
        if c.name in lab.KINKED:  # the check stays away from the kink at 0
            assert np.all(np.abs(c.check_x) > 1e-3)
        np.testing.assert_allclose(c.check_autodiff, c.check_numerical, atol=1e-6,
                                   err_msg=c.name)
        assert c.max_check_error < 1e-6


def test_derivatives_match_the_textbook_formulas(first):
    curves = by_name(first.activations)
    x = curves["sigmoid"].x
    neg, pos = x < 0, x > 0

    s = curves["sigmoid"]
    np.testing.assert_allclose(s.dy, s.y * (1 - s.y), atol=1e-12)  # f (1 - f)
    t = curves["tanh"]
    np.testing.assert_allclose(t.dy, 1 - t.y**2, atol=1e-12)
    r = curves["relu"]
    assert np.all(r.dy[neg] == 0) and np.all(r.dy[pos] == 1)
    leaky = curves["leaky_relu"]
    np.testing.assert_allclose(leaky.dy[neg], 0.01)
    assert np.all(leaky.dy[pos] == 1)
    np.testing.assert_allclose(curves["prelu"].dy[neg], 0.25)  # He et al.'s initial slope
    e = curves["elu"]  # f(x) + alpha for x <= 0, 1 for x > 0
    np.testing.assert_allclose(e.dy[x <= 0], e.y[x <= 0] + 1.0, atol=1e-12)
    assert np.all(e.dy[pos] == 1)
    selu = curves["selu"]
    np.testing.assert_allclose(selu.dy[neg], SELU_SCALE * SELU_ALPHA * np.exp(x[neg]), rtol=1e-9)
    np.testing.assert_allclose(selu.dy[pos], SELU_SCALE)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(curves["softplus"].dy, sig, atol=1e-12)
    np.testing.assert_allclose(curves["silu"].dy, sig * (1 + x * (1 - sig)), atol=1e-12)
    phi = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(curves["gelu"].dy,
                               phi + x * np.exp(-x**2 / 2) / math.sqrt(2 * math.pi), atol=1e-9)


def test_slope_and_alpha_settings_reach_the_derivatives():
    config = lab.Config(functions="leaky_relu,prelu,elu", leaky_slope=1 / 5.5, prelu_slope=0.5,
                        elu_alpha=2.0, x_min=-3, x_max=2)
    curves = by_name(lab.activation_curves(config))
    x = curves["elu"].x
    assert x[0] == -3 and x[-1] == 2
    neg = x < 0
    np.testing.assert_allclose(curves["leaky_relu"].dy[neg], 1 / 5.5)
    np.testing.assert_allclose(curves["prelu"].dy[neg], 0.5)
    e = curves["elu"]
    np.testing.assert_allclose(e.y[neg], 2.0 * np.expm1(x[neg]), atol=1e-12)
    np.testing.assert_allclose(e.dy[x <= 0], e.y[x <= 0] + 2.0, atol=1e-12)
    for c in curves.values():
        np.testing.assert_allclose(c.check_autodiff, c.check_numerical, atol=1e-6)


def test_sigmoid_derivative_peaks_at_a_quarter_at_zero(first):
    assert abs(first.sigmoid_grad_at_zero - 0.25) <= 1e-6
    peak_x, peak = first.sigmoid_peak
    assert peak_x == 0.0 and abs(peak - 0.25) <= 1e-6
    assert by_name(first.activations)["sigmoid"].dy.max() <= 0.25 + 1e-12


def test_leaky_reference_lines_have_the_two_slopes(first):
    x = first.activations[0].x
    neg = x < 0
    np.testing.assert_allclose(first.references["slope 0.01"][neg], 0.01 * x[neg])
    np.testing.assert_allclose(first.references["slope 1/5.5"][neg], x[neg] / 5.5)


def test_rrelu_training_slopes_lie_in_the_band_and_test_slope_is_their_mean(first):
    band = first.rrelu
    assert band.lower == 1 / 8 and band.upper == 1 / 3
    assert band.test_slope == pytest.approx((1 / 8 + 1 / 3) / 2, abs=1e-12)
    neg = band.sample_x < 0
    slopes = band.sample_dy[neg]
    assert neg.sum() > 50
    assert np.all((slopes >= 1 / 8) & (slopes <= 1 / 3))
    assert slopes.max() - slopes.min() > 0.15  # really random, spread over the band
    np.testing.assert_allclose(band.sample_y[neg], slopes * band.sample_x[neg])
    assert np.all(band.sample_dy[~neg] == 1)
    # The band's edges, and the curve (test mode) in the middle of them.
    grid_neg = band.x < 0
    np.testing.assert_allclose(band.y_lower[grid_neg], band.x[grid_neg] / 8)
    np.testing.assert_allclose(band.y_upper[grid_neg], band.x[grid_neg] / 3)
    rrelu = by_name(first.activations)["rrelu"]
    np.testing.assert_allclose(rrelu.dy[grid_neg], (1 / 8 + 1 / 3) / 2)


# ----------------------------------------------------------------------------------
# vanishing gradients


def test_sigmoid_gradients_shrink_at_least_fourfold_per_layer(first):
    van = first.vanishing
    assert list(van.depth) == list(range(1, 11))
    top = {name: n[-1] for name, n in van.norms.items()}
    # The same error signal arrives at the top for every activation.
    assert max(top.values()) == pytest.approx(min(top.values()), rel=1e-12)
    sigmoid = van.norms["sigmoid"]
    ratios = sigmoid[:-1] / sigmoid[1:]
    assert np.all(ratios <= 0.25), ratios
    assert sigmoid[0] / sigmoid[-1] < 0.25**9
    for name in ("relu", "tanh"):
        n = van.norms[name]
        assert np.all(n[:-1] / n[1:] > 0.5), name
        assert van.shrink[name] > 0.6
    assert van.shrink["sigmoid"] == pytest.approx(np.exp(np.mean(np.log(ratios))))


def test_stack_depth_and_width_are_settings():
    config = lab.Config(functions="sigmoid,relu", depth=3, width=8)
    van = lab.vanishing_gradients(config)
    assert set(van.norms) == {"sigmoid", "relu"}
    assert all(n.shape == (3,) for n in van.norms.values())


# ----------------------------------------------------------------------------------
# softmax


REFERENCE_SOFTMAX = [  # docs/labs.md, "Activations": (preset, expected, tolerance)
    ("3, 0.7, 0.5", [0.846, 0.085, 0.069], 5e-4),
    ("1.2, 1, 1.5", [0.316, 0.258, 0.426], 5e-4),
    ("1.5, nine 1.2", [0.130] + [0.0966] * 9, 5e-4),
    ("1.2, 0.9, 0.4", [0.457, 0.338, 0.205], 5e-4),
    ("1, 3, 2", [0.09003057, 0.66524096, 0.24472847], 1e-7),
    ("1, 5, 6, 4, 2, 2.6, 6", [0.00263032, 0.14361082, 0.39037468, 0.05283147, 0.00714996,
                               0.01302808, 0.39037468], 1e-7),
]


@pytest.mark.parametrize(("preset", "expected", "tol"), REFERENCE_SOFTMAX)
def test_softmax_presets_give_the_reference_numbers(preset, expected, tol):
    result = lab.softmax_result(lab.Config(logits=lab.SOFTMAX_PRESETS[preset]))
    np.testing.assert_allclose(result.probabilities, expected, atol=tol)
    if tol == 5e-4:  # given to 3 decimals: they must round to exactly those
        np.testing.assert_array_equal(np.round(result.probabilities, 3), np.round(expected, 3))
    assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    assert result.argmax == int(np.argmax(expected))
    assert result.one_hot.sum() == 1 and result.one_hot[result.argmax] == 1


def test_nine_equal_logits_get_0_0966_each():
    result = lab.softmax_result(lab.Config(logits=lab.SOFTMAX_PRESETS["1.5, nine 1.2"]))
    np.testing.assert_allclose(result.probabilities[1:], 0.0966, atol=5e-5)


def test_temperature_flattens_or_sharpens_without_moving_the_argmax():
    base = lab.softmax_result(lab.Config(logits="3,0.7,0.5"))
    hot = lab.softmax_result(lab.Config(logits="3,0.7,0.5", temperature=1000.0))
    cold = lab.softmax_result(lab.Config(logits="3,0.7,0.5", temperature=0.01))
    assert hot.argmax == base.argmax == cold.argmax == 0
    assert np.ptp(hot.probabilities) < 1e-2
    np.testing.assert_allclose(hot.probabilities, 1 / 3, atol=2e-3)
    assert cold.probabilities[0] > 1 - 1e-12
    assert hot.probabilities.sum() == pytest.approx(1) and cold.probabilities.sum() == pytest.approx(1)
    # The curve against temperature passes through the value at T = 1.
    i = int(np.argmin(np.abs(base.temperatures - 1.0)))
    assert base.temperatures[i] == pytest.approx(1.0)
    np.testing.assert_allclose(base.probabilities_vs_temperature[i], base.probabilities)


# ----------------------------------------------------------------------------------
# dying ReLU


def test_learning_rate_sweep_kills_more_units_at_high_rates(first):
    sweep = first.sweep
    np.testing.assert_allclose(sweep.rates, np.logspace(-2, math.log10(3), 10))
    assert sweep.dead.shape == (10, 3)
    assert sweep.dead_total[-1] > sweep.dead_total[0]
    assert sweep.dead_total[0] < 0.1 and sweep.dead_total.max() >= 0.4
    assert not sweep.diverged.any()


def test_live_network_follows_the_sweep_member_at_its_rate():
    # Same start, same batches, same rate: the live network after N steps is the sweep's
    # member at that rate after N steps.
    config = lab.Config(functions="relu", sweep_lr_min=0.1, sweep_lr_max=1.0, sweep_rates=2,
                        sweep_steps=100, learning_rate=1.0, steps=100, snapshot_every=50)
    snaps = list(lab.run(config))
    assert [s.step for s in snaps] == [0, 50, 100]
    last = snaps[-1]
    np.testing.assert_allclose(last.dead_fractions, last.sweep.dead[-1])
    assert last.loss == pytest.approx(last.sweep.final_loss[-1], rel=1e-3, abs=1e-5)
    assert last.dead_total > 0.2  # at rate 1 a good share of the units has died


def test_live_training_history_and_live_settings():
    config = lab.Config(functions="sigmoid,elu", learning_rate=0.05, steps=60,
                        snapshot_every=20, sweep_steps=5)
    generator = lab.run(config)
    snaps = [next(generator), next(generator)]
    config.learning_rate = 0.5  # as the app does with a live setting
    config.elu_alpha = 2.0
    snaps += list(generator)
    assert [s.step for s in snaps] == [0, 20, 40, 60]
    assert snaps[1].learning_rate == 0.05 and snaps[2].learning_rate == 0.5
    last = snaps[-1]
    np.testing.assert_array_equal(last.curves["step"], [0, 20, 40, 60])
    assert last.curves["dead"].shape == (4, 3)
    assert np.all((last.curves["dead"] >= 0) & (last.curves["dead"] <= 1))
    assert last.curves["loss"][-1] < last.curves["loss"][0]
    assert 0 <= last.accuracy <= 1
    elu_before = by_name(snaps[1].activations)["elu"]
    elu_after = by_name(snaps[2].activations)["elu"]
    assert elu_before.y[0] == pytest.approx(math.expm1(-5))
    assert elu_after.y[0] == pytest.approx(2 * math.expm1(-5))
    assert snaps[1].sweep is snaps[2].sweep  # the sweep is not a live part: not redone


def test_bad_settings_are_refused_with_the_reason():
    config = lab.Config()
    with pytest.raises(SettingError, match="unknown 'swish'"):
        apply_settings(config, {"functions": "relu,swish"})
    with pytest.raises(SettingError, match="2 to"):
        apply_settings(config, {"logits": "1"})
    with pytest.raises(SettingError, match="logits"):
        apply_settings(config, {"logits": "1,a"})
    with pytest.raises(SettingError, match="x_min"):
        apply_settings(config, {"x_min": 6.0})
    with pytest.raises(SettingError, match="rrelu_lower"):
        apply_settings(config, {"rrelu_lower": 0.5})
    assert config.functions == lab.DEFAULT_FUNCTIONS and config.logits == "3,0.7,0.5"
    apply_settings(config, ["functions=ELU, relu", "logits=1 3 2"])
    assert lab.parse_names(config.functions) == ("elu", "relu")
    np.testing.assert_array_equal(lab.parse_logits(config.logits), [1, 3, 2])


# ----------------------------------------------------------------------------------
# the view


def test_view_draws_engine_numbers_and_follows_settings(qtbot, shown_lab, previewed):
    view = shown_lab("activations")
    snap = view.last_snapshot
    assert snap is not None and snap.step == 0  # drawn at once, without Run

    sigmoid = by_name(snap.activations)["sigmoid"]
    x, dy = view.df_plot.curve_data("sigmoid")
    np.testing.assert_array_equal(dy, sigmoid.dy)
    assert dy.max() == pytest.approx(0.25, abs=1e-6)
    _, dots = view.df_plot.curve_data("sigmoid numerical")
    np.testing.assert_array_equal(dots, sigmoid.check_numerical)

    # A setting changed through its control redraws at once.
    view.apply_settings({"functions": "all"})
    previewed(view)
    view.settings_panel.controls["elu_alpha"].setValue(2.0)
    previewed(view)
    x, y = view.f_plot.curve_data("elu")
    assert y[0] == pytest.approx(2 * math.expm1(-5))
    _, dy = view.df_plot.curve_data("elu")
    assert dy[0] == pytest.approx(y[0] + 2)

    functions = view.settings_panel.controls["functions"]
    functions.setText("sigmoid,relu")
    functions.editingFinished.emit()
    previewed(view)
    assert set(view.f_plot.curve_names()) == {"sigmoid", "relu"}
    assert set(view.vanishing_plot.curve_names()) == {"sigmoid", "relu"}
    _, norms = view.vanishing_plot.curve_data("sigmoid")
    assert np.all(norms[:-1] / norms[1:] <= 0.25)
    bars = view.shrink_bars.export_data()
    assert list(bars["labels"]) == ["sigmoid", "relu"] and bars["values"][0] < 0.25

    # A softmax example is one click.
    view.preset_buttons["1, 3, 2"].click()
    previewed(view)
    assert view.config.logits == "1,3,2"
    np.testing.assert_allclose(view.prob_bars.export_data()["values"],
                               [0.09003057, 0.66524096, 0.24472847], atol=1e-7)
    np.testing.assert_array_equal(view.onehot_bars.export_data()["values"], [0, 1, 0])

    # The tab in front and the `view` setting follow each other.
    view.settings_panel.controls["view"].setCurrentText("softmax")
    assert view.tabs.currentIndex() == 3
    view.tabs.setCurrentIndex(2)
    assert view.config.view == "dying relu"
    assert view.settings_panel.controls["view"].currentText() == "dying relu"

    # Run trains the ReLU network; its dead shares are what the plots show.
    view.apply_settings({"steps": 40, "snapshot_every": 10})
    view.run()
    qtbot.waitUntil(lambda: view.runner.state == "finished", timeout=10_000)
    qtbot.waitUntil(lambda: view.last_snapshot.step == 40, timeout=2000)
    last = view.last_snapshot
    steps, dead = view.dead_plot.curve_data("all hidden units")
    np.testing.assert_array_equal(steps, [0, 10, 20, 30, 40])
    np.testing.assert_array_equal(dead, last.curves["dead_total"])
    np.testing.assert_allclose(view.dead_bars.export_data()["values"],
                               [*last.dead_fractions, last.dead_total])
    _, swept = view.sweep_plot.curve_data("all hidden units")
    np.testing.assert_array_equal(swept, last.sweep.dead_total)

    # A network of one layer: one curve per layer, and its dead share from the engine.
    view.apply_settings({"hidden": (8,)})
    previewed(view)
    assert view.last_snapshot.step == 0 and len(view.last_snapshot.layer_names) == 1
    assert set(view.dead_plot.curve_names()) == {"layer 1", "all hidden units"}
    assert set(view.sweep_plot.curve_names()) == {"layer 1", "all hidden units"}
    _, swept = view.sweep_plot.curve_data("layer 1")
    np.testing.assert_array_equal(swept, view.last_snapshot.sweep.dead[:, 0])
    view.shutdown()


def test_curves_default_to_four_and_all_eleven_get_distinct_colours(qtbot, shown_lab,
                                                                     previewed):
    from PySide6.QtGui import QColor

    from vizlab.labs.activations import COLORS, REFERENCE_COLOR

    view = shown_lab("activations")
    assert view.df_plot.plot_item.getAxis("left").labelText == "f'(x)"
    assert set(view.f_plot.curve_names()) == {"relu", "sigmoid", "tanh", "gelu"}
    view.function_buttons["all 11"].click()  # the rest: one click away
    previewed(view)
    assert view.config.functions == "all"
    names = lab.ACTIVATION_NAMES
    assert set(names) <= set(view.f_plot.curve_names())
    for plot in (view.f_plot, view.df_plot):
        pens = {name: plot._curves[name].opts["pen"] for name in names}
        colors = {name: QColor(pen.color()).name() for name, pen in pens.items()}
        assert len(set(colors.values())) == len(names), colors
        assert colors == {n: QColor(COLORS[n]).name() for n in names}
    # The grey of the guide lines is no activation's colour (selu was grey once).
    guides = {QColor(view.f_plot._curves[n].opts["pen"].color()).name()
              for n in lab.LEAKY_REFERENCE_SLOPES}
    assert guides == {QColor(REFERENCE_COLOR).name()}
    assert QColor(REFERENCE_COLOR).name() not in {QColor(c).name() for c in COLORS.values()}
    grey = [n for n, c in COLORS.items() if QColor(c).saturation() < 40 and
            120 < QColor(c).lightness() < 200]
    assert grey == []
    view.function_buttons["relu, sigmoid, tanh, gelu"].click()
    previewed(view)
    assert view.config.functions == lab.DEFAULT_FUNCTIONS
    assert set(view.f_plot.curve_names()) == {"relu", "sigmoid", "tanh", "gelu"}
    view.shutdown()


def test_presentation_mode_enlarges_the_notes_and_buttons(qtbot, shown_lab):
    from vizlab.widgets import theme

    view = shown_lab("activations")
    normal = view.curves_note.font().pointSize()
    try:
        theme.set_presentation(True)
        assert view.curves_note.font().pointSize() == 14
        assert view.function_buttons["all 11"].font().pointSize() == 14
        assert view.softmax_table.font().pointSize() == 14
    finally:
        theme.set_presentation(False)
    assert view.curves_note.font().pointSize() == normal < 14
    view.shutdown()
