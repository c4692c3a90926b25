"""Initializers, Dense layers and the Sequential model: ranges and standard deviations
against the Keras formulas, shapes, names, weights round trips, recorded activations,
and the fused Dense op's gradients against central differences."""

import math

import numpy as np
import pytest

import engine as en
from engine import initializers, layers, losses, optimizers, regularizers

# ---------------------------------------------------------------------------------
# initializers


@pytest.mark.parametrize(
    "shape,fans",
    [((), (1, 1)), ((7,), (7, 7)), ((300, 200), (300, 200)), ((3, 3, 32, 64), (288, 576))],
)
def test_fans_follow_keras(shape, fans):
    assert initializers.compute_fans(shape) == fans


@pytest.mark.parametrize(
    "name,kind,scale",
    [
        ("he_uniform", "uniform", lambda fi, fo: math.sqrt(6 / fi)),
        ("glorot_uniform", "uniform", lambda fi, fo: math.sqrt(6 / (fi + fo))),
        ("he_normal", "normal", lambda fi, fo: math.sqrt(2 / fi)),
        ("glorot_normal", "normal", lambda fi, fo: math.sqrt(2 / (fi + fo))),
    ],
)
@pytest.mark.parametrize("shape", [(400, 300), (3, 3, 32, 64)])
def test_initializer_range_and_std(name, kind, scale, shape):
    init = initializers.get(name)
    w = init(shape, np.random.default_rng(1))
    assert w.shape == shape and w.dtype == np.float32
    fan_in, fan_out = initializers.compute_fans(shape)
    s = scale(fan_in, fan_out)
    if kind == "uniform":  # U(-limit, limit): std limit / sqrt(3)
        assert np.abs(w).max() <= s and np.abs(w).max() > 0.99 * s
        np.testing.assert_allclose(w.std(), s / math.sqrt(3), rtol=0.02)
    else:  # truncated normal with the stated std, cut at 2 std before rescaling
        np.testing.assert_allclose(w.std(), s, rtol=0.02)
        assert np.abs(w).max() <= 2 * s / 0.87962566103423978 + 1e-6
    assert abs(w.mean()) < 0.02 * s
    # the same generator state gives the same draw
    np.testing.assert_array_equal(w, init(shape, np.random.default_rng(1)))


def test_constant_initializers_and_lookup():
    assert not initializers.zeros((2, 3), None).any()
    np.testing.assert_array_equal(initializers.constant(0.25)((2,), None), [0.25, 0.25])
    assert initializers.get("Xavier_Uniform") is initializers.glorot_uniform
    assert initializers.get(initializers.he_normal) is initializers.he_normal
    assert initializers.he_uniform((2, 2), np.random.default_rng(0), dtype=np.float64).dtype == (
        np.float64
    )
    with pytest.raises(ValueError, match="unknown initializer"):
        initializers.get("he_unifrom")


# ---------------------------------------------------------------------------------
# Dense and Sequential


def l1l2_net(seed=0, **kw):
    """The regularization lab's 1-10-10-10-1 network."""
    reg = kw.pop("regularizer", None)
    return layers.Sequential(
        [layers.Dense(10, activation="tanh", regularizer=reg) for _ in range(3)]
        + [layers.Dense(1, regularizer=reg)],
        input_shape=(1,), seed=seed, **kw,
    )


def test_sequential_shapes_names_and_summary():
    model = l1l2_net()
    names = [v.name for v in model.trainable_variables]
    assert names == [f"dense_{i}/{p}" for i in range(1, 5) for p in ("kernel", "bias")]
    assert [v.shape for v in model.trainable_variables] == [
        (1, 10), (10,), (10, 10), (10,), (10, 10), (10,), (10, 1), (1,)
    ]
    assert all(v.dtype == np.float32 for v in model.trainable_variables)
    assert model.count_params() == 20 + 110 + 110 + 11
    y = model(np.zeros((5, 1)))
    assert y.shape == (5, 1) and y.dtype == np.float32
    text = model.summary()
    assert "dense_3 (Dense)" in text and "(None, 10)" in text and "Total params: 251" in text
    # biases start at zero and kernels in the glorot range
    assert not model.trainable_variables[1].value.any()
    limit = math.sqrt(6 / (10 + 10))
    assert np.abs(model.trainable_variables[2].value).max() <= limit


def test_same_seed_same_weights_eager_or_lazy_build():
    eager = l1l2_net(seed=3)
    lazy = layers.Sequential(
        [layers.Dense(10, activation="tanh") for _ in range(3)] + [layers.Dense(1)], seed=3
    )
    assert not lazy.built
    lazy(np.zeros((2, 1)))
    for a, b in zip(eager.get_weights(), lazy.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = l1l2_net(seed=4)
    assert not np.array_equal(eager.get_weights()[0], other.get_weights()[0])


def test_get_set_weights_round_trip():
    a, b = l1l2_net(seed=0), l1l2_net(seed=1)
    x = np.linspace(-1, 1, 7, dtype=np.float32)[:, None]
    weights = a.get_weights()
    weights[0][...] = 99  # a copy: the model is not changed
    assert not (a.trainable_variables[0].value == 99).any()
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(a(x).value, b(x).value)
    with pytest.raises(en.EngineError, match="arrays"):
        b.set_weights(a.get_weights()[:-1])
    with pytest.raises(en.EngineError, match="shape"):
        b.set_weights([np.zeros((2, 2))] * 8)


def test_dense_forward_matches_formula_for_each_activation():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    for act, f in [
        (None, lambda z: z),
        ("relu", lambda z: np.maximum(z, 0)),
        ("tanh", np.tanh),
        ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
        ("elu", lambda z: np.where(z > 0, z, np.exp(z) - 1)),
    ]:
        layer = layers.Dense(2, activation=act, bias_initializer="ones")
        layer.build((3,), init=0)
        z = x @ layer.kernel.value + layer.bias.value
        np.testing.assert_allclose(layer(x).value, f(z), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid", "softplus"])
def test_dense_gradients_float64(activation):
    model = layers.Sequential(
        [layers.Dense(4, activation=activation), layers.Dense(3, activation=activation)],
        input_shape=(3,), seed=1, dtype=np.float64,
    )
    x = en.Variable(np.random.default_rng(2).normal(size=(5, 3)))
    target = np.random.default_rng(3).normal(size=(5, 3))
    params = model.trainable_variables

    def f(*_):
        return losses.mse(model(x), target)

    analytic = en.gradients(f(), params + [x])  # the input's gradient too (computed lazily)
    numeric = en.numerical_gradients(f, params + [x])
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-8)


def test_dense_on_higher_rank_input():
    layer = layers.Dense(2)
    layer.build((3,), init=0, dtype=np.float64)
    x = en.Variable(np.random.default_rng(4).normal(size=(2, 4, 3)))
    w = np.random.default_rng(6).normal(size=(2, 4, 2))

    def f(*_):
        return layer(x) * w

    for a, n in zip(en.gradients(f(), [x, layer.kernel, layer.bias]),
                    en.numerical_gradients(f, [x, layer.kernel, layer.bias])):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-9)


def test_recorded_activations_and_preactivations():
    model = l1l2_net()
    x = np.linspace(-2, 2, 6, dtype=np.float32)[:, None]
    model(x)
    assert model.activations == []
    model.record_activations = True
    y = model(x)
    assert [n for n, _ in model.activations] == ["dense_1", "dense_2", "dense_3", "dense_4"]
    assert [a.shape for _, a in model.activations] == [(6, 10), (6, 10), (6, 10), (6, 1)]
    np.testing.assert_array_equal(model.activations[-1][1], y.value)
    # pre-activation = input @ kernel + bias; activation = tanh(pre-activation)
    names, pre = zip(*model.preactivations)
    assert names == ("dense_1", "dense_2", "dense_3", "dense_4")
    k, b = model.trainable_variables[0].value, model.trainable_variables[1].value
    np.testing.assert_allclose(pre[0], x @ k + b, rtol=1e-6)
    np.testing.assert_allclose(model.activations[0][1], np.tanh(pre[0]), rtol=1e-6)
    # also recorded when no graph is built
    with en.no_grad():
        model(x[:2])
    assert model.preactivations[0][1].shape == (2, 10)


def test_regularization_loss_sums_kernel_terms():
    model = l1l2_net(regularizer=regularizers.l2(0.3))
    kernels = [v.value for v in model.trainable_variables if v.name.endswith("kernel")]
    np.testing.assert_allclose(
        model.regularization_loss().value, 0.3 * sum((k.astype(np.float64) ** 2).sum()
                                                     for k in kernels), rtol=1e-5
    )
    grads = en.gradients(model.regularization_loss(), model.trainable_variables)
    for g, v in zip(grads, model.trainable_variables):
        expected = 0.6 * v.value if v.name.endswith("kernel") else np.zeros_like(v.value)
        np.testing.assert_allclose(g, expected, rtol=1e-6)
    assert l1l2_net().regularization_loss().value == 0.0


def test_training_reduces_the_loss():
    model = l1l2_net(seed=2)
    x = np.linspace(-1, 1, 16, dtype=np.float32)[:, None]
    y = 0.5 * x + 0.2
    opt = optimizers.Adam(0.01)
    first = None
    for _ in range(200):
        loss = losses.mse(model(x, training=True), y)
        first = loss.item() if first is None else first
        opt.minimize(loss, model.trainable_variables)
    assert loss.item() < 0.05 * first


def test_bad_inputs_are_refused_clearly():
    model = l1l2_net()
    with pytest.raises(en.EngineError, match="does not fit"):
        model(np.zeros((3, 2)))
    with pytest.raises(en.EngineError, match="units"):
        layers.Dense(0)
    with pytest.raises(en.EngineError, match="two layers named"):
        layers.Sequential([layers.Dense(1, name="a"), layers.Dense(1, name="a")])
