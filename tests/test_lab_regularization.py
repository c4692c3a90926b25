"""The Regularization lab: the data's outliers, L1's sparse weights against L2's small
ones, the squared error pulled towards the outliers and the absolute error not, one SGD
step against numerical gradients, a population member against a separate run, the total
error against numpy, pruning that removes exactly the disconnected units without
changing the function, and the view drawing the snapshot's numbers."""

import dataclasses

import numpy as np
import pytest

from engine import optimizers
from engine.experiments import regularization as lab
from engine.experiments.kit import MiniBatches
from engine.experiments.settings import SettingError, apply_settings
from engine.regularizers import Regularizer

# A short schedule that still separates the methods: 25 epochs at a larger step.
SHORT = dict(epochs=25, learning_rate=0.05, snapshot_every=100_000)


@pytest.fixture(scope="module")
def trained() -> list[lab.Snapshot]:
    """[step 0, end of training, pruned (before retraining), retrained]."""
    snaps = list(lab.run(lab.Config(**SHORT)))
    assert [s.phase for s in snaps] == ["train", "train", "retrain", "done"]
    assert [s.step for s in snaps] == [0, 1000, 1000, 2000]
    return snaps


@pytest.fixture(scope="module")
def absolute() -> lab.Snapshot:
    """The end of the same training with the absolute error as the data loss."""
    snaps = list(lab.run(lab.Config(data_loss="absolute", prune=False, **SHORT)))
    assert snaps[-2].step == 1000 and snaps[-2].data_loss == "absolute"
    return snaps[-2]


def by_method(snap: lab.Snapshot, values: np.ndarray) -> dict[str, np.ndarray]:
    return {m: values[snap.member_method == i] for i, m in enumerate(snap.methods)}


def forward(kernels, biases, x: np.ndarray, activation=np.tanh) -> np.ndarray:
    """The network in plain numpy: activation on every layer but the last."""
    h = x.reshape(-1, 1).astype(np.float64)
    for i, (w, b) in enumerate(zip(kernels, biases)):
        h = h @ np.asarray(w, np.float64) + np.asarray(b, np.float64).reshape(-1)
        if i < len(kernels) - 1:
            h = activation(h)
    return h[:, 0]


# ----------------------------------------------------------------------------------
# data


@pytest.mark.parametrize("n_outliers", [4, 7])
def test_data_has_the_configured_outliers(n_outliers):
    config = lab.Config(n_outliers=n_outliers)
    x, y = lab.load_data(config)
    assert x.shape == y.shape == (40, 1) and x.dtype == np.float32
    mask = lab.outlier_mask(config, x, y)
    assert mask.sum() == n_outliers
    residual = y[:, 0] - (0.5 * x[:, 0] + 0.2)
    assert np.all(residual[mask] >= 1.5 - 1e-5)  # 1 to 1.5 times the offset above
    assert np.all(residual[mask] <= 2.25 + 1e-5)
    assert np.all(np.abs(residual[~mask]) < 5 * 0.05)  # the rest: noise around the line


def test_default_setup_is_the_original_experiment_but_for_the_data_loss():
    c = lab.Config()
    # The original minimised the absolute error; the squared error shows the outliers' pull.
    assert c.data_loss == "squared" and lab.DATA_LOSSES == ("squared", "absolute")
    assert (c.n_points, c.n_outliers, c.hidden, c.learning_rate, c.lam, c.runs) == (
        40, 4, (10, 10, 10), 0.01, 0.3, 5)
    assert c.initializer == "glorot_uniform" and c.activation == "tanh"
    # lambda 0.3 on the cost summed over 40 points: 0.3 / 40 at each one-point step.
    l1, l2 = lab.coefficients(c, lab.METHODS)
    np.testing.assert_allclose(l1, [0, 0.3 / 40, 0, 0.15 / 40])
    np.testing.assert_allclose(l2, [0, 0, 0.3 / 40, 0.15 / 40])
    c.penalty_per = "step"
    l1, l2 = lab.coefficients(c, lab.METHODS)
    np.testing.assert_allclose(l1, [0, 0.3, 0, 0.15])
    np.testing.assert_allclose(l2, [0, 0, 0.3, 0.15])


# ----------------------------------------------------------------------------------
# training


def test_l1_zeroes_many_weights_and_l2_shrinks_them(trained):
    end = trained[1]
    assert end.weight_count == 10 + 100 + 100 + 10
    near = by_method(end, end.near_zero)
    # Every L1 run has far more near-zero weights than any run without a penalty or L2.
    assert near["l1"].min() >= 90
    assert near["none"].max() <= 3 and near["l2"].max() <= 3
    assert near["l1"].min() > 25 * max(near["none"].max(), near["l2"].max(), 1)
    assert near["l1"].mean() > near["elastic net"].mean() > near["l2"].mean()
    norm = by_method(end, end.weight_norm)
    assert np.all(norm["l2"] < 0.7 * norm["none"])  # run by run: same starting weights
    assert np.all(norm["l1"] < norm["l2"])
    # At step 0 every method starts from the same five networks.
    start = trained[0]
    first = by_method(start, start.weight_norm)
    for m in lab.METHODS:
        np.testing.assert_array_equal(first[m], first["none"])
    # The counts are the snapshot's weights under the threshold.
    k = lab.METHODS.index("l1") * end.runs
    assert end.near_zero[k] == sum(int((np.abs(w[k]) < 1e-3).sum()) for w in end.kernels)
    np.testing.assert_array_equal(end.curves["step"], [0, 1000])
    np.testing.assert_array_equal(end.curves["near_zero"][-1], end.near_zero)


def test_total_error_is_the_sum_of_the_data_loss(trained, absolute):
    end = trained[1]
    assert end.data_loss == "squared"
    for k in (0, 6, 12, 19):
        pred = forward([w[k] for w in end.kernels], [b[k] for b in end.biases], end.x)
        assert end.total_error[k] == pytest.approx(np.square(pred - end.y).sum(), rel=1e-5)
        pred = forward([w[k] for w in absolute.kernels], [b[k] for b in absolute.biases],
                       absolute.x)
        assert absolute.total_error[k] == pytest.approx(np.abs(pred - absolute.y).sum(),
                                                        rel=1e-5)
    # The fits on the grid are the same network.
    k = 7
    grid_pred = forward([w[k] for w in end.kernels], [b[k] for b in end.biases], end.grid)
    np.testing.assert_allclose(end.fits[k], grid_pred, atol=1e-5)
    assert end.total_error.shape == (20,) and np.all(end.total_error > 0)


def fits_at_outliers(snap: lab.Snapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, outliers) fitted values at the outliers' x, the clean line there, the targets."""
    o = snap.outlier
    fitted = np.array([forward([w[k] for w in snap.kernels], [b[k] for b in snap.biases],
                               snap.x[o]) for k in range(len(snap.member_method))])
    return fitted, LINE(snap.x[o]), snap.y[o]


def LINE(x: np.ndarray) -> np.ndarray:  # noqa: N802 (the data's line, a constant function)
    return 0.5 * x + 0.2


def test_squared_error_pulls_the_fits_toward_the_outliers_and_absolute_error_does_not(
        trained, absolute):
    squared = trained[1]
    assert squared.outlier.sum() == 4
    fit_sq, line, targets = fits_at_outliers(squared)
    fit_abs, _, _ = fits_at_outliers(absolute)
    assert np.all(targets - line > 1.5)  # the outliers sit 1.59 to 2.2 above the line
    # Mean distance, at the outliers' x, of each of the 20 fits from the clean line and
    # from the outliers: squared error lifts every fit 0.34..0.46 towards them, absolute
    # error leaves every fit within 0.16 of the line (0.06 on average).
    lift_sq = np.abs(fit_sq - line).mean(axis=1)
    lift_abs = np.abs(fit_abs - line).mean(axis=1)
    assert lift_sq.min() > 0.3 and lift_abs.max() < 0.2 and lift_abs.mean() < 0.1
    assert lift_sq.mean() > 4 * lift_abs.mean()
    gap_sq = np.abs(fit_sq - targets).mean(axis=1)
    gap_abs = np.abs(fit_abs - targets).mean(axis=1)
    assert gap_sq.max() < 1.65 and gap_abs.min() > 1.75
    # Every method alike: the penalty does not decide the robustness.
    for method, lifts in by_method(squared, lift_sq).items():
        assert lifts.min() > 0.3, method
    # The snapshot's outlier_pull is the same lift as a share of the outliers' offset.
    np.testing.assert_allclose(squared.outlier_pull, ((fit_sq - line) / (targets - line))
                               .mean(axis=1), atol=1e-5)
    assert np.all(squared.outlier_pull > 0.15) and np.all(absolute.outlier_pull < 0.1)


def test_l1_zeroes_weights_whatever_the_data_loss(trained, absolute):
    for end in (trained[1], absolute):
        near = by_method(end, end.near_zero)
        assert near["l1"].min() >= 90 and near["l2"].max() <= 3, end.data_loss
        assert near["elastic net"].min() >= 50
        # largest_weight: the largest |w| of each network's kernels.
        k = lab.METHODS.index("l1") * end.runs + 1
        assert end.largest_weight[k] == max(float(np.abs(w[k]).max()) for w in end.kernels)


@pytest.mark.parametrize("data_loss", lab.DATA_LOSSES)
def test_one_sgd_step_follows_the_numerical_gradient(data_loss):
    """The step is the engine's autodiff: check it against central differences of the
    data loss of one point plus the elastic-net penalty, in float64 numpy."""
    config = lab.Config(hidden=(3,), data_loss=data_loss, penalty_per="step", lam=0.1)
    l1, l2 = 0.04, 0.06
    model = lab.network(config, config.hidden, Regularizer(l1=l1, l2=l2), seed=5)
    before = [np.array(w, dtype=np.float64) for w in model.get_weights()]
    xi, yi = np.array([[0.3]], np.float32), np.array([[1.4]], np.float32)

    def cost(weights: list[np.ndarray]) -> float:
        kernels, biases = weights[0::2], weights[1::2]
        pred = forward(kernels, biases, xi[0])[0]
        error = (pred - float(yi[0, 0])) ** 2 if data_loss == "squared" else abs(pred - yi[0, 0])
        return float(error + sum(l1 * np.abs(k).sum() + l2 * np.square(k).sum()
                                 for k in kernels))

    lr = 0.1
    lab.train_step(model, optimizers.SGD(lr=lr), xi, yi, data_loss)
    after = [np.array(w, dtype=np.float64) for w in model.get_weights()]
    h = 1e-6
    for i, w in enumerate(before):
        numerical = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            up = [v.copy() for v in before]
            down = [v.copy() for v in before]
            up[i][idx] += h
            down[i][idx] -= h
            numerical[idx] = (cost(up) - cost(down)) / (2 * h)
        np.testing.assert_allclose((w - after[i]) / lr, numerical, rtol=1e-3, atol=1e-4)


def test_population_member_equals_a_separate_run():
    config = lab.Config(epochs=1, snapshot_every=30, prune=False)
    snaps = list(lab.run(config))
    snap = next(s for s in snaps if s.step == 30)
    x, y = lab.load_data(config)
    seeds = lab.run_seeds(config)
    for method, run in (("l1", 2), ("elastic net", 4), ("l2", 0)):
        k = lab.METHODS.index(method) * config.runs + run
        l1, l2 = lab.coefficients(config, [method])
        reg = Regularizer(l1=float(l1[0]), l2=float(l2[0]))
        model = lab.network(config, config.hidden, reg, seed=seeds[run])
        opt = optimizers.SGD(lr=config.learning_rate)
        order = MiniBatches(len(x), np.random.default_rng([config.seed, 1]), 1)
        for _ in range(30):
            batch = next(order)
            lab.train_step(model, opt, x[batch], y[batch], config.data_loss)
        for layer, kernel, bias in zip(model.layers, snap.kernels, snap.biases):
            np.testing.assert_allclose(kernel[k], layer.kernel.value, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(bias[k], layer.bias.value, rtol=1e-5, atol=1e-6)


def test_lambda_is_live_and_penalty_per_step_flattens_the_penalised_networks():
    config = lab.Config(epochs=3, snapshot_every=40, prune=False, penalty_per="step",
                        learning_rate=0.05)
    generator = lab.run(config)
    next(generator)
    s1 = next(generator)
    assert s1.lam == 0.3
    config.lam = 0.0  # as the app does with a live setting
    s2 = next(generator)
    assert s2.lam == 0.0
    np.testing.assert_array_equal(s2.penalty, 0)
    assert np.all(s1.penalty[s1.member_method > 0] > 0)
    generator.close()
    # Lambda 0.3 at every step: the penalised networks shrink towards a constant.
    end = list(lab.run(lab.Config(epochs=10, snapshot_every=100_000, prune=False,
                                  penalty_per="step", learning_rate=0.05)))[-2]
    norm = by_method(end, end.weight_norm)
    assert np.all(norm["l2"] < 0.1) and np.all(norm["none"] > 3)
    flat = by_method(end, np.ptp(end.fits, axis=1))
    assert np.all(flat["l2"] < 0.05) and np.all(flat["none"] > 0.5)


# ----------------------------------------------------------------------------------
# pruning


def test_pruning_removes_exactly_the_disconnected_units():
    rng = np.random.default_rng(3)
    k1 = rng.uniform(0.2, 1, (1, 4)) * rng.choice([-1, 1], (1, 4))
    k2 = rng.uniform(0.2, 1, (4, 3)) * rng.choice([-1, 1], (4, 3))
    k3 = rng.uniform(0.2, 1, (3, 1))
    b1, b2, b3 = rng.normal(size=4), rng.normal(size=3), rng.normal(size=1)
    k1[0, 2] = 1e-5  # layer-1 unit 2: no input left -> a constant, folded
    k2[1, :] = [2e-4, -1e-4, 0.0]  # layer-1 unit 1: no output left
    k3[2, 0] = 5e-4  # layer-2 unit 2: no output left ...
    k2[3, :2] = 1e-4  # ... so layer-1 unit 3 then feeds nothing kept: dropped in a 2nd pass
    pruned = lab.prune_units([k1, k2, k3], [b1, b2, b3], "tanh", 1e-3)
    np.testing.assert_array_equal(pruned.kept[0], [0])
    np.testing.assert_array_equal(pruned.kept[1], [0, 1])
    np.testing.assert_array_equal(pruned.folded[0], [2])
    assert [k.shape for k in pruned.kernels] == [(1, 1), (1, 2), (2, 1)]
    # The folded constant: tanh(b1[2]) times its outgoing weights went into the bias.
    expected_b2 = b2[:2] + np.tanh(b1[2]) * k2[2, :2]
    np.testing.assert_allclose(pruned.biases[1], expected_b2)
    x = np.linspace(-1, 1, 50)
    before = forward([k1, k2, k3], [b1, b2, b3], x)
    after = forward(pruned.kernels, pruned.biases, x)
    np.testing.assert_allclose(after, before, atol=5e-3)


def test_a_layer_keeps_at_least_one_unit():
    k1 = np.full((1, 3), 1e-6)
    k2 = np.ones((3, 1))
    pruned = lab.prune_units([k1, k2], [np.array([0.1, 0.2, 0.3]), np.zeros(1)], "tanh", 1e-3)
    assert len(pruned.kept[0]) == 1
    x = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(forward(pruned.kernels, pruned.biases, x),
                               forward([k1, k2], [np.array([0.1, 0.2, 0.3]), np.zeros(1)], x),
                               atol=1e-5)


def test_pruned_l1_network_computes_the_same_function_and_is_retrained(trained):
    end, pruned_snap, done = trained[1], trained[2], trained[3]
    p = pruned_snap.prune
    assert end.prune is None
    assert p.source_member == lab.METHODS.index("l1") * end.runs  # prune_run 0
    assert p.original_shapes == ((1, 10), (10, 10), (10, 10), (10, 1))
    sizes = [len(k) for k in p.kept]
    assert p.pruned_shapes == ((1, sizes[0]), (sizes[0], sizes[1]), (sizes[1], sizes[2]),
                               (sizes[2], 1))
    assert sum(sizes) < 30 - 5  # L1 disconnected a good share of the 30 hidden units
    # Exactly the disconnected units are gone: judged against the kept units, every
    # removed unit has all its incoming or all its outgoing weights below the threshold,
    # and no kept unit has.
    k = p.source_member
    kernels = [w[k] for w in end.kernels]
    small = [np.abs(w) < p.threshold for w in kernels]
    ins = [np.arange(1)] + list(p.kept)
    outs = list(p.kept) + [np.arange(1)]
    for layer in range(3):
        for unit in range(10):
            dead_in = small[layer][ins[layer], unit].all()
            dead_out = small[layer + 1][unit, outs[layer + 1]].all()
            if unit in p.kept[layer]:
                assert not (dead_in or dead_out), (layer, unit)
            else:
                assert dead_in or dead_out, (layer, unit)
    # Before retraining, the pruned network predicts what the L1 network did.
    assert p.max_prediction_change < 1e-3
    k_grid = end.fits[k]
    np.testing.assert_allclose(p.pruned_fit, k_grid, atol=1e-3)
    assert p.pruned_error == pytest.approx(p.unpruned_error, abs=0.05)
    assert p.unpruned_error == pytest.approx(end.total_error[k], rel=1e-5)
    # Retrained from scratch, runs times, as long as the first training.
    q = done.prune
    assert q.retrain_step == q.retrain_steps == 1000 and q.retrain_method == "none"
    assert q.retrain_errors.shape == (5,) and q.retrain_fits.shape == (5, lab.GRID_POINTS)
    assert np.all(q.retrain_errors < 14)
    assert q.retrain_errors.mean() < pruned_snap.prune.retrain_errors.mean()
    # The main networks no longer change while the pruned one trains.
    np.testing.assert_array_equal(done.total_error, end.total_error)


def test_bad_settings_are_refused():
    config = lab.Config()
    with pytest.raises(SettingError, match="shown_run"):
        apply_settings(config, {"shown_run": 5})
    with pytest.raises(SettingError, match="prune_run"):
        apply_settings(config, {"runs": 2, "prune_run": 3})
    with pytest.raises(SettingError, match="n_outliers"):
        apply_settings(config, {"n_outliers": 20})
    assert config.shown_run == 0 and config.runs == 5


# ----------------------------------------------------------------------------------
# the view


def test_view_draws_the_snapshot_numbers(qtbot, shown_lab, previewed):
    from vizlab.labs.regularization import LABELS

    view = shown_lab("regularization")
    snap = view.last_snapshot
    assert snap is not None and snap.step == 0  # drawn at once, without Run

    l1_first = lab.METHODS.index("l1") * snap.runs
    x, y = view.fit_plot.curve_data("L1")
    np.testing.assert_array_equal(x, snap.grid)
    np.testing.assert_array_equal(y, snap.fits[l1_first])
    _, faint = view.faint_fits["l2 run 3"].getData()
    np.testing.assert_array_equal(faint, snap.fits[lab.METHODS.index("l2") * snap.runs + 3])
    # The key names the data, the outliers and the bold line of each kind, not the faint
    # lines of the other runs.
    key = [label.text for _, label in view.fit_plot.plot_item.legend.items]
    assert key == ["data", "outliers", "none", "L1", "L2", "elastic net"]
    assert len(view.faint_fits) == 16
    # The lesson: where the fits sit at the outliers, and that the data loss decides it.
    pulls = snap.outlier_pull
    lesson = view.lesson.text()
    assert (f"squared error: at their x the fits are {round(100 * pulls.min())}-"
            f"{round(100 * pulls.max())}% of the way up to them") in lesson
    assert "Robustness to outliers comes from the data loss" in lesson
    assert "L1/L2 on the weights decide how many are near 0" in lesson
    assert len(view.heatmaps) == 4
    np.testing.assert_array_equal(view.heatmaps[1].data(), snap.kernels[1][l1_first])

    # A display setting changed through its control redraws the snapshot on screen.
    view.settings_panel.controls["weights_of"].setCurrentText("l2")
    previewed(view)
    l2_first = lab.METHODS.index("l2") * snap.runs
    np.testing.assert_array_equal(view.heatmaps[2].data(), snap.kernels[2][l2_first])
    view.settings_panel.controls["shown_run"].setValue(2)
    previewed(view)
    np.testing.assert_array_equal(view.heatmaps[0].data(), snap.kernels[0][l2_first + 2])
    _, y = view.fit_plot.curve_data("elastic net")
    np.testing.assert_array_equal(y, snap.fits[3 * snap.runs + 2])

    # Run trains (and prunes, and retrains): the plotted numbers are the last snapshot's.
    view.apply_settings({"epochs": 1, "snapshot_every": 10})
    view.run()
    qtbot.waitUntil(lambda: view.runner.state == "finished", timeout=10_000)
    qtbot.waitUntil(lambda: view.last_snapshot.step == 80, timeout=2000)
    snap = view.last_snapshot
    assert snap.phase == "done" and snap.prune is not None
    steps, l1_zero = view.zero_plot.curve_data("L1")
    np.testing.assert_array_equal(steps, [0, 10, 20, 30, 40])
    np.testing.assert_allclose(l1_zero, snap.curves["near_zero"][:, 5:10].mean(axis=1))
    bars = view.error_bars.export_data()
    assert list(bars["labels"]) == ["none", "L1", "L2", "EN", "pruned"]
    np.testing.assert_allclose(
        bars["values"], [*(snap.total_error[i * 5:(i + 1) * 5].mean() for i in range(4)),
                         snap.prune.retrain_errors.mean()])
    assert f"error {snap.prune.pruned_error:.2f})" in view.prune_note.text()
    _, y = view.fit_plot.curve_data(LABELS["l1"])
    np.testing.assert_array_equal(y, snap.fits[l1_first + 2])
    _, y = view.fit_plot.curve_data("pruned, retrained")
    np.testing.assert_array_equal(y, snap.prune.retrain_fits[2])
    np.testing.assert_array_equal(view.heatmaps[3].data(), snap.kernels[3][l2_first + 2])
    assert "&rarr;" in view.prune_note.text()
    # After the run, a display setting redraws the trained snapshot, not step 0.
    view.settings_panel.controls["weights_of"].setCurrentText("l1")
    assert view.last_snapshot is snap
    np.testing.assert_array_equal(view.heatmaps[1].data(), snap.kernels[1][l1_first + 2])
    assert str(snap.prune.pruned_shapes[1]).replace(" ", "") in view.prune_note.text()
    view.shutdown()


def test_small_weights_text_names_the_bound_when_the_count_depends_on_the_threshold():
    from vizlab.labs.regularization import small_weights_text

    caveat = "the count depends on the threshold"
    assert small_weights_text(0.004, 1e-3) == f"all |w| &lt; 1e-2: {caveat}"
    assert small_weights_text(0.05, 1e-3) == f"all |w| &lt; 1e-1: {caveat}"
    assert small_weights_text(0.01, 1e-3) == f"all |w| &lt; 1e-1: {caveat}"
    assert small_weights_text(0.5, 1e-3) == ""  # 500 thresholds: the count means something
    assert small_weights_text(0.5, 1e-2) == f"all |w| &lt; 1e0: {caveat}"
    assert small_weights_text(float("nan"), 1e-3) == ""  # a diverged run


def test_view_says_when_all_weights_are_small(shown_lab):
    view = shown_lab("regularization")
    snap = view.last_snapshot
    # Every weight a hundredth of its initial value: between 0.001 and 0.01.
    small = dataclasses.replace(snap, kernels=tuple(k * 0.01 for k in snap.kernels),
                                largest_weight=snap.largest_weight * 0.01)
    assert np.all((small.largest_weight > 1e-3) & (small.largest_weight < 1e-2))
    view.draw_now(small)
    caveat = "all |w| &lt; 1e-2: the count depends on the threshold"
    assert caveat in view.weights_title.text()
    assert view.note.text().count(caveat) == 4  # each kind
    titles = [h.plot_item.titleLabel.text for h in view.heatmaps]
    assert all(t.endswith(": all &lt; 1e-2") for t in titles), titles
    # The initial weights themselves are far above the threshold: no caveat.
    view.draw_now(snap)
    assert "depends on the threshold" not in view.note.text() + view.weights_title.text()
    view.shutdown()


def test_each_lesson_has_its_tab_and_the_view_setting_picks_it(shown_lab):
    view = shown_lab("regularization")
    assert lab.TABS == ("fits", "weights") and view.config.view == "fits"
    assert view.tabs.currentIndex() == 0
    assert view.tabs.currentWidget().isAncestorOf(view.fit_plot)
    assert view.tabs.currentWidget().isAncestorOf(view.error_bars)
    view.apply_settings({"view": "weights"})
    assert view.tabs.currentIndex() == 1
    assert view.tabs.currentWidget().isAncestorOf(view.heatmaps[0])
    assert view.tabs.currentWidget().isAncestorOf(view.zero_plot)
    # The run's numbers and the pruning are under both tabs.
    assert not view.tabs.isAncestorOf(view.note) and not view.tabs.isAncestorOf(view.prune_note)
    view.tabs.setCurrentIndex(0)
    assert view.config.view == "fits"
    view.shutdown()


@pytest.mark.parametrize("hidden, grid", [((4,), (1, 2)), ((3, 3, 3, 3, 3), (2, 3))],
                         ids=["one layer", "deep"])
def test_one_hidden_layer_and_deep_networks_draw(shown_lab, previewed, hidden, grid):
    view = shown_lab("regularization")
    view.apply_settings({"hidden": hidden})
    previewed(view)
    snap = view.last_snapshot
    assert view.draw_error is None
    assert len(snap.kernels) == len(view.heatmaps) == len(hidden) + 1
    rows, columns = grid  # the matrices in near-square rows and columns
    places = [view.weights_grid.getItemPosition(view.weights_grid.indexOf(h))[:2]
              for h in view.heatmaps]
    assert max(r for r, _ in places) + 1 == rows and max(c for _, c in places) + 1 == columns
    l1_first = lab.METHODS.index("l1") * snap.runs
    np.testing.assert_array_equal(view.heatmaps[-1].data(), snap.kernels[-1][l1_first])
    assert snap.weight_count == sum(k[0].size for k in snap.kernels)
    view.shutdown()
