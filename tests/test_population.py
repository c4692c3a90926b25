"""Populations: K models in one set of Variables. Each member must equal a separate
model with the same seed and its own hyper-parameters, and a diverging member must be
frozen and reported without disturbing the others."""

import numpy as np
import pytest

from engine import layers, losses, optimizers, regularizers

K = 64
STEPS = 20
X = np.linspace(-1, 1, 8, dtype=np.float32)[:, None]
Y = np.sin(2 * X) + 0.1


def make_layers(reg=None):
    return [layers.Dense(8, activation="relu", regularizer=reg),
            layers.Dense(8, activation="tanh", regularizer=reg),
            layers.Dense(1, regularizer=reg)]


def separate_run(lr, seed=0, steps=STEPS, lam=None, make_opt=optimizers.SGD):
    reg = None if lam is None else regularizers.l2(lam)
    model = layers.Sequential(make_layers(reg), input_shape=(1,), seed=seed)
    opt = make_opt(lr)
    for _ in range(steps):
        loss = losses.mse(model(X, training=True), Y) + model.regularization_loss()
        opt.minimize(loss, model.trainable_variables)
    return model.get_weights()


def test_population_variables_have_a_member_axis():
    pop = layers.Sequential(make_layers(), input_shape=(1,), seed=0, population=K)
    shapes = [v.shape for v in pop.trainable_variables]
    assert shapes == [(K, 1, 8), (K, 1, 8), (K, 8, 8), (K, 1, 8), (K, 8, 1), (K, 1, 1)]
    assert pop(X).shape == (K, 8, 1)
    assert "population of 64" in pop.summary()
    assert pop.count_params() == 16 + 72 + 9


def test_members_start_as_separate_models_with_their_seeds():
    seeds = [3, 5, 3, 11]
    pop = layers.Sequential(make_layers(), input_shape=(1,), seeds=seeds)
    assert pop.population == 4
    for k, seed in enumerate(seeds):
        single = layers.Sequential(make_layers(), input_shape=(1,), seed=seed)
        for a, b in zip(pop.member_weights(k), single.get_weights()):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(pop(X).value[k], single(X).value, rtol=1e-6)


def test_learning_rate_population_equals_separate_runs():
    lrs = np.logspace(-3, -0.5, K).astype(np.float32)
    pop = layers.Sequential(make_layers(), input_shape=(1,), seed=0, population=K)
    opt = optimizers.SGD(lrs)
    for _ in range(STEPS):
        loss = losses.mse(pop(X, training=True), Y, reduction="member")
        assert loss.shape == (K,)
        opt.minimize(loss, pop.trainable_variables)
    assert not opt.frozen.any()
    for k in range(0, K, 7):
        for a, b in zip(pop.member_weights(k), separate_run(float(lrs[k]))):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    # the members really differ
    assert not np.allclose(pop.member_weights(0)[0], pop.member_weights(K - 1)[0])


def test_regularization_strength_population_with_adam():
    lams = np.array([0.0, 0.01, 0.1, 1.0])
    pop = layers.Sequential(make_layers(regularizers.l2(lams)), input_shape=(1,), seed=2,
                            population=4)
    opt = optimizers.Adam(0.01, population=4)
    for _ in range(10):
        loss = losses.mse(pop(X), Y, reduction="member") + pop.regularization_loss()
        assert loss.shape == (4,)
        opt.minimize(loss, pop.trainable_variables)
    for k, lam in enumerate(lams):
        expected = separate_run(0.01, seed=2, steps=10, lam=float(lam), make_opt=optimizers.Adam)
        for a, b in zip(pop.member_weights(k), expected):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_diverging_member_is_frozen_and_the_others_go_on():
    lrs = np.full(8, 0.05, dtype=np.float32)
    lrs[:4] = [0.01, 0.02, 0.05, 0.1]
    lrs[5] = 1e4  # diverges within a few steps
    pop = layers.Sequential(make_layers(), input_shape=(1,), seed=0, population=8)
    opt = optimizers.SGD(lrs, momentum=0.5)
    frozen_at = None
    for step in range(STEPS):
        loss = losses.mse(pop(X, training=True), Y, reduction="member")
        opt.minimize(loss, pop.trainable_variables)
        if opt.frozen[5] and frozen_at is None:
            frozen_at, kept = step, pop.member_weights(5)
            assert not np.isfinite(loss.value[5])
    assert frozen_at is not None and frozen_at < STEPS - 2
    assert opt.frozen.tolist() == [False] * 5 + [True] + [False] * 2
    assert opt.diverged is opt.frozen
    for a, b in zip(pop.member_weights(5), kept):  # stopped changing
        np.testing.assert_array_equal(a, b)
    make_opt = lambda lr: optimizers.SGD(lr, momentum=0.5)  # noqa: E731
    for k in (0, 3, 4, 7):
        assert all(np.isfinite(w).all() for w in pop.member_weights(k))
        for a, b in zip(pop.member_weights(k), separate_run(float(lrs[k]), make_opt=make_opt)):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
