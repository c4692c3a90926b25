"""Diverged runs are marked, shown and quiet in every lab that trains.

A learning rate too high for a network makes its loss overflow. Each experiment freezes
such a run (a population member through its optimizer, a single network by stopping)
and says at which step; its view names it ("diverged at step N") instead of printing
nan; and numpy's overflow warnings, an expected outcome there, never reach the terminal.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from engine.experiments import activations, dropout, optimizers, regularization, training
from vizlab.export import grab_image


def run_quietly(module, config) -> list:
    """Every snapshot of a run, asserting that no warning of any kind was raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        snaps = list(module.run(config))
    assert [str(w.message) for w in caught] == []
    return snaps


def draw_quietly(view, snap) -> str:
    """Draw `snap` in `view` and paint it; no warning may arise. Returns the view's text."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        view.draw_now(snap)
        grab_image(view)  # painting computes the plots' bounds: All-NaN would warn here
    assert [str(w.message) for w in caught] == []
    from PySide6.QtWidgets import QLabel

    return " ".join(label.text() for label in view.findChildren(QLabel))


def shows_no_nan(text: str) -> None:
    assert not re.search(r"\bnan\b", text, re.IGNORECASE), text


# ----------------------------------------------------------------------------------
# Regularization


@pytest.fixture(scope="module")
def all_diverged():
    """The issue's case: learning rate 1.0 and linear units, both in range."""
    config = regularization.Config(learning_rate=1.0, activation="linear", epochs=2)
    return run_quietly(regularization, config)


def test_regularization_at_lr_1_linear_marks_every_run_diverged(all_diverged):
    last = all_diverged[-1]
    assert last.phase == "done" and last.step == 80
    assert last.diverged.shape == (20,) and last.diverged.all()
    # Linear units at lr 1 blow up within the first epoch: steps 6 and 7 with seed 0.
    assert set(last.diverged_at.tolist()) <= set(range(1, 41))
    assert np.isnan(last.total_error).all() and np.isnan(last.fits).all()
    # Before it diverges a run is not marked: snapshot 0 has no diverged member.
    assert (all_diverged[0].diverged_at == -1).all()
    # A diverged L1 run is not pruned, and the snapshot says why.
    assert last.prune is None
    assert re.fullmatch(r"L1 run 0 diverged at step \d+: nothing to prune", last.prune_skipped)


def test_regularization_view_says_diverged_and_draws_hatched_bars(shown_lab, all_diverged):
    view = shown_lab("regularization")
    last = all_diverged[-1]
    text = draw_quietly(view, last)
    shows_no_nan(text)
    first, final = int(last.diverged_at.min()), int(last.diverged_at.max())
    assert f"all 5 runs diverged at steps {first}-{final}" in view.note.text()
    assert "Every run diverged" in view.note.text()
    assert "Pruning</b> skipped: L1 run 0 diverged at step" in view.prune_note.text()
    # No fit of a diverged run is drawn; every kind gets a hatched "diverged" bar.
    assert view.fit_plot.curve_names() == []
    assert list(view.diverged_bars.opts["x"]) == [0, 1, 2, 3]
    assert sum(label.isVisible() for label in view.diverged_labels) == 4
    assert len(view.error_crosses.data) == 20
    assert "diverged at step" in view.weights_title.text()


def test_regularization_some_runs_diverge_and_the_rest_are_averaged(shown_lab):
    # The absolute error's gradient is +-1: at lr 0.5 some runs survive (squared: none).
    config = regularization.Config(learning_rate=0.5, activation="linear", epochs=3,
                                   snapshot_every=40, data_loss="absolute")
    last = run_quietly(regularization, config)[-1]
    bad = last.diverged
    assert 0 < bad.sum() < 20
    assert np.isnan(last.total_error[bad]).all() and np.isfinite(last.total_error[~bad]).all()
    view = shown_lab("regularization")
    text = draw_quietly(view, last)
    shows_no_nan(text)
    assert "Means of the runs that did not diverge" in view.note.text()
    none = last.member_method == 0
    mean = last.total_error[none & ~bad].mean()
    count = int((none & bad).sum())
    assert "Means of the runs that did not diverge (error, norm, near 0 of" in view.note.text()
    assert f"<b>none</b></span> {mean:.2f} ({count} of 5 runs diverged at step" \
        in view.note.text()
    bars = view.error_bars.export_data()
    np.testing.assert_allclose(bars["values"][0], mean)
    assert len(view.error_crosses.data) >= int(bad.sum())


# ----------------------------------------------------------------------------------
# Training, Activations, Dropout, Optimizers


def test_training_stops_at_the_step_it_diverges(shown_lab):
    config = training.Config(learning_rate=10.0, optimizer="sgd", activations=("linear",),
                             hidden=(64, 64, 64), steps=200)
    snaps = run_quietly(training, config)
    last = snaps[-1]
    assert last.diverged_at == 4 and last.step == 3  # stopped before the overflowing step
    assert all(s.diverged_at is None for s in snaps[:-1])
    assert all(np.isfinite(w).all() for w in last.weights)  # the step was not applied
    view = shown_lab("training")
    draw_quietly(view, last)
    assert view.loss_plot.plot_item.titleLabel.text == "Loss: diverged at step 4"


def test_activations_live_network_and_sweep_mark_divergence(shown_lab):
    config = activations.Config(learning_rate=10.0, sweep_lr_max=10.0, sweep_steps=100,
                                steps=200, snapshot_every=20, view="dying relu")
    last = run_quietly(activations, config)[-1]
    assert last.diverged_at == 6 and last.step == 5
    sweep = last.sweep
    assert sweep.diverged[-1] and not sweep.diverged[0]
    assert (sweep.diverged_at[sweep.diverged] >= 1).all()
    assert (sweep.diverged_at[~sweep.diverged] == -1).all()
    assert np.isnan(sweep.dead_total[sweep.diverged]).all()
    view = shown_lab("activations")
    text = draw_quietly(view, last)
    shows_no_nan(text)
    assert "diverged at step 6</b>" in view.dying_note.text()
    bad = int(sweep.diverged.sum())
    assert f"{bad} diverged (rates from" in view.dying_note.text()
    x, _ = view.sweep_crosses.getData()
    np.testing.assert_allclose(10 ** np.asarray(x), sweep.rates[sweep.diverged])


def test_dropout_freezes_a_diverged_network_and_the_other_trains_on(shown_lab, monkeypatch):
    # Its digits network is float64 with bounded units: no learning rate in range makes
    # it overflow, so the top network starts from weights blown up by 1e160.
    made = dropout.make_network
    built = []

    def blown_up_first(config, inputs, classes):
        model = made(config, inputs, classes)
        if not built:
            for var in model.trainable_variables:
                var.value[...] *= 1e160
        built.append(model)
        return model

    monkeypatch.setattr(dropout, "make_network", blown_up_first)
    config = dropout.Config(steps=30, snapshot_every=10, activation="relu")
    last = run_quietly(dropout, config)[-1]
    assert last.left.diverged_at == 1 and last.right.diverged_at is None
    assert last.left.changed_share == 0.0 and not last.left.changed.any()
    assert np.isnan(last.left.loss) and np.isfinite(last.right.loss)
    assert last.right.counts.max() > 0  # the other network trained on
    view = shown_lab("dropout")
    text = draw_quietly(view, last)
    shows_no_nan(text)
    assert "<b>diverged at step 1</b> (frozen)" in view.weights_note.text()
    assert "<b>diverged at step 1</b>" in view.headers["left"].text()  # the top row's header
    assert "diverged" not in view.headers["right"].text()


def test_optimizer_lab_runs_quietly():
    config = optimizers.Config(train_samples=160, test_samples=20, rates=3,
                               snapshot_every=10)
    last = run_quietly(optimizers, config)[-1]
    assert last.diverged.shape == (4, 2, 3)
    assert np.isfinite(last.test_loss[~last.diverged]).all()
